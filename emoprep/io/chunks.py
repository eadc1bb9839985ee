"""Gzip chunks compressed in this process with libdeflate and written as stored (issue 22).

A dataset chunked one row per chunk with HDF5's gzip filter (the face crops: one (S, S, 3) frame
per chunk) costs, through h5py, one zlib ``deflate`` per chunk: on 160x160 crops of the sample
clips 1.72 ms per frame at level 1, the largest part of a short clip's overhead. The same zlib
stream made by libdeflate (the ``deflate`` package) at level 5 takes 1.19 ms per frame and is 1 %
smaller (ratio 1.537 against 1.521; ``benchmarks/small_clips.py --codecs`` measures it). Each
stream is written with ``write_direct_chunk`` under the dataset's own gzip filter, so every HDF5
reader (h5py, HDF5's C library, MATLAB, ...) decodes it as any gzip chunk: the file and the
pixels are what h5py alone would write, only the compressed bytes differ.

Levels: a store level ``L`` is written at libdeflate level ``max(L, 5)`` (at 1-4 zlib's ratio
is no better than at 1, which libdeflate 5 beats); without the package h5py compresses as before.
"""

from __future__ import annotations

from typing import Any

import h5py
import numpy as np


def _load_libdeflate() -> Any:
    try:
        import deflate
    except ImportError:  # pragma: no cover - the package is a dependency; h5py's zlib then
        return None
    return deflate


_libdeflate: Any = _load_libdeflate()

#: the lowest libdeflate level used (see the module's text)
MIN_LEVEL = 5


def fast_level(compression: Any, opts: Any, shuffle: bool, rows: int | None) -> int | None:
    """The libdeflate level a dataset with these settings is written at chunk by chunk, None
    when h5py writes it (not gzip, shuffled, more than one row per chunk, or no libdeflate)."""
    if _libdeflate is None or compression != "gzip" or shuffle or rows != 1:
        return None
    return max(MIN_LEVEL, int(4 if opts is None else opts))


def dataset_level(ds: h5py.Dataset) -> int | None:
    """:func:`fast_level` of an existing dataset (None for object or variable-length dtypes)."""
    if ds.dtype.kind == "O" or ds.chunks is None:
        return None
    return fast_level(ds.compression, ds.compression_opts, bool(ds.shuffle), ds.chunks[0])


def write_rows(ds: h5py.Dataset, start: int, block: np.ndarray, level: int) -> None:
    """Write the rows of ``block`` (n, ...) to rows [start, start + n) of ``ds`` (chunked one row
    per chunk, gzip), each compressed here and stored as one chunk; ``ds`` must already be at
    least start + n rows long."""
    assert _libdeflate is not None
    block = np.ascontiguousarray(block, dtype=ds.dtype)
    zeros = (0,) * (block.ndim - 1)
    for i in range(len(block)):
        ds.id.write_direct_chunk((start + i, *zeros),
                                 _libdeflate.zlib_compress(block[i:i + 1], level))
