"""Index files: one row per video with its state, rewritten only when their inputs change; the
readers turn a broken shard into a StoreError naming the file."""

from __future__ import annotations

import shutil
from pathlib import Path

import h5py
import pytest

import emoprep
from emoprep.errors import StoreError
from emoprep.io.hdf5 import read_table
from emoprep.io.reader import open_features
from emoprep.pipeline.runner import RunOptions, run
from tests.helpers import write_manifest

INLINE = RunOptions(workers=0)


@pytest.fixture
def out_dir(clip_bank: Path, tmp_path: Path, request: pytest.FixtureRequest) -> tuple[Path, Path]:
    """Three clips and a broken file run into ``out`` (small clips: packed, the default; a test
    about per-video shards asks for ``("batch.enabled=false",)`` by indirect parametrisation)."""
    videos = tmp_path / "videos"
    videos.mkdir()
    for name in ("s01_happy_1.mp4", "s02_sad_1.mp4", "s04_sad_1.mp4"):
        shutil.copy2(clip_bank / name, videos / name)
    (videos / "s09_happy_1.mp4").write_bytes(b"not a video")
    manifest = write_manifest(tmp_path / "m.yaml", videos, {"embed": {"hog": {"type": "hog"}}})
    out = tmp_path / "out"
    run(manifest, out, getattr(request, "param", ()), INLINE)
    return manifest, out


def test_rows_name_every_video_with_its_state_and_links(out_dir) -> None:
    manifest, out = out_dir
    rows = {r["video_id"]: r for r in read_table(out / "frames.h5")}
    assert sorted(rows) == ["s01_happy_1", "s02_sad_1", "s04_sad_1", "s09_happy_1"]
    assert rows["s09_happy_1"]["status"] == "failed" and rows["s09_happy_1"]["error"].startswith(
        "probe:"
    )
    assert all(
        rows[v]["status"] == "ok" and rows[v]["n_frames"] > 0 for v in ("s01_happy_1", "s02_sad_1")
    )
    assert emoprep.open_store(out).videos() == ["s01_happy_1", "s02_sad_1", "s04_sad_1"]
    feats = read_table(out / "features" / "hog.h5")
    assert [r["video_id"] for r in feats if r["status"] == "ok"] == [
        "s01_happy_1",
        "s02_sad_1",
        "s04_sad_1",
    ]


def test_unchanged_inputs_leave_the_index_files_alone(out_dir) -> None:
    manifest, out = out_dir
    before = {p: p.stat().st_mtime_ns for p in (out / "frames.h5", out / "features" / "hog.h5")}
    run(manifest, out, opts=INLINE)
    assert {p: p.stat().st_mtime_ns for p in before} == before


@pytest.mark.parametrize("out_dir", [("batch.enabled=false",)], indirect=True)
def test_broken_shard_reads_as_store_error_naming_the_file(out_dir) -> None:
    _, out = out_dir
    shard = out / "frames" / "s01_happy_1.h5"
    with h5py.File(shard, "r+") as f:
        del f["frames"]
    store = emoprep.open_store(out)
    with pytest.raises(StoreError, match=r"frames\.h5: cannot read frames of 's01_happy_1'"):
        store.frames("s01_happy_1")
    (out / "features" / "hog" / "s02_sad_1.h5").write_bytes(b"garbage")
    with pytest.raises(StoreError, match="no features for s02_sad_1"):
        open_features(out, "hog").read("s02_sad_1")
    with pytest.raises(StoreError, match="no video 'nope'"):
        store.frames("nope")


def test_index_stamps_decide_without_opening_the_index(out_dir) -> None:
    """A stamp per index: a missing stamp (an older output folder) is made from the index's
    attribute without a rewrite; a replaced index file or a damaged stamp means a rewrite."""
    from emoprep.io.layout import Layout

    manifest, out = out_dir
    lay = Layout(out)
    frames, hog = lay.index_file("frames"), lay.index_file("features/hog")
    stamps = [lay.index_stamp(frames), lay.index_stamp(hog)]
    assert all(s.is_file() for s in stamps)
    for s in stamps:
        s.unlink()
    before = {p: p.stat().st_mtime_ns for p in (frames, hog)}
    run(manifest, out, opts=INLINE)
    assert {p: p.stat().st_mtime_ns for p in before} == before and all(
        s.is_file() for s in stamps)
    stamps[0].write_text("{broken")
    copy = out / "copy.h5"
    shutil.copy(hog, copy)
    copy.replace(hog)  # same content, another file: rebuilt, since it is not known to be ours
    run(manifest, out, opts=INLINE)
    assert frames.stat().st_mtime_ns != before[frames] and hog.stat().st_mtime_ns != before[hog]
    assert read_table(frames) and read_table(hog)
