"""What a stage declares (:class:`StageDef`), what a worker is handed (:class:`UnitTask`) and
what it returns (:class:`UnitResult`).

A stage is declared once, next to its runner, in ``emoprep/pipeline/steps/<stage>.py``::

    STAGE = StageDef(name="au", run=run, version=1, reads={"au": "au"}, upstream=("track",),
                     outputs=(Artifact.shard("au", index=Indexed.link("frames", "au")),))

A stage that reads frames declares a :class:`FrameConsumer` instead of a runner
(``StageDef(name="track", consumer=TrackConsumer, ...)``): the frame driver
(:mod:`emoprep.pipeline.driver`) decodes a video once and feeds every stale consumer of it.

``reads`` maps a fingerprint key to a config path (``"detect"``, ``"window.mode"``) or to a
callable of the config; the fingerprint holds exactly those values, with defaults filled in and
model-file paths left out (their sha256 is in ``models``). ``outputs`` places its files
(:class:`Artifact`, io/layout.py) and says which index file links them (:class:`Indexed`).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from enum import Enum
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

import numpy as np
from pydantic import BaseModel

from emoprep.io.layout import Artifact, ArtifactKind, Indexed, Layout, Linked
from emoprep.types import VideoEntry
from emoprep.versions import library_version

if TYPE_CHECKING:
    from emoprep.pipeline.config import StagesConfig
    from emoprep.pipeline.fingerprint import HashCache

__all__ = [  # Artifact and its parts are defined with the paths (io/layout.py), declared here
    "PATH_KEYS", "REDO", "Artifact", "ArtifactKind", "BatchJob", "ConfigView", "ConsumerFactory",
    "Copy", "Count",
    "FrameConsumer", "FrameNeed", "Indexed", "Job", "Linked", "Outputs", "PassContext",
    "PlanContext", "Read", "Redo", "Reported", "Runner", "StageDef", "Streamed", "UndeclaredRead",
    "UnitResult", "UnitTask", "canonical_value", "distributions", "lookup"]

#: settings that name model files: the files' sha256 is in the fingerprint, their paths are not;
#: ``overrides`` names the AU-trim override file, whose per-video content is an input instead
PATH_KEYS = frozenset({"weights", "head_weights", "model", "cascade", "overrides", "weights_dir"})

#: what a stage returns: its output paths and a summary (JSON-able, kept in its record)
Outputs = tuple[list[Path], dict[str, Any]]
Runner = Callable[["UnitTask", Layout], Outputs]
Read = str | Callable[["StagesConfig"], Any]


def _none(*_: Any) -> dict[str, Any]:
    return {}


def _no_models(_: StagesConfig) -> list[Path]:
    return []


def _no_stages(_: StagesConfig) -> tuple[str, ...]:
    return ()


class Count(Enum):
    """Whether a consumer needs the number of decodable frames of the video (``ctx.decoded``)."""

    NO = "no"
    ALWAYS = "always"  #: the pass grabs to the end of the video, even when nothing else decodes
    IF_READING = "if-reading"  #: counted when the pass decodes frames anyway, else not (-1)


@dataclass(frozen=True)
class FrameNeed:
    """What a consumer wants from the pass: ``indices`` (K,) int64, strictly increasing source
    frame numbers pushed to it (fewer when the video ends early), and the frame count."""

    indices: np.ndarray = field(default_factory=lambda: np.zeros(0, np.int64))
    count: Count = Count.NO


class PassContext(Protocol):
    """What the driver tells a consumer about the other stages of its video's job."""

    @property
    def decoded(self) -> int:
        """Decodable frames counted by the pass (at ``finish``; -1 when not counted)."""

    def value(self, stage: str) -> Any:
        """The ``value`` of ``stage``'s consumer when that stage runs in this job, else None (its
        output is on disk: read it)."""

    def streaming(self, stage: str) -> bool:
        """True while ``stage`` is fed in the same pass (its value is still growing)."""


class Redo:
    """Returned by :meth:`FrameConsumer.finish`: the plan of this pass was wrong (the decoded
    frame count differs from the header's; fewer frames decoded than the rows planned); the
    consumer and its downstream consumers are begun again in another pass."""


#: the one :class:`Redo`
REDO = Redo()


class FrameConsumer:
    """The streaming side of a stage that reads frames (one per (stage, video) unit).

    The driver calls ``begin`` once per pass (in DAG order, so upstream values are set), then
    ``push`` for each wanted frame in increasing order, then ``finish`` (in DAG order). ``value``
    is what downstream consumers of the same job see (:meth:`PassContext.value`). An exception in
    any call fails this stage only: its downstream consumers are dropped (no result), the others
    go on. ``abort`` releases what ``begin`` opened when the pass is given up.
    """

    value: Any = None

    def __init__(self, task: UnitTask, layout: Layout) -> None:
        self.task, self.layout = task, layout

    def begin(self, ctx: PassContext) -> FrameNeed:
        return FrameNeed()

    def push(self, index: int, frame: np.ndarray) -> None:
        """``frame``: (H, W, 3) uint8 BGR, source frame number ``index``."""

    def finish(self, ctx: PassContext) -> Outputs | Redo:
        raise NotImplementedError

    def abort(self) -> None:
        return None


ConsumerFactory = Callable[["UnitTask", Layout], FrameConsumer]


@dataclass(frozen=True)
class Streamed:
    """The ``run`` of a stage declared with a consumer: the frame driver feeds it, also when it is
    the only unit of its job (:func:`emoprep.pipeline.worker.execute` runs every unit so)."""

    consumer: ConsumerFactory

    def __call__(self, task: UnitTask, layout: Layout) -> Outputs:
        raise TypeError(f"stage {task.stage} reads frames: run it through the frame driver "
                        "(emoprep.pipeline.worker.execute), not by calling its run")


def _missing_runner(task: UnitTask, layout: Layout) -> Outputs:
    raise TypeError(f"stage {task.stage}: declared with neither run nor consumer")


@dataclass(frozen=True)
class Reported:
    """What the run's per-video summary and the index files take from a stage's record, besides
    the rows its artifacts give (``StageDef.report``).

    keys: summary row key -> key of the record's summary (0 when absent), copied when the record
        is ok (``n_tracked`` from the tracking record's ``n_frames``).
    anomaly: ``anomaly(config, record summary)``: whether an ok record marks the video for manual
        review (the ``anomalies`` of the index files and of the run summary).
    face_counts: its record's ``n_frames`` / ``n_face`` are the video's frame and face counts:
        ``stages.quality`` judges them (in every index), and the run summary's per-video rows are
        the rows of its index.
    """

    keys: Mapping[str, str] = field(default_factory=dict)
    anomaly: Callable[[StagesConfig, Mapping[str, Any]], bool] | None = None
    face_counts: bool = False


@dataclass(frozen=True, kw_only=True)
class StageDef:
    """One per-video stage: its runner and everything its fingerprint is made of.

    name: unique stage name (``embed:<name>[@<aug>]`` for embedders).
    run: ``run(task, layout) -> (output paths, summary)``, executed in a worker; or
    consumer: a :class:`FrameConsumer` class, fed by the frame driver (``run`` is then derived).
    whole_first: upstream stages whose whole output it needs before its pass begins (it cannot be
        fed in the same pass as them; a callable of the config, like ``upstream``).
    version: explicit code version; bump when the stage's output changes for the same inputs.
    reads: fingerprint key -> config path or callable (the config slice it reads).
    upstream: stages whose outputs it reads (or a callable of the config giving them).
    outputs: the :class:`Artifact` s it writes per video (its runner writes them at
        ``artifact.path(layout, video_id)``); the temporaries sweep looks into their folders and
        next to the index files, which link the shards whose artifact says so (``Indexed``).
    report: what the run summary and the indexes take from its record (:class:`Reported`).
    libraries: fingerprint key -> installed library version (see :func:`distributions`).
    models: the model files it depends on (their sha256 is in the fingerprint).
    inputs: per-video inputs besides the upstream results (content hash, side files).
    embedder / augmentation: for ``embed:`` stages, the embedder name and augmentation.
    """

    name: str
    run: Runner = _missing_runner
    consumer: ConsumerFactory | None = None
    whole_first: Callable[[StagesConfig], tuple[str, ...]] = _no_stages
    version: int
    reads: Mapping[str, Read] = field(default_factory=dict)
    upstream: tuple[str, ...] | Callable[[StagesConfig], tuple[str, ...]] = ()
    outputs: tuple[Artifact, ...] = ()
    report: Reported = field(default_factory=Reported)
    libraries: Callable[[StagesConfig], dict[str, str]] = _none
    models: Callable[[StagesConfig], list[Path]] = _no_models
    inputs: Callable[[VideoEntry, PlanContext], dict[str, Any]] = _none
    embedder: str | None = None
    augmentation: str | None = None

    def __post_init__(self) -> None:
        if self.consumer is not None:
            object.__setattr__(self, "run", Streamed(self.consumer))

    def upstream_of(self, c: StagesConfig) -> tuple[str, ...]:
        return self.upstream(c) if callable(self.upstream) else self.upstream

    def config_view(self, c: StagesConfig) -> StagesConfig:
        """What its runner sees of ``c``: only the paths ``reads`` declares (a callable read under
        key K grants the config's field K); reading anything else raises
        :class:`UndeclaredRead`, so no output can depend on a key the fingerprint does not
        cover."""
        tree: dict[str, Any] = {}
        for key, src in self.reads.items():
            if callable(src):
                if key in type(c).model_fields:
                    tree[key] = None
                continue
            node, parts = tree, src.split(".")
            for part in parts[:-1]:
                if node.get(part, {}) is None:
                    break
                node = node.setdefault(part, {})
            else:
                node[parts[-1]] = None
        return ConfigView(c, tree, self.name)  # type: ignore[return-value]

    def config_slice(self, c: StagesConfig) -> dict[str, Any]:
        """The canonical config values this stage reads (JSON-able, model paths left out); a
        callable read that returns None (the key does not apply to this config) is left out."""
        values = {
            key: src(c) if callable(src) else lookup(c, src) for key, src in self.reads.items()
        }
        return {key: canonical_value(v) for key, v in values.items()
                if v is not None or not callable(self.reads[key])}



class UndeclaredRead(AttributeError):
    """A runner read a config key its stage's ``reads`` does not declare."""


class ConfigView:
    """Attribute (and key) access to a config along the declared paths only; ``tree``: name ->
    subtree, None where everything below is allowed. Picklable (a task carries it)."""

    def __init__(self, obj: Any, tree: dict[str, Any], stage: str, path: str = "stages") -> None:
        self._obj, self._tree, self._stage, self._path = obj, tree, stage, path

    def __getattr__(self, name: str) -> Any:
        if name.startswith("_"):
            raise AttributeError(name)
        return self._read(name, lambda: getattr(self._obj, name))

    def __getitem__(self, key: str) -> Any:
        return self._read(key, lambda: self._obj[key])

    def _read(self, name: str, get: Callable[[], Any]) -> Any:
        if name not in self._tree:
            raise UndeclaredRead(
                f"stage {self._stage}: read {self._path}.{name}, which its StageDef.reads does "
                f"not declare; declared: {', '.join(sorted(self._tree)) or 'nothing'} (fix: add "
                "it to reads, so that the stage's fingerprint covers it)")
        sub = self._tree[name]
        value = get()
        return value if sub is None else ConfigView(value, sub, self._stage,
                                                    f"{self._path}.{name}")

    def __getstate__(self) -> dict[str, Any]:
        return dict(self.__dict__)

    def __setstate__(self, state: dict[str, Any]) -> None:
        self.__dict__.update(state)


def distributions(**dists: str) -> Callable[[StagesConfig], dict[str, str]]:
    """``libraries=distributions(cv2="opencv-contrib-python-headless")``: key -> the installed
    distribution's full version (read from package metadata, nothing imported)."""

    def versions(_: StagesConfig) -> dict[str, str]:
        return {key: library_version(dist) for key, dist in dists.items()}

    return versions


def lookup(obj: Any, path: str) -> Any:
    """``lookup(cfg, "window.mode")`` -> ``cfg.window.mode`` (dict keys work too)."""
    for part in path.split("."):
        obj = obj[part] if isinstance(obj, Mapping) else getattr(obj, part)
    return obj


def canonical_value(value: Any) -> Any:
    """A config value as it goes into a fingerprint: models dumped to JSON types (their
    ``fingerprint_slice`` when they have one), model-file keys removed, Enums as their values."""
    if isinstance(value, BaseModel):
        slice_ = getattr(value, "fingerprint_slice", None)
        data = slice_() if callable(slice_) else value.model_dump(mode="json")
        return {k: v for k, v in data.items() if k not in PATH_KEYS}
    if isinstance(value, Enum):
        return value.value
    return value


@dataclass
class PlanContext:
    """What input-dependent fingerprint parts need: content hashes, the videos root, overrides."""

    stages: StagesConfig
    root: Path
    hashes: HashCache
    content: dict[str, str] = field(default_factory=dict)  # video_id -> content hash
    overrides: dict[str, tuple[int, int]] = field(default_factory=dict)


@dataclass(frozen=True)
class UnitTask:
    """Everything a worker needs to run one unit: plain, picklable data (no open files)."""

    stage: str
    run: Runner
    entry: VideoEntry
    stages: StagesConfig
    out: str
    root: str
    fingerprint: str
    upstream: dict[str, str] = field(default_factory=dict)  #: fingerprints of the video's stages
    override: tuple[int, int] | None = None
    progress: Any = None  #: a queue (or None) that receives frame counts, for the frames bar
    embedder: str | None = None
    augmentation: str | None = None


@dataclass(frozen=True)
class Copy:
    """Up-to-date items of ``stage`` that a batch job copies into the rewritten packs of its
    ``artifacts`` (every output of the stage; they keep their records, with the new packs'
    checksums)."""

    stage: str
    artifacts: tuple[Artifact, ...]
    videos: tuple[str, ...]


@dataclass(frozen=True)
class BatchJob:
    """A batch of small items run as one job (pipeline/batches.py): each item's units as a job of
    their own (``items``), every output written into the batch's packs."""

    batch_id: str
    items: tuple[Job, ...]
    copies: tuple[Copy, ...] = ()


@dataclass(frozen=True)
class Job:
    """The units of one video that a worker runs together (one decode for all of its consumers):
    ``tasks`` in DAG order; ``upstream``: stage -> the stages among ``tasks`` it depends on,
    directly or through up-to-date stages (it is begun after them, dropped when one fails, fed
    again when one asks for another pass). A batch's job (``batch``) holds every task of its
    items."""

    tasks: tuple[UnitTask, ...]
    upstream: Mapping[str, tuple[str, ...]] = field(default_factory=dict)
    batch: BatchJob | None = None

    @classmethod
    def of(cls, task: UnitTask) -> Job:
        return cls((task,))

    @property
    def label(self) -> str:
        if self.batch is not None:
            return f"batch {self.batch.batch_id}"
        return "+".join(t.stage for t in self.tasks)


@dataclass
class UnitResult:
    stage: str
    video_id: str
    ok: bool
    outputs: list[str] = field(default_factory=list)
    summary: dict[str, Any] = field(default_factory=dict)
    error: str = ""
    error_type: str = ""
    seconds: float = 0.0
