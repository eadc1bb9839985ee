"""dlib face detectors: ``detect.backend: dlib_hog`` (HOG + linear SVM,
``get_frontal_face_detector``)
and ``dlib_mmod`` (the MMOD CNN, ``cnn_face_detection_model_v1`` with
``mmod_human_face_detector.dat`` from face-recognition-models). Both give a confidence per box.

Both scan an 80x80 px window; ``upsample: n`` doubles the image n times first, so faces down to
80 / 2**n px are found, at about 4**n times the cost. The default 0 suits faces of 80 px and more.
"""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path
from typing import Any, Literal

import numpy as np
from pydantic import Field

from emoprep.errors import ModelFileError
from emoprep.stages.detect.base import DetectorConfig, FaceDetector

MMOD_FILE = "mmod_human_face_detector.dat"
WINDOW = 80  #: side of the detection window of both models, pixels of the (upsampled) image


class DlibHogConfig(DetectorConfig):
    """``dlib.get_frontal_face_detector()``: HOG features, linear SVM, frontal and near-frontal."""

    has_scores = True

    backend: Literal["dlib_hog"] = "dlib_hog"
    upsample: int = Field(0, ge=0, le=4, description="times the frame is doubled before detection")
    threshold: float = Field(0.0, description="keep boxes whose SVM score is above this")

    def make(self) -> FaceDetector:
        return DlibHogDetector(self)

    def min_face(self) -> int:
        return WINDOW >> self.upsample

    def no_face_hint(self) -> str:
        return (
            f"try stages.detect.upsample: {self.upsample + 1} (faces under {self.min_face()} px) "
            "or stages.detect.backend: mtcnn (profile faces)"
        )


class DlibMmodConfig(DetectorConfig):
    """``dlib.cnn_face_detection_model_v1``: the MMOD CNN (robust to pose; slow on CPU)."""

    has_scores = True
    path_keys = ("model",)

    backend: Literal["dlib_mmod"] = "dlib_mmod"
    upsample: int = Field(0, ge=0, le=4, description="times the frame is doubled before detection")
    threshold: float = Field(0.0, description="keep boxes whose confidence is above this")
    model: str | None = Field(
        None, description=f"path to {MMOD_FILE}; None: the one in face-recognition-models")

    def make(self) -> FaceDetector:
        return DlibMmodDetector(self)

    def model_files(self) -> list[Path]:
        return [mmod_path(self)]

    def min_face(self) -> int:
        return WINDOW >> self.upsample

    def no_face_hint(self) -> str:
        return f"try stages.detect.upsample: {self.upsample + 1} (faces under {self.min_face()} px)"


def mmod_path(cfg: DlibMmodConfig) -> Path:
    """``cfg.model`` when set (must exist), else the file of the installed
    face-recognition-models."""
    if cfg.model is None:
        from emoprep.io.models import require

        return Path(require("dlib", MMOD_FILE))
    path = Path(cfg.model).expanduser()
    if not path.is_file():
        raise ModelFileError(
            f"detect.model {cfg.model!r}: no such file; point it to {MMOD_FILE} or remove the key "
            "to use the one in face-recognition-models")
    return path.resolve()


def _rgb(frame: np.ndarray) -> np.ndarray:
    """dlib wants contiguous grey or RGB uint8."""
    if frame.ndim == 3 and frame.shape[2] == 3:
        return np.ascontiguousarray(frame[:, :, ::-1])
    if frame.ndim == 2:
        return np.ascontiguousarray(frame)
    raise ValueError(f"frame: expected (H, W, 3) BGR or (H, W) grey uint8, got shape {frame.shape}")


def _boxes(rects: Any) -> np.ndarray:
    """dlib rectangles (inclusive corners) -> (K, 4) float32 x, y, w, h."""
    return np.array([[r.left(), r.top(), r.width(), r.height()] for r in rects],
                    np.float32).reshape(-1, 4)


@lru_cache(maxsize=1)
def _frontal() -> Any:
    """dlib's HOG detector, built once per process (building it takes ~2 s; it is read-only)."""
    import dlib

    return dlib.get_frontal_face_detector()


@lru_cache(maxsize=2)
def _mmod(path: str, size: int, mtime_ns: int) -> Any:
    """The MMOD network of ``path``, loaded once per process and file version (read-only)."""
    import dlib

    return dlib.cnn_face_detection_model_v1(path)


class _Rebuilt:
    """dlib objects do not pickle: keep the config, rebuild the detector on unpickling."""

    cfg: Any

    def __getstate__(self) -> dict[str, Any]:
        return {"cfg": self.cfg}

    def __setstate__(self, state: dict[str, Any]) -> None:
        self.__init__(state["cfg"])  # type: ignore[misc]

    def detect(self, frame_bgr: np.ndarray) -> np.ndarray:
        return self.detect_scored(frame_bgr)[0]

    def detect_scored(self, frame_bgr: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        raise NotImplementedError


class DlibHogDetector(_Rebuilt):
    """HOG detector; ``detect_scored`` gives boxes (K, 4) float32 and SVM scores (K,) float32."""

    def __init__(self, cfg: DlibHogConfig) -> None:
        self.cfg = cfg
        self._det = _frontal()

    def detect_scored(self, frame_bgr: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        rects, scores, _ = self._det.run(_rgb(frame_bgr), self.cfg.upsample, self.cfg.threshold)
        return _boxes(rects), np.asarray(scores, np.float32).reshape(-1)


class DlibMmodDetector(_Rebuilt):
    """MMOD CNN; ``detect_scored`` gives boxes (K, 4) float32 and confidences (K,) float32."""

    def __init__(self, cfg: DlibMmodConfig) -> None:
        self.cfg = cfg
        path = mmod_path(cfg)
        st = path.stat()
        try:
            self._net = _mmod(str(path), st.st_size, st.st_mtime_ns)
        except RuntimeError as exc:
            raise ModelFileError(
                f"detect.backend dlib_mmod: dlib cannot load {path} ({exc}); expected {MMOD_FILE} "
                "from face-recognition-models; run 'emoprep models verify'") from exc

    def detect_scored(self, frame_bgr: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        found = [d for d in self._net(_rgb(frame_bgr), self.cfg.upsample)
                 if d.confidence > self.cfg.threshold]
        return (_boxes([d.rect for d in found]),
                np.array([d.confidence for d in found], np.float32).reshape(-1))
