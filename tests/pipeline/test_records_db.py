"""The records database (``.emoprep/records.sqlite``): what a store reads back after it is
reopened, when puts become durable, the bounded memory of a plan, an unreadable row or file, and
the migration of the JSON record files of folders made before it."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest

from emoprep.io.layout import Layout
from emoprep.pipeline import records as records_mod
from emoprep.pipeline.records import Record, RecordStore
from emoprep.types import UnitStatus
from tests.helpers import n_records, to_legacy


def _rec(stage: str, vid: str, fp: str, seconds: float = 0.01,
         status: UnitStatus = UnitStatus.OK) -> Record:
    return Record(stage, vid, fp, {"stage": stage, "config": {"fp": fp}}, status,
                  error="" if status is UnitStatus.OK else "boom", error_type="NoFaceError",
                  summary={"n_frames": 3}, seconds=seconds)


def _db(out: Path) -> Path:
    return out / ".emoprep" / "records.sqlite"


def test_a_closed_store_is_one_file_read_back_whole(tmp_path: Path) -> None:
    store = RecordStore(Layout(tmp_path))
    for vid in ("a", "b"):
        store.put(_rec("probe", vid, "1" * 64))
    store.put(_rec("track", "a", "2" * 64, status=UnitStatus.FAILED))
    store.close()
    assert sorted(p.name for p in _db(tmp_path).parent.iterdir()) == ["records.sqlite"]
    fresh = RecordStore(Layout(tmp_path))
    got = fresh.get("probe", "a")
    assert got is not None and got.components is None  # read when a plan needs them
    assert fresh.components(got) == {"stage": "probe", "config": {"fp": "1" * 64}}
    assert got == _rec("probe", "a", "1" * 64)
    failed = fresh.get("track", "a")
    assert failed is not None and failed.status is UnitStatus.FAILED and failed.error == "boom"
    assert fresh.get("track", "b") is None and fresh.problem("track", "b") == ""
    assert fresh.ids("probe") == {"a", "b"}


def test_quick_puts_are_committed_in_batches_slow_ones_at_once(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A kill loses only uncommitted puts (their units run again): up to COMMIT_EVERY quick ones
    or COMMIT_SECONDS of work; a unit that took COMMIT_SECONDS is durable when put returns."""
    monkeypatch.setattr(records_mod, "COMMIT_SECONDS", 3600.0)  # no commit by elapsed time
    store = RecordStore(Layout(tmp_path))
    for i in range(records_mod.COMMIT_EVERY - 1):
        store.put(_rec("probe", f"v{i:04d}", "1" * 64))
    assert n_records(tmp_path) == 0  # another process sees none of them yet
    store.put(_rec("probe", "last", "1" * 64))
    assert n_records(tmp_path) == records_mod.COMMIT_EVERY
    store.put(_rec("track", "slow", "2" * 64, seconds=3600.0))
    assert n_records(tmp_path) == records_mod.COMMIT_EVERY + 1
    store.put(_rec("track", "quick", "2" * 64))
    store._con.close()  # type: ignore[union-attr]  (as a kill -9 would: nothing committed)
    fresh = RecordStore(Layout(tmp_path))
    assert fresh.get("track", "quick") is None and fresh.get("track", "slow") is not None


def test_memory_stays_bounded_and_answers_stay_right(tmp_path: Path,
                                                    monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(records_mod, "CACHE_SIZE", 3)
    store = RecordStore(Layout(tmp_path))
    store.put_many([_rec("probe", f"v{i}", f"{i:064d}") for i in range(10)])
    for _ in range(2):
        assert [store.get("probe", f"v{i}").fingerprint for i in range(10)] == \
            [f"{i:064d}" for i in range(10)]  # type: ignore[union-attr]
    assert len(store._cache) == 3
    store.delete("probe", "v3")
    assert store.get("probe", "v3") is None and RecordStore(Layout(tmp_path)).get("probe", "v3") \
        is None


def test_an_unreadable_row_is_a_problem_and_status_opens_read_only(tmp_path: Path) -> None:
    store = RecordStore(Layout(tmp_path))
    store.put(_rec("probe", "a", "1" * 64))
    store.put(_rec("probe", "b", "1" * 64))
    store.close()
    con = sqlite3.connect(_db(tmp_path))
    con.execute("UPDATE records SET body = '[1, 2]' WHERE video_id = 'b'")
    con.commit()
    con.close()
    before = _db(tmp_path).stat().st_mtime_ns
    reader = RecordStore(Layout(tmp_path))
    assert reader.get("probe", "a") is not None and reader.get("probe", "b") is None
    assert reader.problem("probe", "b").startswith("records.sqlite row probe/b: TypeError")
    reader.close()
    assert sorted(p.name for p in _db(tmp_path).parent.iterdir()) == ["records.sqlite"]
    assert _db(tmp_path).stat().st_mtime_ns == before


def test_json_records_are_read_as_they_are_then_migrated_by_the_first_write(
        tmp_path: Path) -> None:
    """A folder of before the database: reads come from the files and create nothing; opening it
    for a run moves every record into the database (an unreadable file stays unreadable, with
    its reason) and removes the files."""
    store = RecordStore(Layout(tmp_path))
    store.put(_rec("probe", "a", "1" * 64))
    store.put(_rec("embed:hog", "a", "3" * 64))
    store.close()
    lay = Layout(tmp_path)
    assert to_legacy(tmp_path) == 2
    lay.record("probe", "bad").write_text('{"stage": ')
    lay.record_snapshot.write_text("{}")
    reader = RecordStore(lay)
    assert reader.get("embed:hog", "a") == _rec("embed:hog", "a", "3" * 64)
    assert reader.get("probe", "bad") is None
    why = reader.problem("probe", "bad")
    assert why.startswith("bad.json: JSONDecodeError"), why
    assert reader.ids("probe") == {"a", "bad"}
    assert not _db(tmp_path).exists()
    writer = RecordStore(lay)
    writer.open_for_run()
    assert _db(tmp_path).exists() and not lay.records_dir.exists()
    assert not lay.record_snapshot.exists()
    moved = writer.get("embed:hog", "a")
    assert moved is not None and writer.components(moved) == {"stage": "embed:hog",
                                                               "config": {"fp": "3" * 64}}
    assert moved == _rec("embed:hog", "a", "3" * 64)
    assert writer.get("probe", "bad") is None
    assert writer.problem("probe", "bad").startswith("probe/bad.json: JSONDecodeError")
    writer.close()
    assert n_records(tmp_path) == 3


def test_reads_ahead_in_windows_and_plan_rows_in_id_order(tmp_path: Path,
                                                         monkeypatch: pytest.MonkeyPatch) -> None:
    """A pass in id order reads a stage in growing windows (a few queries, never the whole
    stage); a random read, a read between rows, a read after a put and a row whose body is not
    JSON all answer right; plan_rows gives (id, fingerprint, status, outputs, checksums) in id
    order with the JSON parts as SQLite writes them."""
    from emoprep.pipeline import records_db

    monkeypatch.setattr(records_db.Window, "MOST", 64)
    store = RecordStore(Layout(tmp_path))
    recs = [_rec("probe", f"v{i:05d}", f"{i:064d}") for i in range(0, 3000, 2)]  # even ids
    recs[7].outputs, recs[7].checksums = ["a.h5"], {"a.h5": {"size": 1}}
    store.put_many(recs)
    store.close()
    con = sqlite3.connect(_db(tmp_path))
    con.execute("UPDATE records SET body = 'not json' WHERE video_id = 'v00100'")
    con.commit()
    con.close()
    reader = RecordStore(Layout(tmp_path))
    windows = []
    real = records_db.Window.read.__func__  # type: ignore[attr-defined]
    monkeypatch.setattr(records_db.Window, "read", classmethod(
        lambda cls, *a: windows.append(a[2]) or real(cls, *a)))
    for i in range(3000):
        rec = reader.get("probe", f"v{i:05d}")
        if i % 2 or i == 100:
            assert rec is None, i
        else:
            assert rec is not None and rec.fingerprint == f"{i:064d}", i
    assert reader.problem("probe", "v00100").startswith("records.sqlite row probe/v00100")
    assert len(windows) < 40 and max(len(w.rows) for w in reader._ahead.values()) <= 64
    assert reader.get("probe", "v02998") is not None and reader.get("probe", "v00004") is not None
    rows = list(reader.plan_rows("probe") or ())
    assert [r[0] for r in rows] == sorted(r.video_id for r in recs)
    assert rows[7] == ("v00014", f"{14:064d}", "ok", '["a.h5"]', '{"a.h5":{"size":1}}')
    assert rows[50][3:] == (None, None)  # v00100: its body is not JSON
    writer = RecordStore(Layout(tmp_path))
    assert writer.get("probe", "v00001") is None
    writer.put(_rec("probe", "v00001", "9" * 64))
    writer._cache.clear()
    assert writer.get("probe", "v00001").fingerprint == "9" * 64  # type: ignore[union-attr]
    writer.close()


def test_the_generation_counts_every_write_by_any_writer(tmp_path: Path) -> None:
    from emoprep.pipeline import records_db as db

    store = RecordStore(Layout(tmp_path))
    store.put(_rec("probe", "a", "1" * 64))
    store.commit()
    ident, gen = store.generation().split(":")
    assert len(ident) == 16 and int(gen) == 1
    store.put(_rec("probe", "a", "2" * 64))  # replaced: counted
    store.delete("probe", "a")
    store.close()
    assert RecordStore(Layout(tmp_path)).generation() == f"{ident}:3"  # read-only: the same
    con = sqlite3.connect(_db(tmp_path))  # a writer that knows nothing of the counter
    con.execute("INSERT INTO records VALUES ('probe', 'b', ?, 'ok', '{}', x'')", ("3" * 64,))
    con.commit()
    assert db.generation(con) == f"{ident}:4"
    # a database of before the counter: none read-only; a run adds one (a new id)
    con.executescript("DROP TABLE meta; DROP TRIGGER records_insert; DROP TRIGGER records_update;"
                      " DROP TRIGGER records_delete;")
    con.close()
    assert RecordStore(Layout(tmp_path)).generation() == ""
    store = RecordStore(Layout(tmp_path))
    store.open_for_run()
    now = store.generation()
    assert now.endswith(":0") and not now.startswith(ident)
    store.close()
