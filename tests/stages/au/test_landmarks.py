"""Landmark AU proxies on real clips (dlib HOG + 68-point predictor) and on edited landmarks.

single_face.mp4 (72 frames, 30 fps): a still neutral face for frames 0-16, then a broad smile
with parted lips from about frame 20 to the end (checked on a contact sheet).
"""

from __future__ import annotations

from pathlib import Path

import cv2
import dlib
import face_recognition_models
import numpy as np
import pytest

from emoprep.io.video import iter_frames
from emoprep.stages.au import LandmarksAUConfig, compute_au
from emoprep.stages.au.landmarks import AU_NAMES, face_frame, landmark_aus
from emoprep.stages.au.trim import TrimConfig, au_trim, trim_score
from emoprep.types import FrameStatus, Geometry, VideoEntry

NEUTRAL = slice(0, 15)  # still, neutral frames of single_face.mp4
SMILE = slice(28, 72)  # full smile, lips parted


def detect_geometry(entry: VideoEntry, step: int = 1) -> Geometry:
    """dlib HOG detector + 68-point predictor on every ``step``-th frame; NaN where no face."""
    detector = dlib.get_frontal_face_detector()
    predictor = dlib.shape_predictor(face_recognition_models.pose_predictor_model_location())
    idx, boxes, lms, status = [], [], [], []
    for i, bgr in iter_frames(entry, range(0, 10_000, step)):
        rgb = cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB)
        faces = detector(rgb, 0)
        idx.append(i)
        if not faces:
            boxes.append(np.full(4, np.nan))
            lms.append(np.full((68, 2), np.nan))
            status.append(FrameStatus.NO_FACE)
            continue
        r = max(faces, key=lambda f: f.area())
        shape = predictor(rgb, r)
        boxes.append([r.left(), r.top(), r.width(), r.height()])
        lms.append([[p.x, p.y] for p in shape.parts()])
        status.append(FrameStatus.DETECTED)
    fi = np.asarray(idx, dtype=np.int64)
    return Geometry(
        frame_index=fi, timestamps=fi / 30.0, boxes=np.asarray(boxes, np.float32),
        landmarks=np.asarray(lms, np.float32), status=np.asarray(status, np.uint8),
        n_faces=np.ones(fi.size, np.int16),
    )


@pytest.fixture(scope="module")
def single_face(sample_entry) -> tuple[VideoEntry, Geometry]:
    entry = sample_entry("single_face.mp4")
    return entry, detect_geometry(entry)


def test_real_clip_scores_finite_and_non_negative(single_face):
    entry, geom = single_face
    assert len(geom) == 72 and FrameStatus.has_face(geom.status).all()
    res = compute_au(geom, entry, LandmarksAUConfig(), root=Path(entry.path).parent)
    assert res.source == "landmarks" and res.names == AU_NAMES
    assert res.values.shape == (72, 8) and res.values.dtype == np.float32
    assert np.isfinite(res.values).all() and (res.values >= 0).all()


def test_real_clip_stable_on_still_neutral_frames(single_face):
    _, geom = single_face
    vals, names = landmark_aus(geom.landmarks, geom.status)
    score = trim_score(vals, names)
    still, smile = score[NEUTRAL], score[SMILE]
    assert still.std() < 0.005 and still.max() < 0.02  # inter-ocular units
    assert still.std() < 0.1 * smile.mean()


def test_real_clip_mouth_open_smile_raises_au12_au25(single_face):
    _, geom = single_face
    vals, _ = landmark_aus(geom.landmarks, geom.status)
    au = {n: vals[:, k] for k, n in enumerate(AU_NAMES)}
    assert au["AU25"][SMILE].mean() > au["AU25"][NEUTRAL].mean() + 0.1  # lips part
    assert au["AU12"][SMILE].mean() > au["AU12"][NEUTRAL].mean() + 0.2  # lip corners pulled
    assert au["AU15"][SMILE].mean() < 0.02  # corners go up, not down


def test_real_clip_trim_cuts_the_neutral_onset(single_face):
    _, geom = single_face
    vals, names = landmark_aus(geom.landmarks, geom.status)
    r = au_trim(trim_score(vals, names), TrimConfig(), 0.5)
    assert not r.anomaly and 17 <= r.start <= 24  # the smile starts around frame 18-20
    assert r.end == 62  # no neutral offset in this clip: only the 10-frame minimum end cut


def lower_face_moved(lm: np.ndarray, points: list[int], d: float) -> np.ndarray:
    """Move ``points`` of every frame down the face by ``d`` inter-ocular distances."""
    out = lm.copy()
    r, left = lm[:, 36:42].mean(axis=1), lm[:, 42:48].mean(axis=1)
    axis = left - r
    iod = np.linalg.norm(axis, axis=1, keepdims=True)
    down = np.stack([-axis[:, 1], axis[:, 0]], axis=1) / iod  # unit vector towards the chin
    out[:, points] += (d * iod * down)[:, None, :]
    return out


def test_synthetic_jaw_drop_raises_au25_au26_by_the_displacement(single_face):
    _, geom = single_face
    base = geom.landmarks[NEUTRAL]  # 15 real neutral frames
    jaw_and_lower_lip = [*range(4, 13), *range(55, 60), 65, 66, 67]
    steps = [0.05, 0.1, 0.2, 0.3]
    lm = np.concatenate([base] + [lower_face_moved(base, jaw_and_lower_lip, d) for d in steps])
    vals, _ = landmark_aus(lm)
    au = {
        n: vals[:, k].reshape(len(steps) + 1, len(base)).mean(axis=1)
        for k, n in enumerate(AU_NAMES)
    }
    assert au["AU25"][0] < 0.01 and au["AU26"][0] < 0.02
    np.testing.assert_allclose(au["AU25"][1:], steps, atol=0.02)
    np.testing.assert_allclose(au["AU26"][1:], steps, atol=0.02)
    assert np.all(np.diff(au["AU25"]) > 0) and np.all(np.diff(au["AU26"]) > 0)
    for name in ("AU01", "AU02", "AU04", "AU05"):  # the upper face did not move
        np.testing.assert_allclose(au[name][1:], au[name][0], atol=1e-5)


def test_proxies_ignore_translation_rotation_and_scale(single_face):
    _, geom = single_face
    lm = geom.landmarks.astype(np.float64)
    a = np.deg2rad(17.0)
    rot = np.array([[np.cos(a), -np.sin(a)], [np.sin(a), np.cos(a)]])
    moved = 1.7 * lm @ rot.T + np.array([40.0, -25.0])
    np.testing.assert_allclose(face_frame(moved), face_frame(lm), atol=1e-9)
    np.testing.assert_allclose(landmark_aus(moved)[0], landmark_aus(lm)[0], atol=1e-5)


def test_frames_without_face_are_nan(single_face):
    _, geom = single_face
    lm, status = geom.landmarks.copy(), geom.status.copy()
    lm[5] = np.nan
    status[9] = FrameStatus.NO_FACE  # landmarks present but no face box: ignored too
    vals, _ = landmark_aus(lm, status)
    assert np.isnan(vals[[5, 9]]).all()
    assert np.isfinite(np.delete(vals, [5, 9], axis=0)).all()
    vals, _ = landmark_aus(np.full((4, 68, 2), np.nan, np.float32))
    assert vals.shape == (4, 8) and np.isnan(vals).all()
    with pytest.raises(ValueError, match=r"\(T, 68, 2\)"):
        landmark_aus(np.zeros((4, 5, 2)))


def test_second_real_clip_is_finite(sample_entry):
    entry = sample_entry("WolfgangLanger_Pexels.mp4")
    geom = detect_geometry(entry, step=8)  # 59 frames across the whole clip
    vals, names = landmark_aus(geom.landmarks, geom.status, neutral_fraction=0.2)
    has = FrameStatus.has_face(geom.status)
    assert has.sum() >= 50
    assert np.isfinite(vals[has]).all() and (vals[has] >= 0).all()
    assert np.isfinite(trim_score(vals, names)[has]).all()


def _features_spelt_out(face: np.ndarray) -> np.ndarray:
    """The measures of geometric_features, one numpy call per distance and mean (its former
    code), the reference the vectorised version must equal bit for bit."""
    def dist(a: int, b: int) -> np.ndarray:
        return np.linalg.norm(face[:, a] - face[:, b], axis=1)

    y = face[..., 1]
    eye_r, eye_l = y[:, 36:42].mean(axis=1), y[:, 42:48].mean(axis=1)
    inner = ((eye_r - y[:, [20, 21]].mean(axis=1)) + (eye_l - y[:, [22, 23]].mean(axis=1))) / 2
    outer = ((eye_r - y[:, [17, 18]].mean(axis=1)) + (eye_l - y[:, [25, 26]].mean(axis=1))) / 2
    eye_open = np.mean([dist(a, b) for a, b in [(37, 41), (38, 40), (43, 47), (44, 46)]], axis=0)
    lip_gap = np.mean([dist(a, b) for a, b in [(61, 67), (62, 66), (63, 65)]], axis=0)
    corner_drop = (y[:, 48] + y[:, 54]) / 2 - y[:, 33]
    return np.stack([inner, outer, dist(21, 22), eye_open, dist(48, 54), corner_drop, lip_gap,
                     y[:, 8] - y[:, 33]], axis=1)


@pytest.mark.parametrize("frames", [1, 3, 40])
def test_geometric_features_equal_the_measures_spelt_out(single_face, frames):
    from emoprep.stages.au.landmarks import geometric_features

    rng = np.random.default_rng(frames)
    geom = single_face[1]
    lm = geom.landmarks[FrameStatus.has_face(geom.status)][:frames].astype(np.float64)
    assert len(lm) == frames
    lm = lm + np.round(rng.normal(0, 2, lm.shape))  # integer shifts, as dlib's points are
    face = face_frame(lm)
    assert geometric_features(face).tobytes() == _features_spelt_out(face).tobytes()


def test_one_valid_frame_is_its_own_baseline(single_face):
    """A single image (T = 1), or one face among face-less frames: the baseline is that frame's
    features, bit for bit what the two medians of the general path give, so every proxy is 0."""
    from emoprep.stages.au.landmarks import geometric_features, neutral_baseline

    geom = single_face[1]
    one = geom.landmarks[FrameStatus.has_face(geom.status)][5:6]
    feat = geometric_features(face_frame(one.astype(np.float64)))
    assert np.isfinite(feat).all()
    assert neutral_baseline(feat, 0.1).tobytes() == np.median(feat, axis=0).tobytes()
    padded = np.vstack([np.full((2, 8), np.nan), feat, np.full((1, 8), np.nan)])
    assert neutral_baseline(padded, 0.1).tobytes() == feat[0].tobytes()
    values, _ = landmark_aus(one, np.array([FrameStatus.DETECTED]))
    assert values.shape == (1, 8) and np.all(values == 0)
