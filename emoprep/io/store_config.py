"""The ``store:`` section of the manifest (compression of every shard).

Apart from :mod:`emoprep.io.hdf5` so that reading a manifest does not import h5py.
"""

from __future__ import annotations

from enum import Enum

from pydantic import BaseModel, ConfigDict, Field


class Compression(str, Enum):
    GZIP = "gzip"  #: readable everywhere (default)
    LZF = "lzf"  #: faster, h5py-only filter
    NONE = "none"


class StoreConfig(BaseModel):
    model_config = ConfigDict(extra="forbid")

    compression: Compression = Compression.GZIP
    level: int = Field(1, ge=0, le=9, description="gzip level")


__all__ = ["Compression", "StoreConfig"]
