"""The record snapshot: a cache of the record files, checked by stat, never trusted over them."""

from __future__ import annotations

import json
import os
import tempfile
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from emoprep.io.layout import Layout
from emoprep.pipeline.records import Record, RecordStore
from emoprep.types import UnitStatus


def _rec(stage: str, vid: str, fp: str, status: UnitStatus = UnitStatus.OK) -> Record:
    return Record(stage, vid, fp, {"stage": stage, "config": {"fp": fp}}, status,
                  error="" if status is UnitStatus.OK else "boom", error_type="NoFaceError",
                  summary={"n_frames": 3}, seconds=1.5)


def _written(out: Path, recs: list[Record]) -> Layout:
    """A store with ``recs`` put and its snapshot saved, as a run leaves it."""
    lay = Layout(out)
    store = RecordStore(lay)
    for r in recs:
        store.put(r)
    store.save_snapshot()
    return lay


def _no_file_reads(monkeypatch: pytest.MonkeyPatch) -> None:
    def fail(*_a: object, **_k: object) -> None:
        raise AssertionError("a record file was read")

    monkeypatch.setattr(RecordStore, "_read", fail)


def test_served_from_the_snapshot_without_opening_record_files(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    recs = [_rec("probe", "a", "1" * 64), _rec("track", "a", "2" * 64, UnitStatus.FAILED)]
    lay = _written(tmp_path, recs)
    assert lay.record_snapshot.is_file()
    _no_file_reads(monkeypatch)
    store = RecordStore(lay)
    for r in recs:
        got = store.get(r.stage, r.video_id)
        assert got is not None and got.components is None  # read only when needed
        assert (got.fingerprint, got.status, got.error, got.error_type, got.summary,
                got.seconds, got.outputs, got.checksums) == (
            r.fingerprint, r.status, r.error, r.error_type, r.summary, r.seconds, r.outputs,
            r.checksums)
    assert store.get("au", "a") is None  # no record file: none, whatever the snapshot says


def test_components_read_from_the_file_when_asked(tmp_path: Path) -> None:
    rec = _rec("probe", "a", "1" * 64)
    store = RecordStore(_written(tmp_path, [rec]))
    got = store.get("probe", "a")
    assert got is not None and store.components(got) == rec.components


def test_a_record_file_changed_in_place_is_read_again(tmp_path: Path) -> None:
    """Same inode, same size, mtime set back: the ctime still tells."""
    lay = _written(tmp_path, [_rec("probe", "a", "1" * 64)])
    path = lay.record("probe", "a")
    st = os.stat(path)
    text = path.read_text().replace("1" * 64, "3" * 64)
    with open(path, "r+") as fh:  # rewritten in place (not a new file)
        fh.write(text)
    os.utime(path, ns=(st.st_atime_ns, st.st_mtime_ns))
    assert os.stat(path).st_ino == st.st_ino and os.stat(path).st_size == st.st_size
    got = RecordStore(lay).get("probe", "a")
    assert got is not None and got.fingerprint == "3" * 64


def test_replaced_deleted_and_unreadable_records_are_seen(tmp_path: Path) -> None:
    lay = _written(tmp_path, [_rec(s, "a", "1" * 64) for s in ("probe", "window", "track")])
    RecordStore(lay).put(_rec("probe", "a", "4" * 64))  # a later run, snapshot not saved
    lay.record("window", "a").unlink()
    lay.record("track", "a").write_text("{not json")
    store = RecordStore(lay)
    got = store.get("probe", "a")
    assert got is not None and got.fingerprint == "4" * 64
    assert store.get("window", "a") is None and store.problem("window", "a") == ""
    assert store.get("track", "a") is None and "JSONDecodeError" in store.problem("track", "a")


@pytest.mark.parametrize("damage", ["truncated", "other version", "wrong shapes", "not a list",
                                    "wrong types"])
def test_a_damaged_or_foreign_snapshot_costs_only_reading_the_files(
        tmp_path: Path, damage: str) -> None:
    rec = _rec("probe", "a", "1" * 64)
    lay = _written(tmp_path, [rec])
    snap = lay.record_snapshot
    data = json.loads(snap.read_text())
    if damage == "truncated":
        snap.write_text(snap.read_text()[:40])
    elif damage == "other version":
        snap.write_text(json.dumps({**data, "version": data["version"] + 1}))
    else:
        entry = data["stages"]["probe"]["a"]
        data["stages"]["probe"]["a"] = {"wrong shapes": entry[:4] + ["x"], "not a list": 7,
                                        "wrong types": entry[:8] + ["x"] + entry[9:]}[damage]
        snap.write_text(json.dumps(data))
    got = RecordStore(lay).get("probe", "a")
    assert got is not None and got.fingerprint == rec.fingerprint
    assert got.components == rec.components  # read from the file


def test_status_writes_no_snapshot(tmp_path: Path) -> None:
    lay = Layout(tmp_path)
    RecordStore(lay).put(_rec("probe", "a", "1" * 64))  # a run killed before its end
    store = RecordStore(lay)
    assert store.get("probe", "a") is not None
    assert not lay.record_snapshot.exists()  # only save_snapshot (the run's end) writes it


_ops = st.lists(st.tuples(st.sampled_from(["put", "delete", "edit", "save"]),
                          st.sampled_from([("probe", "a"), ("probe", "b"), ("track", "a")]),
                          st.integers(0, 9)), max_size=12)


@settings(max_examples=40, deadline=None)
@given(_ops)
def test_what_a_store_reads_is_what_the_files_say(ops: list[tuple[str, tuple[str, str], int]]
                                                  ) -> None:
    """Any sequence of runs (puts, deletes, saved snapshots) and hand edits: a new store reads
    exactly the record files."""
    with tempfile.TemporaryDirectory() as tmp:
        lay = Layout(Path(tmp))
        store = RecordStore(lay)
        for op, (stage, vid), n in ops:
            if op == "put":
                store.put(_rec(stage, vid, str(n) * 64))
            elif op == "delete":
                store.delete(stage, vid)
            elif op == "edit" and lay.record(stage, vid).is_file():
                p = lay.record(stage, vid)
                p.write_text(p.read_text().replace('"fingerprint": "', f'"fingerprint": "{n}', 1))
            elif op == "save":
                store.save_snapshot()
                store = RecordStore(lay)  # the next run
        fresh = RecordStore(lay)
        for stage, vid in [("probe", "a"), ("probe", "b"), ("track", "a")]:
            p = lay.record(stage, vid)
            want = json.loads(p.read_text())["fingerprint"] if p.is_file() else None
            got = fresh.get(stage, vid)
            assert (got.fingerprint if got else None) == want
