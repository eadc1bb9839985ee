"""Where everything lives in an output folder. One place, so no module invents a path.

The per-video outputs are the :class:`Artifact` s the stages declare (``StageDef.outputs`` in
``emoprep/pipeline/steps/``). Their paths (:meth:`Layout.artifact_path`), the temporaries sweep
and the index files follow from those declarations, so a new stage adds nothing here::

    out/
      <store>.h5                       index of a store: one row per video, links to its shards
      <store>/<video_id>.h5            a shard (Artifact.shard): one video's output of a stage
      splits/<split>.json              subject-independent folds
      plots/<video_id>_trim.png        AU-trim plots (--plots / emoprep report)
      summary.json                     summary of the last run
      .emoprep/records.sqlite          fingerprint + outcome of each unit (one row per unit)
      .emoprep/records/<stage>/<video_id>.json   the same in folders made before it (moved into
                                       the database by the next run)
      .emoprep/work/<stage>/<video_id>.*         a work file (Artifact.work): small intermediates
      .emoprep/indexes/<index>.json    digest, size and mtime of each index file as last written
      .emoprep/hashes.json             content-hash cache of raw videos
      .emoprep/lock                    held while a run writes here

The stores of today's stages (docs/STORE.md; their names: :mod:`emoprep.io.store_config`):
``frames.h5`` and ``frames/<video_id>.h5`` (crops and geometry; ``au/<video_id>.h5`` is linked
from it), ``features/<name>.h5`` and ``features/<name>/[@<aug>/]<video_id>.h5`` per embedder.
"""

from __future__ import annotations

import os
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, replace
from enum import Enum
from functools import cached_property
from pathlib import Path, PurePosixPath
from typing import TYPE_CHECKING, Any, Protocol

if TYPE_CHECKING:
    import numpy as np

    from emoprep.io.store_config import StoreConfig

#: where the per-video work files live, relative to the output folder
WORK = PurePosixPath(".emoprep/work")
#: the folder of the packs (a batch's outputs in one file) inside an artifact's folder
PACKS = "packs"


def is_pack(rel: str) -> bool:
    """True for a pack's path (relative to the output folder): ``<folder>/packs/b<digits>.h5``
    (the batch names of pipeline/batches.py)."""
    folder, _, name = rel.rpartition("/")
    return (folder == PACKS or folder.endswith(f"/{PACKS}")) and name[:1] == "b" \
        and name.endswith(".h5") and name[1:-3].isdigit()


def stage_dirname(stage: str) -> str:
    """File-system name of a stage (``"<family>:<name>@<aug>"`` -> ``"<family>-<name>@<aug>"``)."""
    return stage.replace(":", "-")


def shard_pattern(folder: str) -> str:
    """The path pattern of the per-video shards in ``folder``: ``<folder>/{video_id}.h5``."""
    return f"{folder}/{{video_id}}.h5"


class ArtifactKind(str, Enum):
    WORK = "work"  #: an intermediate of the engine: ``.emoprep/work/<stage>/<video_id><suffix>``
    SHARD = "shard"  #: a per-video HDF5 shard of a store, read by code outside emoprep too


class Linked(str, Enum):
    """How an index file links a shard in a video's group (``videos/<video_id>/``)."""

    #: the index's rows: a row's state is this stage's, the shard's datasets are linked at the top
    #: of the group and its attributes are the group's
    ROWS = "rows"
    #: one external link ``<name>`` to the shard's root, when its stage's record is ok and the
    #: file exists (the record's state is part of the row either way)
    LINK = "link"
    #: the shard's datasets linked under the prefix ``<name>``, when its stage's record is ok and
    #: current (a variant of the rows, e.g. an augmentation)
    GROUP = "group"


@dataclass(frozen=True)
class Indexed:
    """Which index file links a shard artifact (``<into>.h5``; ``""``: its own store's) and how."""

    into: str = ""
    how: Linked = Linked.ROWS
    name: str = ""

    @classmethod
    def rows(cls) -> Indexed:
        """The artifact gives the rows of its own store's index."""
        return cls()

    @classmethod
    def link(cls, into: str, name: str) -> Indexed:
        """An external link ``name`` in each ok row of ``into``'s index."""
        return cls(into, Linked.LINK, name)

    @classmethod
    def group(cls, into: str, prefix: str) -> Indexed:
        """The shard's datasets under ``prefix`` (ending in ``/``) in each ok row of ``into``'s
        index."""
        return cls(into, Linked.GROUP, prefix)


@dataclass(frozen=True)
class Artifact:
    """One output a stage writes per video: its kind, the path pattern (relative to the output
    folder, ``{video_id}`` filled in), for a shard the store it belongs to and, when an index file
    links it, how (:class:`Indexed`, with ``into`` resolved)."""

    kind: ArtifactKind
    pattern: str
    store: str = ""
    index: Indexed | None = None

    def __post_init__(self) -> None:
        if self.index is not None and not self.index.into:
            object.__setattr__(self, "index", replace(self.index, into=self.store))

    @classmethod
    def work(cls, stage: str, suffix: str) -> Artifact:
        """A work file of ``stage``: ``.emoprep/work/<stage>/<video_id><suffix>``."""
        return cls(ArtifactKind.WORK, f"{WORK}/{stage_dirname(stage)}/{{video_id}}{suffix}")

    @classmethod
    def shard(cls, store: str, folder: str = "", index: Indexed | None = None) -> Artifact:
        """A shard of ``store`` in ``<folder or store>/<video_id>.h5``, linked by ``index``."""
        return cls(ArtifactKind.SHARD, shard_pattern(folder or store), store, index)

    @property
    def folder(self) -> PurePosixPath:
        """The folder that holds every video's file (what the temporaries sweep looks into)."""
        return PurePosixPath(self.pattern).parent

    @property
    def filename(self) -> str:
        """The file name pattern inside :attr:`folder` (``{video_id}`` to fill in)."""
        return PurePosixPath(self.pattern).name

    def path(self, layout: Layout, video_id: str) -> Path:
        return layout.artifact_path(self, video_id)

    def pack(self, layout: Layout, batch_id: str) -> Path:
        """The pack of batch ``batch_id`` (schema 2): ``<folder>/packs/<batch_id>.h5``, one file
        holding the output of every item of the batch (:mod:`emoprep.io.packs`)."""
        return Path(f"{layout.root_str}/{self.folder}/{PACKS}/{batch_id}.h5")


@dataclass(frozen=True)
class Layout:
    root: Path

    @property
    def io(self) -> ItemIO:
        """How the stages read and write an item's outputs here: one file per video
        (:class:`~emoprep.io.layout.FileIO`); inside a batch, its packs."""
        return FileIO(self)

    @cached_property
    def meta_dir(self) -> Path:
        return self.root / ".emoprep"

    @cached_property
    def _records(self) -> str:
        return os.path.join(self.meta_dir, "records")

    @property
    def records_dir(self) -> Path:
        """One folder per stage (:func:`stage_dirname`), one record file per video in it."""
        return Path(self._records)

    @property
    def lock(self) -> Path:
        return self.meta_dir / "lock"

    @property
    def hashes(self) -> Path:
        return self.meta_dir / "hashes.json"

    @property
    def summary(self) -> Path:
        return self.root / "summary.json"

    @property
    def record_snapshot(self) -> Path:
        return self.meta_dir / "records.snapshot.json"

    def record(self, stage: str, video_id: str) -> Path:
        return Path(self.record_file(stage, video_id))

    def record_file(self, stage: str, video_id: str) -> str:
        """:meth:`record` as a string: a plan reads one record per (stage, video) unit."""
        return f"{self._records}/{stage_dirname(stage)}/{video_id}.json"

    def work(self, stage: str, video_id: str, suffix: str) -> Path:
        """The work file of ``stage`` (:meth:`Artifact.work`) for ``video_id``."""
        return self.artifact_path(Artifact.work(stage, suffix), video_id)

    def artifact_path(self, artifact: Artifact, video_id: str) -> Path:
        """Where ``artifact`` of ``video_id`` lives (one Path from a joined string: per-video
        paths are made for every video by each run)."""
        return Path(f"{self.root_str}/{artifact.pattern.format(video_id=video_id)}")

    def shard(self, store: str, video_id: str) -> Path:
        """The shard of ``video_id`` in ``store``'s own folder (what readers open)."""
        return Path(f"{self.root_str}/{shard_pattern(store).format(video_id=video_id)}")

    def index_file(self, store: str) -> Path:
        """The index file of ``store``: ``<store>.h5`` (``features/<name>`` ->
        ``features/<name>.h5``)."""
        return self.root / f"{store}.h5"

    def index_stamp(self, index: Path) -> Path:
        """Digest, size and mtime of an index file as last written (pipeline/indexes.py)."""
        name = self.rel(index).replace("/", "-")
        return self.meta_dir / "indexes" / f"{name}.json"

    @cached_property
    def root_str(self) -> str:
        return str(self.root)

    def split(self, name: str) -> Path:
        return self.root / "splits" / f"{name}.json"

    def plot(self, video_id: str, kind: str = "trim") -> Path:
        return self.root / "plots" / f"{video_id}_{kind}.png"

    def rel(self, path: Path) -> str:
        return str(Path(path).relative_to(self.root))


# --- how a stage reads and writes an item's output ---------------------------------------------

class ItemWriter(Protocol):
    """What :meth:`ItemIO.writer` gives (a context manager): the interface of
    :class:`~emoprep.io.hdf5.ShardWriter`."""

    path: Path  #: the file the item's output ends up in (its shard, or its batch's pack)

    def __enter__(self) -> ItemWriter: ...

    def __exit__(self, exc_type: Any, exc: Any, tb: Any) -> None: ...

    def stream(self, name: str, shape: tuple[int, ...], dtype: Any, rows: int = 1) -> Any: ...

    def array(self, name: str, data: np.ndarray) -> None: ...

    def set_attr(self, name: str, value: Any) -> None: ...


class ItemIO(Protocol):
    """Reads and writes of one item's outputs (every write returns the output's file)."""

    def save_json(self, artifact: Artifact, video_id: str, obj: Any) -> Path: ...

    def load_json(self, artifact: Artifact, video_id: str) -> Any: ...

    def save_npz(self, artifact: Artifact, video_id: str, arrays: dict[str, Any]) -> Path: ...

    def load_npz(self, artifact: Artifact, video_id: str,
                 names: tuple[str, ...] | None = None) -> dict[str, np.ndarray]: ...

    def writer(self, artifact: Artifact, video_id: str, attrs: Mapping[str, Any],
               cfg: StoreConfig | None = None) -> ItemWriter: ...

    def write_arrays(self, artifact: Artifact, video_id: str, arrays: Mapping[str, np.ndarray],
                     attrs: Mapping[str, Any]) -> Path: ...

    def read_arrays(self, artifact: Artifact, video_id: str, names: tuple[str, ...] | None = None
                    ) -> tuple[dict[str, np.ndarray], dict[str, Any]]: ...

    def iter_dataset(self, artifact: Artifact, video_id: str, name: str
                     ) -> Iterator[np.ndarray]: ...


class FileIO:
    """One file per (artifact, video): ``artifact.path(layout, video_id)`` (schema 1)."""

    def __init__(self, layout: Layout) -> None:
        self.layout = layout

    def _path(self, artifact: Artifact, video_id: str) -> Path:
        return artifact.path(self.layout, video_id)

    def save_json(self, artifact: Artifact, video_id: str, obj: Any) -> Path:
        from emoprep.io.workfiles import save_json

        path = self._path(artifact, video_id)
        save_json(path, obj)
        return path

    def load_json(self, artifact: Artifact, video_id: str) -> Any:
        from emoprep.io.workfiles import load_json

        return load_json(self._path(artifact, video_id))

    def save_npz(self, artifact: Artifact, video_id: str, arrays: dict[str, Any]) -> Path:
        from emoprep.io.workfiles import save_npz

        path = self._path(artifact, video_id)
        save_npz(path, arrays)
        return path

    def load_npz(self, artifact: Artifact, video_id: str,
                 names: tuple[str, ...] | None = None) -> dict[str, np.ndarray]:
        from emoprep.io.workfiles import load_npz

        return load_npz(self._path(artifact, video_id), names)

    def writer(self, artifact: Artifact, video_id: str, attrs: Mapping[str, Any],
               cfg: StoreConfig | None = None) -> ItemWriter:
        from emoprep.io.hdf5 import ShardWriter

        return ShardWriter(self._path(artifact, video_id), attrs, cfg)

    def write_arrays(self, artifact: Artifact, video_id: str, arrays: Mapping[str, np.ndarray],
                     attrs: Mapping[str, Any]) -> Path:
        from emoprep.io.hdf5 import write_arrays

        path = self._path(artifact, video_id)
        write_arrays(path, arrays, attrs)
        return path

    def read_arrays(self, artifact: Artifact, video_id: str, names: tuple[str, ...] | None = None
                    ) -> tuple[dict[str, np.ndarray], dict[str, Any]]:
        from emoprep.io.hdf5 import read_arrays

        return read_arrays(self._path(artifact, video_id), names)

    def iter_dataset(self, artifact: Artifact, video_id: str, name: str
                     ) -> Iterator[np.ndarray]:
        from emoprep.io.hdf5 import iter_shard_dataset

        return iter_shard_dataset(self._path(artifact, video_id), name)
