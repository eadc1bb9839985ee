"""Issue 25, findings 3, 4 and 6: what ``emoprep export`` writes by default and says it wrote.

- 3: the CSV export says how many frames the window kept of the videos' frames; the h5 export
  cuts nothing unless ``--max-len`` is given (and says so);
- 4: a part without sequences gives its real reason (no "--include-anomalies" without anomalies);
- 6: AU columns named by their source (``AU01_geom`` for the landmark proxies, never OpenFace's
  ``AU01_r``), with OpenFace's ``face_id`` and ``confidence`` columns.

One real run (in this process) of two short face clips and a clip without a face, then the CLI
as a subprocess.
"""

from __future__ import annotations

import csv
import os
import subprocess
import sys
from pathlib import Path

import h5py
import pytest
import yaml

from emoprep.pipeline.runner import RunOptions, run
from emoprep.samples import cut_clip


def emoprep(*args: str, cwd: Path) -> subprocess.CompletedProcess:
    env = {**os.environ, "PYTHONPATH": str(Path(__file__).parents[2]), "NO_COLOR": "1"}
    return subprocess.run([sys.executable, "-m", "emoprep.cli.app", *args], cwd=cwd, env=env,
                          capture_output=True, text=True, timeout=300)


@pytest.fixture(scope="module")
def out(samples_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("export_defaults")
    for name, src, n in (("S01_happy", "single_face.mp4", 15), ("S02_sad", "single_face.mp4", 10),
                         ("S03_angry", "no_face.mp4", 10)):
        assert cut_clip(samples_dir / src, root / "data" / f"{name}.mp4", 0, n) == n
    manifest = root / "m.yaml"
    manifest.write_text(yaml.safe_dump({
        "videos": {"root": "data"},
        "labels": {"pattern": r"(?P<subject>S\d+)_(?P<emotion>[a-z]+)\.mp4",
                   "subject": "subject"},
        "stages": {"split": {"test_subjects": ["S03"], "folds": 2}}}))
    rep = run(manifest, root / "out", opts=RunOptions(workers=0))
    assert [v["video_id"] for v in rep.failed_videos] == ["S03_angry"]
    return root / "out"


def test_csv_says_what_the_window_kept_and_names_au_columns_by_source(out: Path) -> None:
    got = emoprep("export", "-o", str(out), "--format", "csv", cwd=out.parent)
    assert got.returncode == 0, got.stderr
    # the default window [ceil(0.4 N), ceil(0.9 N)): frames 6-13 of 15 (8), 4-8 of 10 (5)
    assert got.stdout.strip() == (
        f"{out}/csv: 2 CSV files (one per video, one row per frame the window kept: 13 of the "
        f"videos' 25 frames (stages.window.mode fraction; mode all keeps every frame))")
    with (out / "csv" / "S01_happy.csv").open() as fh:
        rows = list(csv.DictReader(fh))
    assert len(rows) == 8 and list(rows[0])[:7] == [
        "frame", "face_id", "frame_index", "timestamp", "confidence", "success", "status"]
    au = [c for c in rows[0] if c.startswith("AU")]
    assert au and all(c.endswith("_geom") for c in au) and "AU12_geom" in au
    assert {r["face_id"] for r in rows} == {"0"}
    assert all(r["confidence"] == ("1.0" if r["success"] == "1" else "0.0") for r in rows)


def test_h5_export_cuts_nothing_by_default_and_says_why_a_part_is_empty(out: Path) -> None:
    dest = out.parent / "seq.h5"
    got = emoprep("export", "-o", str(out), "--features", "hog", "--dest", str(dest),
                  "--fold", "0", cwd=out.parent)
    assert got.returncode == 0, got.stderr
    lines = got.stdout.splitlines()
    assert "steps (the longest sequence: nothing cut; --max-len L cuts longer ones)" in lines[0]
    # the split's test part named only S03, whose video failed: planned over usable videos it
    # is empty, and the export says so instead of pointing at --include-anomalies
    assert lines[2] == (f"{out.parent}/seq_test.h5: not written, no sequences in split 'default' "
                        f"part test (fold -): the part lists no video (fix: another part or fold)")
    everything = out.parent / "all.h5"
    assert emoprep("export", "-o", str(out), "--features", "hog", "--dest", str(everything),
                   cwd=out.parent).returncode == 0
    with h5py.File(everything, "r") as f:
        assert sorted(f["lengths"][:].tolist()) == [5, 8]
        assert f["features"].shape[1] == 8 and f.attrs["max_len"] == 8
    cut = emoprep("export", "-o", str(out), "--features", "hog", "--dest", str(everything),
                  "--max-len", "4", cwd=out.parent)
    assert cut.returncode == 0 and " x 4 steps x " in cut.stdout, cut.stdout
