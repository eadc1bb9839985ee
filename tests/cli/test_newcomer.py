"""Issue 25: a newcomer's own folder works on the first try.

Three real clips named as a newcomer names them (``S01_happy.mp4``, ``S02_sad.mp4``,
``S03_angry.mp4``: short re-encoded cuts of the sample ``single_face.mp4``), no manifest:
``emoprep run FOLDER -o OUT`` exits 0 with crops and features; then the smallest manifest (root and
a naming pattern) does the same; ``status -o OUT`` works on both. Each command runs as a
subprocess, as a user types it.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import h5py
import pytest
import yaml

from emoprep.samples import cut_clip

NAMES = ("S01_happy.mp4", "S02_sad.mp4", "S03_angry.mp4")
FRAMES = 15  #: frames per clip (the face of single_face.mp4 is found on every one of them)


def emoprep(*args: str, cwd: Path) -> subprocess.CompletedProcess:
    """``emoprep ARGS`` in ``cwd``, this worktree's code first on the path."""
    env = {**os.environ, "PYTHONPATH": str(Path(__file__).parents[2]), "NO_COLOR": "1"}
    return subprocess.run([sys.executable, "-m", "emoprep.cli.app", *args], cwd=cwd, env=env,
                          capture_output=True, text=True, timeout=300)


@pytest.fixture(scope="module")
def newcomer(samples_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A working folder with ``data/`` holding the three clips, and nothing else."""
    home = tmp_path_factory.mktemp("newcomer")
    for name in NAMES:
        assert cut_clip(samples_dir / "single_face.mp4", home / "data" / name, 0, FRAMES) == FRAMES
    return home


def _assert_crops_and_features(out: Path, n_frames: int) -> None:
    with h5py.File(out / "frames.h5", "r") as f:
        assert sorted(f["videos"]) == ["S01_happy", "S02_sad", "S03_angry"]
        assert f["videos/S01_happy/frames"].shape == (n_frames, 160, 160, 3)
    for name, dim in (("hog", None), ("geometry", 136)):
        with h5py.File(out / "features" / f"{name}.h5", "r") as f:
            feats = f["videos/S02_sad/features"]
            assert feats.shape[0] == n_frames and (dim is None or feats.shape[1] == dim)


def test_a_folder_of_three_clips_then_the_smallest_manifest(newcomer: Path) -> None:
    quick = emoprep("run", "data", "-o", "out", "-j", "0", cwd=newcomer)
    assert quick.returncode == 0, quick.stderr + quick.stdout
    assert "videos: 3 ok, 0 failed" in quick.stdout
    # the quick start keeps every frame, and says so
    assert (f"frames kept by the window: {3 * FRAMES} of {3 * FRAMES} decodable frames "
            f"(stages.window.mode all)") in quick.stdout
    _assert_crops_and_features(newcomer / "out", FRAMES)
    status = emoprep("status", "-o", "out", cwd=newcomer)  # no manifest file: the saved one
    assert status.returncode == 0, status.stderr
    assert "frames: 3 up-to-date" in status.stdout and "embed:hog: 3 up-to-date" in status.stdout
    for cmd in (["report", "-o", "out"], ["inspect", "S01_happy", "-o", "out"],
                ["export", "-o", "out", "--format", "csv"]):
        got = emoprep(*cmd, cwd=newcomer)
        assert got.returncode == 0, (cmd, got.stderr)

    (newcomer / "data_manifest.yaml").write_text(yaml.safe_dump({
        "videos": {"root": "data"},
        "labels": {"pattern": r"(?P<subject>S\d+)_(?P<emotion>[a-z]+)\.mp4",
                   "subject": "subject"}}))
    small = emoprep("run", "-o", "out2", "-j", "0", cwd=newcomer)
    assert small.returncode == 0, small.stderr + small.stdout
    kept = 8  # the default window, [0.4, 0.9) of 15 frames: 6..13
    _assert_crops_and_features(newcomer / "out2", kept)
    assert (f"frames kept by the window: {3 * kept} of {3 * FRAMES} decodable frames "
            f"(stages.window.mode fraction: [0.4, 0.9) of each video; stages.window.mode: all "
            f"keeps every frame)") in small.stdout
    # 3 subjects make no 5 folds: the split nobody asked for is reported, not an error
    assert "split default: unavailable (not written: 3 subjects" in small.stdout
    for args in (["status", "-o", "out2"], ["status", "-m", "data_manifest.yaml", "-o", "out2"]):
        got = emoprep(*args, cwd=newcomer)
        assert got.returncode == 0 and "frames: 3 up-to-date" in got.stdout, got.stderr


def test_an_output_folder_of_the_old_defaults_gains_only_the_embedder_units(
        newcomer: Path, tmp_path: Path) -> None:
    """Finding 2: hog and geometry are the default embedders now; a folder made when the default
    was none keeps every unit up to date and only gains the embedders' units."""
    old = tmp_path / "old.yaml"
    old.write_text(yaml.safe_dump({"videos": {"root": str(newcomer / "data"),
                                              "include": [NAMES[0]]},
                                   "stages": {"embed": {}}}))
    assert emoprep("run", "-m", str(old), "-o", "out", "-j", "0", cwd=tmp_path).returncode == 0
    new = tmp_path / "new.yaml"
    new.write_text(yaml.safe_dump({"videos": {"root": str(newcomer / "data"),
                                              "include": [NAMES[0]]}}))
    got = emoprep("status", "-m", str(new), "-o", "out", "--json", cwd=tmp_path)
    stages = json.loads(got.stdout)["stages"]
    assert {s: {k: n for k, n in c.items() if n} for s, c in stages.items()} == {
        "probe": {"up-to-date": 1}, "window": {"up-to-date": 1}, "track": {"up-to-date": 1},
        "au": {"up-to-date": 1}, "frames": {"up-to-date": 1},
        "embed:geometry": {"missing": 1}, "embed:hog": {"missing": 1}}
