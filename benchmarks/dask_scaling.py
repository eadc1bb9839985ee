"""dask: 2 workers vs 1 on this machine, and what bounds the speed-up.

    python -m benchmarks.dask_scaling [--frames 3000]

The end-to-end corpus of benchmarks/throughput.py (sample clips copied until --frames frames, one
subject per copy). Four measurements, whole processes:

1. ``emoprep run --executor dask -j 1`` and ``-j 2`` (LocalCluster): work seconds from the first
   submission to the last result (cluster start-up excluded), the issue's figure (target >= 1.8).
2. The machine's ceiling for two independent jobs: the corpus cut into two halves of equal work
   (longest-processing-time first, from the per-video seconds of a one-worker run), then
   ``emoprep run -j 1`` on each half, the two processes started together, against one process on
   the whole corpus. No dask, no shared coordinator: what two processes of this work get from the
   two cores.
3. The scheduling bound: the best 2-worker makespan of the per-video seconds (LPT), i.e. what the
   unequal video lengths allow with perfect parallel hardware.
4. Other jobs' CPU during each run (/proc/stat), as in throughput.py.

Writes benchmarks/results/dask_scaling.{json,md}.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

if __package__ in (None, ""):  # run as a file (python benchmarks/x.py): make the repo importable
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from benchmarks.common import write_result  # noqa: E402
from benchmarks.throughput import _busy_jiffies, dask_scaling, e2e_corpus  # noqa: E402


def _emoprep() -> str:
    return str(Path(sys.executable).with_name("emoprep"))


def per_video_seconds(summary: dict) -> dict[str, float]:
    """Seconds of work per video in a run (all its units)."""
    out: dict[str, float] = {}
    for r in summary["ran"]:
        out[r["video_id"]] = out.get(r["video_id"], 0.0) + float(r["seconds"])
    return out


def lpt(seconds: dict[str, float], bins: int = 2) -> list[list[str]]:
    """Longest processing time first: each video to the least loaded bin."""
    load, parts = [0.0] * bins, [[] for _ in range(bins)]
    for vid, s in sorted(seconds.items(), key=lambda kv: -kv[1]):
        k = min(range(bins), key=load.__getitem__)
        load[k] += s
        parts[k].append(vid)
    return parts


def _half_manifest(manifest: Path, videos: Path, names: list[str], root: Path) -> Path:
    """A copy of the corpus manifest over a folder holding only ``names`` (hard links)."""
    import yaml

    root.mkdir(parents=True)
    for name in names:
        os.link(videos / f"{name}.mp4", root / f"{name}.mp4")
    data = yaml.safe_load(manifest.read_text())
    data["videos"]["root"] = str(root)
    data["stages"]["split"] = {"folds": 2, "test_fraction": 0.0, "required": False}
    out = root.parent / f"{root.name}.yaml"
    out.write_text(yaml.safe_dump(data))
    return out


def _run(args: list[str]) -> subprocess.Popen:
    return subprocess.Popen(args, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)


def independent_halves(manifest: Path, work: Path) -> tuple[dict, dict[str, float]]:
    """One process on everything vs two processes on equal halves started together."""
    hz = os.sysconf("SC_CLK_TCK")
    whole = work / "whole"
    b0, _ = _busy_jiffies()
    t0 = time.perf_counter()
    p = _run([_emoprep(), "run", "-m", str(manifest), "-o", str(whole), "-j", "1", "--json"])
    err = p.communicate()[1]
    one = time.perf_counter() - t0
    b1, _ = _busy_jiffies()
    if p.returncode not in (0, 1):
        raise RuntimeError(f"emoprep run: exit {p.returncode}\n{err[-3000:]}")
    summary = json.loads((whole / "summary.json").read_text())
    seconds = per_video_seconds(summary)
    halves = lpt(seconds)
    videos = manifest.parent / "videos"
    manifests = [_half_manifest(manifest, videos, h, work / f"half{k}") for k, h in
                 enumerate(halves)]
    b2, _ = _busy_jiffies()
    t0 = time.perf_counter()
    procs = [_run([_emoprep(), "run", "-m", str(m), "-o", str(work / f"out{k}"), "-j", "1",
                   "--json"]) for k, m in enumerate(manifests)]
    for q in procs:
        err = q.communicate()[1]
        if q.returncode not in (0, 1):
            raise RuntimeError(f"emoprep run (half): exit {q.returncode}\n{err[-3000:]}")
    two = time.perf_counter() - t0
    b3, _ = _busy_jiffies()
    half_s = [round(sum(seconds[v] for v in h), 2) for h in halves]
    data = {"one_process_wall_s": round(one, 2), "two_processes_wall_s": round(two, 2),
            "speedup": round(one / two, 2), "half_work_s": half_s,
            "machine_busy_cpu_s": [round((b1 - b0) / hz, 1), round((b3 - b2) / hz, 1)]}
    return data, seconds


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--frames", type=int, default=3000)
    args = ap.parse_args()
    work = Path(tempfile.mkdtemp(prefix="emoprep-dask-"))
    try:
        manifest, total = e2e_corpus(work, args.frames)
        ceiling, seconds = independent_halves(manifest, work)
        dask_data, dask_lines = dask_scaling(manifest, work)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    halves = lpt(seconds)
    total_s = sum(seconds.values())
    makespan = max(sum(seconds[v] for v in h) for h in halves)
    sched = round(total_s / makespan, 2)
    load = os.getloadavg()[0]
    data = {"frames": total, "videos": len(seconds), "dask": dask_data,
            "independent_processes": ceiling, "lpt_bound": sched,
            "per_video_s": {k: round(v, 2) for k, v in sorted(seconds.items())},
            "load_average": round(load, 2)}
    lines = [f"corpus: {total} frames, {len(seconds)} videos (sample clips copied)", "",
             *dask_lines,
             "### What bounds it", "",
             "| measure | speed-up 2 vs 1 |", "|---|---|",
             f"| dask LocalCluster, work seconds | {dask_data['speedup']} |",
             f"| two independent `emoprep run -j 1` processes on equal halves vs one on all "
             f"(wall) | {ceiling['speedup']} |",
             f"| scheduling bound of the video lengths (LPT makespan) | {sched} |", "",
             f"One process on everything: {ceiling['one_process_wall_s']} s wall; the two "
             f"halves together: {ceiling['two_processes_wall_s']} s (per-half work "
             f"{ceiling['half_work_s']} s). The second row is the most two processes of this "
             "work get from this machine's two cores, with no dask and no coordinator in "
             "between; dask's figure is to be read against it, not against 2.0.",
             f"load average at the end: {load:.1f} on {os.cpu_count()} cores", "",
             f"command: python -m benchmarks.dask_scaling --frames {args.frames}"]
    write_result("dask_scaling", data, lines)


if __name__ == "__main__":
    main()
