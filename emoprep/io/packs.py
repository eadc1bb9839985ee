"""Packs (schema 2): the outputs of a whole batch of small items in one HDF5 file per artifact.

The format (one array per dataset name, an item table of offsets and attributes) is
:mod:`emoprep.io.pack_format`'s. A batch job writes every pack it rewrites to a hidden temporary
sibling, items as they finish (buffered, appended a few times per batch), then closes, fsyncs and
renames each once (:meth:`PackIO.close`); the items of the batch that are up to date are copied
from the pack in place, so a pack always holds the whole batch. Until the rename the old pack (if
any) stays as it was: nothing half-written ever looks complete.
"""

from __future__ import annotations

import os
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path
from typing import Any

import h5py
import numpy as np

from emoprep.errors import StoreError
from emoprep.io.hdf5 import _filters
from emoprep.io.layout import Artifact, FileIO, Layout
from emoprep.io.pack_format import PackEntry, PackReader, PackWriter, Spec, as_rows, read_pack_table
from emoprep.io.store_config import PACKED_SCHEMA as PACK_SCHEMA
from emoprep.io.store_config import StoreConfig


class _ItemWriter:
    """:class:`~emoprep.io.layout.ItemWriter` of one item of a pack being written: its arrays
    are held in memory and added to the pack whole when the writer closes without an error
    (an item that fails leaves nothing in the pack)."""

    def __init__(self, pack: PackWriter, vid: str, attrs: Mapping[str, Any], cfg: StoreConfig
                 ) -> None:
        self.pack, self.vid, self.cfg, self.path = pack, vid, cfg, pack.path
        self.attrs = {"schema_version": PACK_SCHEMA, **attrs}
        self.arrays: dict[str, np.ndarray] = {}
        self.specs: dict[str, Spec] = {}

    def __enter__(self) -> _ItemWriter:
        self.pack.forget(self.vid)  # what an earlier pass wrote of it is dropped
        return self

    def stream(self, name: str, shape: tuple[int, ...], dtype: Any, rows: int = 1) -> Any:
        """A (shape) array of zeros to fill row by row; in the pack chunked ``rows`` rows at a
        time and compressed per the store config, as a shard's."""
        arr = self.arrays[name] = np.zeros(shape, dtype)
        self.specs[name] = Spec(arr.dtype, tuple(shape[1:]), max(1, rows),
                                Spec.filters_of(_filters(self.cfg)))
        return arr

    def array(self, name: str, data: np.ndarray) -> None:
        arr = self.arrays[name] = as_rows(name, data)
        dtype = h5py.string_dtype() if arr.dtype == object else arr.dtype
        self.specs[name] = Spec(dtype, arr.shape[1:])

    def set_attr(self, name: str, value: Any) -> None:
        self.attrs[name] = value

    def __exit__(self, exc_type: Any, exc: Any, tb: Any) -> None:
        if exc_type is None:
            self.pack.add(self.vid, self.arrays, self.specs, self.attrs)


class PackIO:
    """:class:`~emoprep.io.layout.ItemIO` of one batch job: every write goes into the artifact's
    pack being written (opened on the first write); a read finds the item in the pack being
    written, else in the pack in place (an upstream stage that is up to date), else in its own
    file (schema 1)."""

    def __init__(self, layout: Layout, batch_id: str, cfg: StoreConfig | None = None) -> None:
        self.layout, self.batch_id = layout, batch_id
        self.cfg = cfg or StoreConfig()
        self.writing: dict[str, PackWriter] = {}
        self._old: dict[str, PackReader | None] = {}

    # -- writing ---------------------------------------------------------------------------------
    def _pack(self, artifact: Artifact) -> PackWriter:
        pack = self.writing.get(artifact.pattern)
        if pack is None:
            pack = self.writing[artifact.pattern] = PackWriter(
                artifact.pack(self.layout, self.batch_id), self.batch_id)
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
    def _old_pack(self, artifact: Artifact) -> PackReader | None:
        """The artifact's pack in place (opened once), None when there is none."""
        if artifact.pattern not in self._old:
            path = artifact.pack(self.layout, self.batch_id)
            self._old[artifact.pattern] = PackReader(path) if path.is_file() else None
        return self._old[artifact.pattern]

    def _item(self, artifact: Artifact, vid: str
              ) -> tuple[PackWriter | PackReader, PackEntry] | None:
        """Where the item is: the pack being written, else the pack in place; None when it is in
        neither (its output is a file of its own, schema 1)."""
        pack = self.writing.get(artifact.pattern)
        if pack is not None and vid in pack.entries:
            return pack, pack.entries[vid]
        old = self._old_pack(artifact)
        if old is None or vid not in old.table:
            return None
        return old, old.table[vid]

    def load_json(self, artifact: Artifact, video_id: str) -> Any:
        found = self._item(artifact, video_id)
        if found is None:
            return FileIO(self.layout).load_json(artifact, video_id)
        return found[1].attrs["json"]

    def read_arrays(self, artifact: Artifact, video_id: str, names: tuple[str, ...] | None = None
                    ) -> tuple[dict[str, np.ndarray], dict[str, Any]]:
        found = self._item(artifact, video_id)
        if found is None:
            return FileIO(self.layout).read_arrays(artifact, video_id, names)
        pack, entry = found
        keys = names if names is not None else tuple(entry.offsets)
        try:
            return {k: pack.rows(video_id, k) for k in keys}, dict(entry.attrs)
        except KeyError as exc:
            raise StoreError(f"pack {artifact.pack(self.layout, self.batch_id)}: item "
                             f"{video_id!r}: no dataset {exc}") from exc

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
        pack, entry = found
        start, stop = entry.offsets[name]
        for i in range(0, stop - start, chunk):
            yield from pack.rows(video_id, name, i, i + chunk)

    # -- the end of the batch --------------------------------------------------------------------
    def copy_fresh(self, artifact: Artifact, vids: list[str]) -> None:
        """Copy the up-to-date items ``vids`` of a pack being rewritten from the pack in place."""
        pack = self.writing.get(artifact.pattern)
        if pack is None or not vids:
            return
        old = self._old_pack(artifact)
        if old is None:
            raise StoreError(f"pack {artifact.pack(self.layout, self.batch_id)}: missing; its "
                             "items are rebuilt by the next run")
        pack.copy(old.file, old.table, vids)

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
        for old in self._old.values():
            if old is not None:
                old.close()
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
def _catalogue(path: str, size: int, mtime_ns: int) -> dict[str, PackEntry]:
    try:
        with h5py.File(path, "r") as f:
            return read_pack_table(f, path)
    except OSError as exc:
        raise StoreError(f"pack {path}: cannot read ({exc})") from exc


def pack_table(path: Path) -> dict[str, PackEntry]:
    """video id -> :class:`PackEntry` of every item of a pack; read once while it is
    unchanged (the index rebuild and ``inspect`` ask for each of its items)."""
    st = os.stat(path)
    return _catalogue(str(path), st.st_size, st.st_mtime_ns)


def pack_item(path: Path, video_id: str) -> PackEntry:
    """Item ``video_id`` of a pack: its row of the item table, offsets and attributes."""
    found = pack_table(path).get(video_id)
    if found is None:
        raise StoreError(f"pack {path}: no item {video_id!r}")
    return found
