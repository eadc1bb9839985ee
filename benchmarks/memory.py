"""Peak memory: a worker on a 10-minute video vs a 20-second one (target ratio <= 1.2), and the
coordinator planning 10,000 videos.

    python benchmarks/memory.py [--minutes 10] [--short-seconds 20] [--plan-videos 10000]

The long video is made by concatenating the real sample clips (frames re-encoded with OpenCV,
like ``emoprep.samples.cut_clip``) into a temporary file. Each video goes through a real
``emoprep run --workers 1`` (probe, window, track, au, frames, embed:hog); the peak resident set
(VmHWM) of every process of the run is sampled from /proc. The planning part builds 10,000
synthetic entries with up-to-date records (one per unit, with output checksums) and measures a
fresh process that reads them and plans. Writes benchmarks/results/memory.{json,md}.
"""

from __future__ import annotations

import argparse
import json
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import yaml

if __package__ in (None, ""):  # run as a file (python benchmarks/x.py): make the repo importable
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from benchmarks.common import write_result  # noqa: E402

REPO = Path(__file__).resolve().parents[1]
SOURCES = ("WolfgangLanger_Pexels.mp4", "single_face.mp4")
STAGES = {"split": {"folds": 2, "test_fraction": 0.0}, "embed": {"hog": {"type": "hog"}}}


def concat_clip(dst: Path, seconds: float, fps: float = 24.0, size: tuple[int, int] = (640, 360)
                ) -> int:
    """Write ``seconds`` of video to ``dst``: the sample clips' frames, cycled. Returns frames."""
    import cv2

    from emoprep.samples import fetch_samples

    samples = fetch_samples()
    want = int(round(seconds * fps))
    writer = cv2.VideoWriter(str(dst), cv2.VideoWriter_fourcc(*"mp4v"), fps, size)
    n = 0
    try:
        while n < want:
            for name in SOURCES:
                cap = cv2.VideoCapture(str(samples / name))
                while n < want:
                    ok, frame = cap.read()
                    if not ok:
                        break
                    writer.write(cv2.resize(frame, size) if frame.shape[1::-1] != size else frame)
                    n += 1
                cap.release()
    finally:
        writer.release()
    return n


def _vmhwm(pid: int) -> int:
    """Peak resident set of a live process in KiB (0 when gone)."""
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1])
    except (OSError, ValueError):
        return 0
    return 0


def _group(pgid: int) -> list[int]:
    import os

    out = []
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                if os.getpgid(int(entry)) == pgid:
                    out.append(int(entry))
            except (ProcessLookupError, PermissionError):
                continue
    return out


def worker_peak(video: Path, tmp: Path, companion: Path) -> dict[str, Any]:
    """Run the pipeline on one video with one worker; peak RSS (MiB) of worker and coordinator.

    ``companion``: a 1-second clip as a second subject (the split needs two).
    """
    root = tmp / f"data_{video.stem}"
    root.mkdir()
    (root / video.name).symlink_to(video)
    (root / "companion.mp4").symlink_to(companion)
    manifest = tmp / f"{video.stem}.yaml"
    manifest.write_text(yaml.safe_dump({"videos": {"root": str(root), "include": ["*.mp4"]},
                                        "stages": STAGES}))
    cmd = [sys.executable, "-m", "emoprep.cli.app", "run", "-m", str(manifest),
           "-o", str(tmp / f"out_{video.stem}"), "--workers", "1", "--json"]
    t0 = time.perf_counter()
    proc = subprocess.Popen(cmd, cwd=REPO, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            text=True, start_new_session=True)
    peaks: dict[int, int] = {}
    while proc.poll() is None:
        for pid in _group(proc.pid):
            peaks[pid] = max(peaks.get(pid, 0), _vmhwm(pid))
        time.sleep(0.1)
    out, err = proc.communicate()
    if not out.strip():
        raise RuntimeError(f"emoprep run failed on {video.name}: {err[-2000:]}")
    report = json.loads(out)
    others = [kb for pid, kb in peaks.items() if pid != proc.pid]
    return {"seconds": round(time.perf_counter() - t0, 1),
            "units": len(report.get("ran", [])), "ok": all(r["ok"] for r in report["ran"]),
            "worker_peak_mib": round(max(others, default=0) / 1024, 1),
            "coordinator_peak_mib": round(peaks.get(proc.pid, 0) / 1024, 1)}


# --- the coordinator planning N videos ---------------------------------------------------------


def _synthetic(n: int, tmp: Path) -> tuple[list[Any], Any, Any]:
    """(entries, plan context, layout) of ``n`` synthetic videos (nothing decoded)."""
    from emoprep.io.layout import Layout
    from emoprep.pipeline.config import StagesConfig
    from emoprep.pipeline.fingerprint import HashCache, digest
    from emoprep.pipeline.stagedef import PlanContext
    from emoprep.types import VideoEntry

    stages = StagesConfig.model_validate({"embed": {"hog": {"type": "hog"}}})
    entries = [VideoEntry(f"v{i:05d}", str(tmp / "videos" / f"v{i:05d}.mp4"), f"s{i // 20:04d}",
                          {"emotion": ("happy", "sad")[i % 2]}) for i in range(n)]
    layout = Layout(tmp / "out")
    ctx = PlanContext(stages, tmp / "videos", HashCache(layout.hashes),
                      content={v.video_id: digest(v.video_id) for v in entries})
    return entries, ctx, layout


def write_records(n: int, tmp: Path) -> int:
    """Up-to-date records (with checksums of a shared output per stage) for every unit."""
    from emoprep.io.atomic import stamp_file
    from emoprep.pipeline.dag import make_plan
    from emoprep.pipeline.records import Record, RecordStore
    from emoprep.types import UnitStatus

    entries, ctx, layout = _synthetic(n, tmp)
    plan = make_plan(entries, ctx, layout, RecordStore(layout))
    stamps: dict[str, tuple[str, dict[str, Any]]] = {}
    for d in plan.stages:
        rel = f"bench/{d.name.replace(':', '-')}.bin"
        (layout.root / rel).parent.mkdir(parents=True, exist_ok=True)
        (layout.root / rel).write_bytes(b"\0" * 4096)
        stamps[d.name] = (rel, stamp_file(layout.root / rel))
    store = RecordStore(layout)
    store.put_many([Record(u.stage, u.video.video_id, u.fingerprint, u.components, UnitStatus.OK,
                           outputs=[stamps[u.stage][0]], summary={"n_frames": 100},
                           checksums={stamps[u.stage][0]: stamps[u.stage][1]})
                    for u in plan.units.values()])
    store.close()
    return len(plan.units)


def plan_child(n: int, tmp: Path) -> dict[str, Any]:
    """In a fresh process: read every record and plan; RSS after imports, peak, seconds."""
    from emoprep.pipeline.dag import UnitState, make_plan
    from emoprep.pipeline.records import RecordStore

    base = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    t0 = time.perf_counter()
    entries, ctx, layout = _synthetic(n, tmp)
    plan = make_plan(entries, ctx, layout, RecordStore(layout))
    fresh = sum(u.state is UnitState.FRESH for u in plan.units.values())
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return {"videos": n, "units": len(plan.units), "up_to_date": fresh,
            "seconds": round(time.perf_counter() - t0, 1),
            "rss_after_imports_mib": round(base / 1024, 1),
            "peak_mib": round(peak / 1024, 1), "planning_mib": round((peak - base) / 1024, 1)}


def coordinator_plan(n: int, tmp: Path) -> dict[str, Any]:
    t0 = time.perf_counter()
    units = write_records(n, tmp)
    setup = round(time.perf_counter() - t0, 1)
    out = subprocess.run([sys.executable, __file__, "--plan-child", str(n), "--tmp", str(tmp)],
                         cwd=REPO, capture_output=True, text=True, check=True)
    return {**json.loads(out.stdout.strip().splitlines()[-1]), "records_written": units,
            "setup_seconds": setup}


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--minutes", type=float, default=10.0)
    ap.add_argument("--short-seconds", type=float, default=20.0)
    ap.add_argument("--plan-videos", type=int, default=10_000)
    ap.add_argument("--plan-child", type=int, default=0, help=argparse.SUPPRESS)
    ap.add_argument("--tmp", type=Path, default=None, help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.plan_child:
        print(json.dumps(plan_child(args.plan_child, args.tmp)))
        return
    with tempfile.TemporaryDirectory(prefix="emoprep-mem-") as t:
        tmp = Path(t)
        short, long_, tiny = tmp / "short.mp4", tmp / "long.mp4", tmp / "tiny.mp4"
        n_short = concat_clip(short, args.short_seconds)
        n_long = concat_clip(long_, args.minutes * 60)
        concat_clip(tiny, 1.0)
        s, lo = worker_peak(short, tmp, tiny), worker_peak(long_, tmp, tiny)
        plan = coordinator_plan(args.plan_videos, tmp / "plan")
    ratio = round(lo["worker_peak_mib"] / s["worker_peak_mib"], 3)
    data = {"short": {**s, "frames": n_short}, "long": {**lo, "frames": n_long},
            "worker_ratio": ratio, "plan": plan}
    lines = [
        "worker (one process, `emoprep run --workers 1`, probe -> embed:hog), 640x360 at 24 fps:",
        "",
        "| video | frames | worker peak RSS | coordinator peak RSS | seconds |",
        "|---|---|---|---|---|",
        f"| {args.short_seconds:g} s | {n_short} | {s['worker_peak_mib']} MiB | "
        f"{s['coordinator_peak_mib']} MiB | {s['seconds']} |",
        f"| {args.minutes:g} min | {n_long} | {lo['worker_peak_mib']} MiB | "
        f"{lo['coordinator_peak_mib']} MiB | {lo['seconds']} |",
        "",
        f"worker peak ratio long / short: {ratio} (target <= 1.2)",
        "",
        f"coordinator planning {plan['videos']} videos ({plan['units']} units, "
        f"{plan['up_to_date']} up to date, records read and outputs checked): peak "
        f"{plan['peak_mib']} MiB, "
        f"{plan['planning_mib']} MiB above the {plan['rss_after_imports_mib']} MiB after imports, "
        f"{plan['seconds']} s",
        "",
        f"command: python benchmarks/memory.py --minutes {args.minutes:g} --short-seconds "
        f"{args.short_seconds:g} --plan-videos {args.plan_videos}",
    ]
    write_result("memory", data, lines)


if __name__ == "__main__":
    main()
