"""``track.backend: landmarks``: the face followed by its own landmarks, no image tracker.

As MediaPipe's face mesh pipeline follows a face: on a tracked frame the landmark model runs in
the region the previous frame's landmarks give (:meth:`MeshLandmarker.follow`: the ROI of the
previous box, turned by the previous eye line), and this frame's box is derived from the points
it finds. No MedianFlow pass and no grey frame: with the mesh and BlazeFace nothing converts the
frame to grey at all.

- The box: at each detection the detector's box is tied to the extent of the landmarks found in
  it (offset and size relative to the points' bounding box, per axis: :func:`relation`); on each
  tracked frame the same relation applied to the new points gives the box (:func:`box_from`), so
  the boxes stay in the detector's convention and do not drift away from the points.
- The loss test: the landmark model's face score below :data:`MIN_SCORE` (the mesh gives ~1.0
  on a face and ~0.0 elsewhere on the sample clips), non-finite points, or the box failing the
  MedianFlow rules (:func:`~emoprep.stages.tracker.tracked_failed`: off the frame, too small,
  degenerate). A loss is handled as a MedianFlow failure: the detector runs on the same frame.
- Everything else (confirmation of new faces, periodic re-detection every
  ``track.redetect_every`` frames, the statuses) is the MedianFlow rule set of
  :mod:`emoprep.stages.track`.

Needs a landmarks backend with a face score (``scored``: ``landmarks.backend: mesh``).
"""

from __future__ import annotations

from typing import cast

import numpy as np

from emoprep.stages.landmarks.base import Landmarker, ScoredLandmarker
from emoprep.stages.tracker import tracked_failed

#: the landmark model's face score below which the followed face counts as lost (MediaPipe's
#: default tracking confidence)
MIN_SCORE = 0.5


def extent(landmarks: np.ndarray) -> tuple[float, float, float, float]:
    """Bounding box (x, y, w, h) of (68, 2) points, pixels (w, h at least 1)."""
    lo, hi = landmarks.min(axis=0).tolist(), landmarks.max(axis=0).tolist()
    return lo[0], lo[1], max(hi[0] - lo[0], 1.0), max(hi[1] - lo[1], 1.0)


def relation(landmarks: np.ndarray, box: np.ndarray) -> tuple[float, float, float, float]:
    """``box`` (x, y, w, h) relative to the extent of ``landmarks`` (68, 2): (dx / ew, dy / eh,
    w / ew, h / eh), dx, dy the box's top-left corner minus the extent's."""
    ex, ey, ew, eh = extent(landmarks)
    x, y, w, h = (float(v) for v in np.asarray(box).tolist())
    return (x - ex) / ew, (y - ey) / eh, w / ew, h / eh


def box_from(landmarks: np.ndarray, rel: tuple[float, float, float, float]) -> np.ndarray:
    """The (4,) float32 box of ``landmarks`` under ``rel`` (inverse of :func:`relation`)."""
    ex, ey, ew, eh = extent(landmarks)
    return np.array([ex + rel[0] * ew, ey + rel[1] * eh, rel[2] * ew, rel[3] * eh], np.float32)


class LandmarkTracker:
    """Follows one face from the landmarks of its last row; made at each (re)detection.

    ``update(frame, last_landmarks, last_box)`` -> (ok, box (4,) float32, landmarks (68, 2)
    float32) for the next (H, W, 3) BGR frame; the first call ties the box to the points of the
    detection row (:func:`relation`).
    """

    def __init__(self, landmarker: Landmarker, min_box: int) -> None:
        self.lmk = cast(ScoredLandmarker, landmarker)
        self.min_box = min_box
        self.rel: tuple[float, float, float, float] | None = None

    def update(self, frame: np.ndarray, last_landmarks: np.ndarray, last_box: np.ndarray
               ) -> tuple[bool, np.ndarray, np.ndarray]:
        if self.rel is None:
            self.rel = relation(last_landmarks, last_box)
        lm = self.lmk.follow(frame, last_landmarks, last_box, last_box)
        if not np.isfinite(lm).all():
            return False, np.asarray(last_box, np.float32), lm
        box = box_from(lm, self.rel)
        ok = self.lmk.score >= MIN_SCORE and not tracked_failed(box, frame.shape[:2],
                                                                 self.min_box)
        return ok, box, lm
