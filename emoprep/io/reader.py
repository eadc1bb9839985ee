"""Read API for the frame store: ``emoprep.open_store(out)``.

Files are opened lazily and re-opened in a new process (after fork), so a store object can be
handed to torch DataLoader workers.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import h5py
import numpy as np

from emoprep.errors import StoreError
from emoprep.io.hdf5 import decode_attrs, read_table
from emoprep.io.index_items import IndexItems
from emoprep.io.layout import Layout
from emoprep.io.store_config import FRAMES_STORE, features_store

_GEOMETRY = ("frame_index", "timestamps", "boxes", "landmarks", "status", "detector",
             "align_matrix", "head_pose")
_AU_ARRAYS = {"au": "au/au", "au_frame_index": "au/frame_index", "trim_score": "au/trim_score"}


class _LazyFile:
    """Opens ``self.path`` on first use and again in each new process (fork-safe)."""

    path: Path
    _file: h5py.File | None = None
    _pid: int = -1
    _items: IndexItems | None = None

    def _f(self) -> h5py.File:
        if self._file is None or self._pid != os.getpid():
            try:
                self._file = h5py.File(self.path, "r")
            except OSError as exc:
                raise StoreError(f"store {self.path}: cannot open ({exc})") from exc
            self._pid = os.getpid()
            self._items = None
        return self._file

    def _packed(self) -> IndexItems:
        """The index's table of packed items (schema 2), read once per open file."""
        f = self._f()
        if self._items is None:
            with self._reading("its items table"):
                self._items = IndexItems(f)
        return self._items

    def _ids(self) -> list[str]:
        """Every item the index has: per-video groups and packed items, sorted."""
        return sorted([*self._f()["videos"].keys(), *self._packed().videos()])

    def _node(self, video_id: str) -> Any:
        """The item's ``videos/<id>`` group, or the view of a packed item's rows (both read
        alike: ``node["frames"][()]``, ``"au" in node``, ``node.attrs``); KeyError if neither."""
        videos = self._f()["videos"]
        if video_id in videos:
            return videos[video_id]
        return self._packed().item(video_id)

    @contextmanager
    def _reading(self, what: str) -> Iterator[None]:
        """Turn h5py's KeyError/OSError (missing object, broken link, corrupt shard) into a
        StoreError naming the store file and what was read."""
        try:
            yield
        except (KeyError, OSError) as exc:
            raise StoreError(
                f"store {self.path}: cannot read {what} ({type(exc).__name__}: {exc}); "
                "`emoprep status --verify` checks every shard"
            ) from exc

    def close(self) -> None:
        if self._file is not None and self._pid == os.getpid():
            self._file.close()
        self._file = None

    def __enter__(self):
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def __getstate__(self) -> dict[str, Any]:
        return {**self.__dict__, "_file": None, "_pid": -1, "_items": None}


class FrameStore(_LazyFile):
    """Lazy reader over ``<out>/frames.h5`` (the index) and the shards it links."""

    def __init__(self, out: str | Path) -> None:
        self.layout = Layout(Path(out))
        self.path = self.layout.index_file(FRAMES_STORE)
        if not self.path.is_file():
            raise StoreError(
                f"frame store {self.path}: not found; run `emoprep run --out {out}` first"
            )

    # -- queries ---------------------------------------------------------------------------------
    def table(self) -> list[dict[str, Any]]:
        """Every video of the manifest: id, subject, labels, status (ok/failed/pending), counts."""
        return read_table(self.path)

    def videos(self) -> list[str]:
        """Ids of the videos whose frames are in the store, sorted."""
        return self._ids()

    def _group(self, video_id: str) -> Any:
        try:
            return self._node(video_id)
        except KeyError:
            raise StoreError(
                f"frame store {self.path}: no video {video_id!r} (have {len(self.videos())}; "
                "see .table() for failed ones)"
            ) from None

    def frames(self, video_id: str, index: slice | np.ndarray | None = None) -> np.ndarray:
        """Aligned crops (T, S, S, 3) uint8 RGB (or the selected frames)."""
        with self._reading(f"frames of {video_id!r}"):
            ds = self._group(video_id)["frames"]
            return ds[()] if index is None else ds[index]

    def meta(self, video_id: str) -> dict[str, Any]:
        """Labels, subject, geometry (frame_index, status, boxes, landmarks, ...) and AU data."""
        g = self._group(video_id)
        with self._reading(f"metadata of {video_id!r}"):
            out = decode_attrs(g.attrs)
            for name in _GEOMETRY:
                if name in g:
                    out[name] = g[name][()]
            if "au" in g:
                au = g["au"]
                for key, path in _AU_ARRAYS.items():
                    out[key] = g[path][()]
                out["au_names"] = [n.decode() if isinstance(n, bytes) else str(n)
                                   for n in au["names"][()]]
                a = decode_attrs(au.attrs)
                out.update(
                    {
                        k: a[k]
                        for k in ("au_source", "trim_start", "trim_end", "trim_threshold")
                        if k in a
                    }
                )
                out["anomaly"] = bool(a.get("anomaly", False))
        return out

    # -- features and a summary ------------------------------------------------------------------
    def feature_names(self) -> list[str]:
        """Embedder names with a feature store beside this frame store (``features/<name>.h5``)."""
        return sorted(p.stem for p in (self.layout.root / "features").glob("*.h5"))

    def features(self, video_id: str, name: str) -> np.ndarray:
        """Per-frame features (T, D) float32 of ``video_id`` from ``features/<name>.h5``, one row
        per stored frame (rows of frames without a face are zeros)."""
        cache: dict[str, FeatureStore] = self.__dict__.setdefault("_features", {})
        if name not in cache:
            cache[name] = FeatureStore(self.layout.root, name)
        return np.asarray(cache[name].read(video_id)[0], np.float32)

    def close(self) -> None:
        for fs in self.__dict__.pop("_features", {}).values():
            fs.close()
        super().close()

    def __repr__(self) -> str:
        vids = self.videos()
        n = f"{len(vids)} video{'' if len(vids) == 1 else 's'}"
        crops = ""
        if vids:
            with self._reading(f"frames of {vids[0]!r}"):
                shape = self._group(vids[0])["frames"].shape
            crops = f", crops {shape[1]}x{shape[2]}"
        feats = ", ".join(self.feature_names()) or "none"
        return f"<FrameStore {self.layout.root}: {n}{crops}, features {feats}>"


def open_store(out: str | Path) -> FrameStore:
    """Open the frame store of an output folder for reading."""
    return FrameStore(out)


class FeatureStore(_LazyFile):
    """Lazy reader over ``<out>/features/<name>.h5`` and its shards (original and augmented)."""

    def __init__(self, out: str | Path, name: str) -> None:
        self.layout = Layout(Path(out))
        self.name = name
        self.path = self.layout.index_file(features_store(name))
        if not self.path.is_file():
            have = sorted(p.stem for p in (self.layout.root / "features").glob("*.h5"))
            raise StoreError(
                f"feature store {name!r} not found in {self.layout.root} (have: {have or 'none'}); "
                f"add it under stages.embed and run `emoprep run`"
            )

    def table(self) -> list[dict[str, Any]]:
        return read_table(self.path)

    def videos(self) -> list[str]:
        return self._ids()

    def augmentations(self, video_id: str) -> list[str]:
        with self._reading(f"augmentations of {video_id!r}"):
            g = self._node(video_id)
            return sorted(g["augmented"].keys()) if "augmented" in g else []

    def attrs(self, video_id: str) -> dict[str, Any]:
        with self._reading(f"attributes of {video_id!r}"):
            return decode_attrs(self._node(video_id).attrs)

    def read(self, video_id: str, augmentation: str | None = None) -> tuple[np.ndarray, np.ndarray]:
        """(features (T, D) float32, mask (T,) bool) of the original or an augmented variant."""
        try:
            g = self._node(video_id)
            if augmentation:
                g = g["augmented"][augmentation]
            return g["features"][()], g["mask"][()].astype(bool)
        except (KeyError, OSError) as exc:
            what = f"{video_id}@{augmentation}" if augmentation else video_id
            raise StoreError(f"feature store {self.name!r} ({self.path}): no features for {what} "
                             f"({type(exc).__name__})") from None

    def frame_index(self, video_id: str) -> np.ndarray:
        with self._reading(f"frame_index of {video_id!r}"):
            return self._node(video_id)["frame_index"][()]


def open_features(out: str | Path, name: str) -> FeatureStore:
    """Open one embedder's feature store: ``.videos()``, ``.read(id, augmentation=None)``."""
    return FeatureStore(out, name)
