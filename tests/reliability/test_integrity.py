"""Corruption on disk is found and rebuilt, never trusted: shards, intermediates, records, models.

Each case corrupts a copy of one clean run, checks what ``status`` says, runs again and compares
the store with the clean one.
"""

from __future__ import annotations

import json
import os
import shutil
import sqlite3
from pathlib import Path

import h5py
import pytest
import yaml

from emoprep.io.layout import Layout
from emoprep.pipeline.records import RecordStore
from emoprep.pipeline.runner import RunInterrupted, RunOptions, run, run_lock, status
from tests.helpers import assert_same_store
from tests.reliability.conftest import INLINE, cli

VID = "s01_happy_1"


def _reasons(st, stage: str) -> dict[str, str]:
    return {vid: why for vid, state, why in st.units[stage]}


def _ran(rep) -> set[tuple[str, str]]:
    return {(r["stage"], r["video_id"]) for r in rep.ran}


def _scribble(path: Path, n: int = 64 * 1024) -> None:
    """Overwrite ``n`` bytes in the middle of a file (size unchanged)."""
    size = path.stat().st_size
    with open(path, "r+b") as fh:
        fh.seek(max(0, size // 2 - n // 2))
        fh.write(os.urandom(min(n, size)))


def test_corrupt_frame_shard_is_rebuilt_with_its_downstream(two_clips, clean_out, done_out) -> None:
    manifest = two_clips[1]
    shard = done_out / "frames" / f"{VID}.h5"
    _scribble(shard)
    st = status(manifest, done_out)
    assert _reasons(st, "frames")[VID].startswith(f"output corrupt: frames/{VID}.h5: sha256")
    assert "frames is rebuilt" in _reasons(st, "embed:hog")[VID]
    assert st.stages["track"]["up-to-date"] == 2  # upstream untouched
    rep = run(manifest, done_out, opts=INLINE)
    assert _ran(rep) == {("frames", VID), ("embed:hog", VID)}
    assert_same_store(clean_out, done_out)
    assert run(manifest, done_out, opts=INLINE).ran == []


def test_status_verify_reads_every_shard_even_with_its_mtime_restored(two_clips, clean_out,
                                                                     done_out) -> None:
    manifest = two_clips[1]
    shard = done_out / "features" / "hog" / f"{VID}.h5"
    st0 = shard.stat()
    _scribble(shard, 4096)
    os.utime(shard, ns=(st0.st_atime_ns, st0.st_mtime_ns))  # a cheap check cannot see it
    assert status(manifest, done_out).stages["embed:hog"]["up-to-date"] == 2
    proc = cli("status", "-m", str(manifest), "-o", str(done_out), "--verify", "--json")
    assert proc.returncode == 0, proc.stderr
    why = {vid: w for vid, _, w in json.loads(proc.stdout)["units"]["embed:hog"]}
    assert why[VID].startswith(f"output corrupt: features/hog/{VID}.h5: sha256")
    rep = run(manifest, done_out, opts=RunOptions(workers=0, verify=True))
    assert _ran(rep) == {("embed:hog", VID)}
    assert_same_store(clean_out, done_out)


def test_corrupt_intermediate_reruns_track_instead_of_blocking_frames(two_clips, clean_out,
                                                                      done_out) -> None:
    manifest = two_clips[1]
    npz = done_out / ".emoprep" / "work" / "track" / f"{VID}.npz"
    npz.write_bytes(npz.read_bytes()[: npz.stat().st_size // 3])  # truncated
    (done_out / "frames" / f"{VID}.h5").unlink()
    st = status(manifest, done_out)
    assert _reasons(st, "track")[VID].startswith(f"output corrupt: .emoprep/work/track/{VID}.npz")
    rep = run(manifest, done_out, opts=INLINE)
    assert all(r["ok"] for r in rep.ran), rep.ran
    assert {("track", VID), ("frames", VID)} <= _ran(rep)
    assert_same_store(clean_out, done_out)


def test_corrupt_record_makes_its_unit_run_again(two_clips, clean_out, done_out) -> None:
    """A record row whose body no longer parses (a damaged row; the database itself opens)."""
    manifest = two_clips[1]
    con = sqlite3.connect(done_out / ".emoprep" / "records.sqlite")
    con.execute("UPDATE records SET body = substr(body, 1, 50) WHERE stage = 'au' AND video_id = ?",
                (VID,))
    con.commit()
    con.close()
    why = _reasons(status(manifest, done_out), "au")[VID]
    assert why.startswith(f"record unreadable: records.sqlite row au/{VID}: JSONDecodeError"), why
    rep = run(manifest, done_out, opts=INLINE)
    assert ("au", VID) in _ran(rep) and all(r["ok"] for r in rep.ran)
    assert RecordStore(Layout(done_out)).get("au", VID) is not None
    assert_same_store(clean_out, done_out)


def test_an_unreadable_records_database_is_set_aside(two_clips, clean_out, done_out) -> None:
    """A records file that is not a database: status says so for every unit and writes nothing;
    run sets it aside, runs every unit again and ends equal to a clean run."""
    manifest, db = two_clips[1], done_out / ".emoprep" / "records.sqlite"
    db.write_bytes(b"not a database" * 100)
    why = _reasons(status(manifest, done_out), "probe")[VID]
    assert why.startswith("record unreadable: records.sqlite: DatabaseError"), why
    assert db.read_bytes() == b"not a database" * 100
    rep = run(manifest, done_out, opts=INLINE)
    assert all(r["ok"] for r in rep.ran) and ("probe", VID) in _ran(rep)
    assert [p.name.split("-")[0] for p in db.parent.glob("records.sqlite.unreadable-*")] == \
        ["records.sqlite.unreadable"]
    for p in db.parent.glob("records.sqlite.unreadable-*"):
        p.unlink()
    assert_same_store(clean_out, done_out)


def test_changed_model_file_makes_its_stages_stale(two_clips, done_out, tmp_path: Path) -> None:
    """A model file whose content (sha256) differs from the one a unit was made with."""
    import cv2

    cascade = tmp_path / "haarcascade_frontalface_default.xml"  # same name: same fingerprint
    shutil.copy(Path(cv2.data.haarcascades) / "haarcascade_frontalface_default.xml", cascade)
    raw = yaml.safe_load(two_clips[1].read_text())
    raw["stages"]["detect"] = {"cascade": str(cascade)}
    manifest = tmp_path / "m.yaml"
    manifest.write_text(yaml.safe_dump(raw))
    assert status(manifest, done_out).stages["track"]["up-to-date"] == 2  # same file content
    with open(cascade, "a") as fh:
        fh.write("<!-- another model -->\n")
    st = status(manifest, done_out)
    assert st.stages["track"]["stale"] == 2
    assert st.reasons["track"][0][0].startswith(
        "model file haarcascade_frontalface_default.xml changed")


def test_stale_lock_file_of_a_killed_run_is_not_in_the_way(two_clips, done_out) -> None:
    lock = Layout(done_out).lock
    lock.write_text(json.dumps({"pid": 2**22 + 7, "token": "f" * 32, "host": "gone"}))
    rep = run(two_clips[1], done_out, opts=INLINE)
    assert rep.ran == [] and json.loads(lock.read_text())["token"] == ""
    with run_lock(Layout(done_out)) as token:  # a live holder: refused, naming it
        assert json.loads(lock.read_text())["token"] == token
        proc = cli("run", "-m", str(two_clips[1]), "-o", str(done_out), "--workers", "0")
        assert proc.returncode == 1
        assert f"in use by another emoprep run (pid {os.getpid()} on " in proc.stderr


def test_plain_h5py_reader_sees_a_whole_index_while_shards_are_rewritten(two_clips, clean_out,
                                                                         done_out) -> None:
    """An index opened by a reader stays readable while a run replaces shards under it."""
    with h5py.File(done_out / "frames.h5", "r") as f:
        before = f[f"videos/{VID}/frames"][()]
        run(two_clips[1], done_out, opts=RunOptions(workers=0, force={"frames"}))
        assert f["table"][()].shape == (2,)
    with h5py.File(done_out / "frames.h5", "r") as f:
        assert (f[f"videos/{VID}/frames"][()] == before).all()
    assert_same_store(clean_out, done_out)


def test_an_interrupted_run_commits_what_finished(two_clips, tmp_path: Path) -> None:
    """Ctrl-C after the first unit: its record is committed (the database is left as one file,
    no WAL), so the next plan finds it."""
    out = tmp_path / "out"
    seen: list[tuple[str, str]] = []

    def stop(unit: object, res: object) -> None:
        seen.append((res.stage, res.video_id))  # type: ignore[attr-defined]
        raise KeyboardInterrupt

    with pytest.raises(RunInterrupted):
        run(two_clips[1], out, opts=INLINE, on_done=stop)
    assert not (out / ".emoprep" / "records.sqlite-wal").exists()
    store = RecordStore(Layout(out))
    assert seen and all(store.get(s, v) is not None for s, v in seen)
