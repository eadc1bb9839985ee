"""Detect once, then track (MedianFlow, or the face's own landmarks) with re-detection;
per-frame status.

The rules (docs/METHODS.md has them with their sources):

- While no face is known the detector runs every ``track.retry_every`` frames. A face it finds is
  a *candidate*: the tracker starts on it, and it counts only once the detector finds a box
  overlapping the tracked box (IoU >= :data:`CONFIRM_IOU`) on each of the next ``track.confirm``
  frames. Until then its frames are held back; a rejected candidate leaves them NO_FACE (LOST for
  a loss frame). This removes the one-frame Haar false positives on textured backgrounds and text.
- MedianFlow is given the detected box extended by ``detect.pad_y`` px above AND below, clipped to
  the frame. The stored box is the tracked box with that padding taken off again (scaled with the
  box).
- Tracker failure: ``update()`` returns False, less than half the box lies inside the frame, a
  side is below ``track.min_box`` px, or the aspect ratio leaves [1/:data:`MAX_ASPECT`,
  :data:`MAX_ASPECT`]. On failure the detector runs on the same frame: a face -> new candidate
  (REDETECTED once confirmed), none -> LOST, then NO_FACE until a face is confirmed again.
- Every ``track.redetect_every`` tracked frames the detector runs: a face re-initialises the
  tracker (REDETECTED); no face counts as a failure (LOST), so a tracker drifting on background
  after the face left is dropped after at most ``redetect_every`` frames.
- ``track.backend: landmarks`` replaces MedianFlow by the landmarks of the previous row (the
  landmark model runs where they were; its face score is the failure test):
  :mod:`emoprep.stages.track_landmarks`. The other rules are the same.
- ``track.backend: none`` runs the detector on every frame (the naive per-frame path).
- ``detect.backend: none`` (pre-cropped faces) means no tracking at all: every frame's box is the
  whole frame, status DETECTED, whatever ``track`` says (:func:`whole_frame_only`); a tracker
  started on the whole frame could only drift (MedianFlow moved it by up to 3 px).
- The detector is a chain: ``detect`` and its ``detect.fallback`` list, tried in order on a frame
  where the previous one finds nothing (:mod:`emoprep.stages.detect.chain`). Detectors get the
  colour frame, MedianFlow and grey landmarkers (dlib68) the grey one, converted only when one of
  them reads it. Per frame, :class:`TrackResult` records which detector of the chain the face box
  comes from (for tracked frames: the detection the tracker started from).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass
from enum import Enum
from typing import cast

import numpy as np
from pydantic import BaseModel, ConfigDict, Field

from emoprep.stages.detect import (
    DetectConfig,
    Detections,
    DetectorChain,
    NoDetectConfig,
    box_iou,
    to_grey,
)
from emoprep.stages.landmarks import Landmarker, LandmarksConfig, make_landmarker
from emoprep.stages.landmarks.base import TemporalLandmarker
from emoprep.stages.track_landmarks import LandmarkTracker
from emoprep.stages.tracker import (
    MAX_ASPECT,
    MIN_INSIDE,
    NO_DETECTOR,
    MedianFlow,
    Rows,
    tracked_failed,
)
from emoprep.types import FrameStatus, Geometry

__all__ = ["MAX_ASPECT", "MIN_INSIDE", "NO_DETECTOR", "CONFIRM_IOU", "FaceTracker", "TrackBackend",
           "TrackConfig", "TrackResult", "landmarks_problem", "track_faces", "track_video",
           "tracked_failed", "whole_frame_only"]


class TrackBackend(str, Enum):
    MEDIANFLOW = "medianflow"  #: cv2.legacy.TrackerMedianFlow (opencv-contrib)
    NONE = "none"  #: run the detector on every frame (the naive per-frame path)
    #: follow the face with its own landmarks (needs landmarks.backend: mesh; track_landmarks.py)
    LANDMARKS = "landmarks"


class TrackConfig(BaseModel):
    model_config = ConfigDict(extra="forbid")

    backend: TrackBackend = TrackBackend.MEDIANFLOW
    redetect_every: int = Field(
        50, ge=0, description="run the detector every N tracked frames (0: only on failure)"
    )
    retry_every: int = Field(
        1, ge=1, description="while no face is known, run the detector every N frames"
    )
    min_box: int = Field(
        20, ge=2, description="a tracked box smaller than this (pixels) counts as a failure"
    )
    confirm: int = Field(
        1,
        ge=0,
        description="a face found while none is known counts only if the detector finds it again "
                    "on "
        "the next N frames (0: accept at once); removes one-frame false detections",
    )
    redetect_roi: float | None = Field(
        2.0,
        ge=1.0,
        description="periodic re-detection searches a region this many times the tracked box "
                    "(side), "
        "then the whole frame if nothing is found there; null: always the whole frame",
    )


CONFIRM_IOU = 0.3  #: detector box vs tracked box overlap that confirms a candidate face


def landmarks_problem(track: TrackConfig, landmarks: LandmarksConfig) -> str | None:
    """Why ``track`` cannot run with ``landmarks`` (``track.backend: landmarks`` needs a face
    score), or None."""
    if track.backend is not TrackBackend.LANDMARKS or landmarks.scored:
        return None
    return (f"stages.track.backend: landmarks needs a landmarks backend with a face score (mesh), "
            f"got stages.landmarks.backend: {landmarks.backend}; set stages.landmarks.backend: "
            "mesh, or stages.track.backend: medianflow")


def whole_frame_only(detect: DetectConfig) -> bool:
    """True for ``detect.backend: none``: each frame is the face, so nothing is detected,
    confirmed or tracked; :class:`_Session` stores the whole frame, status DETECTED."""
    return isinstance(detect, NoDetectConfig)


class _Session:
    """State machine of one video: search -> candidate -> confirmed face -> tracked / lost."""

    def __init__(self, chain: DetectorChain, landmarker: Landmarker, dcfg: DetectConfig,
                 tcfg: TrackConfig, temporal: bool = False, colour: bool = False) -> None:
        self.chain, self.lmk, self.dcfg, self.tcfg = chain, landmarker, dcfg, tcfg
        self.temporal = temporal  # tracked frames: one predictor pass from the last landmarks
        self.colour = colour  # the landmarker gets the colour frame (FAN), not the grey one
        self.last: tuple[np.ndarray, np.ndarray] | None = None  # (landmarks, box) of the last row
        self.naive = tcfg.backend is TrackBackend.NONE
        self.follow = tcfg.backend is TrackBackend.LANDMARKS
        self.whole = whole_frame_only(dcfg)
        # the grey frame only where something reads it: MedianFlow, a grey landmarker
        self.grey_used = not colour or (tcfg.backend is TrackBackend.MEDIANFLOW and not self.whole)
        self.out = Rows()
        self.active = False  # a face (confirmed or candidate) is being followed
        self.tracker: MedianFlow | LandmarkTracker | None = None
        self.box: np.ndarray | None = None  # last stored box, source px
        self.source = NO_DETECTOR  # 1 + chain position of the detector the current face came from
        self.frame: np.ndarray = np.zeros((0, 0), np.uint8)  # the current frame, for the detectors
        self.found = False  # a face has been confirmed in this video
        self.wait = 0  # frames to skip before the next search
        self.since_det = 0  # frames since the detector last (re)initialised the face
        self.pending: list[tuple[int, FrameStatus]] = []  # (row, status if rejected)
        self.need = 0  # confirmations still needed

    def step(self, idx: int, frame: np.ndarray) -> None:
        self.frame = frame  # ``grey`` below: the colour frame when nothing reads a grey one
        grey = to_grey(frame) if self.grey_used else frame
        if self.whole:
            self._whole_frame(idx, grey)
            return
        if not self.active:
            self._search(idx, grey, loss=False)
            return
        assert self.box is not None  # active: a face was found
        due = self.naive or bool(self.tcfg.redetect_every
                                 and self.since_det + 1 >= self.tcfg.redetect_every)
        lm = None
        if self.naive or (self.follow and due and not self.pending):
            ok, box = True, self.box  # the detector runs now: no landmark pass to follow
        elif isinstance(self.tracker, LandmarkTracker):
            assert self.last is not None  # the face's last row has landmarks
            ok, box, lm = self.tracker.update(frame, *self.last)
        else:
            assert self.tracker is not None  # active and not naive: a tracker follows the face
            ok, box = self.tracker.update(grey)
            ok = ok and not tracked_failed(box, grey.shape, self.tcfg.min_box)
        if self.pending:
            self._confirm(idx, grey, box, ok, lm)
        elif not ok:
            self._drop()
            self._search(idx, grey, loss=True)
        elif due:
            self._redetect(idx, grey, box)
        else:
            self.since_det += 1
            self._face_row(idx, grey, box, FrameStatus.TRACKED, -1, lm)

    def finish(self, fps: float) -> Geometry:
        """Settle a candidate still unconfirmed at the end, then return the geometry."""
        if self.pending and len(self.out.index) > self.tcfg.confirm:
            self._reject()  # it could have been confirmed and was not: drop it
        return self.out.geometry(fps)

    def _whole_frame(self, idx: int, grey: np.ndarray) -> None:
        """``detect.backend: none``: the box is the whole (H, W) frame, [0, 0, W, H] px, found by
        the chain's first detector; landmarks from that box; no tracker, no confirmation."""
        h, w = grey.shape[:2]
        self.source, self.found = 1, True
        self._face_row(idx, grey, np.array([0.0, 0.0, w, h], np.float32), FrameStatus.DETECTED, 1)

    # -- transitions -------------------------------------------------------------------------
    def _face_row(self, idx: int, grey: np.ndarray, box: np.ndarray, status: FrameStatus, n: int,
                  lm: np.ndarray | None = None) -> int:
        """Add a face row; ``lm``: the landmarks when the tracker found them already."""
        self.box = np.asarray(box, np.float32)
        image = self.frame if self.colour else grey
        if lm is None and status is FrameStatus.TRACKED and self.temporal and self.last is not None:
            lmk = cast(TemporalLandmarker, self.lmk)  # a temporal backend's landmarker follows
            lm = lmk.follow(image, self.last[0], self.last[1], self.box)
        elif lm is None:
            lm = self.lmk(image, self.box)
        self.last = (lm, self.box)
        return self.out.add(idx, status, n, self.box, lm, self.source)

    def _drop(self) -> None:
        self.active, self.tracker, self.last = False, None, None
        self.wait = self.tcfg.retry_every - 1

    def _search(self, idx: int, grey: np.ndarray, loss: bool) -> None:
        if not loss and self.wait > 0:
            self.wait -= 1
            self.out.add(idx, FrameStatus.NO_FACE, -1)
            return
        dets = self.chain.find(self.frame)
        miss = FrameStatus.LOST if loss else FrameStatus.NO_FACE
        if len(dets) == 0:
            self.wait = self.tcfg.retry_every - 1
            self.out.add(idx, miss, 0)
        else:
            self._start(idx, grey, dets, miss)

    def _start(self, idx: int, grey: np.ndarray, dets: Detections, miss: FrameStatus) -> None:
        box = self._init(grey, dets)
        status = FrameStatus.REDETECTED if self.found else FrameStatus.DETECTED
        row = self._face_row(
            idx, grey, box, FrameStatus.MULTI_FACE if len(dets) > 1 else status, len(dets)
        )
        if self.tcfg.confirm == 0:
            self.found = True
        else:
            self.pending, self.need = [(row, miss)], self.tcfg.confirm

    def _init(self, grey: np.ndarray, dets: Detections) -> np.ndarray:
        box = dets.pick(self.dcfg.select, grey.shape, self.box)
        self.active, self.since_det, self.source = True, 0, dets.source + 1
        if self.follow:
            self.tracker = LandmarkTracker(self.lmk, self.tcfg.min_box)
        elif not self.naive:
            self.tracker = MedianFlow(grey, box, self.dcfg.pad_y)
        return box

    def _detect_near(self, grey: np.ndarray, box: np.ndarray) -> Detections:
        """Detections in a region ``redetect_roi`` times the box around it (cheap), else in the
        frame."""
        k = self.tcfg.redetect_roi
        if k is not None and not self.naive and self.dcfg.region_search:
            x, y, w, h = (float(v) for v in box)
            cx, cy = x + w / 2, y + h / 2
            x0, y0 = max(0, int(cx - k * w / 2)), max(0, int(cy - k * h / 2))
            x1, y1 = (
                min(grey.shape[1], int(cx + k * w / 2)),
                min(grey.shape[0], int(cy + k * h / 2)),
            )
            if min(x1 - x0, y1 - y0) >= self.dcfg.min_face():
                dets = self.chain.find(np.ascontiguousarray(self.frame[y0:y1, x0:x1]))
                if len(dets):
                    return dets.shifted(x0, y0)
        return self.chain.find(self.frame)

    def _redetect(self, idx: int, grey: np.ndarray, box: np.ndarray) -> None:
        dets = self._detect_near(grey, box)
        if len(dets) == 0:
            self._drop()
            self.out.add(idx, FrameStatus.LOST, 0)
            return
        new = self._init(grey, dets)
        status = FrameStatus.MULTI_FACE if len(dets) > 1 else FrameStatus.REDETECTED
        self._face_row(idx, grey, new, status, len(dets))

    def _confirm(self, idx: int, grey: np.ndarray, box: np.ndarray, ok: bool,
                 lm: np.ndarray | None) -> None:
        dets = self.chain.find(self.frame)
        if not ok or len(dets) == 0 or box_iou(dets.boxes, box[None, :]).max() < CONFIRM_IOU:
            self._reject()
            if len(dets):
                self._start(idx, grey, dets, FrameStatus.NO_FACE)
            else:
                self.out.add(idx, FrameStatus.NO_FACE, 0)
            return
        status = FrameStatus.MULTI_FACE if len(dets) > 1 else FrameStatus.TRACKED
        if self.naive:  # no tracker: the detection is the box
            box = self._init(grey, dets)
            status = FrameStatus.MULTI_FACE if len(dets) > 1 else FrameStatus.REDETECTED
        else:
            self.since_det += 1
        row = self._face_row(idx, grey, box, status, len(dets), lm)
        self.pending.append((row, FrameStatus.NO_FACE))
        self.need -= 1
        if self.need == 0:
            self.found, self.pending = True, []

    def _reject(self) -> None:
        for row, miss in self.pending:
            self.out.clear_face(row, miss)
        self.pending = []
        self._drop()


@dataclass
class TrackResult:
    """What the track stage finds in one video.

    geometry: the per-frame :class:`Geometry`.
    detector: (T,) uint8, per frame 1 + the position in ``detectors`` of the detector the face box
        comes from (for tracked frames: the detection the tracker started from); 0 without a face.
    detectors: the backends of the chain in the order they are tried (``detect`` then
        ``detect.fallback``), e.g. ``("haar", "mtcnn")``.
    """

    geometry: Geometry
    detector: np.ndarray
    detectors: tuple[str, ...]


class FaceTracker:
    """:func:`track_video` one frame at a time, for a caller that uses each row once it is settled
    (the frame driver warps a frame as soon as its face can no longer be rejected).

    ``step(idx, frame)`` adds one row; rows below :attr:`settled` never change again; ``row(k)``
    gives (status, box (4,), landmarks (68, 2)) of row k; ``finish(fps)`` settles the rest.
    """

    def __init__(
        self, detect: DetectConfig, track: TrackConfig, landmarks: LandmarksConfig
    ) -> None:
        if problem := landmarks_problem(track, landmarks):
            raise ValueError(problem)
        self.chain = DetectorChain(detect)
        lmk = make_landmarker(landmarks.for_boxes(whole_frame_only(detect)))
        self._s = _Session(self.chain, lmk, detect, track,
                           temporal=landmarks.temporal, colour=landmarks.colour)

    def step(self, idx: int, frame: np.ndarray) -> None:
        """Track ``frame`` (H, W, 3) BGR uint8, source frame number ``idx``."""
        self._s.step(int(idx), frame)

    @property
    def settled(self) -> int:
        """Number of leading rows that are final (a pending candidate's rows may still be
        cleared)."""
        return self._s.pending[0][0] if self._s.pending else len(self._s.out.index)

    def __len__(self) -> int:
        return len(self._s.out.index)

    def row(self, k: int) -> tuple[FrameStatus, np.ndarray, np.ndarray]:
        out = self._s.out
        return FrameStatus(out.status[k]), out.boxes[k], out.landmarks[k]

    def finish(self, fps: float) -> TrackResult:
        geometry = self._s.finish(fps)
        return TrackResult(geometry, geometry.detector, self.chain.names)


def track_video(
    frames: Iterable[tuple[int, np.ndarray]],
    fps: float,
    detect: DetectConfig,
    track: TrackConfig,
    landmarks: LandmarksConfig,
    progress: Callable[[int], None] | None = None,
) -> TrackResult:
    """Face box, 68 landmarks, status and the finding detector for every frame of ``frames``.

    frames: ``(source frame number, (H, W, 3) BGR uint8)`` pairs, e.g. from
    :func:`emoprep.io.video.iter_frames`; streamed, never stored. ``fps`` gives the timestamps.
    ``progress`` is called with 1 after each frame (fits ``tqdm.update``).
    """
    tracker = FaceTracker(detect, track, landmarks)
    for idx, frame in frames:
        tracker.step(idx, frame)
        if progress is not None:
            progress(1)
    return tracker.finish(fps)


def track_faces(
    frames: Iterable[tuple[int, np.ndarray]],
    fps: float,
    detect: DetectConfig,
    track: TrackConfig,
    landmarks: LandmarksConfig,
    progress: Callable[[int], None] | None = None,
) -> Geometry:
    """The :class:`Geometry` of :func:`track_video`: one row per frame (NaN boxes/landmarks where
    there is no face)."""
    return track_video(frames, fps, detect, track, landmarks, progress).geometry
