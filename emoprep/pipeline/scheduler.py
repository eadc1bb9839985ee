"""Scheduling one run: dependency bookkeeping, submitting jobs to an executor, recording each
unit's outcome as it lands (only the coordinator writes records).

A job is one unit, or, for a stage declared with a frame consumer, the unit and the video's other
stale frame-reading units downstream of it that can be fed by the same decode
(:mod:`emoprep.pipeline.driver`); its units are recorded one by one. A batch of small items
(:mod:`emoprep.pipeline.batches`) is one job of every unit of its items to run; its records land
in one transaction."""

from __future__ import annotations

import logging
import time
from collections import defaultdict
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

from emoprep.io.layout import is_pack
from emoprep.pipeline.batches import BATCH_KEY, COPIED_KEY, copied_record, copies
from emoprep.pipeline.config import StagesConfig
from emoprep.pipeline.dag import Plan, RetryPolicy, Unit, UnitState
from emoprep.pipeline.executors import Executor, ExecutorKind, make_executor
from emoprep.pipeline.records import Record
from emoprep.pipeline.session import Session
from emoprep.pipeline.stagedef import BatchJob, Job, UnitResult, UnitTask
from emoprep.types import UnitStatus

log = logging.getLogger(__name__)
#: the first part of a batch's key in the ready list: ``(BATCH, batch id)``
BATCH = "@batch"


@dataclass
class RunOptions:
    executor: ExecutorKind = ExecutorKind.LOCAL
    workers: int = 1
    scheduler: str | None = None
    force: set[str] = field(default_factory=set)
    skip_failed: bool = False
    fail_fast: bool = False
    plots: bool = False
    on_executor: Callable[[str, str | None], None] | None = None  #: told the executor and dashboard
    on_frames: Callable[[int], None] | None = None  #: told frame counts as workers report them
    retry_failed: bool = False  #: also retry failures caused by the data (--retry-failed)
    verify: bool = False  #: read every output in full before trusting it (slow)

    @property
    def retry(self) -> RetryPolicy:
        """Which failed units run again: all (--retry-failed), none (--skip-failed), or those
        the environment failed (the default)."""
        if self.retry_failed:
            return RetryPolicy.ALL
        return RetryPolicy.NONE if self.skip_failed else RetryPolicy.ENVIRONMENT


@dataclass
class _Shared:
    """What the tasks of one run carry alike, made once instead of once per unit: each stage's
    config view, and the output and videos folders."""

    views: dict[str, Any] = field(default_factory=dict)
    folders: tuple[str, str] | None = None

    def view(self, d: Any, session: Session) -> Any:
        if d.name not in self.views:
            self.views[d.name] = d.config_view(session.manifest.stages)
        return self.views[d.name]

    def dirs(self, session: Session) -> tuple[str, str]:
        if self.folders is None:
            self.folders = (str(session.layout.root), str(session.manifest.root_dir()))
        return self.folders


def _task(unit: Unit, video_fps: dict[str, str], made_from: set[str], session: Session,
          progress: Any = None, shared: _Shared | None = None) -> UnitTask:
    """The picklable task of a unit; ``video_fps``: fingerprint of every stage of its video, of
    which the task carries those of the unit and of the stages it is ``made_from`` (its
    provenance: a key none of them reads must not change its output)."""
    vid = unit.video.video_id
    ups = {s: fp for s, fp in video_fps.items() if s in made_from or s == unit.stage}
    if "content" in unit.components["inputs"]:  # a stage that reads the video's content hash
        ups["content"] = session.ctx.content[vid]
    d, shared = unit.decl, shared or _Shared()
    out, root = shared.dirs(session)
    return UnitTask(d.name, d.run, unit.video, shared.view(d, session), out, root,
                    unit.fingerprint, ups, session.ctx.overrides.get(vid), progress, d.embedder,
                    d.augmentation)


@contextmanager
def _frame_feed(queue: Any, on_frames: Callable[[int], None] | None) -> Iterator[None]:
    """Drain frame counts from the workers' queue into ``on_frames`` on a background thread."""
    if queue is None or on_frames is None:
        yield
        return
    import threading

    def drain() -> None:
        while (n := queue.get()) is not None:
            on_frames(n)

    thread = threading.Thread(target=drain, daemon=True)
    thread.start()
    try:
        yield
    finally:
        queue.put(None)
        thread.join(timeout=5)


def _record(unit: Unit, res: UnitResult, batch: str | None = None) -> Record:
    """The record of a unit's outcome; a batched item's carries its batch id (its membership)."""
    summary = {**res.summary, BATCH_KEY: batch} if batch else res.summary
    return Record(unit.stage, unit.video.video_id, unit.fingerprint, unit.components,
                  UnitStatus.OK if res.ok else UnitStatus.FAILED, res.error, res.error_type,
                  res.outputs, summary, round(res.seconds, 4))


@dataclass
class Execution:
    results: list[UnitResult]
    description: str
    dashboard: str | None = None
    startup_seconds: float = 0.0  #: starting the executor (processes, dask cluster)
    work_seconds: float = 0.0  #: from the first submission to the last result


def runnable(plan: Plan, skip_failed: bool) -> dict[tuple[str, str], Unit]:
    """The units this run executes: stale, missing, and failed ones unless ``skip_failed``."""
    return {
        u.key: u
        for u in plan.live()
        if u.todo and not (u.state is UnitState.FAILED and skip_failed)
    }


class _Scheduler:
    """Dependency bookkeeping of one run: which units wait on which, which are ready, which are
    inside a submitted job."""

    def __init__(self, plan: Plan, skip_failed: bool, c: StagesConfig) -> None:
        self.plan, self.config = plan, c
        self.shared = _Shared()  #: what all its tasks carry alike (see _task)
        self.todo = runnable(plan, skip_failed)
        todo_videos = {vid for _, vid in self.todo}  # a no-op run: none, nothing to build
        self.video_fps: dict[str, dict[str, str]] = defaultdict(dict)
        for vid in todo_videos:  # up-to-date units' from their records
            for stage in plan.stages:
                self.video_fps[vid][stage.name] = plan.units[(stage.name, vid)].fingerprint
        #: batch id -> its units to run (one job per batch: every stage of its items)
        self.batches: dict[str, list[tuple[str, str]]] = defaultdict(list)
        for k in self.todo:
            if (b := plan.batch_of.get(k[1])) is not None:
                self.batches[b].append(k)
        self.members: dict[str, list[str]] = defaultdict(list)  #: batch id -> its items
        for v in plan.videos if self.batches else ():
            if (b := plan.batch_of.get(v.video_id, "")) in self.batches:
                self.members[b].append(v.video_id)
        self.waiting = {
            k: {(s, k[1]) for s in u.upstream if (s, k[1]) in self.todo}
            for k, u in self.todo.items() if k[1] not in plan.batch_of
        }
        self.children: dict[tuple[str, str], list[tuple[str, str]]] = defaultdict(list)
        for k, deps in self.waiting.items():
            for d in deps:
                self.children[d].append(k)
        self.ready = [(BATCH, b) for b in sorted(self.batches)]
        self.ready += [k for k, deps in self.waiting.items() if not deps]
        self.submitted: set[tuple[str, str]] = set()  #: units inside a submitted job
        self.ancestors = _ancestors(plan, c)

    def job_of(self, key: tuple[str, str]) -> list[tuple[str, str]]:
        """``key`` and, when its stage reads frames, the video's stale frame-reading units
        downstream of it whose stale upstream units are all in the job and that need the whole
        of none of them first (``StageDef.whole_first``); in DAG order. A batch's key
        ``(BATCH, batch id)``: every unit of the batch to run."""
        if key[0] == BATCH:
            return self.batches[key[1]]
        unit = self.todo[key]
        if unit.decl.consumer is None:
            return [key]
        vid, members = key[1], [key]
        for d in self.plan.stages:
            k = (d.name, vid)
            if k == key or k not in self.todo or k in self.submitted or d.consumer is None:
                continue
            ups = self.ancestors[d.name]
            inside = {s for s, _ in members}
            if key[0] in ups and self.waiting[k] <= set(members) \
                    and not inside & set(d.whole_first(self.config)):
                members.append(k)
        return members

    def finished(self, key: tuple[str, str], ok: bool) -> None:
        """Release the children of a unit that succeeded (a failed unit's children never run);
        children inside a submitted job get their result from that job. Released units go first:
        a video is finished before the next one starts (its outputs appear together)."""
        if not ok:
            return
        released = []
        for c in self.children[key]:
            self.waiting[c].discard(key)
            if not self.waiting[c] and c not in self.submitted:
                released.append(c)
        self.ready[:0] = released


def _ancestors(plan: Plan, c: StagesConfig) -> dict[str, set[str]]:
    """Stage -> every stage it depends on, transitively."""
    out: dict[str, set[str]] = {}
    for d in plan.stages:  # topological order
        ups = d.upstream_of(c)
        out[d.name] = set(ups).union(*(out[u] for u in ups))
    return out


def execute_plan(plan: Plan, session: Session, opts: RunOptions,
                 on_done: Callable[[Unit, UnitResult], None] | None = None) -> Execution:
    """Run every unit that must run, in dependency order, recording each outcome as it lands."""
    sched = _Scheduler(plan, opts.skip_failed, session.manifest.stages)
    if not sched.todo:
        return Execution([], "nothing to run")
    t0 = time.perf_counter()
    with make_executor(opts.executor, opts.workers, opts.scheduler) as ex:
        t1 = time.perf_counter()
        if opts.on_executor:
            opts.on_executor(ex.description, ex.dashboard)
        queue = ex.progress_queue() if opts.on_frames else None
        with _frame_feed(queue, opts.on_frames):
            results = _drive(ex, sched, session, opts, on_done, queue)
        return Execution(results, ex.description, ex.dashboard, round(t1 - t0, 3),
                         round(time.perf_counter() - t1, 3))


def _drive(ex: Executor, sched: _Scheduler, session: Session, opts: RunOptions,
           on_done: Callable[[Unit, UnitResult], None] | None, queue: Any) -> list[UnitResult]:
    """Submit ready units as jobs (at most ``ex.capacity`` in flight), record each unit's result
    as it lands."""
    results: list[UnitResult] = []
    running: dict[Any, Job] = {}
    stop = False
    while (sched.ready and not stop) or running:
        while sched.ready and not stop and len(running) < ex.capacity:
            k = sched.ready.pop(0)
            if k in sched.submitted:
                continue
            job = _make_job(sched, session, sched.job_of(k), queue)
            running[ex.submit(job)] = job
        for fut in ex.wait_any(list(running)):
            job = running.pop(fut)
            session.records.hold = job.batch is not None  # a batch's records: one transaction
            for r in ex.result(fut, job):
                if r.summary.get(COPIED_KEY):  # up to date, copied into its rewritten pack
                    _land_copy(r, session)
                    continue
                unit = sched.todo[(r.stage, r.video_id)]
                _land(unit, r, session, on_done, sched.plan.batch_of.get(r.video_id))
                results.append(r)
                sched.finished(unit.key, r.ok)
                stop = stop or (not r.ok and opts.fail_fast)
            if session.records.hold:
                session.records.hold = False
                session.records.commit()
            if stop:
                ex.cancel(running)
        if stop:
            for fut in [f for f in running if f.cancelled()]:
                running.pop(fut)
    return results


def _make_job(sched: _Scheduler, session: Session, keys: list[tuple[str, str]], queue: Any
              ) -> Job:
    """The job of units ``keys`` (one video, DAG order; or a batch's); its units count as
    submitted."""
    vids = list(dict.fromkeys(vid for _, vid in keys))
    if len(vids) > 1 or sched.plan.batch_of.get(vids[0]) is not None:
        return _batch_job(sched, session, keys, vids, queue)
    return _video_job(sched, session, keys, queue)


def _video_job(sched: _Scheduler, session: Session, keys: list[tuple[str, str]], queue: Any
               ) -> Job:
    sched.submitted.update(keys)
    vid = keys[0][1]
    tasks = tuple(_task(sched.todo[k], sched.video_fps[vid], sched.ancestors[k[0]], session,
                        queue, sched.shared) for k in keys)
    stages = {k[0] for k in keys}
    return Job(tasks, {s: tuple(a for a in sched.ancestors[s] if a in stages) for s, _ in keys})


def _batch_job(sched: _Scheduler, session: Session, keys: list[tuple[str, str]],
               vids: list[str], queue: Any) -> Job:
    """The job of a batch: per item, its units to run (a job of their own, DAG order), and the
    up-to-date items each rewritten pack keeps."""
    batch = sched.plan.batch_of[vids[0]]
    order = {d.name: i for i, d in enumerate(sched.plan.stages)}
    of_item: dict[str, list[tuple[str, str]]] = defaultdict(list)
    for k in sorted(keys, key=lambda k: order[k[0]]):
        of_item[k[1]].append(k)
    items = tuple(_video_job(sched, session, of_item[vid], queue) for vid in vids)
    kept = copies(sched.plan, session.records, batch, sched.members[batch], set(keys),
                  session.layout)
    tasks = tuple(t for j in items for t in j.tasks)
    return Job(tasks, batch=BatchJob(batch, items, kept))


def _land_copy(res: UnitResult, session: Session) -> None:
    """Keep the record of an up-to-date item copied into its rewritten pack, with the new pack's
    checksums."""
    old = session.records.get(res.stage, res.video_id)
    if old is not None:
        session.records.put(copied_record(old, res.outputs, res.summary))


def _land(unit: Unit, res: UnitResult, session: Session,
          on_done: Callable[[Unit, UnitResult], None] | None, batch: str | None = None) -> None:
    """Record one unit's outcome (and log the warning its summary may carry). An item that moved
    into a batch's pack loses the files of its own its record named before (after the new record
    is written: a kill in between leaves a record whose output is missing, so it runs again)."""
    old = session.records.get(*unit.key) if batch and res.ok else None
    session.records.put(_record(unit, res, batch))
    for rel in old.outputs if old is not None else ():
        if not is_pack(rel) and rel not in res.outputs:
            (session.layout.root / rel).unlink(missing_ok=True)
    if res.ok and res.summary.get("warning"):
        log.warning("%s %s: %s", unit.stage, unit.video.video_id, res.summary["warning"])
    if on_done:
        on_done(unit, res)
