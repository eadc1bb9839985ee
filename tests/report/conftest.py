"""One real run shared by the report tests (built once per session with the CLI)."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from tests.helpers import write_manifest

EMOPREP = str(Path(sys.executable).with_name("emoprep"))

#: file in the run's dataset folder -> where it comes from ("bank:" = the conftest clip bank)
RUN_FILES = {
    "s01_happy_1.mp4": "bank:s01_happy_1.mp4",
    "s02_sad_1.mp4": "bank:s02_sad_1.mp4",
    "s04_sad_1.mp4": "bank:s04_sad_1.mp4",
    # its "take" label must be escaped in HTML (the pipeline makes the id file-name safe)
    "s03_happy_<b>&'x.mp4": "bank:s03_happy_1.mp4",
    "s08_sad_1.mp4": "samples:no_face.mp4",        # fails: no frame shows a face
    "s09_happy_1.mov": "samples:face_noface.mov",  # ok, face in 4 of 85 kept frames
}
LABELS = {"pattern": r"(?P<subject>s\d+)_(?P<emotion>[a-z]+)_(?P<take>[^/]+)\.(mp4|mov)",
          "subject": "subject", "groups": ["emotion", "take"]}
FAILED_ID, LOW_FACE_ID, ODD_ID, ODD_TAKE = "s08_sad_1", "s09_happy_1", "s03_happy__b_x", "<b>&'x"


@pytest.fixture(scope="session")
def report_run(clip_bank: Path, samples_dir: Path, tmp_path_factory: pytest.TempPathFactory
               ) -> Path:
    """Output folder of ``emoprep run`` over RUN_FILES (one failed, one low-coverage video)."""
    base = tmp_path_factory.mktemp("report_run")
    root = base / "videos"
    root.mkdir()
    for name, origin in RUN_FILES.items():
        kind, src = origin.split(":")
        shutil.copy2((clip_bank if kind == "bank" else samples_dir) / src, root / name)
    manifest = write_manifest(base / "m.yaml", root, labels=LABELS,
                              stages={"split": {"folds": 2, "test_fraction": 0.2}})
    cmd = [EMOPREP, "run", "-m", str(manifest), "-o", str(base / "out"), "--workers", "0",
           "--json"]
    res = subprocess.run(cmd, capture_output=True, text=True, timeout=900)
    assert res.returncode == 1, res.stdout[-3000:] + res.stderr[-3000:]  # FAILED_ID alone
    summary = json.loads((base / "out" / "summary.json").read_text())
    status = {v["video_id"]: v["status"] for v in summary["videos"]}
    assert len(status) == len(RUN_FILES)
    assert {v for v, s in status.items() if s != "ok"} == {FAILED_ID}, status
    assert status[FAILED_ID] == "failed" and status[LOW_FACE_ID] == "ok", status
    return base / "out"


def snapshot(out: Path) -> dict[str, int]:
    """mtime_ns of every file of an output folder outside report/."""
    return {str(p.relative_to(out)): p.stat().st_mtime_ns for p in out.rglob("*")
            if p.is_file() and "report" not in p.relative_to(out).parts}


@pytest.fixture(scope="session")
def built_report(report_run: Path) -> tuple[Path, dict[str, int]]:
    """``build_report(report_run)`` (default destination) and the folder's snapshot before it."""
    from emoprep.report import build_report

    before = snapshot(report_run)
    return build_report(report_run), before
