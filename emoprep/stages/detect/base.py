"""What every face detector shares: the config base, the detector protocol, box helpers.

Vision steps compose: a detector's ``detect`` returns every candidate box, :func:`select_face`
picks one, :func:`pad_box` extends it by ``pad_y`` pixels above and below before it is given to
the tracker. Boxes are ``(x, y, w, h)`` float32 in source pixels throughout.
"""

from __future__ import annotations

from enum import Enum
from pathlib import Path
from typing import Any, ClassVar, Protocol

import numpy as np
from pydantic import Field, SerializeAsAny, field_validator, model_validator
from typing_extensions import Self

from emoprep.stages.backends import BackendConfig


class SelectPolicy(str, Enum):
    """Which face to keep when the detector returns several (the frame is flagged
    ``multi_face``)."""

    LARGEST = "largest"  #: largest box area (default)
    CENTER = "center"  #: box centre closest to the frame centre
    PREVIOUS = "previous"  #: largest overlap (IoU) with the last known box, else largest
    #: highest detector confidence; needs a backend that gives scores (mtcnn, dlib_hog,
    #: dlib_mmod), a ConfigError with haar or none (also as a fallback)
    HIGHEST_CONFIDENCE = "highest_confidence"


class FaceDetector(Protocol):
    """Anything that finds faces in one frame."""

    def detect(self, frame_bgr: np.ndarray) -> np.ndarray:
        """All faces in ``frame_bgr`` ((H, W, 3) BGR or (H, W) grey uint8): (K, 4) float32 x, y, w,
        h."""
        ...


class DetectorConfig(BackendConfig):
    """Settings every detector backend has. Subclasses add their own keys and facts."""

    _tag_key = "backend"
    # ``libraries``: fingerprint key -> distribution, for libraries this backend adds to the track
    # stage's (which always holds opencv and dlib); e.g. ``{"torch": "torch"}``
    #: whether the detector gives a confidence per box (a ``detect_scored`` method)
    has_scores: ClassVar[bool] = False
    #: keys that change how fast, never what is detected; left out of the fingerprint
    runtime_fields: ClassVar[frozenset[str]] = frozenset({"device", "batch_size", "threads"})
    #: whether periodic re-detection may search a region around the tracked box first
    #: (``track.redetect_roi``); False for detectors that return the whole image they are given
    region_search: ClassVar[bool] = True
    # ``path_keys`` (keys naming model files): their sha256 is in the fingerprint, their paths
    # are not

    select: SelectPolicy = SelectPolicy.LARGEST
    pad_y: int = Field(10, ge=0, description="pixels added above and below the box before tracking")
    fallback: list[SerializeAsAny[DetectorConfig]] = Field(
        default_factory=list,
        description="detectors tried in order on a frame where this one finds nothing, each a "
        "backend name or a mapping with its own keys, e.g. [mtcnn] or [{backend: mtcnn, "
        "min_size: 30}]; their boxes go through this config's select and pad_y",
    )

    @field_validator("fallback", mode="before")
    @classmethod
    def _parse_fallback(cls, value: Any) -> Any:
        """``"mtcnn"`` -> MtcnnConfig(); mappings -> the config of their ``backend``."""
        if not isinstance(value, list):
            return value
        from pydantic import TypeAdapter

        from emoprep.stages.detect import DetectConfig

        adapter = TypeAdapter(DetectConfig)
        return [v if isinstance(v, DetectorConfig) else
                adapter.validate_python({"backend": v} if isinstance(v, str) else v) for v in value]

    @model_validator(mode="after")
    def _check_chain(self) -> DetectorConfig:
        problems = []
        for k, fb in enumerate(self.fallback):
            if fb.fallback:
                problems.append(f"fallback[{k}] ({fb.tag_value()}) has its own fallback list; "
                                "put every detector in the one top-level fallback list")
            for key in sorted({"select", "pad_y"} & fb.model_fields_set):
                problems.append(f"fallback[{k}].{key} is set, but the top-level {key} applies to "
                                f"every detector of the chain; set {key} next to backend instead")
        if self.select is SelectPolicy.HIGHEST_CONFIDENCE:
            blind = [c.tag_value() for c in self.chain() if not c.has_scores]
            if blind:
                problems.append(f"select: highest_confidence needs a confidence per box, but "
                                f"{', '.join(blind)} gives none; use select: largest, or a "
                                "backend with scores (mtcnn, dlib_hog, dlib_mmod)")
        if problems:
            raise ValueError("; ".join(problems))
        return self

    def resolve_paths(self, base_dir: Path) -> Self:
        """:meth:`BackendConfig.resolve_paths` for this detector and each of its fallbacks."""
        own = super().resolve_paths(base_dir)
        if not own.fallback:
            return own
        return own.model_copy(update={"fallback": [fb.resolve_paths(base_dir)
                                                   for fb in own.fallback]})

    def chain(self) -> list[DetectorConfig]:
        """This detector followed by its fallbacks, in the order they are tried."""
        return [self, *self.fallback]

    def chain_model_files(self) -> list[Path]:
        """Model files of every detector of the chain (hashed into the track fingerprint)."""
        return [p for c in self.chain() for p in c.model_files()]

    def chain_libraries(self) -> dict[str, str]:
        """Fingerprint key -> distribution for every detector of the chain."""
        return {k: v for c in self.chain() for k, v in c.libraries.items()}

    def fingerprint_slice(self) -> dict[str, Any]:
        """The config as it goes into the track fingerprint: JSON types, runtime and model-path
        keys left out, the fallbacks likewise (``fallback`` only when not empty, so a config
        without fallbacks keeps the fingerprint it had before fallbacks existed)."""
        data = self.model_dump(
            mode="json", exclude={"fallback", *self.runtime_fields, *self.path_keys}
        )
        if self.fallback:
            data["fallback"] = [fb.fingerprint_slice() for fb in self.fallback]
        return data

    def min_face(self) -> int:
        """Smallest face side it can find, source pixels (0: any); a smaller region is not
        searched."""
        return 0

    def make(self) -> FaceDetector:
        """Build the detector (raises ModelFileError / MissingDependencyError when it cannot)."""
        raise NotImplementedError

    def no_face_hint(self) -> str:
        """What to try when no face is found in a whole video that does show one (one clause of
        the error message)."""
        return "try another stages.detect.backend (docs/MANIFEST.md)"


def to_grey(frame: np.ndarray) -> np.ndarray:
    """(H, W) uint8 grey view of a BGR (H, W, 3) or grey (H, W) frame (no copy when already
    grey)."""
    if frame.ndim == 2:
        return frame
    if frame.ndim == 3 and frame.shape[2] == 3:
        import cv2  # here, not at the top: importing the detector configs loads no OpenCV

        return cv2.cvtColor(frame, cv2.COLOR_BGR2GRAY)
    raise ValueError(f"frame: expected (H, W, 3) BGR or (H, W) grey, got shape {frame.shape}")


def box_iou(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Intersection over union of boxes ``a`` (..., 4) and ``b`` (..., 4) (x, y, w, h),
    broadcast."""
    a, b = np.asarray(a, np.float64), np.asarray(b, np.float64)
    ix = np.minimum(a[..., 0] + a[..., 2], b[..., 0] + b[..., 2]) - np.maximum(a[..., 0], b[..., 0])
    iy = np.minimum(a[..., 1] + a[..., 3], b[..., 1] + b[..., 3]) - np.maximum(a[..., 1], b[..., 1])
    inter = np.clip(ix, 0, None) * np.clip(iy, 0, None)
    union = a[..., 2] * a[..., 3] + b[..., 2] * b[..., 3] - inter
    return np.where(union > 0, inter / np.where(union > 0, union, 1.0), 0.0)


def select_face(
    boxes: np.ndarray,
    policy: SelectPolicy,
    frame_shape: tuple[int, ...],
    previous: np.ndarray | None = None,
    scores: np.ndarray | None = None,
) -> int:
    """Index of the face to keep among ``boxes`` (K, 4), K >= 1; ties go to the lower index.

    ``frame_shape`` is (H, W) in pixels (a longer shape such as (H, W, 3) is accepted).
    ``previous`` is the last known box (4,) for :attr:`SelectPolicy.PREVIOUS`; ``scores`` (K,)
    the detector's confidences, required by :attr:`SelectPolicy.HIGHEST_CONFIDENCE`.
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
    if policy is SelectPolicy.HIGHEST_CONFIDENCE:
        if scores is None or len(scores) != b.shape[0]:
            got = "none" if scores is None else f"{len(scores)} scores"
            raise ValueError(
                f"select_face: highest_confidence needs one score per box, expected "
                f"{b.shape[0]}, got {got}; use a detector with scores or select: largest"
            )
        return int(np.argmax(np.asarray(scores, np.float64)))
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
