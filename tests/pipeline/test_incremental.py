"""Incremental runs in acts: run -> unchanged run does nothing -> change one key -> exactly the
expected units re-run. Assertions are on which units ran, never on timing."""

from __future__ import annotations

import shutil
from collections import Counter
from pathlib import Path

import h5py
import numpy as np
import pytest

import emoprep
from emoprep.io.layout import Layout
from emoprep.pipeline import steps
from emoprep.pipeline.runner import RunOptions, run, status
from emoprep.pipeline.stagedef import (
    Artifact,
    FrameConsumer,
    FrameNeed,
    Outputs,
    PassContext,
    StageDef,
)
from emoprep.pipeline.steps.window import load_window
from tests.helpers import CORPUS, EXTRA, read_item, record_rows, write_manifest

STAGES = {"split": {"folds": 2, "test_fraction": 0.25},
          "embed": {"hog": {"type": "hog"}, "geo": {"type": "landmarks"}}}
INLINE = RunOptions(workers=0)


def ran(report) -> Counter:
    """How many units of each stage ran."""
    return Counter(r["stage"] for r in report.ran)


@pytest.fixture
def setup(corpus: Path, tmp_path: Path):
    return write_manifest(tmp_path / "m.yaml", corpus, STAGES), tmp_path / "out", corpus


def test_unchanged_run_does_nothing_then_one_key_reruns_its_stage_and_downstream(setup) -> None:
    manifest, out, _ = setup
    first = run(manifest, out, opts=INLINE)
    n = len(CORPUS)
    assert ran(first) == {
        s: n for s in ("probe", "window", "track", "au", "frames", "embed:geo", "embed:hog")
    }
    assert all(r["ok"] for r in first.ran)

    again = run(manifest, out, opts=INLINE)
    assert again.ran == [] and again.skipped == 7 * n

    st = status(manifest, out, ("stages.track.redetect_every=25",))
    assert st.stages["probe"]["up-to-date"] == n and st.stages["track"]["stale"] == n
    assert st.reasons["track"] == [("track.redetect_every changed 50 -> 25", n)]

    track = run(manifest, out, ("stages.track.redetect_every=25",), INLINE)
    assert ran(track) == {"track": n, "au": n, "frames": n, "embed:hog": n, "embed:geo": n}


def test_tracking_by_landmarks_reruns_track_and_downstream_only(corpus: Path,
                                                                 tmp_path: Path) -> None:
    """Act 1: the mesh landmarks with MedianFlow; act 2: nothing to do; act 3: track.backend
    landmarks makes track stale (named reason) and re-runs it and what reads it, not probe and
    window; the same faces are stored."""
    from emoprep.io.models import fetch

    fetch("facemesh")
    manifest = write_manifest(tmp_path / "m.yaml", corpus,
                              {**STAGES, "landmarks": {"backend": "mesh"}})
    out, n, follow = tmp_path / "out", len(CORPUS), ("stages.track.backend=landmarks",)
    first = run(manifest, out, opts=INLINE)
    assert all(r["ok"] for r in first.ran) and ran(first)["track"] == n
    faces = {v: len(emoprep.open_store(out).frames(v)) for v in emoprep.open_store(out).videos()}

    assert run(manifest, out, opts=INLINE).ran == []

    st = status(manifest, out, follow)
    assert st.stages["window"]["up-to-date"] == n and st.stages["track"]["stale"] == n
    assert st.reasons["track"] == [("track.backend changed medianflow -> landmarks", n)]
    third = run(manifest, out, follow, INLINE)
    assert ran(third) == {"track": n, "au": n, "frames": n, "embed:hog": n, "embed:geo": n}
    store = emoprep.open_store(out)
    assert {v: len(store.frames(v)) for v in store.videos()} == faces


def test_crop_size_reuses_detections_and_embedder_change_touches_only_embedder(setup) -> None:
    manifest, out, _ = setup
    run(manifest, out, opts=INLINE)
    crop = run(manifest, out, ("stages.align.size=128",), INLINE)
    n = len(CORPUS)
    assert ran(crop) == {"frames": n, "embed:hog": n, "embed:geo": n}  # no probe, window, track
    store = emoprep.open_store(out)
    assert store.frames(store.videos()[0]).shape[1:] == (128, 128, 3)

    hog = run(manifest, out, ("stages.align.size=128", "stages.embed.hog.cell=16"), INLINE)
    assert ran(hog) == {"embed:hog": n}  # the other embedder (geo) is untouched


def test_split_change_touches_no_video(setup) -> None:
    manifest, out, _ = setup
    first = run(manifest, out, opts=INLINE)
    assert first.split["state"] == "written"
    assert run(manifest, out, opts=INLINE).split["state"] == "up-to-date"
    changed = run(manifest, out, ("stages.split.seed=3",), INLINE)
    assert changed.ran == [] and changed.split["state"] == "written"


def test_added_videos_are_the_only_work_and_deleted_ones_leave_the_index(
    setup, clip_bank: Path
) -> None:
    manifest, out, root = setup
    run(manifest, out, opts=INLINE)
    for name, *_ in EXTRA:
        shutil.copy2(clip_bank / name, root / name)
    added = run(manifest, out, opts=INLINE)
    assert {r["video_id"] for r in added.ran} == {Path(n).stem for n, *_ in EXTRA}
    assert ran(added)["track"] == 3

    gone = Path(CORPUS[0][0]).stem
    (root / CORPUS[0][0]).unlink()
    after = run(manifest, out, opts=INLINE)
    assert after.ran == []
    assert gone not in emoprep.open_store(out).videos()
    assert gone not in [r["video_id"] for r in emoprep.open_store(out).table()]
    with h5py.File(out / "features" / "hog.h5") as f:
        assert gone not in f["videos"]


def test_force_reruns_stage_and_downstream_and_lost_output_is_rebuilt(setup) -> None:
    manifest, out, _ = setup
    run(manifest, out, opts=INLINE)
    n = len(CORPUS)
    forced = run(manifest, out, opts=RunOptions(workers=0, force={"au"}))
    assert ran(forced) == {"au": n}  # in fraction mode nothing downstream reads au
    forced = run(manifest, out, opts=RunOptions(workers=0, force={"frames"}))
    assert ran(forced) == {"frames": n, "embed:hog": n, "embed:geo": n}
    victim = Path(CORPUS[1][0]).stem
    records = record_rows(out)
    [lost] = records[f"frames/{victim}"]["outputs"]  # its shard, or its batch's pack (the default)
    (out / lost).unlink()
    rebuilt = run(manifest, out, opts=INLINE)
    assert sorted((r["stage"], r["video_id"]) for r in rebuilt.ran) == sorted(
        ("frames", r["video_id"]) for k, r in records.items()
        if k.startswith("frames/") and lost in r["outputs"])  # the units whose output was lost
    assert victim in emoprep.open_store(out).videos()


def test_au_trim_mode_trim_change_reruns_au_and_frames_not_track(
    corpus: Path, tmp_path: Path
) -> None:
    stages = {**STAGES, "window": {"mode": "au_trim"}}
    manifest = write_manifest(tmp_path / "m.yaml", corpus, stages)
    out = tmp_path / "out"
    first = run(manifest, out, opts=INLINE)
    n = len(CORPUS)
    assert ran(first)["frames"] == n
    store = emoprep.open_store(out)
    for vid in store.videos():
        m = store.meta(vid)
        kept = (
            m["au_frame_index"][m["trim_start"] : m["trim_end"]]
            if not m["anomaly"]
            else m["au_frame_index"]
        )
        assert m["frame_index"].tolist() == kept.tolist()  # the frame store holds the kept range
    changed = run(manifest, out, ("stages.trim.min_end_cut=5",), INLINE)
    assert ran(changed) == {"au": n, "frames": n, "embed:hog": n, "embed:geo": n}

    vid = Path(CORPUS[0][0]).stem
    overrides = tmp_path / "overrides.yaml"
    overrides.write_text(f"{vid}: {{start: 5, end: 30}}\n")
    fixed = run(
        manifest, out, ("stages.trim.min_end_cut=5", f"stages.trim.overrides={overrides}"), INLINE
    )
    assert {(r["stage"], r["video_id"]) for r in fixed.ran} == {
        ("au", vid), ("frames", vid), ("embed:hog", vid), ("embed:geo", vid)}
    m = emoprep.open_store(out).meta(vid)
    assert m["frame_index"].tolist() == list(range(5, 30)) and m["anomaly"] is False


def test_au_trim_anomalies_are_listed_and_left_untrimmed(corpus: Path, tmp_path: Path) -> None:
    # anomaly_last 40 >= T: always
    stages = {**STAGES, "window": {"mode": "au_trim"}, "trim": {"anomaly_last": 40}}
    rep = run(write_manifest(tmp_path / "m.yaml", corpus, stages), tmp_path / "out", opts=INLINE)
    assert sorted(rep.anomalies) == sorted(Path(n).stem for n, *_ in CORPUS)
    store = emoprep.open_store(tmp_path / "out")
    for vid in store.videos():
        m = store.meta(vid)
        assert m["anomaly"] is True and len(m["frame_index"]) == len(m["au_frame_index"]) == 40


def test_reworked_ranges_in_a_csv_replace_anomalies_and_one_edited_row_reruns_one_video(
        corpus: Path, tmp_path: Path) -> None:
    """003 §3.2.1 reworked its anomalies by hand. Act 1: every video is flagged (anomaly_last 40
    >= T) but the two listed in the CSV take their ranges and are no anomalies. Act 2: unchanged,
    nothing runs. Act 3: one row edited: that video's au and what follows re-run, nothing else."""
    a, b = (Path(CORPUS[i][0]).stem for i in (0, 1))
    ranges = tmp_path / "ranges.csv"
    ranges.write_text(f"video_id,start,end\n{a},5,30\n{b},2,20\n")
    stages = {**STAGES, "window": {"mode": "au_trim"},
              "trim": {"anomaly_last": 40, "overrides": str(ranges)}}
    manifest, out = write_manifest(tmp_path / "m.yaml", corpus, stages), tmp_path / "out"
    first = run(manifest, out, opts=INLINE)
    assert sorted(first.anomalies) == sorted(Path(n).stem for n, *_ in CORPUS[2:])
    store = emoprep.open_store(out)
    assert store.meta(a)["frame_index"].tolist() == list(range(5, 30))
    assert store.meta(b)["frame_index"].tolist() == list(range(2, 20))
    assert store.meta(a)["anomaly"] is False and store.meta(b)["anomaly"] is False
    assert run(manifest, out, opts=INLINE).ran == []
    ranges.write_text(f"video_id,start,end\n{a},8,25\n{b},2,20\n")
    edited = run(manifest, out, opts=INLINE)
    assert {(r["stage"], r["video_id"]) for r in edited.ran} == {
        ("au", a), ("frames", a), ("embed:hog", a), ("embed:geo", a)}
    assert emoprep.open_store(out).meta(a)["frame_index"].tolist() == list(range(8, 25))


BRIGHTNESS_OUT = Artifact.work("brightness", ".npz")


class _Brightness(FrameConsumer):
    """A frame-reading stage made inside the test: mean grey level of each window frame."""

    def begin(self, ctx: PassContext) -> FrameNeed:
        window = ctx.value("window")  # fed in the same pass, or read from its output
        self.idx = window if window is not None else load_window(self.layout,
                                                                  self.task.entry.video_id)
        self.levels: list[float] = []
        return FrameNeed(self.idx)

    def push(self, index: int, frame: np.ndarray) -> None:
        self.levels.append(float(frame.mean()))

    def finish(self, ctx: PassContext) -> Outputs:
        path = self.layout.io.save_npz(BRIGHTNESS_OUT, self.task.entry.video_id, {
            "frame_index": self.idx, "level": np.array(self.levels, np.float32)})
        return [path], {"n_frames": len(self.levels)}


def _level(layout: Layout) -> np.ndarray:
    """(T,) float32: the brightness stage's levels of s01_happy_1 (in its pack or its file)."""
    return layout.io.load_npz(BRIGHTNESS_OUT, "s01_happy_1", ("level",))["level"]


BRIGHTNESS = StageDef(name="brightness", consumer=_Brightness, version=1,
                      reads={"window": "window"}, upstream=("window",),
                      outputs=(BRIGHTNESS_OUT,))


def test_a_stage_added_with_a_declaration_and_a_consumer_runs_incrementally_in_one_decode(
        corpus: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(steps, "DECLARED", (*steps.DECLARED, BRIGHTNESS))
    manifest, out, n = write_manifest(tmp_path / "m.yaml", corpus), tmp_path / "out", len(CORPUS)
    decoded: list[int] = []
    opts = RunOptions(workers=0, on_frames=decoded.append)
    first = run(manifest, out, opts=opts)  # act 1: fed in the same pass as track and frames
    assert ran(first) == {s: n for s in ("probe", "window", "track", "au", "frames",
                                         "brightness")}
    assert all(r["ok"] for r in first.ran)
    assert sum(decoded) == 20 * n  # 20 window frames a video, each decoded once for all three
    level = read_item(out, "s01_happy_1", _level)
    assert level.shape == (20,) and 0 < level.min() <= level.max() < 255
    assert run(manifest, out, opts=opts).ran == []  # act 2: unchanged, nothing runs
    decoded.clear()
    third = run(manifest, out, ("stages.window.end=0.8",), opts)  # act 3: window and below
    assert ran(third) == {s: n for s in ("window", "track", "au", "frames", "brightness")}
    assert sum(decoded) == 16 * n
    again = read_item(out, "s01_happy_1", _level)
    np.testing.assert_array_equal(again, level[:16])  # the same frames, fewer of them
    assert status(manifest, out, ("stages.window.end=0.8",)).stages["brightness"][
        "up-to-date"] == n
