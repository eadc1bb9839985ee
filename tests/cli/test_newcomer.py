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
from tests.helpers import index_item, index_videos

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
        assert index_videos(f) == ["S01_happy", "S02_sad", "S03_angry"]
        assert index_item(f, "S01_happy")["frames"].shape == (n_frames, 160, 160, 3)
    for name, dim in (("hog", None), ("geometry", 136)):
        with h5py.File(out / "features" / f"{name}.h5", "r") as f:
            feats = index_item(f, "S02_sad")["features"]
            assert feats.shape[0] == n_frames and (dim is None or feats.shape[1] == dim)


@pytest.fixture(scope="module")
def quick(newcomer: Path) -> subprocess.CompletedProcess:
    """``emoprep run data -o out`` in the newcomer's folder (no manifest there)."""
    return emoprep("run", "data", "-o", "out", "-j", "0", cwd=newcomer)


def test_a_folder_of_three_clips_then_the_smallest_manifest(newcomer: Path, quick) -> None:
    assert quick.returncode == 0, quick.stderr + quick.stdout
    assert "videos: 3 ok, 0 failed" in quick.stdout
    # finding 3: the quick start keeps every frame, and says so
    assert (f"frames kept by the window: {3 * FRAMES} of {3 * FRAMES} decodable frames "
            f"(stages.window.mode all)") in quick.stdout
    assert "split default: written (new)" in quick.stdout  # finding 10
    _assert_crops_and_features(newcomer / "out", FRAMES)
    status = emoprep("status", "-o", "out", cwd=newcomer)  # no manifest file: the saved one
    assert status.returncode == 0, status.stderr
    assert "frames: 3 up-to-date" in status.stdout and "embed:hog: 3 up-to-date" in status.stdout
    for cmd in (["report", "-o", "out"], ["inspect", "S01_happy", "-o", "out"],
                ["export", "-o", "out", "--format", "csv"]):
        got = emoprep(*cmd, cwd=newcomer)
        assert got.returncode == 0, (cmd, got.stderr)
    again = emoprep("run", "-o", "out", "-j", "0", cwd=newcomer)  # the saved quick start
    assert again.returncode == 0, again.stderr
    assert again.stdout.startswith("0 units ran, 21 up to date, 0 not run (upstream failed or "
                                   "--skip-failed), ")
    assert again.stdout.splitlines()[0].endswith(" s (nothing to run)")

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
    # finding 1: 3 subjects make no 5 folds: the split nobody asked for is reported, not an error
    assert "split default: unavailable (not written: 3 subjects" in small.stdout
    for args in (["status", "-o", "out2"], ["status", "-m", "data_manifest.yaml", "-o", "out2"]):
        got = emoprep(*args, cwd=newcomer)
        assert got.returncode == 0 and "frames: 3 up-to-date" in got.stdout, got.stderr
    # finding 9: --set holds for one command; changed labels rewrite the indexes only
    got = emoprep("status", "-o", "out2", "--set", "labels.classes.emotion=[angry, happy, sad]",
                  cwd=newcomer)
    assert ("indexes: the next run rewrites frames.h5 and features/: labels.classes changed "
            "(labels are metadata: no stage re-runs)") in got.stdout
    assert ("with --set labels.classes.emotion=[angry, happy, sad]: these values hold for this "
            "command only") in got.stdout
    assert "frames: 3 up-to-date" in got.stdout


def test_the_quick_start_never_names_a_dict(tmp_path: Path) -> None:
    """Finding 5: an empty folder's error names the command line, not ``<dict>``."""
    (tmp_path / "empty").mkdir()
    got = emoprep("run", "empty", "-o", "out", cwd=tmp_path)
    assert got.returncode == 2
    assert "1 error in the quick start's settings (emoprep run empty):" in got.stderr
    assert "<dict>" not in got.stderr


def test_usage_mistakes_exit_2_with_the_fix(newcomer: Path, quick) -> None:
    """Findings 11 and 12: what a newcomer mistypes is a usage error (2) that says the fix."""
    cases = [
        (["inspect", "S01_hapy", "-o", "out"], "did you mean 'S01_happy'?"),
        (["export", "-o", "out", "--features", "hogg", "--dest", "x.h5"], "did you mean 'hog'?"),
        (["run", "--set", "k", "80"], "expected KEY=VALUE, got 'k'"),
        (["run", "data", "--dry-run", "true"], "flags such as --dry-run take no value"),
    ]
    for args, fix in cases:
        got = emoprep(*args, cwd=newcomer)
        text = " ".join((got.stderr + got.stdout).replace("│", " ").split())
        assert got.returncode == 2 and fix in text, (args, got.returncode, text)


def test_help_shows_flags_without_a_type_and_names_the_choices(tmp_path: Path) -> None:
    """Finding 11: no ``<bool>`` after a flag, ``--set KEY=VALUE``, the stages --force takes,
    the profiles, no line broken where the docstring was."""
    got = emoprep("run", "--help", cwd=tmp_path)
    env_lines = {ln.split()[1]: ln for ln in got.stdout.splitlines()
                 if ln.startswith("│ --") and len(ln.split()) > 1}
    for flag in ("--dry-run", "--verify", "--skip-failed", "--json"):
        assert "<bool>" not in env_lines[flag], env_lines[flag]
    assert "KEY=VALUE" in env_lines["--set"] and "STAGE" in env_lines["--force"]
    text = " ".join(got.stdout.replace("│", " ").split())
    assert "probe, window, track, au, frames, embed:NAME" in text
    assert "thesis-affectnet" in text and "emoprep run FOLDER -o out" in text


def test_the_help_option_itself_shows_no_type(tmp_path: Path) -> None:
    """Finding 11: ``--help`` is a flag too; typer gives it no metavar (``<bool>``) unless the
    command classes (emoprep.cli.common.Command, Group) blank it, in every group and command."""
    for command in ([], ["run"], ["train"], ["train", "fuse"], ["models", "list"],
                    ["config", "show"]):
        got = emoprep(*command, "--help", cwd=tmp_path)
        line = next(ln for ln in got.stdout.splitlines() if ln.startswith("│ --help"))
        assert line.replace("│", " ").split()[:4] == ["--help", "-h", "Show", "this"], \
            (command, line)  # the help text right after the names, where a type would stand


def test_dry_run_names_empty_and_text_files(newcomer: Path, tmp_path: Path) -> None:
    """Finding 13: ``--dry-run`` (validate everything) catches what the run would fail."""
    import shutil

    data = tmp_path / "data"
    shutil.copytree(newcomer / "data", data)
    (data / "S04_empty.mp4").write_bytes(b"")
    (data / "S05_notes.mp4").write_text("meeting notes\n")
    got = emoprep("run", "data", "-o", "out", "--dry-run", cwd=tmp_path)
    assert got.returncode == 1, got.stderr
    assert ("not a video: S04_empty: 0 bytes: an empty file, not a video (fix: copy it again, "
            "or delete it); the run would fail it") in got.stdout
    assert ("not a video: S05_notes: a text file, not a video (starts with 'meeting notes\\n')"
            in got.stdout)


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
