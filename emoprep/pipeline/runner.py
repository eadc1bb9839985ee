"""The coordinator: open a session, plan, run units on an executor, rebuild indexes and the split.

Only the coordinator writes records, index files, split manifests and the run summary; it holds
the output folder's lock while it does.
"""

from __future__ import annotations

import fcntl
import json
import os
import time
from collections import Counter
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from emoprep.errors import EmoprepError
from emoprep.io.atomic import TEMP_GLOB, atomic_write_text
from emoprep.io.layout import Layout
from emoprep.pipeline.dag import Plan, Unit, UnitState
from emoprep.pipeline.indexes import rebuild_indexes
from emoprep.pipeline.scheduler import RunOptions, execute_plan, runnable
from emoprep.pipeline.session import Session, open_session
from emoprep.pipeline.splits import write_split
from emoprep.pipeline.stagedef import StageDef, UnitResult


class RunLockedError(EmoprepError):
    """Another emoprep run holds the output folder."""


#: folders of the output that hold no stage's outputs but are emoprep's own
OWN_FOLDERS = ("splits", "plots", ".emoprep")


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


def sweep_temporaries(layout: Layout, stages: list[StageDef]) -> int:
    """Delete temporary files a killed run left behind (only called while holding the lock).

    Looks at the output folder's top level and inside the folders the stages declare as their
    outputs (and emoprep's own), never elsewhere in the output folder.
    """
    candidates = list(layout.root.glob(TEMP_GLOB))  # index files and the summary
    folders = {str(o) for d in stages for o in d.outputs} | set(OWN_FOLDERS)
    for sub in sorted(folders):
        candidates += (layout.root / sub).rglob(TEMP_GLOB)
    n = 0
    for p in candidates:
        if p.is_file():
            p.unlink(missing_ok=True)
            n += 1
    return n


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


def run(manifest_path: Path, out: Path | None = None, overrides: tuple[str, ...] = (),
        opts: RunOptions | None = None, on_start: Callable[[Session, Plan, int], None] | None = None,
        on_done: Callable[[Unit, UnitResult], None] | None = None) -> RunReport:
    """Validate, plan, run what is stale, rebuild indexes and splits; return the report."""
    opts = opts or RunOptions()
    t0 = time.perf_counter()
    session = open_session(manifest_path, out, overrides)
    with run_lock(session.layout):
        plan = session.plan(opts.force, retry_failed=not opts.skip_failed)
        sweep_temporaries(session.layout, plan.stages)
        session.save_caches()
        n_todo = len(runnable(plan, opts.skip_failed))
        if on_start:
            on_start(session, plan, n_todo)
        ex = execute_plan(plan, session, opts, on_done)
        results = ex.results
        videos = rebuild_indexes(session, plan)
        split = write_split(session.split)
        if opts.plots:
            from emoprep.pipeline.trim_plots import write_trim_plots

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
    split: dict[str, Any] = field(default_factory=dict)  #: name, state, reason, path

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
    return StatusReport(str(session.layout.root), stages, reasons, failed, session.unmatched, todo,
                        session.split.as_dict())
