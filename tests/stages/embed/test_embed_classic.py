"""HOG and landmark-geometry embedders, and embed_frames (masking, batching, streaming)."""

from __future__ import annotations

import pickle

import numpy as np
import pytest

from emoprep.errors import StageError
from emoprep.stages.embed import HogConfig, LandmarksEmbedConfig, embed_frames, make_embedder
from emoprep.stages.embed.geometry import SUBSET20
from emoprep.stages.embed.hog import hog_dim


def _crops(n: int, size: int = 96, seed: int = 0) -> np.ndarray:
    """Smooth random images (B, S, S, 3) uint8: blobs, so HOG sees real gradients."""
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[0:size, 0:size] / size
    out = np.empty((n, size, size, 3), np.uint8)
    for i in range(n):
        f = rng.uniform(1, 6, (3, 2))
        img = sum(np.sin(2 * np.pi * (a * xx + b * yy) + rng.uniform(0, 6)) for a, b in f)
        out[i] = np.clip(128 + 40 * img, 0, 255).astype(np.uint8)[..., None]
    return out


@pytest.mark.parametrize(
    "cfg",
    [HogConfig(), HogConfig(size=32, cell=4, block=2, bins=6), HogConfig(block=1, signed=True)],
)
def test_hog_shape_dim_and_determinism(cfg: HogConfig) -> None:
    emb = make_embedder(cfg)
    crops = _crops(3)
    a, b = emb.embed(crops, None), emb.embed(crops.copy(), None)
    assert a.shape == (3, hog_dim(cfg)) == (3, emb.dim) and a.dtype == np.float32
    assert np.array_equal(a, b)
    assert not np.allclose(a[0], a[1])
    assert emb.attrs()["name"] == "hog" and emb.attrs()["dim"] == emb.dim


def test_hog_default_dim_and_exact_cases() -> None:
    assert hog_dim(HogConfig()) == 7 * 7 * 2 * 2 * 9  # 64 px, 8 px cells, 2x2 blocks
    emb = make_embedder(HogConfig(size=32))
    flat = np.full((1, 64, 64, 3), 90, np.uint8)
    assert np.all(emb.embed(flat, None) == 0)  # no gradient, no histogram
    x = np.arange(32)
    vertical = np.repeat(((x // 4) % 2 * 255).astype(np.uint8)[None, :, None], 32, 0)  # columns
    v_img = np.repeat(vertical[None], 3, axis=3)
    h_img = v_img.transpose(0, 2, 1, 3).copy()
    hv = emb.embed(v_img, None).reshape(-1, 9).sum(0)
    hh = emb.embed(h_img, None).reshape(-1, 9).sum(0)
    assert hv.argmax() == 0  # horizontal gradient: orientation bin 0 (0-20 degrees)
    assert hh.argmax() == 4  # vertical gradient: bin of 80-100 degrees


def test_landmark_features_exact() -> None:
    rng = np.random.default_rng(1)
    pts = rng.uniform(0, 160, (2, 68, 2)).astype(np.float32)
    crops = np.zeros((2, 160, 160, 3), np.uint8)
    both = make_embedder(LandmarksEmbedConfig(distances=True))
    f = both.embed(crops, pts)
    assert f.shape == (2, 136 + 190) and both.dim == 326
    np.testing.assert_allclose(f[:, :136], (pts / 160).reshape(2, 136), rtol=1e-6)
    i, j = SUBSET20[0], SUBSET20[1]  # first pair: points 18 and 20 (1-based)
    np.testing.assert_allclose(
        f[:, 136], np.linalg.norm(pts[:, i] - pts[:, j], axis=1) / 160, rtol=1e-5
    )
    only = make_embedder(LandmarksEmbedConfig(coords=False, distances=True)).embed(crops, pts)
    np.testing.assert_array_equal(only, f[:, 136:])
    np.testing.assert_array_equal(both.embed(crops, pts), f)
    with pytest.raises(ValueError, match="required"):
        both.embed(crops, None)


class _Recorder:
    """Test embedder: feature = mean pixel of the crop; remembers every batch it was given."""

    dim = 2

    def __init__(self) -> None:
        self.batches: list[np.ndarray] = []

    def embed(self, crops: np.ndarray, landmarks: np.ndarray | None) -> np.ndarray:
        self.batches.append(crops[:, 0, 0, 0].copy())
        m = crops.reshape(len(crops), -1).mean(1).astype(np.float32)
        return np.stack([m, m + 1], axis=1)

    def attrs(self) -> dict:
        return {}


def test_embed_frames_masks_and_batches() -> None:
    t = 11
    crops = np.stack([np.full((8, 8, 3), i + 1, np.uint8) for i in range(t)])
    mask = np.ones(t, bool)
    mask[[0, 4, 5, 10]] = False
    rec = _Recorder()
    out = embed_frames(rec, iter(crops), None, mask, batch_size=3)
    assert out.shape == (t, 2) and out.dtype == np.float32
    assert np.all(out[~mask] == 0)
    np.testing.assert_array_equal(out[mask, 0], np.flatnonzero(mask) + 1)
    seen = np.concatenate(rec.batches)
    np.testing.assert_array_equal(seen, np.flatnonzero(mask) + 1)  # masked frames never passed
    assert [len(b) for b in rec.batches] == [3, 3, 1]


def test_embed_frames_batch_size_does_not_change_hog_or_landmarks() -> None:
    crops = _crops(9, size=64)
    lms = np.random.default_rng(2).uniform(0, 64, (9, 68, 2)).astype(np.float32)
    mask = np.array([1, 1, 0, 1, 1, 1, 0, 1, 1], bool)
    for cfg in (HogConfig(), LandmarksEmbedConfig(distances=True)):
        emb = make_embedder(cfg)
        one = embed_frames(emb, iter(crops), lms, mask, batch_size=1)
        many = embed_frames(emb, iter(crops), lms, mask, batch_size=7)
        np.testing.assert_array_equal(one, many)
        np.testing.assert_array_equal(one[mask], emb.embed(crops[mask], lms[mask]))


def test_embed_frames_count_mismatch_is_an_error() -> None:
    crops = _crops(4, size=32)
    emb = make_embedder(HogConfig(size=32))
    with pytest.raises(StageError, match="got 4 crops for 5"):
        embed_frames(emb, iter(crops), None, np.ones(5, bool), batch_size=2)
    with pytest.raises(StageError, match="more crops"):
        embed_frames(emb, iter(crops), None, np.ones(3, bool), batch_size=2)


def test_embedders_pickle_as_their_config() -> None:
    emb = make_embedder(HogConfig(size=32))
    clone = pickle.loads(pickle.dumps(emb))
    crops = _crops(2, size=32)
    np.testing.assert_array_equal(clone.embed(crops, None), emb.embed(crops, None))
    assert clone.cfg == emb.cfg
