"""Plain data types shared by stages, the engine and the trainers. Arrays are numpy; shapes and
units are in the docstrings."""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import Enum, IntEnum
from typing import TYPE_CHECKING

import numpy as np

from emoprep.errors import ConfigError

if TYPE_CHECKING:
    import torch


class FrameStatus(IntEnum):
    """Per-frame face status stored in the frame store (``status`` dataset, uint8)."""

    NO_FACE = 0  #: no face: never found yet, or still absent after a loss
    DETECTED = 1  #: found by the detector on the first detection of the video
    TRACKED = 2  #: box carried over by the tracker
    REDETECTED = 3  #: found again by the detector after the first detection
    LOST = 4  #: tracker failed and the detector found nothing on this frame
    MULTI_FACE = 5  #: detector found several faces; one was picked by the selection policy

    @classmethod
    def has_face(cls, status: np.ndarray) -> np.ndarray:
        """Boolean mask (T,) of frames that carry a face box."""
        s = np.asarray(status)
        if s.ndim == 0:  # one frame's status (the frame driver asks per frame): no np.isin
            return np.asarray(int(s) in _FACE_SET)
        if s.dtype == np.uint8:  # the stored dtype: one table lookup (~1 us)
            return _FACE_TABLE[s]
        return np.isin(s, _FACE_CODES)  # an int array: no Enum -> array conversion per call


#: the codes of :meth:`FrameStatus.has_face` (int64, made once; asked per frame row)
_FACE_CODES = np.array([FrameStatus.DETECTED, FrameStatus.TRACKED, FrameStatus.REDETECTED,
                        FrameStatus.MULTI_FACE], np.int64)
_FACE_SET = frozenset(int(c) for c in _FACE_CODES)
#: has_face of every uint8 status code, indexed by the code (256,) bool
_FACE_TABLE = np.isin(np.arange(256), _FACE_CODES)


class Device(str, Enum):
    """Where a torch model runs (embedders, MTCNN, FAN, the trainers); see
    :func:`resolve_device`."""

    AUTO = "auto"  #: CUDA when ``torch.cuda.is_available()``, else CPU
    CPU = "cpu"
    CUDA = "cuda"  #: fails with a clear error when no CUDA device is present


def resolve_device(device: Device | str, section: str) -> torch.device:
    """The one rule for every torch model: ``auto`` -> CUDA when ``torch.cuda.is_available()``,
    else CPU; ``cpu`` -> CPU; ``cuda`` without a CUDA device -> :class:`ConfigError` naming
    ``section`` (the settings it came from, e.g. ``stages.embed``). torch is imported here."""
    import torch

    device = Device(device)
    cuda = torch.cuda.is_available()
    if device is Device.CUDA and not cuda:
        raise ConfigError(section, [
            "device: cuda, but torch.cuda.is_available() is False; use device: auto or cpu"])
    return torch.device("cuda" if cuda and device is not Device.CPU else "cpu")


class UnitState(str, Enum):
    """Where a unit stands before a run: a (stage, video) unit of the plan, or a training unit
    (which is only ever FRESH, STALE or MISSING). ``status`` prints the values."""

    FRESH = "up-to-date"  #: its record (and outputs) match its fingerprint
    STALE = "stale"  #: it ran with another fingerprint, or its output is missing or corrupt
    MISSING = "missing"  #: never run
    FAILED = "failed"  #: failed last time with the same fingerprint; retried (unless --skip-failed)
    DATA_FAILED = "failed-data"  #: failed because of its input; not retried until that changes
    BLOCKED = "blocked"  #: an upstream unit failed in this plan


class SourceKind(str, Enum):
    """What a video entry's ``path`` is."""

    FILE = "file"  #: a video file decoded with OpenCV
    FRAMES = "frames"  #: a folder of images read in name order at ``fps``


class UnitStatus(str, Enum):
    """Outcome of the last run of a (stage, video) unit, as its record keeps it."""

    OK = "ok"
    FAILED = "failed"


class VideoState(str, Enum):
    """Where a video stands for one store (frames or one embedder's features)."""

    OK = "ok"  #: its shard is up to date
    FAILED = "failed"  #: a unit it depends on failed with the current fingerprint
    PENDING = "pending"  #: not (yet) built with the current settings


class PadRule(str, Enum):
    SUBSAMPLE = "subsample"  #: evenly spaced frames when too long (default)
    HEAD = "head"  #: the first L frames when too long


class Part(str, Enum):
    TRAIN = "train"
    VAL = "val"
    TEST = "test"
    ALL = "all"


@dataclass(frozen=True)
class VideoEntry:
    """One video (or image-sequence folder) of the manifest, with its labels.

    ``path`` is absolute. ``kind`` is :attr:`SourceKind.FILE` for a video file or
    :attr:`SourceKind.FRAMES` for a folder of images read in sorted order at ``fps`` frames per
    second.
    """

    video_id: str
    path: str
    subject: str
    labels: dict[str, str] = field(default_factory=dict)
    kind: SourceKind = SourceKind.FILE
    fps: float | None = None
    frames_glob: str = "*.png"

    def __post_init__(self) -> None:
        object.__setattr__(self, "kind", SourceKind(self.kind))  # "frames" given as text -> Enum


@dataclass
class ProbeInfo:
    """What ``probe`` learns about a video. ``n_frames`` is the number of decodable frames."""

    fps: float
    n_frames: int
    width: int
    height: int
    codec: str
    content_hash: str
    kind: str = SourceKind.FILE.value


#: :class:`Geometry` arrays that :meth:`Geometry.from_arrays` fills in when absent (older files)
GEOMETRY_OPTIONAL = ("detector",)


@dataclass
class Geometry:
    """Per-frame face geometry from ``track`` (T = frames that went through tracking).

    frame_index: (T,) int64, source frame numbers (0-based).
    timestamps:  (T,) float64, seconds (frame_index / fps).
    boxes:       (T, 4) float32, x, y, w, h in source pixels; NaN where there is no face.
    landmarks:   (T, 68, 2) float32, x, y in source pixels (68-point scheme); NaN where no face.
    status:      (T,) uint8, :class:`FrameStatus` values.
    n_faces:     (T,) int16, faces the detector returned on that frame (-1: detector not run).
    detector:    (T,) uint8, 1 + the position in the detector chain (``detect``, then
                 ``detect.fallback``) of the detector the face box comes from; 0 without a face.
                 Not given (geometry written before the chain existed): zeros.
    """

    frame_index: np.ndarray
    timestamps: np.ndarray
    boxes: np.ndarray
    landmarks: np.ndarray
    status: np.ndarray
    n_faces: np.ndarray
    detector: np.ndarray = None  # type: ignore[assignment]  # None -> zeros (T,) uint8

    def __post_init__(self) -> None:
        if self.detector is None:
            self.detector = np.zeros(len(self.frame_index), np.uint8)

    def __len__(self) -> int:
        return int(self.frame_index.shape[0])

    def as_arrays(self) -> dict[str, np.ndarray]:
        return {
            "frame_index": self.frame_index,
            "timestamps": self.timestamps,
            "boxes": self.boxes,
            "landmarks": self.landmarks,
            "status": self.status,
            "n_faces": self.n_faces,
            "detector": self.detector,
        }

    @classmethod
    def from_arrays(cls, arrays: dict[str, np.ndarray]) -> Geometry:
        """Geometry of ``arrays`` (name -> array); those of :data:`GEOMETRY_OPTIONAL` may be
        missing (KeyError for any other)."""
        return cls(**{k: np.asarray(arrays[k]) for k in cls.__dataclass_fields__
                      if k in arrays or k not in GEOMETRY_OPTIONAL})

    def subset(self, idx: np.ndarray | slice) -> Geometry:
        return Geometry(**{k: v[idx] for k, v in self.as_arrays().items()})
