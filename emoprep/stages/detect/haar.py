"""OpenCV Haar cascade detector (``detect.backend: haar``, the default)."""

from __future__ import annotations

from pathlib import Path
from typing import Literal

import numpy as np
from pydantic import Field

from emoprep.errors import ModelFileError
from emoprep.io.atomic import expand_path
from emoprep.stages.detect.base import DetectorConfig, FaceDetector, to_grey


class HaarConfig(DetectorConfig):
    """``cv2.CascadeClassifier.detectMultiScale`` on the histogram-equalised grey frame."""

    path_keys = ("cascade",)

    backend: Literal["haar"] = "haar"
    cascade: str = Field(
        "haarcascade_frontalface_default.xml",
        description="file name inside cv2.data.haarcascades, or a path to a cascade XML",
    )
    scale_factor: float = Field(1.1, gt=1.0, description="detectMultiScale scaleFactor")
    min_neighbors: int = Field(5, ge=0, description="detectMultiScale minNeighbors")
    min_size: int = Field(60, ge=8, description="smallest face side, source pixels")
    max_size: int | None = Field(None, ge=8, description="largest face side, source pixels")
    max_width: int | None = Field(
        None,
        ge=64,
        description="run the detector on a copy shrunk to at most this width (boxes are mapped "
                    "back "
        "to source pixels; min/max_size stay in source pixels); None: full resolution",
    )

    def make(self) -> FaceDetector:
        return HaarDetector(self)

    def resolve_path(self, key: str, value: str | Path, base_dir: Path) -> str | Path:
        """``cascade`` is a path or a name inside ``cv2.data.haarcascades``: taken against the
        manifest's folder only when that file exists, else kept as written."""
        path = expand_path(value, base_dir)
        return path if path.is_file() else value

    def model_files(self) -> list[Path]:
        return [cascade_path(self)]

    def min_face(self) -> int:
        return self.min_size

    def no_face_hint(self) -> str:
        return (
            f"try stages.detect.min_size: {max(8, self.min_size // 2)} or "
            "stages.detect.min_neighbors: "
            f"{max(1, self.min_neighbors - 2)} (or stages.detect.backend: none for pre-cropped "
            "faces)"
        )


def bundled_cascades() -> Path:
    """OpenCV's folder of bundled cascades (``cv2.data.haarcascades``), found without importing
    OpenCV (a no-op ``emoprep run`` hashes the cascade for the fingerprint and loads no cv2)."""
    from importlib.util import find_spec

    spec = find_spec("cv2")
    if spec is None or not spec.submodule_search_locations:
        raise ModelFileError("detect.backend haar: OpenCV (cv2) is not installed; "
                             "pip install opencv-contrib-python-headless")
    return Path(next(iter(spec.submodule_search_locations))) / "data"


def cascade_path(cfg: HaarConfig) -> Path:
    """Resolve ``cfg.cascade``: an existing path, else a file name inside
    ``cv2.data.haarcascades``."""
    given = Path(cfg.cascade).expanduser()
    if given.is_file():
        return given.resolve()
    bundled = bundled_cascades() / cfg.cascade
    if bundled.is_file():
        return bundled
    raise ModelFileError(
        f"detect.cascade {cfg.cascade!r}: no such file, expected a path or a name inside "
        f"{bundled.parent}; use e.g. 'haarcascade_frontalface_default.xml'"
    )


class HaarDetector:
    """``cv2.CascadeClassifier.detectMultiScale`` on the histogram-equalised grey frame."""

    def __init__(self, cfg: HaarConfig) -> None:
        import cv2

        self.cfg = cfg
        self.path = cascade_path(cfg)
        self._cascade = cv2.CascadeClassifier()
        try:
            loaded = self._cascade.load(str(self.path))
        except cv2.error as exc:
            raise self._bad_file() from exc
        if not loaded or self._cascade.empty():
            raise self._bad_file()

    def _bad_file(self) -> ModelFileError:
        return ModelFileError(
            f"detect.cascade {self.path}: OpenCV cannot load it as a cascade XML; "
            "point detect.cascade to a valid haarcascade_*.xml"
        )

    def __getstate__(self) -> dict:  # cv2 objects do not pickle; rebuild from the config
        return {"cfg": self.cfg}

    def __setstate__(self, state: dict) -> None:
        self.__init__(state["cfg"])

    def detect(self, frame_bgr: np.ndarray) -> np.ndarray:
        import cv2

        grey = to_grey(frame_bgr)
        scale = 1.0
        if self.cfg.max_width is not None and grey.shape[1] > self.cfg.max_width:
            scale = self.cfg.max_width / grey.shape[1]
            size = (self.cfg.max_width, max(1, round(grey.shape[0] * scale)))
            grey = cv2.resize(grey, size, interpolation=cv2.INTER_AREA)
        lo = max(1, round(self.cfg.min_size * scale))
        hi = round(self.cfg.max_size * scale) if self.cfg.max_size else 0
        boxes = self._cascade.detectMultiScale(
            cv2.equalizeHist(grey), scaleFactor=self.cfg.scale_factor,
            minNeighbors=self.cfg.min_neighbors, minSize=(lo, lo), maxSize=(hi, hi),
        )
        return np.asarray(boxes, np.float32).reshape(-1, 4) / np.float32(scale)
