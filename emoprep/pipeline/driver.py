"""The frame driver: one decode of a video feeds every stale consumer of it.

A :class:`~emoprep.pipeline.stagedef.Job` holds a video's units that run together, in DAG order.
The driver groups its consumers into passes: a pass takes every pending consumer whose upstream
units in the job have finished or are fed in the same pass (and none of its ``whole_first``
upstreams is in the pass: the scheduler never puts those in one job). Each pass:

1. ``begin`` each consumer in DAG order (upstream values are set: the probe's planned count, the
   window's frame numbers, the live tracker); each says which frames it wants (:class:`FrameNeed`);
2. decode the union of the wanted frames once, in increasing order, pushing each frame to the
   consumers that want it; when a consumer asks for the count, grab to the end of the video; a
   frame that cannot be read fails the consumers reading frames (and those waiting for the
   count), not the others;
3. ``finish`` each consumer in DAG order. A consumer may answer :data:`REDO` (the plan was wrong:
   the decoded count differs from the header's, fewer frames than planned): it and its downstream
   consumers go into the next pass, begun again with the values that are now final.

A unit without a consumer runs its runner once its upstream units have finished. An exception
in any call fails that stage only; its downstream units in the job get no result (they stay
blocked). Results are built in one place, :func:`emoprep.pipeline.worker.execute_job`.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from contextvars import ContextVar
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from emoprep.io.layout import Layout
from emoprep.io.video import count_frames, iter_frames, open_capture
from emoprep.pipeline.stagedef import (
    Count,
    FrameConsumer,
    FrameNeed,
    Job,
    Outputs,
    Redo,
    Streamed,
    UnitTask,
)
from emoprep.types import SourceKind, VideoEntry

#: the finished values of the job's consumers while one of its runners runs (:func:`job_value`)
_VALUES: ContextVar[dict[str, Any] | None] = ContextVar("emoprep_job_values", default=None)
#: passes a consumer may ask for again (the recounted video; the rows the tracker did not fill)
MAX_REDO = 2
#: a unit's outcome: its outputs and summary, or the exception that ended it
Outcome = Outputs | BaseException


@dataclass
class Ran:
    """One unit's outcome and the seconds spent on it (its share of the decode included)."""

    task: UnitTask
    outcome: Outcome
    seconds: float


@dataclass
class _Feed:
    """A consumer in the current pass: what it wants and how far it got."""

    stage: str
    consumer: FrameConsumer
    need: FrameNeed
    next: int = 0  #: position in ``need.indices`` of the next frame it waits for


@dataclass
class _State:
    """One job's bookkeeping across its passes (also the :class:`PassContext` consumers see)."""

    job: Job
    layout: Layout
    consumers: dict[str, FrameConsumer] = field(default_factory=dict)
    active: set[str] = field(default_factory=set)
    seconds: dict[str, float] = field(default_factory=dict)
    ran: dict[str, Ran] = field(default_factory=dict)
    dropped: set[str] = field(default_factory=set)
    redone: dict[str, int] = field(default_factory=dict)
    decoded: int = -1
    #: the batch's frame counter (flushed by its caller), else each pass counts and flushes its own
    progress: FrameCounter | None = None

    # PassContext
    def value(self, stage: str) -> Any:
        c = self.consumers.get(stage)
        return None if c is None else c.value

    def streaming(self, stage: str) -> bool:
        return stage in self.active

    # bookkeeping
    def ups(self, stage: str) -> tuple[str, ...]:
        return tuple(self.job.upstream.get(stage, ()))

    def add_time(self, stage: str, t0: float) -> None:
        self.seconds[stage] = self.seconds.get(stage, 0.0) + time.perf_counter() - t0

    def done(self, task: UnitTask, outcome: Outcome) -> None:
        self.ran[task.stage] = Ran(task, outcome, self.seconds.get(task.stage, 0.0))

    def finished_values(self) -> dict[str, Any]:
        """stage -> value of each consumer of the job whose unit ended with its outputs."""
        return {stage: c.value for stage, c in self.consumers.items()
                if stage in self.ran and not isinstance(self.ran[stage].outcome, BaseException)}

    def failed_or_dropped(self, stage: str) -> bool:
        r = self.ran.get(stage)
        return stage in self.dropped or (r is not None and isinstance(r.outcome, BaseException))


def run_job(job: Job, layout: Layout, progress: FrameCounter | None = None) -> list[Ran]:
    """Run every unit of ``job``; one :class:`Ran` per unit that ran, in the order they ended.

    ``progress``: a frame counter shared by the items of a batch (its caller flushes it), so a
    one-frame item does not put a count on the progress queue of its own."""
    st = _State(job, layout, progress=progress)
    pending = list(job.tasks)
    while pending:
        pending = [t for t in pending if not _drop_if_blocked(st, t)]
        members = _next_pass(st, pending)
        if members:
            fed = {m.stage for m in members} - _pass(st, members)  # what asks again stays
            pending = [t for t in pending if t.stage not in fed]
            continue
        task = next((t for t in pending if all(u in st.ran for u in st.ups(t.stage))), None)
        if task is None:  # nothing can start: an upstream left the job (never by construction)
            break
        pending.remove(task)
        t0 = time.perf_counter()
        reset = _VALUES.set(st.finished_values())
        try:
            outcome = _call(task.run, task, layout)
        finally:
            _VALUES.reset(reset)
        st.add_time(task.stage, t0)
        st.done(task, outcome)
    return list(st.ran.values())


def job_value(stage: str) -> Any:
    """For a runner called by the driver: the value of the consumer of ``stage`` that finished
    in the same job (``track``: its :class:`~emoprep.types.Geometry`, equal to what it wrote), so
    the runner need not read back what was written a moment ago (one read of every geometry
    array per small item); None when ``stage`` did not run in this job."""
    values = _VALUES.get()
    return None if values is None else values.get(stage)


def _drop_if_blocked(st: _State, task: UnitTask) -> bool:
    if any(st.failed_or_dropped(u) for u in st.ups(task.stage)):
        st.dropped.add(task.stage)
        return True
    return False


def _next_pass(st: _State, pending: list[UnitTask]) -> list[UnitTask]:
    """The consumers that can be fed together now (DAG order)."""
    members: list[UnitTask] = []
    for t in pending:
        if not isinstance(t.run, Streamed):
            continue
        if all(u in st.ran or u in {m.stage for m in members} for u in st.ups(t.stage)):
            members.append(t)
    return members


def _call(fn: Any, *args: Any) -> Any:
    """``fn(*args)``, or the exception it raised."""
    try:
        return fn(*args)
    except Exception as exc:  # noqa: BLE001 (every error becomes the unit's result)
        return exc


def _pass(st: _State, members: list[UnitTask]) -> set[str]:
    """Begin, decode and feed, finish; the stages to feed again in another pass."""
    tasks = {t.stage: t for t in members}
    feeds = _begin(st, members)
    _feed(st, tasks, feeds)
    redo: set[str] = set()
    for f in feeds:
        if f.stage in st.dropped or f.stage in st.ran:
            continue
        if any(u in redo for u in st.ups(f.stage)):
            f.consumer.abort()
            redo.add(f.stage)
            continue
        t0 = time.perf_counter()
        outcome = _call(f.consumer.finish, st)
        st.add_time(f.stage, t0)
        st.active.discard(f.stage)
        if isinstance(outcome, Redo) and st.redone.get(f.stage, 0) < MAX_REDO:
            f.consumer.abort()
            st.redone[f.stage] = st.redone.get(f.stage, 0) + 1
            redo.add(f.stage)
        elif isinstance(outcome, Redo):
            _settle(st, tasks[f.stage], f.consumer,
                    RuntimeError(f"stage {f.stage}: asked for another pass {MAX_REDO + 1} times"))
        else:
            _settle(st, tasks[f.stage], f.consumer, outcome)
    st.active.clear()
    return redo


def _begin(st: _State, members: list[UnitTask]) -> list[_Feed]:
    feeds = []
    for t in members:
        if _drop_if_blocked(st, t):
            continue
        assert isinstance(t.run, Streamed)
        consumer = st.consumers.get(t.stage) or t.run.consumer(t, st.layout)
        st.consumers[t.stage] = consumer
        t0 = time.perf_counter()
        need = _call(consumer.begin, st)
        st.add_time(t.stage, t0)
        if isinstance(need, BaseException):
            _settle(st, t, consumer, need)
            continue
        st.active.add(t.stage)
        feeds.append(_Feed(t.stage, consumer, need))
    return feeds


def _settle(st: _State, task: UnitTask, consumer: FrameConsumer, outcome: Outcome) -> None:
    """A consumer's unit ended (its outputs, or the error that failed it): its downstream
    consumers in the pass stop being fed."""
    if isinstance(outcome, BaseException):
        consumer.abort()
        st.active.discard(task.stage)
        for stage in _downstream(st, task.stage):
            if stage in st.active:
                st.consumers[stage].abort()
                st.active.discard(stage)
            st.dropped.add(stage)
    st.done(task, outcome)


def _downstream(st: _State, stage: str) -> list[str]:
    out: list[str] = []
    for t in st.job.tasks:
        if any(u == stage or u in out for u in st.ups(t.stage)):
            out.append(t.stage)
    return out


def _feed(st: _State, tasks: dict[str, UnitTask], feeds: list[_Feed]) -> None:
    """Decode the wanted frames once and push each to the consumers that want it; count the
    video's frames when a consumer asks. The decode time goes to the first consumer that reads
    frames (else to the one that counts)."""
    readers = [f for f in feeds if f.need.indices.size]
    want = np.unique(np.concatenate([f.need.indices for f in readers])) if readers else \
        np.zeros(0, np.int64)
    count = any(f.need.count is Count.ALWAYS for f in feeds) or \
        (want.size > 0 and any(f.need.count is Count.IF_READING for f in feeds))
    st.decoded = -1
    if not want.size and not count:
        return
    owner = (readers or [f for f in feeds if f.need.count is not Count.NO])[0].stage
    entry = tasks[owner].entry
    progress = st.progress or FrameCounter(tasks[owner].progress)
    counted = _Count()
    t0, before = time.perf_counter(), sum(st.seconds.get(f.stage, 0.0) for f in readers)
    try:
        for index, frame in _decode(entry, want, counted if count else None):
            progress()
            for f in readers:
                if f.stage in st.active:
                    _push(st, tasks[f.stage], f, index, frame)
    except Exception as exc:  # noqa: BLE001 (an unreadable frame fails the stages that read it)
        for f in feeds:
            if f.stage in st.active and (f.need.indices.size or f.need.count is not Count.NO):
                _settle(st, tasks[f.stage], f.consumer, exc)
    if st.progress is None:
        progress.flush()
    if count:
        st.decoded = counted.n
    inside = sum(st.seconds.get(f.stage, 0.0) for f in readers) - before
    st.seconds[owner] = st.seconds.get(owner, 0.0) + time.perf_counter() - t0 - inside


def _push(st: _State, task: UnitTask, f: _Feed, index: int, frame: np.ndarray) -> None:
    idx = f.need.indices
    while f.next < idx.size and idx[f.next] < index:  # frames the source skipped (a gap)
        f.next += 1
    if f.next >= idx.size or idx[f.next] != index:
        return
    f.next += 1
    t0 = time.perf_counter()
    err = _call(f.consumer.push, index, frame)
    st.add_time(f.stage, t0)
    if err is not None:
        _settle(st, task, f.consumer, err)


class FrameCounter:
    """Counts frames and puts the count on the progress queue every ``every`` frames."""

    def __init__(self, queue: Any, every: int = 25) -> None:
        self.queue, self.every, self.pending = queue, every, 0

    def __call__(self, n: int = 1) -> None:
        self.pending += n
        if self.queue is not None and self.pending >= self.every:
            self.flush()

    def flush(self) -> None:
        if self.queue is not None and self.pending:
            self.queue.put(self.pending)
        self.pending = 0


class _Count:
    n = -1


def _decode(entry: VideoEntry, want: np.ndarray, counter: _Count | None
            ) -> Iterator[tuple[int, np.ndarray]]:
    """``(frame number, (H, W, 3) BGR)`` for the frames ``want``; with ``counter``, the frames
    after the last wanted one are grabbed to the end and ``counter.n`` is the decodable count."""
    if counter is None or entry.kind is SourceKind.FRAMES:
        if want.size:
            yield from iter_frames(entry, want)
        if counter is not None:
            counter.n = count_frames(entry)
        return
    cap = open_capture(entry.path)
    try:
        pos, k = 0, 0
        while True:
            if k < want.size and pos == want[k]:
                ok, frame = cap.read()
                if not ok or frame is None:
                    break
                yield pos, frame
                k += 1
            elif not cap.grab():
                break
            pos += 1
        counter.n = pos
    finally:
        cap.release()
