"""Subject-independent splits: no subject in two parts, every video placed once, deterministic;
explicit subject lists, leave-one-subject-out, exclusions, the bu4dfe thesis split, ready splits."""

from __future__ import annotations

from collections import Counter
from pathlib import Path

import pytest
from hypothesis import event, given, settings
from hypothesis import strategies as st

from emoprep.errors import ConfigError
from emoprep.io.layout import Layout
from emoprep.pipeline.config import SplitConfig
from emoprep.pipeline.manifest import manifest_from_dict
from emoprep.pipeline.manifest.labels import name_video
from emoprep.pipeline.manifest.presets import PRESETS, Preset, bu4dfe_thesis_split
from emoprep.pipeline.splits import (
    SPLIT_VERSION,
    make_split,
    plan_splits,
    split_fingerprint,
    write_split,
)
from emoprep.types import VideoEntry


def _videos(n_subjects: int, per: int = 4) -> list[VideoEntry]:
    emos = ["anger", "happiness"]
    return [VideoEntry(f"s{s:02d}_v{k}", f"/x/s{s}/{k}.mp4", f"s{s:02d}", {"emotion": emos[k % 2]})
            for s in range(n_subjects) for k in range(per)]


def check_partition(split: dict, videos: list[VideoEntry]) -> None:
    """Parts disjoint by subject; test + every fold's val + excluded = every video, once."""
    subj = {v.video_id: v.subject for v in videos}
    placed = split["test"] + [v for f in split["folds"] for v in f["val"]] + split["excluded"]
    assert sorted(placed) == sorted(subj)
    test = {subj[v] for v in split["test"]}
    excluded = {subj[v] for v in split["excluded"]}
    assert not test & excluded
    vals = [{subj[v] for v in f["val"]} for f in split["folds"]]
    for k, f in enumerate(split["folds"]):
        tr = {subj[v] for v in f["train"]}
        assert not tr & vals[k] and not (tr | vals[k]) & (test | excluded)
        assert sorted(f["train"] + f["val"]) == sorted(
            v for v in subj if subj[v] not in test | excluded
        )
        assert all(not vals[k] & vals[j] for j in range(k))


TABLES = st.lists(st.tuples(st.integers(0, 11), st.sampled_from(["anger", "happiness", "sadness"])),
                  min_size=1, max_size=60)


def _table(rows: list[tuple[int, str]]) -> list[VideoEntry]:
    return [VideoEntry(f"v{i:03d}", f"/x/{i}.mp4", f"p{s}", {"emotion": e})
            for i, (s, e) in enumerate(rows)]


@pytest.mark.filterwarnings("ignore:The least populated class")
@settings(max_examples=60, deadline=None)
@given(rows=TABLES, folds=st.integers(2, 4), frac=st.sampled_from([0.0, 0.2, 0.34]),
       seed=st.integers(0, 3), stratify=st.booleans(), loso=st.booleans())
def test_generated_tables_split_into_disjoint_parts(
    rows, folds, frac, seed, stratify, loso
) -> None:
    videos = _table(rows)
    cfg = SplitConfig(
        folds=folds,
        test_fraction=frac,
        seed=seed,
        method="loso" if loso else "kfold",
        stratify="emotion" if stratify else None,
    )
    n = len({v.subject for v in videos})
    rest = n - int(round(frac * n))  # subjects left for the folds once the test part is held out
    if rest < (2 if loso else folds):  # too few subjects: refused, and only then
        event("refused: too few subjects")
        with pytest.raises(ConfigError) as exc:
            make_split(videos, cfg)
        assert ("have an empty training or validation part" if loso else
                f"{n} subject{'' if n == 1 else 's'}: {n - rest} held out for test leaves "
                f"{rest}, fewer than folds={folds}") in str(exc.value)
        return
    if stratify and not loso:  # every emotion rarer than folds (outside test): cannot stratify
        plain = make_split(videos, cfg.model_copy(update={"stratify": None}))
        counts = Counter(v.labels["emotion"] for v in videos if v.video_id not in plain["test"])
        if max(counts.values()) < folds:
            event("refused: cannot stratify")
            with pytest.raises(ConfigError, match=f"stratify 'emotion': cannot make {folds} folds"):
                make_split(videos, cfg)
            return
    event("split made")
    split = make_split(videos, cfg)
    check_partition(split, videos)
    assert make_split(list(reversed(videos)), cfg) == split  # order-free and deterministic
    if loso:
        assert all(len(f["val_subjects"]) == 1 for f in split["folds"])


@settings(max_examples=30, deadline=None)
@given(rows=TABLES, data=st.data())
def test_explicit_subject_lists_and_exclusions(rows, data) -> None:
    videos = _table(rows)
    subjects = sorted({v.subject for v in videos})
    excluded = data.draw(st.lists(st.sampled_from(subjects), max_size=2, unique=True))
    rest = [s for s in subjects if s not in excluded]
    test = (
        data.draw(st.lists(st.sampled_from(rest), max_size=len(rest) // 3, unique=True))
        if rest
        else []
    )
    others = [s for s in rest if s not in test]
    if len(others) < 2:
        return
    folds = {"a": others[::2], "b": others[1::2]}
    cfg = SplitConfig(test_subjects=test, fold_subjects=folds, exclude_subjects=excluded)
    split = make_split(videos, cfg)
    check_partition(split, videos)
    assert split["test_subjects"] == sorted(test) and split["excluded_subjects"] == sorted(excluded)
    assert [f["name"] for f in split["folds"]] == ["a", "b"]
    assert [f["val_subjects"] for f in split["folds"]] == [sorted(folds["a"]), sorted(folds["b"])]


def test_manifest_lists_subjects_videos_and_label_counts() -> None:
    split = make_split(_videos(6), SplitConfig(folds=2, test_fraction=0.34))
    assert split["version"] == SPLIT_VERSION == 2
    assert split["label_counts"]["all"] == {"emotion": {"anger": 12, "happiness": 12}}
    assert split["label_counts"]["test"] == {"emotion": {"anger": 4, "happiness": 4}}
    f = split["folds"][0]
    assert f["label_counts"]["val"]["emotion"]["anger"] == 2 * len(f["val_subjects"])
    assert f["train_subjects"] and set(f["train_subjects"]).isdisjoint(f["val_subjects"])


def test_explicit_lists_are_checked() -> None:
    v = _videos(5)
    with pytest.raises(ConfigError, match=r"subjects \['s04'\] are in no fold"):
        make_split(
            v, SplitConfig(test_subjects=["s00"], fold_subjects={"a": ["s01"], "b": ["s02", "s03"]})
        )
    with pytest.raises(ConfigError, match="subject 's00' is also in the test part"):
        make_split(
            v,
            SplitConfig(
                test_subjects=["s00"],
                fold_subjects={"a": ["s00", "s01"], "b": ["s02", "s03", "s04"]},
            ),
        )
    with pytest.raises(ConfigError, match="fewer than folds=5"):
        make_split(v, SplitConfig(folds=5))


def _bu4dfe(subjects: list[str]) -> list[VideoEntry]:
    rule = manifest_from_dict({"videos": {"fps": 25}, "labels": {"preset": "bu4dfe"}}).labels
    out = []
    for s in subjects:
        for emo in ("Angry", "Happy"):
            named = name_video(rule, f"{s}/{emo}", Path("/data"), is_dir=True)
            out.append(VideoEntry(named.video_id, f"/data/{s}/{emo}", named.subject, named.labels))
    return out


def test_bu4dfe_thesis_split_is_fig_3_6() -> None:
    """The lists of the video-FER thesis's Fig. 3.6 (seeds/003), written out here by hand."""
    raw = bu4dfe_thesis_split()
    assert raw == PRESETS[Preset.BU4DFE].splits["thesis"]
    fig = {
        "fold0": "F011 F012 F013 F014 F015 F017 F018 F019 F020 F021 F022 F023 F024 F025 F026 F027",
        "fold1": "F028 F029 F030 F031 F032 F033 F034 F035 F036 F037 F038 F039 F040 F041 F042 F043",
        "fold2": "F044 F045 F046 F047 F048 F049 F050 F051 F052 F053 F054 F055 F056 F057 F058 M011",
        "fold3": "M012 M013 M014 M015 M016 M017 M018 M019 M020 M021 M022 M023 M024 M025 M026 M027",
        "fold4": "M028 M029 M030 M031 M032 M033 M034 M035 M036 M037 M038 M039 M040 M041 M042 M043",
    }
    assert raw["fold_subjects"] == {k: v.split() for k, v in fig.items()}
    everyone = [f"F{i:03d}" for i in range(1, 59)] + [f"M{i:03d}" for i in range(1, 44)]
    split = make_split(_bu4dfe(everyone), SplitConfig.model_validate(raw))
    assert split["excluded_subjects"] == ["F016"]
    assert split["test_subjects"] == [f"F{i:03d}" for i in range(1, 11)] + [
        f"M{i:03d}" for i in range(1, 11)
    ]
    assert [f["val_subjects"] for f in split["folds"]] == [v.split() for v in fig.values()]
    assert len(split["test"]) == 20 * 2 and all(len(f["val"]) == 16 * 2 for f in split["folds"])
    check_partition(split, _bu4dfe(everyone))


def test_ready_split_is_written_beside_the_configured_one(tmp_path: Path) -> None:
    m = manifest_from_dict({"videos": {"fps": 25}, "labels": {"preset": "bu4dfe"},
                            "stages": {"split": {"folds": 2, "test_fraction": 0.0}}})
    subset = ["F001", "F011", "F028", "F044", "M012", "M028"]  # test, then one per fold
    plan = plan_splits(_bu4dfe(subset), m, Layout(tmp_path))
    assert [p.name for p in plan.extra] == ["thesis"] and plan.extra[0].state == "missing"
    written = write_split(plan)
    assert (
        written["extra"][0]["state"] == "written"
        and (tmp_path / "splits" / "thesis.json").is_file()
    )
    again = plan_splits(_bu4dfe(subset), m, Layout(tmp_path))
    assert again.state == "up-to-date" and again.extra[0].state == "up-to-date"
    few = plan_splits(_bu4dfe(["F001", "F011"]), m, Layout(tmp_path / "few"))
    assert (
        few.extra[0].state == "unavailable"
        and "empty training or validation" in few.extra[0].reason
    )


EXAMPLES = {  # a few real file names per preset, three subjects each
    "sase-fe": [f"{s}/{c}.MP4" for s in ("1", "7", "Kaisa") for c in ("N2H", "S2N2H", "N2A")],
    "ravdess": [
        f"Actor_{a:02d}/02-01-0{e}-01-01-01-{a:02d}.mp4" for a in (1, 2, 12) for e in (3, 4, 5)
    ],
    "crema-d": [f"{a}_DFA_{e}_XX.flv" for a in (1001, 1002, 1091) for e in ("ANG", "HAP", "SAD")],
    "bu4dfe": [f"{s}/{e}" for s in ("F001", "M002", "F058") for e in ("Angry", "Happy", "Sad")],
    "generic": [f"clips/take_{i}.mp4" for i in range(9)],
}


@pytest.mark.parametrize("preset", sorted(EXAMPLES))
def test_no_subject_in_two_parts_for_every_preset(preset: str) -> None:
    rule = manifest_from_dict({"videos": {"fps": 25}, "labels": {"preset": preset}}).labels
    videos = []
    for rel in EXAMPLES[preset]:
        named = name_video(rule, rel, Path("/data"), is_dir=preset == "bu4dfe")
        videos.append(VideoEntry(named.video_id, rel, named.subject, named.labels))
    split = make_split(videos, SplitConfig(folds=2, test_fraction=0.34))
    check_partition(split, videos)
    assert len({v.subject for v in videos}) == (9 if preset == "generic" else 3)


def test_fingerprint_ignores_order_but_not_labels() -> None:
    v = _videos(6)
    cfg = SplitConfig(folds=2)
    assert split_fingerprint(v, cfg) == split_fingerprint(list(reversed(v)), cfg)
    changed = [VideoEntry(x.video_id, x.path, x.subject, {"emotion": "fear"}) for x in v]
    assert split_fingerprint(changed, cfg) != split_fingerprint(v, cfg)
    assert split_fingerprint(v, cfg) != split_fingerprint(
        v, SplitConfig(folds=2, exclude_subjects=["s00"])
    )


def test_a_split_nobody_asked_for_is_reported_one_asked_for_stays_an_error(tmp_path: Path) -> None:
    """Issue 25, finding 1: three subjects make no 5 folds. Without ``stages.split`` in the
    manifest the split is "unavailable" with the reason (the crops and features still run); with
    it the session fails before any work, the hint names ``split.required: false`` and the files
    the naming rule left out are still listed."""
    from emoprep.pipeline.session import open_session

    data = tmp_path / "data"
    data.mkdir()
    for name in ("S01_happy.mp4", "S02_sad.mp4", "S03_angry.mp4", "notes.mp4"):
        (data / name).write_bytes(name.encode())  # opening a session reads no frame
    raw = {"videos": {"root": str(data)}, "output": str(tmp_path / "out"),
           "labels": {"pattern": r"(?P<subject>S\d+)_(?P<emotion>[a-z]+)\.mp4",
                      "subject": "subject"}}
    s = open_session(manifest_from_dict(raw))
    assert (s.split.state, s.split.reason.split(" (fix")[0]) == (
        "unavailable", "3 subjects: 1 held out for test leaves 2, fewer than folds=5")
    assert "not an error: this split is not required" in s.split.reason
    with pytest.raises(ConfigError) as exc:
        open_session(manifest_from_dict({**raw, "stages": {"split": {"folds": 5}}}))
    assert exc.value.problems == [
        "3 subjects: 1 held out for test leaves 2, fewer than folds=5 (fix: lower "
        "stages.split.folds or stages.split.test_fraction, or set stages.split.required: false "
        "to run without this split)",
        "videos: 1 file matched no label rule and is left out: notes.mp4: does not match "
        r"labels.pattern '(?P<subject>S\\d+)_(?P<emotion>[a-z]+)\\.mp4'"]
