"""Scheduling one run: dependency bookkeeping, submitting units to an executor, recording
each outcome as it lands (only the coordinator writes records)."""

from __future__ import annotations

import logging
import time
from collections import defaultdict
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

from emoprep.pipeline.dag import Plan, RetryPolicy, Unit, UnitState
from emoprep.pipeline.executors import Executor, ExecutorKind, make_executor
from emoprep.pipeline.fused import FUSABLE, FusedTask, unpack, worth_fusing
from emoprep.pipeline.records import Record
from emoprep.pipeline.session import Session
from emoprep.pipeline.stagedef import UnitResult, UnitTask
from emoprep.types import UnitStatus

log = logging.getLogger(__name__)


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


def _task(
    unit: Unit, video_fps: dict[str, str], session: Session, progress: Any = None
) -> UnitTask:
    """The picklable task of a unit; ``video_fps``: fingerprint of every stage of its video."""
    vid = unit.video.video_id
    ups = dict(video_fps)
    if unit.stage == "probe":
        ups["content"] = session.ctx.content[vid]
    d = unit.decl
    return UnitTask(d.name, d.run, unit.video, session.manifest.stages, str(session.layout.root),
                    str(session.manifest.root_dir()), unit.fingerprint, ups,
                    session.ctx.overrides.get(vid), progress, d.embedder, d.augmentation)


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


def _record(unit: Unit, res: UnitResult) -> Record:
    return Record(unit.stage, unit.video.video_id, unit.fingerprint, unit.components,
                  UnitStatus.OK if res.ok else UnitStatus.FAILED, res.error, res.error_type,
                  res.outputs, res.summary, round(res.seconds, 4))


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
        k: u
        for k, u in plan.units.items()
        if u.todo and not (u.state is UnitState.FAILED and skip_failed)
    }


class _Scheduler:
    """Dependency bookkeeping of one run: which units wait on which, which are ready."""

    def __init__(self, plan: Plan, skip_failed: bool) -> None:
        self.todo = runnable(plan, skip_failed)
        todo_videos = {vid for _, vid in self.todo}  # a no-op run: none, nothing to build
        self.video_fps: dict[str, dict[str, str]] = defaultdict(dict)
        for (stage, vid), u in plan.units.items():
            if vid in todo_videos:
                self.video_fps[vid][stage] = u.fingerprint
        self.waiting = {
            k: {(s, k[1]) for s in u.upstream if (s, k[1]) in self.todo}
            for k, u in self.todo.items()
        }
        self.children: dict[tuple[str, str], list[tuple[str, str]]] = defaultdict(list)
        for k, deps in self.waiting.items():
            for d in deps:
                self.children[d].append(k)
        self.ready = [k for k, deps in self.waiting.items() if not deps]
        self.claimed: set[tuple[str, str]] = set()  #: units inside a submitted single-decode pass
        self.chains = self._chains()

    def _chains(self) -> dict[tuple[str, str], list[tuple[str, str]]]:
        """First unit -> a video's stale per-video units that run in one decode (see fused)."""
        by_video: dict[str, list[str]] = defaultdict(list)
        for stage, vid in self.todo:
            if stage in FUSABLE:
                by_video[vid].append(stage)
        chains = {}
        for vid, stages in by_video.items():
            stages.sort(key=FUSABLE.index)
            if worth_fusing(stages):
                chains[(stages[0], vid)] = [(s, vid) for s in stages]
        return chains

    def finished(self, key: tuple[str, str], ok: bool) -> None:
        """Release the children of a unit that succeeded (a failed unit's children never run)."""
        if not ok:
            return
        for c in self.children[key]:
            self.waiting[c].discard(key)
            if not self.waiting[c]:
                self.ready.append(c)


def execute_plan(plan: Plan, session: Session, opts: RunOptions,
                 on_done: Callable[[Unit, UnitResult], None] | None = None) -> Execution:
    """Run every unit that must run, in dependency order, recording each outcome as it lands."""
    sched = _Scheduler(plan, opts.skip_failed)
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
    """Submit ready units (at most ``ex.capacity`` in flight), record each result as it lands.

    A video's chain of stale per-video units goes as one :class:`FusedTask` (one decode); its
    results are recorded unit by unit. A unit of a chain that got no result although its upstream
    succeeded (the pass left it to run on its own) is then submitted by itself.
    """
    results: list[UnitResult] = []
    running: dict[Any, tuple[tuple[str, str], UnitTask | FusedTask]] = {}
    stop = False
    while (sched.ready and not stop) or running:
        while sched.ready and not stop and len(running) < ex.capacity:
            k = sched.ready.pop(0)
            if k in sched.claimed:
                continue
            task = _make_task(sched, session, k, queue)
            # a FusedTask runs as a UnitTask does (fused.py goes with issue 20 item 1)
            running[ex.submit(task)] = (k, task)  # type: ignore[arg-type]
        for fut in ex.wait_any(list(running)):
            k, task = running.pop(fut)
            res = ex.result(fut, task)  # type: ignore[arg-type]
            batch = unpack(res, task) if isinstance(task, FusedTask) else [res]
            for r in batch:
                unit = sched.todo[(r.stage, r.video_id)]
                _land(unit, r, session, on_done)
                results.append(r)
                sched.finished(unit.key, r.ok)
                stop = stop or (not r.ok and opts.fail_fast)
            if isinstance(task, FusedTask):
                got = {(r.stage, r.video_id) for r in batch}
                sched.claimed -= {(u.stage, u.entry.video_id) for u in task.units} - got
            if stop:
                ex.cancel(running)
        if stop:
            for fut in [f for f in running if f.cancelled()]:
                running.pop(fut)
    return results


def _make_task(sched: _Scheduler, session: Session, k: tuple[str, str], queue: Any
               ) -> UnitTask | FusedTask:
    """The task of unit ``k``, or the single-decode pass of the chain it starts (its units are
    then claimed: none is submitted by itself unless the pass leaves it without a result)."""
    vid = k[1]
    chain = sched.chains.pop(k, None)
    if chain is None:
        return _task(sched.todo[k], sched.video_fps[vid], session, queue)
    sched.claimed.update(chain)
    return FusedTask.of([_task(sched.todo[c], sched.video_fps[vid], session, queue) for c in chain])


def _land(unit: Unit, res: UnitResult, session: Session,
          on_done: Callable[[Unit, UnitResult], None] | None) -> None:
    """Record one unit's outcome (and log the warning its summary may carry)."""
    session.records.put(_record(unit, res))
    if res.ok and res.summary.get("warning"):
        log.warning("%s %s: %s", unit.stage, unit.video.video_id, res.summary["warning"])
    if on_done:
        on_done(unit, res)
