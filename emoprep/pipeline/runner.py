"""The coordinator: open a session, plan, run units on an executor, rebuild indexes and the split.

Only the coordinator writes records, index files, split manifests and the run summary; it holds
the output folder's lock while it does, and writes a fresh run token into it that guards every
write of its workers (docs/RELIABILITY.md). SIGTERM is handled like Ctrl-C: the run stops at once,
keeps what finished, writes its summary and raises :class:`RunInterrupted` (exit status 143,
130 for SIGINT); a full disk stops it the same way with :class:`~emoprep.errors.DiskFullError`.
"""

from __future__ import annotations

import fcntl
import json
import os
import signal
import threading
import time
import uuid
from collections import Counter
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field, is_dataclass
from pathlib import Path
from typing import Any

from emoprep.errors import DiskFullError, EmoprepError
from emoprep.io.atomic import TEMP_GLOB, atomic_write_text, lock_text
from emoprep.io.layout import Layout
from emoprep.pipeline.dag import Plan, Unit, UnitState
from emoprep.pipeline.outcome import (
    bad_files,
    batch_note,
    explain_failures,
    gone_videos,
    label_changes,
    save_used_manifest,
    window_note,
)
from emoprep.pipeline.scheduler import RunOptions, execute_plan, runnable
from emoprep.pipeline.session import ManifestSource, Session, open_session
from emoprep.pipeline.splits import write_split
from emoprep.pipeline.stagedef import StageDef, UnitResult


class RunLockedError(EmoprepError):
    """Another emoprep run holds the output folder."""


class RunInterrupted(EmoprepError):
    """The run was stopped by a signal; what finished is kept, the next run resumes."""

    def __init__(self, message: str, exit_code: int) -> None:
        super().__init__(message)
        self.exit_code = exit_code


#: folders of the output that hold no stage's outputs but are emoprep's own
OWN_FOLDERS = ("splits", "plots", ".emoprep")


def _holder(text: str) -> str:
    try:
        data = json.loads(text)
        return f"pid {data['pid']} on {data.get('host', '?')}"
    except (ValueError, KeyError, TypeError):
        return text.strip() or "unknown pid"


@contextmanager
def run_lock(layout: Layout) -> Iterator[str]:
    """Exclusive lock on the output folder for the duration of a run; yields the run token.

    The lock is an ``flock`` (released by the kernel however the process ends, so a lock file left
    by a killed run is never in the way). The token is cleared on the way out, so no worker of this
    run can write after it.
    """
    layout.meta_dir.mkdir(parents=True, exist_ok=True)
    fh = open(layout.lock, "a+", encoding="utf-8")
    try:
        try:
            fcntl.flock(fh, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            fh.seek(0)
            raise RunLockedError(f"output folder {layout.root} is in use by another emoprep run "
                                 f"({_holder(fh.read())}); wait for it or use another --out") \
                from None
        token = uuid.uuid4().hex
        _write_lock(fh, token)
        try:
            yield token
        finally:
            _write_lock(fh, "", quiet=True)
    finally:
        fh.close()


def _write_lock(fh: Any, token: str, quiet: bool = False) -> None:
    try:
        fh.seek(0)
        fh.truncate()
        fh.write(lock_text(os.getpid(), token))
        fh.flush()
        os.fsync(fh.fileno())
    except OSError:
        if not quiet:
            raise


class _Stopped(BaseException):
    """Raised in the main thread by the SIGTERM / SIGINT handler of a run."""

    def __init__(self, signum: int) -> None:
        super().__init__(signum)
        self.signum = signum


@contextmanager
def stop_signals() -> Iterator[None]:
    """SIGTERM and SIGINT raise :class:`_Stopped` once (further ones are ignored while the run
    stops); a no-op outside the main thread."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    fired: list[int] = []

    def handler(signum: int, _frame: object) -> None:
        if not fired:
            fired.append(signum)
            raise _Stopped(signum)

    old = {sig: signal.signal(sig, handler) for sig in (signal.SIGTERM, signal.SIGINT)}
    try:
        yield
    finally:
        for sig, h in old.items():
            signal.signal(sig, h)


def sweep_temporaries(layout: Layout, stages: list[StageDef]) -> int:
    """Delete temporary files a killed run left behind (only called while holding the lock).

    Looks at the output folder's top level (the summary), inside the folders of the artifacts
    the stages declare (and emoprep's own), and next to the index files those artifacts ask for
    (``<store>.h5``), never elsewhere in the output folder.
    """
    candidates = list(layout.root.glob(TEMP_GLOB))
    artifacts = [o for d in stages for o in d.outputs]
    folders = {str(o.folder) for o in artifacts} | set(OWN_FOLDERS)
    for sub in sorted(folders):
        candidates += (layout.root / sub).rglob(TEMP_GLOB)
    beside = {layout.index_file(o.index.into).parent for o in artifacts if o.index is not None}
    for parent in sorted(beside - {layout.root}):
        candidates += parent.glob(TEMP_GLOB)
    n = 0
    for p in set(candidates):
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
    error: str = ""  #: why the run stopped early (a signal, a full disk); "" when it completed
    warnings: list[dict[str, Any]] = field(default_factory=list)  #: per video, e.g. low_face
    min_face_fraction: float | None = None  #: stages.quality's bar when the run was made
    provenance: dict[str, Any] = field(default_factory=dict)  #: Session.provenance()
    window: dict[str, Any] = field(default_factory=dict)  #: what stages.window kept (window_note)
    gone: list[dict[str, Any]] = field(default_factory=list)  #: videos gone (gone_videos)
    index_changes: list[str] = field(default_factory=list)  #: label_changes since the last run
    packed: dict[str, Any] = field(default_factory=dict)  #: items in batches (batch_note)

    @property
    def failed_videos(self) -> list[dict[str, Any]]:
        return [v for v in self.videos if v["status"] == "failed"]

    def to_json(self) -> str:
        # the fields are plain JSON values already: no deep copy (asdict) of 10,000 video rows
        return json.dumps(vars(self), indent=1, default=_plain)


def _plain(value: Any) -> Any:
    """JSON for what json cannot write itself: a dataclass as its dict, anything else as text."""
    return asdict(value) if is_dataclass(value) and not isinstance(value, type) else str(value)


def run(manifest_path: ManifestSource, out: Path | None = None, overrides: tuple[str, ...] = (),
        opts: RunOptions | None = None,
        on_start: Callable[[Session, Plan, int], None] | None = None,
        on_done: Callable[[Unit, UnitResult], None] | None = None) -> RunReport:
    """Validate, plan, run what is stale, rebuild indexes and splits; return the report.

    Raises :class:`RunInterrupted` on SIGTERM / SIGINT and :class:`DiskFullError` on a full disk,
    after writing the summary of what ran (when there is room for it).
    """
    opts = opts or RunOptions()
    t0 = time.perf_counter()
    session = open_session(manifest_path, out, overrides)
    ran: list[dict[str, Any]] = []

    def done(unit: Unit, res: UnitResult) -> None:
        ran.append(_ran(res))
        if on_done:
            on_done(unit, res)

    with run_lock(session.layout), stop_signals():
        try:
            return _run_locked(session, opts, on_start, done, ran, t0)
        except (_Stopped, KeyboardInterrupt) as exc:
            signum = exc.signum if isinstance(exc, _Stopped) else signal.SIGINT
            name = signal.Signals(signum).name
            why = f"interrupted by {name}: {len(ran)} units finished and kept; run again to resume"
            raise RunInterrupted(why + _stopped_summary(session, ran, why, t0), 128 + signum) \
                from None
        except DiskFullError as exc:
            why = f"stopped: {exc}"
            raise DiskFullError(why + _stopped_summary(session, ran, why, t0)) from exc
        finally:  # any other error (a dead scheduler, a bug): the database at rest, one file
            session.records.close(quiet=True)


def _ran(r: UnitResult) -> dict[str, Any]:
    return {"stage": r.stage, "video_id": r.video_id, "ok": r.ok, "seconds": round(r.seconds, 3),
            "error": r.error.splitlines()[0] if r.error else ""}


def _run_locked(session: Session, opts: RunOptions, on_start: Callable[..., None] | None,
                on_done: Callable[[Unit, UnitResult], None], ran: list[dict[str, Any]],
                t0: float) -> RunReport:
    session.records.full = opts.verify
    session.records.open_for_run()  # JSON records of an older folder move into the database
    plan = session.plan(opts.force, retry_failed=opts.retry)
    sweep_temporaries(session.layout, plan.stages)
    session.save_caches()
    n_todo = len(runnable(plan, opts.skip_failed))
    if on_start:
        on_start(session, plan, n_todo)
    ex = execute_plan(plan, session, opts, on_done)
    session.records.commit()
    from emoprep.pipeline.indexes import rebuild_indexes  # h5py: not for status

    changes = label_changes(session)
    videos = rebuild_indexes(session, plan)
    session.records.close()
    explain_failures(session, videos)
    session.plan_split_over({v["video_id"] for v in videos if v["status"] == "failed"})
    split = write_split(session.split)
    if opts.plots:
        from emoprep.pipeline.trim_plots import write_trim_plots

        write_trim_plots(session)
    fresh = plan.fresh_count()
    report = RunReport(str(session.layout.root), ex.description, ex.dashboard, ran, fresh,
                       len(plan.units) - fresh - len(ex.results), videos, session.unmatched,
                       [v["video_id"] for v in videos if v.get("anomaly")], split,
                       round(time.perf_counter() - t0, 3), ex.startup_seconds, ex.work_seconds,
                       warnings=[w for v in videos for w in v.get("warnings", [])],
                       min_face_fraction=session.manifest.stages.quality.min_face_fraction,
                       provenance=session.provenance(), window=window_note(session, videos),
                       gone=gone_videos(session), index_changes=changes,
                       packed=batch_note(session, plan))
    atomic_write_text(session.layout.summary, report.to_json())
    save_used_manifest(session)
    return report


def _stopped_summary(session: Session, ran: list[dict[str, Any]], why: str, t0: float) -> str:
    """Write the summary of a run that stopped early; "" or why it could not be written."""
    session.records.close(quiet=True)  # commits what finished, if it can
    report = RunReport(str(session.layout.root), "", None, ran, 0, 0, [], session.unmatched, [],
                       {}, round(time.perf_counter() - t0, 3), error=why)
    try:
        atomic_write_text(session.layout.summary, report.to_json())
    except (OSError, EmoprepError) as exc:
        return f" (the summary could not be written either: {str(exc)[:200]})"
    return ""


@dataclass
class StatusReport:
    out: str
    stages: dict[str, dict[str, int]]
    reasons: dict[str, list[tuple[str, int]]]
    failed: dict[str, list[tuple[str, str]]]
    unmatched: list[str]
    units: dict[str, list[tuple[str, str, str]]] = field(
        default_factory=dict
    )  #: stage -> (video, state, why)
    split: dict[str, Any] = field(default_factory=dict)  #: name, state, reason, path
    train: list[dict[str, str]] = field(default_factory=list)  #: training units and their state
    gone: list[dict[str, Any]] = field(default_factory=list)  #: videos gone (gone_videos)
    index_changes: list[str] = field(default_factory=list)  #: label_changes since the last run
    packed: dict[str, Any] = field(default_factory=dict)  #: items in batches (batch_note)
    overrides: list[str] = field(default_factory=list)  #: the --set values of this status
    #: videos to probe that cannot be videos (0 bytes, text): (video id, why)
    bad_files: list[tuple[str, str]] = field(default_factory=list)

    def to_json(self) -> str:
        return json.dumps(asdict(self), indent=1)


def status(manifest_path: ManifestSource, out: Path | None = None, overrides: tuple[str, ...] = (),
           force: set[str] | None = None, skip_failed: bool = False, verify: bool = False,
           retry_failed: bool = False,
           training: Callable[[Session], list[dict[str, str]]] | None = None) -> StatusReport:
    """What is up to date, stale (and why), failed, missing — per stage. Runs nothing, writes
    nothing. ``verify``: read every output in full (sha256, every HDF5 dataset) before
    trusting it. ``training``: the states of the training units for ``StatusReport.train``
    (:func:`emoprep.train.cache.training_status`; the engine does not import the trainers)."""
    session = open_session(manifest_path, out, overrides)
    session.records.full = verify
    retry = RunOptions(skip_failed=skip_failed, retry_failed=retry_failed).retry
    plan = session.plan(force, retry_failed=retry)
    session.plan_split_over({u.video.video_id for u in plan.live()
                             if u.state in (UnitState.FAILED, UnitState.DATA_FAILED)})
    report = summarize_plan(session, plan)
    report.train = training(session) if training else []
    report.gone = gone_videos(session)
    report.packed = batch_note(session, plan)
    report.overrides = [o for o in overrides if not o.startswith("profile=")]  # not --profile
    report.index_changes = label_changes(session)
    report.bad_files = bad_files(session, [u.video.video_id for u in plan.live("probe")])
    return report


def summarize_plan(session: Session, plan: Plan) -> StatusReport:
    stages: dict[str, dict[str, int]] = {}
    reasons: dict[str, list[tuple[str, int]]] = {}
    failed: dict[str, list[tuple[str, str]]] = {}
    todo: dict[str, list[tuple[str, str, str]]] = {}
    for d in plan.stages:  # the units not up to date, one by one; the others counted
        units = plan.live(d.name)
        stages[d.name] = {s.value: n for s, n in plan.counts(d.name).items()}
        c = Counter(r for u in units if u.state is UnitState.STALE for r in u.reasons[:1])
        reasons[d.name] = c.most_common()
        failed[d.name] = [(u.video.video_id, u.reasons[0]) for u in units
                          if u.state in (UnitState.FAILED, UnitState.DATA_FAILED)]
        todo[d.name] = [(u.video.video_id, u.state.value, "; ".join(u.reasons)) for u in units
                        if u.state is not UnitState.FRESH]
    return StatusReport(str(session.layout.root), stages, reasons, failed, session.unmatched, todo,
                        session.split.as_dict())
