"""Bad input gets a clear error and loses nothing: failures are per video, retried, skippable."""

from __future__ import annotations

from collections import Counter
from pathlib import Path

import pytest

from emoprep.errors import ConfigError
from emoprep.io.layout import Layout
from emoprep.pipeline.runner import RunLockedError, RunOptions, run, run_lock, status
from tests.helpers import CORPUS, edit_record, write_manifest

INLINE = RunOptions(workers=0)


@pytest.fixture
def broken(corpus: Path, tmp_path: Path) -> tuple[Path, Path]:
    (corpus / "s09_happy_1.mp4").write_bytes(
        b"\x00\x00\x00\x18ftypmp42" + bytes(range(256)) * 40
    )  # corrupt
    (corpus / "s10_sad_1.mp4").write_bytes(b"")  # empty
    data = (corpus / CORPUS[0][0]).read_bytes()
    (corpus / "s11_sad_1.mp4").write_bytes(data[: len(data) // 3])  # truncated: decodes partly
    return write_manifest(tmp_path / "m.yaml", corpus, {"split": {"folds": 2}}), tmp_path / "out"


def test_corrupt_and_empty_videos_fail_with_reason_others_finish(broken) -> None:
    manifest, out = broken
    rep = run(manifest, out, opts=INLINE)
    by = {v["video_id"]: v for v in rep.videos}
    for vid in ("s09_happy_1", "s10_sad_1"):
        assert by[vid]["status"] == "failed"
        assert by[vid]["error"].startswith("probe:") and vid in by[vid]["error"]
    for name, *_ in CORPUS:
        assert by[Path(name).stem]["status"] == "ok"
    # the first third of an mp4 written by OpenCV lacks its index (moov atom): it cannot be opened
    assert by["s11_sad_1"]["status"] == "failed"
    assert (
        by["s11_sad_1"]["error"].startswith("probe:") and "cannot open" in by["s11_sad_1"]["error"]
    )
    assert not any(r["error"].startswith("Traceback") for r in rep.ran)


def test_data_failures_are_remembered_until_retry_failed(broken) -> None:
    manifest, out = broken
    run(manifest, out, opts=INLINE)
    st = status(manifest, out)
    failed = dict(st.failed["probe"])
    assert {"s09_happy_1", "s10_sad_1"} <= set(failed)
    assert "(data)" in failed["s10_sad_1"] and "--retry-failed" in failed["s10_sad_1"]
    again = run(manifest, out, opts=INLINE)
    assert again.ran == []  # nothing it depends on changed: not decoded again
    retry = run(manifest, out, opts=RunOptions(workers=0, retry_failed=True))
    assert Counter(r["stage"] for r in retry.ran)["probe"] >= 2  # retried, failed again


def _fail_record(out: Path, stage: str, vid: str, error_type: str) -> None:
    edit_record(out, stage, vid, status="failed", error=f"{error_type}: simulated",
                error_type=error_type, outputs=[], checksums={})


def test_environment_failures_are_retried_unless_skip_failed(broken) -> None:
    manifest, out = broken
    run(manifest, out, opts=INLINE)
    _fail_record(out, "window", "s01_happy_1", "WorkerCrash")
    st = status(manifest, out)
    assert dict(st.failed["window"])["s01_happy_1"].startswith("failed last run (environment)")
    assert run(manifest, out, opts=RunOptions(workers=0, skip_failed=True)).ran == []
    rep = run(manifest, out, opts=INLINE)
    assert [(r["stage"], r["video_id"], r["ok"]) for r in rep.ran] == [
        ("window", "s01_happy_1", True)
    ]


def test_fail_fast_stops_at_first_failure(broken) -> None:
    manifest, out = broken
    rep = run(manifest, out, opts=RunOptions(workers=0, fail_fast=True))
    assert sum(not r["ok"] for r in rep.ran) == 1
    assert any(v["status"] == "pending" for v in rep.videos)


def test_second_run_on_same_output_is_refused(broken) -> None:
    manifest, out = broken
    with run_lock(Layout(out)):
        with pytest.raises(RunLockedError, match="in use by another emoprep run"):
            run(manifest, out, opts=INLINE)


def test_bad_override_reports_every_problem_before_any_work(broken) -> None:
    manifest, out = broken
    with pytest.raises(ConfigError) as err:
        run(manifest, out, ("stages.detect.min_size=abc", "stages.trak.redetect_every=3"), INLINE)
    text = str(err.value)
    assert "2 errors" in text and "min_size" in text and "did you mean" in text
    assert not (out / "frames.h5").exists()


def test_missing_weight_file_is_reported_before_any_work(corpus: Path, tmp_path: Path) -> None:
    manifest = write_manifest(tmp_path / "m.yaml", corpus, {
        "embed": {"face": {"type": "inception_resnet_v1", "weights": "models/vggface2.pt"}}})
    with pytest.raises(
        ConfigError, match=r"stages.embed.face: model file .*models/vggface2.pt not found"
    ):
        run(manifest, tmp_path / "out", opts=INLINE)
    assert not (tmp_path / "out" / ".emoprep" / "records.sqlite").exists()


def test_unknown_force_stage_is_an_error(broken) -> None:
    manifest, out = broken
    with pytest.raises(ConfigError, match="no stage 'trak'; stages: probe, window, track"):
        run(manifest, out, opts=RunOptions(workers=0, force={"trak"}))


def test_output_inside_the_dataset_is_never_taken_for_input(corpus: Path, tmp_path: Path) -> None:
    import yaml

    manifest = write_manifest(tmp_path / "m.yaml", corpus, {"split": {"folds": 2}})
    raw = yaml.safe_load(manifest.read_text())
    raw["videos"]["include"] = ["**/*.mp4"]
    manifest.write_text(yaml.safe_dump(raw))
    out = corpus / "derived"
    (out / "frames").mkdir(parents=True)
    (out / "frames" / "s99_happy_1.mp4").write_bytes(b"not a video")  # would match the include glob
    rep = run(manifest, out, opts=INLINE)
    assert "s99_happy_1" not in {v["video_id"] for v in rep.videos}
    assert not [u for u in rep.unmatched if u.startswith("derived/")]  # not even listed
