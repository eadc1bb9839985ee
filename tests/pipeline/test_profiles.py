"""Method profiles: each METHODS.md table equals the profile's rules and its resolved, validated
settings; explicit user keys win; the thesis-bu4dfe crop on a real clip equals the code's crop."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import cv2
import numpy as np
import pytest

from emoprep.errors import ConfigError
from emoprep.io.video import iter_frames
from emoprep.pipeline.config import StagesConfig
from emoprep.pipeline.manifest.profiles import (
    NAMED_VALUES,
    PROFILES,
    SILENT,
    UNCLEAR,
    Profile,
    apply_profile,
    describe,
    profile_settings,
    rule_value,
)
from emoprep.pipeline.manifest.schema import apply_overrides
from emoprep.pipeline.manifest.train_section import TrainConfig
from emoprep.stages.align import align_face, align_geometry
from emoprep.stages.track import track_faces
from emoprep.types import FrameStatus

METHODS = Path(__file__).resolve().parents[2] / "docs" / "METHODS.md"
#: an embedder of every type a profile has rules for (weights are never opened here)
EMBEDDERS = {"irv1": {"type": "inception_resnet_v1", "weights": "/models/irv1.pt"},
             "vgg": {"type": "vggface", "weights": "/models/vgg_face_dag.pth"},
             "hog": {"type": "hog"}}


Row = tuple[str, str, str, Any, str, bool]


def methods_tables() -> dict[str, tuple[int, list[Row]]]:
    """Profile name -> (version, rows (rule, source, key label, value, chosen, unclear)) parsed
    from METHODS.md; chosen is what follows "the document gives no value; chosen: " or "the
    document is not clear; chosen: " (unclear), "" where the document gives the value."""
    out: dict[str, tuple[int, list[Row]]] = {}
    head = re.compile(r"^### Profile `([a-z0-9-]+)` \(version (\d+)\)$")
    name = None
    for line in METHODS.read_text(encoding="utf-8").splitlines():
        m = head.match(line)
        if m:
            name = m.group(1)
            out[name] = (int(m.group(2)), [])
        elif line.startswith("#"):
            name = None
        elif name and line.startswith("| ") and not line.startswith("| rule |"):
            rule, source, key, value, chosen = (c.strip() for c in line[1:-1].split(" | "))
            value = value.strip("`")
            parsed = NAMED_VALUES[value]() if value in NAMED_VALUES else json.loads(value)
            prefix = next((p for p in (SILENT, UNCLEAR) if chosen.startswith(p)), "")
            assert prefix or not chosen, line
            out[name][1].append((rule, source, key.strip("`"), parsed, chosen[len(prefix):],
                                 prefix == UNCLEAR))
    return out


def resolved(profile: Profile, **stages: Any) -> tuple[dict[str, Any], dict[str, Any]]:
    """(raw manifest after apply_profile, its stages validated and dumped as JSON values)."""
    raw = {"profile": profile.value, "videos": {"root": "."},
           "stages": {"embed": json.loads(json.dumps(EMBEDDERS)), **stages}}
    out = apply_profile(raw)
    return out, StagesConfig.model_validate(out["stages"]).model_dump(mode="json")


def lookup(data: dict[str, Any], key: str) -> list[Any]:
    """Values at a table key in dumped stages: one, or one per embedder of the rule's type."""
    m = re.fullmatch(r"stages\.embed\.\*\.(\S+) \[type (\S+)\]", key)
    if m:
        return [cfg[m.group(1)] for cfg in data["embed"].values() if cfg["type"] == m.group(2)]
    node: Any = data
    for part in key.split(".")[1:]:
        node = node[part]
    return [node]


@pytest.mark.parametrize("profile", list(Profile))
def test_methods_table_equals_the_profile_and_its_resolved_settings(profile: Profile) -> None:
    version, rows = methods_tables()[profile.value]
    spec = PROFILES[profile]
    assert version == spec.version
    assert [(r.rule, r.source, r.label, rule_value(r), r.chosen, r.unclear)
            for r in spec.rules] == rows
    raw, stages = resolved(profile)
    train = TrainConfig.model_validate(raw.get("train", {})).model_dump(mode="json")
    for rule, _source, key, value, _chosen, _unclear in rows:
        got = lookup(train if key.startswith("train.") else stages, key)
        if isinstance(value, dict):  # a mapping setting: its keys, the rest are defaults
            got = [{k: v[k] for k in value} for v in got]
        assert got and all(v == value for v in got), f"{profile.value}: {rule}: {key} = {got}"
    assert (profile is Profile.EMOPREP) == (not rows)


def test_every_profile_is_documented() -> None:
    assert set(methods_tables()) == {p.value for p in Profile}


def test_default_profile_changes_nothing() -> None:
    raw = {"videos": {"root": "."}, "stages": {"detect": {"min_size": 80}}}
    assert apply_profile(raw) == raw
    assert apply_profile({**raw, "profile": "emoprep"}) == {**raw, "profile": "emoprep"}
    default = StagesConfig().model_dump(mode="json")
    assert StagesConfig.model_validate(apply_profile({"stages": {}})["stages"]).model_dump(
        mode="json") == default


def test_explicit_user_keys_win_sase_fe() -> None:
    # medianflow is the default: written in the file it is no choice; given with --set it wins
    raw, stages = resolved(Profile.THESIS_SASE_FE, track={"backend": "medianflow"},
                           window={"start": 0.3}, align={"size": 224})
    assert stages["track"]["backend"] == "none" and stages["track"]["confirm"] == 0
    over, changed, _ = apply_overrides(raw, ["stages.track.backend=medianflow"])
    set_stages = StagesConfig.model_validate(apply_profile(over, changed)["stages"])
    assert set_stages.track.backend.value == "medianflow" and set_stages.track.confirm == 0
    assert (stages["window"]["start"], stages["window"]["end"]) == (0.3, 0.9)
    assert stages["align"] == {**stages["align"], "size": 224, "method": "box", "box_pad_y": 0}
    assert raw["profile"] == "thesis-sase-fe"


def test_explicit_user_keys_win_bu4dfe() -> None:
    # a mapping value is one setting: any stages.split key of the user keeps the profile's out
    _, stages = resolved(Profile.THESIS_BU4DFE, split={"seed": 3},
                         detect={"backend": "mtcnn"}, trim={"max_cut": 0.4})
    assert stages["split"]["name"] == "default" and stages["split"]["seed"] == 3
    assert stages["detect"]["backend"] == "mtcnn" and stages["detect"]["pad_y"] == 10  # default
    assert stages["trim"]["max_cut"] == 0.4 and stages["trim"]["count_in"] == "source"
    _, plain = resolved(Profile.THESIS_BU4DFE)
    assert plain["split"]["name"] == "thesis" and plain["split"]["exclude_subjects"] == ["F016"]


def test_set_overrides_count_as_explicit() -> None:
    raw = {"profile": "thesis-bu4dfe", "videos": {"root": "."}}
    over, changed, problems = apply_overrides(raw, ["stages.track.redetect_every=25"])
    assert not problems
    stages = StagesConfig.model_validate(apply_profile(over)["stages"])
    assert stages.track.redetect_every == 25 and stages.track.confirm == 0


def test_explicit_user_keys_win_affectnet_and_input_is_untouched() -> None:
    raw = {"profile": "thesis-affectnet", "stages": {"align": {"eye_y": 0.35}}}
    before = json.dumps(raw, sort_keys=True)
    stages = StagesConfig.model_validate(apply_profile(raw)["stages"])
    assert (stages.align.eye_y, stages.align.eye_distance, stages.align.method.value) == (0.35, 0.3,
                                                                                          "eyes")
    assert json.dumps(raw, sort_keys=True) == before
    nulls = apply_profile({"profile": "thesis-affectnet", "stages": None})
    assert nulls["stages"]["align"]["eye_y"] == 0.4  # an empty section counts as unset


def test_unknown_profile_names_the_choices() -> None:
    with pytest.raises(ConfigError, match="thesis-bu4dfe") as err:
        apply_profile({"profile": "thesis-bu4"})
    assert "expected one of emoprep, thesis-sase-fe, thesis-bu4dfe, thesis-affectnet" in str(
        err.value
    )


def test_config_show_says_where_each_value_comes_from() -> None:
    raw = {"profile": "thesis-bu4dfe", "stages": {"track": {"confirm": 2},
                                                   "embed": {"v": EMBEDDERS["vgg"]}}}
    profile, settings = profile_settings(raw)
    by_key = {s.key: s for s in settings}
    assert profile is Profile.THESIS_BU4DFE
    assert (by_key["stages.track.confirm"].value, by_key["stages.track.confirm"].origin) == (
        2, "your manifest")
    assert by_key["stages.track.redetect_every"].origin == "profile"
    assert by_key["stages.embed.v.layer"].value == "pool5"
    lines = describe(raw)
    assert lines[0].startswith("profile thesis-bu4dfe (version 4)")
    assert any("stages.trim.overrides" in line for line in lines)
    _, other = profile_settings(
        {"profile": "thesis-bu4dfe", "stages": {"detect": {"backend": "mtcnn"}}}
    )
    assert {s.origin for s in other if s.key.startswith("stages.detect")} == {
        "not applied: your stages.detect.backend is 'mtcnn'"}


def test_thesis_bu4dfe_crop_on_a_real_clip_is_the_codes_crop(sample_entry) -> None:
    """Tracking and cropping with the profile's settings on single_face.mp4: the first frame is
    the Haar detection (integer box), its crop equals the code's hand-made crop
    cv2.resize(frame[y - 10 : y + h + 10, x : x + w], (160, 160)): within 1 grey level but for
    the rounding of OpenCV's fixed-point coordinates (warpAffine 1/32 px, resize 11-bit weights),
    which moves 14 of 76800 values by 2."""
    cfg = StagesConfig.model_validate(resolved(Profile.THESIS_BU4DFE)[0]["stages"])
    entry = sample_entry("single_face.mp4")
    geom = track_faces(iter_frames(entry, range(8)), 25.0, cfg.detect, cfg.track, cfg.landmarks)
    assert geom.status[0] == FrameStatus.DETECTED
    assert (FrameStatus.has_face(geom.status)).all()
    mats = align_geometry(geom, cfg.align)
    frames = dict(iter_frames(entry, range(8)))
    x, y, w, h = (int(v) for v in geom.boxes[0])
    assert np.array_equal(geom.boxes[0], [x, y, w, h])  # Haar boxes are whole pixels
    by_hand = cv2.resize(frames[0][y - 10:y + h + 10, x:x + w], (160, 160),
                         interpolation=cv2.INTER_LINEAR)[:, :, ::-1]
    ours = align_face(frames[0], mats[0], cfg.align)
    assert ours.shape == (160, 160, 3)
    diff = np.abs(ours.astype(int) - by_hand.astype(int))
    assert diff.max() <= 2 and (diff > 1).mean() < 0.001
    for t in range(1, 8):  # tracked frames: the stored box + 10 px, resized
        bx, by, bw, bh = geom.boxes[t]
        corners = mats[t] @ np.array(
            [[bx - 0.5, bx + bw - 0.5], [by - 10.5, by + bh + 9.5], [1, 1]]
        )
        np.testing.assert_allclose(corners, [[-0.5, 159.5], [-0.5, 159.5]], atol=1e-3)


def test_thesis_bu4dfe_end_to_end_stores_the_extended_box_crop(clip_bank, tmp_path) -> None:
    """The pipeline with ``profile: thesis-bu4dfe`` (AU source switched to landmarks: no OpenFace
    CSVs here) stores, for the first frame, the code's crop of the Haar box + 10 px, 160 x 160."""
    import shutil

    import emoprep
    from emoprep.pipeline.runner import RunOptions, run
    from tests.helpers import write_manifest

    videos = tmp_path / "videos"
    videos.mkdir()
    shutil.copy2(clip_bank / "s04_sad_1.mp4", videos / "s04_sad_1.mp4")
    shutil.copy2(clip_bank / "s07_happy_1.mp4", videos / "s07_happy_1.mp4")
    manifest = write_manifest(tmp_path / "m.yaml", videos)
    overrides = ("profile=thesis-bu4dfe", "stages.au.source=landmarks",
                 "stages.split.test_fraction=0.0", "stages.split.folds=2")
    report = run(manifest, tmp_path / "out", overrides, RunOptions(workers=0))
    assert [v["status"] for v in report.videos] == ["ok", "ok"], report.videos
    store = emoprep.open_store(tmp_path / "out")
    meta = store.meta("s04_sad_1")
    first = int(np.flatnonzero(meta["status"] == FrameStatus.DETECTED)[0])
    x, y, w, h = (int(v) for v in meta["boxes"][first])
    frame = dict(iter_frames(sample_like(videos / "s04_sad_1.mp4"), [meta["frame_index"][first]]))
    by_hand = cv2.resize(frame[meta["frame_index"][first]][y - 10:y + h + 10, x:x + w], (160, 160),
                         interpolation=cv2.INTER_LINEAR)[:, :, ::-1]
    ours = store.frames("s04_sad_1", slice(first, first + 1))[0]
    diff = np.abs(ours.astype(int) - by_hand.astype(int))
    # OpenCV's fixed-point coordinates move a few values by 2 (see the test above)
    assert ours.shape == (160, 160, 3) and diff.max() <= 2 and (diff > 1).mean() < 0.005


def sample_like(path):
    """A VideoEntry for a clip file (id = its stem)."""
    from emoprep.types import VideoEntry

    return VideoEntry(path.stem, str(path), path.stem)
