"""The Python API: emoprep.run / emoprep.status with a dict manifest, the same data as the CLI."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

import emoprep
from emoprep.errors import ConfigError
from tests.helpers import CORPUS_LABELS


def test_run_and_status_from_a_dict(clip_bank: Path, tmp_path: Path) -> None:
    videos = tmp_path / "videos"
    videos.mkdir()
    for name in ("s01_happy_1.mp4", "s02_sad_1.mp4"):
        shutil.copy2(clip_bank / name, videos / name)
    raw = {"videos": {"root": str(videos), "include": ["*.mp4"]}, "labels": CORPUS_LABELS,
           "stages": {"split": {"folds": 2, "test_fraction": 0.0}}}
    out = tmp_path / "out"
    report = emoprep.run(raw, out, overrides=["stages.align.size=96"])
    assert [v["status"] for v in report.videos] == ["ok", "ok"] and not report.failed_videos
    assert emoprep.open_store(out).frames("s01_happy_1").shape[1:] == (96, 96, 3)
    state = emoprep.status(raw, out, overrides=["stages.align.size=96"])
    assert all(s["up-to-date"] == 2 for s in state["stages"].values())
    (tmp_path / "m.yaml").write_text(yaml.safe_dump(raw))
    cli = subprocess.run(
        [
            sys.executable,
            "-m",
            "emoprep.cli.app",
            "status",
            "--json",
            "-m",
            str(tmp_path / "m.yaml"),
            "-o",
            str(out),
            "--set",
            "stages.align.size=96",
        ],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert json.loads(cli.stdout) == state
    stale = emoprep.status(raw, out)  # align.size back to its default: frames stale, why is said
    assert stale["stages"]["frames"]["stale"] == 2
    assert stale["reasons"]["frames"] == [["align.size changed 96 -> 160", 2]]


def test_bad_override_is_a_config_error(tmp_path: Path) -> None:
    raw = {"videos": {"root": str(tmp_path)}}
    with pytest.raises(ConfigError, match="min_sise"):
        emoprep.status(raw, tmp_path / "out", overrides=["stages.detect.min_sise=3"])
