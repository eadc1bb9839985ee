"""Plain-text rendering of run reports, plans and progress (no logic, only formatting)."""

from __future__ import annotations

import sys
import time
from enum import IntEnum
from pathlib import Path
from typing import Any, TextIO


def plural(n: int, word: str, many: str | None = None) -> str:
    """``plural(1, "file")`` -> "1 file"; ``plural(2, "file")`` -> "2 files"."""
    return f"{n} {word if n == 1 else (many or word + 's')}"


def is_tty(stream: TextIO) -> bool:
    try:
        return stream.isatty()
    except (AttributeError, ValueError):
        return False


class Verbosity(IntEnum):
    QUIET = 0  #: the summary only (-q)
    NORMAL = 1
    VERBOSE = 2  #: also every finished unit (-v)


class Progress:
    """Progress on stderr: redrawn bars on a terminal; plain periodic lines otherwise (SLURM logs
    get no carriage returns or escape codes); nothing with ``-q`` or ``--json``."""

    def __init__(self, enabled: bool = True, verbosity: Verbosity = Verbosity.NORMAL,
                 stream: TextIO | None = None, every_s: float = 30.0) -> None:
        self.stream = stream or sys.stderr
        self.enabled = enabled and verbosity > Verbosity.QUIET
        self.verbosity = verbosity
        self.bars = self.enabled and is_tty(self.stream)
        self.every_s, self.last = every_s, time.monotonic()
        self.t0 = self.last  #: when the units started (reset by :meth:`start`)
        self.total = self.done_units = self.n_frames = self.failed = 0
        self.bar: Any = None
        self.frames_bar: Any = None

    def _line(self, text: str) -> None:
        if self.bar is not None:
            self.bar.write(text, file=self.stream)
        else:
            print(text, file=self.stream, flush=True)

    def executor(self, description: str, dashboard: str | None) -> None:
        if self.enabled:
            self._line(
                f"executor: {description}"
                + (f"   dask dashboard: {dashboard}" if dashboard else "")
            )

    def frames(self, n: int) -> None:
        """Frames decoded so far (reported by the workers; long videos move this counter)."""
        self.n_frames += n
        if not self.enabled:
            return
        if self.bars:
            if self.frames_bar is None:
                from tqdm import tqdm

                self.frames_bar = tqdm(unit="frame", desc="frames", position=1, dynamic_ncols=True,
                                       file=self.stream)
            self.frames_bar.update(n)
        else:
            self._tick()

    def start(self, session: Any, plan: Any, n_todo: int) -> None:
        self.total, self.t0 = n_todo, time.monotonic()
        if not self.enabled:
            return
        self._line(f"{plural(len(session.videos), 'video')}, {plural(len(plan.units), 'unit')}, "
                   f"{n_todo} to run -> {session.layout.root}")
        if session.unmatched:
            self._line(
                f"{plural(len(session.unmatched), 'file')} matched no label rule (see summary)"
            )
        sets = [o for o in getattr(session, "overrides", ()) if not o.startswith("profile=")]
        if sets:
            self._line(f"--set {' '.join(sets)}: for this run only (not saved); a run without "
                       f"them goes back to the manifest's values and re-runs what they changed "
                       f"(to keep them, write them into the manifest)")
        if self.bars:
            from tqdm import tqdm

            self.bar = tqdm(total=n_todo, unit="unit", dynamic_ncols=True, file=self.stream)

    def done(self, unit: Any, result: Any) -> None:
        self.done_units += 1
        self.failed += not result.ok
        if not self.enabled:
            return
        if not result.ok:
            self._line(f"failed {unit.stage} {unit.video.video_id}: {result.error.splitlines()[0]}")
        elif self.verbosity >= Verbosity.VERBOSE:
            self._line(f"done {unit.stage} {unit.video.video_id} ({result.seconds:.2f} s)")
        if self.bar is not None:
            self.bar.set_description(f"{unit.stage:<12.12}")
            self.bar.update(1)
        else:
            self._tick()

    def _tick(self, force: bool = False) -> None:
        """One plain progress line at most every ``every_s`` seconds (non-terminal output)."""
        now = time.monotonic()
        if not force and now - self.last < self.every_s:
            return
        self.last = now
        self._line(f"progress: {self.done_units}/{self.total} units, {self.failed} failed, "
                   f"{self.n_frames} frames decoded{speed_text(self, now)}")

    def close(self) -> None:
        for bar in (self.frames_bar, self.bar):
            if bar is not None:
                bar.close()
        self.bar = self.frames_bar = None
        if self.enabled and not self.bars and self.total:
            self._tick(force=True)


def speed_text(p: Progress, now: float) -> str:
    """", 41.2 frames/s, about 2 min left": the decode rate since the units started and the time
    left if the remaining units take as long on average as the finished ones ("" before any)."""
    elapsed = now - p.t0
    if elapsed <= 0 or not p.done_units:
        return ""
    rate = f", {p.n_frames / elapsed:.1f} frames/s" if p.n_frames else ""
    left = (p.total - p.done_units) * elapsed / p.done_units
    return f"{rate}, about {duration(left)} left" if p.done_units < p.total else rate


def duration(seconds: float) -> str:
    """``duration(75)`` -> "1 min 15 s"; "42 s" under a minute; "2 h 05 min" over an hour."""
    s = int(round(seconds))
    if s < 60:
        return f"{s} s"
    if s < 3600:
        return f"{s // 60} min {s % 60:02d} s"
    return f"{s // 3600} h {s % 3600 // 60:02d} min"


def stage_seconds_line(ran: list[dict[str, Any]], videos: list[dict[str, Any]], work_s: float
                       ) -> list[str]:
    """"time per stage: track 12.3 s, frames 3.1 s, ...; 1596 frames kept, 60.2 frames/s of work
    time" from the units that ran (seconds as the workers measured them; frames: those kept of
    the ok videos that had a unit run)."""
    touched = {r.get("video_id") for r in ran}
    frames = sum(v.get("n_frames", 0) for v in videos
                 if v["status"] == "ok" and v["video_id"] in touched)
    per: dict[str, float] = {}
    for r in ran:
        stage = str(r.get("stage", "")).split("@")[0]
        per[stage] = per.get(stage, 0.0) + float(r.get("seconds") or 0.0)
    if not per:
        return []
    parts = ", ".join(f"{k} {v:.1f} s" for k, v in sorted(per.items(), key=lambda kv: -kv[1]))
    rate = f"; {frames} frames kept, {frames / work_s:.1f} frames/s of work time" \
        if frames and work_s > 0 else ""
    return [f"time per stage: {parts}{rate}"]


def run_text(report: Any, width: int | None = None) -> str:
    """The run summary; ``width`` cuts long reasons (a terminal); None keeps them whole (piped)."""
    lines = []
    ok = [v for v in report.videos if v["status"] == "ok"]
    failed = [v for v in report.videos if v["status"] == "failed"]
    pending = [v for v in report.videos if v["status"] == "pending"]
    on = f" on {report.executor}" if report.ran else " (nothing to run)"
    lines.append(f"{plural(len(report.ran), 'unit')} ran, {report.skipped} up to date, "
                 f"{report.blocked} not run (upstream failed or --skip-failed), "
                 f"{report.seconds:.1f} s{on}")
    if report.error:  # why the run stopped early (a signal, a full disk)
        lines.append(f"stopped early: {report.error}")
    lines.append("")
    lines.append(f"{'video':<32} {'status':<8} {'kept':>6} {'face':>6}  reason")
    for v in report.videos:
        lines.append(f"{v['video_id']:<32.32} {v['status']:<8} {v.get('n_frames', '-'):>6} "
                     f"{v.get('n_face', '-'):>6}  {_cut(v.get('error', ''), width)}")
    kept = sum(v.get("n_frames", 0) for v in ok)
    face = sum(v.get("n_face", 0) for v in ok)
    lines.append("")
    lines.append(f"videos: {len(ok)} ok, {len(failed)} failed, {len(pending)} pending; "
                 f"frames kept: {kept}, with a face: {face}")
    lines += stage_seconds_line(report.ran, report.videos, getattr(report, "work_seconds", 0.0))
    if report.anomalies:
        lines.append(f"AU-trim anomalies (not trimmed; held back from exports and datasets unless "
                     f"--include-anomalies; fix with stages.trim.overrides): "
                     f"{', '.join(report.anomalies)}")
    lines += _window_lines(getattr(report, "window", {}))
    lines += [f"warning: {w['video_id']}: {w['message']}" for w in getattr(report, "warnings", [])]
    lines += packed_lines(getattr(report, "packed", {}))
    lines += gone_lines(getattr(report, "gone", []), ran=True)
    if getattr(report, "index_changes", None):
        lines.append(f"indexes rewritten: {', '.join(report.index_changes)} (labels are metadata: "
                     f"no stage re-ran)")
    if report.unmatched:
        lines.append(f"{plural(len(report.unmatched), 'file')} matched no label rule: "
                     + "; ".join(report.unmatched[:5]))
    lines += split_lines(report.split)
    lines.append(f"output: {report.out}  (frame store: {report.out}/frames.h5)")
    return "\n".join(lines)


def _window_lines(w: dict[str, Any]) -> list[str]:
    """What ``stages.window`` kept, with the key that changes it."""
    if not w or not w.get("source"):
        return []
    kept = f"frames kept by the window: {w['kept']} of {w['source']} decodable frames"
    sampled = "; sampled (stages.window.sample)" if w.get("sampled") else ""
    if w["mode"] == "fraction":
        return [f"{kept} (stages.window.mode fraction: [{w['start']:g}, {w['end']:g}) of each "
                f"video{sampled}; stages.window.mode: all keeps every frame)"]
    if w["mode"] == "au_trim":
        return [f"{kept} (stages.window.mode au_trim: neutral start and end cut{sampled})"]
    return [f"{kept} (stages.window.mode all{sampled})"]


def packed_lines(packed: dict[str, Any]) -> list[str]:
    """``packed: 2,000 items in 1 batch (frames/packs/b000001.h5)``: the small items written in
    batches (docs/STORE.md), when there are any."""
    if not packed:
        return []
    items, n = packed["items"], packed["batches"]
    where = packed["first"] if n == 1 else f"{packed['first']} ... {Path(packed['last']).name}"
    return [f"packed: {items:,} item{'s' if items != 1 else ''} in {n:,} "
            f"batch{'es' if n != 1 else ''} ({where})"]


def gone_lines(gone: list[dict[str, Any]], ran: bool) -> list[str]:
    """Videos processed before that the manifest no longer finds, and what became of their
    files."""
    lines = []
    for g in gone:
        files = ", ".join(g["files"]) or "none left"
        if g.get("batch"):
            fate = ("left out of frames.h5 and features/" if ran
                    else "the next run leaves it out of frames.h5 and features/")
            lines.append(f"gone: {g['video_id']}: processed before, no longer found by the "
                         f"manifest; {fate}; its data stays in batch {g['batch']}'s packs "
                         f"({files}) until that batch runs again (fix: restore the video to use "
                         "it again)")
            continue
        fate = ("left out of frames.h5 and features/; its files are kept" if ran
                else "the next run leaves it out of frames.h5 and features/ and keeps its files")
        lines.append(f"gone: {g['video_id']}: processed before, no longer found by the manifest; "
                     f"{fate} ({files}) (fix: restore the video to use them again, or delete "
                     f"them)")
    return lines


def split_lines(split: dict[str, Any] | None) -> list[str]:
    """``split NAME: state (reason)``, with every further split; the reason in plain words."""
    if not split:
        return []
    why = split.get("error") or split.get("reason")
    if split.get("state") == "written":
        why = {"never written": "new", "": None}.get(why or "", why)
    elif split.get("state") == "unavailable":
        why = f"not written: {why}"
    out = [f"split {split['name']}: {split['state']}" + (f" ({why})" if why else "")]
    for extra in split.get("extra", []):
        out += split_lines(extra)
    return out


def _cut(text: str, width: int | None) -> str:
    return text if width is None or len(text) <= width else text[: max(8, width - 1)] + "…"


def status_text(rep: Any, plan_only: bool = False) -> str:
    lines = [("plan for " if plan_only else "status of ") + rep.out]
    for stage, counts in rep.stages.items():
        parts = ", ".join(f"{n} {k}" for k, n in counts.items() if n)
        lines.append(f"{stage}: {parts or 'no videos'}")
        for reason, n in rep.reasons.get(stage, []):
            lines.append(f"  {stage}: {n} stale: {reason}")
        for vid, why in rep.failed.get(stage, [])[:10]:
            lines.append(f"  {stage}: failed {vid}: {why}")
    if rep.unmatched:
        lines.append(f"{plural(len(rep.unmatched), 'file')} matched no label rule: "
                     + "; ".join(rep.unmatched[:5]))
    lines += split_lines(getattr(rep, "split", None))
    lines += packed_lines(getattr(rep, "packed", {}))
    lines += gone_lines(getattr(rep, "gone", []), ran=False)
    for vid, why in getattr(rep, "bad_files", []):
        lines.append(f"not a video: {vid}: {why}; the run would fail it")
    if getattr(rep, "index_changes", None):
        lines.append(f"indexes: the next run rewrites frames.h5 and features/: "
                     f"{', '.join(rep.index_changes)} (labels are metadata: no stage re-runs)")
    if getattr(rep, "overrides", None):
        lines.append(f"with --set {' '.join(rep.overrides)}: these values hold for this command "
                     f"only; a run without them uses the manifest's (and re-runs what they "
                     f"changed)")
    for u in getattr(rep, "train", []):
        lines.append(
            f"{u['unit']}: {u['state']}" + (f" ({u['reason']})" if u.get("reason") else "")
        )
    return "\n".join(lines)
