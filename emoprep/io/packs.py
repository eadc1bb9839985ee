"""Packs (schema 2): the outputs of a whole batch of small items in one HDF5 file per artifact.

A pack ``<folder>/packs/<batch_id>.h5`` (:meth:`~emoprep.io.layout.Artifact.pack`) holds::

    items/<video_id>/<dataset>   the datasets a per-video shard of the same artifact holds
    item_attrs                   (N,) compound: video_id, attrs (JSON): each item's attributes
                                 (a JSON work output: its value), in a table, not HDF5 attributes
    attrs                        schema_version (2), batch_id

A batch job writes every pack it rewrites to a hidden temporary sibling, items as they finish,
then closes, fsyncs and renames each once (:meth:`PackIO.close`); the items of the batch that
are up to date are copied from the pack in place, so a pack always holds the whole batch. Until
the rename the old pack (if any) stays as it was: nothing half-written ever looks complete.
"""

from __future__ import annotations

import contextlib
import json
import os
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path
from typing import Any

import h5py
import numpy as np

from emoprep.errors import StoreError
from emoprep.io.atomic import check_run_token, fsync_path, temp_sibling
from emoprep.io.hdf5 import _filters, _SpaceCheckedDataset, ensure_space
from emoprep.io.layout import Artifact, FileIO, Layout
from emoprep.io.store_config import PACKED_SCHEMA as PACK_SCHEMA
from emoprep.io.store_config import StoreConfig

ITEMS, ITEM_ATTRS = "items", "item_attrs"
_TABLE = np.dtype([("video_id", h5py.string_dtype()), ("attrs", h5py.string_dtype())])


def _json(value: Any) -> Any:
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, np.ndarray):
        return value.tolist()
    raise TypeError(f"attribute value {value!r} is not JSON")


def read_item_table(f: h5py.File) -> dict[str, dict[str, Any]]:
    """video id -> attributes of every item of an open pack."""
    if ITEM_ATTRS not in f:
        return {}
    return {_text(r["video_id"]): json.loads(_text(r["attrs"])) for r in f[ITEM_ATTRS][()]}


def _text(v: Any) -> str:
    return v.decode() if isinstance(v, bytes) else str(v)


class _Pack:
    """One pack being written: the temporary file, the attributes of the items written so far."""

    def __init__(self, path: Path, batch_id: str) -> None:
        self.path, self.tmp = path, temp_sibling(path)
        self.attrs: dict[str, dict[str, Any]] = {}
        check_run_token(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        ensure_space(path, 0)
        self.file = h5py.File(self.tmp, "w", libver="latest")
        self.file.attrs["schema_version"] = PACK_SCHEMA
        self.file.attrs["batch_id"] = batch_id
        self.items = self.file.create_group(ITEMS)

    def group(self, vid: str) -> h5py.Group:
        """A new, empty group for ``vid`` (what an earlier pass wrote of it is dropped)."""
        self.drop(vid)
        return self.items.create_group(vid)

    def drop(self, vid: str) -> None:
        if vid in self.items:
            del self.items[vid]
        self.attrs.pop(vid, None)

    def copy(self, old: h5py.File, table: dict[str, dict[str, Any]], vid: str) -> None:
        """Copy item ``vid`` (its group and attributes) from the pack in place."""
        old.copy(old[f"{ITEMS}/{vid}"], self.items, name=vid)
        self.attrs[vid] = table.get(vid, {})

    def close(self) -> None:
        """Write the item table, close, fsync, rename into place (once)."""
        rows = [(vid, json.dumps(a, sort_keys=True, default=_json))
                for vid, a in sorted(self.attrs.items())]
        self.file.create_dataset(ITEM_ATTRS, data=np.array(rows, dtype=_TABLE))
        self.file.close()
        fsync_path(self.tmp)
        check_run_token(self.path)
        os.replace(self.tmp, self.path)

    def abort(self) -> None:
        with contextlib.suppress(Exception):  # the pack is being thrown away
            self.file.close()
        self.tmp.unlink(missing_ok=True)


class _ItemWriter:
    """:class:`~emoprep.io.layout.ItemWriter` onto an item's group of a pack being written."""

    def __init__(self, pack: _Pack, vid: str, attrs: Mapping[str, Any], cfg: StoreConfig) -> None:
        self.pack, self.vid, self.cfg, self.path = pack, vid, cfg, pack.path
        self.attrs = {"schema_version": PACK_SCHEMA, **attrs}

    def __enter__(self) -> _ItemWriter:
        self.g = self.pack.group(self.vid)
        return self

    def stream(self, name: str, shape: tuple[int, ...], dtype: Any, rows: int = 1) -> Any:
        chunks = (min(rows, shape[0]), *shape[1:]) if shape and shape[0] > 0 else None
        kw = _filters(self.cfg) if chunks else {}
        ds = self.g.create_dataset(name, shape=shape, dtype=dtype, chunks=chunks, **kw)
        return _SpaceCheckedDataset(ds, self.pack.tmp)

    def array(self, name: str, data: np.ndarray) -> None:
        arr = np.asarray(data)
        if arr.dtype.kind == "U":
            arr = arr.astype(h5py.string_dtype())
        ensure_space(self.pack.tmp, arr.nbytes)
        self.g.create_dataset(name, data=arr)

    def set_attr(self, name: str, value: Any) -> None:
        self.attrs[name] = value

    def __exit__(self, exc_type: Any, exc: Any, tb: Any) -> None:
        if exc_type is not None:
            self.pack.drop(self.vid)
        else:
            self.pack.attrs[self.vid] = self.attrs


class PackIO:
    """:class:`~emoprep.io.layout.ItemIO` of one batch job: every write goes into the item's group
    of the artifact's pack being written (opened on the first write); a read finds the item in
    the pack being written, else in the pack in place (an upstream stage that is up to date)."""

    def __init__(self, layout: Layout, batch_id: str, cfg: StoreConfig | None = None) -> None:
        self.layout, self.batch_id = layout, batch_id
        self.cfg = cfg or StoreConfig()
        self.writing: dict[str, _Pack] = {}
        self._old: dict[str, tuple[h5py.File, dict[str, dict[str, Any]]]] = {}

    # -- writing ---------------------------------------------------------------------------------
    def _pack(self, artifact: Artifact) -> _Pack:
        pack = self.writing.get(artifact.pattern)
        if pack is None:
            pack = self.writing[artifact.pattern] = _Pack(artifact.pack(self.layout,
                                                                        self.batch_id),
                                                          self.batch_id)
        return pack

    def writer(self, artifact: Artifact, video_id: str, attrs: Mapping[str, Any],
               cfg: StoreConfig | None = None) -> _ItemWriter:
        return _ItemWriter(self._pack(artifact), video_id, attrs, cfg or self.cfg)

    def write_arrays(self, artifact: Artifact, video_id: str, arrays: Mapping[str, np.ndarray],
                     attrs: Mapping[str, Any]) -> Path:
        with self.writer(artifact, video_id, attrs) as w:
            for k, v in arrays.items():
                w.array(k, v)
        return w.path

    def save_npz(self, artifact: Artifact, video_id: str, arrays: dict[str, Any]) -> Path:
        return self.write_arrays(artifact, video_id, arrays, {})

    def save_json(self, artifact: Artifact, video_id: str, obj: Any) -> Path:
        with self.writer(artifact, video_id, {}) as w:
            w.attrs = {"json": obj}
        return w.path

    # -- reading ---------------------------------------------------------------------------------
    def _item(self, artifact: Artifact, vid: str) -> tuple[h5py.Group, dict[str, Any]] | None:
        """The item's group and attributes: in the pack being written, else in the pack in
        place; None when it is in neither (its output is a file of its own, schema 1)."""
        pack = self.writing.get(artifact.pattern)
        if pack is not None and vid in pack.attrs:
            return pack.items[vid], pack.attrs[vid]
        path = artifact.pack(self.layout, self.batch_id)
        if artifact.pattern not in self._old:
            if not path.is_file():
                return None
            try:
                f = h5py.File(path, "r")
                self._old[artifact.pattern] = (f, read_item_table(f))
            except OSError as exc:
                raise StoreError(f"pack {path}: cannot read ({exc}); it is rebuilt by the next "
                                 "run") from exc
        f, table = self._old[artifact.pattern]
        if f"{ITEMS}/{vid}" not in f or vid not in table:
            return None
        return f[f"{ITEMS}/{vid}"], table[vid]

    def load_json(self, artifact: Artifact, video_id: str) -> Any:
        found = self._item(artifact, video_id)
        if found is None:
            return FileIO(self.layout).load_json(artifact, video_id)
        return found[1]["json"]

    def read_arrays(self, artifact: Artifact, video_id: str, names: tuple[str, ...] | None = None
                    ) -> tuple[dict[str, np.ndarray], dict[str, Any]]:
        found = self._item(artifact, video_id)
        if found is None:
            return FileIO(self.layout).read_arrays(artifact, video_id, names)
        g, attrs = found
        keys = names if names is not None else tuple(g)
        try:
            return {k: g[k][()] for k in keys}, dict(attrs)
        except KeyError as exc:
            raise StoreError(f"pack {artifact.pack(self.layout, self.batch_id)}: item "
                             f"{video_id!r}: {exc}") from exc

    def load_npz(self, artifact: Artifact, video_id: str,
                 names: tuple[str, ...] | None = None) -> dict[str, np.ndarray]:
        if self._item(artifact, video_id) is None:
            return FileIO(self.layout).load_npz(artifact, video_id, names)
        return self.read_arrays(artifact, video_id, names)[0]

    def iter_dataset(self, artifact: Artifact, video_id: str, name: str, chunk: int = 64
                     ) -> Iterator[np.ndarray]:
        found = self._item(artifact, video_id)
        if found is None:
            yield from FileIO(self.layout).iter_dataset(artifact, video_id, name)
            return
        ds = found[0][name]
        for i in range(0, ds.shape[0], chunk):
            yield from ds[i:i + chunk]

    # -- the end of the batch --------------------------------------------------------------------
    def copy_fresh(self, artifact: Artifact, vids: list[str]) -> None:
        """Copy the up-to-date items ``vids`` of a pack being rewritten from the pack in place."""
        pack = self.writing.get(artifact.pattern)
        if pack is None or not vids:
            return
        self._item(artifact, vids[0])  # opens the pack in place
        if artifact.pattern not in self._old:
            raise StoreError(f"pack {artifact.pack(self.layout, self.batch_id)}: missing; its "
                             "items are rebuilt by the next run")
        f, table = self._old[artifact.pattern]
        for vid in vids:
            if vid not in pack.attrs:
                pack.copy(f, table, vid)

    def close(self) -> dict[str, Path]:
        """Close every pack written (rename into place); artifact pattern -> pack path."""
        self._close_old()
        done: dict[str, Path] = {}
        for pattern, pack in list(self.writing.items()):
            pack.close()
            done[pattern] = pack.path
            del self.writing[pattern]
        return done

    def abort(self) -> None:
        self._close_old()
        for pack in self.writing.values():
            pack.abort()
        self.writing.clear()

    def _close_old(self) -> None:
        for f, _ in self._old.values():
            f.close()
        self._old.clear()


@dataclass(frozen=True)
class PackedLayout(Layout):
    """The layout a batch job hands its stages: ``io`` is the batch's :class:`PackIO`."""

    packs: PackIO | None = field(default=None, compare=False, repr=False)

    @property
    def io(self) -> PackIO:
        assert self.packs is not None, "PackedLayout without its PackIO"
        return self.packs


@lru_cache(maxsize=64)
def _catalogue(path: str, size: int, mtime_ns: int
               ) -> dict[str, tuple[tuple[str, ...], dict[str, Any]]]:
    try:
        with h5py.File(path, "r") as f:
            table = read_item_table(f)
            items = f[ITEMS] if ITEMS in f else {}
            return {vid: (tuple(items[vid]), table.get(vid, {})) for vid in items}
    except OSError as exc:
        raise StoreError(f"pack {path}: cannot read ({exc})") from exc


def pack_item(path: Path, video_id: str) -> tuple[tuple[str, ...], dict[str, Any]]:
    """(dataset names, attributes) of item ``video_id`` of a pack (the index rebuild links
    them); a pack is read once while it is unchanged."""
    st = os.stat(path)
    found = _catalogue(str(path), st.st_size, st.st_mtime_ns).get(video_id)
    if found is None:
        raise StoreError(f"pack {path}: no item {video_id!r}")
    return found
