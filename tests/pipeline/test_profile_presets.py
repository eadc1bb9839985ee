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


def test_nvie_apex_images_load_with_the_preset(tmp_path: Path) -> None:
    """002 §4.2-4.3: posed and spontaneous apex images of six emotions; each image one item,
    labelled with both, subject from its folder; other folders are unmatched."""
    names = ["posed/S101/happiness/apex_front.jpg", "posed/S101/Angry/apex_left.JPG",
             "spontaneous/S102/sad/0042.png", "spontaneous/S102/neutral/0001.png"]
    for name in names:
        (tmp_path / name).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / name).write_bytes(b"")
    m = manifest_from_dict({"videos": {"root": str(tmp_path)}, "labels": {"preset": "nvie"}})
    found = discover_videos(m)
    got = {e.video_id: (e.subject, e.labels) for e in found.videos}
    assert got == {
        "posed_S101_happiness_apex_front": ("S101", {"authenticity": "posed",
                                                     "emotion": "happiness"}),
        "posed_S101_Angry_apex_left": ("S101", {"authenticity": "posed", "emotion": "anger"}),
        "spontaneous_S102_sad_0042": ("S102", {"authenticity": "spontaneous",
                                               "emotion": "sadness"}),
    }
    assert len(found.unmatched) == 1 and "neutral" in found.unmatched[0]
    assert PRESETS[Preset.NVIE].labels["classes"]["authenticity"] == ["spontaneous", "posed"]


AFFECTNET_HEADER = ("subDirectory_filePath,face_x,face_y,face_width,face_height,"
                    "facial_landmarks,expression,valence,arousal")


def test_affectnet_csv_loads_with_the_preset(tmp_path: Path) -> None:
    """AffectNet's own CSV as videos.csv: its path column and expression codes are read (0-7,
    the eight classes of 004 Table 3.1), codes 8-10 (None, Uncertain, Non-Face) are unmatched,
    the box, landmark and valence/arousal columns are not labels."""
    images = tmp_path / "Manually_Annotated_Images"
    rows = [("689/aa11.jpg", 1), ("689/bb22.jpg", 7), ("12/cc33.png", 0), ("12/dd44.jpg", 9)]
    lines = [AFFECTNET_HEADER]
    for rel, code in rows:
        (images / rel).parent.mkdir(parents=True, exist_ok=True)
        (images / rel).write_bytes(b"")
        lines.append(f'{rel},10,12,100,100,"1.0;2.0;3.0",{code},0.5,-0.2')
    (tmp_path / "training.csv").write_text("\n".join(lines) + "\n")
    m = manifest_from_dict({"videos": {"root": str(images), "csv": str(tmp_path / "training.csv")},
                            "labels": {"preset": "affectnet"}})
    found = discover_videos(m)
    got = {e.video_id: (e.subject, e.labels) for e in found.videos}
    assert got == {"689_aa11": ("689_aa11", {"emotion": "happy"}),
                   "689_bb22": ("689_bb22", {"emotion": "contempt"}),
                   "12_cc33": ("12_cc33", {"emotion": "neutral"})}
    assert len(found.unmatched) == 1 and "emotion code '9'" in found.unmatched[0]
    assert PRESETS[Preset.AFFECTNET].labels["classes"]["emotion"] == [
        "neutral", "happy", "sad", "surprise", "fear", "disgust", "anger", "contempt"]
