"""The no-op run's index check (pipeline/index_check.py): a run with every unit up to date and
nothing changed since the last rebuild reads no record and rewrites no index; any write to the
records (by any writer), a touched index file or a label change rebuilds as before."""

from __future__ import annotations

import json
import shutil
import sqlite3
from pathlib import Path

import pytest

from emoprep.io.hdf5 import read_table
from emoprep.pipeline import indexes
from emoprep.pipeline.runner import RunOptions, run
from tests.helpers import CORPUS_LABELS, write_manifest

INLINE = RunOptions(workers=0)


@pytest.fixture
def done(clip_bank: Path, tmp_path: Path) -> tuple[Path, Path, list]:
    """Two clips and a broken file run once into ``out`` (packed): (manifest, out, its rows)."""
    videos = tmp_path / "videos"
    videos.mkdir()
    for name in ("s01_happy_1.mp4", "s02_sad_1.mp4"):
        shutil.copy2(clip_bank / name, videos / name)
    (videos / "s09_happy_1.mp4").write_bytes(b"not a video")
    manifest = write_manifest(tmp_path / "m.yaml", videos, {"embed": {"hog": {"type": "hog"}}})
    out = tmp_path / "out"
    return manifest, out, run(manifest, out, opts=INLINE).videos


class _Reads:
    """Counts the index rebuilds (each reads the records of every video, one by one)."""

    def __init__(self, monkeypatch: pytest.MonkeyPatch) -> None:
        self.n, rebuild = 0, indexes._rebuild_indexes

        def counted(*args):
            self.n += 1
            return rebuild(*args)

        monkeypatch.setattr(indexes, "_rebuild_indexes", counted)


def _mtimes(out: Path) -> dict[str, int]:
    return {p.name: p.stat().st_mtime_ns for p in (out / "frames.h5", out / "features/hog.h5")}


def test_a_no_op_run_keeps_the_indexes_and_reads_no_record(done, monkeypatch) -> None:
    manifest, out, rows = done
    before, reads = _mtimes(out), _Reads(monkeypatch)
    # act 1: a failed video is not up to date (it runs again): the indexes are rebuilt
    # (unchanged), no digest kept
    assert run(manifest, out, opts=INLINE).videos == rows and reads.n > 0
    assert not (out / ".emoprep/indexes/sources.json").exists()
    # act 2: without the broken file, every unit up to date: the second run keeps the rows
    (manifest.parent / "videos/s09_happy_1.mp4").unlink()
    first = run(manifest, out, opts=INLINE).videos
    assert (out / ".emoprep/indexes/sources.json").exists()
    reads.n, before = 0, _mtimes(out)
    again = run(manifest, out, opts=INLINE)
    assert reads.n == 0 and again.videos == first and again.ran == []
    assert _mtimes(out) == before
    assert json.loads((out / "summary.json").read_text())["videos"] == first
    # act 3: the records written by another process (as an older emoprep would, or a run
    # killed before its indexes): the counter moved, so the indexes are checked again
    con = sqlite3.connect(out / ".emoprep/records.sqlite")
    con.execute("UPDATE records SET body = body WHERE video_id = 's01_happy_1'")
    con.commit()
    con.close()
    assert run(manifest, out, opts=INLINE).videos == first and reads.n > 0
    reads.n = 0
    assert run(manifest, out, opts=INLINE).videos == first and reads.n == 0


def test_a_touched_index_a_new_video_or_a_label_change_rebuilds_once(done, monkeypatch) -> None:
    manifest, out, _ = done
    (manifest.parent / "videos/s09_happy_1.mp4").unlink()
    run(manifest, out, opts=INLINE)
    reads = _Reads(monkeypatch)
    (out / "frames.h5").touch()  # another mtime: the index is not the one written
    run(manifest, out, opts=INLINE)
    assert reads.n > 0
    reads.n = 0
    run(manifest, out, opts=INLINE)
    assert reads.n == 0
    # a new video: the run that processes it keeps the digest of what it leaves
    shutil.copy2(manifest.parent / "videos/s02_sad_1.mp4", manifest.parent / "videos/s03_sad_1.mp4")
    assert run(manifest, out, opts=INLINE).ran and reads.n == 1
    rep = run(manifest, out, opts=INLINE)
    assert reads.n == 1 and rep.ran == [] and len(rep.videos) == 3
    # a label renamed (labels are metadata: no stage runs, the indexes are rewritten)
    labels = {**CORPUS_LABELS, "pattern": CORPUS_LABELS["pattern"].replace("emotion", "feeling"),
              "groups": ["feeling"]}
    write_manifest(manifest, manifest.parent / "videos", {"embed": {"hog": {"type": "hog"}}},
                   labels=labels)
    rep = run(manifest, out, opts=INLINE)
    assert reads.n > 0 and rep.ran == []
    assert all("feeling" in row["labels"] for row in read_table(out / "frames.h5"))
    (out / ".emoprep/indexes/sources.json").write_text("{not json")  # unreadable: rebuilt
    reads.n = 0
    run(manifest, out, opts=INLINE)
    assert reads.n > 0
