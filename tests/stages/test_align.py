"""Eye-based alignment: exact values on synthetic landmarks, then the real clip re-measured."""

from __future__ import annotations

import math

import cv2
import dlib
import numpy as np
import pytest

from emoprep.errors import StageError
from emoprep.io.video import iter_frames
from emoprep.stages.align import (
    AlignConfig,
    AlignMethod,
    Interpolation,
    align_face,
    align_geometry,
    alignment_matrix,
    eye_centers,
    transform_points,
)
from emoprep.stages.detect import HaarConfig
from emoprep.stages.landmarks import Dlib68Config, make_landmarker
from emoprep.stages.track import TrackConfig, track_faces
from emoprep.stages.window import WindowConfig, select_frames
from emoprep.types import FrameStatus, Geometry

CFG = AlignConfig()  # S = 160, eye distance 0.30 S = 48 px, eye line at 0.28 S = 44.8 px
EYE_LINE = 0.28 * 160


def level_face() -> np.ndarray:
    """(68, 2) synthetic landmarks: eye centres at (40, 50) and (100, 50), the rest spread below."""
    rng = np.random.default_rng(0)
    lm = rng.uniform([20, 60], [120, 140], size=(68, 2))
    ring = np.stack([np.cos(np.arange(6) * np.pi / 3), np.sin(np.arange(6) * np.pi / 3)], 1) * 5
    lm[36:42] = np.array([40.0, 50.0]) + ring
    lm[42:48] = np.array([100.0, 50.0]) + ring
    return lm


def similarity(
    points: np.ndarray, deg: float, scale: float, shift: tuple[float, float]
) -> np.ndarray:
    """Rotate by ``deg`` (image coordinates, y down) and scale about the origin, then shift."""
    t = math.radians(deg)
    rot = scale * np.array([[math.cos(t), -math.sin(t)], [math.sin(t), math.cos(t)]])
    return points @ rot.T + np.asarray(shift)


def test_eye_centers_are_the_centroids_of_37_42_and_43_48() -> None:
    lm = np.zeros((68, 2))
    lm[36:42] = [[1, 2]] * 6
    lm[42:48] = [[7, 8]] * 5 + [[13, 14]]
    left, right = eye_centers(lm)
    np.testing.assert_array_equal(left, [1, 2])
    np.testing.assert_array_equal(right, [8, 9])
    with pytest.raises(ValueError, match="68, 2"):
        eye_centers(np.zeros((5, 2)))


def test_eye_centers_equal_the_means_bit_for_bit() -> None:
    """One reduction for both eyes gives exactly ``.mean(axis=0)`` of each (float32 and float64
    points, any scale)."""
    rng = np.random.default_rng(3)
    for dtype in (np.float32, np.float64):
        for _ in range(200):
            lm = (rng.random((68, 2)) * rng.uniform(1, 3000) + rng.uniform(-100, 900)).astype(dtype)
            left, right = eye_centers(lm)
            ref = lm.astype(np.float64)
            np.testing.assert_array_equal(left, ref[36:42].mean(axis=0))
            np.testing.assert_array_equal(right, ref[42:48].mean(axis=0))


@pytest.mark.parametrize("deg", [-30.0, -7.5, 0.0, 12.0, 45.0])
@pytest.mark.parametrize("scale", [0.5, 2.3])
def test_rotated_scaled_face_comes_out_level(deg: float, scale: float) -> None:
    lm = similarity(level_face(), deg, scale, (300.0, 120.0))
    m = alignment_matrix(lm, None, CFG)
    assert m.shape == (2, 3) and m.dtype == np.float64
    left, right = eye_centers(transform_points(lm, m))
    np.testing.assert_allclose(left, [80 - 24, EYE_LINE], atol=1e-9)
    np.testing.assert_allclose(right, [80 + 24, EYE_LINE], atol=1e-9)
    # the whole point set is the level face up to one similarity: shape is preserved
    back = transform_points(lm, m)
    ref = transform_points(level_face(), alignment_matrix(level_face(), None, CFG))
    np.testing.assert_allclose(back, ref, atol=1e-9)


def test_matrix_matches_the_thesis_formula_and_opencv() -> None:
    lm = similarity(level_face(), 20.0, 1.7, (50.0, 80.0))
    (lx, ly), (rx, ry) = eye_centers(lm)
    angle = math.degrees(math.atan((ry - ly) / (rx - lx)))
    assert angle == pytest.approx(20.0)
    scale = CFG.eye_distance * CFG.size / math.hypot(rx - lx, ry - ly)
    ref = cv2.getRotationMatrix2D(((lx + rx) / 2, (ly + ry) / 2), angle, scale)
    ref[:, 2] += np.array([0.5 * CFG.size, CFG.eye_y * CFG.size]) - [(lx + rx) / 2, (ly + ry) / 2]
    np.testing.assert_allclose(alignment_matrix(lm, None, CFG), ref, atol=1e-5)  # cv2 rounds


def test_box_method_and_fallback() -> None:
    """Box (100, 50, 200, 100) + 10 px above and below = x 100..300, y 40..160 (outer pixel edges
    at -0.5): edge (99.5, 39.5) -> (-0.5, -0.5), edge (299.5, 159.5) -> (99.5, 99.5)."""
    box = np.array([100.0, 50.0, 200.0, 100.0])
    m = alignment_matrix(None, box, AlignConfig(method=AlignMethod.BOX, size=100))
    np.testing.assert_allclose(transform_points(np.array([[99.5, 39.5], [299.5, 159.5]]), m),
                               [[-0.5, -0.5], [99.5, 99.5]], atol=1e-12)
    np.testing.assert_allclose(
        alignment_matrix(np.full((68, 2), np.nan), box, AlignConfig(size=100)), m
    )
    unpadded = alignment_matrix(
        None, box, AlignConfig(method=AlignMethod.BOX, size=100, box_pad_y=0)
    )
    np.testing.assert_allclose(transform_points(np.array([[99.5, 49.5]]), unpadded), [[-0.5, -0.5]])
    with pytest.raises(StageError, match="no usable landmarks"):
        alignment_matrix(None, None, CFG)
    with pytest.raises(StageError, match="coincide"):
        alignment_matrix(np.zeros((68, 2)), None, CFG)


def test_transform_points_keeps_leading_shape_and_nan() -> None:
    m = np.array([[2.0, 0, 1], [0, 3.0, -1]])
    pts = np.array([[[1.0, 1.0], [np.nan, 0.0]]])
    out = transform_points(pts, m)
    assert out.shape == (1, 2, 2)
    np.testing.assert_array_equal(out[0, 0], [3, 2])
    assert np.isnan(out[0, 1, 0])


def test_align_face_is_rgb_and_warps_exactly() -> None:
    frame = np.zeros((50, 60, 3), np.uint8)
    frame[10:20, 30:40] = (255, 0, 0)  # a blue square in BGR
    m = np.array([[1.0, 0, -30], [0, 1.0, -10]])  # pure shift: the square to the crop's corner
    crop = align_face(frame, m, AlignConfig(size=16))
    assert crop.shape == (16, 16, 3) and crop.dtype == np.uint8
    np.testing.assert_array_equal(crop[:10, :10], np.broadcast_to([0, 0, 255], (10, 10, 3)))  # RGB
    assert crop[12:, 12:].max() == 0
    with pytest.raises(StageError, match="finite"):
        align_face(frame, np.full((2, 3), np.nan), CFG)


def test_area_interpolation_matches_linear_on_smooth_images() -> None:
    yy, xx = np.mgrid[0:400, 0:400]
    frame = np.dstack([(xx * 0.5) % 256, (yy * 0.5) % 256, (xx + yy) * 0.25 % 256]).astype(np.uint8)
    m = np.array([[0.25, 0, 10], [0, 0.25, 5]])
    lin = align_face(frame, m, AlignConfig(size=64)).astype(int)
    area = align_face(frame, m, AlignConfig(size=64, interpolation=Interpolation.AREA)).astype(int)
    assert np.abs(lin[4:60, 4:60] - area[4:60, 4:60]).mean() < 2.0


def test_align_geometry_nan_where_no_face() -> None:
    lm = similarity(level_face(), 10.0, 1.0, (0.0, 0.0))
    geom = Geometry(
        frame_index=np.arange(3), timestamps=np.arange(3) / 10.0,
        boxes=np.array([[0, 0, 100, 100], [np.nan] * 4, [0, 0, 100, 100]], np.float32),
        landmarks=np.stack([lm, np.full((68, 2), np.nan), lm]).astype(np.float32),
        status=np.array([FrameStatus.DETECTED, FrameStatus.NO_FACE, FrameStatus.TRACKED], np.uint8),
        n_faces=np.array([1, 0, -1], np.int16),
    )
    mats = align_geometry(geom, CFG)
    assert mats.shape == (3, 2, 3) and mats.dtype == np.float32
    assert np.isnan(mats[1]).all() and np.isfinite(mats[[0, 2]]).all()
    np.testing.assert_allclose(mats[0], alignment_matrix(geom.landmarks[0], None, CFG), rtol=1e-6)


# -- the real claim: re-measured on the aligned crops ------------------------------------------

def test_wolfgang_crops_are_level_with_the_set_eye_distance(sample_entry) -> None:
    """Landmarks are computed again on each crop (dlib HOG detector + predictor), independent of
    the source landmarks the matrices came from."""
    entry = sample_entry("WolfgangLanger_Pexels.mp4")
    idx = select_frames(472, 23.976, WindowConfig())
    geom = track_faces(
        iter_frames(entry, idx), 23.976, HaarConfig(), TrackConfig(), Dlib68Config()
    )
    mats = align_geometry(geom, CFG)
    src_tilt = [math.degrees(math.atan2(r[1] - le[1], r[0] - le[0]))
                for le, r in map(eye_centers, geom.landmarks[FrameStatus.has_face(geom.status)])]
    assert np.ptp(src_tilt) > 10  # the head really tilts in the source: levelling is not trivial
    hog, predictor = dlib.get_frontal_face_detector(), make_landmarker(Dlib68Config(refine=0))
    good = 0
    for (_, frame), m in zip(iter_frames(entry, idx), mats, strict=True):
        if not np.isfinite(m).all():
            continue
        grey = cv2.cvtColor(align_face(frame, m, CFG), cv2.COLOR_RGB2GRAY)
        rects = hog(grey, 1)
        if not rects:
            continue
        r = max(rects, key=lambda r: r.area())
        left, right = eye_centers(
            predictor(grey, np.array([r.left(), r.top(), r.width(), r.height()]))
        )
        tilt = math.degrees(math.atan2(right[1] - left[1], right[0] - left[0]))
        dist = math.hypot(*(right - left)) / (CFG.eye_distance * CFG.size)
        good += abs(tilt) <= 2.0 and abs(dist - 1.0) <= 0.05
    assert good >= 0.95 * len(idx)


# -- method box: the padded box resized with replicated borders ------------------------------------

BOX_CFG = AlignConfig(method=AlignMethod.BOX)  # S = 160, box_pad_y = 10


def test_box_crop_of_a_flat_image_has_no_dark_edge() -> None:
    """The box reaches the frame's bottom-right corner and is upscaled: every crop pixel is 200
    (before: edge rows 200, 181, 119, 63, black blended in)."""
    frame = np.full((120, 100, 3), 200, np.uint8)
    m = alignment_matrix(None, np.array([40.0, 60.0, 60.0, 50.0]), BOX_CFG)  # padded: y 50..120
    crop = align_face(frame, m, BOX_CFG)
    assert crop.shape == (160, 160, 3)
    np.testing.assert_array_equal(crop, 200)


def test_box_crop_of_a_ramp_by_hand() -> None:
    """B = x, G = 2 y, R = 7; box (50, 20, 80, 60) + 10 px -> x 50..130, y 10..90, scale 2 both
    ways: crop (u, v) samples x = 50 + (u + 0.5) / 2 - 0.5, y = 10 + (v + 0.5) / 2 - 0.5, and
    bilinear sampling of a ramp is exact up to OpenCV's 1/32 px fixed point (<= 1 grey level)."""
    yy, xx = np.mgrid[0:120, 0:256]
    frame = np.dstack([xx, 2 * yy, np.full_like(xx, 7)]).astype(np.uint8)
    crop = align_face(frame, alignment_matrix(None, np.array([50.0, 20.0, 80.0, 60.0]), BOX_CFG),
                      BOX_CFG).astype(float)  # RGB: R = 7, G = 2 y, B = x
    u = np.arange(160)
    np.testing.assert_allclose(crop[:, :, 2], np.broadcast_to(50 + (u + 0.5) / 2 - 0.5, (160, 160)),
                               atol=1.0)
    np.testing.assert_allclose(
        crop[:, :, 1],
        np.broadcast_to(2 * (10 + (u[:, None] + 0.5) / 2 - 0.5), (160, 160)),
        atol=1.0,
    )
    np.testing.assert_array_equal(crop[:, :, 0], 7)


def test_box_beyond_the_frame_repeats_the_edge_row() -> None:
    """Box top y = 4, padded to -6: the crop rows above the frame repeat row 0 (replicate)."""
    yy, xx = np.mgrid[0:100, 0:100]
    frame = np.dstack([2 * yy + 10] * 3).astype(np.uint8)
    crop = align_face(frame, alignment_matrix(None, np.array([10.0, 4.0, 80.0, 60.0]), BOX_CFG),
                      BOX_CFG)
    # v samples y = -6 + (v + 0.5) / 2 - 0.5: y <= 0 for v <= 12 -> row 0 (value 10); v = 14 is
    # y = 0.75 -> 11.5
    np.testing.assert_array_equal(crop[:13], 10)
    assert crop[14:].min() >= 11


def test_box_crop_equals_the_seeds_slice_and_resize() -> None:
    """The thesis code: frame[y - 10 : y + h + 10, x : x + w] resized to 160 x 160 (cv2.resize,
    bilinear); on an integer box inside the frame the warp gives the same pixels (+-1)."""
    rng = np.random.default_rng(1)
    frame = cv2.GaussianBlur(rng.integers(0, 256, (360, 640, 3), dtype=np.uint8), (7, 7), 2)
    x, y, w, h = 200, 80, 190, 200
    seed = cv2.resize(frame[y - 10:y + h + 10, x:x + w], (160, 160), interpolation=cv2.INTER_LINEAR)
    ours = align_face(
        frame, alignment_matrix(None, np.array([x, y, w, h], float), BOX_CFG), BOX_CFG
    )
    assert np.abs(ours.astype(int) - seed[:, :, ::-1].astype(int)).max() <= 1


# -- the default crop keeps the whole face (benchmarks/crop.py has the full measurement) -----------

@pytest.mark.parametrize(
    "name,first,frames",
    [("WolfgangLanger_Pexels.mp4", 175, [180, 200, 215, 228]), ("single_face.mp4", 0, [5, 40, 70])],
)
def test_default_crop_contains_all_landmarks_redetected_on_the_crop(sample_entry, name, first,
                                                                    frames) -> None:
    """Landmarks of the source frame transformed into the crop, and landmarks found again on the
    crop (dlib HOG on the crop padded by 80 px, predictor), all lie inside the 160 px crop. On the
    Wolfgang frames (head bowed, mouth open) the former eye_y 0.40 put the jaw below the crop."""
    entry = sample_entry(name)
    geom = track_faces(iter_frames(entry, range(first, max(frames) + 1)), 25.0, HaarConfig(),
                       TrackConfig(), Dlib68Config())
    hog, predictor = dlib.get_frontal_face_detector(), make_landmarker(Dlib68Config())
    old_inside = []
    for t, frame in iter_frames(entry, frames):
        lm = geom.landmarks[t - first]
        assert np.isfinite(lm).all(), f"{name} frame {t}: no landmarks"
        m = alignment_matrix(lm, None, CFG)
        moved = transform_points(lm, m)
        assert ((moved >= 0) & (moved <= 159)).all(), f"{name} frame {t}: transformed"
        old = transform_points(lm, alignment_matrix(lm, None, AlignConfig(eye_y=0.40)))
        old_inside.append(bool(((old >= 0) & (old <= 159)).all()))
        grey = cv2.copyMakeBorder(cv2.cvtColor(align_face(frame, m, CFG), cv2.COLOR_RGB2GRAY),
                                  80, 80, 80, 80, cv2.BORDER_CONSTANT, value=0)
        r = max(hog(grey, 0), key=lambda r: r.area())
        found = predictor(grey, np.array([r.left(), r.top(), r.width(), r.height()])) - 80
        assert ((found >= 0) & (found <= 159)).all(), f"{name} frame {t}: re-detected"
        assert np.abs(found - moved).mean() < 4.0  # the same face, found again
    if name.startswith("Wolfgang"):
        assert not all(old_inside)
