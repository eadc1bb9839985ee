"""The stage DAG per video, fingerprints of (stage, video) units, and the plan of what to run.

The stages come from their declarations (:mod:`emoprep.pipeline.steps`), ordered and checked with
:class:`graphlib.TopologicalSorter`. Everything that makes up a unit's fingerprint is computed
here, in the coordinator, before any work runs; the plan says for every unit whether it is up to
date and, if not, why.
"""

from __future__ import annotations

import gc
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from enum import Enum
from graphlib import CycleError, TopologicalSorter
from typing import Any

from emoprep.errors import ConfigError
from emoprep.io.layout import Layout, Linked
from emoprep.pipeline.config import StagesConfig
from emoprep.pipeline.fingerprint import StageFingerprint, explain_change
from emoprep.pipeline.records import CORRUPT, FailureKind, Record, RecordStore
from emoprep.pipeline.stagedef import PlanContext, StageDef
from emoprep.types import UnitState, UnitStatus, VideoEntry


def order_stages(defs: list[StageDef], c: StagesConfig) -> list[StageDef]:
    """``defs`` in dependency order; unknown upstream names, duplicates and cycles are errors."""
    by_name: dict[str, StageDef] = {}
    problems = []
    for d in defs:
        if d.name in by_name:
            problems.append(f"stage {d.name!r} is declared twice")
        by_name[d.name] = d
    graph = {d.name: d.upstream_of(c) for d in defs}
    for name, ups in graph.items():
        problems += [f"stage {name!r}: upstream {u!r} is not a stage; stages: {', '.join(by_name)}"
                     for u in ups if u not in by_name]
    problems += _unindexed_links(defs)
    if problems:
        raise ConfigError("the stage declarations", problems)
    try:
        order = list(TopologicalSorter(graph).static_order())
    except CycleError as exc:
        cycle = " -> ".join(exc.args[1])
        raise ConfigError("the stage declarations", [f"stages depend on each other: {cycle}"]) \
            from None
    return [by_name[n] for n in order]


def _unindexed_links(defs: list[StageDef]) -> list[str]:
    """An artifact linked into the index of a store whose rows no stage declares."""
    rows = {a.index.into for d in defs for a in d.outputs
            if a.index is not None and a.index.how is Linked.ROWS}
    return [f"stage {d.name!r}: output {a.pattern!r} is linked into the index of store "
            f"{a.index.into!r}, whose rows no stage declares (Indexed.rows()); stores with an "
            f"index: {', '.join(sorted(rows)) or 'none'}"
            for d in defs for a in d.outputs
            if a.index is not None and a.index.how is not Linked.ROWS and a.index.into not in rows]


def build_dag(c: StagesConfig) -> list[StageDef]:
    """The declared stages for config ``c``, in dependency order."""
    from emoprep.pipeline.steps import declared

    return order_stages(declared(c), c)


def downstream_of(defs: list[StageDef], roots: set[str], c: StagesConfig) -> set[str]:
    """The stages in ``roots`` and every stage that depends on them, transitively."""
    out = set(roots)
    for d in defs:  # defs are in topological order
        if any(u in out for u in d.upstream_of(c)):
            out.add(d.name)
    return out


class RetryPolicy(str, Enum):
    """Which units that failed last time with the same fingerprint run again."""

    ALL = "all"  #: ``--retry-failed``: every failed unit
    ENVIRONMENT = "environment"  #: default: failures of the environment, not those of the data
    NONE = "none"  #: ``--skip-failed``: none

    @classmethod
    def of(cls, value: RetryPolicy | bool) -> RetryPolicy:
        """``True`` (the old ``retry_failed``) is the default policy, ``False`` is NONE."""
        if isinstance(value, RetryPolicy):
            return value
        return cls.ENVIRONMENT if value else cls.NONE


@dataclass
class Unit:
    decl: StageDef
    video: VideoEntry
    fingerprint: str
    components: dict[str, Any]
    state: UnitState
    reasons: list[str] = field(default_factory=list)
    upstream: tuple[str, ...] = ()

    @property
    def stage(self) -> str:
        return self.decl.name

    @property
    def key(self) -> tuple[str, str]:
        return (self.decl.name, self.video.video_id)

    @property
    def todo(self) -> bool:
        return self.state in (UnitState.STALE, UnitState.MISSING, UnitState.FAILED)


@dataclass
class Plan:
    stages: list[StageDef]
    units: dict[tuple[str, str], Unit]
    videos: list[VideoEntry]
    #: video id -> batch id of the items that run in batches (pipeline/batches.py)
    batch_of: dict[str, str] = field(default_factory=dict)

    def by_stage(self, stage: str) -> list[Unit]:
        return [u for (s, _), u in self.units.items() if s == stage]


@contextmanager
def gc_paused() -> Iterator[None]:
    """The cyclic garbage collector off for a while: a plan (or the indexes) allocates a few
    containers per unit and frees none, and the collector's passes over them cost a fifth of a
    plan's time at 50,000 units (benchmarks/scale.py) while finding nothing to collect."""
    was = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if was:
            gc.enable()


def make_plan(videos: list[VideoEntry], ctx: PlanContext, layout: Layout, records: RecordStore,
              force: set[str] | None = None, retry_failed: RetryPolicy | bool = True) -> Plan:
    """Fingerprint every (stage, video) unit and decide whether it must run, and why.

    ``retry_failed``: a :class:`RetryPolicy` (``True``: the default policy, ``False``: none).
    """
    with gc_paused():
        return _make_plan(videos, ctx, layout, records, force, retry_failed)


def _make_plan(videos: list[VideoEntry], ctx: PlanContext, layout: Layout, records: RecordStore,
               force: set[str] | None, retry_failed: RetryPolicy | bool) -> Plan:
    c = ctx.stages
    defs = build_dag(c)
    forced = downstream_of(defs, force or set(), c)
    static = {d.name: (d.config_slice(c), d.libraries(c),
                       {p.name: ctx.hashes.file(p) for p in d.models(c)}, d.upstream_of(c))
              for d in defs}
    rules = {d.name: StageFingerprint(d.name, d.version, *static[d.name][:3]) for d in defs}
    retry = RetryPolicy.of(retry_failed)
    units: dict[tuple[str, str], Unit] = {}
    for v in videos:
        vid = v.video_id
        for d in defs:
            upstream, rule = static[d.name][3], rules[d.name]
            ups = [units[(u, vid)] for u in upstream]
            inputs, up_fps = d.inputs(v, ctx), {u.stage: u.fingerprint for u in ups}
            unit = Unit(d, v, rule.of(inputs, up_fps), rule.components(inputs, up_fps),
                        UnitState.FRESH, upstream=upstream)
            _decide(unit, records, layout, ups, d.name in forced, retry)
            units[unit.key] = unit
    return Plan(defs, units, videos)


def _decide(unit: Unit, records: RecordStore, layout: Layout, ups: list[Unit], forced: bool,
            retry: RetryPolicy) -> None:
    """Set the unit's state and reasons from its record, its outputs and its upstream units.

    Outputs of an up-to-date record are checked against their checksums (size and mtime, sha256
    when those differ); a corrupt one makes the unit and its downstream run again.
    """
    if any(u.state in (UnitState.BLOCKED, UnitState.DATA_FAILED)
           or (u.state is UnitState.FAILED and retry is RetryPolicy.NONE) for u in ups):
        unit.state, unit.reasons = UnitState.BLOCKED, ["upstream failed"]
        return
    rec = records.get(*unit.key)
    if rec is None:
        problem = records.problem(*unit.key)
        unit.state = UnitState.STALE if problem else UnitState.MISSING
        unit.reasons = [f"record unreadable: {problem}" if problem else "never run"]
        return
    if rec.fingerprint != unit.fingerprint:
        unit.state = UnitState.STALE
        unit.reasons = explain_change(records.components(rec), unit.components)
        return
    rec.components = unit.components  # equal (same digest): keep one copy in memory, not two
    if rec.status is not UnitStatus.OK:
        _failed(unit, rec, retry)
    elif why := records.verify(rec):
        unit.state, unit.reasons = UnitState.STALE, [why]
    elif bad := [u.stage for u in ups if u.reasons and u.reasons[0].startswith(CORRUPT)]:
        unit.state = UnitState.STALE
        unit.reasons = [f"{CORRUPT} upstream: {bad[0]} is rebuilt, so is what was made from it"]
    elif forced:
        unit.state, unit.reasons = UnitState.STALE, ["forced (--force)"]
    # an upstream unit that re-runs with an unchanged fingerprint because its output went missing
    # gives the same result, so this unit stays up to date (a corrupt one may have been read: not)


def _failed(unit: Unit, rec: Record, retry: RetryPolicy) -> None:
    """A unit whose last run failed with the same fingerprint: remembered or retried."""
    first = rec.error.splitlines()[0] if rec.error else rec.error_type or "?"
    kind = rec.failure or FailureKind.ENVIRONMENT
    if kind is FailureKind.DATA and retry is not RetryPolicy.ALL:
        unit.state = UnitState.DATA_FAILED
        unit.reasons = [f"failed last run ({kind.value}): {first}; not retried until an input or "
                        "setting it depends on changes (--retry-failed retries it)"]
        return
    unit.state = UnitState.FAILED
    then = "not retried (--skip-failed)" if retry is RetryPolicy.NONE else "retried"
    unit.reasons = [f"failed last run ({kind.value}): {first}; {then}"]
