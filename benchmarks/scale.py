"""Planning, ``status`` and a no-op run over many videos (synthetic, up to date), as processes;
and the records database alone at a million units; with ``--items``, small items in batches
instead (benchmarks/scale_items.py: issue 22's million planned items; results/scale.md).

    python -m benchmarks.scale [--videos 10000] [--sizes 1000,3000] [--store-units 1000000]
    python -m benchmarks.scale --items 10000,100000,1000000 [--noop-upto 100000]

Builds a dataset of N tiny files (discovery and content hashing see real files; nothing is
decoded), plans it once and writes, for every (stage, video) unit, the record and output files
an up-to-date run would have left (work files empty, frame shards a copy of one small valid
shard), then the index with one run. From ``--minimal-from`` videos on (default 20,000) the setup
is minimal: every unit's record names one output file shared by its stage (so each unit's output
is still stat'ed and checked against its stamp, but no million files are made), the records are
written in transactions of 50,000, and the first run (in process) writes index files whose rows
carry no links to shards (the index digest and stamp are the real ones, so the no-op run decides
exactly as it would). Measured as whole processes (wall clock, CPU, peak RSS): ``emoprep status``,
``emoprep run --workers 1`` with nothing to do, and ``status`` at the smaller sizes too, for the
slopes. ``--store-units``: the records database alone, that many units written in transactions
of 100,000, then read back one unit at a time with each output stat'ed (what a plan does), in a
fresh process. Writes benchmarks/results/scale_videos.{json,md}.
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


def _shared_output(lay: Any, stage: str) -> tuple[str, dict[str, Any]]:
    """The one output file every unit of ``stage`` names in the minimal setup, and its stamp."""
    from emoprep.io.atomic import stamp_file

    path = lay.meta_dir / "bench" / f"{stage.replace(':', '-')}.bin"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(b"\0" * 4096)
    return lay.rel(path), stamp_file(path)


def fake_up_to_date(manifest: Path, out: Path, minimal: bool) -> float:
    """Records and outputs of a finished run for every unit; returns the seconds it took."""
    from emoprep.pipeline.records import Record
    from emoprep.pipeline.session import open_session
    from emoprep.types import UnitStatus

    t0 = time.perf_counter()
    session = open_session(manifest, out)
    session.save_caches()
    plan, lay, store = session.plan(), session.layout, session.records
    template = out / "template.h5"
    _template_shard(template)
    summary = {"n_frames": 1, "n_face": 1, "status": {"tracked": 1}}
    shared: dict[str, tuple[str, dict[str, Any]]] = {}
    batch: list[Any] = []
    for (stage, vid), unit in plan.units.items():
        if minimal:
            rel, stamp = shared.get(stage) or shared.setdefault(stage, _shared_output(lay, stage))
            batch.append(Record(stage, vid, unit.fingerprint, unit.components, UnitStatus.OK,
                                outputs=[rel], summary=summary, checksums={rel: stamp}))
            if len(batch) >= 50_000:
                store.put_many(batch)
                batch = []
            continue
        paths = _outputs(lay, unit, vid)
        for p in paths:
            p.parent.mkdir(parents=True, exist_ok=True)
            if stage == "frames":
                shutil.copyfile(template, p)
            else:
                p.touch()
        store.put(Record(stage, vid, unit.fingerprint, unit.components, UnitStatus.OK,
                         outputs=[lay.rel(p) for p in paths], summary=summary))
    store.put_many(batch)
    store.close()
    template.unlink()
    return time.perf_counter() - t0


def first_run_without_links(manifest: Path, out: Path) -> dict[str, Any]:
    """The first run of the minimal setup, in process: nothing to do; the index files are
    written with their real rows, digest and stamp, but no links to (non-existent) shards."""
    import emoprep.io.hdf5 as hdf5
    import emoprep.pipeline.indexes as indexes
    from emoprep.pipeline.runner import RunOptions, run

    links, attrs, parts = hdf5.shard_links, indexes._shard_attrs, indexes._parts
    hdf5.shard_links = lambda *_a, **_k: {}  # type: ignore[assignment]
    indexes._shard_attrs = lambda _p: {}  # type: ignore[assignment]
    indexes._parts = lambda *_a: None  # type: ignore[assignment]  # packed items: no rows
    try:
        t0 = time.perf_counter()
        rep = run(manifest, out, opts=RunOptions(workers=0))
        return {"wall_s": round(time.perf_counter() - t0, 2), "ran": len(rep.ran),
                "in_process": True}
    finally:
        hdf5.shard_links, indexes._shard_attrs, indexes._parts = links, attrs, parts


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


def measure(n: int, work: Path, full: bool, cli: list[str], repeat: int,
            minimal_from: int) -> dict[str, Any]:
    root = work / f"n{n}"
    manifest = make_dataset(root, n)
    out = root / "out"
    minimal = n >= minimal_from
    row: dict[str, Any] = {"videos": n, "units": n * len(STAGES), "minimal_setup": minimal}
    row["setup_s"] = round(fake_up_to_date(manifest, out, minimal), 1)
    common = ["-m", str(manifest), "-o", str(out)]
    row["status"] = timed_process([*cli, "status", *common, "--json"])
    if full:
        row["first_run_writes_index"] = (first_run_without_links(manifest, out) if minimal else
                                         timed_process([*cli, "run", *common, "-j", "1"]))
        row["noop_run"] = timed_process([*cli, "run", *common, "-j", "1"], repeat)
        row["status_after_run"] = timed_process([*cli, "status", *common, "--json"], repeat)
    shutil.rmtree(root)
    return row


def _store_records(n_units: int, lay: Any) -> Any:
    """Records of ``n_units`` up-to-date units (5 stages x n / 5 videos), each naming its
    stage's shared output; components of about the size of a real track unit's (1 KiB)."""
    from emoprep.pipeline.records import Record
    from emoprep.types import UnitStatus

    shared = {stage: _shared_output(lay, stage) for stage in STAGES}
    comps = {"stage": "track", "version": 2, "content": "c" * 64,
             "config": {f"key{k}": f"value {k}" * 3 for k in range(12)},
             "libraries": {"cv2": "4.14.0", "dlib": "20.0.0"}, "models": {"m.dat": "d" * 64},
             "upstream": {"window": "e" * 64}}
    for i in range(n_units // len(STAGES)):
        for stage in STAGES:
            rel, stamp = shared[stage]
            yield Record(stage, f"v{i:07d}", f"{i:064x}", comps, UnitStatus.OK, outputs=[rel],
                         summary={"n_frames": 100, "n_face": 98}, checksums={rel: stamp},
                         seconds=0.5)


def store_child(mode: str, out: Path, n_units: int) -> None:
    """``write``: the records in transactions of 100,000; ``read``: each unit read back as a plan
    does (:meth:`RecordStore.get`, then :meth:`RecordStore.verify`: a stat of its output)."""
    from itertools import islice

    from emoprep.io.layout import Layout
    from emoprep.pipeline.records import RecordStore

    lay, t0 = Layout(out), time.perf_counter()
    store = RecordStore(lay)
    if mode == "write":
        records = _store_records(n_units, lay)
        while batch := list(islice(records, 100_000)):
            store.put_many(batch)
        store.close()
        print(f"wrote {n_units} in {time.perf_counter() - t0:.1f} s")
        return
    ok = sum(1 for i in range(n_units // len(STAGES)) for stage in STAGES
             if (rec := store.get(stage, f"v{i:07d}")) is not None and not store.verify(rec))
    print(f"read {ok} of {n_units} up to date in {time.perf_counter() - t0:.1f} s")


def measure_store(n_units: int, work: Path) -> dict[str, Any]:
    out = work / f"store{n_units}"
    me = [sys.executable, "-m", "benchmarks.scale", "--work", str(out),
          "--store-units", str(n_units), "--store-child"]
    row: dict[str, Any] = {"units": n_units, "write": timed_process([*me, "write"])}
    row["db_mib"] = round((out / ".emoprep" / "records.sqlite").stat().st_size / 2**20, 1)
    row["read_all"] = timed_process([*me, "read"])
    shutil.rmtree(out)
    return row


def _status_lines(rows: list[dict[str, Any]]) -> list[str]:
    lines = ["| videos | units | setup | status wall s | status CPU s | status peak RSS MiB |",
             "|---|---|---|---|---|---|"]
    return lines + [f"| {r['videos']} | {r['units']} | "
                    f"{'minimal' if r['minimal_setup'] else 'files'} | {r['status']['wall_s']} | "
                    f"{r['status']['cpu_s']} | {r['status']['peak_rss_mib']} |" for r in rows]


def _store_lines(row: dict[str, Any]) -> list[str]:
    w, r = row["write"], row["read_all"]
    return [f"records database alone, {row['units']:,} units ({row['db_mib']} MiB): written in "
            f"transactions of 100,000 in {w['wall_s']} s wall ({w['peak_rss_mib']} MiB peak); "
            f"every unit read back and its output stat'ed, in a fresh process: {r['wall_s']} s "
            f"wall, {r['cpu_s']} s CPU, {r['peak_rss_mib']} MiB peak"]


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--videos", type=int, default=10000)
    ap.add_argument("--sizes", default="1000,3000", help="smaller sizes for the slopes")
    ap.add_argument("--work", default=None, help="scratch folder (default: a temporary one)")
    ap.add_argument("--repeat", type=int, default=3,
                    help="runs of the no-op run and of status after it (medians reported)")
    ap.add_argument("--minimal-from", type=int, default=20000,
                    help="videos from which the setup is minimal (see the module docstring)")
    ap.add_argument("--store-units", type=int, default=0,
                    help="also measure the records database alone with this many units")
    ap.add_argument("--store-child", choices=("write", "read"), help=argparse.SUPPRESS)
    ap.add_argument("--items", default="", help="small items in batches instead of videos: "
                    "these sizes (benchmarks/scale_items.py; writes results/scale.md)")
    ap.add_argument("--noop-upto", type=int, default=100000,
                    help="with --items: the no-op run at sizes up to this one only")
    ap.add_argument("--before", default="", help="with --items: measure the status of the "
                    "emoprep checkout in this folder instead (results/scale_before.md)")
    args = ap.parse_args()
    work = Path(args.work or tempfile.mkdtemp(prefix="emoprep-scale-"))
    if args.store_child:
        store_child(args.store_child, work, args.store_units)
        return
    cli = [EMOPREP]
    if args.items:
        from benchmarks.scale_items import items_main

        items_main([int(n) for n in args.items.split(",") if n], work, cli, args.noop_upto,
                   args.before)
        return
    rows = [measure(int(n), work, False, cli, 1, args.minimal_from)
            for n in args.sizes.split(",") if n]
    rows.append(measure(args.videos, work, True, cli, args.repeat, args.minimal_from))
    store = measure_store(args.store_units, work) if args.store_units else None
    big, small = rows[-1], rows[0]
    per_video = 1000 * (big["status"]["cpu_s"] - small["status"]["cpu_s"]) / (
        big["videos"] - small["videos"])
    slope = ((big["status"]["peak_rss_mib"] - small["status"]["peak_rss_mib"]) * 1024
             / (big["videos"] - small["videos"]))
    load = os.getloadavg()
    noop, first = big["noop_run"], big["first_run_writes_index"]
    lines = ["status: the first `emoprep status` (the split not yet written: planning it imports "
             "scikit-learn); status after run: the split written (median of "
             f"{args.repeat}, as is the no-op run). Records: one SQLite database per folder.", "",
             f"load average at the end: {load[0]:.1f} (2-core machine shared with other work; "
             "CPU seconds are the steadier figure)"
             if (os.cpu_count() or 1) <= 2 else f"load average at the end: {load[0]:.1f}", "",
             *_status_lines(rows), "",
             f"no-op `emoprep run -j 1` over {big['videos']} up-to-date videos: "
             f"{noop['wall_s']} s wall, {noop['cpu_s']} s CPU, {noop['peak_rss_mib']} MiB (the "
             f"run before it wrote the index: {first['wall_s']} s"
             f"{', in process, rows without links' if first.get('in_process') else ''}); status "
             f"after it: {big['status_after_run']['wall_s']} s wall, "
             f"{big['status_after_run']['cpu_s']} s CPU, "
             f"{big['status_after_run']['peak_rss_mib']} MiB",
             f"status slopes ({small['videos']} -> {big['videos']} videos): {per_video:.2f} ms CPU "
             f"and {slope:.1f} KiB peak memory per video",
             *(["", *_store_lines(store)] if store else []), "",
             f"command: python -m benchmarks.scale --videos {args.videos} --sizes {args.sizes} "
             f"--repeat {args.repeat}"
             + (f" --store-units {args.store_units}" if args.store_units else "")]
    write_result("scale_videos", {"rows": rows, "kib_per_video": round(slope, 2),
                           "status_cpu_ms_per_video": round(per_video, 3), "store": store}, lines)


if __name__ == "__main__":
    main()
