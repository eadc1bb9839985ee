"""Issue 25, finding 16: ``emoprep init`` writes a commented manifest for a folder, with the naming
rule detected (a preset when the names match one), that validates and finds every video."""

from __future__ import annotations

from pathlib import Path

import pytest

from emoprep.errors import ConfigError
from emoprep.pipeline.manifest import discover_videos, load_manifest
from emoprep.pipeline.manifest.init import write_draft


def _touch(root: Path, *names: str) -> None:
    for name in names:
        (root / name).parent.mkdir(parents=True, exist_ok=True)
        (root / name).write_bytes(b"\x00video")  # discovery reads no frame


def test_subject_emotion_names_get_a_naming_rule(tmp_path: Path) -> None:
    _touch(tmp_path / "data", "S01_happy.mp4", "S02_sad.MP4", "S03_angry.mp4")
    manifest = tmp_path / "data_manifest.yaml"
    draft = write_draft(tmp_path / "data", manifest)
    assert (draft.n_videos, draft.n_subjects) == (3, 3)
    assert draft.rule.startswith("subject_emotion")
    text = manifest.read_text()
    assert text.startswith("# emoprep manifest written by `emoprep init`")
    assert "\nvideos:\n  root: data\n" in text and "    required: false\n" in text
    m = load_manifest(manifest)
    found = discover_videos(m)
    assert [(v.video_id, v.subject, v.labels) for v in found.videos] == [
        ("S01_happy", "S01", {"emotion": "happy"}), ("S02_sad", "S02", {"emotion": "sad"}),
        ("S03_angry", "S03", {"emotion": "angry"})]
    assert m.stages.window.mode.value == "all" and sorted(m.stages.embed) == ["geometry", "hog"]
    with pytest.raises(ConfigError, match="exists already"):
        write_draft(tmp_path / "data", manifest)


def test_a_preset_is_detected_when_every_name_matches_it(tmp_path: Path) -> None:
    _touch(tmp_path / "ravdess", "Actor_01/02-01-03-01-01-01-01.mp4",
           "Actor_02/02-01-04-02-02-01-02.mp4")
    draft = write_draft(tmp_path / "ravdess", tmp_path / "m.yaml")
    assert draft.rule.startswith("preset ravdess") and draft.n_subjects == 2
    assert "labels:\n  preset: ravdess\n" in (tmp_path / "m.yaml").read_text()


def test_other_names_get_no_labels(tmp_path: Path) -> None:
    _touch(tmp_path / "clips", "interview one.mp4", "b/second.mov")
    draft = write_draft(tmp_path / "clips", tmp_path / "m.yaml")
    assert draft.rule.startswith("none") and draft.n_videos == 2
