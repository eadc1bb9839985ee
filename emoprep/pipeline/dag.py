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
from dataclasses import fields
from enum import Enum
from graphlib import CycleError, TopologicalSorter
from typing import Any

from emoprep.errors import ConfigError
from emoprep.io.layout import Layout, Linked
from emoprep.pipeline.config import StagesConfig
from emoprep.pipeline.fingerprint import StageFingerprint, explain_change
from emoprep.pipeline.plan import Plan, Unit, Units
from emoprep.pipeline.records import FailureKind, Record, RecordStore
from emoprep.pipeline.stagedef import PlanContext, StageDef
from emoprep.pipeline.stamps import CORRUPT
from emoprep.types import UnitState, UnitStatus, VideoEntry

__all__ = ["Plan", "RetryPolicy", "Unit", "UnitState", "build_dag", "downstream_of",
           "make_plan", "order_stages"]


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
    rules = stage_rules(defs, ctx)
    planner = _Planner(videos, ctx, layout, records, RetryPolicy.of(retry_failed))
    last = {u: k for k, d in enumerate(defs) for u in d.upstream_of(c)}  # its last reader
    for k, d in enumerate(defs):
        planner.stage(d, rules[d.name], d.name in forced, needed=d.name in last)
        for u in [u for u in planner.fps if last[u] <= k]:
            del planner.fps[u]  # a million fingerprints: 113 MB per stage
    return Plan(defs, Units(defs, videos, planner.in_order(), planner.fresh_unit), videos)


def stage_rules(defs: list[StageDef], ctx: PlanContext) -> dict[str, StageFingerprint]:
    """Each stage's fingerprint rule: its fixed components (config slice, libraries, models)."""
    c = ctx.stages
    return {d.name: StageFingerprint(d.name, d.version, d.config_slice(c), d.libraries(c),
                                     {p.name: ctx.hashes.file(p) for p in d.models(c)})
            for d in defs}


def fingerprint_columns(videos: list[VideoEntry], ctx: PlanContext
                        ) -> Iterator[tuple[StageDef, StageFingerprint, list[str]]]:
    """(stage, its rule, the fingerprint of each of ``videos``), stage by stage in DAG order,
    exactly as a plan computes them (benchmarks/scale.py writes the records of an up-to-date
    folder from them)."""
    defs = build_dag(ctx.stages)
    rules, fps = stage_rules(defs, ctx), dict[str, list[str]]()
    for d in defs:
        ups = d.upstream_of(ctx.stages)
        fps[d.name] = rules[d.name].column(_inputs(d, videos, ctx), [fps[u] for u in ups], ups,
                                           len(videos))
        yield d, rules[d.name], fps[d.name]


class _Fresh:
    """An up-to-date upstream unit, as :func:`_decide` looks at it."""

    state = UnitState.FRESH
    reasons: list[str] = []
    stage = ""


_FRESH = _Fresh()
#: the inputs of a stage that declares none (``StageDef.inputs``'s default)
NO_INPUTS = next(f.default for f in fields(StageDef) if f.name == "inputs")


class _Planner:
    """The plan made stage by stage, column-wise: each stage's fingerprints for every video at
    once (its fixed JSON built once, :class:`StageFingerprint`), its records read in one query,
    ordered by video id and merged with the videos (:meth:`RecordStore.plan_rows`), the outputs
    of equal stamps checked once (a batch's pack: once for all of its items). A unit whose
    record matches, whose upstream units are all up to date and whose outputs check out is up
    to date and gets no object; any other unit is decided one by one (:func:`_decide`), as
    before, and kept in ``live`` unless that finds it up to date."""

    def __init__(self, videos: list[VideoEntry], ctx: PlanContext, layout: Layout,
                 records: RecordStore, retry: RetryPolicy) -> None:
        self.videos, self.ctx, self.layout, self.records, self.retry = (videos, ctx, layout,
                                                                        records, retry)
        self.live: dict[tuple[str, str], Unit] = {}
        self.fps: dict[str, list[str]] = {}  # stage -> fingerprint per video, while needed
        self.fresh: dict[str, bytearray] = {}  # stage -> 1 per video whose unit is up to date
        self.rules: dict[str, StageFingerprint] = {}
        self.decls: dict[str, StageDef] = {}
        self.ups: dict[str, tuple[str, ...]] = {}  # each stage's upstream stages
        self._verified: dict[tuple[str | None, str | None], str] = {}
        self._at: list[tuple[int, int, tuple[str, str]]] = []  # (video, stage, key) of live
        ids = [v.video_id for v in videos]
        self.order: range | list[int] = range(len(ids))
        if not all(a < b for a, b in zip(ids, ids[1:], strict=False)):
            self.order = sorted(range(len(ids)), key=ids.__getitem__)
            ids = [ids[i] for i in self.order]
        self.ids = ids  # video ids in increasing order (the records' order)

    def stage(self, d: StageDef, rule: StageFingerprint, forced: bool, needed: bool) -> None:
        """Plan every unit of stage ``d``; ``needed``: a later stage reads its fingerprints."""
        self.rules[d.name], self.decls[d.name] = rule, d
        ups = self.ups[d.name] = d.upstream_of(self.ctx.stages)
        inputs = _inputs(d, self.videos, self.ctx)
        fps = rule.column(inputs, [self.fps[u] for u in ups], ups, len(self.videos))
        fresh = self.fresh[d.name] = bytearray(len(self.videos))
        ups_fresh = _all_of([self.fresh[u] for u in ups], len(self.videos))
        rows = self.records.plan_rows(d.name) if not forced else None
        for i, row in zip(self.order, _merge(self.ids, rows), strict=True):
            if (row is not None and row[0] == fps[i] and row[1] == "ok" and ups_fresh[i]
                    and not self._check(row[2], row[3])):
                fresh[i] = 1
                continue
            v = self.videos[i]
            up_fps = {u: self.fps[u][i] for u in ups}
            unit = Unit(d, v, fps[i], rule.components(inputs[i] if inputs else {}, up_fps),
                        UnitState.FRESH, upstream=ups)
            _decide(unit, self.records, self.layout,
                    [self.live.get((u, v.video_id), _FRESH) for u in ups], forced, self.retry)
            if unit.state is UnitState.FRESH:
                fresh[i] = 1
            else:
                self.live[unit.key] = unit
                self._at.append((i, len(self.decls), unit.key))
        if needed:
            self.fps[d.name] = fps

    def in_order(self) -> dict[tuple[str, str], Unit]:
        """The units not up to date, in plan order: by video, then DAG order."""
        return {key: self.live[key] for _, _, key in sorted(self._at)}

    def _check(self, outputs: str | None, checksums: str | None) -> str:
        """Why the outputs of a record's stamps cannot be trusted (remembered per stamp: the
        items of a batch share their packs')."""
        key = (outputs, checksums)
        why = self._verified.get(key)
        if why is None:
            if len(self._verified) >= 4096:  # one stamp per unit (no batches): nothing to share
                self._verified.clear()
            why = self._verified[key] = self.records.verify_json(outputs, checksums)
        return why

    def fresh_unit(self, d: StageDef, v: VideoEntry) -> Unit:
        """The unit of an up-to-date (stage, video): its fingerprint from its record, its
        components computed when asked for."""
        rec = self.records.get(d.name, v.video_id)
        ups = self.ups[d.name]

        def components() -> dict[str, Any]:
            up_fps = {u: self.fresh_unit(self.decls[u], v).fingerprint
                      if (u, v.video_id) not in self.live else self.live[(u, v.video_id)]
                      .fingerprint for u in ups}
            return self.rules[d.name].components(d.inputs(v, self.ctx), up_fps)

        return Unit(d, v, rec.fingerprint if rec is not None else "", components,
                    UnitState.FRESH, upstream=ups)


def _all_of(flags: list[bytearray], n: int) -> bytes:
    """Per video 1 when every one of ``flags`` is 1 there (all when there are none)."""
    if not flags:
        return b"\x01" * n
    both = int.from_bytes(flags[0], "little")
    for f in flags[1:]:
        both &= int.from_bytes(f, "little")
    return both.to_bytes(n, "little")


def _inputs(d: StageDef, videos: list[VideoEntry], ctx: PlanContext) -> list[Any] | None:
    """Each video's per-video inputs of stage ``d``; None when it declares none."""
    if d.inputs is NO_INPUTS:
        return None
    return [d.inputs(v, ctx) for v in videos]


def _merge(vids: list[str], rows: Iterator[tuple[Any, ...]] | None
           ) -> Iterator[tuple[Any, ...] | None]:
    """For each of ``vids`` (increasing), its row of ``rows`` ((video id, ...) in increasing
    video id order) without the id, or None."""
    if rows is None:
        yield from (None for _ in vids)
        return
    row = next(rows, None)
    for vid in vids:
        while row is not None and row[0] < vid:
            row = next(rows, None)
        if row is not None and row[0] == vid:
            yield row[1:]
            row = next(rows, None)
        else:
            yield None


def _decide(unit: Unit, records: RecordStore, layout: Layout, ups: list[Any], forced: bool,
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
