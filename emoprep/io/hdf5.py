"""The one storage contract: HDF5 shards written atomically, index files that link them, readers.

Every shard is written to a hidden temporary name in its folder and renamed into place when
complete, so a killed writer never leaves a file that looks valid. Index files are rebuilt the
same way. All h5py errors leave this module as :class:`StoreError`.
"""

from __future__ import annotations

import errno
import json
import os
from collections.abc import Callable, Iterator, Mapping
from functools import lru_cache
from pathlib import Path
from typing import Any

import h5py
import numpy as np

from emoprep.errors import StoreError
from emoprep.io.atomic import check_run_token, disk_full, fsync_path, is_disk_full, temp_sibling
from emoprep.io.chunks import dataset_level, write_rows
from emoprep.io.store_config import SCHEMA_VERSION, Compression, IndexRow, StoreConfig

#: free bytes kept besides each write: room for the metadata HDF5 flushes when it closes a file
FREE_MARGIN = 1 << 20


#: a folder's free space is asked again after this many bytes were asked for in it ...
SPACE_RECHECK = 64 << 20
#: ... or whenever the free space it may have left (last answer minus bytes asked since) is below
#: this: near a full disk every write asks
SPACE_HEADROOM = 512 << 20
#: folder -> [free bytes at its last statvfs, bytes asked for there since]
_space: dict[str, list[int]] = {}


def ensure_space(path: Path, nbytes: int) -> None:
    """Raise :class:`DiskFullError` unless the file system of ``path`` has ``nbytes`` +
    :data:`FREE_MARGIN` free. HDF5 cannot recover from ENOSPC in the middle of a file (its
    metadata cache is left broken and the process crashes when the file is closed), so every
    HDF5 write asks first; the check is one ``statvfs`` per :data:`SPACE_RECHECK` bytes asked in
    a folder while more than :data:`SPACE_HEADROOM` is left, else one per block of rows (a batch
    of small items writes ~20 datasets per item: one ``statvfs`` each cost 1 ms per item)."""
    seen = _space.get(str(path.parent))
    if seen is not None:
        seen[1] += nbytes
        if seen[1] < SPACE_RECHECK and seen[0] - seen[1] >= SPACE_HEADROOM:
            return
    try:
        st = os.statvfs(path.parent)
    except OSError:
        return
    free = st.f_bavail * st.f_frsize
    _space[str(path.parent)] = [free, 0]
    if free < nbytes + FREE_MARGIN:
        raise disk_full(path, OSError(errno.ENOSPC, f"No space left on device: {free} bytes "
                                           f"free, {nbytes} needed"))


def _disk_full(path: Path, exc: BaseException) -> Exception:
    """:func:`disk_full` for ``path`` with the plain reason: HDF5's own text ("Write through page
    buffer failed (file write failed: time = ...") buries the ENOSPC in its 300 characters."""
    return disk_full(path, OSError(errno.ENOSPC, os.strerror(errno.ENOSPC)))


class _SpaceCheckedDataset:
    """An h5py dataset whose writes first check for free space (:func:`ensure_space`); rows of
    a one-row-per-chunk gzip dataset written whole are compressed here
    (:func:`~emoprep.io.chunks.write_rows`)."""

    def __init__(self, ds: h5py.Dataset, path: Path) -> None:
        self._ds, self._path = ds, path
        self._level = dataset_level(ds)

    def __setitem__(self, key: Any, value: Any) -> None:
        arr = np.asarray(value)
        ensure_space(self._path, arr.nbytes)
        rows = self._rows(key, arr)
        if rows is None:
            self._ds[key] = value
        else:
            assert self._level is not None  # rows only where this class compresses
            write_rows(self._ds, rows, arr.reshape(-1, *self._ds.shape[1:]), self._level)

    def _rows(self, key: Any, arr: np.ndarray) -> int | None:
        """The first row when ``key`` sets whole rows this class compresses itself, else None."""
        if self._level is None or arr.dtype != self._ds.dtype:
            return None
        n = len(self._ds)
        if isinstance(key, int | np.integer) and 0 <= key < n \
                and arr.shape == self._ds.shape[1:]:
            return int(key)
        if isinstance(key, slice) and key.step in (None, 1):
            lo, hi, _ = key.indices(n)
            if hi > lo and arr.shape == (hi - lo, *self._ds.shape[1:]):
                return lo
        return None

    def __getitem__(self, key: Any) -> Any:
        return self._ds[key]

    def __len__(self) -> int:
        return len(self._ds)

    def __getattr__(self, name: str) -> Any:
        return getattr(self._ds, name)


def _encode_attr(value: Any) -> Any:
    if isinstance(value, dict | list | tuple) and not isinstance(value, np.ndarray):
        return json.dumps(value, sort_keys=True)
    if value is None:
        return ""
    return value


def decode_attrs(
    attrs: Mapping[str, Any], json_keys: tuple[str, ...] = ("labels", "fingerprints")
) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for k, v in attrs.items():
        if isinstance(v, bytes):
            v = v.decode()
        if isinstance(v, np.generic):
            v = v.item()
        if k in json_keys and isinstance(v, str) and v:
            v = json.loads(v)
        out[k] = v
    return out


def _filters(cfg: StoreConfig) -> dict[str, Any]:
    if cfg.compression is Compression.GZIP:
        return {"compression": "gzip", "compression_opts": cfg.level, "shuffle": False}
    if cfg.compression is Compression.LZF:
        return {"compression": "lzf"}
    return {}


class ShardWriter:
    """Write one HDF5 shard atomically::

        with ShardWriter(path, attrs, cfg) as w:
            ds = w.stream("frames", (T, S, S, 3), np.uint8)   # chunked per frame, compressed
            ds[i] = crop
            w.array("boxes", boxes)
    """

    def __init__(
        self, path: Path, attrs: Mapping[str, Any], cfg: StoreConfig | None = None
    ) -> None:
        self.path = Path(path)
        self.attrs = dict(attrs)
        self.cfg = cfg or StoreConfig()
        self.tmp = temp_sibling(self.path)
        self._file: h5py.File | None = None

    def __enter__(self) -> ShardWriter:
        check_run_token(self.path)
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            ensure_space(self.path, 0)
            self._file = h5py.File(self.tmp, "w", libver="latest")
            self._file.attrs["schema_version"] = SCHEMA_VERSION
            for k, v in self.attrs.items():
                self._file.attrs[k] = _encode_attr(v)
        except OSError as exc:
            self._cleanup()
            if is_disk_full(exc):
                raise _disk_full(self.path, exc) from exc
            raise StoreError(f"shard {self.path}: cannot create ({exc})") from exc
        return self

    @property
    def file(self) -> h5py.File:
        assert self._file is not None, "ShardWriter used outside its with-block"
        return self._file

    def stream(self, name: str, shape: tuple[int, ...], dtype: Any, rows: int = 1) -> Any:
        """A dataset chunked along axis 0 (``rows`` items per chunk), compressed per the store
        config; each write checks for free space first (:func:`ensure_space`)."""
        chunks = (min(rows, shape[0]), *shape[1:]) if shape and shape[0] > 0 else None
        kw = _filters(self.cfg) if chunks else {}
        ds = self.file.create_dataset(name, shape=shape, dtype=dtype, chunks=chunks, **kw)
        return _SpaceCheckedDataset(ds, self.path)

    def array(self, name: str, data: np.ndarray) -> None:
        arr = np.asarray(data)
        if arr.dtype.kind == "U":
            arr = arr.astype(h5py.string_dtype())
        ensure_space(self.path, arr.nbytes)
        self.file.create_dataset(name, data=arr)

    def set_attr(self, name: str, value: Any) -> None:
        self.file.attrs[name] = _encode_attr(value)

    def __exit__(self, exc_type, exc, tb) -> None:
        try:
            if self._file is not None:
                self._file.close()
        except Exception as err:  # flushing the last chunks can hit a full disk
            exc = exc or err
        finally:
            self._file = None
        if exc is not None:
            self._cleanup()
            if isinstance(exc, Exception) and is_disk_full(exc):
                raise _disk_full(self.path, exc) from exc
            if exc_type is None:  # only closing failed
                raise StoreError(f"shard {self.path}: cannot write ({exc})") from exc
            return
        try:
            fsync_path(self.tmp)
            check_run_token(self.path)
            os.replace(self.tmp, self.path)
        except OSError as err:
            self._cleanup()
            raise StoreError(f"shard {self.path}: cannot move into place ({err})") from err
        except BaseException:
            self._cleanup()
            raise

    def _cleanup(self) -> None:
        self.tmp.unlink(missing_ok=True)


def write_arrays(path: Path, arrays: Mapping[str, np.ndarray], attrs: Mapping[str, Any],
                 cfg: StoreConfig | None = None) -> None:
    """Write a small shard of plain arrays (no per-item chunking)."""
    with ShardWriter(path, attrs, cfg) as w:
        for k, v in arrays.items():
            w.array(k, v)


def read_arrays(
    path: Path, names: tuple[str, ...] | None = None
) -> tuple[dict[str, np.ndarray], dict[str, Any]]:
    """All (or the named) datasets of a shard as arrays, and its decoded attributes."""
    try:
        with h5py.File(path, "r") as f:
            keys = (
                names
                if names is not None
                else tuple(k for k in f if isinstance(f[k], h5py.Dataset))
            )
            arrays = {k: f[k][()] for k in keys}
            return arrays, decode_attrs(f.attrs)
    except (OSError, KeyError) as exc:
        raise StoreError(f"shard {path}: cannot read ({exc})") from exc


_TABLE_DTYPE = np.dtype([
    ("video_id", h5py.string_dtype()), ("subject", h5py.string_dtype()),
    ("labels", h5py.string_dtype()), ("status", h5py.string_dtype()),
    ("n_frames", np.int64), ("n_face", np.int64), ("error", h5py.string_dtype()),
])


def build_index(path: Path, rows: list[IndexRow], attrs: Mapping[str, Any],
                extra: Callable[[h5py.File], None] | None = None) -> None:
    """(Re)write an index file atomically: a ``table`` of every video; under ``videos/<id>``,
    external links to the shard datasets of the per-video items that are done; then ``extra``
    writes what else the file holds (the packed items: :func:`emoprep.io.index_items.write_items`).
    """
    table = np.array(
        [(r.video_id, r.subject, json.dumps(r.labels, sort_keys=True), r.status, r.n_frames,
          r.n_face, r.error) for r in rows],
        dtype=_TABLE_DTYPE,
    )
    with ShardWriter(path, attrs) as w:
        w.array("table", table)
        videos = w.file.create_group("videos")
        for r in rows:
            if not r.links or r.parts:
                continue
            g = videos.create_group(r.video_id)
            for k, v in r.attrs.items():
                g.attrs[k] = _encode_attr(v)
            for name, (shard, obj) in r.links.items():
                g[name] = h5py.ExternalLink(shard, obj)
        if extra is not None:
            extra(w.file)


def shard_rows(path: Path) -> tuple[dict[str, tuple[int, int]], dict[str, Any]]:
    """(dataset -> [0, rows) of every top-level dataset, decoded attributes) of a shard: a
    shard as one part of a packed item (:class:`~emoprep.io.store_config.ItemPart`)."""
    try:
        with h5py.File(path, "r") as f:
            rows = {k: (0, int(ds.shape[0])) for k, ds in f.items()
                    if isinstance(ds, h5py.Dataset) and ds.ndim}
            return rows, decode_attrs(f.attrs, json_keys=())
    except OSError as exc:
        raise StoreError(f"shard {path}: cannot read ({exc})") from exc


def shard_links(path: Path, rel: str, prefix: str = "") -> dict[str, tuple[str, str]]:
    """One external link per top-level object of a shard (``prefix`` namespaces them)."""
    try:
        with h5py.File(path, "r") as f:
            return {f"{prefix}{k}": (rel, f"/{k}") for k in f}
    except OSError as exc:
        raise StoreError(f"shard {path}: cannot read ({exc})") from exc


def read_table(path: Path) -> list[dict[str, Any]]:
    """The ``table`` of an index file as a list of dicts (labels decoded)."""
    try:
        with h5py.File(path, "r") as f:
            rows = f["table"][()]
    except (OSError, KeyError) as exc:
        raise StoreError(f"index {path}: cannot read its table ({exc})") from exc
    out = []
    for row in rows:
        d = {name: row[name] for name in _TABLE_DTYPE.names or ()}
        d = {
            k: (
                v.decode()
                if isinstance(v, bytes)
                else (v.item() if isinstance(v, np.generic) else v)
            )
            for k, v in d.items()
        }
        d["labels"] = json.loads(d["labels"]) if d["labels"] else {}
        out.append(d)
    return out


def verify_shard(path: Path, block: int = 64) -> str:
    """Read every dataset of a shard in full (``block`` items at a time) and every attribute;
    the first problem as text, "" when the whole file reads. Used by ``status --verify``; a pack
    (whose items' records all name it) is read once while it is unchanged."""
    try:
        st = os.stat(path)
    except OSError as exc:
        return f"cannot open ({str(exc)[:100]})"
    return _verify(str(path), st.st_ctime_ns, st.st_size, st.st_mtime_ns, block)


@lru_cache(maxsize=64)
def _verify(path: str, ctime_ns: int, size: int, mtime_ns: int, block: int) -> str:
    problems: list[str] = []

    def visit(name: str, obj: Any) -> None:
        if problems:
            return
        try:
            dict(obj.attrs)
            if isinstance(obj, h5py.Dataset):
                if obj.shape and obj.shape[0] > block:
                    for i in range(0, obj.shape[0], block):
                        obj[i : i + block]
                else:
                    obj[()]
        except (OSError, KeyError, ValueError, RuntimeError) as exc:
            problems.append(f"{name}: {str(exc)[:100]}")

    try:
        with h5py.File(path, "r") as f:
            dict(f.attrs)
            f.visititems(visit)
    except (OSError, KeyError, ValueError, RuntimeError) as exc:
        return f"cannot open ({str(exc)[:100]})"
    return f"cannot read {problems[0]}" if problems else ""


def iter_shard_dataset(path: Path, name: str, chunk: int = 64) -> Iterator[np.ndarray]:
    """Stream a dataset's items along axis 0, ``chunk`` at a time (never the whole array)."""
    try:
        with h5py.File(path, "r") as f:
            ds = f[name]
            for i in range(0, ds.shape[0], chunk):
                yield from ds[i : i + chunk]
    except (OSError, KeyError) as exc:
        raise StoreError(f"shard {path}: cannot read {name} ({exc})") from exc
