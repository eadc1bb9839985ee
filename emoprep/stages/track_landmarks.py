"""``track.backend: landmarks``: the face followed by its own landmarks, no image tracker.

As MediaPipe's face mesh pipeline follows a face: on a tracked frame the landmark model runs in
the region the previous frame's landmarks give (:meth:`MeshLandmarker.follow`: the ROI of the
previous box, turned by the previous eye line), and this frame's box is derived from the points
it finds. No MedianFlow pass and no grey frame: with the mesh and BlazeFace nothing converts the
frame to grey at all.

- The box: at each detection the detector's box is tied to the extent of the landmarks found in
  it, measured in the face's own frame (turned by its eye line, so that a rolling head keeps its
  size: :func:`face_extent`), as the offset of its centre and its sides in units of that extent
  (:func:`relation`); on each tracked frame the same relation applied to the new points gives the
  box (:func:`box_from`), so the boxes stay in the detector's convention and do not drift away
  from the points.
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

import math
from typing import cast

import numpy as np

from emoprep.stages.landmarks.base import Landmarker, ScoredLandmarker
from emoprep.stages.tracker import tracked_failed

#: the landmark model's face score below which the followed face counts as lost (MediaPipe's
#: default tracking confidence)
MIN_SCORE = 0.5


def face_extent(landmarks: np.ndarray) -> tuple[float, float, float, float, float, float]:
    """The extent of (68, 2) points in the face's own frame (turned by the eye line, points
    36-41 to 42-47): (cx, cy) its centre in frame pixels, (w, h) its sides (at least 1 pixel) and
    (cos, sin) of the eye-line angle. A head that rolls keeps its extent (an upright bounding box
    would grow by up to 41 %)."""
    left, right = np.add.reduce(landmarks[36:48].reshape(2, 6, 2), axis=1) / 6  # as .mean(0)
    dx, dy = float(right[0] - left[0]), float(right[1] - left[1])
    norm = math.hypot(dx, dy) or 1.0
    cos, sin = dx / norm, dy / norm
    p = landmarks.astype(np.float64)
    x, y = p[:, 0], p[:, 1]
    u, v = x * cos + y * sin, y * cos - x * sin  # turned by -angle
    u0, u1, v0, v1 = float(u.min()), float(u.max()), float(v.min()), float(v.max())
    cu, cv = (u0 + u1) / 2, (v0 + v1) / 2
    return cos * cu - sin * cv, sin * cu + cos * cv, max(u1 - u0, 1.0), max(v1 - v0, 1.0), cos, sin


def relation(landmarks: np.ndarray, box: np.ndarray) -> tuple[float, float, float, float]:
    """``box`` (x, y, w, h) relative to :func:`face_extent` of ``landmarks`` (68, 2): its centre's
    offset from the extent's centre in the face's frame and its sides, in units of the extent's
    sides: (du / ew, dv / eh, w / ew, h / eh)."""
    cx, cy, ew, eh, cos, sin = face_extent(landmarks)
    x, y, w, h = (float(v) for v in np.asarray(box).tolist())
    bx, by = x + w / 2 - cx, y + h / 2 - cy
    return (cos * bx + sin * by) / ew, (cos * by - sin * bx) / eh, w / ew, h / eh


def box_from(landmarks: np.ndarray, rel: tuple[float, float, float, float]) -> np.ndarray:
    """The (4,) float32 upright box of ``landmarks`` under ``rel`` (inverse of
    :func:`relation`): the offset turned back by the eye line, the sides scaled with the
    extent."""
    cx, cy, ew, eh, cos, sin = face_extent(landmarks)
    du, dv, w, h = rel[0] * ew, rel[1] * eh, rel[2] * ew, rel[3] * eh
    bx, by = cx + cos * du - sin * dv, cy + sin * du + cos * dv
    return np.array([bx - w / 2, by - h / 2, w, h], np.float32)


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
