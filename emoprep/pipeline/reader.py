"""Read API for the frame store: ``emoprep.open_store(out)``.

Files are opened lazily and re-opened in a new process (after fork), so a store object can be
handed to torch DataLoader workers.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import h5py
import numpy as np

from emoprep.errors import StoreError
from emoprep.pipeline.layout import Layout
from emoprep.pipeline.store import decode_attrs, read_table

_GEOMETRY = ("frame_index", "timestamps", "boxes", "landmarks", "status", "align_matrix")
_AU_ARRAYS = {"au": "au/au", "au_frame_index": "au/frame_index", "trim_score": "au/trim_score"}


class FrameStore:
    """Lazy reader over ``<out>/frames.h5`` (the index) and the shards it links."""

    def __init__(self, out: str | Path) -> None:
        self.layout = Layout(Path(out))
        self.path = self.layout.frames_index
        if not self.path.is_file():
            raise StoreError(f"frame store {self.path}: not found; run `emoprep run --out {out}` first")
        self._file: h5py.File | None = None
        self._pid = -1

    # -- file handling ---------------------------------------------------------------------------
    def _f(self) -> h5py.File:
        if self._file is None or self._pid != os.getpid():
            try:
                self._file = h5py.File(self.path, "r")
            except OSError as exc:
                raise StoreError(f"frame store {self.path}: cannot open ({exc})") from exc
            self._pid = os.getpid()
        return self._file

    def close(self) -> None:
        if self._file is not None and self._pid == os.getpid():
            self._file.close()
        self._file = None

    def __enter__(self) -> FrameStore:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def __getstate__(self) -> dict[str, Any]:
        return {"layout": self.layout, "path": self.path, "_file": None, "_pid": -1}

    # -- queries ---------------------------------------------------------------------------------
    def table(self) -> list[dict[str, Any]]:
        """Every video of the manifest: id, subject, labels, status (ok/failed/pending), counts."""
        return read_table(self.path)

    def videos(self) -> list[str]:
        """Ids of the videos whose frames are in the store, sorted."""
        return sorted(self._f()["videos"].keys())

    def _group(self, video_id: str) -> h5py.Group:
        try:
            return self._f()["videos"][video_id]
        except KeyError:
            raise StoreError(
                f"frame store {self.path}: no video {video_id!r} (have {len(self.videos())}; "
                "see .table() for failed ones)"
            ) from None

    def frames(self, video_id: str, index: slice | np.ndarray | None = None) -> np.ndarray:
        """Aligned crops (T, S, S, 3) uint8 RGB (or the selected frames)."""
        ds = self._group(video_id)["frames"]
        return ds[()] if index is None else ds[index]

    def meta(self, video_id: str) -> dict[str, Any]:
        """Labels, subject, geometry (frame_index, status, boxes, landmarks, ...) and AU data."""
        g = self._group(video_id)
        out = decode_attrs(g.attrs)
        for name in _GEOMETRY:
            if name in g:
                out[name] = g[name][()]
        if "au" in g:
            au = g["au"]
            for key, path in _AU_ARRAYS.items():
                out[key] = g[path][()]
            out["au_names"] = [n.decode() if isinstance(n, bytes) else str(n) for n in au["names"][()]]
            a = decode_attrs(au.attrs)
            out.update({k: a[k] for k in ("au_source", "trim_start", "trim_end", "trim_threshold") if k in a})
            out["anomaly"] = bool(a.get("anomaly", False))
        return out


def open_store(out: str | Path) -> FrameStore:
    """Open the frame store of an output folder for reading."""
    return FrameStore(out)
