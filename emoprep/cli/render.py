"""Plain-text rendering of run reports, plans and progress (no logic, only formatting)."""

from __future__ import annotations

from typing import Any

from tqdm import tqdm


class Progress:
    """One tqdm bar over units, labelled with the stage of the last finished unit."""

    def __init__(self, enabled: bool = True) -> None:
        self.enabled = enabled
        self.bar: tqdm | None = None
        self.frames_bar: tqdm | None = None

    def executor(self, description: str, dashboard: str | None) -> None:
        if self.enabled:
            tqdm.write(f"executor: {description}" + (f"   dask dashboard: {dashboard}" if dashboard else ""))

    def frames(self, n: int) -> None:
        """Frames tracked or aligned so far (reported by the workers; long videos move this bar)."""
        if not self.enabled:
            return
        if self.frames_bar is None:
            self.frames_bar = tqdm(unit="frame", desc="frames      ", position=1, dynamic_ncols=True)
        self.frames_bar.update(n)

    def start(self, session: Any, plan: Any, n_todo: int) -> None:
        if not self.enabled:
            return
        print(f"{len(session.videos)} videos, {len(plan.units)} units, {n_todo} to run "
              f"-> {session.layout.root}", flush=True)
        if session.unmatched:
            print(f"{len(session.unmatched)} files matched no label rule (see summary)", flush=True)
        self.bar = tqdm(total=n_todo, unit="unit", dynamic_ncols=True)

    def done(self, unit: Any, result: Any) -> None:
        if self.bar is not None:
            self.bar.set_description(f"{unit.stage:<12.12}")
            self.bar.update(1)
            if not result.ok:
                self.bar.write(f"failed {unit.stage} {unit.video.video_id}: {result.error.splitlines()[0]}")

    def close(self) -> None:
        for bar in (self.frames_bar, self.bar):
            if bar is not None:
                bar.close()


def run_text(report: Any) -> str:
    lines = [f"executor: {report.executor}" + (f"   dashboard: {report.dashboard}" if report.dashboard else "")]
    ok = [v for v in report.videos if v["status"] == "ok"]
    failed = [v for v in report.videos if v["status"] == "failed"]
    pending = [v for v in report.videos if v["status"] == "pending"]
    lines.append(f"{len(report.ran)} units ran, {report.skipped} up to date, {report.blocked} not run "
                 f"(upstream failed or --skip-failed), {report.seconds:.1f} s")
    lines.append("")
    lines.append(f"{'video':<32} {'status':<8} {'kept':>6} {'face':>6}  reason")
    for v in report.videos:
        lines.append(f"{v['video_id']:<32.32} {v['status']:<8} {v.get('n_frames', '-'):>6} "
                     f"{v.get('n_face', '-'):>6}  {v.get('error', '')[:90]}")
    kept = sum(v.get("n_frames", 0) for v in ok)
    face = sum(v.get("n_face", 0) for v in ok)
    lines.append("")
    lines.append(f"videos: {len(ok)} ok, {len(failed)} failed, {len(pending)} pending; "
                 f"frames kept: {kept}, with a face: {face}")
    if report.anomalies:
        lines.append(f"AU-trim anomalies (not trimmed; fix with stages.trim.overrides): {', '.join(report.anomalies)}")
    if report.unmatched:
        lines.append(f"{len(report.unmatched)} files matched no label rule: " + "; ".join(report.unmatched[:5]))
    split = report.split
    if split:
        lines.append(f"split {split['name']}: {split['state']}" + (f" ({split['error']})" if split.get("error") else ""))
    lines.append(f"output: {report.out}  (frame store: {report.out}/frames.h5)")
    return "\n".join(lines)


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
        lines.append(f"{len(rep.unmatched)} files matched no label rule: " + "; ".join(rep.unmatched[:5]))
    return "\n".join(lines)
