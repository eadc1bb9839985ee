"""CLI conventions: exit codes, plain output when not a terminal, -q, --version, quick start
without a manifest, --profile, config show."""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from emoprep import __version__
from tests.helpers import write_manifest

ESCAPES = re.compile(r"\x1b\[|\r")


def emoprep(*args: str, cwd: Path | None = None, env: dict | None = None
            ) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "emoprep.cli.app", *args], capture_output=True,
                          text=True, timeout=300, cwd=cwd, env={**os.environ, **(env or {})})


@pytest.fixture(scope="module")
def two(clip_bank: Path, tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    root = tmp_path_factory.mktemp("manners")
    videos = root / "videos"
    videos.mkdir()
    for name in ("s01_happy_1.mp4", "s02_sad_1.mp4"):
        shutil.copy2(clip_bank / name, videos / name)
    (videos / "s09_happy_1.mp4").write_bytes(b"not a video")
    return write_manifest(root / "m.yaml", videos), root / "out"


def test_exit_codes_and_plain_output_when_piped(two) -> None:
    manifest, out = two
    res = emoprep("run", "-m", str(manifest), "-o", str(out), "--workers", "0")
    assert res.returncode == 1  # one video failed, the others finished
    assert not ESCAPES.search(res.stdout + res.stderr)  # no bars or colours in a log file
    assert "failed probe s09_happy_1" in res.stderr and "progress: " in res.stderr
    row = next(ln for ln in res.stdout.splitlines() if ln.startswith("s09_happy_1"))
    assert "(corrupt file or unsupported container); the file: a text file, not a video" in row
    assert row.rstrip().endswith("or leave it out with videos.exclude)")  # not cut when piped
    assert "1 unit ran" not in res.stdout and "units ran" in res.stdout
    quiet = emoprep("run", "-m", str(manifest), "-o", str(out), "--workers", "0", "-q")
    assert quiet.returncode == 1 and quiet.stderr == ""
    bad = emoprep("run", "-m", str(manifest), "-o", str(out), "--set", "stages.window.end=2")
    assert (
        bad.returncode == 2 and bad.stderr.startswith("error: ") and "Traceback" not in bad.stderr
    )
    usage = emoprep("run", "--executor", "nope")
    assert usage.returncode == 2 and "local" in usage.stderr and "dask" in usage.stderr


def test_version_help_and_no_color(two) -> None:
    assert emoprep("--version").stdout.strip() == f"emoprep {__version__}"
    assert emoprep("-h").returncode == 0 and "Exit codes" in emoprep("-h").stdout
    manifest, out = two
    res = emoprep("status", "-m", str(tmp := manifest.parent / "nope.yaml"), env={"NO_COLOR": "1"})
    assert res.returncode == 2 and str(tmp) in res.stderr and not ESCAPES.search(res.stderr)


def test_quick_start_without_a_manifest(clip_bank: Path, tmp_path: Path) -> None:
    clip = tmp_path / "my clip.mp4"
    shutil.copy2(clip_bank / "s04_sad_1.mp4", clip)
    res = emoprep("run", str(clip), "-o", str(tmp_path / "out"), "--workers", "0", "--json",
                  cwd=tmp_path)
    assert res.returncode == 0, res.stderr
    report = json.loads(res.stdout)
    assert [(v["video_id"], v["status"]) for v in report["videos"]] == [("my_clip", "ok")]
    assert report["split"]["state"] == "unavailable"  # one video: no split, not an error


def test_profile_and_config_show(two) -> None:
    manifest, out = two
    shown = emoprep("config", "show", "-m", str(manifest), "--profile", "thesis-sase-fe")
    assert shown.returncode == 0, shown.stderr
    assert shown.stdout.startswith("# profile thesis-sase-fe")
    assert "profile: thesis-sase-fe" in shown.stdout and "backend: none" in shown.stdout
    plain = emoprep("status", "-m", str(manifest), "-o", str(out), "--json")
    profiled = emoprep("status", "-m", str(manifest), "-o", str(out), "--json",
                       "--profile", "thesis-sase-fe")
    assert json.loads(plain.stdout)["stages"]["track"]["stale"] == 0
    reasons = dict(json.loads(profiled.stdout)["reasons"]["track"])
    assert any("track.backend changed medianflow -> none" in r for r in reasons)
