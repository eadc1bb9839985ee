"""Face detection: OpenCV Haar cascade (default) or ``none`` (the whole frame is the face).

Vision steps compose: ``detect`` returns every candidate box, ``select_face`` picks one,
``pad_box`` extends it by ``pad_y`` pixels above and below before it is given to the tracker.
Boxes are ``(x, y, w, h)`` float32 in source pixels throughout.
"""

from __future__ import annotations

from enum import Enum
from pathlib import Path
from typing import Protocol

import cv2
import numpy as np
from pydantic import BaseModel, ConfigDict, Field

from emoprep.errors import ModelFileError


class DetectBackend(str, Enum):
    """Which detector finds faces."""

    HAAR = "haar"  #: OpenCV Haar cascade (``cascade`` file, ``detectMultiScale`` parameters)
    NONE = "none"  #: no detector: each whole frame is the face (pre-cropped datasets)


class SelectPolicy(str, Enum):
    """Which face to keep when the detector returns several (the frame is flagged ``multi_face``)."""

    LARGEST = "largest"  #: largest box area (default)
    CENTER = "center"  #: box centre closest to the frame centre
    PREVIOUS = "previous"  #: largest overlap (IoU) with the last known box, else largest


class DetectConfig(BaseModel):
    model_config = ConfigDict(extra="forbid")

    backend: DetectBackend = DetectBackend.HAAR
    cascade: str = Field(
        "haarcascade_frontalface_default.xml",
        description="file name inside cv2.data.haarcascades, or a path to a cascade XML",
    )
    scale_factor: float = Field(1.1, gt=1.0, description="detectMultiScale scaleFactor")
    min_neighbors: int = Field(5, ge=0, description="detectMultiScale minNeighbors")
    min_size: int = Field(60, ge=8, description="smallest face side, source pixels")
    max_size: int | None = Field(None, ge=8, description="largest face side, source pixels")
    select: SelectPolicy = SelectPolicy.LARGEST
    pad_y: int = Field(10, ge=0, description="pixels added above and below the box before tracking")
    max_width: int | None = Field(
        None,
        ge=64,
        description="run the detector on a copy shrunk to at most this width (boxes are mapped back "
        "to source pixels; min/max_size stay in source pixels); None: full resolution",
    )


class FaceDetector(Protocol):
    """Anything that finds faces in one frame."""

    def detect(self, frame_bgr: np.ndarray) -> np.ndarray:
        """All faces in ``frame_bgr`` ((H, W, 3) BGR or (H, W) grey uint8): (K, 4) float32 x, y, w, h."""
        ...


def to_grey(frame: np.ndarray) -> np.ndarray:
    """(H, W) uint8 grey view of a BGR (H, W, 3) or grey (H, W) frame (no copy when already grey)."""
    if frame.ndim == 2:
        return frame
    if frame.ndim == 3 and frame.shape[2] == 3:
        return cv2.cvtColor(frame, cv2.COLOR_BGR2GRAY)
    raise ValueError(f"frame: expected (H, W, 3) BGR or (H, W) grey, got shape {frame.shape}")


def cascade_path(cfg: DetectConfig) -> Path:
    """Resolve ``cfg.cascade``: an existing path, else a file name inside ``cv2.data.haarcascades``."""
    given = Path(cfg.cascade).expanduser()
    if given.is_file():
        return given.resolve()
    bundled = Path(cv2.data.haarcascades) / cfg.cascade
    if bundled.is_file():
        return bundled
    raise ModelFileError(
        f"detect.cascade {cfg.cascade!r}: no such file, expected a path or a name inside "
        f"{cv2.data.haarcascades}; use e.g. 'haarcascade_frontalface_default.xml'"
    )


class HaarDetector:
    """``cv2.CascadeClassifier.detectMultiScale`` on the histogram-equalised grey frame."""

    def __init__(self, cfg: DetectConfig) -> None:
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


class WholeFrameDetector:
    """Backend ``none``: the whole frame is one face (pre-cropped datasets)."""

    def detect(self, frame_bgr: np.ndarray) -> np.ndarray:
        h, w = frame_bgr.shape[:2]
        return np.array([[0.0, 0.0, w, h]], np.float32)


def make_detector(cfg: DetectConfig) -> FaceDetector:
    """The detector chosen by ``cfg.backend`` (raises :class:`ModelFileError` for a bad cascade)."""
    if cfg.backend is DetectBackend.HAAR:
        return HaarDetector(cfg)
    if cfg.backend is DetectBackend.NONE:
        return WholeFrameDetector()
    raise ValueError(f"detect.backend: unknown backend {cfg.backend!r}")


def model_files(cfg: DetectConfig) -> list[Path]:
    """Model files whose content the detector depends on (hashed into the track fingerprint)."""
    return [cascade_path(cfg)] if cfg.backend is DetectBackend.HAAR else []


def box_iou(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Intersection over union of boxes ``a`` (..., 4) and ``b`` (..., 4) (x, y, w, h), broadcast."""
    a, b = np.asarray(a, np.float64), np.asarray(b, np.float64)
    ix = np.minimum(a[..., 0] + a[..., 2], b[..., 0] + b[..., 2]) - np.maximum(a[..., 0], b[..., 0])
    iy = np.minimum(a[..., 1] + a[..., 3], b[..., 1] + b[..., 3]) - np.maximum(a[..., 1], b[..., 1])
    inter = np.clip(ix, 0, None) * np.clip(iy, 0, None)
    union = a[..., 2] * a[..., 3] + b[..., 2] * b[..., 3] - inter
    return np.where(union > 0, inter / np.where(union > 0, union, 1.0), 0.0)


def select_face(
    boxes: np.ndarray,
    policy: SelectPolicy,
    frame_shape: tuple[int, int],
    previous: np.ndarray | None = None,
) -> int:
    """Index of the face to keep among ``boxes`` (K, 4), K >= 1; ties go to the lower index.

    ``frame_shape`` is (H, W) in pixels (a longer shape such as (H, W, 3) is accepted).
    ``previous`` is the last known box (4,) for :attr:`SelectPolicy.PREVIOUS`.
    """
    b = np.asarray(boxes, np.float64).reshape(-1, 4)
    if b.shape[0] == 0:
        raise ValueError("select_face: boxes is empty, expected at least one box")
    area = b[:, 2] * b[:, 3]
    if policy is SelectPolicy.LARGEST:
        return int(np.argmax(area))
    if policy is SelectPolicy.CENTER:
        h, w = frame_shape[:2]
        centre = b[:, :2] + b[:, 2:] / 2
        return int(np.argmin(np.hypot(centre[:, 0] - w / 2, centre[:, 1] - h / 2)))
    if policy is SelectPolicy.PREVIOUS:
        if previous is None or not np.isfinite(previous).all():
            return int(np.argmax(area))
        iou = box_iou(b, np.asarray(previous, np.float64)[None, :])
        return int(np.argmax(iou)) if iou.max() > 0 else int(np.argmax(area))
    raise ValueError(f"detect.select: unknown policy {policy!r}")


def pad_box(box: np.ndarray, pad_y: int, frame_shape: tuple[int, int]) -> np.ndarray:
    """Extend ``box`` (x, y, w, h) by ``pad_y`` px above AND below, then clip it to the frame.

    ``frame_shape`` is (H, W). Returns (4,) float32; x and w are only clipped, never extended.
    A box entirely outside the frame comes back with zero width or height.
    """
    h_img, w_img = frame_shape[:2]
    x, y, w, h = (float(v) for v in box)
    x0, x1 = min(max(x, 0.0), w_img), min(max(x + w, 0.0), w_img)
    y0, y1 = min(max(y - pad_y, 0.0), h_img), min(max(y + h + pad_y, 0.0), h_img)
    return np.array([x0, y0, x1 - x0, y1 - y0], np.float32)
