"""The pieces of the track stage below its state machine: the per-frame rows, the tracker-failure
rule and MedianFlow on the padded box (:mod:`emoprep.stages.track` has the rules in full).

OpenCV is imported inside :class:`MedianFlow` only (importing the track config loads no cv2).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np

from emoprep.stages.detect import pad_box
from emoprep.types import FrameStatus, Geometry

MAX_ASPECT = 3.0  #: a tracked box with w/h or h/w above this is degenerate
#: a tracked box with less than this fraction of its area inside the frame has left it
MIN_INSIDE = 0.5
NO_DETECTOR = 0  #: ``TrackResult.detector`` where the frame has no face

_NAN_BOX = np.full(4, np.nan, np.float32)
_NAN_LM = np.full((68, 2), np.nan, np.float32)


@dataclass
class Rows:
    """Per-frame results, appended frame by frame (small arrays only, never pixels)."""

    index: list[int] = field(default_factory=list)
    boxes: list[np.ndarray] = field(default_factory=list)
    landmarks: list[np.ndarray] = field(default_factory=list)
    status: list[int] = field(default_factory=list)
    n_faces: list[int] = field(default_factory=list)
    detector: list[int] = field(default_factory=list)

    def add(self, idx: int, status: FrameStatus, n: int, box: np.ndarray | None = None,
            lm: np.ndarray | None = None, source: int = NO_DETECTOR) -> int:
        self.detector.append(source if box is not None else NO_DETECTOR)
        self.index.append(idx)
        self.status.append(int(status))
        self.n_faces.append(n)
        self.boxes.append(_NAN_BOX if box is None else np.asarray(box, np.float32))
        self.landmarks.append(_NAN_LM if lm is None else lm)
        return len(self.index) - 1

    def clear_face(self, k: int, status: FrameStatus) -> None:
        self.status[k], self.boxes[k], self.landmarks[k] = int(status), _NAN_BOX, _NAN_LM
        self.detector[k] = NO_DETECTOR

    def geometry(self, fps: float) -> Geometry:
        idx = np.asarray(self.index, np.int64)
        return Geometry(
            frame_index=idx,
            timestamps=idx / float(fps),
            boxes=np.asarray(self.boxes, np.float32).reshape(-1, 4),
            landmarks=np.asarray(self.landmarks, np.float32).reshape(-1, 68, 2),
            status=np.asarray(self.status, np.uint8),
            n_faces=np.asarray(self.n_faces, np.int16),
            detector=np.asarray(self.detector, np.uint8),
        )


def tracked_failed(box: np.ndarray, frame_shape: tuple[int, int], min_box: int) -> bool:
    """True when tracked ``box`` (x, y, w, h) has left the (H, W) frame or degenerated.

    Plain float arithmetic (called once per tracked frame; numpy scalars cost ~0.1 ms here).
    """
    values = box.tolist() if isinstance(box, np.ndarray) else box
    x, y, w, h = (float(v) for v in values)
    if not (math.isfinite(x) and math.isfinite(y) and math.isfinite(w) and math.isfinite(h)):
        return True
    if min(w, h) < min_box or max(w / h, h / w) > MAX_ASPECT:
        return True
    fh, fw = frame_shape[:2]
    inside = max(0.0, min(x + w, fw) - max(x, 0.0)) * max(0.0, min(y + h, fh) - max(y, 0.0))
    return inside < MIN_INSIDE * w * h


class MedianFlow:
    """MedianFlow on the padded box; reports the unpadded box (padding scaled with the box).

    Runs on the whole grey frame: MedianFlow on a region around the box is not the same tracker
    (its boxes differ by ~0.04 px after one update and by up to 7 px after 200 frames on
    WolfgangLanger_Pexels.mp4; measured for benchmarks/throughput.py).
    """

    def __init__(self, grey: np.ndarray, box: np.ndarray, pad_y: int) -> None:
        padded = pad_box(box, pad_y, grey.shape)
        self.top = float(box[1] - padded[1])  # padding actually added (clipping may cut it)
        self.bottom = float(padded[1] + padded[3] - box[1] - box[3])
        self.h0 = float(padded[3])
        import cv2  # lazy: the config classes are imported by status and planning

        # opencv's type stubs leave out the contrib legacy trackers
        self._t = cv2.legacy.TrackerMedianFlow_create()  # type: ignore[attr-defined]
        self._t.init(grey, tuple(float(v) for v in padded))

    def update(self, grey: np.ndarray) -> tuple[bool, np.ndarray]:
        """(ok, unpadded box (4,) float32) on the next grey (H, W) uint8 frame."""
        ok, (x, y, w, h) = self._t.update(grey)
        s = h / self.h0 if self.h0 > 0 else 1.0
        return bool(ok), np.array(
            [x, y + self.top * s, w, h - (self.top + self.bottom) * s], np.float32
        )
