"""Incremental-run costs on a corpus of >= 30 videos cut from the sample clips.

    python benchmarks/incremental.py [--videos 30] [--frames 120]

Measures wall time of: a full run; an unchanged re-run (target <= 2 % of full); a split-only
change (<= 5 %); a crop-size change (must not re-detect: no track unit runs); and full runs with
dask LocalCluster of 1 vs 2 workers (target >= 1.7x on 2 cores). Writes
benchmarks/results/incremental.{json,md}.
"""

from __future__ import annotations

import argparse
import shutil
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path

import yaml

if __package__ in (None, ""):  # run as a file (python benchmarks/x.py): make the repo importable
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from benchmarks.common import write_result  # noqa: E402
from emoprep.pipeline.executors import ExecutorKind
from emoprep.pipeline.runner import RunOptions, run
from emoprep.samples import cut_clip, fetch_samples

STAGES = {"split": {"folds": 5, "test_fraction": 0.2}, "embed": {"hog": {"type": "hog"}}}


def build_corpus(root: Path, n_videos: int, n_frames: int) -> None:
    """n_videos distinct clips: windows of the two one-face sample clips, 3 per subject."""
    samples = fetch_samples()
    sources = [("WolfgangLanger_Pexels.mp4", 472), ("single_face.mp4", 72)]
    for k in range(n_videos):
        name, total = sources[0] if k % 6 else sources[1]
        span = max(1, total - n_frames)
        start = (k * 37) % span
        emo = ("happy", "sad")[k % 2]
        cut_clip(samples / name, root / f"s{k // 3:02d}_{emo}_{k}.mp4", start, min(n_frames, total))


def manifest(tmp: Path, root: Path) -> Path:
    raw = {
        "videos": {"root": str(root), "include": ["*.mp4"]},
        "labels": {
            "pattern": r"(?P<subject>s\d+)_(?P<emotion>[a-z]+)_(?P<k>\d+)\.mp4",
            "subject": "subject",
            "groups": ["emotion"],
        },
        "stages": STAGES,
    }
    path = tmp / "manifest.yaml"
    path.write_text(yaml.safe_dump(raw))
    return path


def timed(
    m: Path, out: Path, sets: tuple[str, ...] = (), opts: RunOptions | None = None
) -> tuple[float, Counter]:
    sec, c, _ = timed_report(m, out, sets, opts)
    return sec, c


def timed_report(m: Path, out: Path, sets: tuple[str, ...] = (), opts: RunOptions | None = None):
    t0 = time.perf_counter()
    rep = run(m, out, sets, opts or RunOptions(workers=2))
    sec = time.perf_counter() - t0
    bad = [r for r in rep.ran if not r["ok"]]
    assert not bad, bad[:3]
    return sec, Counter(r["stage"] for r in rep.ran), rep


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--videos", type=int, default=30)
    ap.add_argument("--frames", type=int, default=120)
    args = ap.parse_args()
    tmp = Path(tempfile.mkdtemp(prefix="emoprep-bench-"))
    try:
        root = tmp / "videos"
        build_corpus(root, args.videos, args.frames)
        m = manifest(tmp, root)
        rows = {}
        full, c = timed(m, tmp / "out")
        rows["full run (local, 2 workers)"] = (full, c)
        rows["unchanged re-run"] = timed(m, tmp / "out")
        rows["split-only change"] = timed(m, tmp / "out", ("stages.split.seed=1",))
        rows["crop-size change (160 -> 128)"] = timed(
            m, tmp / "out", ("stages.split.seed=1", "stages.align.size=128")
        )
        d1, _, r1 = timed_report(
            m, tmp / "dask1", opts=RunOptions(executor=ExecutorKind.DASK, workers=1)
        )
        d2, _, r2 = timed_report(
            m, tmp / "dask2", opts=RunOptions(executor=ExecutorKind.DASK, workers=2)
        )
        rows["full run, dask 1 worker"] = (d1, Counter())
        rows["full run, dask 2 workers"] = (d2, Counter())
        work = (r1.work_seconds, r2.work_seconds, r1.startup_seconds, r2.startup_seconds)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    data = {
        k: {"seconds": round(s, 3), "fraction_of_full": round(s / full, 4), "units_ran": dict(c)}
        for k, (s, c) in rows.items()
    }
    speedup = round(d1 / d2, 2)
    work_speedup = round(work[0] / work[1], 2)
    lines = [
        f"corpus: {args.videos} videos x {args.frames} frames cut from the sample clips; stages: "
        "probe, "
        "window, track, au, frames, embed:hog",
        "",
        "| step | seconds | of full run | units that ran |",
        "|---|---|---|---|",
    ]
    lines += [
        f"| {k} | {v['seconds']} | {100 * v['fraction_of_full']:.2f} % | "
        f"{', '.join(f'{s} {n}' for s, n in v['units_ran'].items()) or '-'} |"
        for k, v in data.items()
    ]
    lines += [
        "",
        f"dask speed-up 2 vs 1 workers: {speedup}x wall clock (target >= 1.7x); {work_speedup}x "
        "on the "
        f"work alone (excluding LocalCluster start-up: {work[2]:.1f} s / {work[3]:.1f} s). "
        "Unchanged re-run target <= 2 %, split-only <= 5 %; the crop-size change must run no "
        "track unit.",
        "",
        f"command: python benchmarks/incremental.py --videos {args.videos} --frames {args.frames}",
    ]
    write_result(
        "incremental",
        {
            "rows": data,
            "dask_speedup": speedup,
            "dask_work_speedup": work_speedup,
            "dask_startup_seconds": work[2:],
            **vars(args),
        },
        lines,
    )


if __name__ == "__main__":
    main()
