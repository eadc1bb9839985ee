"""Gzip chunks compressed in-process (io/chunks.py): a pack's and a shard's crops are written
as libdeflate zlib streams under the dataset's own gzip filter; plain h5py and a bare zlib
inflate read them back pixel for pixel; other datasets stay h5py's."""

from __future__ import annotations

import zlib
from pathlib import Path

import h5py
import numpy as np
import pytest

from emoprep.io.chunks import MIN_LEVEL, fast_level
from emoprep.io.hdf5 import ShardWriter
from emoprep.io.pack_format import PackWriter, Spec
from emoprep.io.store_config import Compression, StoreConfig

pytest.importorskip("deflate", reason="libdeflate (the deflate package) is not installed")

GZIP1 = Spec.filters_of({"compression": "gzip", "compression_opts": 1, "shuffle": False})


def _crops(n: int, seed: int) -> np.ndarray:
    """n (8, 8, 3) uint8 crops, smooth enough to compress."""
    rng = np.random.default_rng(seed)
    return (np.cumsum(rng.integers(0, 3, (n, 8, 8, 3)), axis=2) % 256).astype(np.uint8)


def _raw_chunks(ds: h5py.Dataset) -> list[bytes]:
    """Every chunk of a one-row-per-chunk dataset, inflated with Python's zlib."""
    zeros = (0,) * (ds.ndim - 1)
    out = []
    for i in range(len(ds)):
        mask, data = ds.id.read_direct_chunk((i, *zeros))
        assert mask == 0  # the gzip filter applied
        out.append(zlib.decompress(data))
    return out


def test_levels() -> None:
    assert fast_level("gzip", 1, False, 1) == MIN_LEVEL
    assert fast_level("gzip", 9, False, 1) == 9
    assert fast_level("gzip", None, False, 1) == MIN_LEVEL  # h5py's default 4
    assert fast_level("gzip", 1, True, 1) is None  # shuffled: h5py's filter pipeline
    assert fast_level("gzip", 1, False, 64) is None  # several rows per chunk
    assert fast_level("lzf", None, False, 1) is None


def test_pack_crops_read_back_pixel_equal(tmp_path: Path) -> None:
    path = tmp_path / "b.h5"
    w = PackWriter(path, "b", flush_bytes=500)  # several appends, several items per append
    items = {f"v{k}": _crops(3 + k, k) for k in range(5)}
    for vid, crops in items.items():
        w.add(vid, {"frames": crops, "boxes": np.ones((len(crops), 4), np.float32)},
              {"frames": Spec(np.dtype(np.uint8), (8, 8, 3), 1, GZIP1),
               "boxes": Spec(np.dtype(np.float32), (4,))}, {})
    w.close()
    everything = np.concatenate(list(items.values()))
    with h5py.File(path, "r") as f:
        ds = f["data/frames"]
        assert (ds.compression, ds.compression_opts, ds.chunks) == ("gzip", 1, (1, 8, 8, 3))
        np.testing.assert_array_equal(ds[()], everything)
        assert _raw_chunks(ds) == [c.tobytes() for c in everything]
        np.testing.assert_array_equal(f["data/boxes"][()], np.ones((len(everything), 4)))


def test_shard_stream_rows_and_single_frames(tmp_path: Path) -> None:
    crops = _crops(7, 1)
    path = tmp_path / "s.h5"
    with ShardWriter(path, {}, StoreConfig()) as w:
        ds = w.stream("frames", crops.shape, np.uint8)
        ds[0:4] = crops[:4]  # whole rows: compressed here
        ds[4] = crops[4]
        ds[5:7, :4] = crops[5:7, :4]  # part rows: h5py's own path
        ds[5:7, 4:] = crops[5:7, 4:]
    with h5py.File(path, "r") as f:
        np.testing.assert_array_equal(f["frames"][()], crops)
        assert _raw_chunks(f["frames"]) == [c.tobytes() for c in crops]


def test_other_settings_are_h5pys(tmp_path: Path) -> None:
    crops = _crops(4, 2)
    path = tmp_path / "s.h5"
    with ShardWriter(path, {}, StoreConfig(compression=Compression.NONE)) as w:
        ds = w.stream("frames", crops.shape, np.uint8)
        ds[0:4] = crops
    with h5py.File(path, "r") as f:
        assert f["frames"].compression is None
        np.testing.assert_array_equal(f["frames"][()], crops)
