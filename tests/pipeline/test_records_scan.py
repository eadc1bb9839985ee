"""RecordStore.scan: the one reader of every record of a finished run (the report and the
training glue use it), in stage folder then video order, with a problem line per broken record;
from the records database, or from the JSON files of a folder made before it."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest

from emoprep.errors import StoreError
from emoprep.io.layout import Layout
from emoprep.pipeline.records import Record, RecordStore
from emoprep.report.rundata import read_records
from emoprep.types import UnitStatus
from tests.helpers import to_legacy


def _store(tmp_path: Path) -> RecordStore:
    store = RecordStore(Layout(tmp_path))
    for stage in ("probe", "embed:hog@flip", "embed:hog"):
        for vid in ("b", "a"):
            store.put(Record(stage, vid, f"{stage}/{vid}", {"stage": stage}, UnitStatus.OK))
    store.close()  # as a run's end: committed
    return store


def test_scan_reads_every_record_in_name_order(tmp_path: Path) -> None:
    records, problems = _store(tmp_path).scan()
    assert problems == []
    assert [(r.stage, r.video_id) for r in records] == [
        ("embed:hog", "a"), ("embed:hog", "b"), ("embed:hog@flip", "a"), ("embed:hog@flip", "b"),
        ("probe", "a"), ("probe", "b")]
    assert records[0].components == {"stage": "embed:hog"}  # read whole
    only, _ = RecordStore(Layout(tmp_path)).scan(lambda folder: folder == "probe")
    assert [r.fingerprint for r in only] == ["probe/a", "probe/b"]


def test_a_broken_record_is_a_problem_and_the_report_names_it(tmp_path: Path) -> None:
    store = _store(tmp_path)
    store.put(Record("probe", "c", "probe/c", {}, UnitStatus.OK))
    store.close()
    con = sqlite3.connect(tmp_path / ".emoprep" / "records.sqlite")
    con.execute("UPDATE records SET body = '{\"outputs\": [' WHERE video_id = 'c'")
    con.commit()
    con.close()
    records, problems = RecordStore(store.layout).scan()
    assert len(records) == 6 and len(problems) == 1
    assert problems[0].startswith("probe/c: JSONDecodeError: ")
    with pytest.raises(StoreError, match=r"probe/c: JSONDecodeError"):
        read_records(store.layout)


def test_json_records_of_before_the_database_are_scanned(tmp_path: Path) -> None:
    store = _store(tmp_path)
    store.close()
    assert to_legacy(tmp_path) == 6
    (store.layout.records_dir / "probe" / "c.json").write_text('{"stage": "probe"')
    records, problems = RecordStore(store.layout).scan()
    assert [(r.stage, r.video_id) for r in records][-2:] == [("probe", "a"), ("probe", "b")]
    assert len(records) == 6 and problems[0].startswith("probe/c.json: JSONDecodeError: ")
    assert not (tmp_path / ".emoprep" / "records.sqlite").exists()  # scanning never migrates


def test_no_records_folder_is_no_records(tmp_path: Path) -> None:
    assert RecordStore(Layout(tmp_path / "none")).scan() == ([], [])
    assert read_records(Layout(tmp_path / "none")) == {}
