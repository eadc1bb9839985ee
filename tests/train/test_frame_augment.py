"""Online augmentation of fine-tuning crops (emoprep.train.frame_augment): repeatable under a
seed, each transform doing what its key says, the profiles' sets valid, and the fine-tuning
trainer drawing them from its seeded generator."""

from __future__ import annotations

import numpy as np
import pytest
from pydantic import ValidationError

from emoprep.pipeline.manifest.profile_specs import PROFILES, Profile
from emoprep.pipeline.manifest.train_section import FrameAugment, TrainConfig
from emoprep.train.frame_augment import affine, augment


def _crops(n: int = 4, side: int = 24) -> np.ndarray:
    rng = np.random.default_rng(3)
    return rng.integers(40, 200, (n, side, side, 3)).astype(np.uint8)


def _profile_augment(profile: Profile) -> FrameAugment:
    keys = {r.key.rsplit(".", 1)[1]: r.value for r in PROFILES[profile].rules
            if r.key.startswith("train.finetune.augment.")}
    return FrameAugment.model_validate(keys)


def test_same_seed_same_crops_other_seed_other_crops() -> None:
    aug = _profile_augment(Profile.THESIS_AFFECTNET)
    crops = _crops()
    a = augment(crops, aug, np.random.default_rng(7))
    b = augment(crops, aug, np.random.default_rng(7))
    c = augment(crops, aug, np.random.default_rng(8))
    assert a.shape == crops.shape and a.dtype == np.uint8
    assert np.array_equal(a, b) and not np.array_equal(a, c)


def test_off_is_the_identity_and_draws_nothing() -> None:
    crops = _crops()
    rng = np.random.default_rng(0)
    assert augment(crops, FrameAugment(flip=0.0), rng) is crops
    assert rng.random() == np.random.default_rng(0).random()


def test_flip_always_mirrors_and_never_changes_pixels() -> None:
    crops = _crops()
    out = augment(crops, FrameAugment(flip=1.0), np.random.default_rng(0))
    assert np.array_equal(out, crops[:, :, ::-1])


def test_brightness_scales_every_pixel_by_one_factor_within_its_range() -> None:
    crops = np.full((6, 8, 8, 3), 100, np.uint8)
    out = augment(crops, FrameAugment(flip=0.0, brightness=(0.4, 1.5)),
                  np.random.default_rng(1)).astype(float)
    per_crop = out.reshape(6, -1)
    assert (per_crop == per_crop[:, :1]).all()  # one factor per crop
    assert ((per_crop >= 40) & (per_crop <= 150)).all() and len(np.unique(per_crop[:, 0])) == 6


def test_contrast_and_saturation_keep_a_flat_grey_crop() -> None:
    crops = np.full((3, 8, 8, 3), 90, np.uint8)
    aug = FrameAugment(flip=0.0, contrast=(0.5, 1.5), saturation=(0.5, 1.5), hue=0.2)
    assert np.array_equal(augment(crops, aug, np.random.default_rng(2)), crops)


def test_the_affine_map_turns_and_shifts_about_the_centre() -> None:
    # 90 degrees counter-clockwise: the pixel right of the centre goes above it
    m = affine(5, 90.0, 1.0, 0.0, 0.0, 0.0)
    np.testing.assert_allclose(m @ np.array([3.0, 2.0, 1.0]), [2.0, 1.0], atol=1e-12)
    np.testing.assert_allclose(affine(5, 0.0, 2.0, 1.0, -1.0, 0.0) @ np.array([2.0, 2.0, 1.0]),
                               [3.0, 1.0])  # the centre stays put under zoom, then shifts
    sheared = affine(5, 0.0, 1.0, 0.0, 0.0, 45.0) @ np.array([2.0, 3.0, 1.0])
    np.testing.assert_allclose(sheared, [1.0, 3.0], atol=1e-12)  # one row below: one left


def test_geometric_transforms_move_pixels_within_their_ranges() -> None:
    side = 32
    crops = np.zeros((8, side, side, 3), np.uint8)
    crops[:, 15:17, 15:17] = 255  # a bright dot at the centre
    out = augment(crops, FrameAugment(flip=0.0, shift=0.1), np.random.default_rng(4))
    for o in out:
        ys, xs = np.nonzero(o[..., 0] > 100)
        assert abs(ys.mean() - 15.5) <= 0.1 * side + 1 and abs(xs.mean() - 15.5) <= 0.1 * side + 1
    assert len({(int(o[..., 0].argmax())) for o in out}) > 1  # the dot moves


def test_ranges_are_validated() -> None:
    with pytest.raises(ValidationError, match="lo <= hi"):
        FrameAugment(brightness=(1.5, 0.4))
    with pytest.raises(ValidationError):
        FrameAugment(flip=1.5)


@pytest.mark.parametrize("profile", [Profile.THESIS_BU4DFE, Profile.THESIS_AFFECTNET,
                                     Profile.THESIS_SASE_FE])
def test_profile_sets_are_valid_and_run(profile: Profile) -> None:
    aug = _profile_augment(profile)
    out = augment(_crops(), aug, np.random.default_rng(0))
    assert out.shape == _crops().shape
    if profile is Profile.THESIS_SASE_FE:  # 000 Table 4.6: no augmentation
        assert np.array_equal(out, _crops())


def test_the_default_is_a_coin_flip_mirror() -> None:
    assert TrainConfig().finetune.augment == FrameAugment(flip=0.5)
    crops = _crops(n=64)
    out = augment(crops, TrainConfig().finetune.augment, np.random.default_rng(0))
    mirrored = [np.array_equal(o, c[:, ::-1]) for o, c in zip(out, crops, strict=True)]
    same = [np.array_equal(o, c) for o, c in zip(out, crops, strict=True)]
    assert all(m != s for m, s in zip(mirrored, same, strict=True)) and 16 < sum(mirrored) < 48
