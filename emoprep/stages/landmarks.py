"""68-point facial landmarks inside a face box (dlib shape predictor from face-recognition-models).

dlib's 68-point predictor was trained on boxes from dlib's HOG face detector, which sit tighter and
lower on the face than OpenCV Haar boxes. Given a Haar box, the predictor still converges but the
points are biased (mouth and chin pulled towards the box). ``refine`` therefore re-runs the predictor
in the box the previous landmarks span, mapped to where dlib's HOG box would be (:data:`LM_TO_HOG`).
"""

from __future__ import annotations

import importlib.util
from enum import Enum
from functools import lru_cache
from pathlib import Path
from typing import Any

import numpy as np
from pydantic import BaseModel, ConfigDict, Field

from emoprep.errors import MissingDependencyError, ModelFileError
from emoprep.stages.detect import to_grey


class LandmarksBackend(str, Enum):
    DLIB68 = "dlib68"  #: dlib shape_predictor_68_face_landmarks.dat


class LandmarksConfig(BaseModel):
    model_config = ConfigDict(extra="forbid")

    backend: LandmarksBackend = LandmarksBackend.DLIB68
    model: str | None = Field(None, description="path to the .dat file; default: the one in face-recognition-models")
    refine: int = Field(1, ge=0, description="re-run the predictor in the box the landmarks span, this many times")
    temporal: bool = Field(
        True,
        description="on tracked frames run the predictor once, in the box the previous frame's "
        "landmarks span moved with the tracked box (false: 1 + refine passes from the tracked box)",
    )

    def fingerprint_slice(self) -> dict[str, Any]:
        """The config as it goes into the track fingerprint; ``temporal: false`` (the behaviour
        before the key existed) is left out, so outputs made then stay up to date with it."""
        data = self.model_dump(mode="json")
        if not self.temporal:
            data.pop("temporal")
        return data


DEFAULT_MODEL = "shape_predictor_68_face_landmarks.dat"
MODELS_PACKAGE = "face_recognition_models"

#: dlib HOG box relative to the extent of its own 68 landmarks (xmin, ymin, xmax, ymax; W, H = extent
#: width and height): left = xmin - 0.056 W, top = ymin - 0.105 H, right = xmax + 0.032 W,
#: bottom = ymax - 0.066 H. Means over 102 frames of the sample clips (dlib.get_frontal_face_detector
#: box, predictor run in it); see docs/METHODS.md.
LM_TO_HOG = (-0.056, -0.105, 0.032, -0.066)


def find_model_file(name: str) -> Path:
    """Path of model file ``name`` inside the installed face-recognition-models package.

    The package is located without importing it (its ``__init__`` imports ``pkg_resources``).
    Raises :class:`ModelFileError` naming the file and the fix when it is missing.
    """
    spec = importlib.util.find_spec(MODELS_PACKAGE)
    roots: list[Path] = []
    if spec is not None:
        if spec.submodule_search_locations:
            roots += [Path(p) for p in spec.submodule_search_locations]
        elif spec.origin:
            roots.append(Path(spec.origin).parent)
    for root in roots:
        path = root / "models" / name
        if path.is_file():
            return path
    where = ", ".join(str(r / "models") for r in roots) or f"package {MODELS_PACKAGE} not installed"
    raise ModelFileError(
        f"landmark model {name}: not found ({where}); install it with "
        f"'pip install face-recognition-models', or set landmarks.model: /path/to/{name}"
    )


def model_path(cfg: LandmarksConfig) -> Path:
    """The predictor file: ``cfg.model`` when set (must exist), else the packaged default."""
    if cfg.model is None:
        return find_model_file(DEFAULT_MODEL)
    path = Path(cfg.model).expanduser()
    if not path.is_file():
        raise ModelFileError(
            f"landmarks.model {cfg.model!r}: no such file; point it to a dlib 68-point "
            f"shape predictor .dat, or remove the key to use the one in face-recognition-models"
        )
    return path.resolve()


def model_files(cfg: LandmarksConfig) -> list[Path]:
    """Model files whose content the landmarks depend on (hashed into the track fingerprint)."""
    return [model_path(cfg)]


def hog_box_from_landmarks(landmarks: np.ndarray) -> np.ndarray:
    """Box (x, y, w, h) float32 where dlib's HOG detector would put the face of ``landmarks`` (68, 2)."""
    lo, hi = landmarks.min(axis=0), landmarks.max(axis=0)
    ext = hi - lo
    dl, dt, dr, db = LM_TO_HOG
    x0, y0 = lo[0] + dl * ext[0], lo[1] + dt * ext[1]
    x1, y1 = hi[0] + dr * ext[0], hi[1] + db * ext[1]
    return np.array([x0, y0, x1 - x0, y1 - y0], np.float32)


def follow_box(hog: np.ndarray, prev_box: np.ndarray, box: np.ndarray) -> np.ndarray:
    """``hog`` (x, y, w, h) moved and scaled as ``prev_box`` became ``box``: float32 (4,)."""
    p, b = np.asarray(prev_box, np.float64), np.asarray(box, np.float64)
    s = np.sqrt((b[2] * b[3]) / (p[2] * p[3])) if p[2] > 0 and p[3] > 0 else 1.0
    pc, bc = p[:2] + p[2:] / 2, b[:2] + b[2:] / 2
    hc = np.asarray(hog[:2], np.float64) + np.asarray(hog[2:], np.float64) / 2
    centre, size = bc + (hc - pc) * s, np.asarray(hog[2:], np.float64) * s
    return np.array([*(centre - size / 2), *size], np.float32)


@lru_cache(maxsize=4)
def _load_predictor(path: str, mtime_ns: int):  # noqa: ANN202 (dlib type)
    """dlib predictor, loaded once per process and file version (~0.5 s per load saved per video)."""
    import dlib

    return dlib.shape_predictor(path)


class Landmarker:
    """dlib 68-point shape predictor, called as ``landmarker(frame, box_xywh)``.

    Returns (68, 2) float32 x, y in source pixels (0-based point order of the iBUG 68 scheme).
    Pickles by path (the model is reloaded), so it can cross process boundaries.
    """

    def __init__(self, path: Path, refine: int = 1) -> None:
        try:
            import dlib
        except ImportError as exc:
            raise MissingDependencyError(
                "landmarks.backend dlib68: the dlib package is missing; pip install dlib-bin"
            ) from exc
        self.path, self.refine = Path(path), int(refine)
        try:
            self._predictor = _load_predictor(str(self.path), self.path.stat().st_mtime_ns)
        except (RuntimeError, OSError) as exc:
            raise ModelFileError(
                f"landmark model {self.path}: dlib cannot load it ({exc}); expected a dlib "
                "shape predictor .dat (e.g. shape_predictor_68_face_landmarks.dat)"
            ) from exc
        self._rect = dlib.rectangle

    def __getstate__(self) -> dict:
        return {"path": self.path, "refine": self.refine}

    def __setstate__(self, state: dict) -> None:
        self.__init__(state["path"], state["refine"])

    def predict(self, grey: np.ndarray, box_xywh: np.ndarray) -> np.ndarray:
        """One predictor pass in ``box_xywh`` on a grey (H, W) uint8 frame: (68, 2) float32."""
        x, y, w, h = (float(v) for v in box_xywh)
        rect = self._rect(round(x), round(y), round(x + w) - 1, round(y + h) - 1)
        shape = self._predictor(grey, rect)
        return np.array([(p.x, p.y) for p in shape.parts()], np.float32)

    def __call__(self, frame: np.ndarray, box_xywh: np.ndarray) -> np.ndarray:
        box = np.asarray(box_xywh, np.float32)
        if box.shape != (4,) or not np.isfinite(box).all() or box[2] < 1 or box[3] < 1:
            raise ValueError(f"landmarks: expected a finite (4,) x, y, w, h box, got {box_xywh!r}")
        grey = np.ascontiguousarray(to_grey(frame))
        points = self.predict(grey, box)
        for _ in range(self.refine):
            points = self.predict(grey, hog_box_from_landmarks(points))
        return points

    def follow(self, frame: np.ndarray, previous: np.ndarray, prev_box: np.ndarray,
               box: np.ndarray) -> np.ndarray:
        """One predictor pass for a tracked frame: (68, 2) float32, source pixels.

        previous: (68, 2) landmarks of the previous frame, found in ``prev_box``; box: this frame's
        tracked box (x, y, w, h). The HOG-like box of ``previous`` is moved with the box centre and
        scaled with its size, i.e. where the refinement pass would have put it.
        """
        grey = np.ascontiguousarray(to_grey(frame))
        return self.predict(grey, follow_box(hog_box_from_landmarks(previous), prev_box, box))


def make_landmarker(cfg: LandmarksConfig) -> Landmarker:
    """The landmark predictor chosen by ``cfg`` (loads the model file once, ~0.5 s)."""
    if cfg.backend is LandmarksBackend.DLIB68:
        return Landmarker(model_path(cfg), cfg.refine)
    raise ValueError(f"landmarks.backend: unknown backend {cfg.backend!r}")
