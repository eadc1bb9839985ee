"""`emoprep train` end to end on the sample clips' cached features: a 2-fold split, a table,
a run folder, incremental training (three acts), the degenerate-data exit codes and the message
for unlabelled videos (subprocesses: the real exit status)."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from typer.testing import CliRunner

from emoprep.cli.app import app
from emoprep.pipeline.runner import RunOptions, run
from tests.helpers import CORPUS, EXTRA, write_manifest

CLI = CliRunner()
STAGES = {"embed": {"hog": {"type": "hog", "size": 32}},
          "split": {"folds": 2, "test_fraction": 0.0}, "window": {"sample": {"every": 2}}}
FAST = ["--set", "train.optim.epochs=2", "--set", "train.optim.batch_size=4",
        "--set", "train.cnn1d.filters=[4,4,8,8]"]
#: the corpus's 2-fold subject split puts every happy subject in one fold: degenerate, allowed
ALLOW = ["--allow-degenerate"]


@pytest.fixture(scope="module")
def cached(clip_bank: Path, tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    root = tmp_path_factory.mktemp("train")
    videos = root / "videos"
    videos.mkdir()
    for name, *_ in CORPUS + EXTRA:
        shutil.copy2(clip_bank / name, videos / name)
    manifest = write_manifest(root / "m.yaml", videos, STAGES)
    out = root / "out"
    run(manifest, out, opts=RunOptions(workers=0))
    return manifest, out


def _train(manifest: Path, out: Path, *extra: str) -> dict:
    res = CLI.invoke(app, ["train", "--features", "hog", "-m", str(manifest), "-o", str(out),
                           "--head", "cnn1d", "--json", *FAST, *ALLOW, *extra])
    assert res.exit_code == 0, res.output
    return json.loads(res.stdout)


def _emoprep(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "emoprep.cli.app", *args], capture_output=True,
                          text=True, timeout=300)


def test_train_three_acts(cached) -> None:
    manifest, out = cached
    first = _train(manifest, out)
    assert len(first["folds"]) == 2 and len(first["trained"]) == 2 and first["reused"] == []
    # one class per training part: the probe predicts it and scores 0 on validation; the run says
    # why its numbers mean nothing
    assert first["probe"]["summary"]["val"]["emotion/accuracy"]["mean"] == 0.0
    line = first["versus"]["line"]
    assert line.startswith("cnn1d ") and \
        "vs linear probe 0.0000 +- 0.0000 (val emotion/accuracy, 2 folds)" in line
    assert any("a single emotion class" in w for w in first["warnings"])
    runs = list((out / "train" / "hog" / "runs").iterdir())
    assert len(runs) == 1 and (runs[0] / "metrics.json").is_file()
    again = _train(manifest, out)
    assert again["trained"] == [] and len(again["reused"]) == 2
    status = json.loads(CLI.invoke(app, ["status", "-m", str(manifest), "-o", str(out), "--json",
                                         "--set", "train.head=cnn1d", "--set",
                                         "train.optim.epochs=2", "--set",
                                         "train.optim.batch_size=4", "--set",
                                         "train.cnn1d.filters=[4,4,8,8]"]).output)
    assert [(u["features"], u["state"]) for u in status["train"]] == [("hog", "up-to-date")] * 2
    changed = _train(manifest, out, "--set", "train.seed=3")
    assert len(changed["trained"]) == 2
    runs = sorted((out / "train" / "hog" / "runs").iterdir())
    assert len(runs) == 2
    res = CLI.invoke(app, ["train", "fuse", *map(str, runs), "--method", "weighted",
                           "--dest", str(out / "fused"), "--json"])
    assert res.exit_code == 0, res.output
    fused = json.loads(res.output)
    assert len(fused["folds"]) == 2 and (out / "fused" / "fusion_weighted.json").is_file()


def test_train_says_where_the_run_went_and_fuse_prints_a_table(cached) -> None:
    manifest, out = cached
    base = ["train", "--features", "hog", "-m", str(manifest), "-o", str(out), "--head",
            "cnn1d", *FAST, *ALLOW]
    res = CLI.invoke(app, base)
    assert res.exit_code == 0, res.output
    last = res.stdout.strip().splitlines()[-1]
    assert last.startswith("run saved: ")
    first = Path(last.removeprefix("run saved: "))
    assert first.parent == out / "train" / "hog" / "runs" and (first / "metrics.json").is_file()
    second = json.loads(CLI.invoke(app, [*base, "--set", "train.seed=5", "--json"]).stdout)
    assert Path(second["run_dir"]).is_dir() and Path(second["run_dir"]) != first
    res = CLI.invoke(app, ["train", "fuse", str(first), second["run_dir"],
                           "--dest", str(out / "fused_t")])
    assert res.exit_code == 0, res.output
    lines = res.stdout.strip().splitlines()
    assert lines[0].startswith("fused 2 runs by average: ")
    assert lines[2].startswith("fold0") and lines[3].startswith("fold1"), res.stdout
    assert lines[4].startswith("val mean") and " +- " in lines[4] and "(2 folds)" in lines[4]
    assert lines[-1] == f"written: {out / 'fused_t' / 'fusion_average.json'}"
    assert len(lines) < 12 and (out / "fused_t" / "fusion_average.json").is_file()
    full = CLI.invoke(app, ["train", "fuse", str(first), second["run_dir"], "--json"])
    assert json.loads(full.stdout)["method"] == "average"


def test_train_needs_features_and_valid_folds(cached) -> None:
    manifest, out = cached
    res = CLI.invoke(app, ["train", "-m", str(manifest), "-o", str(out)])
    assert res.exit_code == 2 and "--features" in res.output
    res = CLI.invoke(app, ["train", "--features", "hog", "-m", str(manifest), "-o", str(out),
                           "--folds", "x"])
    assert res.exit_code == 2 and "--folds" in res.output
    res = CLI.invoke(app, ["train", "--features", "nope", "-m", str(manifest), "-o", str(out)])
    assert res.exit_code != 0 and "nope" in res.output


def test_degenerate_split_exits_2_before_training(cached) -> None:
    manifest, out = cached
    units = set((out / "train" / "hog" / "units").glob("*"))
    res = _emoprep("train", "--features", "hog", "-m", str(manifest), "-o", str(out),
                   "--head", "linear", *FAST)
    assert res.returncode == 2, res.stderr
    assert "split 'default' fold 0, train part: a single emotion class" in res.stderr
    assert "--allow-degenerate" in res.stderr and res.stdout == ""
    assert set((out / "train" / "hog" / "units").glob("*")) == units  # nothing trained
    assert not list((out / "train" / "hog" / "runs").glob("linear-*"))


def test_unlabelled_videos_are_named(clip_bank: Path, tmp_path: Path) -> None:
    videos = tmp_path / "videos"
    videos.mkdir()
    for name, *_ in CORPUS:
        shutil.copy2(clip_bank / name, videos / name)
    manifest = write_manifest(tmp_path / "m.yaml", videos, STAGES, labels={})
    run(manifest, tmp_path / "out", opts=RunOptions(workers=0))
    res = _emoprep("train", "--features", "hog", "-m", str(manifest), "-o", str(tmp_path / "out"))
    assert res.returncode == 2, res.stderr
    assert "these videos have no labels: set labels.pattern or a preset" in res.stderr
