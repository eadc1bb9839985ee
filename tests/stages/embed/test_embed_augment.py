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
from emoprep.stages.embed.augment import (
    FLIP_PERMUTATION_68,
    THESIS_AUGMENTATIONS,
    rotation_matrix,
    salt_pepper_thesis,
)

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
        np.testing.assert_array_equal(
            augment_frame(crop, aug, rng)[0, :, 0], values, err_msg=aug.value
        )
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
    np.testing.assert_array_equal(
        streamed, augment_frames(crops, Augmentation.SALT_PEPPER_1, 9, "vid")
    )


def test_same_bytes_in_another_process() -> None:
    code = (
        "import hashlib, numpy as np\n"
        "from emoprep.stages.embed import Augmentation, augment_frames\n"
        "c = np.full((2, 64, 64, 3), 128, np.uint8)\n"
        "print(hashlib.sha256(augment_frames(c, Augmentation.SALT_PEPPER_1, 4, "
        "'S02/x').tobytes()).hexdigest())\n"
    )
    env = {"PYTHONHASHSEED": "12345", "PATH": "/usr/bin:/bin"}
    other = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env,
                           check=True, timeout=60)
    here = augment_frames(
        np.full((2, S, S, 3), 128, np.uint8), Augmentation.SALT_PEPPER_1, 4, "S02/x"
    )
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


@pytest.mark.parametrize("aug", [Augmentation.FLIP, Augmentation.ROTATE_P8, Augmentation.ROTATE_M8,
                                 Augmentation.ROTATE_P8_THESIS, Augmentation.ROTATE_M8_THESIS])
def test_geometric_augs_move_landmarks_with_pixels(aug: Augmentation) -> None:
    pts = np.zeros((68, 2), np.float32) + 32
    pts[36], pts[45], pts[8] = (14, 22), (50, 24), (30, 54)  # eye corners and chin, asymmetric
    img = _dot_image(pts[[36, 45, 8]])
    moved = augment_frame(img, aug, augment_rng(0, "v", aug))
    new = augment_landmarks(pts, aug, S)
    assert new.shape == (68, 2) and new.dtype == np.float32
    for i in (36, 45, 8):
        np.testing.assert_allclose(
            _centroid(moved, new[i]), new[i], atol=0.35, err_msg=f"point {i}"
        )
    if aug is Augmentation.FLIP:
        np.testing.assert_allclose(
            new[45], (S - 1 - pts[36][0], pts[36][1])
        )  # swapped and mirrored
    else:  # +8 is counter-clockwise on screen: with y pointing down the eye-line angle drops by 8
        def angle(p: np.ndarray) -> float:
            d = p[45] - p[36]
            return float(np.degrees(np.arctan2(d[1], d[0])))

        turn = -8.0 if aug.value.startswith("rotate_p8") else 8.0
        assert angle(new) - angle(pts) == pytest.approx(turn, abs=1e-3)


def test_rotations_are_opposite_and_intensity_augs_keep_points() -> None:
    pts = np.random.default_rng(0).uniform(10, 50, (2, 68, 2)).astype(np.float32)
    p = augment_landmarks(
        augment_landmarks(pts, Augmentation.ROTATE_P8, S), Augmentation.ROTATE_M8, S
    )
    np.testing.assert_allclose(p, pts, atol=1e-4)
    np.testing.assert_array_equal(augment_landmarks(pts, Augmentation.BLUR3, S), pts)
    flip2 = augment_landmarks(augment_landmarks(pts, Augmentation.FLIP, S), Augmentation.FLIP, S)
    np.testing.assert_allclose(flip2, pts, atol=1e-5)
    assert Augmentation.ROTATE_P8.geometric and not Augmentation.SALT_PEPPER_1.geometric


# -- the thesis flavour: imutils.rotate and the per-channel salt-and-pepper of the thesis code -----

THESIS_ROT = (Augmentation.ROTATE_P8_THESIS, Augmentation.ROTATE_M8_THESIS)


@pytest.mark.parametrize("aug", THESIS_ROT)
def test_thesis_rotation_matrix_is_imutils_rotate_by_hand(aug: Augmentation) -> None:
    """getRotationMatrix2D((w // 2, h // 2), angle, 1) written out: [[a, b, (1 - a) cx - b cy],
    [-b, a, b cx + (1 - a) cy]] with a = cos, b = sin, centre (32, 32) for S = 64."""
    deg = 8.0 if aug is Augmentation.ROTATE_P8_THESIS else -8.0
    a, b = np.cos(np.radians(deg)), np.sin(np.radians(deg))
    expect = np.array([[a, b, (1 - a) * 32 - b * 32], [-b, a, b * 32 + (1 - a) * 32]])
    np.testing.assert_allclose(rotation_matrix(aug, S), expect, atol=1e-12)
    emoprep = rotation_matrix(Augmentation.ROTATE_P8 if deg > 0 else Augmentation.ROTATE_M8, S)
    np.testing.assert_allclose(emoprep[:, :2], expect[:, :2], atol=1e-12)
    assert not np.allclose(emoprep[:, 2], expect[:, 2], atol=0.05)  # centre 31.5 vs 32


def test_thesis_rotation_has_black_corners_and_keeps_the_centre_pixel() -> None:
    flat = np.full((S, S, 3), 200, np.uint8)
    flat[S // 2, S // 2] = 255  # on the rotation centre (w // 2, h // 2): maps onto itself exactly
    rng = augment_rng(0, "v", Augmentation.ROTATE_P8_THESIS)
    thesis = augment_frame(flat, Augmentation.ROTATE_P8_THESIS, rng)
    ours = augment_frame(flat, Augmentation.ROTATE_P8, rng)
    for corner in (thesis[0, 0], thesis[0, -1], thesis[-1, 0], thesis[-1, -1]):
        np.testing.assert_array_equal(corner, [0, 0, 0])  # black border (warpAffine default)
    np.testing.assert_array_equal(thesis[S // 2, S // 2], [255, 255, 255])
    np.testing.assert_array_equal(thesis[S // 2 - 4: S // 2 - 1, S // 2 - 4: S // 2 - 1], 200)
    assert ours.min() == 200  # reflected border: no black
    assert ours[S // 2, S // 2, 0] < 255  # about (31.5, 31.5) the centre pixel is interpolated


def test_thesis_rotation_of_a_ramp_by_hand() -> None:
    """On I(x, y) = 2 x, bilinear sampling is exact: out(u, v) = 2 x_src with (x_src, y_src) the
    inverse rotation of (u, v) about (32, 32); fixed-point warping is within 1 grey level."""
    ramp = np.broadcast_to((2 * np.arange(S)).astype(np.uint8)[None, :, None], (S, S, 3)).copy()
    out = augment_frame(ramp, Augmentation.ROTATE_M8_THESIS, augment_rng(0, "v", Augmentation.FLIP))
    t = np.radians(-8.0)
    vv, uu = np.mgrid[16:48, 16:48].astype(float)
    # inverse of [[cos, sin], [-sin, cos]] about the centre: x = c + cos (u - c) - sin (v - c)
    x_src = 32 + np.cos(t) * (uu - 32) - np.sin(t) * (vv - 32)
    assert np.abs(out[16:48, 16:48, 1].astype(float) - 2 * x_src).max() <= 1.0


class Scripted:
    """Draws handed out in order; records every (low, high, size) asked for."""

    def __init__(self, draws: list[list[int]]) -> None:
        self.draws, self.asked = list(draws), []

    def integers(self, low: int, high: int, size: int) -> np.ndarray:
        self.asked.append((low, high, size))
        return np.array(self.draws.pop(0))


def test_thesis_salt_pepper_by_hand() -> None:
    """10 x 10 x 3: n = ceil(0.01 * 100 * 0.5) = 1 per channel and value; the draws go channel by
    channel: salt rows, salt columns, pepper rows, pepper columns; bounds randint(0, 10 - 1)."""
    crop = np.full((10, 10, 3), 128, np.uint8)
    rng = Scripted([[2], [3], [2], [4],  # channel 0: salt (2, 3), pepper (2, 4)
                    [5], [5], [5], [5],  # channel 1: salt then pepper on the same pixel
                    [8], [0], [1], [1]])  # channel 2: salt (8, 0), pepper (1, 1)
    out = salt_pepper_thesis(crop, rng, 0.01)
    assert rng.asked == [(0, 9, 1)] * 12
    expect = crop.copy()
    expect[2, 3, 0], expect[2, 4, 0] = 255, 0
    expect[5, 5, 1] = 0  # pepper after salt wins
    expect[8, 0, 2], expect[1, 1, 2] = 255, 0
    np.testing.assert_array_equal(out, expect)
    assert crop.max() == 128  # input untouched


def test_thesis_salt_pepper_counts_specks_and_bounds() -> None:
    crop = np.full((S, S, 3), 128, np.uint8)
    out = augment_frames(crop[None], Augmentation.SALT_PEPPER_1_THESIS, 0, "v")[0]
    n = int(np.ceil(0.01 * S * S * 0.5))  # 21 for S = 64
    for c in range(3):
        salt, pepper = (out[..., c] == 255).sum(), (out[..., c] == 0).sum()
        assert 0 < salt <= n and 0 < pepper <= n  # with replacement: repeats possible
        assert salt + pepper >= 2 * n - 6  # ... but rare (row indexing would set whole rows)
    assert (out[-1] == 128).all() and (
        out[:, -1] == 128
    ).all()  # randint(0, i - 1) never hits i - 1
    changed = out != 128
    assert (changed.any(-1) & ~changed.all(-1)).sum() > n  # coloured specks: one channel at a time


def test_thesis_nine_are_the_thesis_list() -> None:
    assert len(THESIS_AUGMENTATIONS) == 9 == len(set(THESIS_AUGMENTATIONS))
    assert {a.value for a in THESIS_AUGMENTATIONS} - {
        a.value for a in Augmentation if "thesis" not in a.value
    } == {"rotate_p8_thesis", "rotate_m8_thesis", "salt_pepper_1_thesis"}
    assert all(a.geometric for a in THESIS_ROT)
    assert not Augmentation.SALT_PEPPER_1_THESIS.geometric
