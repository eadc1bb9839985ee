"""Stage ``track``: detect, track (MedianFlow with re-detection), 68 landmarks, per-frame status
and the detector of the chain each face box comes from."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from emoprep.errors import NoFaceError, VideoError
from emoprep.io.layout import Layout
from emoprep.pipeline.stagedef import (
    Artifact,
    FrameConsumer,
    FrameNeed,
    Outputs,
    PassContext,
    Reported,
    StageDef,
    UnitTask,
)
from emoprep.pipeline.steps.probe import load_probe
from emoprep.pipeline.steps.window import load_window
from emoprep.types import FrameStatus, Geometry
from emoprep.versions import library_version

if TYPE_CHECKING:
    from emoprep.stages.track import TrackResult


#: the :class:`Geometry` arrays of the tracked frames (``detector`` among them)
OUTPUT = Artifact.work("track", ".npz")


class Track(FrameConsumer):
    """Tracking in the frame pass: each frame of the window, once. ``value``: the live
    :class:`~emoprep.stages.track.FaceTracker` while the pass runs (rows below ``settled`` are
    final), the :class:`Geometry` after ``finish``."""

    def begin(self, ctx: PassContext) -> FrameNeed:
        from emoprep.stages.track import FaceTracker

        vid, s = self.task.entry.video_id, self.task.stages
        self.info = ctx.value("probe") or load_probe(self.layout, vid)
        window = ctx.value("window")
        self.idx = window if window is not None else load_window(self.layout, vid)
        self.value = FaceTracker(s.detect, s.track, s.landmarks)
        return FrameNeed(self.idx)

    def push(self, index: int, frame: np.ndarray) -> None:
        self.value.step(index, frame)

    def finish(self, ctx: PassContext) -> Outputs:
        result = self.value.finish(self.info.fps)
        self.value = result.geometry
        return save(self.task, self.layout, result, self.idx)


def check(task: UnitTask, geom: Geometry, idx: np.ndarray) -> np.ndarray:
    """(T,) bool face mask of ``geom``; VideoError when nothing decoded, NoFaceError without a
    face."""
    vid = task.entry.video_id
    if len(geom) == 0:
        raise VideoError(f"video {vid}: no frame could be decoded in the window {idx[0]}-{idx[-1]}")
    face = FrameStatus.has_face(geom.status)
    if not face.any():
        raise NoFaceError(
            f"video {vid}: no frame of the clip showed a face (frames {int(geom.frame_index[0])}-"
            f"{int(geom.frame_index[-1])}); that is expected for a clip without a face. If the "
            f"clip does show one, {task.stages.detect.no_face_hint()}")
    return face


def save(task: UnitTask, layout: Layout, result: TrackResult, idx: np.ndarray) -> Outputs:
    """Check (:func:`check`) and write the track output of one video: the geometry arrays
    (``detector`` among them); the summary names the chain's ``detectors`` in order."""
    geom = result.geometry
    face = check(task, geom, idx)
    path = layout.io.save_npz(OUTPUT, task.entry.video_id, geom.as_arrays())
    status = status_counts(geom.status)
    return [path], {"n_frames": len(geom), "n_face": int(face.sum()), "status": status,
                    "detectors": list(result.detectors)}


#: the lower-case name of every status code (the keys of the summary's ``status`` counts)
_STATUS_NAMES = {int(s): s.name.lower() for s in FrameStatus}


def status_counts(status: np.ndarray) -> dict[str, int]:
    """Frames per status code present, by lower-case name, in code order (T,) -> dict."""
    codes = np.asarray(status, np.int64)
    if not codes.size:
        return {}
    counts = np.bincount(codes)
    return {_STATUS_NAMES[int(k)]: int(counts[k]) for k in np.flatnonzero(counts)}


def libraries(c: Any) -> dict[str, str]:
    """opencv and dlib always; what the detectors of the chain and the landmarks backend add
    (e.g. torch for MTCNN or FAN)."""
    dists = {"cv2": "opencv-contrib-python-headless", "dlib": "dlib-bin",
             **c.detect.chain_libraries(), **c.landmarks.libraries}
    return {key: library_version(dist) for key, dist in dists.items()}


def models(c: Any) -> list[Path]:
    """Model files of every detector of the chain and of the landmarks backend."""
    return [*c.detect.chain_model_files(), *c.landmarks.model_files()]


#: version 2: detectors get colour frames; the per-frame ``detector`` array is stored
def _tracking(c: Any) -> str | None:
    """``whole_frame`` under detect.backend none (no tracker since 0.2), ``whole_frame_one_pass``
    when the landmarks backend also settles itself differently for whole-frame boxes (dlib68 with
    ``refine`` null: one predictor pass, no refinement); None (left out of the fingerprint) for
    every other detector."""
    from emoprep.stages.detect.none import NoDetectConfig

    if not isinstance(c.detect, NoDetectConfig):
        return None
    whole = c.landmarks.for_boxes(True).fingerprint_slice()
    return "whole_frame" if whole == c.landmarks.fingerprint_slice() else "whole_frame_one_pass"


STAGE = StageDef(name="track", consumer=Track, version=2,
                 reads={"detect": "detect", "track": "track", "landmarks": "landmarks",
                        "tracking": _tracking},
                 upstream=("window",), outputs=(OUTPUT,),
                 report=Reported(keys={"n_tracked": "n_frames", "n_tracked_face": "n_face"}),
                 libraries=libraries, models=models)
