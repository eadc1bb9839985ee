"""The file format of a pack (schema 2): one array per dataset name, the items' rows end to end.

A pack ``<folder>/packs/<batch_id>.h5`` (:meth:`~emoprep.io.layout.Artifact.pack`) holds::

    data/<name>   (R, ...) every item's rows of dataset <name> concatenated along axis 0: the
                  dtype and trailing shape of a per-video shard's <name>, chunked along axis 0
                  (the shard's chunk rows and compression for a streamed dataset; about 64 KiB
                  chunks, uncompressed, for the small arrays)
    items         (N,) compound, one row per item: video_id, attrs (JSON object: the attributes
                  a shard holds as HDF5 attributes; a JSON work output: {"json": value}) and per
                  dataset name <name> (2,) int64 [start, stop) into data/<name>; (-1, -1) where
                  the item has no such dataset
    attrs         schema_version (2), batch_id

So a batch of N items costs a few HDF5 objects per dataset name, not N groups of datasets, and
the item table is written once. :class:`PackWriter` buffers the items' rows in memory and
appends them every :data:`FLUSH_BYTES`, so a batch's memory is bounded whatever its size.
"""

from __future__ import annotations

import contextlib
import json
import os
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import h5py
import numpy as np

from emoprep.errors import StoreError
from emoprep.io.atomic import check_run_token, fsync_path, temp_sibling
from emoprep.io.chunks import fast_level, write_rows
from emoprep.io.hdf5 import ensure_space
from emoprep.io.store_config import PACKED_SCHEMA

DATA, ITEMS = "data", "items"
#: the item table's columns besides one (2,) int64 offsets column per dataset name
FIXED = ("video_id", "attrs")
#: rows a pack holds in memory before they are appended to its file
FLUSH_BYTES = 32 << 20
#: bytes per chunk of a dataset written whole (``ItemWriter.array``)
_CHUNK_BYTES = 1 << 16
_STR = h5py.string_dtype()


def _json(value: Any) -> Any:
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, np.ndarray):
        return value.tolist()
    raise TypeError(f"attribute value {value!r} is not JSON")


def attrs_json(attrs: dict[str, Any]) -> str:
    """An item's attributes as the item table keeps them (numpy scalars and arrays as JSON)."""
    return json.dumps(attrs, sort_keys=True, default=_json)


def _text(v: Any) -> str:
    return v.decode() if isinstance(v, bytes) else str(v)


@dataclass
class PackEntry:
    """One item of a pack: its row in the item table, [start, stop) per dataset, attributes."""

    row: int
    offsets: dict[str, tuple[int, int]]
    attrs: dict[str, Any]


def read_pack_table(f: h5py.File, path: str | Path) -> dict[str, PackEntry]:
    """video id -> :class:`PackEntry` of every item of an open pack."""
    table = f.get(ITEMS)
    if not isinstance(table, h5py.Dataset):
        raise StoreError(f"pack {path}: no item table (a pack of an older emoprep, or damaged); "
                         "`emoprep run --force probe` rewrites it")
    rows = table[()]
    names = [n for n in rows.dtype.names or () if n not in FIXED]
    out: dict[str, PackEntry] = {}
    for k, r in enumerate(rows):
        offsets = {n: (int(r[n][0]), int(r[n][1])) for n in names if r[n][0] >= 0}
        out[_text(r["video_id"])] = PackEntry(k, offsets, json.loads(_text(r["attrs"])))
    return out


@dataclass(frozen=True)
class Spec:
    """How ``data/<name>`` is stored: dtype, trailing shape, chunk rows, HDF5 filters."""

    dtype: np.dtype
    trail: tuple[int, ...]
    rows: int | None = None  #: chunk rows; None: about 64 KiB per chunk
    filters: tuple[tuple[str, Any], ...] = ()

    @staticmethod
    def filters_of(kw: dict[str, Any]) -> tuple[tuple[str, Any], ...]:
        """h5py's filter keywords as a spec keeps them (those that are off left out)."""
        return tuple((k, v) for k, v in kw.items() if v is not None and v is not False)

    @classmethod
    def of(cls, ds: h5py.Dataset) -> Spec:
        """The spec of an existing pack dataset (to copy its rows into a new pack)."""
        return cls(ds.dtype, ds.shape[1:], ds.chunks[0] if ds.chunks else None,
                   cls.filters_of({"compression": ds.compression,
                                   "compression_opts": ds.compression_opts,
                                   "shuffle": ds.shuffle}))

    @property
    def level(self) -> int | None:
        """The libdeflate level its rows are compressed at here (:mod:`emoprep.io.chunks`);
        None when h5py compresses them (or nothing does)."""
        f = dict(self.filters)
        if self.dtype.kind == "O":
            return None
        return fast_level(f.get("compression"), f.get("compression_opts"),
                          bool(f.get("shuffle")), self.rows)

    def create(self, group: h5py.Group, name: str) -> h5py.Dataset:
        row_bytes = max(1, int(np.prod(self.trail, dtype=np.int64)) * self.dtype.itemsize)
        rows = self.rows or max(1, _CHUNK_BYTES // row_bytes)
        return group.create_dataset(name, shape=(0, *self.trail), maxshape=(None, *self.trail),
                                    dtype=self.dtype, chunks=(rows, *self.trail),
                                    **dict(self.filters))


def as_rows(name: str, data: Any) -> np.ndarray:
    """``data`` as rows a pack can hold (axis 0 = rows; text as UTF-8 bytes objects)."""
    arr = np.asarray(data)
    if arr.ndim == 0:
        raise StoreError(f"dataset {name!r}: a pack stores rows; got a scalar (give it shape (1,))")
    if arr.dtype.kind in "US" or arr.dtype == object:
        arr = np.array([_text(x).encode() for x in arr.ravel()], dtype=object).reshape(arr.shape)
    return arr


class PackWriter:
    """One pack being written: a hidden temporary sibling, items added whole (:meth:`add`), their
    rows buffered and appended every :data:`FLUSH_BYTES`; :meth:`close` writes the item table,
    fsyncs and renames the file into place once."""

    def __init__(self, path: Path, batch_id: str, flush_bytes: int = FLUSH_BYTES) -> None:
        self.path, self.tmp, self.flush_bytes = path, temp_sibling(path), flush_bytes
        check_run_token(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        ensure_space(path, 0)
        self.file = h5py.File(self.tmp, "w", libver="latest")
        self.file.attrs["schema_version"] = PACKED_SCHEMA
        self.file.attrs["batch_id"] = batch_id
        self.data = self.file.create_group(DATA)
        self.entries: dict[str, PackEntry] = {}  #: items added (and not forgotten)
        self.specs: dict[str, Spec] = {}
        self.size: dict[str, int] = {}  #: rows per dataset name, in the file and buffered
        self._queue: list[dict[str, np.ndarray]] = []  #: rows added, not yet in the file
        self._held: dict[str, dict[str, np.ndarray]] = {}  #: the item's buffered arrays
        self._bytes = 0

    def add(self, vid: str, arrays: dict[str, np.ndarray], specs: dict[str, Spec],
            attrs: dict[str, Any]) -> None:
        """Add item ``vid`` (replacing what was added of it before: those rows become unused)."""
        offsets: dict[str, tuple[int, int]] = {}
        for name, arr in arrays.items():
            arrays[name] = arr = self._fit(vid, name, arr, specs[name])
            start = self.size.get(name, 0)
            offsets[name] = (start, start + len(arr))
            self.size[name] = start + len(arr)
            self._bytes += arr.nbytes
        self.entries.pop(vid, None)
        self.entries[vid] = PackEntry(-1, offsets, attrs)
        self._queue.append(arrays)
        self._held[vid] = arrays
        if self._bytes >= self.flush_bytes:
            self.flush()

    def _fit(self, vid: str, name: str, arr: np.ndarray, spec: Spec) -> np.ndarray:
        have = self.specs.setdefault(name, spec)
        if not len(arr):
            return np.zeros((0, *have.trail), have.dtype)
        if arr.shape[1:] != have.trail:
            raise StoreError(f"pack {self.path}: item {vid!r}: dataset {name!r} has rows of shape "
                             f"{arr.shape[1:]}, the pack's are {have.trail}")
        if arr.dtype != have.dtype:
            if not np.can_cast(arr.dtype, have.dtype, "same_kind"):
                raise StoreError(f"pack {self.path}: item {vid!r}: dataset {name!r} is "
                                 f"{arr.dtype}, the pack's is {have.dtype}")
            arr = arr.astype(have.dtype)
        return arr

    def forget(self, vid: str) -> None:
        """Leave item ``vid`` out of the pack (its rows, if added, stay unused)."""
        self.entries.pop(vid, None)
        self._held.pop(vid, None)

    def rows(self, vid: str, name: str, lo: int = 0, hi: int | None = None) -> np.ndarray:
        """Rows [lo, hi) of item ``vid``'s dataset ``name`` (buffered or in the file)."""
        held = self._held.get(vid)
        if held is not None:
            return held[name][lo:hi]
        start, stop = self.entries[vid].offsets[name]
        end = stop if hi is None else min(stop, start + hi)
        return self.data[name][start + lo:end]

    def flush(self) -> None:
        """Append the buffered rows to the file: one write per dataset name (a dataset whose
        chunks are compressed here: one chunk per row, no copy of the rows first)."""
        for name, spec in self.specs.items():
            parts = [a[name] for a in self._queue if name in a]
            if not parts:
                continue
            if spec.level is None and len(parts) > 1:
                parts = [np.concatenate(parts)]
            self._append(name, spec, *parts)
        self._queue, self._held, self._bytes = [], {}, 0

    def _append(self, name: str, spec: Spec, *blocks: np.ndarray) -> h5py.Dataset:
        """Append the rows of ``blocks`` to ``data/<name>`` (created by ``spec`` if new)."""
        ds = self.data[name] if name in self.data else spec.create(self.data, name)
        n, total = ds.shape[0], sum(len(b) for b in blocks)
        if not total:
            return ds
        ensure_space(self.tmp, sum(b.nbytes for b in blocks))
        ds.resize(n + total, axis=0)
        level = spec.level
        for block in blocks:
            if level is not None:
                write_rows(ds, n, block, level)
            else:
                ds[n:n + len(block)] = block
            n += len(block)
        return ds

    def copy(self, old: h5py.File, table: dict[str, PackEntry], vids: list[str]) -> None:
        """Add the items ``vids`` of the pack in place (``old``, its ``table``) that were not
        added otherwise: their rows are read in runs of neighbours and appended, not item by
        item."""
        todo = [v for v in vids if v in table and v not in self.entries]
        self.flush()
        starts = {v: dict[str, tuple[int, int]]() for v in todo}
        for name in sorted({n for v in todo for n in table[v].offsets}):
            src = old[f"{DATA}/{name}"]
            spec = self.specs.setdefault(name, Spec.of(src))
            have = [(table[v].offsets[name], v) for v in todo if name in table[v].offsets]
            for lo, hi, members in _runs(sorted(have)):
                base = self.size.get(name, 0)
                self._copy_rows(name, spec, src, lo, hi)
                for (s, e), v in members:
                    starts[v][name] = (base + s - lo, base + e - lo)
                self.size[name] = base + hi - lo
        for v in todo:
            self.entries[v] = PackEntry(-1, starts[v], table[v].attrs)

    def _copy_rows(self, name: str, spec: Spec, src: h5py.Dataset, lo: int, hi: int) -> None:
        """Append rows [lo, hi) of ``src``: chunk by chunk as stored (no decompression) when both
        hold one row per chunk with the same filters, else in blocks of at most
        :attr:`flush_bytes`."""
        if src.chunks is not None and src.chunks[0] == 1 and spec == Spec.of(src) \
                and src.dtype.kind != "O":
            ds = self._append(name, spec, src[lo:lo])
            n, zeros = ds.shape[0], (0,) * len(spec.trail)
            ensure_space(self.tmp, src.id.get_storage_size() * (hi - lo) // max(1, len(src)))
            ds.resize(n + hi - lo, axis=0)
            for i in range(lo, hi):
                mask, chunk = src.id.read_direct_chunk((i, *zeros))
                ds.id.write_direct_chunk((n + i - lo, *zeros), chunk, mask)
            return
        row_bytes = max(1, src.dtype.itemsize * int(np.prod(src.shape[1:], dtype=np.int64)))
        step = max(1, self.flush_bytes // row_bytes)
        for i in range(lo, hi, step):
            self._append(name, spec, src[i:min(hi, i + step)])

    def close(self) -> None:
        """Flush, write the item table, close, fsync and rename into place."""
        self.flush()
        names = sorted(self.specs)
        if set(names) & set(FIXED):
            raise StoreError(f"pack {self.path}: a dataset may not be named {FIXED}")
        for name in names:  # every name the table lists has its dataset, if empty
            if name not in self.data:
                self.specs[name].create(self.data, name)
        dtype = np.dtype([("video_id", _STR), ("attrs", _STR), *[(n, np.int64, (2,))
                                                                 for n in names]])
        table = np.zeros(len(self.entries), dtype)
        for k, (vid, e) in enumerate(sorted(self.entries.items())):
            table[k]["video_id"], table[k]["attrs"] = vid, attrs_json(e.attrs)
            for n in names:
                table[k][n] = e.offsets.get(n, (-1, -1))
        self.file.create_dataset(ITEMS, data=table)
        self.file.close()
        fsync_path(self.tmp)
        check_run_token(self.path)
        os.replace(self.tmp, self.path)

    def abort(self) -> None:
        with contextlib.suppress(Exception):  # the pack is being thrown away
            self.file.close()
        self.tmp.unlink(missing_ok=True)


def _runs(ranges: list[tuple[tuple[int, int], str]]
          ) -> Iterator[tuple[int, int, list[tuple[tuple[int, int], str]]]]:
    """Sorted item ranges grouped into runs of neighbours: (lo, hi, the ranges in the run)."""
    run: list[tuple[tuple[int, int], str]] = []
    lo = hi = 0
    for (s, e), v in ranges:
        if run and s != hi:
            yield lo, hi, run
            run = []
        if not run:
            lo = s
        run.append(((s, e), v))
        hi = e
    if run:
        yield lo, hi, run


@dataclass
class PackReader:
    """A pack in place, open for reading: its items and their rows."""

    path: Path
    file: h5py.File = field(init=False)
    table: dict[str, PackEntry] = field(init=False)

    def __post_init__(self) -> None:
        try:
            self.file = h5py.File(self.path, "r")
        except OSError as exc:
            raise StoreError(f"pack {self.path}: cannot read ({exc}); it is rebuilt by the next "
                             "run") from exc
        try:
            self.table = read_pack_table(self.file, self.path)
        except OSError as exc:
            self.file.close()
            raise StoreError(f"pack {self.path}: cannot read its item table ({exc}); it is "
                             "rebuilt by the next run") from exc
        except BaseException:
            self.file.close()
            raise

    def rows(self, vid: str, name: str, lo: int = 0, hi: int | None = None) -> np.ndarray:
        start, stop = self.table[vid].offsets[name]
        end = stop if hi is None else min(stop, start + hi)
        return self.file[f"{DATA}/{name}"][start + lo:end]

    def close(self) -> None:
        self.file.close()
