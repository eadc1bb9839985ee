"""Worker side: run one (stage, video) unit and return a picklable :class:`UnitResult`.

A task holds only plain data (paths, config models, the video entry, the stage's run function
by reference): no open files, no global state, so it can go to a process pool or a dask worker.

Process hygiene (docs/RELIABILITY.md): a local worker watches its coordinator and exits the moment
it is gone, however it ended (SIGKILL included); every write of a unit is guarded by the run token
it was submitted with, so even a worker that somehow outlived its run cannot write into an output
folder another run holds. Ctrl-C is the coordinator's business: workers ignore SIGINT.
"""

from __future__ import annotations

import os
import select
import signal
import sys
import threading
import time
import traceback
from pathlib import Path
from typing import Any

from emoprep.errors import EmoprepError
from emoprep.io.atomic import guarded_writes, is_disk_full, stamp_file
from emoprep.io.layout import Layout
from emoprep.pipeline.batches import COPIED_KEY
from emoprep.pipeline.records import CHECKSUM_KEY
from emoprep.pipeline.stagedef import Job, UnitResult, UnitTask

#: frames of a crash traceback kept in the record: the innermost ones, where it was raised
TRACEBACK_FRAMES = 6
#: exit status of a worker whose coordinator is gone
ORPHAN_EXIT = 75
#: seconds between liveness checks where no pidfd is available
POLL_SECONDS = 0.5

#: the queue a local pool hands its workers at start (see :class:`ProgressChannel`)
_progress_queue: Any = None


class ProgressChannel:
    """Picklable handle to a frame-count queue that a local pool hands its workers at start.

    Pickled into a task it carries nothing; in a worker ``put`` goes to the queue the worker got
    at start (multiprocessing queues travel only that way). In the coordinator it wraps the queue.
    """

    def __init__(self, queue: Any) -> None:
        self._queue = queue

    def __getstate__(self) -> dict[str, Any]:
        return {}

    def __setstate__(self, state: dict[str, Any]) -> None:
        self._queue = None

    def put(self, item: Any) -> None:
        queue = self._queue if self._queue is not None else _progress_queue
        if queue is not None:
            queue.put(item)

    def get(self) -> Any:
        return self._queue.get()


def init_worker(coordinator_pid: int | None = None, progress: Any = None) -> None:
    """One thread per worker process; with ``coordinator_pid``, die with the coordinator.

    Parallelism comes from running videos side by side. ``progress``: the queue for frame counts.
    """
    import cv2

    global _progress_queue
    cv2.setNumThreads(1)
    os.environ.setdefault("OMP_NUM_THREADS", "1")
    _progress_queue = progress
    if coordinator_pid is not None:
        signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C reaches the whole group
        _die_with_parent()
        watch_coordinator(coordinator_pid)


def _die_with_parent() -> None:
    """Linux: SIGKILL this process when the process that started it ends (PR_SET_PDEATHSIG)."""
    if not sys.platform.startswith("linux"):
        return
    import ctypes

    try:
        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(1, signal.SIGKILL, 0, 0, 0)  # 1 = PR_SET_PDEATHSIG
    except (OSError, AttributeError):
        return


def _wait_for_exit(pid: int) -> None:
    """Block until process ``pid`` has ended (pidfd where the kernel has it, else polling)."""
    try:
        fd = os.pidfd_open(pid)
    except (AttributeError, OSError):
        fd = -1
    if fd >= 0:
        select.select([fd], [], [])
        return
    parent = os.getppid()
    while True:
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            return
        except PermissionError:
            pass
        if os.getppid() != parent:  # re-parented: whoever started us is gone
            return
        time.sleep(POLL_SECONDS)


def watch_coordinator(pid: int) -> threading.Thread:
    """Start a daemon thread that ends this process (exit 75) once process ``pid`` has ended."""

    def watch() -> None:
        _wait_for_exit(pid)
        os._exit(ORPHAN_EXIT)

    thread = threading.Thread(target=watch, name="emoprep-coordinator-watch", daemon=True)
    thread.start()
    return thread


def output_checksums(layout: Layout, outputs: list[Path]) -> dict[str, dict[str, Any]]:
    """size, mtime and sha256 of each output, keyed by its path relative to the output folder."""
    return {layout.rel(p): stamp_file(p) for p in outputs}


def execute(task: UnitTask, token: str = "") -> UnitResult:
    """Run one unit (:func:`execute_job` with a job of one)."""
    return execute_job(Job.of(task), token)[0]


def execute_job(job: Job, token: str = "") -> list[UnitResult]:
    """Run a job's units through the frame driver; one result per unit that ran (a unit whose
    upstream failed in the job has none). Every error becomes a failed result.

    ``token``: the run token the coordinator wrote into the output folder's lock; every write of
    the job checks it is still there (:func:`emoprep.io.atomic.guarded_writes`). A result's
    summary carries the outputs' checksums under :data:`CHECKSUM_KEY` (the record keeps them).
    """
    from emoprep.pipeline.driver import run_job

    if job.batch is not None:
        return execute_batch(job, token)
    layout = Layout(Path(job.tasks[0].out))
    try:
        with guarded_writes(layout.root, layout.lock, token):
            ran = run_job(job, layout)
    except Exception as exc:  # noqa: BLE001 (the guard itself failed: every unit gets the error)
        return [unit_result(layout, task, exc, 0.0) for task in job.tasks]
    return [unit_result(layout, r.task, r.outcome, r.seconds) for r in ran]


def execute_batch(job: Job, token: str = "") -> list[UnitResult]:
    """Run a batch's items one after the other in this process (models built once), every
    output into the batch's packs; copy the up-to-date items into the packs rewritten; close,
    fsync and rename each pack once. One result per unit that ran and per item copied (its
    summary marked :data:`~emoprep.pipeline.batches.COPIED_KEY`); the outputs' checksums are
    taken once per pack. A pack that cannot be written fails every unit of the batch."""
    from emoprep.io.packs import PackedLayout, PackIO
    from emoprep.pipeline.driver import FrameCounter, Ran, run_job

    spec = job.batch
    assert spec is not None
    layout = Layout(Path(job.tasks[0].out))
    packs = PackIO(layout, spec.batch_id)
    ran: list[Ran] = []
    progress = FrameCounter(job.tasks[0].progress)  # every 25 frames, not once per item
    try:
        with guarded_writes(layout.root, layout.lock, token):
            try:
                for item in spec.items:
                    ran += run_job(item, PackedLayout(layout.root, packs), progress)
                progress.flush()
                for c in spec.copies:
                    for a in c.artifacts:
                        packs.copy_fresh(a, list(c.videos))
                written = packs.close()
            except BaseException:
                packs.abort()
                raise
    except Exception as exc:  # noqa: BLE001 (a pack could not be written: the whole batch fails)
        return [unit_result(layout, task, exc, 0.0) for task in job.tasks]
    stamps = {str(p): {layout.rel(p): stamp_file(p)} for p in written.values()}
    out = []
    for r in ran:
        outcome = r.outcome
        paths = [] if isinstance(outcome, BaseException) else [str(p) for p in outcome[0]]
        if isinstance(outcome, BaseException) or not paths or any(p not in stamps
                                                                   for p in paths):
            out.append(unit_result(layout, r.task, outcome, r.seconds))
            continue
        sums = {rel: s for p in dict.fromkeys(paths) for rel, s in stamps[p].items()}  # each pack
        out.append(UnitResult(r.task.stage, r.task.entry.video_id, True, list(sums),
                              {**outcome[1], CHECKSUM_KEY: sums}, seconds=r.seconds))
    for c in spec.copies:
        if all(a.pattern in written for a in c.artifacts):
            sums = {rel: s for a in c.artifacts
                    for rel, s in stamps[str(written[a.pattern])].items()}
            out += [UnitResult(c.stage, vid, True, list(sums), {COPIED_KEY: True,
                                                                  CHECKSUM_KEY: sums})
                    for vid in c.videos]
    return out


def unit_result(layout: Layout, task: UnitTask, outcome: Any, seconds: float) -> UnitResult:
    """The one place a unit's outcome (outputs and summary, or an exception) becomes its result:
    checksums of its outputs; a domain error's message; otherwise the innermost frames of the
    traceback, and ``DiskFullError`` when the disk was full."""
    vid = task.entry.video_id
    if not isinstance(outcome, BaseException):
        outputs, summary = outcome
        try:
            summary = {**summary, CHECKSUM_KEY: output_checksums(layout, outputs)}
        except Exception as exc:  # noqa: BLE001 (an output vanished or cannot be read)
            return unit_result(layout, task, exc, seconds)
        return UnitResult(task.stage, vid, True, [layout.rel(p) for p in outputs], summary,
                          seconds=seconds)
    if isinstance(outcome, EmoprepError):
        return UnitResult(task.stage, vid, False, error=str(outcome),
                          error_type=type(outcome).__name__, seconds=seconds)
    tb = "".join(traceback.format_exception(outcome, limit=-TRACEBACK_FRAMES))
    kind = "DiskFullError" if is_disk_full(outcome) else type(outcome).__name__
    return UnitResult(task.stage, vid, False, error=f"{type(outcome).__name__}: {outcome}\n{tb}",
                      error_type=kind, seconds=seconds)
