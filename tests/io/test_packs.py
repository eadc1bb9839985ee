"""The pack format (io/pack_format.py): one array per dataset name, the items' rows end to end,
an items table of offsets and attributes; rows buffered and appended by bytes; reads of the pack
being written; copies of a pack's items in runs; one rename per pack."""

from __future__ import annotations

from pathlib import Path

import h5py
import numpy as np
import pytest

from emoprep.errors import StoreError
from emoprep.io.index_items import Rows
from emoprep.io.pack_format import PackReader, PackWriter, Spec, as_rows

GZIP = Spec.filters_of({"compression": "gzip", "compression_opts": 1, "shuffle": False})


def _item(k: int, t: int) -> tuple[dict[str, np.ndarray], dict[str, Spec]]:
    """Item k with t rows: crops (t, 4, 4, 3) uint8 streamed and gzipped, boxes (t, 4) float32,
    names (2,) text."""
    arrays = {"frames": np.full((t, 4, 4, 3), k, np.uint8),
              "boxes": np.arange(4 * t, dtype=np.float32).reshape(t, 4) + k,
              "names": as_rows("names", np.array([f"a{k}", "b"]))}
    specs = {"frames": Spec(np.dtype(np.uint8), (4, 4, 3), 1, GZIP),
             "boxes": Spec(np.dtype(np.float32), (4,)),
             "names": Spec(h5py.string_dtype(), ())}
    return arrays, specs


def test_items_are_rows_of_one_array_per_dataset_and_a_table(tmp_path: Path) -> None:
    path = tmp_path / "packs" / "b000001.h5"
    w = PackWriter(path, "b000001", flush_bytes=200)  # appends after about every item
    for k, t in enumerate([3, 0, 5, 2]):
        w.add(f"v{k}", *_item(k, t), {"k": k, "fps": np.float32(25.0)})
        assert w.rows(f"v{k}", "frames").shape == (t, 4, 4, 3)  # readable while written
        assert (w.rows(f"v{k}", "frames") == k).all()
    assert w.rows("v0", "boxes", 1, 2).tolist() == [[4, 5, 6, 7]]  # flushed: from the file
    assert not path.exists()  # a temporary until close
    w.close()
    with h5py.File(path, "r") as f:
        assert sorted(f) == ["data", "items"] and f.attrs["batch_id"] == "b000001"
        assert f["data/frames"].shape == (10, 4, 4, 3) and f["data/frames"].chunks[0] == 1
        assert f["data/frames"].compression == "gzip" and f["data/boxes"].compression is None
        table = f["items"][()]
        assert [v.decode() for v in table["video_id"]] == ["v0", "v1", "v2", "v3"]
        assert table["frames"].tolist() == [[0, 3], [3, 3], [3, 8], [8, 10]]
        assert table["names"].tolist() == [[0, 2], [2, 4], [4, 6], [6, 8]]
    r = PackReader(path)
    assert r.table["v2"].attrs == {"k": 2, "fps": 25.0} and r.table["v2"].row == 2
    assert (r.rows("v2", "frames") == 2).all() and r.rows("v3", "names").tolist() == [b"a3", b"b"]
    r.close()
    assert [p.name for p in path.parent.iterdir()] == ["b000001.h5"]


def test_a_forgotten_item_is_left_out_and_a_rewritten_one_points_at_its_new_rows(
        tmp_path: Path) -> None:
    w = PackWriter(tmp_path / "b000001.h5", "b000001")
    w.add("a", *_item(1, 2), {})
    w.add("b", *_item(2, 2), {})
    w.forget("a")  # a failed rewrite of an item: nothing of it stays listed
    w.add("b", *_item(7, 3), {})
    w.close()
    r = PackReader(tmp_path / "b000001.h5")
    assert list(r.table) == ["b"] and (r.rows("b", "frames") == 7).all()
    assert len(r.rows("b", "frames")) == 3
    r.close()


def test_copy_takes_the_items_rows_from_the_pack_in_place_in_runs(tmp_path: Path) -> None:
    old = tmp_path / "old.h5"
    w = PackWriter(old, "b000001")
    for k in range(5):
        w.add(f"v{k}", *_item(k, k + 1), {"k": k})
    w.close()
    new = tmp_path / "new.h5"
    w = PackWriter(new, "b000001", flush_bytes=100)
    w.add("v2", *_item(9, 1), {"k": 9})  # the item that ran again
    src = PackReader(old)
    appended: list[tuple[str, int]] = []
    append = w._append
    w._append = lambda name, spec, block: appended.append((name, len(block))) or append(  # type: ignore[method-assign]
        name, spec, block)
    w.copy(src.file, src.table, ["v0", "v1", "v2", "v3", "v4", "gone"])
    # v2's buffered row first; then two runs (v0-v1, v3-v4): the crops' chunks (one row each,
    # gzip) copied as stored, not decoded and coded again; the boxes read and appended per run
    # in blocks of at most 100 bytes (6 rows of 16 bytes)
    assert [n for name, n in appended if name == "frames"] == [1, 0, 0]
    assert [n for name, n in appended if name == "boxes"] == [1, 3, 6, 3]
    src.close()
    w.close()
    r = PackReader(new)
    assert sorted(r.table) == ["v0", "v1", "v2", "v3", "v4"]
    for k in (0, 1, 3, 4):
        assert (r.rows(f"v{k}", "frames") == k).all() and len(r.rows(f"v{k}", "frames")) == k + 1
        assert r.table[f"v{k}"].attrs == {"k": k}
        assert r.rows(f"v{k}", "names").tolist() == [f"a{k}".encode(), b"b"]
    assert (r.rows("v2", "frames") == 9).all() and r.table["v2"].attrs == {"k": 9}
    assert r.file["data/frames"].compression == "gzip"
    r.close()


def test_rows_of_another_shape_are_refused_and_the_temporary_goes_with_abort(
        tmp_path: Path) -> None:
    path = tmp_path / "b000001.h5"
    w = PackWriter(path, "b000001")
    w.add("a", *_item(1, 2), {})
    arrays, specs = _item(2, 2)
    arrays["boxes"] = np.zeros((2, 5), np.float32)
    with pytest.raises(StoreError, match=r"dataset 'boxes' has rows of shape \(5,\), the pack's"):
        w.add("b", arrays, specs, {})
    with pytest.raises(StoreError, match="a pack stores rows; got a scalar"):
        as_rows("n", np.float32(1))
    tmp = w.tmp
    assert tmp.exists()
    w.abort()
    assert not tmp.exists() and not path.exists()


def test_rows_read_like_a_dataset(tmp_path: Path) -> None:
    with h5py.File(tmp_path / "x.h5", "w") as f:
        ds = f.create_dataset("x", data=np.arange(20).reshape(10, 2))
        rows = Rows(ds, 3, 7)
        assert rows.shape == (4, 2) and len(rows) == 4
        assert rows[()].tolist() == [[6, 7], [8, 9], [10, 11], [12, 13]]
        assert rows[1:3].tolist() == [[8, 9], [10, 11]] and rows[::2][:, 0].tolist() == [6, 10]
        assert rows[np.array([3, 0])].tolist() == [[12, 13], [6, 7]]
        assert rows[-1].tolist() == [12, 13]


def test_a_pack_of_the_older_layout_is_refused_with_the_fix(tmp_path: Path) -> None:
    path = tmp_path / "b000001.h5"
    with h5py.File(path, "w") as f:  # a group per item and an attribute table: emoprep before
        f.create_group("items/v0").create_dataset("frames", data=np.zeros((1, 4, 4, 3)))
        f.create_dataset("item_attrs", data=np.zeros(1))
    with pytest.raises(StoreError, match=r"no item table .*`emoprep run --force probe` rewrites"):
        PackReader(path)
