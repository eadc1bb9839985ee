"""The ``--items`` mode of benchmarks/scale.py: a million planned small items in batches (issue
22, item 3), measured as whole processes: ``emoprep status`` and a no-op ``emoprep run``.

    python -m benchmarks.scale --items 10000,100000,1000000 [--noop-upto 100000]

Builds N tiny still images (nothing is decoded: every unit is up to date) and writes the records
a finished batched run would have left (:func:`fake_items_up_to_date`): per (stage, item) one row
with the real fingerprint, naming its batch's pack (a 4 KiB file per stage and batch, stamped).
For sizes up to ``--noop-upto``, the index files are then written by one in-process run with no
links (as the per-video mode's minimal setup) and a no-op run and status after it are measured.
Writes benchmarks/results/scale.{json,md}.
"""

from __future__ import annotations

import os
import shutil
import time
from pathlib import Path
from typing import Any

from benchmarks.common import write_result
from benchmarks.scale import EMOTIONS, first_run_without_links, timed_process

#: items per batch (batch.items' default)
PER_BATCH = 4000


def make_images(root: Path, n: int) -> Path:
    """N tiny still images ``sNNNN_<emotion>_NNNNNNN.jpg`` (1,000 subjects, one folder) and a
    manifest with batching on (small items in batches of 4,000, as issue 22 intends)."""
    import yaml

    images = root / "images"
    images.mkdir(parents=True)
    for i in range(n):
        (images / f"s{i % 1000:04d}_{EMOTIONS[i % 4]}_{i:07d}.jpg").write_bytes(b"image %d" % i)
    manifest = root / "m.yaml"
    manifest.write_text(yaml.safe_dump({
        "videos": {"root": str(images), "include": ["*.jpg"]},
        "labels": {"pattern": r"(?P<subject>s\d+)_(?P<emotion>[a-z]+)_(?P<take>\d+)\.jpg",
                   "subject": "subject", "groups": ["emotion"]},
        "batch": {"enabled": True, "items": PER_BATCH},
        "stages": {"split": {"folds": 5, "test_fraction": 0.2}}}))
    return manifest


def _pack_body(lay: Any, decl: Any, batch: str) -> str:
    """The record body of an item of ``batch`` for stage ``decl``: its output is the batch's
    pack (a 4 KiB file made here, stamped), its summary names the batch."""
    import json

    from emoprep.io.atomic import stamp_file

    outputs, checksums = [], {}
    for a in decl.outputs:
        path = a.pack(lay, batch)
        if not path.exists():
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_bytes(b"\0" * 4096)
        outputs.append(lay.rel(path))
        checksums[lay.rel(path)] = stamp_file(path)
    return json.dumps({"checksums": checksums, "error": "", "error_type": "", "outputs": outputs,
                       "seconds": 0.01, "summary": {"batch": batch, "n_face": 1, "n_frames": 1}},
                      separators=(",", ":"), sort_keys=True)


def fake_items_up_to_date(manifest: Path, out: Path) -> float:
    """The records of a finished batched run of every item: per (stage, item) one row with the
    fingerprint a plan computes (``dag.fingerprint_columns``), naming the batch's pack; written
    with the database module in transactions of 5 batches. Components: one real unit's per
    stage (the same bytes for each unit: only a changed fingerprint reads them)."""
    from emoprep.pipeline import records_db as db
    from emoprep.pipeline.batches import batch_name
    from emoprep.pipeline.dag import fingerprint_columns
    from emoprep.pipeline.fingerprint import canonical_json
    from emoprep.pipeline.session import open_session

    t0 = time.perf_counter()
    session = open_session(manifest, out)
    session.save_caches()
    lay, videos, stages = session.layout, session.videos, session.manifest.stages
    con = db.connect_rw(lay)
    bodies: dict[tuple[str, str], str] = {}
    for start in range(0, len(videos), PER_BATCH * 5):
        part, rows = videos[start:start + PER_BATCH * 5], []
        for d, rule, fps in fingerprint_columns(part, session.ctx):
            comps = db.pack(canonical_json(rule.components(
                d.inputs(part[0], session.ctx), {u: fps[0] for u in d.upstream_of(stages)})))
            for j, (v, fp) in enumerate(zip(part, fps, strict=True)):
                b = batch_name((start + j) // PER_BATCH + 1)
                if (d.name, b) not in bodies:
                    bodies[(d.name, b)] = _pack_body(lay, d, b)
                rows.append((d.name, v.video_id, fp, "ok", bodies[(d.name, b)], comps))
        db.put_rows(con, rows)
        db.commit(con)
    db.close_rw(con)
    return time.perf_counter() - t0


def to_format_1(out: Path) -> None:
    """The records database rewritten in format 1 (a rowid table), as emoprep before issue 22's
    item 3 wrote it, so that its ``status`` can be measured on the same folder (``--format-1``)."""
    import sqlite3

    from emoprep.pipeline import records_db as db

    con = sqlite3.connect(out / ".emoprep" / db.DB_NAME, isolation_level=None)
    con.execute("BEGIN")
    con.execute(db.SCHEMA.format(table="records_v1").replace(") WITHOUT ROWID", ")"))
    con.execute("INSERT INTO records_v1 SELECT * FROM records")
    con.execute("DROP TABLE records")
    con.execute("ALTER TABLE records_v1 RENAME TO records")
    con.execute("PRAGMA user_version=1")
    con.execute("COMMIT")
    con.execute("VACUUM")
    con.close()


def measure_items(n: int, work: Path, cli: list[str], noop: bool, format_1: bool = False
                  ) -> dict[str, Any]:
    root = work / f"items{n}"
    t0 = time.perf_counter()
    manifest = make_images(root, n)
    out = root / "out"
    row: dict[str, Any] = {"items": n, "files_s": round(time.perf_counter() - t0, 1)}
    row["setup_s"] = round(fake_items_up_to_date(manifest, out), 1)
    if format_1:
        to_format_1(out)
    common = ["-m", str(manifest), "-o", str(out)]
    row["status"] = timed_process([*cli, "status", *common, "--json"])
    row["status_again"] = timed_process([*cli, "status", *common, "--json"])
    if noop:
        row["first_run_writes_index"] = first_run_without_links(manifest, out)
        row["noop_run"] = timed_process([*cli, "run", *common, "-j", "1"])
        row["status_after_run"] = timed_process([*cli, "status", *common, "--json"])
    db = out / ".emoprep" / "records.sqlite"
    row["records_mib"] = round(db.stat().st_size / 2**20, 1)
    shutil.rmtree(root)
    print(row, flush=True)
    return row


def _cell(m: dict[str, Any] | None) -> str:
    return "-" if m is None else f"{m['wall_s']} / {m['cpu_s']} / {m['peak_rss_mib']:.0f}"


def items_main(sizes: list[int], work: Path, cli: list[str], noop_upto: int,
               before: str = "") -> None:
    """``before``: a checkout of an older emoprep whose ``status`` is measured instead (the
    records in format 1, no no-op run; results/scale_before.md)."""
    if before:
        os.environ["PYTHONPATH"] = before  # the measured processes import that emoprep
        noop_upto = 0
    rows = [measure_items(n, work, cli, n <= noop_upto, bool(before)) for n in sizes]
    load = os.getloadavg()
    lines = ["Small items (still images) in batches of 4,000, every unit up to date; per "
             "(stage, item) one record (seven stages by default: 7 units per item). Whole "
             "processes, each cell wall s / CPU s / peak RSS MiB. First status: the split not "
             "yet written (planning it imports scikit-learn); again: the same status once more.",
             "",
             f"load average at the end: {load[0]:.1f} (2-core machine shared with three other "
             "sessions; CPU seconds are the steadier figure)", "",
             "| items | records MiB | status | status again | no-op run | status after run |",
             "|---|---|---|---|---|---|"]
    lines += [f"| {r['items']:,} | {r['records_mib']} | {_cell(r['status'])} | "
              f"{_cell(r['status_again'])} | {_cell(r.get('noop_run'))} | "
              f"{_cell(r.get('status_after_run'))} |" for r in rows]
    lines += ["", "command: python -m benchmarks.scale --items "
              f"{','.join(str(n) for n in sizes)} --noop-upto {noop_upto}"
              + (f" --before {before}" if before else "")]
    if before:
        lines[:0] = [f"`emoprep status` of the checkout {before} (records in format 1).", ""]
    write_result("scale_before" if before else "scale", {"items": rows, "before": before}, lines)
