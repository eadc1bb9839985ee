"""``emoprep export`` on a real run: parts of the manifest's split (no leaks), lengths and masks,
round trips for every part, AU features, anomalies held back, and the edge cases of the CLI."""

from __future__ import annotations

import json
from pathlib import Path

import h5py
import numpy as np
import pytest
from typer.testing import CliRunner

from emoprep.cli.app import app
from emoprep.data import Part
from emoprep.errors import ConfigError
from emoprep.export.padded import ExportOptions, export
from emoprep.io.reader import open_features
from tests.test_data import ANOMALY, shared_run

cli = CliRunner()


@pytest.fixture(scope="module")
def out(clip_bank: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    return shared_run(clip_bank, tmp_path_factory)


def _read(path: Path) -> dict:
    with h5py.File(path) as f:
        d = {k: f[k][()] for k in f}
        d["attrs"] = dict(f.attrs)
    for k in ("names", "subjects"):
        d[k] = [x.decode() for x in d[k]]
    return d


def _subjects(out: Path) -> dict[str, str]:
    return {r["video_id"]: r["subject"] for r in open_features(out, "hog").table()}


def test_fold_without_split_writes_the_manifest_splits_parts(out: Path, tmp_path: Path) -> None:
    """Before: `--fold 0` without `--split` wrote every video into each of the three files."""
    res = cli.invoke(app, ["export", "--run-dir", str(out), "--features", "hog", "--dest",
                           str(tmp_path / "x.h5"), "--fold", "0", "--max-len", "50"])
    assert res.exit_code == 0, res.output
    split = json.loads((out / "splits" / "default.json").read_text())
    files = {p: _read(tmp_path / f"x_{p}.h5") for p in ("train", "val", "test")}
    expect = {"train": split["folds"][0]["train"], "val": split["folds"][0]["val"],
              "test": split["test"]}
    subj = _subjects(out)
    for part, d in files.items():
        assert d["names"] == [v for v in expect[part] if v != ANOMALY]
        assert d["attrs"]["split"] == "default" and d["attrs"]["part"] == part
    parts = [{subj[n] for n in d["names"]} for d in files.values()]
    assert not (parts[0] & parts[1]) and not (parts[0] & parts[2]) and not (parts[1] & parts[2])
    assert "split default, fold 0" in res.output and "1 AU-trim anomalies held back" in res.output
    alone = cli.invoke(app, ["export", "-o", str(out), "--features", "hog", "--dest",
                             str(tmp_path / "t.h5"), "--part", "train"])  # a part without a fold
    assert alone.exit_code != 0 and "expected one of 0, 1 for part train" in alone.output


@pytest.mark.parametrize(("part", "fold"), [("train", 0), ("val", 0), ("train", 1), ("val", 1),
                                            ("test", None), ("all", None)])
def test_round_trip_equals_the_store(
    out: Path, tmp_path: Path, part: str, fold: int | None
) -> None:
    dest = tmp_path / f"{part}.h5"
    info = export(out, "hog", dest, ExportOptions(max_len=60, fold=fold, part=Part(part),
                                                  include_anomalies=True))
    d, fs = _read(dest), open_features(out, "hog")
    assert info["n"] == len(d["names"]) > 0 and d["attrs"]["n_anomalies_held_back"] == 0
    for i, vid in enumerate(d["names"]):
        x, face = fs.read(vid)
        n = len(x)
        assert d["lengths"][i] == n and d["mask"][i].sum() == n and not d["mask"][i, n:].any()
        np.testing.assert_array_equal(d["features"][i, :n], x)
        np.testing.assert_array_equal(d["face_mask"][i, :n].astype(bool), face)
        assert not d["features"][i, n:].any()
    classes = [c.decode() for c in d["classes_emotion"]]
    assert classes == ["neutral", "happy", "sad", "angry"] and d["labels"].shape[1] == 4
    assert d["attrs"]["task"] == "emotion"  # not 'channel', the alphabetically first key


def test_anomalies_held_back_and_au_features(out: Path, tmp_path: Path) -> None:
    info = export(out, "au", tmp_path / "au.h5", ExportOptions(max_len=45))
    d = _read(tmp_path / "au.h5")
    assert ANOMALY not in d["names"] and info["held_back"] == 1
    assert json.loads(d["attrs"]["anomalies_held_back"]) == [ANOMALY]
    assert d["features"].shape[2] == 8 and np.isfinite(d["features"]).all()
    dropped = export(out, "hog", tmp_path / "d.h5", ExportOptions(max_len=45, drop_no_face=True))
    assert dropped["n"] == 5 and _read(tmp_path / "d.h5")["face_mask"].sum() == \
        _read(tmp_path / "d.h5")["mask"].sum()


@pytest.mark.parametrize(("args", "message"), [
    (["--max-len", "0"], "greater than or equal to 1"),
    (["--part", "tset"], "'tset' is not one of"),
    (["--pad", "tail"], "'tail' is not one of"),
])
def test_cli_options_list_their_valid_values(out: Path, tmp_path: Path, args: list[str],
                                             message: str) -> None:
    res = cli.invoke(app, ["export", "-r", str(out), "--features", "hog", "--dest",
                           str(tmp_path / "x.h5"), *args])
    assert res.exit_code == 2 and message in " ".join(res.output.split()), res.output


def test_export_errors_name_the_option(out: Path, tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="ending in .h5 or .hdf5, got"):
        export(out, "hog", tmp_path / "x.npz")
    with pytest.raises(ConfigError, match="expected an integer >= 1, got 0"):
        export(out, "hog", tmp_path / "x.h5", ExportOptions(max_len=0))
    with pytest.raises(ConfigError, match="did you mean 'emotion'"):
        export(out, "hog", tmp_path / "x.h5", ExportOptions(task="emotions"))
    with pytest.raises(ConfigError, match=r"splits in .* \(default\), got 'paper'"):
        export(out, "hog", tmp_path / "x.h5", ExportOptions(split="paper", part=Part.TEST))
    with pytest.raises(ConfigError, match="part test takes no fold"):
        export(out, "hog", tmp_path / "x.h5", ExportOptions(fold=0, part=Part.TEST))
    res = cli.invoke(app, ["export", "--help"])
    text = " ".join(res.output.split())
    assert "FILE_train.h5" in text and "INPUT" in text and "OUTPUT" in text
