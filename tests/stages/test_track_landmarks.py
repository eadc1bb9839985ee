"""``track.backend: landmarks`` (emoprep/stages/track_landmarks.py): the face followed by the mesh's
own landmarks on real clips; a loss and a new face; same faces as MedianFlow + dlib68; no
MedianFlow and no grey frame; deterministic; the config check."""

from __future__ import annotations

import math

import numpy as np
import pytest
from pydantic import ValidationError

from emoprep.io.video import iter_frames
from emoprep.pipeline.config import StagesConfig
from emoprep.stages import track as track_module
from emoprep.stages.detect import BlazeFaceConfig, HaarConfig
from emoprep.stages.landmarks import Dlib68Config, MeshConfig
from emoprep.stages.track import FaceTracker, TrackBackend, TrackConfig, track_faces
from emoprep.stages.track_landmarks import box_from, relation
from emoprep.types import FrameStatus

S = FrameStatus
FOLLOW = TrackConfig(backend=TrackBackend.LANDMARKS)


@pytest.fixture(scope="module")
def facemesh_files() -> None:
    from emoprep.io.models import fetch

    fetch("facemesh")


@pytest.fixture(scope="module")
def leave_and_return(sample_entry) -> list[tuple[int, np.ndarray]]:
    """One 960x540 clip of 160 frames: face_noface.mov frames 0-79 (a face in 0-71, a black frame
    at 72, a title card after), then noface_face.mov frames 80-159 (title card, the face again
    from its frame 96, here 96; black at its 168, not included). Ground truth from
    tests/stages/test_track.py (per-frame Haar and by eye)."""
    first = list(iter_frames(sample_entry("face_noface.mov"), range(80)))
    second = list(iter_frames(sample_entry("noface_face.mov"), range(80, 160)))
    return first + second


def test_box_relation_round_trip_moves_scales_and_turns_with_the_points() -> None:
    rng = np.random.default_rng(0)
    lm = rng.uniform(100, 300, (68, 2)).astype(np.float32)
    lm[36:42], lm[42:48] = lm[36:42] - [40, 0], lm[42:48] + [40, 0]  # eye line roughly level
    box = np.array([90.0, 80.0, 230.0, 250.0], np.float32)
    rel = relation(lm, box)
    np.testing.assert_allclose(box_from(lm, rel), box, atol=1e-3)
    # the points move by (+15, -7) and grow by 10 % about a corner: so does the box
    lo = lm.min(axis=0)
    moved = (lm - lo) * 1.1 + lo + [15.0, -7.0]
    want = [lo[0] + (90 - lo[0]) * 1.1 + 15, lo[1] + (80 - lo[1]) * 1.1 - 7, 253.0, 275.0]
    np.testing.assert_allclose(box_from(moved, rel), want, atol=1e-3)
    # the head rolls 25 degrees about the box centre: the box keeps its centre and its size
    # (an upright bounding box of the points would grow)
    a = math.radians(25)
    rot = np.array([[math.cos(a), -math.sin(a)], [math.sin(a), math.cos(a)]])
    centre = np.array([205.0, 205.0])
    turned = ((lm - centre) @ rot.T + centre).astype(np.float32)
    np.testing.assert_allclose(box_from(turned, rel), box, atol=1e-2)


@pytest.mark.parametrize("detect", [HaarConfig(), BlazeFaceConfig()], ids=["haar", "blazeface"])
def test_face_lost_and_found_again_as_medianflow_with_dlib(
        facemesh_files, leave_and_return, detect) -> None:
    frames = leave_and_return
    g = track_faces(frames, 26.4, detect, FOLLOW, MeshConfig())
    face = S.has_face(g.status)
    assert face[:72].all() and g.status[72] == S.LOST and not face[73:96].any()
    assert g.status[96] == S.REDETECTED and face[96:].all()
    assert face.sum() == 136 and (g.status == S.TRACKED).sum() >= 130  # followed, not detected
    ref = track_faces(frames, 26.4, HaarConfig(), TrackConfig(), Dlib68Config())
    np.testing.assert_array_equal(face, S.has_face(ref.status))
    # the followed boxes stay in the detector's convention: near MedianFlow's from the same
    # detections (largest corner or side difference, in box widths)
    same = track_faces(frames, 26.4, detect, TrackConfig(), MeshConfig())
    diff = np.abs(g.boxes[face] - same.boxes[face]).max(axis=1) / same.boxes[face, 2]
    assert np.median(diff) < 0.1 and diff.max() < 0.25, (np.median(diff), diff.max())


def test_no_medianflow_no_grey_frame_and_deterministic(
        facemesh_files, leave_and_return, monkeypatch) -> None:
    greys: list[int] = []
    original = track_module.to_grey

    def counted(frame: np.ndarray) -> np.ndarray:
        greys.append(1)
        return original(frame)

    def forbidden(*_a: object) -> None:
        raise AssertionError("MedianFlow started under track.backend: landmarks")

    monkeypatch.setattr(track_module, "to_grey", counted)
    monkeypatch.setattr(track_module, "MedianFlow", forbidden)
    runs = [track_faces(leave_and_return, 26.4, BlazeFaceConfig(), FOLLOW, MeshConfig())
            for _ in range(2)]
    assert greys == []
    for key in ("status", "boxes", "landmarks", "detector", "n_faces"):
        np.testing.assert_array_equal(getattr(runs[0], key), getattr(runs[1], key))
    # MedianFlow + dlib68 does convert every frame to grey
    monkeypatch.setattr(track_module, "MedianFlow", original_medianflow())
    track_faces(leave_and_return[:5], 26.4, BlazeFaceConfig(), TrackConfig(), Dlib68Config())
    assert len(greys) == 5


def original_medianflow() -> type:
    from emoprep.stages.tracker import MedianFlow

    return MedianFlow


def test_needs_a_landmarks_backend_with_a_face_score() -> None:
    msg = r"track.backend: landmarks needs .*mesh.*got stages.landmarks.backend: dlib68"
    with pytest.raises(ValueError, match=msg):
        FaceTracker(HaarConfig(), FOLLOW, Dlib68Config())
    with pytest.raises(ValidationError, match=msg):
        StagesConfig.model_validate({"track": {"backend": "landmarks"}})
    cfg = StagesConfig.model_validate({"track": {"backend": "landmarks"},
                                       "landmarks": {"backend": "mesh"}})
    assert cfg.track.backend is TrackBackend.LANDMARKS
