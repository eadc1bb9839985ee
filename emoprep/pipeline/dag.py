"""The stage DAG per video, fingerprints of (stage, video) units, and the plan of what to run.

The stages come from their declarations (:mod:`emoprep.pipeline.steps`), ordered and checked with
:class:`graphlib.TopologicalSorter`. Everything that makes up a unit's fingerprint is computed
here, in the coordinator, before any work runs; the plan says for every unit whether it is up to
date and, if not, why.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import Enum
from graphlib import CycleError, TopologicalSorter
from typing import Any

from emoprep.errors import ConfigError
from emoprep.io.layout import Layout
from emoprep.pipeline.config import StagesConfig
from emoprep.pipeline.fingerprint import digest, explain_change
from emoprep.pipeline.records import RecordStore
from emoprep.pipeline.stagedef import PlanContext, StageDef
from emoprep.types import UnitStatus, VideoEntry


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
    if problems:
        raise ConfigError("the stage declarations", problems)
    try:
        order = list(TopologicalSorter(graph).static_order())
    except CycleError as exc:
        cycle = " -> ".join(exc.args[1])
        raise ConfigError("the stage declarations", [f"stages depend on each other: {cycle}"]) \
            from None
    return [by_name[n] for n in order]


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


class UnitState(str, Enum):
    FRESH = "up-to-date"
    STALE = "stale"
    MISSING = "missing"
    FAILED = "failed"  #: failed last time with the same fingerprint (retried unless --skip-failed)
    BLOCKED = "blocked"  #: an upstream unit failed in this plan


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

    def by_stage(self, stage: str) -> list[Unit]:
        return [u for (s, _), u in self.units.items() if s == stage]


def make_plan(videos: list[VideoEntry], ctx: PlanContext, layout: Layout, records: RecordStore,
              force: set[str] | None = None, retry_failed: bool = True) -> Plan:
    """Fingerprint every (stage, video) unit and decide whether it must run, and why."""
    c = ctx.stages
    defs = build_dag(c)
    forced = downstream_of(defs, force or set(), c)
    static = {d.name: (d.config_slice(c), d.libraries(c),
                       {p.name: ctx.hashes.file(p) for p in d.models(c)}, d.upstream_of(c))
              for d in defs}
    units: dict[tuple[str, str], Unit] = {}
    for v in videos:
        for d in defs:
            config, libs, models, upstream = static[d.name]
            ups = [units[(u, v.video_id)] for u in upstream]
            comp = {"stage": d.name, "version": d.version, "config": config, "libraries": libs,
                    "models": models, "inputs": d.inputs(v, ctx),
                    "upstream": {u.stage: u.fingerprint for u in ups}}
            unit = Unit(d, v, digest(comp), comp, UnitState.FRESH, upstream=upstream)
            _decide(unit, records, layout, ups, d.name in forced, retry_failed)
            units[unit.key] = unit
    return Plan(defs, units, videos)


def _decide(unit: Unit, records: RecordStore, layout: Layout, ups: list[Unit], forced: bool,
            retry_failed: bool) -> None:
    if any(u.state is UnitState.BLOCKED or (u.state is UnitState.FAILED and not retry_failed)
           for u in ups):
        unit.state, unit.reasons = UnitState.BLOCKED, ["upstream failed"]
        return
    rec = records.get(*unit.key)
    if rec is None:
        problem = records.problem(*unit.key)
        unit.state = UnitState.STALE if problem else UnitState.MISSING
        unit.reasons = [f"record unreadable: {problem}" if problem else "never run"]
    elif rec.fingerprint != unit.fingerprint:
        unit.state, unit.reasons = UnitState.STALE, explain_change(rec.components, unit.components)
    elif rec.status is not UnitStatus.OK:
        first = rec.error.splitlines()[0] if rec.error else "?"
        unit.state, unit.reasons = UnitState.FAILED, [f"failed last run: {first}"]
        if not retry_failed:
            return
    elif missing := [o for o in rec.outputs if not (layout.root / o).exists()]:
        unit.state, unit.reasons = UnitState.STALE, [f"output missing: {missing[0]}"]
    elif forced:
        unit.state, unit.reasons = UnitState.STALE, ["forced (--force)"]
    # an upstream unit that re-runs with an unchanged fingerprint (lost output) gives the same
    # result, so this unit stays up to date
