"""The storage contract: atomic shards, index files with external links, error wrapping."""

from __future__ import annotations

from pathlib import Path

import h5py
import numpy as np
import pytest

from emoprep.errors import StoreError
from emoprep.io.hdf5 import (
    IndexRow,
    ShardWriter,
    build_index,
    read_arrays,
    read_table,
    shard_links,
)
from emoprep.pipeline.config import StoreConfig


def test_shard_is_invisible_until_complete(tmp_path: Path) -> None:
    path = tmp_path / "frames" / "v.h5"
    with pytest.raises(RuntimeError):
        with ShardWriter(path, {"video_id": "v"}, StoreConfig()) as w:
            ds = w.stream("frames", (4, 8, 8, 3), np.uint8)
            ds[0] = 1
            assert not path.exists()
            raise RuntimeError("killed mid-write")
    assert not path.exists()
    assert list(path.parent.iterdir()) == []  # the temporary file is gone too


def test_shard_round_trip_lossless_and_chunked(tmp_path: Path) -> None:
    rng = np.random.default_rng(0)
    crops = rng.integers(0, 256, (5, 16, 16, 3), dtype=np.uint8)
    path = tmp_path / "v.h5"
    with ShardWriter(path, {"labels": {"emotion": "happiness"}, "fps": 25.0}) as w:
        ds = w.stream("frames", crops.shape, np.uint8)
        for i, c in enumerate(crops):
            ds[i] = c
        w.array("frame_index", np.arange(5))
    with h5py.File(path) as f:
        assert f["frames"].chunks == (1, 16, 16, 3)
        assert f["frames"].compression == "gzip"
        np.testing.assert_array_equal(f["frames"][()], crops)
    arrays, attrs = read_arrays(path)
    assert attrs["labels"] == {"emotion": "happiness"} and attrs["schema_version"] == 1
    assert arrays["frame_index"].tolist() == [0, 1, 2, 3, 4]


def test_index_links_shards_and_lists_failed(tmp_path: Path) -> None:
    shard = tmp_path / "frames" / "a.h5"
    with ShardWriter(shard, {"video_id": "a"}) as w:
        w.array("frame_index", np.arange(3))
    rows = [
        IndexRow(
            "a",
            "s1",
            {"emotion": "anger"},
            "ok",
            3,
            3,
            links=shard_links(shard, "frames/a.h5"),
            attrs={"video_id": "a"},
        ),
        IndexRow("b", "s2", {"emotion": "fear"}, "failed", error="track: no face"),
    ]
    build_index(tmp_path / "frames.h5", rows, {"schema_version": 1})
    with h5py.File(tmp_path / "frames.h5") as f:
        assert list(f["videos"]) == ["a"]
        assert f["videos/a/frame_index"][()].tolist() == [0, 1, 2]
    table = read_table(tmp_path / "frames.h5")
    assert [(r["video_id"], r["status"], r["labels"]["emotion"]) for r in table] == [
        ("a", "ok", "anger"), ("b", "failed", "fear")]
    assert table[1]["error"] == "track: no face"


def test_unreadable_shard_raises_store_error(tmp_path: Path) -> None:
    bad = tmp_path / "bad.h5"
    bad.write_bytes(b"not an hdf5 file")
    with pytest.raises(StoreError, match="bad.h5"):
        read_arrays(bad)
