"""The ``store:`` section of the manifest (compression of every shard), the schema version and
the row of an index file.

Apart from :mod:`emoprep.io.hdf5` so that reading a manifest, planning and a no-op run (which
decides from a stamp whether an index changed) do not import h5py.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import Enum
from typing import Any

from pydantic import BaseModel, ConfigDict, Field


class Compression(str, Enum):
    GZIP = "gzip"  #: readable everywhere (default)
    LZF = "lzf"  #: faster, h5py-only filter
    NONE = "none"


class StoreConfig(BaseModel):
    model_config = ConfigDict(extra="forbid")

    compression: Compression = Compression.GZIP
    level: int = Field(1, ge=0, le=9, description="gzip level")


#: ``schema_version`` attribute of every shard and index file
SCHEMA_VERSION = 1
#: ``schema_version`` of a pack (a batch's items in one file) and of an index linking one
PACKED_SCHEMA = 2

#: the stores of an output folder (docs/STORE.md), by name: the stages that write them declare
#: them with these names (``pipeline/steps/``), the readers open them with them
#: (``Layout.index_file(FRAMES_STORE)``, ``Layout.shard(AU_STORE, video_id)``)
FRAMES_STORE = "frames"
AU_STORE = "au"


def features_store(embedder: str) -> str:
    """The feature store of an embedder: ``features/<embedder>`` (index ``features/<name>.h5``)."""
    return f"features/{embedder}"


@dataclass
class ItemPart:
    """One part of a packed item in an index file (schema 2, :mod:`emoprep.io.index_items`): where
    its rows are and its attributes, a row of the index's ``items`` table."""

    part: str  #: "" for the index's own store, else the link's name or prefix (``au``)
    file: str  #: the pack (or a shard), relative to the index file's folder
    target: str  #: the group of that file holding the datasets (``/data`` in a pack, ``/``)
    offsets: dict[str, tuple[int, int]]  #: dataset name -> [start, stop) of its rows
    attrs: dict[str, Any] = field(default_factory=dict)


@dataclass
class IndexRow:
    """One video of an index file's ``table``, with the links to its shard datasets."""

    video_id: str
    subject: str
    labels: dict[str, str]
    status: str  # "ok" | "failed" | "pending"
    n_frames: int = 0
    n_face: int = 0
    error: str = ""
    # name -> (shard rel path, object)
    links: dict[str, tuple[str, str]] = field(default_factory=dict)
    attrs: dict[str, Any] = field(default_factory=dict)
    #: an item with an output in a pack: its parts, rows of the ``items`` table (no links then)
    parts: list[ItemPart] = field(default_factory=list)
