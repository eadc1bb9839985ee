"""Manifest schema, loading, overrides, error reporting and discovery (tiny trees + the real
clips)."""

from __future__ import annotations

import pickle
from pathlib import Path

import cv2
import numpy as np
import pytest
import yaml

from emoprep.errors import ConfigError
from emoprep.pipeline.config import StagesConfig
from emoprep.pipeline.manifest import (
    Manifest,
    apply_overrides,
    discover_videos,
    load_manifest,
    manifest_from_dict,
)
from emoprep.pipeline.manifest.presets import Preset, VideoKind
from emoprep.stages.detect import BACKENDS

REPO_MANIFEST = Path(__file__).resolve().parents[2] / "data_manifest.yaml"
SAMPLE_IDS = ["WolfgangLanger_Pexels", "face_noface", "no_face", "noface_face", "single_face"]


def write(path: Path, text: str = "") -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)
    return path


def frames(folder: Path, n: int = 2, suffix: str = ".png") -> None:
    folder.mkdir(parents=True, exist_ok=True)
    for i in range(n):
        cv2.imwrite(str(folder / f"{i:03d}{suffix}"), np.full((4, 4, 3), i, np.uint8))


def problems_of(exc: pytest.ExceptionInfo[ConfigError]) -> list[str]:
    return exc.value.problems


# --- the example manifest and the real sample clips ------------------------------------------


def test_example_manifest_lists_every_stage_key_with_its_default() -> None:
    raw = yaml.safe_load(REPO_MANIFEST.read_text())
    defaults = StagesConfig().model_dump(mode="json")
    missing = {k for k in defaults if k not in raw["stages"]}
    assert not missing, f"data_manifest.yaml lacks stages {missing}"
    # documented deviations: the demo adds two embedders and uses 2 folds (5 sample subjects)
    assert set(raw["stages"]["embed"]) == {"hog", "geometry"}
    assert raw["stages"]["split"] == {**defaults["split"], "folds": 2}
    for stage, values in defaults.items():
        if stage not in ("embed", "split"):
            assert raw["stages"][stage] == values, (
                f"stages.{stage} in data_manifest.yaml differs from the defaults"
            )
    text = REPO_MANIFEST.read_text().splitlines()
    keyed = [
        ln
        for ln in text
        if ":" in ln and not ln.lstrip().startswith("#") and not ln.rstrip().endswith(":")
    ]
    assert all("  # " in ln for ln in keyed), [ln for ln in keyed if "  # " not in ln]


def test_example_manifest_runs_on_the_sample_clips(samples_dir: Path) -> None:
    m = load_manifest(REPO_MANIFEST, [f"videos.root={samples_dir}"])
    assert m.labels.preset is Preset.GENERIC and m.videos.kind is VideoKind.AUTO
    assert m.output_dir() == REPO_MANIFEST.parent / "out"
    found = discover_videos(m)
    assert [v.video_id for v in found.videos] == SAMPLE_IDS
    assert found.unmatched == []
    for v in found.videos:
        assert (
            Path(v.path).is_file()
            and v.kind == "file"
            and v.subject == v.video_id
            and v.labels == {}
        )


def test_example_manifest_root_expands_home(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setenv("HOME", str(tmp_path))
    m = load_manifest(REPO_MANIFEST)
    assert m.root_dir() == tmp_path / ".cache/emoprep/samples"


def test_samples_manifest_written_by_emoprep_samples(samples_dir: Path) -> None:
    m = load_manifest(samples_dir / "data_manifest.yaml")
    found = discover_videos(m)
    assert [v.video_id for v in found.videos] == SAMPLE_IDS
    assert {v.subject for v in found.videos} == set(SAMPLE_IDS)  # subject = the 'video' group


# --- errors: all at once, with key, line, expected, got and fix ------------------------------

BAD = """\
videos:
  root: data
  includ: ["*.mp4"]
labels:
  preset: ravdes
stages:
  detect:
    min_size: abc
    scale_factor: 1.0
  window: {start: 0.5, end: 0.2}
  store:
    compression: zip
output: 3
"""


def test_every_problem_is_reported_at_once(tmp_path: Path) -> None:
    path = write(tmp_path / "m.yaml", BAD)
    with pytest.raises(ConfigError) as exc:
        load_manifest(path)
    assert exc.value.source == str(path)
    assert str(exc.value).startswith(f"7 errors in {path}:")
    assert sorted(problems_of(exc)) == sorted(
        [
            "videos.includ (line 3): unknown key, expected one of root, include, exclude, csv, "
            "kind, fps, "
            "frames_glob (fix: did you mean 'include'? see docs/MANIFEST.md)",
            "labels.preset (line 5): expected one of 'generic', 'sase-fe', 'ravdess', 'crema-d', "
            "'bu4dfe', 'ck+', 'nvie', 'affectnet', got 'ravdes' (fix: use 'generic', 'sase-fe', "
            "'ravdess', 'crema-d', 'bu4dfe', 'ck+', 'nvie', 'affectnet')",
            "stages.detect.min_size (line 8): expected an integer >= 8, got 'abc' (fix: set an "
            "integer >= 8, "
            "e.g. 60 (the default))",
            "stages.detect.scale_factor (line 9): expected a number > 1.0, got 1.0 (fix: set a "
            "number > 1.0, "
            "e.g. 1.1 (the default))",
            "stages.window (line 10): window end (0.2) must be greater than start (0.5) (fix: "
            "change the values "
            "named here)",
            "stages.store.compression (line 12): expected one of 'gzip', 'lzf', 'none', got 'zip' "
            "(fix: use "
            "'gzip', 'lzf', 'none')",
            "output (line 13): expected a string, got 3 (fix: quote it in the YAML: '3')",
        ]
    )


def test_cross_key_problems_are_reported_with_value_problems(tmp_path: Path) -> None:
    text = ("videos: {include: ['*.png'], csv: list.csv, kind: frames}\n"
            "labels: {pattern: '(?P<a>x', subject: who}\nstages: {align: {size: 8}}\n")
    with pytest.raises(ConfigError) as exc:
        load_manifest(write(tmp_path / "m.yaml", text))
    got = problems_of(exc)
    assert len(got) == 4, got
    assert got[0].startswith(
        "stages.align.size (line 3): expected an integer >= 16 and <= 1024, got 8"
    )
    assert got[1].startswith(
        "videos (line 1): expected either include (globs) or csv (a list), got both"
    )
    assert got[2].startswith("videos.fps (line 1): expected frames per second (a number > 0)")
    assert got[3].startswith(
        "labels.pattern (line 2): expected a valid regular expression, got '(?P<a>x'"
    )


@pytest.mark.parametrize(("text", "message"), [
    ("videos:\n  root: a\n include: b\n", "line 3, column 2: expected valid YAML, got a syntax "
                                          "error"),
    ("videos: {root: [a}\n", "line 1, column 18: expected valid YAML, got a syntax error"),
    ("", "manifest: expected a mapping with videos:, labels:, stages:, output:, got an empty file"),
    ("- a\n- b\n", "manifest: expected a mapping with videos:, labels:, stages:, output:, got a "
                   "list"),
    ("labels: {}\n", "videos: expected a mapping, got nothing (fix: add videos: under the top "
                     "level)"),
    ("videos: {root: a, root: b}\n", "videos.root (line 1): duplicate key, first on line 1"),
    ("videos: {fps: -2}\n", "videos.fps (line 1): expected a number > 0 and <= 1000 (or null), "
                            "got -2"),
    ("videos: {}\nversion: 2\n", "version (line 2): expected one of 1, got 2"),
    ("videos: {}\nstages: {embed: {a: {type: hogg}}}\n",
     "stages.embed.a (line 2): expected a mapping with type: one of hog, "),
    ("videos: {}\nstages: {embed: {a: {type: vggface}}}\n",
     "stages.embed.a.weights (line 2): expected a value, got nothing (fix: add weights: under "
     "stages.embed.a)"),
    ("videos: {}\nlabels: {maps: {emotion: {01: neutral}}}\n",
     "labels.maps.emotion.1 (line 2): expected a string, got 1 (fix: quote it in the YAML: '1')"),
])
def test_single_problem_messages(text: str, message: str, tmp_path: Path) -> None:
    with pytest.raises(ConfigError) as exc:
        load_manifest(write(tmp_path / "m.yaml", text))
    assert any(p.startswith(message) for p in problems_of(exc)), problems_of(exc)
    assert all("(fix: " in p for p in problems_of(exc))


def test_missing_manifest_file(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="expected a YAML file at .*nope.yaml"):
        load_manifest(tmp_path / "nope.yaml")


# --- --set overrides ------------------------------------------------------------------------


def test_overrides_are_parsed_as_yaml_and_validated_like_the_file(tmp_path: Path) -> None:
    path = write(tmp_path / "m.yaml", "videos: {root: .}\n")
    m = load_manifest(path, ["stages.detect.min_size=80", "stages.window.sample.every=2",
                             "labels.pattern=(?P<s>[a-z]+)/(?P<c>[0-9]+)\\.mp4", "labels.subject=s",
                             "stages.embed.hog={type: hog, size: 32}", "videos.include=[a/*.mp4]"])
    assert m.stages.detect.min_size == 80 and m.stages.window.sample.every == 2
    assert m.labels.pattern == r"(?P<s>[a-z]+)/(?P<c>[0-9]+)\.mp4"  # not parsed as a YAML list
    assert m.stages.embed["hog"].size == 32 and m.videos.include == ["a/*.mp4"]
    with pytest.raises(ConfigError) as exc:
        load_manifest(
            path,
            [
                "stages.detect.min_size=3",
                "stages.detect.min_sise=80",
                "stages.detect",
                "stage.detect.min_size=80",
                "videos.root.x=1",
            ],
        )
    assert problems_of(exc) == [
        "--set 'stages.detect.min_sise=80': unknown key 'min_sise' in stages.detect, expected one "
        "of "
        + ", ".join(dict.fromkeys(k for c in BACKENDS for k in c.model_fields))
        + " (fix: did you mean 'stages.detect.min_size'? see docs/MANIFEST.md)",
        "--set 'stages.detect': expected KEY=VALUE with a dotted key, got no '=' or an empty key "
        "part "
        "(fix: e.g. --set stages.detect.min_size=80)",
        "--set 'stage.detect.min_size=80': unknown key 'stage' in the manifest, expected one of "
        "version, "
        "profile, videos, labels, stages, train, batch, output (fix: did you mean 'stages'? "
        "see "
        "docs/MANIFEST.md)",
        "--set 'videos.root.x=1': videos.root is '.', not a mapping (fix: fix it in the file "
        "first)",
        "stages.detect.min_size (--set): expected an integer >= 8, got 3 (fix: set an integer >= "
        "8, e.g. 60 "
        "(the default))",
    ]


def test_apply_overrides_leaves_the_input_alone() -> None:
    raw = {"videos": {"root": "."}}
    out, changed, problems = apply_overrides(raw, ["stages.store.level=5", "output=run 2"])
    assert raw == {"videos": {"root": "."}} and problems == []
    assert out["stages"] == {"store": {"level": 5}} and out["output"] == "run 2"
    assert changed == {("stages", "store", "level"), ("output",)}


# --- paths, presets filled in, pickling ------------------------------------------------------


def test_paths_resolve_against_the_manifest_folder_and_env(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setenv("EMO_DATA", str(tmp_path / "data"))
    m = manifest_from_dict(
        {"videos": {"root": "$EMO_DATA/sub"}, "output": "../o"}, base_dir=tmp_path / "cfg"
    )
    assert m.root_dir() == tmp_path / "data/sub" and m.output_dir() == tmp_path / "o"
    rel = manifest_from_dict({"videos": {"root": "clips"}}, base_dir=tmp_path)
    assert rel.root_dir() == tmp_path / "clips" and rel.source == "the manifest given as a dict"


def test_presets_fill_videos_defaults_and_roundtrip(tmp_path: Path) -> None:
    m = manifest_from_dict(
        {"videos": {"fps": 25}, "labels": {"preset": "bu4dfe"}}, "x.yaml", tmp_path
    )
    assert (m.videos.include, m.videos.kind, m.videos.frames_glob) == (
        ["*/*"],
        VideoKind.FRAMES,
        "*.jpg",
    )
    assert m.labels.subject == "subject" and m.labels.ignore_case is True
    again = manifest_from_dict(m.model_dump(mode="json"), base_dir=tmp_path)
    assert again.model_dump() == m.model_dump()  # filling in the preset is idempotent
    clone = pickle.loads(pickle.dumps(m))
    assert clone == m and clone.base_dir == tmp_path and clone.source == "x.yaml"
    with pytest.raises(
        ConfigError,
        match=r"videos.fps: expected frames per second .*fix: BU-4DFE was captured at 25 fps",
    ):
        manifest_from_dict({"videos": {}, "labels": {"preset": "bu4dfe"}})


# --- discovery --------------------------------------------------------------------------------


def test_discovery_lists_unmatched_paths_with_why(tmp_path: Path) -> None:
    for rel in (
        "a/one.mp4",
        "a/two.MP4",
        "b/skip/three.mp4",
        "b/four.mp4",
        "._five.mp4",
        "out/six.mp4",
        "c.txt",
    ):
        write(tmp_path / rel)
    frames(tmp_path / "seq1")
    (tmp_path / "empty").mkdir()
    m = manifest_from_dict(
        {
            "videos": {"include": ["**/*.mp4", "*"], "exclude": ["b/skip"], "fps": 30},
            "labels": {"pattern": r"(?P<g>[a-z]+)/(?P<n>[a-z]+)\.mp4", "subject": "g"},
        },
        base_dir=tmp_path,
    )
    found = discover_videos(m)
    assert [(v.video_id, v.subject, v.labels, v.kind) for v in found.videos] == [
        ("a_one", "a", {"n": "one"}, "file"), ("b_four", "b", {"n": "four"}, "file")]
    no_rule = f"does not match labels.pattern {m.labels.pattern!r}"
    assert found.unmatched == [
        "._five.mp4: hidden (a name starts with '.')",
        "a/two.MP4: " + no_rule,
        "a: a folder without images matching videos.frames_glob '*.png'",
        "b: a folder without images matching videos.frames_glob '*.png'",
        "c.txt: " + no_rule,
        "empty: a folder without images matching videos.frames_glob '*.png'",
        "seq1: " + no_rule,
    ]  # left out on purpose: b/skip/three.mp4 (exclude), out/six.mp4 (the output folder);
    # a/two.MP4 is matched by '**/*.mp4' (the suffix matches in any case), not by the pattern


def test_generic_discovery_of_files_and_frame_folders(tmp_path: Path) -> None:
    write(tmp_path / "clips/x.mp4")
    frames(tmp_path / "seqs/run 1", 3)
    m = manifest_from_dict(
        {"videos": {"include": ["clips/*.mp4", "seqs/*"], "fps": 24}}, base_dir=tmp_path
    )
    found = discover_videos(m)
    assert [(v.video_id, v.kind, v.fps, v.frames_glob) for v in found.videos] == [
        ("clips_x", "file", 24.0, "*.png"), ("seqs_run_1", "frames", 24.0, "*.png")]
    with pytest.raises(
        ConfigError, match=r"videos.fps: expected .* for 1 image folders \(e.g. seqs/run 1\)"
    ):
        discover_videos(manifest_from_dict({"videos": {"include": ["seqs/*"]}}, base_dir=tmp_path))
    only_files = discover_videos(
        manifest_from_dict({"videos": {"include": ["*/*"], "kind": "file"}}, base_dir=tmp_path)
    )
    assert [v.video_id for v in only_files.videos] == ["clips_x"]
    assert only_files.unmatched == ["seqs/run 1: a folder, but videos.kind is 'file'"]


def test_duplicate_and_unsafe_ids_are_errors_naming_both_paths(tmp_path: Path) -> None:
    for rel in ("s1/n2h.mp4", "S1/N2H.MP4", "s2/n2h.mp4", "s2/n2h.mov"):
        write(tmp_path / rel)
    m = manifest_from_dict(
        {
            "videos": {"include": ["*/*"]},
            "labels": {
                "pattern": r"(?P<s>\w+)/(?P<c>\w+)\.(mp4|mov)",
                "ignore_case": True,
                "subject": "s",
                "video_id": "{s}_{c}",
            },
        },
        base_dir=tmp_path,
    )
    with pytest.raises(ConfigError) as exc:
        discover_videos(m)
    assert [p.split(" (fix:")[0] for p in problems_of(exc)] == [
        "video id 's1_n2h': produced by both S1/N2H.MP4 (as 'S1_N2H'; ids may not differ only in "
        "case) "
        "and s1/n2h.mp4, expected unique ids",
        "video id 's2_n2h': produced by both s2/n2h.mov and s2/n2h.mp4, expected unique ids",
    ]
    unsafe = m.model_copy(update={"labels": m.labels.model_copy(update={"video_id": "{s}/{c}"})})
    with pytest.raises(
        ConfigError, match=r"video id 'S1/N2H' of S1/N2H.MP4: expected letters, digits"
    ):
        discover_videos(unsafe)


def test_root_missing_and_nothing_found(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.delenv("EMO_NOPE", raising=False)
    m = manifest_from_dict({"videos": {"root": "$EMO_NOPE/data"}}, "m.yaml", tmp_path)
    with pytest.raises(
        ConfigError,
        match=r"videos.root: expected an existing folder, got '\$EMO_NOPE/data' .*not set",
    ):
        discover_videos(m)
    write(tmp_path / "v.avi")
    with pytest.raises(ConfigError) as exc:
        discover_videos(manifest_from_dict({"videos": {"include": ["*.mp4"]}}, base_dir=tmp_path))
    assert problems_of(exc)[0].startswith(
        f"videos: expected at least one video under {tmp_path} from include ['*.mp4']"
    )
    assert "globs are case-sensitive except for the file suffix" in problems_of(exc)[0]


def test_the_file_suffix_matches_in_any_case(tmp_path: Path) -> None:
    """Issue 25, finding 13: cameras write .MP4; '*.mp4' finds them (the rest stays exact)."""
    for name in ("a.MP4", "b.Mp4", "c.mp4", "C/d.mp4"):
        write(tmp_path / name)
    found = discover_videos(manifest_from_dict({"videos": {"include": ["*.mp4"]}},
                                               base_dir=tmp_path))
    assert [v.video_id for v in found.videos] == ["a", "b", "c"]
    with pytest.raises(ConfigError, match="expected at least one video"):  # folder: exact case
        discover_videos(manifest_from_dict({"videos": {"include": ["c/*.mp4"]}},
                                           base_dir=tmp_path))


def test_invalid_glob_is_a_config_error(tmp_path: Path) -> None:
    with pytest.raises(
        ConfigError, match=r"videos.include: expected a glob relative to videos.root, got 'a\*\*b'"
    ):
        discover_videos(manifest_from_dict({"videos": {"include": ["a**b"]}}, base_dir=tmp_path))
    with pytest.raises(
        ConfigError, match=r"videos.exclude: expected globs relative to videos.root, got '../x'"
    ):
        manifest_from_dict({"videos": {"exclude": ["../x"]}})


def test_csv_list(tmp_path: Path) -> None:
    write(tmp_path / "data/p1/a.mp4")
    write(tmp_path / "data/p2/b.mp4")
    write(tmp_path / "lists/all.csv", "path,subject,emotion,video_id\n"
          "p1/a.mp4,alice,Happy,\n\np2/b.mp4,,sad,clip_b\n")
    m = manifest_from_dict({"videos": {"root": "data", "csv": "lists/all.csv"}}, base_dir=tmp_path)
    assert m.videos.include == []
    found = discover_videos(m)
    assert [(v.video_id, v.subject, v.labels, v.path) for v in found.videos] == [
        ("clip_b", "clip_b", {"emotion": "sad"}, str(tmp_path / "data/p2/b.mp4")),
        ("p1_a", "alice", {"emotion": "happy"}, str(tmp_path / "data/p1/a.mp4")),
    ]
    write(tmp_path / "lists/bad.csv", "path,subject\np1/a.mp4,x,extra\nnope.mp4,y\n,z\n")
    with pytest.raises(ConfigError) as exc:
        discover_videos(
            m.model_copy(update={"videos": m.videos.model_copy(update={"csv": "lists/bad.csv"})})
        )
    assert [p.split(": expected")[0] for p in problems_of(exc)] == [
        "videos.csv bad.csv line 2", "videos.csv bad.csv line 3", "videos.csv bad.csv line 4"]
    write(tmp_path / "lists/nohead.csv", "file,subject\na.mp4,x\n")
    with pytest.raises(ConfigError, match="expected a header row with a 'path' column"):
        discover_videos(
            m.model_copy(update={"videos": m.videos.model_copy(update={"csv": "lists/nohead.csv"})})
        )


def test_csv_rows_go_through_the_preset_rule(tmp_path: Path) -> None:
    write(tmp_path / "1/N2H.MP4")
    write(tmp_path / "2/N2X.MP4")
    write(tmp_path / "list.csv", "path,authenticity\n1/N2H.MP4,\n2/N2X.MP4,posed\n")
    m = manifest_from_dict(
        {"videos": {"csv": "list.csv"}, "labels": {"preset": "sase-fe"}}, base_dir=tmp_path
    )
    found = discover_videos(m)
    assert [(v.video_id, v.labels) for v in found.videos] == [
        ("1_N2H", {"emotion": "happiness", "authenticity": "genuine"})]
    assert found.unmatched == [
        "2/N2X.MP4: clip 'N2X' is not in labels.maps.clip (known: "
        + ", ".join(m.labels.maps["clip"])
        + ")"
    ]


def test_sase_fe_tree(tmp_path: Path) -> None:
    for rel in ("1/N2H.MP4", "1/D2N2Sur.MP4", "12/s2n2h.mp4", "12/notes.txt", "README.md"):
        write(tmp_path / rel)
    found = discover_videos(
        manifest_from_dict({"videos": {}, "labels": {"preset": "sase-fe"}}, base_dir=tmp_path)
    )
    assert [
        (v.video_id, v.subject, v.labels["emotion"], v.labels["authenticity"]) for v in found.videos
    ] == [
        ("12_s2n2h", "12", "happiness", "posed"),
        ("1_D2N2Sur", "1", "surprise", "posed"),
        ("1_N2H", "1", "happiness", "genuine"),
    ]
    assert found.unmatched == []  # notes.txt and README.md are not matched by the include glob


def test_ck_plus_and_bu4dfe_trees(tmp_path: Path) -> None:
    ck = tmp_path / "ck"
    frames(ck / "cohn-kanade-images/S005/001")
    frames(ck / "cohn-kanade-images/S010/002")
    write(ck / "Emotion/S005/001/S005_001_00000011_emotion.txt", "   3.0000000e+00\n")
    found = discover_videos(
        manifest_from_dict(
            {"videos": {"root": "ck", "fps": 30}, "labels": {"preset": "ck+"}}, base_dir=tmp_path
        )
    )
    assert [(v.video_id, v.subject, v.labels, v.kind) for v in found.videos] == [
        ("S005_001", "S005", {"emotion": "disgust"}, "frames")]
    assert found.unmatched == [
        "cohn-kanade-images/S010/002: 0 label files match labels.label_file.path "
        "'Emotion/S010/002/*_emotion.txt' (expected 1)"
    ]
    bu = tmp_path / "bu"
    frames(bu / "F001/Angry", suffix=".jpg")
    frames(bu / "M012/Happy", suffix=".jpg")
    frames(bu / "BU_WrlViewer_V2/icons", suffix=".jpg")
    write(bu / "F001/readme.txt")
    found = discover_videos(
        manifest_from_dict(
            {"videos": {"root": "bu", "fps": 25}, "labels": {"preset": "bu4dfe"}}, base_dir=tmp_path
        )
    )
    assert [(v.video_id, v.labels, v.frames_glob, v.fps) for v in found.videos] == [
        ("F001_Angry", {"sex": "female", "emotion": "angry"}, "*.jpg", 25.0),
        ("M012_Happy", {"sex": "male", "emotion": "happy"}, "*.jpg", 25.0)]
    assert [u.split(":")[0] for u in found.unmatched] == [
        "BU_WrlViewer_V2/icons",
        "F001/readme.txt",
    ]


def test_manifest_model_needs_videos() -> None:
    with pytest.raises(ConfigError, match="videos: expected a mapping, got nothing"):
        manifest_from_dict({})
    assert isinstance(Manifest(videos={}), Manifest)


def test_a_typo_in_a_backend_section_gets_a_did_you_mean(tmp_path: Path) -> None:
    """Issue 25, finding 13: ``min_sise`` in the file gets the same hint as in ``--set``."""
    path = tmp_path / "m.yaml"
    path.write_text("videos:\n  root: .\nstages:\n  detect:\n    min_sise: 40\n")
    with pytest.raises(ConfigError) as exc:
        load_manifest(path)
    assert problems_of(exc)[0].startswith("stages.detect (line 4): unknown key 'min_sise'")
    assert problems_of(exc)[0].endswith("(fix: did you mean 'min_size'? see docs/MANIFEST.md)")
