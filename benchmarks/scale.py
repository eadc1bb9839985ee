"""Planning, ``status`` and a no-op run over many videos (synthetic, up to date), as processes.

    python -m benchmarks.scale [--videos 10000] [--sizes 1000,3000]

Builds a dataset of N tiny files (discovery and content hashing see real files; nothing is
decoded), plans it once and writes, for every (stage, video) unit, the record and output files
an up-to-date run would have left (work files empty, frame shards a copy of one small valid
shard), then the index and the record snapshot with one run. Measured as whole processes (wall
clock, CPU, peak RSS): ``emoprep status``, ``emoprep run --workers 1`` with nothing to do, and
``status`` at the smaller sizes too, for the memory slope. Writes
benchmarks/results/scale.{json,md}. Targets: status <= 5 s and no-op run <= 10 s at 10,000
videos; memory flat beyond the plan.
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

if __package__ in (None, ""):  # run as a file: make the repo importable
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from benchmarks.common import write_result  # noqa: E402

STAGES = ("probe", "window", "track", "au", "frames")
EMOTIONS = ("happy", "sad", "angry", "surprise")
EMOPREP = str(Path(sys.executable).with_name("emoprep"))
def make_dataset(root: Path, n: int) -> Path:
    """N tiny files ``sNNNNN_<emotion>_1.mp4`` (100 subjects) and a manifest; returns it."""
    import yaml

    videos = root / "videos"
    videos.mkdir(parents=True)
    for i in range(n):
        name = f"s{i % 100:03d}_{EMOTIONS[i % 4]}_{i // 100:05d}.mp4"
        (videos / name).write_bytes(b"synthetic video %d" % i)
    manifest = root / "m.yaml"
    manifest.write_text(yaml.safe_dump({
        "videos": {"root": str(videos), "include": ["*.mp4"]},
        "labels": {"pattern": r"(?P<subject>s\d+)_(?P<emotion>[a-z]+)_(?P<take>\d+)\.mp4",
                   "subject": "subject", "groups": ["emotion"]},
        "stages": {"split": {"folds": 5, "test_fraction": 0.2}}}))
    return manifest


def _template_shard(path: Path) -> None:
    import numpy as np

    from emoprep.io.hdf5 import ShardWriter

    with ShardWriter(path, {"video_id": "template", "fps": 25.0}) as w:
        w.array("frames", np.zeros((1, 8, 8, 3), np.uint8))
        w.array("status", np.ones(1, np.uint8))


def _outputs(lay: Any, unit: Any, vid: str) -> list[Path]:
    """The files the unit's stage declares (``StageDef.outputs``)."""
    return [a.path(lay, vid) for a in unit.decl.outputs]


def fake_up_to_date(manifest: Path, out: Path) -> float:
    """Records and outputs of a finished run for every unit; returns the seconds it took."""
    from emoprep.pipeline.records import Record
    from emoprep.pipeline.session import open_session
    from emoprep.types import UnitStatus

    t0 = time.perf_counter()
    session = open_session(manifest, out)
    session.save_caches()
    plan, lay = session.plan(), session.layout
    template = out / "template.h5"
    _template_shard(template)
    summary = {"n_frames": 1, "n_face": 1, "status": {"tracked": 1}}
    for (stage, vid), unit in plan.units.items():
        paths = _outputs(lay, unit, vid)
        for p in paths:
            p.parent.mkdir(parents=True, exist_ok=True)
            if stage == "frames":
                shutil.copyfile(template, p)
            else:
                p.touch()
        session.records.put(Record(stage, vid, unit.fingerprint, unit.components, UnitStatus.OK,
                                   outputs=[lay.rel(p) for p in paths], summary=summary))
    template.unlink()
    return time.perf_counter() - t0


def timed_process(args: list[str], repeat: int = 1) -> dict[str, Any]:
    """Wall clock, user + system CPU and peak RSS of a command (GNU time); with ``repeat``, the
    median of that many runs (and every wall time)."""
    rows = []
    for _ in range(repeat):
        t0 = time.perf_counter()
        res = subprocess.run(["/usr/bin/time", "-f", "%e %U %S %M", *args], capture_output=True,
                             text=True)
        wall = time.perf_counter() - t0
        last = res.stderr.strip().splitlines()[-1].split()
        if res.returncode not in (0, 1):
            raise RuntimeError(f"{args}: exit {res.returncode}\n{res.stderr[-2000:]}")
        rows.append((wall, float(last[1]) + float(last[2]), int(last[3]) / 1024))
    out: dict[str, Any] = {
        "wall_s": round(statistics.median(r[0] for r in rows), 2),
        "cpu_s": round(statistics.median(r[1] for r in rows), 2),
        "peak_rss_mib": round(max(r[2] for r in rows), 1)}
    if repeat > 1:
        out["walls_s"] = [round(r[0], 2) for r in rows]
    return out


def measure(n: int, work: Path, full: bool, cli: list[str], repeat: int) -> dict[str, Any]:
    root = work / f"n{n}"
    manifest = make_dataset(root, n)
    out = root / "out"
    row: dict[str, Any] = {"videos": n, "units": n * len(STAGES)}
    row["setup_s"] = round(fake_up_to_date(manifest, out), 1)
    common = ["-m", str(manifest), "-o", str(out)]
    row["status"] = timed_process([*cli, "status", *common, "--json"])
    if full:
        row["first_run_writes_index"] = timed_process([*cli, "run", *common, "-j", "1"])
        row["noop_run"] = timed_process([*cli, "run", *common, "-j", "1"], repeat)
        row["status_after_run"] = timed_process([*cli, "status", *common, "--json"], repeat)
    shutil.rmtree(root)
    return row


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--videos", type=int, default=10000)
    ap.add_argument("--sizes", default="1000,3000", help="smaller sizes for the memory slope")
    ap.add_argument("--work", default=None, help="scratch folder (default: a temporary one)")
    ap.add_argument("--repeat", type=int, default=3,
                    help="runs of the no-op run and of status after it (medians reported)")
    args = ap.parse_args()
    work = Path(args.work or tempfile.mkdtemp(prefix="emoprep-scale-"))
    cli = [EMOPREP]
    rows = [measure(int(n), work, False, cli, 1) for n in args.sizes.split(",") if n]
    rows.append(measure(args.videos, work, True, cli, args.repeat))
    big, small = rows[-1], rows[0]
    slope = ((big["status"]["peak_rss_mib"] - small["status"]["peak_rss_mib"]) * 1024
             / (big["videos"] - small["videos"]))
    load = os.getloadavg()
    lines = ["status: the first `emoprep status` (the split not yet written: planning it imports "
             "scikit-learn; the records read from their files: no run has left a snapshot yet); "
             "status after run: the split and the record snapshot written "
             f"(median of {args.repeat}, as is the no-op run).", "",
             f"load average at the end: {load[0]:.1f} (2-core machine shared with other work)"
             if (os.cpu_count() or 1) <= 2 else f"load average at the end: {load[0]:.1f}", "",
             "| videos | units | status wall s | status CPU s | status peak RSS MiB |",
             "|---|---|---|---|---|"]
    lines += [f"| {r['videos']} | {r['units']} | {r['status']['wall_s']} | {r['status']['cpu_s']} "
              f"| {r['status']['peak_rss_mib']} |" for r in rows]
    lines += [
        "",
        f"no-op `emoprep run -j 1` over {big['videos']} up-to-date videos: "
        f"{big['noop_run']['wall_s']} s wall, {big['noop_run']['cpu_s']} s CPU, "
        f"{big['noop_run']['peak_rss_mib']} MiB (the run before it wrote the index: "
        f"{big['first_run_writes_index']['wall_s']} s); status after it: "
        f"{big['status_after_run']['wall_s']} s wall, {big['status_after_run']['cpu_s']} s CPU",
        f"status memory slope: {slope:.1f} KiB per video ({small['videos']} -> "
        f"{big['videos']} videos)",
        "",
        f"command: python -m benchmarks.scale --videos {args.videos} --repeat {args.repeat}",
    ]
    write_result("scale", {"rows": rows, "kib_per_video": round(slope, 2)}, lines)


if __name__ == "__main__":
    main()
