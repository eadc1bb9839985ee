"""Packed items in an index file (schema 2): one ``items`` table and one link per pack.

An item with an output in a pack has no ``videos/<id>`` group in the index (no HDF5 object, no
HDF5 attribute of its own); instead::

    packs/<file>   an external link per pack (or shard) the index's packed items are in, named by
                   the file's path relative to the index's folder (``frames/packs/b000001.h5``),
                   to the group holding its datasets (``/data`` of a pack)
    items          (M,) compound, a row per (item, part): video_id, part ("" the index's own
                   store; else the link's name or prefix, e.g. ``au``), pack (the <file> above),
                   attrs (JSON: what ``videos/<id>`` attributes hold for a per-video item:
                   the shard's attributes, subject, labels, anomaly) and per dataset name
                   <name> (2,) int64 [start, stop) of the item's rows in ``packs/<file>/<name>``
                   ((-1, -1): the part has no such dataset)

:class:`IndexItems` reads it back as group-like views (:class:`ItemView`), so the readers
(:mod:`emoprep.io.reader`) serve both layouts with the same code.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import h5py
import numpy as np

from emoprep.errors import StoreError
from emoprep.io.hdf5 import _encode_attr
from emoprep.io.pack_format import attrs_json
from emoprep.io.store_config import IndexRow

ITEMS, PACKS = "items", "packs"
FIXED = ("video_id", "part", "pack", "attrs")
_STR = h5py.string_dtype()


def _text(v: Any) -> str:
    return v.decode() if isinstance(v, bytes) else str(v)


def write_items(f: h5py.File, rows: list[IndexRow]) -> None:
    """Write the ``packs`` links and the ``items`` table of the rows' packed parts (nothing when
    no row has one)."""
    parts = [(r.video_id, p) for r in rows for p in r.parts]
    if not parts:
        return
    packs = f.create_group(PACKS)
    for file, target in sorted({p.file: p.target for _, p in parts}.items()):
        *dirs, name = file.split("/")
        g = packs
        for d in dirs:  # made here: a group made on the way to a link carries its creation time
            g = g[d] if d in g else g.create_group(d)
        g[name] = h5py.ExternalLink(file, target)
    names = sorted({n for _, p in parts for n in p.offsets})
    if set(names) & set(FIXED):
        raise StoreError(f"index {f.filename}: a dataset may not be named {FIXED}")
    dtype = np.dtype([(k, _STR) for k in FIXED] + [(n, np.int64, (2,)) for n in names])
    table = np.zeros(len(parts), dtype)
    for n in names:
        table[n] = -1
    for k, (vid, p) in enumerate(parts):
        row = table[k]
        row["video_id"], row["part"], row["pack"] = vid, p.part, p.file
        row["attrs"] = attrs_json(p.attrs)
        for n, se in p.offsets.items():
            row[n] = se
    f.create_dataset(ITEMS, data=table)


class Rows:
    """Rows [start, stop) of a pack's dataset, read like an h5py dataset of their own."""

    def __init__(self, ds: h5py.Dataset, start: int, stop: int) -> None:
        self.ds, self.start, self.stop = ds, start, stop

    @property
    def shape(self) -> tuple[int, ...]:
        return (self.stop - self.start, *self.ds.shape[1:])

    @property
    def dtype(self) -> np.dtype:
        return self.ds.dtype

    def __len__(self) -> int:
        return self.stop - self.start

    def __getitem__(self, key: Any) -> Any:
        if key is Ellipsis or (isinstance(key, tuple) and not key):
            return self.ds[self.start:self.stop]
        if isinstance(key, slice):
            lo, hi, step = key.indices(len(self))
            if step > 0:
                return self.ds[self.start + lo:self.start + max(lo, hi):step]
        return self.ds[self.start:self.stop][key]


class IndexItems:
    """The ``items`` table of an open index file: which items are packed, where their rows are."""

    def __init__(self, f: h5py.File) -> None:
        self.f = f
        self.where: dict[str, dict[str, int]] = {}
        table = f.get(ITEMS)
        rows: Any = table[()] if isinstance(table, h5py.Dataset) else None
        if rows is not None:
            for k, (vid, part) in enumerate(zip(rows["video_id"], rows["part"], strict=True)):
                self.where.setdefault(_text(vid), {})[_text(part)] = k
        self.rows = rows if rows is not None else np.zeros(0)
        self._names = [n for n in self.rows.dtype.names or () if n not in FIXED]
        self._datasets: dict[str, h5py.Dataset] = {}

    def videos(self) -> list[str]:
        """Ids of the packed items (those with rows in the index's own store)."""
        return [v for v, parts in self.where.items() if "" in parts]

    def __contains__(self, vid: str) -> bool:
        return "" in self.where.get(vid, {})

    def item(self, vid: str) -> ItemView:
        if vid not in self:
            raise KeyError(vid)
        return ItemView(self, vid, "")

    def attrs(self, vid: str, part: str) -> dict[str, Any]:
        """The part's attributes as HDF5 attributes would hold them (dicts and lists as JSON
        text, None as ""), so :func:`~emoprep.io.hdf5.decode_attrs` reads both layouts alike."""
        raw = json.loads(_text(self.rows[self.where[vid][part]]["attrs"]))
        return {k: _encode_attr(v) for k, v in raw.items()}

    def datasets(self, vid: str, part: str) -> dict[str, tuple[int, int]]:
        row = self.rows[self.where[vid][part]]
        return {n: (int(row[n][0]), int(row[n][1])) for n in self._names if row[n][0] >= 0}

    def rows_of(self, vid: str, part: str, name: str) -> Rows:
        row = self.rows[self.where[vid][part]]
        start, stop = (int(x) for x in row[name]) if name in self._names else (-1, -1)
        if start < 0:
            raise KeyError(f"{vid}: no dataset {name!r}" + (f" in {part!r}" if part else ""))
        key = f"{PACKS}/{_text(row['pack'])}/{name}"
        ds = self._datasets.get(key)
        if ds is None:  # once per pack and name: each lookup through a link opens the pack
            ds = self._datasets[key] = self.f[key]
        return Rows(ds, start, stop)


class ItemView:
    """A packed item (or one of its parts) read like its ``videos/<id>`` group: ``view[name]``
    (a dataset as :class:`Rows`, a part such as ``au``, a path ``au/au``), ``name in view``,
    ``keys()``, ``attrs``."""

    def __init__(self, items: IndexItems, vid: str, part: str) -> None:
        self.items, self.vid, self.part = items, vid, part

    def _child(self, name: str) -> str:
        return f"{self.part}/{name}" if self.part else name

    def _parts(self) -> dict[str, int]:
        return self.items.where[self.vid]

    @property
    def attrs(self) -> dict[str, Any]:
        return self.items.attrs(self.vid, self.part) if self.part in self._parts() else {}

    def keys(self) -> list[str]:
        own = list(self.items.datasets(self.vid, self.part)) if self.part in self._parts() else []
        prefix = self._child("")
        subs = {p[len(prefix):].split("/")[0] for p in self._parts()
                if p and p.startswith(prefix) and p != self.part}
        return own + sorted(subs)

    def __iter__(self) -> Iterator[str]:
        return iter(self.keys())

    def __contains__(self, name: str) -> bool:
        try:
            self[name]
        except KeyError:
            return False
        return True

    def __getitem__(self, name: str) -> Rows | ItemView:
        head, _, rest = name.partition("/")
        child = self._child(head)
        if any(p == child or p.startswith(child + "/") for p in self._parts()):
            view = ItemView(self.items, self.vid, child)
            return view[rest] if rest else view
        if rest or self.part not in self._parts():
            raise KeyError(f"{self.vid}: no {self._child(name)!r}")
        return self.items.rows_of(self.vid, self.part, name)
