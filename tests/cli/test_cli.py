"""The typer app: thin, errors without tracebacks, exit codes, --json, --dry-run, export."""

from __future__ import annotations

import json
from pathlib import Path

import h5py
import numpy as np
import pytest
from typer.testing import CliRunner

from emoprep.cli.app import app
from tests.helpers import CORPUS, write_manifest

runner = CliRunner()
STAGES = {"split": {"folds": 2, "test_fraction": 0.25}, "embed": {"hog": {"type": "hog"}},
          "augment": {"names": ["flip"]}}


@pytest.fixture
def done(corpus: Path, tmp_path: Path) -> tuple[Path, Path]:
    manifest = write_manifest(tmp_path / "m.yaml", corpus, STAGES)
    out = tmp_path / "out"
    res = runner.invoke(app, ["run", "-m", str(manifest), "-o", str(out), "--workers", "0"])
    assert res.exit_code == 0, res.output
    assert "videos: 4 ok, 0 failed" in res.output and "frame store" in res.output
    return manifest, out


def test_dry_run_and_status_explain_without_running(done) -> None:
    manifest, out = done
    res = runner.invoke(app, ["run", "-m", str(manifest), "-o", str(out), "--dry-run",
                              "--set", "stages.detect.min_size=80"])
    assert res.exit_code == 0
    assert "track: 4 stale: detect.min_size changed 60 -> 80" in res.output
    assert "probe: 4 up-to-date" in res.output
    res = runner.invoke(app, ["status", "-m", str(manifest), "-o", str(out), "--json"])
    data = json.loads(res.output)
    assert data["stages"]["embed:hog@flip"]["up-to-date"] == 4
    res = runner.invoke(app, ["status", "-m", str(manifest), "-o", str(out), "--json",
                              "--set", "stages.track.redetect_every=10"])
    units = json.loads(res.output)["units"]
    assert sorted(units["track"])[0][1:] == ["stale", "track.redetect_every changed 50 -> 10"]
    assert units["probe"] == []
    assert {tuple(u[1:]) for u in units["frames"]} == {("stale", "upstream track changed")}



def test_config_error_is_printed_without_traceback(done) -> None:
    manifest, out = done
    res = runner.invoke(
        app, ["run", "-m", str(manifest), "-o", str(out), "--set", "stages.window.end=2"]
    )
    assert res.exit_code == 2  # a configuration error (1: some videos failed)
    assert "error:" in res.output and "stages.window.end" in res.output
    assert "Traceback" not in res.output


def test_failed_video_makes_exit_code_nonzero_and_is_named(done, corpus: Path) -> None:
    manifest, out = done
    (corpus / "s08_sad_1.mp4").write_bytes(b"junk" * 100)
    res = runner.invoke(app, ["run", "-m", str(manifest), "-o", str(out), "--workers", "0"])
    assert res.exit_code == 1
    assert "s08_sad_1" in res.output and "failed" in res.output


def test_export_padded_folds(done, tmp_path: Path) -> None:
    _, out = done
    dest = tmp_path / "fold.h5"
    res = runner.invoke(
        app,
        [
            "export",
            "-o",
            str(out),
            "--features",
            "hog",
            "--max-len",
            "16",
            "--dest",
            str(dest),
            "--split",
            "default",
            "--fold",
            "0",
            "--augment",
            "flip",
        ],
    )
    assert res.exit_code == 0, res.output
    split = json.loads((out / "splits" / "default.json").read_text())
    with h5py.File(tmp_path / "fold_train.h5") as f:
        names = [n.decode() for n in f["names"][()]]
        assert sorted(n for n in names if "@" not in n) == split["folds"][0]["train"]
        assert sorted(n for n in names if "@" in n) == [
            f"{v}@flip" for v in split["folds"][0]["train"]
        ]
        assert f["features"].shape[:2] == (len(names), 16) and f["mask"].shape == (len(names), 16)
        assert f["labels"].shape == (len(names), 2) and np.all(f["labels"][()].sum(1) == 1)
    with h5py.File(tmp_path / "fold_val.h5") as f:
        assert all("@" not in n.decode() for n in f["names"][()])  # augmentations: training only
    with h5py.File(tmp_path / "fold_test.h5") as f:  # the split's test part, not augmented
        assert split["test"] and [n.decode() for n in f["names"][()]] == split["test"]


def test_plots_flag_and_report_write_trim_pngs(done) -> None:
    manifest, out = done
    res = runner.invoke(
        app, ["run", "-m", str(manifest), "-o", str(out), "--workers", "0", "--plots"]
    )
    assert res.exit_code == 0, res.output
    pngs = sorted(p.name for p in (out / "plots").glob("*.png"))
    assert pngs == sorted(f"{Path(n).stem}_trim.png" for n, *_ in CORPUS)
    assert all((out / "plots" / p).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" for p in pngs)
    res = runner.invoke(app, ["report", "-m", str(manifest), "-o", str(out)])
    assert res.exit_code == 0 and res.output.strip().splitlines() == [
        "training runs: none (emoprep train --features NAME)",
        f"report: {out / 'report' / 'index.html'}"]
    html = (out / "report" / "index.html").read_text()
    assert all(Path(n).stem in html for n, *_ in CORPUS)
    res = runner.invoke(
        app, ["inspect", "s01_happy_1", "-m", str(manifest), "-o", str(out), "--json"]
    )
    assert res.exit_code == 0 and json.loads(res.output)["video_id"] == "s01_happy_1"
    res = runner.invoke(app, ["inspect", "nope", "-m", str(manifest), "-o", str(out)])
    assert res.exit_code == 2 and "nope" in res.output
