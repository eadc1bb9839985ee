"""One decode per video: a video's stale chain of per-video stages (probe, window, track, au,
frames) run in one streamed pass over its frames.

The pass decodes each kept frame once: it is tracked (detector, MedianFlow, landmarks) and, once
its row can no longer change, warped and written into the frame shard; frames outside the window
are only grabbed, to count them (the probe's header count verified as a by-product). Each stage
still writes its own output, through the same functions as its runner in
:mod:`emoprep.pipeline.steps`, and gets its own :class:`UnitResult`, so records, fingerprints and
incremental runs are those of the stages run one by one. ``au`` needs every tracked frame, so in
``window.mode: au_trim`` ``frames`` runs after it on its own (a second decode).

Worker side: :func:`run_chain` returns one result per stage that ran (a failed stage ends the
chain; its downstream stages have no result and stay blocked). :class:`FusedTask` goes through the
current executors unchanged: its ``run`` packs the results into the summary of one result, which
:func:`unpack` turns back into the list (see the scheduler).
"""

from __future__ import annotations

import time
import traceback
from collections import deque
from collections.abc import Iterator
from contextlib import ExitStack
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from emoprep.errors import EmoprepError
from emoprep.io.atomic import stamp_file
from emoprep.io.layout import Layout
from emoprep.io.video import count_frames, iter_frames, open_capture
from emoprep.io.workfiles import load_npz
from emoprep.pipeline.records import CHECKSUM_KEY
from emoprep.pipeline.stagedef import UnitResult, UnitTask
from emoprep.pipeline.steps import frames as frames_step
from emoprep.pipeline.steps import probe as probe_step
from emoprep.pipeline.steps import track as track_step
from emoprep.pipeline.steps import window as window_step
from emoprep.pipeline.steps.shared import FrameCounter, RowBlocks, load_probe
from emoprep.stages.window import WindowMode
from emoprep.types import FrameStatus, ProbeInfo, SourceKind, VideoEntry

#: the per-video stages a pass can cover, in DAG order
FUSABLE = ("probe", "window", "track", "au", "frames")
TRACEBACK_FRAMES = 6


@dataclass(frozen=True)
class FusedTask:
    """A video's chain of units for one pass; quacks like a :class:`UnitTask` for the executors
    (``stage``, ``entry``, ``out``, ``run``)."""

    units: tuple[UnitTask, ...]
    stage: str = ""
    entry: VideoEntry | None = None
    out: str = ""
    run: Any = None

    @classmethod
    def of(cls, units: list[UnitTask]) -> FusedTask:
        return cls(tuple(units), "+".join(u.stage for u in units), units[0].entry, units[0].out,
                   packed_run)


def worth_fusing(stages: list[str]) -> bool:
    """A chain decodes once instead of several times only when it holds ``track`` and more."""
    return "track" in stages and len(stages) > 1


class _Short(Exception):
    """The window decoded fewer frames than planned: ``frames`` is left to run on its own."""


class _FramesFailed(Exception):
    """Warping failed; the pass goes on tracking and ``frames`` gets the error."""

    def __init__(self, exc: Exception) -> None:
        super().__init__(str(exc))
        self.exc = exc


class _Recount(Exception):
    """The decoded count differs from the planned one: the pass is redone with the decoded count."""

    def __init__(self, decoded: int) -> None:
        super().__init__(decoded)
        self.decoded = decoded


@dataclass
class _Chain:
    """Bookkeeping of one pass: results so far, the stage now running, its start time."""

    tasks: dict[str, UnitTask]
    layout: Layout
    results: list[UnitResult] = field(default_factory=list)
    current: str = ""
    t0: float = 0.0
    spent: dict[str, float] = field(default_factory=dict)  #: seconds inside the pass, per stage

    def begin(self, stage: str) -> None:
        self.current, self.t0 = stage, time.perf_counter()

    def done(self, outputs: list[Path], summary: dict[str, Any]) -> None:
        """The running stage succeeded: its result, with its outputs' checksums (as
        :func:`emoprep.pipeline.worker.execute` hands them to the record)."""
        seconds = time.perf_counter() - self.t0 + self.spent.pop(self.current, 0.0)
        stamps = {self.layout.rel(p): stamp_file(p) for p in outputs}
        self.results.append(UnitResult(self.current, self.tasks[self.current].entry.video_id, True,
                                       [self.layout.rel(p) for p in outputs],
                                       {**summary, CHECKSUM_KEY: stamps}, seconds=seconds))

    def failed(self, exc: BaseException) -> None:
        vid = self.tasks[self.current].entry.video_id
        sec = time.perf_counter() - self.t0
        if isinstance(exc, EmoprepError):
            err = str(exc)
        else:
            tb = "".join(traceback.format_exception(exc, limit=-TRACEBACK_FRAMES))
            err = f"{type(exc).__name__}: {exc}\n{tb}"
        self.results.append(UnitResult(self.current, vid, False, error=err,
                                       error_type=type(exc).__name__, seconds=sec))


def run_chain(task: FusedTask) -> list[UnitResult]:
    """Run the chain; one :class:`UnitResult` per stage that ran, in order."""
    chain = _Chain({t.stage: t for t in task.units}, Layout(Path(task.out)))
    try:
        _run(chain)
    except Exception as exc:  # noqa: BLE001 (every error becomes the running stage's result)
        chain.failed(exc)
    return chain.results


def _run(chain: _Chain) -> None:
    tasks = chain.tasks
    first = next(iter(tasks.values()))
    info, planned, check = _start_probe(chain, first)
    try:
        _pass(chain, info, planned, check)
    except _Recount as rc:  # header and decode disagree: plan again with the decoded count
        _pass(chain, info, rc.decoded, _count_check(info.n_frames, rc.decoded))
    for stage in ("au", "frames"):
        if stage in tasks and stage not in {r.stage for r in chain.results}:
            chain.begin(stage)
            chain.done(*tasks[stage].run(tasks[stage], chain.layout))


def _count_check(header: int, decoded: int) -> Any:
    from emoprep.stages.probe import CountCheck

    return CountCheck(header, decoded)


def _start_probe(chain: _Chain, first: UnitTask) -> tuple[ProbeInfo, int, Any]:
    """The probe's header (or the probe output when probe is not in the chain), the frame count
    to plan the window with, and the count check when it is already known."""
    if "probe" not in chain.tasks:
        info = load_probe(chain.layout, first.entry.video_id)
        return info, info.n_frames, None
    from emoprep.stages.probe import CountCheck, header_trusted, probe_header

    task = chain.tasks["probe"]
    chain.begin("probe")
    info = probe_header(task.entry, task.upstream.get("content", ""))
    header = info.n_frames
    if task.entry.kind is SourceKind.FRAMES:
        check = CountCheck(header, header)
    elif header <= 0 or (task.stages.probe.exact_count and not header_trusted(task.entry)):
        check = CountCheck(header, count_frames(task.entry))  # counted up front
    else:
        check = None  # verified by the pass
    planned = check.decoded if check is not None and (task.stages.probe.exact_count
                                                      or header <= 0) else header
    chain.spent["probe"] = time.perf_counter() - chain.t0
    return info, planned, check


def _pass(chain: _Chain, info: ProbeInfo, planned: int, check: Any) -> None:
    """Window, the decode loop (track, warp), then each stage's output in order."""
    tasks = chain.tasks
    plan_info = ProbeInfo(info.fps, planned, info.width, info.height, info.codec,
                          info.content_hash, info.kind)
    try:
        idx = _window(chain, plan_info)
    except EmoprepError:  # the probe still gets its result, from a counted decode if need be
        if "probe" in tasks:
            if check is None:
                check = _count_check(info.n_frames, count_frames(tasks["probe"].entry))
            _settle_probe(chain, info, planned, check)
            chain.begin("window")
        raise
    try:
        _loop(chain, info, plan_info, idx, check)
    except _Short:
        pass  # fewer frames decoded than planned: _run runs frames on its own afterwards
    except _FramesFailed as f:
        chain.begin("frames")
        chain.failed(f.exc)
    if "au" in tasks:
        chain.begin("au")
        chain.done(*tasks["au"].run(tasks["au"], chain.layout))


def _window(chain: _Chain, info: ProbeInfo) -> np.ndarray:
    """(K,) frame numbers: the window computed from ``info`` or, when window is up to date, read."""
    if "window" in chain.tasks:
        chain.begin("window")
        return window_step.frame_index(chain.tasks["window"], info)
    vid = chain.tasks["track"].entry.video_id
    return load_npz(chain.layout.work("window", vid, ".npz"), ("frame_index",))["frame_index"]


def _loop(chain: _Chain, info: ProbeInfo, plan_info: ProbeInfo, idx: np.ndarray, check: Any
          ) -> None:
    from emoprep.stages.track import FaceTracker

    tasks, t = chain.tasks, chain.tasks["track"]
    s, ptask = t.stages, tasks.get("probe")
    warp = "frames" in tasks and s.window.mode is not WindowMode.AU_TRIM
    count = ptask is not None and check is None
    chain.begin("track")
    tracker, decoded = FaceTracker(s.detect, s.track, s.landmarks), _Counter()
    with ExitStack() as stack:
        rows = _Warp(stack, tasks["frames"], plan_info, len(idx), chain) if warp else None
        progress = FrameCounter(t.progress)
        for i, frame in _decode(t.entry, idx, decoded if count else None):
            tracker.step(i, frame)
            progress()
            if rows is not None:
                rows.push(frame, tracker)
        progress.flush()
        chain.spent["track"] = (chain.spent.get("track", 0.0) + time.perf_counter() - chain.t0
                                - (rows.seconds if rows is not None else 0.0))
        if ptask is not None:
            if count:
                check = _count_check(info.n_frames, decoded.n)
            _settle_probe(chain, info, plan_info.n_frames, check)
        if "window" in tasks:
            chain.begin("window")
            chain.done(*window_step.save(tasks["window"], chain.layout, idx))
        chain.begin("track")
        result = tracker.finish(plan_info.fps)
        chain.done(*track_step.save(t, chain.layout, result, idx))
        frames_out = None
        if rows is not None:
            chain.begin("frames")
            frames_out = rows.finish(tracker, result.geometry)
    if frames_out is not None:  # the shard is in place once the writer has closed
        chain.done(*frames_out)


def _settle_probe(chain: _Chain, info: ProbeInfo, planned: int, check: Any) -> None:
    """Settle the count (FrameCountError with ``on_count_mismatch: fail``), redo the pass when it
    differs from the planned one (:class:`_Recount`), else write the probe output."""
    from emoprep.stages.probe import settle_count

    ptask = chain.tasks["probe"]
    chain.begin("probe")
    final = settle_count(ptask.entry, info, check, ptask.stages.probe)
    if final.n_frames != planned:
        raise _Recount(final.n_frames)
    chain.done(*probe_step.save(ptask, chain.layout, final, check))


class _Counter:
    n = 0


def _decode(entry: VideoEntry, idx: np.ndarray, counter: _Counter | None
            ) -> Iterator[tuple[int, np.ndarray]]:
    """``(frame number, (H, W, 3) BGR)`` for the frames ``idx``; with ``counter``, the frames
    after the last wanted one are grabbed to the end and ``counter.n`` is the decodable count."""
    if counter is None or entry.kind is SourceKind.FRAMES:
        yield from iter_frames(entry, idx)
        return
    cap = open_capture(entry.path)
    try:
        pos, k, wanted = 0, 0, np.asarray(idx, np.int64)
        while True:
            if k < wanted.size and pos == wanted[k]:
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


class _Warp:
    """The frames stage inside the pass: warps each frame once its track row is settled, writes
    the crops block by block; holds only the frames whose row may still change (a pending face).
    A warp error stops warping (tracking goes on) and becomes the frames stage's result."""

    def __init__(self, stack: ExitStack, task: UnitTask, info: ProbeInfo, T: int, chain: _Chain
                 ) -> None:
        from emoprep.io.hdf5 import ShardWriter

        s = task.stages
        self.task, self.cfg, self.chain, self.info = task, s.align, chain, info
        self.path = chain.layout.frames_shard(task.entry.video_id)
        self.w = stack.enter_context(ShardWriter(self.path, frames_step.shard_attrs(task, info, {}),
                                                 s.store))
        self.rows = RowBlocks(self.w.stream("frames", (T, s.align.size, s.align.size, 3), np.uint8))
        self.T, self.next = T, 0
        self.held: deque[Any] = deque()
        self.matrices = np.full((T, 2, 3), np.nan, np.float32)
        self.blank = np.zeros((s.align.size, s.align.size, 3), np.uint8)
        self.seconds = 0.0  #: spent warping and writing (frames are counted once, when decoded)
        self.error: Exception | None = None

    def push(self, frame: np.ndarray, tracker: Any) -> None:
        if self.error is not None:
            return
        self.held.append(frame)
        try:
            self._emit(tracker, tracker.settled)
        except Exception as exc:  # noqa: BLE001 (becomes the frames result; tracking goes on)
            self.error, self.held = exc, deque()

    def _emit(self, tracker: Any, upto: int) -> None:
        from emoprep.stages.align import align_face, alignment_matrix

        t0 = time.perf_counter()
        while self.next < min(upto, self.T):
            status, box, lm = tracker.row(self.next)
            frame, crop = self.held.popleft(), self.blank
            if status in FACE and (np.isfinite(lm).all() or np.isfinite(box).all()):
                m = alignment_matrix(lm, box, self.cfg).astype(np.float32)
                self.matrices[self.next] = m
                if np.isfinite(m).all():
                    crop = align_face(frame, m, self.cfg)
            self.rows.add(crop)
            self.next += 1
        self.seconds += time.perf_counter() - t0
        self.chain.spent["frames"] = self.seconds

    def finish(self, tracker: Any, geom: Any) -> tuple[list[Path], dict[str, Any]]:
        """Warp the rows the end of the video settled; :class:`_Short` when fewer frames decoded
        than the window holds, :class:`_FramesFailed` after a warp error."""
        if self.error is None:
            try:
                self._emit(tracker, len(tracker))
            except Exception as exc:  # noqa: BLE001
                self.error = exc
        if self.error is not None:
            raise _FramesFailed(self.error)
        if len(tracker) != self.T:
            raise _Short()
        self.rows.flush()
        return [self.path], frames_step.write_tables(self.w, geom, self.matrices, self.info)


FACE = frozenset({FrameStatus.DETECTED, FrameStatus.TRACKED, FrameStatus.REDETECTED,
                  FrameStatus.MULTI_FACE})


def packed_run(task: FusedTask, layout: Layout) -> tuple[list[Path], dict[str, Any]]:
    """``run`` of a :class:`FusedTask` for :func:`emoprep.pipeline.worker.execute`: the chain's
    results travel in the summary (``{"results": [...]}``); :func:`unpack` restores them."""
    return [], {"results": [asdict(r) for r in run_chain(task)]}


def unpack(res: UnitResult, task: FusedTask) -> list[UnitResult]:
    """The per-stage results of a fused task's packed result. A result that is not packed (the
    worker died, dask lost it) fails every stage of the chain with its error."""
    if res.ok and "results" in res.summary:
        return [UnitResult(**r) for r in res.summary["results"]]
    why = f"{res.error} (while running the single-decode pass {task.stage})"
    return [UnitResult(u.stage, u.entry.video_id, False, error=why,
                       error_type=res.error_type or "WorkerCrash") for u in task.units]
