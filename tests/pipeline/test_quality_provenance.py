"""stages.quality (low face coverage: a warning, or a failure) and the run's provenance."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from emoprep import __version__
from emoprep.io.hdf5 import read_table
from emoprep.pipeline.runner import RunOptions, run
from tests.helpers import write_manifest

INLINE = RunOptions(workers=0)


@pytest.fixture
def demo(samples_dir: Path, clip_bank: Path, tmp_path: Path) -> tuple[Path, Path]:
    videos = tmp_path / "videos"
    videos.mkdir()
    shutil.copy2(clip_bank / "s01_happy_1.mp4", videos / "s01_happy_1.mp4")
    # face in 4 of its 85 kept frames with the default window (the demo's face_noface)
    shutil.copy2(samples_dir / "face_noface.mov", videos / "s02_sad_1.mp4")  # a .mov inside
    return write_manifest(tmp_path / "m.yaml", videos), tmp_path / "out"


def test_low_face_is_a_warning_then_a_failure_without_rerunning(demo) -> None:
    manifest, out = demo
    first = run(manifest, out, ("stages.quality.min_face_fraction=0.5",), INLINE)
    by = {v["video_id"]: v for v in first.videos}
    assert by["s02_sad_1"]["status"] == "ok" and by["s01_happy_1"].get("warnings") is None
    (w,) = by["s02_sad_1"]["warnings"]
    assert w["kind"] == "low_face" and "min_face_fraction 0.5" in w["message"]
    assert first.warnings == [w] and first.min_face_fraction == 0.5
    failing = run(manifest, out, ("stages.quality.on_low_face=fail",), INLINE)
    assert failing.ran == []  # a policy on outputs: no stage re-runs
    by = {v["video_id"]: v for v in failing.videos}
    assert by["s02_sad_1"]["status"] == "failed" and by["s02_sad_1"]["error"].startswith("quality:")
    rows = {r["video_id"]: r for r in read_table(out / "frames.h5")}
    assert rows["s02_sad_1"]["status"] == "failed" and rows["s01_happy_1"]["status"] == "ok"


def test_summary_records_provenance(demo) -> None:
    manifest, out = demo
    run(manifest, out, ("stages.align.size=96",), INLINE)
    prov = json.loads((out / "summary.json").read_text())["provenance"]
    assert prov["emoprep_version"] == __version__ and prov["manifest"] == str(manifest)
    assert prov["overrides"] == ["stages.align.size=96"]
    assert prov["resolved_manifest"]["stages"]["align"]["size"] == 96
    assert prov["resolved_manifest"]["labels"]["preset"] == "generic"
    assert prov["versions"]["numpy"] and prov["versions"]["h5py"]
