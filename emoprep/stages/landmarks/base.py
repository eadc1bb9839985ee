"""What every landmarks backend shares: the config base and the landmarker protocol.

A landmarker is called as ``landmarker(frame, box_xywh)`` on one frame and one face box (x, y, w,
h, source pixels) and returns (68, 2) float32 x, y in source pixels (iBUG 68-point order,
0-based). Backends with ``temporal`` True also offer ``follow`` (one pass from the previous
frame's landmarks on a tracked frame); ``scored`` ones a face score of their last call.
"""

from __future__ import annotations

from typing import Any, ClassVar, Protocol

import numpy as np
from typing_extensions import Self

from emoprep.stages.backends import BackendConfig


class Landmarker(Protocol):
    """Anything that finds the 68 points of one face in one frame."""

    def __call__(self, frame: np.ndarray, box_xywh: np.ndarray) -> np.ndarray:
        """frame (H, W, 3) BGR or (H, W) grey uint8, box (4,) x, y, w, h -> (68, 2) float32."""
        ...


class TemporalLandmarker(Landmarker, Protocol):
    """The landmarker of a ``temporal`` backend: it also follows a tracked face."""

    def follow(self, frame: np.ndarray, previous: np.ndarray, prev_box: np.ndarray,
               box: np.ndarray) -> np.ndarray:
        """One pass from the previous frame's (68, 2) landmarks and box -> (68, 2) float32."""
        ...


class ScoredLandmarker(TemporalLandmarker, Protocol):
    """The landmarker of a ``scored`` backend: ``score`` in [0, 1] of its last call."""

    score: float


class LandmarksBackendConfig(BackendConfig):
    """Base of the landmarks backends (``landmarks.backend``). Subclasses add their keys, a
    ``temporal`` fact (a field or a ClassVar: whether tracked frames use ``follow``), and
    :meth:`make`."""

    _tag_key: ClassVar[str] = "backend"
    #: whether the landmarker gets the colour frame (else the grey frame the tracker works on)
    colour: ClassVar[bool] = False
    #: whether the landmarker gives a face score (``landmarker.score`` in [0, 1] after each call:
    #: how sure it is that the points lie on a face), which ``track.backend: landmarks`` needs
    scored: ClassVar[bool] = False
    #: whether the backend finds landmarks at all (``none``: every point NaN, no pass)
    finds_points: ClassVar[bool] = True

    def make(self) -> Any:
        """The landmarker (loads the model file once per process); a :class:`Landmarker`."""
        raise NotImplementedError

    def for_boxes(self, whole_frame: bool) -> Self:
        """This config settled for the boxes it will get: ``whole_frame`` True under
        ``detect.backend: none`` (each frame is the face). The base class has nothing to settle."""
        return self

    def fingerprint_slice(self) -> dict[str, Any]:
        """The config as it goes into the track fingerprint (JSON types)."""
        return self.model_dump(mode="json")


def check_box(box_xywh: np.ndarray) -> np.ndarray:
    """``box_xywh`` as (4,) float32; ValueError unless finite with w, h >= 1 pixel."""
    box = np.asarray(box_xywh, np.float32)
    if box.shape != (4,) or not np.isfinite(box).all() or box[2] < 1 or box[3] < 1:
        raise ValueError(f"landmarks: expected a finite (4,) x, y, w, h box, got {box_xywh!r}")
    return box
