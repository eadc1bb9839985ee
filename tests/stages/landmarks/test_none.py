"""``landmarks.backend: none`` on real frames: the tracker stores the whole-frame box and NaN
landmarks, and no landmark model is loaded."""

from __future__ import annotations

import numpy as np

from emoprep.io.video import iter_frames
from emoprep.stages.detect import NoDetectConfig
from emoprep.stages.landmarks import BACKENDS, NoLandmarksConfig, make_landmarker
from emoprep.stages.track import TrackConfig, track_video
from emoprep.types import FrameStatus


def test_the_landmarker_gives_nan_points_and_needs_no_model() -> None:
    cfg = NoLandmarksConfig()
    assert cfg.model_files() == [] and not cfg.finds_points and NoLandmarksConfig in BACKENDS
    points = make_landmarker(cfg)(np.zeros((10, 10, 3), np.uint8), np.array([0, 0, 10, 10]))
    assert points.shape == (68, 2) and points.dtype == np.float32 and np.isnan(points).all()


def test_whole_frame_boxes_and_nan_landmarks_on_real_frames(sample_entry) -> None:
    entry = sample_entry("single_face.mp4")
    frames = list(iter_frames(entry, np.arange(5)))
    res = track_video(frames, 30.0, NoDetectConfig(), TrackConfig(), NoLandmarksConfig())
    g = res.geometry
    h, w = frames[0][1].shape[:2]
    assert (g.boxes == np.array([0, 0, w, h], np.float32)).all()
    assert (g.status == FrameStatus.DETECTED).all() and np.isnan(g.landmarks).all()
    assert g.landmarks.shape == (5, 68, 2)
