"""The presets the thesis profiles use, against their documents: BU-4DFE files named as 003 names
them (``M042_happy_tex.avi``) load with the bu4dfe preset and the pattern of docs/MANIFEST.md and
fall into the Fig. 3.6 parts; the SASE-FE classes are 000's twelve."""

from __future__ import annotations

import re
from pathlib import Path

import yaml

from emoprep.pipeline.manifest import discover_videos, manifest_from_dict
from emoprep.pipeline.manifest.presets import PRESETS, Preset, bu4dfe_thesis_split

MANIFEST_MD = Path(__file__).resolve().parents[2] / "docs" / "MANIFEST.md"


def thesis_file_manifest(root: Path) -> dict:
    """The YAML block of docs/MANIFEST.md for 003's file names, with ``root`` as videos.root."""
    text = MANIFEST_MD.read_text(encoding="utf-8")
    block = next(b for b in re.findall(r"```yaml\n(.*?)```", text, re.S) if "_tex.avi" in b)
    raw = yaml.safe_load(block)
    raw["videos"]["root"] = str(root)
    return raw


def test_bu4dfe_thesis_file_names_load_with_the_preset(tmp_path: Path) -> None:
    names = ["F001_angry_tex.avi", "F011_happy_tex.avi", "M042_happy_tex.avi",
             "F016_sad_tex.avi", "M030_surprise_tex.avi"]
    for name in names:
        (tmp_path / name).write_bytes(b"")  # discovery names files; it does not decode them
    m = manifest_from_dict(thesis_file_manifest(tmp_path))
    found = {e.video_id: (e.subject, e.labels) for e in discover_videos(m).videos}
    assert found["M042_happy"] == ("M042", {"sex": "male", "emotion": "happy"})
    assert set(found) == {n.removesuffix("_tex.avi") for n in names}
    split = m.stages.split
    assert split.name == "thesis" and split == m.stages.split.model_validate(bu4dfe_thesis_split())
    assert "F001" in split.test_subjects and "F016" in split.exclude_subjects
    assert "F011" in split.fold_subjects["fold0"] and "M042" in split.fold_subjects["fold4"]


def test_sase_fe_classes_are_the_twelve_of_000() -> None:
    classes = PRESETS[Preset.SASE_FE].labels["classes"]
    # 000 §3.1: real and fake x surprise, angry, contempt, disgust, sad, happy
    assert sorted(classes["emotion"]) == ["anger", "contempt", "disgust", "happiness", "sadness",
                                          "surprise"]
    assert sorted(classes["authenticity"]) == ["genuine", "posed"]
