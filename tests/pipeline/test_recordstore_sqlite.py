"""The SQLite record store: the RecordStore contract, the JSON store's records carried over, an
unreadable row reported, and nothing but committed puts visible after a killed writer."""

from __future__ import annotations

import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest

from emoprep.errors import StoreError
from emoprep.io.layout import Layout
from emoprep.pipeline.records import Record, RecordStore
from emoprep.pipeline.recordstore_sqlite import FILE_NAME, SqliteRecordStore
from emoprep.types import UnitStatus


def _rec(stage: str, vid: str, fp: str = "f1", status: UnitStatus = UnitStatus.OK) -> Record:
    return Record(stage, vid, fp, {"stage": stage, "config": {"k": 1}}, status,
                  error="" if status is UnitStatus.OK else "no face\nmore",
                  error_type="" if status is UnitStatus.OK else "NoFaceError",
                  summary={"n_frames": 3})


def test_put_get_delete_and_a_fresh_store_reads_what_was_committed(tmp_path: Path) -> None:
    lay = Layout(tmp_path)
    store = SqliteRecordStore(lay)
    assert store.get("track", "v1") is None and store.problem("track", "v1") == ""
    assert not (lay.meta_dir / FILE_NAME).exists()  # opening and reading write nothing
    store.put(_rec("track", "v1"))
    store.put(_rec("frames", "v1", status=UnitStatus.FAILED))
    store.put(_rec("track", "v1", fp="f2"))  # replaces
    again = SqliteRecordStore(lay)
    assert again.get("track", "v1").fingerprint == "f2"
    failed = again.get("frames", "v1")
    assert failed.status is UnitStatus.FAILED and failed.error_type == "NoFaceError"
    assert failed.components == {"stage": "frames", "config": {"k": 1}}
    again.delete("track", "v1")
    assert again.get("track", "v1") is None
    assert SqliteRecordStore(lay).get("track", "v1") is None
    assert not (lay.meta_dir / "records").exists()  # nothing written as JSON files


def test_json_records_are_read_then_moved_into_the_database(tmp_path: Path) -> None:
    lay = Layout(tmp_path)
    old = RecordStore(lay)
    old.put(_rec("probe", "v1"))
    old.put(_rec("probe", "v2", fp="old"))
    old.put(_rec("probe", "v3", fp="unread"))
    store = SqliteRecordStore(lay)
    assert store.get("probe", "v1").fingerprint == "f1"  # read from its JSON file
    store.put(_rec("probe", "v2", fp="new"))  # the first put moves the others in
    assert not list((lay.meta_dir / "records").glob("*/*.json"))
    assert store.get("probe", "v3").fingerprint == "unread"  # moved before this store read it
    fresh = SqliteRecordStore(lay)
    assert fresh.get("probe", "v1").fingerprint == "f1"
    assert fresh.get("probe", "v2").fingerprint == "new"  # the newer record wins


def test_an_unreadable_row_is_a_problem_and_its_unit_runs_again(tmp_path: Path) -> None:
    lay = Layout(tmp_path)
    SqliteRecordStore(lay).put(_rec("au", "v1"))
    con = sqlite3.connect(lay.meta_dir / FILE_NAME)
    con.execute("UPDATE records SET body = '{\"stage\": \"au\"' WHERE video_id = 'v1'")
    con.commit()
    con.close()
    store = SqliteRecordStore(lay)
    assert store.get("au", "v1") is None
    assert "JSONDecodeError" in store.problem("au", "v1")


def test_a_killed_writer_leaves_only_committed_records(tmp_path: Path) -> None:
    lay = Layout(tmp_path)
    SqliteRecordStore(lay).put(_rec("track", "kept"))
    script = (
        "import os, sqlite3, sys\n"
        f"con = sqlite3.connect({str(lay.meta_dir / FILE_NAME)!r}, isolation_level=None)\n"
        "con.execute('PRAGMA journal_mode=WAL')\n"
        "con.execute('BEGIN IMMEDIATE')\n"
        "con.execute(\"INSERT INTO records VALUES ('track', 'torn', '{}')\")\n"
        "os._exit(9)  # killed before COMMIT\n"
    )
    assert subprocess.run([sys.executable, "-c", script]).returncode == 9
    store = SqliteRecordStore(lay)
    assert store.get("track", "kept").fingerprint == "f1"
    assert store.get("track", "torn") is None and store.problem("track", "torn") == ""
    store.put(_rec("track", "after"))  # the database is writable after the crash
    assert SqliteRecordStore(lay).get("track", "after") is not None


def test_a_database_that_is_not_sqlite_names_the_fix(tmp_path: Path) -> None:
    lay = Layout(tmp_path)
    lay.meta_dir.mkdir(parents=True)
    (lay.meta_dir / FILE_NAME).write_bytes(b"not a database" * 100)
    with pytest.raises(StoreError, match="move it away"):
        SqliteRecordStore(lay).get("probe", "v1")
