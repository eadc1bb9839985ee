"""The coordinator: validate, plan, run units on an executor, record outcomes, rebuild indexes.

Only this module writes records, index files, split manifests and the run summary.
"""

from __future__ import annotations

import fcntl
import json
import os
import time
from collections import Counter, defaultdict
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from emoprep.errors import ConfigError, EmoprepError
from emoprep.pipeline.dag import Plan, PlanContext, Unit, UnitState, all_stages, make_plan
from emoprep.pipeline.executors import Executor, ExecutorKind, make_executor
from emoprep.pipeline.fingerprint import HashCache
from emoprep.pipeline.indexes import rebuild_indexes
from emoprep.io.layout import Layout
from emoprep.pipeline.manifest import Manifest, discover_videos, load_manifest
from emoprep.pipeline.records import Record, RecordStore, atomic_write_text
from emoprep.pipeline.splits import update_split
from emoprep.pipeline.units import UnitResult, UnitTask
from emoprep.types import VideoEntry


class RunLockedError(EmoprepError):
    """Another emoprep run holds the output folder."""


@dataclass
class Session:
    """Everything validated before any work: manifest, videos, output layout, plan context."""

    manifest: Manifest
    videos: list[VideoEntry]
    unmatched: list[str]
    layout: Layout
    ctx: PlanContext
    records: RecordStore

    def plan(self, force: set[str] | None = None, retry_failed: bool = True) -> Plan:
        names = [d.name for d in all_stages(self.manifest.stages)]
        unknown = sorted(set(force or ()) - set(names))
        if unknown:
            raise ConfigError("--force", [f"no stage {u!r}; stages: {', '.join(names)}" for u in unknown])
        plan = make_plan(self.videos, self.ctx, self.layout, self.records, force, retry_failed)
        self.ctx.hashes.save()  # model-file hashes computed while planning
        return plan


def open_session(manifest_path: Path, out: Path | None = None, overrides: tuple[str, ...] = ()) -> Session:
    """Load and validate the manifest, discover videos, hash their contents (cached)."""
    from emoprep.stages.au.trim import load_overrides

    manifest = load_manifest(Path(manifest_path), overrides)
    if out is not None:  # --out wins; discovery then also skips it if it lies inside videos.root
        manifest.output = os.path.abspath(Path(out).expanduser())
    _check_model_files(manifest)
    found = discover_videos(manifest)
    layout = Layout(manifest.output_dir())
    hashes = HashCache(layout.hashes)
    trim_file = manifest.stages.trim.overrides
    overrides_map = load_overrides(_resolve(trim_file, manifest)) if trim_file else {}
    ctx = PlanContext(manifest.stages, manifest.root_dir(), hashes, overrides=overrides_map)
    for v in found.videos:
        ctx.content[v.video_id] = hashes.video(v)
    hashes.save()
    return Session(manifest, found.videos, found.unmatched, layout, ctx, RecordStore(layout))


def _check_model_files(manifest: Manifest) -> None:
    """Resolve relative model paths against the manifest's folder; every missing file, at once."""
    from emoprep.stages.embed.base import missing_files

    problems: list[str] = []
    for name, cfg in manifest.stages.embed.items():
        update = {}
        for key in ("weights", "head_weights", "model"):
            value = getattr(cfg, key, None)
            if isinstance(value, Path):
                path = value.expanduser()
                path = path if path.is_absolute() else manifest.base_dir / path
                if path != value:
                    update[key] = path
        if update:
            manifest.stages.embed[name] = cfg = cfg.model_copy(update=update)
        problems += missing_files(cfg, name)
    if problems:
        raise ConfigError(manifest.source, problems)


def _resolve(path: str, manifest: Manifest) -> Path:
    p = Path(os.path.expandvars(os.path.expanduser(path)))
    return p if p.is_absolute() else manifest.root_dir() / p


@contextmanager
def run_lock(layout: Layout) -> Iterator[None]:
    """Exclusive lock on the output folder for the duration of a run."""
    layout.meta_dir.mkdir(parents=True, exist_ok=True)
    fh = open(layout.lock, "a+")
    try:
        try:
            fcntl.flock(fh, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            fh.seek(0)
            raise RunLockedError(f"output folder {layout.root} is in use by another emoprep run "
                                 f"({fh.read().strip() or 'unknown pid'}); wait for it or use another --out") from None
        fh.seek(0)
        fh.truncate()
        fh.write(f"pid {os.getpid()}")
        fh.flush()
        yield
    finally:
        fh.close()


def sweep_temporaries(layout: Layout) -> int:
    """Delete temporary files a killed run left behind (only called while holding the lock)."""
    n = 0
    candidates = list(layout.root.glob(".*.tmp*"))  # index files and the summary
    for sub in ("frames", "au", "features", "splits", "plots", ".emoprep"):  # only emoprep's own folders
        candidates += (layout.root / sub).rglob(".*.tmp*")
    for p in candidates:
        if p.is_file():
            p.unlink(missing_ok=True)
            n += 1
    return n


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


@dataclass
class RunReport:
    out: str
    executor: str
    dashboard: str | None
    ran: list[dict[str, Any]]
    skipped: int  #: units up to date
    blocked: int  #: units not run because an upstream unit failed
    videos: list[dict[str, Any]]
    unmatched: list[str]
    anomalies: list[str]
    split: dict[str, Any]
    seconds: float
    startup_seconds: float = 0.0
    work_seconds: float = 0.0

    @property
    def failed_videos(self) -> list[dict[str, Any]]:
        return [v for v in self.videos if v["status"] == "failed"]

    def to_json(self) -> str:
        return json.dumps(asdict(self), indent=1, default=str)


def _task(unit: Unit, video_fps: dict[str, str], session: Session, progress: Any = None) -> UnitTask:
    """The picklable task of a unit; ``video_fps``: fingerprint of every stage of its video."""
    vid = unit.video.video_id
    ups = dict(video_fps)
    if unit.stage == "probe":
        ups["content"] = session.ctx.content[vid]
    return UnitTask(unit.stage, unit.video, session.manifest.stages, str(session.layout.root),
                    str(session.manifest.root_dir()), unit.fingerprint, ups, session.ctx.overrides.get(vid),
                    progress)


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
                  "ok" if res.ok else "failed", res.error, res.error_type, res.outputs, res.summary,
                  round(res.seconds, 4))


@dataclass
class Execution:
    results: list[UnitResult]
    description: str
    dashboard: str | None = None
    startup_seconds: float = 0.0  #: starting the executor (processes, dask cluster)
    work_seconds: float = 0.0  #: from the first submission to the last result


def runnable(plan: Plan, skip_failed: bool) -> dict[tuple[str, str], Unit]:
    """The units this run executes: stale, missing, and failed ones unless ``skip_failed``."""
    return {k: u for k, u in plan.units.items() if u.todo and not (u.state is UnitState.FAILED and skip_failed)}


class _Scheduler:
    """Dependency bookkeeping of one run: which units wait on which, which are ready."""

    def __init__(self, plan: Plan, skip_failed: bool) -> None:
        self.todo = runnable(plan, skip_failed)
        self.video_fps: dict[str, dict[str, str]] = defaultdict(dict)
        for (stage, vid), u in plan.units.items():
            self.video_fps[vid][stage] = u.fingerprint
        self.waiting = {k: {(s, k[1]) for s in u.upstream if (s, k[1]) in self.todo} for k, u in self.todo.items()}
        self.children: dict[tuple[str, str], list[tuple[str, str]]] = defaultdict(list)
        for k, deps in self.waiting.items():
            for d in deps:
                self.children[d].append(k)
        self.ready = [k for k, deps in self.waiting.items() if not deps]

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
    """Submit ready units (at most ``ex.capacity`` in flight), record each result as it lands."""
    results: list[UnitResult] = []
    running: dict[Any, tuple[tuple[str, str], UnitTask]] = {}
    stop = False
    while (sched.ready and not stop) or running:
        while sched.ready and not stop and len(running) < ex.capacity:
            k = sched.ready.pop(0)
            task = _task(sched.todo[k], sched.video_fps[k[1]], session, queue)
            running[ex.submit(task)] = (k, task)
        for fut in ex.wait_any(list(running)):
            k, task = running.pop(fut)
            unit = sched.todo[k]
            res = ex.result(fut, task)
            session.records.put(_record(unit, res))
            results.append(res)
            if on_done:
                on_done(unit, res)
            sched.finished(k, res.ok)
            if not res.ok and opts.fail_fast:
                stop = True
                ex.cancel(running)
        if stop:
            for fut in [f for f in running if f.cancelled()]:
                running.pop(fut)
    return results


def run(manifest_path: Path, out: Path | None = None, overrides: tuple[str, ...] = (),
        opts: RunOptions | None = None, on_start: Callable[[Session, Plan, int], None] | None = None,
        on_done: Callable[[Unit, UnitResult], None] | None = None) -> RunReport:
    """Validate, plan, run what is stale, rebuild indexes and splits; return the report."""
    opts = opts or RunOptions()
    t0 = time.perf_counter()
    session = open_session(manifest_path, out, overrides)
    with run_lock(session.layout):
        sweep_temporaries(session.layout)
        plan = session.plan(opts.force, retry_failed=not opts.skip_failed)
        n_todo = len(runnable(plan, opts.skip_failed))
        if on_start:
            on_start(session, plan, n_todo)
        ex = execute_plan(plan, session, opts, on_done)
        results = ex.results
        videos = rebuild_indexes(session, plan)
        split = update_split(session)
        if opts.plots:
            from emoprep.pipeline.indexes import write_trim_plots

            write_trim_plots(session)
        ran = [{"stage": r.stage, "video_id": r.video_id, "ok": r.ok, "seconds": round(r.seconds, 3),
                "error": r.error.splitlines()[0] if r.error else ""} for r in results]
        fresh = sum(1 for u in plan.units.values() if u.state is UnitState.FRESH)
        report = RunReport(str(session.layout.root), ex.description, ex.dashboard, ran, fresh,
                           len(plan.units) - fresh - len(results), videos, session.unmatched,
                           [v["video_id"] for v in videos if v.get("anomaly")], split,
                           round(time.perf_counter() - t0, 3), ex.startup_seconds, ex.work_seconds)
        atomic_write_text(session.layout.summary, report.to_json())
    return report


@dataclass
class StatusReport:
    out: str
    stages: dict[str, dict[str, int]]
    reasons: dict[str, list[tuple[str, int]]]
    failed: dict[str, list[tuple[str, str]]]
    unmatched: list[str]
    units: dict[str, list[tuple[str, str, str]]] = field(default_factory=dict)  #: stage -> (video, state, why)

    def to_json(self) -> str:
        return json.dumps(asdict(self), indent=1)


def status(manifest_path: Path, out: Path | None = None, overrides: tuple[str, ...] = (),
           force: set[str] | None = None, skip_failed: bool = False) -> StatusReport:
    """What is up to date, stale (and why), failed, missing — per stage. Runs nothing."""
    session = open_session(manifest_path, out, overrides)
    plan = session.plan(force, retry_failed=not skip_failed)
    return summarize_plan(session, plan)


def summarize_plan(session: Session, plan: Plan) -> StatusReport:
    stages: dict[str, dict[str, int]] = {}
    reasons: dict[str, list[tuple[str, int]]] = {}
    failed: dict[str, list[tuple[str, str]]] = {}
    todo: dict[str, list[tuple[str, str, str]]] = {}
    for d in plan.stages:
        units = plan.by_stage(d.name)
        stages[d.name] = {s.value: sum(u.state is s for u in units) for s in UnitState}
        c = Counter(r for u in units if u.state is UnitState.STALE for r in u.reasons[:1])
        reasons[d.name] = c.most_common()
        failed[d.name] = [(u.video.video_id, u.reasons[0]) for u in units if u.state is UnitState.FAILED]
        todo[d.name] = [(u.video.video_id, u.state.value, "; ".join(u.reasons)) for u in units
                        if u.state is not UnitState.FRESH]
    return StatusReport(str(session.layout.root), stages, reasons, failed, session.unmatched, todo)
