"""A manifest that spells out the defaults (the repository's reference ``data_manifest.yaml``)
cancels no profile; ``config show`` says which keys the profile set and which the user did; a
``--set`` that switches a backend drops the file's defaults of the old one (the CLI as a
subprocess, the resolution through load_manifest)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from emoprep.errors import ConfigError
from emoprep.pipeline.manifest import load_manifest

REPO = Path(__file__).resolve().parents[2]
REFERENCE = REPO / "data_manifest.yaml"


def emoprep(*args: str, cwd: Path | None = None) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "emoprep.cli.app", *args], capture_output=True,
                          text=True, timeout=300, cwd=cwd or REPO, env=dict(os.environ))


def comment_lines(stdout: str) -> dict[str, str]:
    """config show's profile lines: key -> the origin part in brackets."""
    out = {}
    for line in stdout.splitlines():
        if line.startswith("#   ") and " = " in line and "[" in line:
            key = line[4:].split(" = ", 1)[0]
            out[key] = line.rsplit("[", 1)[1]
    return out


def reference_copy(tmp_path: Path, **stages: dict) -> Path:
    """The reference manifest with ``stages`` sections merged in, next to a folder of videos."""
    raw = yaml.safe_load(REFERENCE.read_text(encoding="utf-8"))
    raw["videos"]["root"] = str(tmp_path)
    for name, keys in stages.items():
        raw["stages"][name].update(keys)
    path = tmp_path / "m.yaml"
    path.write_text(yaml.safe_dump(raw, sort_keys=False), encoding="utf-8")
    return path


def test_config_show_reference_manifest_keeps_the_profile() -> None:
    res = emoprep("config", "show", "-m", "data_manifest.yaml", "--profile", "thesis-bu4dfe")
    assert res.returncode == 0, res.stderr
    origins = comment_lines(res.stdout)
    # the reference writes stages.split with folds: 2 (not the default 5): the one user's key
    assert [k for k, o in origins.items() if o.startswith("your manifest")] == ["stages.split"]
    assert origins["stages.window.mode"].startswith(
        "profile; your manifest's \"fraction\" is the default")
    assert origins["train.optim.lr"].startswith("profile;")
    resolved = yaml.safe_load("\n".join(
        line for line in res.stdout.splitlines() if not line.startswith("#")))
    stages = resolved["stages"]
    assert (stages["window"]["mode"], stages["align"]["method"], stages["trim"]["cap"],
            stages["au"]["source"], stages["track"]["redetect_every"]) == (
        "au_trim", "box", "pseudocode", "openface_csv", 0)
    assert "neutral_fraction" not in stages["au"]  # the landmarks source's default, dropped


def test_set_wins_over_the_profile_even_at_the_default() -> None:
    res = emoprep("config", "show", "-m", "data_manifest.yaml", "--profile", "thesis-bu4dfe",
                  "--set", "stages.window.mode=fraction")
    assert res.returncode == 0, res.stderr
    assert comment_lines(res.stdout)["stages.window.mode"].startswith("--set;")
    assert "mode: fraction" in res.stdout


def test_dry_run_with_a_profile_plans_the_profiles_work(tmp_path: Path) -> None:
    res = emoprep("run", "-m", "data_manifest.yaml", "-o", str(tmp_path / "out"), "--dry-run",
                  "--profile", "thesis-bu4dfe")
    assert res.returncode == 0, res.stderr
    assert "embed:hog@flip" in res.stdout  # the profile's nine augmentations are planned


def test_quick_start_switch_to_blazeface_on_the_reference_manifest(tmp_path: Path) -> None:
    res = emoprep("run", "-m", "data_manifest.yaml", "-o", str(tmp_path / "out"), "--dry-run",
                  "--set", "stages.detect.backend=blazeface")
    assert res.returncode == 0, res.stderr + res.stdout
    m = load_manifest(REFERENCE, ["stages.detect.backend=blazeface"])
    # Haar's cascade / min_size 60 written at Haar's defaults: BlazeFace gets its own min_size
    assert (m.stages.detect.backend, m.stages.detect.min_size) == ("blazeface", 20)


def test_a_switched_backend_keeps_chosen_values_and_names_foreign_ones(tmp_path: Path) -> None:
    tuned = reference_copy(tmp_path, detect={"min_size": 80})
    m = load_manifest(tuned, ["stages.detect.backend=blazeface"])
    assert m.stages.detect.min_size == 80  # not Haar's default: the user's choice stays
    foreign = reference_copy(tmp_path, detect={"min_neighbors": 3})
    with pytest.raises(ConfigError) as err:
        load_manifest(foreign, ["stages.detect.backend=blazeface"])
    assert "key 'min_neighbors' belongs to backend haar, not 'blazeface'" in str(err.value)
    assert "cascade" not in str(err.value)  # written at Haar's default: dropped


def test_a_non_default_manifest_value_beats_the_profile(tmp_path: Path) -> None:
    mine = reference_copy(tmp_path, window={"mode": "all"}, align={"size": 224})
    m = load_manifest(mine, ["profile=thesis-bu4dfe"])
    assert (m.stages.window.mode.value, m.stages.align.size, m.stages.align.method.value) == (
        "all", 224, "box")
    res = emoprep("config", "show", "-m", str(mine), "--profile", "thesis-bu4dfe")
    origins = comment_lines(res.stdout)
    assert origins["stages.window.mode"].startswith("your manifest;")
    assert origins["stages.align.method"].startswith("profile;")


def test_a_resolved_manifest_keeps_its_values_when_resolved_again() -> None:
    from emoprep.pipeline.session import resolve_manifest

    m = load_manifest(REFERENCE, ["profile=thesis-bu4dfe", "stages.window.mode=fraction"])
    assert (m.stages.window.mode.value, m.stages.align.method.value) == ("fraction", "box")
    again = resolve_manifest(m)  # the dump holds the default "fraction": the profile stays out
    assert again.model_dump(mode="json") == m.model_dump(mode="json")
    # naming a profile applies it where the dump holds defaults (bu4dfe's box crop is not one)
    other = resolve_manifest(m, ["profile=thesis-affectnet"])
    assert (other.stages.align.method.value, other.stages.align.eye_y) == ("box", 0.4)
    blaze = resolve_manifest(load_manifest(REFERENCE), ["stages.detect.backend=blazeface"])
    assert (blaze.stages.detect.backend, blaze.stages.detect.min_size) == ("blazeface", 20)


def test_a_default_backend_with_tuned_keys_is_the_users_choice(tmp_path: Path) -> None:
    tuned = reference_copy(tmp_path, au={"neutral_fraction": 0.2})
    m = load_manifest(tuned, ["profile=thesis-bu4dfe"])
    assert (m.stages.au.source, m.stages.au.neutral_fraction) == ("landmarks", 0.2)
    assert m.stages.window.mode.value == "au_trim"  # the other keys still come from the profile
