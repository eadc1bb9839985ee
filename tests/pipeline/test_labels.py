"""Naming rules and presets: real file names of each dataset -> (video id, subject, labels)."""

from __future__ import annotations

from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from emoprep.pipeline.manifest.labels import (
    VIDEO_ID_RE,
    LabelsSection,
    Named,
    default_task,
    name_video,
    resolve_task,
    rule_problems,
    safe_id,
    vocabularies,
    with_preset,
)
from emoprep.pipeline.manifest.presets import PRESETS, Preset, VideoKind


def rule(preset: str, **keys: object) -> LabelsSection:
    return with_preset(LabelsSection.model_validate({"preset": preset, **keys}))


ACCEPTED = [
    # SASE-FE: <subject>/<clip>.MP4, codes in any case; D2N2S is the fake-sad variant
    (
        "sase-fe",
        "12/S2N2H.MP4",
        "12_S2N2H",
        "12",
        {"emotion": "happiness", "authenticity": "posed"},
    ),
    (
        "sase-fe",
        "1/D2N2Sur.MP4",
        "1_D2N2Sur",
        "1",
        {"emotion": "surprise", "authenticity": "posed"},
    ),
    (
        "sase-fe",
        "3/D2N2SUR.mp4",
        "3_D2N2SUR",
        "3",
        {"emotion": "surprise", "authenticity": "posed"},
    ),
    ("sase-fe", "3/n2sur.mp4", "3_n2sur", "3", {"emotion": "surprise", "authenticity": "genuine"}),
    ("sase-fe", "7/D2N2S.MP4", "7_D2N2S", "7", {"emotion": "sadness", "authenticity": "posed"}),
    ("sase-fe", "7/H2N2S.MP4", "7_H2N2S", "7", {"emotion": "sadness", "authenticity": "posed"}),
    ("sase-fe", "7/N2S.MP4", "7_N2S", "7", {"emotion": "sadness", "authenticity": "genuine"}),
    ("sase-fe", "7/H2N2C.MP4", "7_H2N2C", "7", {"emotion": "contempt", "authenticity": "posed"}),
    (
        "sase-fe",
        "Kaisa/N2A.MP4",
        "Kaisa_N2A",
        "Kaisa",
        {"emotion": "anger", "authenticity": "genuine"},
    ),
    (
        "sase-fe",
        "Kaisa/H2N2D.MP4",
        "Kaisa_H2N2D",
        "Kaisa",
        {"emotion": "disgust", "authenticity": "posed"},
    ),
    # RAVDESS: modality-channel-emotion-intensity-statement-repetition-actor
    (
        "ravdess",
        "Video_Speech_Actor_12/Actor_12/02-01-06-01-02-01-12.mp4",
        "02-01-06-01-02-01-12",
        "12",
        {
            "modality": "video-only",
            "channel": "speech",
            "emotion": "fearful",
            "intensity": "normal",
            "statement": "dogs",
            "repetition": "first",
        },
    ),
    (
        "ravdess",
        "01-02-03-02-01-02-01.mp4",
        "01-02-03-02-01-02-01",
        "01",
        {
            "modality": "audio-video",
            "channel": "song",
            "emotion": "happy",
            "intensity": "strong",
            "statement": "kids",
            "repetition": "second",
        },
    ),
    (
        "ravdess",
        "Actor_24/02-01-08-02-02-02-24.mp4",
        "02-01-08-02-02-02-24",
        "24",
        {
            "modality": "video-only",
            "channel": "speech",
            "emotion": "surprised",
            "intensity": "strong",
            "statement": "dogs",
            "repetition": "second",
        },
    ),
    # CREMA-D: actor_sentence_emotion_level
    (
        "crema-d",
        "VideoFlash/1001_DFA_ANG_XX.flv",
        "1001_DFA_ANG_XX",
        "1001",
        {"sentence": "dfa", "emotion": "anger", "level": "unspecified"},
    ),
    (
        "crema-d",
        "1091_IEO_SAD_HI.flv",
        "1091_IEO_SAD_HI",
        "1091",
        {"sentence": "ieo", "emotion": "sad", "level": "high"},
    ),
    (
        "crema-d",
        "1015_TIE_NEU_XX.mp4",
        "1015_TIE_NEU_XX",
        "1015",
        {"sentence": "tie", "emotion": "neutral", "level": "unspecified"},
    ),
    (
        "crema-d",
        "1002_IEO_FEA_LO.flv",
        "1002_IEO_FEA_LO",
        "1002",
        {"sentence": "ieo", "emotion": "fear", "level": "low"},
    ),
    # BU-4DFE: <F|M###>/<Expression>/ folders
    ("bu4dfe", "F001/Angry", "F001_Angry", "F001", {"sex": "female", "emotion": "angry"}),
    ("bu4dfe", "M043/Surprise", "M043_Surprise", "M043", {"sex": "male", "emotion": "surprise"}),
    ("bu4dfe", "F058/Happy", "F058_Happy", "F058", {"sex": "female", "emotion": "happy"}),
    # generic: id from the path, each video its own subject, no labels
    ("generic", "clips/interview 01.mp4", "clips_interview_01", "clips_interview_01", {}),
    ("generic", "WolfgangLanger_Pexels.mp4", "WolfgangLanger_Pexels", "WolfgangLanger_Pexels", {}),
]


@pytest.mark.parametrize(("preset", "rel", "video_id", "subject", "labels"), ACCEPTED)
def test_presets_name_real_file_names(
    preset, rel, video_id, subject, labels, tmp_path: Path
) -> None:
    got = name_video(rule(preset), rel, tmp_path, is_dir=preset == "bu4dfe")
    assert got == Named(video_id, subject, labels)
    assert VIDEO_ID_RE.match(got.video_id)


REJECTED = [
    (
        "ravdess",
        "Actor_01/03-01-01-01-01-01-01.mp4",
        "modality '03' is not in labels.maps.modality",
    ),
    ("ravdess", "Actor_01/02-01-09-01-01-01-01.mp4", "emotion '09' is not in labels.maps.emotion"),
    ("ravdess", "Actor_01/02-01-01-01.mp4", "does not match labels.pattern"),
    ("sase-fe", "12/N2X.MP4", "clip 'N2X' is not in labels.maps.clip"),
    ("sase-fe", "12/H2N2H.MP4", "clip 'H2N2H' is not in labels.maps.clip"),
    ("sase-fe", "N2H.MP4", "(preset sase-fe: <subject>/<clip>.MP4"),
    ("crema-d", "1001_DFA_XYZ_XX.flv", "emotion 'XYZ' is not in labels.maps.emotion"),
    ("crema-d", "1001_ABC_ANG_XX.flv", "sentence 'ABC' is not in labels.maps.sentence"),
    ("crema-d", "1001_DFA_ANG_XX.wav", "does not match labels.pattern"),
    ("bu4dfe", "F001/Smile", "emotion 'Smile' is not in labels.maps.emotion"),
    ("bu4dfe", "BU_WrlViewer_V2/bin", "does not match labels.pattern"),
]


@pytest.mark.parametrize(("preset", "rel", "why"), REJECTED)
def test_presets_say_why_a_path_matches_no_rule(preset, rel, why, tmp_path: Path) -> None:
    got = name_video(rule(preset), rel, tmp_path)
    assert isinstance(got, str) and why in got


@pytest.mark.parametrize("preset", list(Preset))
def test_every_preset_accepts_its_documented_example(preset: Preset, tmp_path: Path) -> None:
    spec = PRESETS[preset]
    labels = rule(preset.value)
    assert rule_problems(labels) == []
    rel = spec.example
    if spec.kind is VideoKind.FRAMES:  # the example names a frame inside the folder
        rel = rel.rsplit("/", 1)[0]
    if preset is Preset.CK_PLUS:  # its label comes from a file next to the frames
        (tmp_path / "Emotion/S005/001").mkdir(parents=True)
        (tmp_path / "Emotion/S005/001/S005_001_00000011_emotion.txt").write_text(
            "   3.0000000e+00\n"
        )
    assert isinstance(name_video(labels, rel, tmp_path, spec.kind is VideoKind.FRAMES), Named)


def _ck_tree(root: Path, sequences: dict[str, str | None]) -> None:
    for seq, content in sequences.items():
        subject, number = seq.split("/")
        (root / "cohn-kanade-images" / subject / number).mkdir(parents=True)
        if content is not None:
            folder = root / "Emotion" / subject / number
            folder.mkdir(parents=True)
            (folder / f"{subject}_{number}_00000011_emotion.txt").write_text(content)


@pytest.mark.parametrize(("content", "expected"), [
    ("   3.0000000e+00\n", "disgust"), ("   7.0000000e+00", "surprise"), ("0", "neutral"),
    ("   2.0000000e+00\n", "contempt"), ("6.0", "sadness"),
])
def test_ck_plus_reads_the_emotion_file(content: str, expected: str, tmp_path: Path) -> None:
    _ck_tree(tmp_path, {"S005/001": content})
    got = name_video(rule("ck+"), "cohn-kanade-images/S005/001", tmp_path, is_dir=True)
    assert got == Named("S005_001", "S005", {"emotion": expected})


def test_ck_plus_missing_or_bad_label_file(tmp_path: Path) -> None:
    _ck_tree(tmp_path, {"S010/002": None, "S011/001": "   9.0000000e+00", "S012/001": " \n"})
    ck = rule("ck+")
    missing = name_video(ck, "cohn-kanade-images/S010/002", tmp_path, is_dir=True)
    assert (
        missing
        == "0 label files match labels.label_file.path 'Emotion/S010/002/*_emotion.txt' (expected "
           "1)"
    )
    bad = name_video(ck, "cohn-kanade-images/S011/001", tmp_path, is_dir=True)
    assert isinstance(bad, str) and "holds '9', not in labels.label_file.map" in bad
    assert name_video(ck, "cohn-kanade-images/S012/001", tmp_path, is_dir=True) == (
        "label file S012_001_00000011_emotion.txt is empty")
    keep = rule("ck+", label_file={**ck.label_file.model_dump(), "missing": "keep"})
    assert name_video(keep, "cohn-kanade-images/S010/002", tmp_path, is_dir=True) == Named(
        "S010_002", "S010", {}
    )


def test_user_keys_override_the_preset_and_maps_merge_per_group(tmp_path: Path) -> None:
    labels = rule(
        "crema-d",
        maps={
            "emotion": {
                "ANG": "angry",
                "DIS": "disgusted",
                "FEA": "afraid",
                "HAP": "happy",
                "NEU": "neutral",
                "SAD": "sad",
            }
        },
        video_id="a{actor}",
        pattern=None,
    )
    assert labels.pattern == PRESETS[Preset.CREMA_D].labels["pattern"]  # null keeps the preset's
    assert labels.maps["level"]["xx"] == "unspecified"  # other groups keep the preset's map
    got = name_video(labels, "1001_DFA_ANG_XX.flv", tmp_path)
    assert got == Named(
        "a1001", "1001", {"sentence": "dfa", "emotion": "angry", "level": "unspecified"}
    )
    assert rule("sase-fe", ignore_case=False).ignore_case is False
    assert isinstance(name_video(rule("sase-fe", ignore_case=False), "3/N2SUR.MP4", tmp_path), str)


def test_custom_pattern_maps_groups_and_safe_ids(tmp_path: Path) -> None:
    labels = rule("generic", pattern=r"(?P<subject>[^/]+)/(?P<take>\d+)_(?P<emo>[a-z]+)\.avi",
                  maps={"emo": {"hap": "Happy ", "sad": {"emotion": "sad", "valence": "negative"}}},
                  groups=["emo"], subject="subject", video_id="{subject}_{take}")
    assert name_video(labels, "Anna Maria/03_hap.avi", tmp_path) == Named(
        "Anna_Maria_03", "Anna Maria", {"emo": "happy"}
    )
    assert name_video(labels, "bo/1_sad.avi", tmp_path) == Named(
        "bo_1", "bo", {"emotion": "sad", "valence": "negative"}
    )
    assert "emo 'ang' is not in labels.maps.emo (known: hap, sad)" in name_video(
        labels, "bo/1_ang.avi", tmp_path
    )
    no_map = rule("generic", pattern=r"(?P<who>\w+)_(?P<emotion>\w+)\.mp4", subject="who")
    assert name_video(no_map, "p1_Happy.mp4", tmp_path) == Named(
        "p1_Happy", "p1", {"emotion": "happy"}
    )


@pytest.mark.parametrize(("keys", "message"), [
    ({"pattern": "(?P<x"}, "labels.pattern: expected a valid regular expression, got '(?P<x'"),
    ({"pattern": r"(?P<a>\w+)\.mp4", "subject": "b"}, "labels.subject: expected a named group of "
                                                      "labels.pattern (a), got 'b'"),
    ({"pattern": r"(?P<a>\w+)\.mp4", "maps": {"c": {"x": "y"}}}, "labels.maps.c: expected a named "
                                                                 "group"),
    ({"pattern": r"(?P<a>\w+)\.mp4", "groups": ["a", "z"]}, "labels.groups: 'z': expected a named "
                                                            "group"),
    ({"pattern": r"(?P<a>\w+)\.mp4", "video_id": "{a}_{b}"}, "labels.video_id: template field {b} "
                                                             "is not a group"),
    ({"video_id": "{stem"}, "labels.video_id: expected a template like"),
    ({"video_id": "{stem:d}"}, "labels.video_id: expected plain {name} fields, got '{stem:d}'"),
    ({"label_file": {"path": "/etc/{stem}.txt"}}, "labels.label_file.path: expected a glob "
                                                  "relative to videos.root"),
    ({"subject": "who"}, "labels.subject: expected a named group of labels.pattern (none "
                         "(labels.pattern is not set))"),
])
def test_rule_problems_name_the_key(keys: dict, message: str) -> None:
    problems = rule_problems(rule("generic", **keys))
    assert len(problems) == 1 and problems[0].startswith(message), problems
    assert "(fix: " in problems[0]


def test_safe_id_and_id_regex() -> None:
    assert safe_id("a b/c..d") == "a_b_c..d"
    assert safe_id("Ünïcode name") == "_n_code_name"
    for good in ("S005_001", "02-01-06-01-02-01-12", "a+b.c"):
        assert VIDEO_ID_RE.match(good)
    for bad in ("", "../x", "a/b", ".hidden", "_x", "a b"):
        assert not VIDEO_ID_RE.match(bad)


# --- class lists, the shared vocabulary and the default task -----------------------------------

FULL_CLASSES = {
    "ravdess": ["neutral", "calm", "happy", "sad", "angry", "fearful", "disgust", "surprised"],
    "crema-d": ["anger", "disgust", "fear", "happy", "neutral", "sad"],
    "sase-fe": ["anger", "contempt", "disgust", "happiness", "sadness", "surprise"],
    "bu4dfe": ["angry", "disgust", "fear", "happy", "sad", "surprise"],
    "ck+": ["neutral", "anger", "contempt", "disgust", "fear", "happy", "sadness", "surprise"],
}


@pytest.mark.parametrize("preset", sorted(FULL_CLASSES))
def test_presets_declare_full_class_lists_whatever_videos_are_present(preset: str) -> None:
    """Before: only the labels present, sorted, so indices moved when videos were added."""
    labels = rule(preset)
    assert rule_problems(labels) == []
    few = [{"emotion": FULL_CLASSES[preset][3]}, {"emotion": FULL_CLASSES[preset][1]}]
    assert vocabularies(labels, few)["emotion"] == FULL_CLASSES[preset]
    more = few + [{"emotion": c} for c in FULL_CLASSES[preset]]
    assert vocabularies(labels, more)["emotion"] == FULL_CLASSES[preset]
    assert default_task(labels, vocabularies(labels, few)) == "emotion"


def test_other_label_keys_take_their_map_order() -> None:
    got = vocabularies(
        rule("ravdess"), [{"emotion": "sad", "channel": "song", "intensity": "normal"}]
    )
    assert got["channel"] == ["speech", "song"] and got["intensity"] == ["normal", "strong"]
    assert vocabularies(rule("sase-fe"), [{"authenticity": "posed"}]) == {
        "authenticity": ["genuine", "posed"]
    }
    assert vocabularies(rule("generic"), [{"emotion": "sad"}, {"emotion": "happy"}]) == {
        "emotion": ["happy", "sad"]}  # no declaration: the values found, sorted


def test_basic7_maps_every_preset_onto_one_vocabulary(tmp_path: Path) -> None:
    from emoprep.pipeline.manifest.presets import BASIC7

    cases = [("ravdess", "02-01-05-01-01-01-03.mp4", "anger"),
             ("ravdess", "02-01-03-01-01-01-03.mp4", "happiness"),
             ("crema-d", "1001_DFA_FEA_XX.flv", "fear"), ("sase-fe", "1/N2S.MP4", "sadness"),
             ("bu4dfe", "F001/Surprise", "surprise")]
    for preset, rel, expected in cases:
        labels = rule(preset, vocabulary="basic7")
        got = name_video(labels, rel, tmp_path, is_dir=preset == "bu4dfe")
        assert got.labels["emotion"] == expected, (preset, rel)
        assert vocabularies(labels, [got.labels])["emotion"] == list(BASIC7)
    calm = name_video(rule("ravdess", vocabulary="basic7"), "02-01-02-01-01-01-03.mp4", tmp_path)
    assert "emotion" not in calm.labels and calm.labels["channel"] == "speech"  # no basic7 class


def test_default_task_and_did_you_mean() -> None:
    from emoprep.errors import ConfigError

    classes = {"authenticity": ["genuine", "posed"], "emotion": ["anger"]}
    assert resolve_task(None, classes, default_task(rule("sase-fe"), classes)) == "emotion"
    assert resolve_task("authenticity", classes) == "authenticity"
    with pytest.raises(ConfigError, match="did you mean 'authenticity'"):
        resolve_task("authenticty", classes)
    with pytest.raises(ConfigError, match="has no 'emotion' label"):
        resolve_task(None, {"channel": ["speech"]}, default_task(rule("generic"), {"channel": []}))
    assert default_task(rule("generic", task="channel"), {"channel": []}) == "channel"


def test_class_lists_are_checked_and_follow_replaced_maps() -> None:
    bad = rule("crema-d", classes={"emotion": ["anger", "fear"]})
    assert any("without ['disgust', 'happy', 'neutral', 'sad']" in p for p in rule_problems(bad))
    mine = rule("crema-d", maps={"emotion": {"ANG": "angry", "HAP": "happy"}})
    assert "emotion" not in mine.classes and rule_problems(mine) == []
    assert vocabularies(mine, [{"emotion": "happy"}])["emotion"] == ["angry", "happy"]


@given(st.lists(st.text(alphabet="ab._ -é", min_size=1, max_size=6), min_size=1, max_size=4),
       st.booleans())
def test_builtins_fast_path_equals_purepath(parts: list[str], is_dir: bool) -> None:
    """The string-only ``{stem}``/``{parent}``/``{path}`` equal PurePosixPath's."""
    from pathlib import PurePosixPath

    from emoprep.pipeline.manifest.labels import _builtins

    rel = "/".join(parts)
    p = PurePosixPath(rel)
    try:
        stemmed = p if is_dir else p.with_suffix("")
    except ValueError:  # PurePosixPath refuses the name ('..' and the like): no reference value
        return
    want = {"stem": stemmed.name, "parent": p.parent.name,
            "path": stemmed.as_posix().replace("/", "_")}
    assert _builtins(rel, is_dir) == want


@given(st.lists(st.lists(st.text(alphabet="ab.-_ /é", min_size=1, max_size=4).filter(
    lambda s: "/" not in s and s not in (".", "..")), min_size=1, max_size=3), max_size=8))
def test_discovery_orders_paths_as_path_does(parts: list[list[str]]) -> None:
    """Discovery sorts globbed paths by their parts as strings: the order ``Path`` itself has."""
    from emoprep.pipeline.manifest.discovery import _path_order

    paths = [Path("/data", *p) for p in parts]
    assert sorted(paths, key=_path_order) == sorted(paths)


@given(st.text(alphabet="ab.-_éJPG", max_size=8))
def test_is_image_is_the_suffix_rule(name: str) -> None:
    from emoprep.io.video import IMAGE_SUFFIXES, is_image

    p = Path("/data", name) if name not in ("", ".", "..") else Path("/data/x")
    assert is_image(p) == is_image(str(p)) == (p.suffix.lower() in IMAGE_SUFFIXES)
