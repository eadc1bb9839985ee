"""Fixtures of the fault-injection suite: a two-clip dataset, one clean run of it (copied per
test, mtimes kept), and helpers that run the real CLI in a subprocess and watch its processes.

The suite's budget is about 4 minutes on 2 cores: most cases are in-process runs on copies of
one clean output folder; the cases marked ``slow`` (CI runs them) start several real runs.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

import h5py
import numpy as np
import pytest

from emoprep.pipeline.runner import RunOptions, run
from tests import helpers
from tests.helpers import PER_VIDEO, write_manifest

REPO = Path(__file__).resolve().parents[2]
#: the two clips of the suite's dataset (a subset of the conftest corpus)
CLIPS = ("s01_happy_1.mp4", "s04_sad_1.mp4")
#: stages of the suite's manifest: every per-video stage, an embedder downstream of frames
STAGES = {"embed": {"hog": {"type": "hog"}}}
INLINE = RunOptions(workers=0)


def emoprep_cmd(*args: str) -> list[str]:
    """The real CLI, run from the repository (``python -m emoprep.cli.app ...``)."""
    return [sys.executable, "-m", "emoprep.cli.app", *args]


def cli(*args: str, timeout: float = 300) -> subprocess.CompletedProcess:
    return subprocess.run(emoprep_cmd(*args), cwd=REPO, capture_output=True, text=True,
                          timeout=timeout)


def start_cli(*args: str) -> subprocess.Popen:
    """Start the CLI in its own session (process group = its pid), output to pipes."""
    return subprocess.Popen(emoprep_cmd(*args), cwd=REPO, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True, start_new_session=True)


def group_pids(pgid: int) -> list[int]:
    """Live (non-zombie) processes of a process group."""
    pids = []
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            if os.getpgid(int(entry)) != pgid:
                continue
            state = Path(f"/proc/{entry}/stat").read_text().rsplit(")", 1)[1].split()[0]
        except (ProcessLookupError, FileNotFoundError, PermissionError):
            continue
        if state != "Z":
            pids.append(int(entry))
    return pids


def wait_for(check: Callable[[], bool], timeout: float, what: str) -> None:
    t0 = time.time()
    while time.time() - t0 < timeout:
        if check():
            return
        time.sleep(0.02)
    raise AssertionError(f"timed out after {timeout} s waiting for {what}")


def n_records(out: Path) -> int:
    return helpers.n_records(out)


def assert_nothing_partial(out: Path) -> None:
    """Every file under a final name is whole: shards read in full, records and JSON parse."""
    for p in out.rglob("*"):
        if not p.is_file() or p.name.startswith("."):
            continue
        if p.suffix == ".h5" and p.parent != out and p.parent.name != "features":  # shards
            with h5py.File(p, "r") as f:
                f.visititems(lambda _, o: o[()] if isinstance(o, h5py.Dataset) else None)
        elif p.suffix == ".json":
            json.loads(p.read_text())
        elif p.suffix == ".npz":
            with np.load(p) as z:
                [z[k] for k in z.files]


@pytest.fixture(scope="session")
def two_clips(clip_bank: Path, tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    """(dataset folder with CLIPS, its manifest) shared by the suite; tests must not change it.

    The manifest says ``batch: {enabled: false}``: this suite's faults are those of the per-video
    layout (a shard per video, its kill points, a corrupt shard or work file of one video); the
    packed layout, the default for these 40-frame clips, has tests/reliability/
    test_kill_points_packed.py (which turns it back on) and tests/pipeline/test_batches.py."""
    base = tmp_path_factory.mktemp("rel_data")
    root = base / "videos"
    root.mkdir()
    for name in CLIPS:
        shutil.copy2(clip_bank / name, root / name)
    return root, write_manifest(base / "m.yaml", root, STAGES, batch=PER_VIDEO)


@pytest.fixture(scope="session")
def clean_out(two_clips: tuple[Path, Path], tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The output folder of one clean in-process run over ``two_clips`` (read-only)."""
    out = tmp_path_factory.mktemp("rel_clean") / "out"
    rep = run(two_clips[1], out, opts=INLINE)
    assert all(r["ok"] for r in rep.ran)
    return out


@pytest.fixture
def done_out(clean_out: Path, tmp_path: Path) -> Path:
    """A private copy of the clean run's output folder (mtimes kept, so it is up to date)."""
    out = tmp_path / "out"
    shutil.copytree(clean_out, out)
    return out
