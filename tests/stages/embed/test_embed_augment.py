"""Offline augmentations: exact intensity maps, geometry that moves landmarks with the pixels,
and reproducible randomness (same bytes for the same seed, video and augmentation)."""

from __future__ import annotations

import hashlib
import subprocess
import sys

import numpy as np
import pytest

from emoprep.stages.embed import (
    Augmentation,
    augment_frame,
    augment_frames,
    augment_landmarks,
    augment_rng,
)
from emoprep.stages.embed.augment import FLIP_PERMUTATION_68

S = 64


def _faces(n: int = 3) -> np.ndarray:
    rng = np.random.default_rng(5)
    base = rng.integers(30, 220, (n, S // 8, S // 8, 3), dtype=np.uint8)
    return np.repeat(np.repeat(base, 8, axis=1), 8, axis=2)  # blocky texture, not symmetric


@pytest.mark.parametrize("aug", list(Augmentation))
def test_each_augmentation_changes_pixels_and_is_reproducible(aug: Augmentation) -> None:
    crops = _faces()
    a = augment_frames(crops, aug, seed=3, video_id="S01/happy")
    b = augment_frames(crops.copy(), aug, seed=3, video_id="S01/happy")
    assert a.shape == crops.shape and a.dtype == np.uint8
    assert a.tobytes() == b.tobytes()
    assert not np.array_equal(a, crops)
    assert crops.tobytes() == _faces().tobytes()  # input untouched


def test_intensity_maps_are_exact() -> None:
    px = np.array([0, 100, 180, 250], np.uint8)
    crop = np.broadcast_to(px[None, :, None], (4, 4, 3)).copy()
    rng = augment_rng(0, "v", Augmentation.FLIP)
    expect = {
        Augmentation.BRIGHTNESS_P50: [50, 150, 230, 255],
        Augmentation.BRIGHTNESS_P20: [20, 120, 200, 255],
        Augmentation.CONTRAST_X2: [0, 200, 255, 255],
        Augmentation.CONTRAST_X1_7_P50: [50, 220, 255, 255],
    }
    for aug, values in expect.items():
        np.testing.assert_array_equal(augment_frame(crop, aug, rng)[0, :, 0], values, err_msg=aug.value)
    blurred = augment_frame(_faces(1)[0], Augmentation.BLUR3, rng)
    assert blurred.astype(float).std() < _faces(1)[0].astype(float).std()


def test_salt_and_pepper_fraction_and_seeding() -> None:
    crops = np.full((2, S, S, 3), 128, np.uint8)
    a = augment_frames(crops, Augmentation.SALT_PEPPER_1, seed=0, video_id="S01/a")
    changed = np.any(a != 128, axis=-1)
    assert changed.sum(axis=(1, 2)).tolist() == [round(0.01 * S * S)] * 2
    assert set(np.unique(a)) == {0, 128, 255}
    assert not np.array_equal(changed[0], changed[1])  # frames of one video differ
    other_video = augment_frames(crops, Augmentation.SALT_PEPPER_1, seed=0, video_id="S01/b")
    other_seed = augment_frames(crops, Augmentation.SALT_PEPPER_1, seed=1, video_id="S01/a")
    assert not np.array_equal(a, other_video) and not np.array_equal(a, other_seed)


def test_streaming_matches_batch() -> None:
    crops = _faces(4)
    rng = augment_rng(9, "vid", Augmentation.SALT_PEPPER_1)
    streamed = np.stack([augment_frame(c, Augmentation.SALT_PEPPER_1, rng) for c in crops])
    np.testing.assert_array_equal(streamed, augment_frames(crops, Augmentation.SALT_PEPPER_1, 9, "vid"))


def test_same_bytes_in_another_process() -> None:
    code = (
        "import hashlib, numpy as np\n"
        "from emoprep.stages.embed import Augmentation, augment_frames\n"
        "c = np.full((2, 64, 64, 3), 128, np.uint8)\n"
        "print(hashlib.sha256(augment_frames(c, Augmentation.SALT_PEPPER_1, 4, 'S02/x').tobytes()).hexdigest())\n"
    )
    env = {"PYTHONHASHSEED": "12345", "PATH": "/usr/bin:/bin"}
    other = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env,
                           check=True, timeout=60)
    here = augment_frames(np.full((2, S, S, 3), 128, np.uint8), Augmentation.SALT_PEPPER_1, 4, "S02/x")
    assert other.stdout.strip() == hashlib.sha256(here.tobytes()).hexdigest()


def test_flip_permutation_swaps_sides() -> None:
    perm = FLIP_PERMUTATION_68
    assert sorted(perm.tolist()) == list(range(68))
    np.testing.assert_array_equal(perm[perm], np.arange(68))  # an involution
    pairs = {(0, 16), (17, 26), (36, 45), (39, 42), (31, 35), (48, 54), (60, 64), (65, 67)}
    assert all(perm[a] == b for a, b in pairs)
    assert all(perm[i] == i for i in (8, 27, 30, 33, 51, 57, 62, 66))  # midline points stay


def _dot_image(points: np.ndarray) -> np.ndarray:
    img = np.zeros((S, S, 3), np.uint8)
    for x, y in points.round().astype(int):
        img[y - 1 : y + 2, x - 1 : x + 2] = 255
    return img


def _centroid(img: np.ndarray, near: np.ndarray, r: int = 5) -> np.ndarray:
    x0, y0 = near.round().astype(int)
    win = img[y0 - r : y0 + r + 1, x0 - r : x0 + r + 1, 0].astype(float)
    yy, xx = np.mgrid[y0 - r : y0 + r + 1, x0 - r : x0 + r + 1]
    return np.array([(win * xx).sum() / win.sum(), (win * yy).sum() / win.sum()])


@pytest.mark.parametrize("aug", [Augmentation.FLIP, Augmentation.ROTATE_P8, Augmentation.ROTATE_M8])
def test_geometric_augs_move_landmarks_with_pixels(aug: Augmentation) -> None:
    pts = np.zeros((68, 2), np.float32) + 32
    pts[36], pts[45], pts[8] = (14, 22), (50, 24), (30, 54)  # eye corners and chin, asymmetric
    img = _dot_image(pts[[36, 45, 8]])
    moved = augment_frame(img, aug, augment_rng(0, "v", aug))
    new = augment_landmarks(pts, aug, S)
    assert new.shape == (68, 2) and new.dtype == np.float32
    for i in (36, 45, 8):
        np.testing.assert_allclose(_centroid(moved, new[i]), new[i], atol=0.35, err_msg=f"point {i}")
    if aug is Augmentation.FLIP:
        np.testing.assert_allclose(new[45], (S - 1 - pts[36][0], pts[36][1]))  # swapped and mirrored
    else:  # +8 is counter-clockwise on screen: with y pointing down the eye-line angle drops by 8
        def angle(p: np.ndarray) -> float:
            d = p[45] - p[36]
            return float(np.degrees(np.arctan2(d[1], d[0])))

        turn = -8.0 if aug is Augmentation.ROTATE_P8 else 8.0
        assert angle(new) - angle(pts) == pytest.approx(turn, abs=1e-3)


def test_rotations_are_opposite_and_intensity_augs_keep_points() -> None:
    pts = np.random.default_rng(0).uniform(10, 50, (2, 68, 2)).astype(np.float32)
    p = augment_landmarks(augment_landmarks(pts, Augmentation.ROTATE_P8, S), Augmentation.ROTATE_M8, S)
    np.testing.assert_allclose(p, pts, atol=1e-4)
    np.testing.assert_array_equal(augment_landmarks(pts, Augmentation.BLUR3, S), pts)
    flip2 = augment_landmarks(augment_landmarks(pts, Augmentation.FLIP, S), Augmentation.FLIP, S)
    np.testing.assert_allclose(flip2, pts, atol=1e-5)
    assert Augmentation.ROTATE_P8.geometric and not Augmentation.SALT_PEPPER_1.geometric
