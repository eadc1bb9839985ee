"""Issue 25: what a run with a failed video, a low-face video and, later, a video that
disappears reports (findings 4, 7, 8), on real clips cut from the samples.

- 4: the split is planned over the usable videos (the failed one is in no part);
- 7: a video gone since the last run: ``status`` and ``run`` name it and say what became of its
  files (kept, left out of the indexes);
- 8: the low-face warning is in the run's terminal summary.
"""

from __future__ import annotations

import json
from pathlib import Path

import cv2
import h5py
import pytest
import yaml

from emoprep.cli.render import packed_lines, run_text, status_text
from emoprep.pipeline.runner import RunOptions, run, status
from emoprep.samples import cut_clip

INLINE = RunOptions(workers=0)


def _low_face_clip(samples: Path, dst: Path) -> None:
    """8 frames without a face, then 4 with one (640x360, 30 fps): a face on at most 4 of 12."""
    frames = []
    for name, n in (("no_face.mp4", 8), ("single_face.mp4", 4)):
        cap = cv2.VideoCapture(str(samples / name))
        frames += [cv2.resize(cap.read()[1], (640, 360)) for _ in range(n)]
        cap.release()
    w = cv2.VideoWriter(str(dst), cv2.VideoWriter_fourcc(*"mp4v"), 30.0, (640, 360))
    for f in frames:
        w.write(f)
    w.release()


@pytest.fixture(scope="module")
def first_run(samples_dir: Path, tmp_path_factory: pytest.TempPathFactory):
    root = tmp_path_factory.mktemp("outcome")
    data = root / "data"
    for i, (name, start) in enumerate((("s01_happy", 0), ("s02_sad", 20), ("s03_angry", 40))):
        assert cut_clip(samples_dir / "single_face.mp4", data / f"{name}.mp4", start, 12) == 12, i
    assert cut_clip(samples_dir / "no_face.mp4", data / "nf_sad.mp4", 0, 12) == 12
    _low_face_clip(samples_dir, data / "lf_happy.mp4")
    (data / "zz_sad.mp4").write_bytes(b"")  # a copy that did not finish
    manifest = root / "m.yaml"
    manifest.write_text(yaml.safe_dump({
        "videos": {"root": "data", "include": ["*.mp4"]},
        "labels": {"pattern": r"(?P<subject>[a-z0-9]+)_(?P<emotion>[a-z]+)\.mp4",
                   "subject": "subject"},
        "stages": {"window": {"mode": "all"}, "embed": {},
                   "split": {"folds": 2, "test_fraction": 0.25}}}))
    return manifest, root / "out", run(manifest, root / "out", opts=INLINE)


def test_the_split_is_made_of_usable_videos(first_run) -> None:
    manifest, out, rep = first_run
    assert [v["video_id"] for v in rep.failed_videos] == ["nf_sad", "zz_sad"]
    split = json.loads((out / "splits" / "default.json").read_text())
    parts = [split["test"], *(f[k] for f in split["folds"] for k in ("train", "val"))]
    assert all("nf_sad" not in p and "zz_sad" not in p for p in parts), parts
    assert sorted({v for p in parts for v in p}) == ["lf_happy", "s01_happy", "s02_sad",
                                                     "s03_angry"]
    assert len(split["test"]) == 1  # round(0.25 * 4 usable subjects)
    assert status(manifest, out).split["state"] == "up-to-date"  # status plans it the same way


def test_a_clip_without_a_face_says_so_before_the_tuning_hint(first_run) -> None:
    _, _, rep = first_run
    error = next(v["error"] for v in rep.failed_videos if v["video_id"] == "nf_sad")
    said = error.index("video nf_sad: no frame of the clip showed a face (frames 0-11); that is "
                       "expected for a clip without a face. If the clip does show one, try ")
    assert said < error.index("stages.detect.min_size")  # the haar hint, after the explanation
    assert error.strip().endswith("backend: none for pre-cropped faces)")
    assert error.splitlines()[0] in run_text(rep)


def test_the_low_face_warning_is_in_the_terminal_summary(first_run) -> None:
    _, _, rep = first_run
    assert [w["video_id"] for w in rep.warnings] == ["lf_happy"]
    text = run_text(rep)
    assert f"warning: lf_happy: {rep.warnings[0]['message']}" in text


def test_the_summaries_say_how_many_items_are_packed(first_run) -> None:
    """The five 12-frame clips that could be read are small: one batch (the empty file is not
    known to be small and runs alone); ``status`` says the same as the run."""
    manifest, out, rep = first_run
    pack = "frames/packs/b000001.h5"
    assert rep.packed == {"items": 5, "batches": 1, "first": pack, "last": pack}
    line = f"packed: 5 items in 1 batch ({pack})"
    assert line in run_text(rep).splitlines()
    assert line in status_text(status(manifest, out)).splitlines()
    assert packed_lines({"items": 8000, "batches": 2, "first": pack,
                         "last": "frames/packs/b000002.h5"}) == [
        f"packed: 8,000 items in 2 batches ({pack} ... b000002.h5)"]
    assert packed_lines({}) == []


def test_a_video_that_disappears_is_named_with_what_became_of_its_files(first_run) -> None:
    """The small clips are in batch b000001's packs (the default); the same clips run one file per
    video (``batch.enabled: false``) name their own files."""
    manifest, out, _ = first_run
    per_video = out.parent / "per_video"
    run(manifest, per_video, ("batch.enabled=false",), INLINE)
    (manifest.parent / "data" / "s02_sad.mp4").unlink()
    rep = status(manifest, out)
    packs = ["frames/packs/b000001.h5", "au/packs/b000001.h5"]
    assert rep.gone == [{"video_id": "s02_sad", "files": packs, "batch": "b000001"}]
    assert ("gone: s02_sad: processed before, no longer found by the manifest; the next run "
            "leaves it out of frames.h5 and features/; its data stays in batch b000001's packs "
            "(frames/packs/b000001.h5, au/packs/b000001.h5) until that batch runs again (fix: "
            "restore the video to use it again)") in status_text(rep)
    again = run(manifest, out, opts=INLINE)
    assert again.gone == rep.gone
    assert ("gone: s02_sad: processed before, no longer found by the manifest; left out of "
            "frames.h5 and features/; its data stays in batch b000001's packs") in run_text(again)
    with h5py.File(out / "frames.h5", "r") as f:
        assert "s02_sad" not in f["videos"]

    shard = per_video / "frames" / "s02_sad.h5"
    rep = status(manifest, per_video, ("batch.enabled=false",))
    assert rep.gone == [{"video_id": "s02_sad", "files": ["frames/s02_sad.h5", "au/s02_sad.h5"]}]
    assert ("gone: s02_sad: processed before, no longer found by the manifest; the next run "
            "leaves it out of frames.h5 and features/ and keeps its files (frames/s02_sad.h5, "
            "au/s02_sad.h5)") in status_text(rep)
    again = run(manifest, per_video, ("batch.enabled=false",), INLINE)
    assert again.gone == rep.gone and shard.is_file()
    assert again.packed == {} and "packed:" not in run_text(again)
    assert ("gone: s02_sad: processed before, no longer found by the manifest; left out of "
            "frames.h5 and features/; its files are kept") in run_text(again)
    with h5py.File(per_video / "frames.h5", "r") as f:
        assert "s02_sad" not in f["videos"]


def test_the_report_calls_a_late_peak_an_anomaly_only_where_the_trim_applies() -> None:
    """Finding 8: the report's trim figure says "ANOMALY" only when the run counts one."""
    import numpy as np

    from emoprep.report.videoview import trim_result

    meta = {"trim_score": np.array([0.1, 0.2, 0.9]), "trim_start": 0, "trim_end": 3,
            "anomaly": True, "trim_threshold": 0.45, "window_mode": "fraction"}
    assert not trim_result(meta).anomaly and trim_result(meta).reason == ""
    assert trim_result({**meta, "window_mode": "au_trim"}).anomaly


def test_a_zero_byte_video_fails_saying_so(first_run) -> None:
    """Finding 13: the run's reason for an empty .mp4 says "0 bytes"."""
    _, _, rep = first_run
    why = next(v["error"] for v in rep.videos if v["video_id"] == "zz_sad")
    assert why.startswith("probe: ") and why.endswith(
        "; the file: 0 bytes: an empty file, not a video (fix: copy it again, or delete it)"), why


def test_the_first_lines_of_a_run_with_set_say_it_is_not_saved(first_run) -> None:
    """Finding 9: ``--set`` holds for one run; its first lines say so."""
    import io

    from emoprep.cli.render import Progress
    from emoprep.pipeline.session import open_session

    manifest, out, _ = first_run
    session = open_session(manifest, out, ("stages.quality.min_face_fraction=0.4",))
    buf = io.StringIO()
    Progress(stream=buf).start(session, session.plan(), 0)
    assert ("--set stages.quality.min_face_fraction=0.4: for this run only (not saved); a run "
            "without them goes back to the manifest's values and re-runs what they changed (to "
            "keep them, write them into the manifest)") in buf.getvalue().splitlines()
