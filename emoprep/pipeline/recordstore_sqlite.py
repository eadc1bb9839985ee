"""Records in one SQLite file (WAL mode) instead of one JSON file per (stage, video).

Same interface and semantics as :class:`~emoprep.pipeline.records.RecordStore` (``get``,
``problem``, ``put``, ``delete``, ``verify``, ``full``); only where the records live differs:
``<out>/.emoprep/records.sqlite``, table ``records(stage, video_id, body)`` where ``body`` is the
record's JSON. At 10,000 videos a plan reads 50,000 records: one ``SELECT`` instead of 50,000
file opens (see benchmarks/scale.py).

Crash safety: each ``put`` is one transaction, committed after the unit's outputs are in place; a
killed coordinator leaves the database as of its last commit (WAL), so an output without a record
is never taken as done. A body that cannot be parsed is remembered as the unit's problem and the
unit runs again, as with the JSON files. Records written by the JSON store are still read (a key
missing from the database falls back to its JSON file), and are moved into the database, in one
transaction, by the first ``put`` of a run.

Opening the store writes nothing (``status`` stays read-only): the database is created by the
first ``put``.
"""

from __future__ import annotations

import json
import sqlite3
from dataclasses import asdict

from emoprep.errors import DiskFullError, StoreError
from emoprep.io.layout import Layout
from emoprep.pipeline.records import Record, RecordStore
from emoprep.types import UnitStatus

FILE_NAME = "records.sqlite"
_SCHEMA = ("CREATE TABLE IF NOT EXISTS records (stage TEXT NOT NULL, video_id TEXT NOT NULL, "
           "body TEXT NOT NULL, PRIMARY KEY (stage, video_id)) WITHOUT ROWID")


class SqliteRecordStore(RecordStore):
    """:class:`RecordStore` backed by ``<out>/.emoprep/records.sqlite``."""

    snapshots = False  # one query reads them all already

    def __init__(self, layout: Layout) -> None:
        super().__init__(layout)
        self.db_path = layout.meta_dir / FILE_NAME
        self._rows: dict[tuple[str, str], str] | None = None  # raw bodies, loaded in one query
        self._db: sqlite3.Connection | None = None
        self._migrated = False
        self._legacy = (layout.meta_dir / "records").is_dir()  # JSON records may exist

    # -- reading ---------------------------------------------------------------------------------
    def _load(self) -> dict[tuple[str, str], str]:
        if self._rows is None:
            self._rows = {}
            if self.db_path.is_file():
                try:
                    con = sqlite3.connect(f"file:{self.db_path}?mode=ro", uri=True)
                    try:
                        rows = con.execute("SELECT stage, video_id, body FROM records").fetchall()
                    finally:
                        con.close()
                except sqlite3.Error as exc:
                    raise StoreError(f"record database {self.db_path}: cannot read ({exc}); "
                                     f"move it away to run every unit again") from exc
                self._rows = {(s, v): b for s, v, b in rows}
        return self._rows

    def get(self, stage: str, video_id: str) -> Record | None:
        key = (stage, video_id)
        if key not in self._cache:
            body = self._load().pop(key, None)  # parsed once: the raw text is not kept
            if body is None:  # not in the database: a record of the JSON store, if any
                self._cache[key] = (self._read(key, self.path(stage, video_id)) if self._legacy
                                    else None)
            else:
                self._cache[key] = self._parse(key, body)
        return self._cache[key]

    def _parse(self, key: tuple[str, str], body: str) -> Record | None:
        try:
            return Record(**json.loads(body))
        except (ValueError, TypeError, KeyError) as exc:
            self._problems[key] = f"{FILE_NAME} row {key}: {type(exc).__name__}: {str(exc)[:80]}"
            return None

    # -- writing (coordinator only, under the run lock) ------------------------------------------
    def _connect(self) -> sqlite3.Connection:
        if self._db is None:
            self.db_path.parent.mkdir(parents=True, exist_ok=True)
            db = sqlite3.connect(self.db_path, isolation_level=None)
            db.execute("PRAGMA journal_mode=WAL")
            db.execute(
                "PRAGMA synchronous=NORMAL"
            )  # WAL: consistent after a crash, no fsync per put
            db.execute(_SCHEMA)
            self._db = db
        if not self._migrated:
            self._migrated = True
            self._migrate(self._db)
        return self._db

    def _migrate(self, db: sqlite3.Connection) -> None:
        """Move the JSON store's records into the database (one transaction), then delete them."""
        folder = self.layout.meta_dir / "records"
        files = sorted(folder.glob("*/*.json")) if folder.is_dir() else []
        in_db = {(s, v) for s, v in db.execute("SELECT stage, video_id FROM records")}
        moved = []
        for p in files:
            try:
                data = json.loads(p.read_text(encoding="utf-8"))
                key = (data["stage"], data["video_id"])
            except (OSError, ValueError, KeyError, TypeError):
                continue  # unreadable: left where it is, read (and reported) by get()
            if key not in in_db:
                moved.append((key, json.dumps(data, sort_keys=True), p))
        self._write(db, [(k, body) for k, body, _ in moved])
        for key, body, p in moved:
            if key not in self._cache:  # not read yet: get() finds it among the loaded rows
                self._load()[key] = body
            p.unlink(missing_ok=True)

    def _write(self, db: sqlite3.Connection, rows: list[tuple[tuple[str, str], str]]) -> None:
        try:
            db.execute("BEGIN IMMEDIATE")
            db.executemany("INSERT OR REPLACE INTO records VALUES (?, ?, ?)",
                           [(s, v, body) for (s, v), body in rows])
            db.execute("COMMIT")
        except sqlite3.Error as exc:
            if db.in_transaction:
                db.execute("ROLLBACK")
            if "full" in str(exc).lower():
                raise DiskFullError(f"record database {self.db_path}: {exc}") from exc
            raise StoreError(f"record database {self.db_path}: cannot write ({exc})") from exc

    def put(self, rec: Record) -> None:
        """Write a record in its own transaction (see :meth:`RecordStore.put` for disk-full)."""
        if rec.status is UnitStatus.OK:
            self._fill_checksums(rec)
        key, body = (rec.stage, rec.video_id), json.dumps(asdict(rec), sort_keys=True, default=str)
        unit = f"unit {rec.stage} of video {rec.video_id}"
        try:
            self._write(self._connect(), [(key, body)])
        except DiskFullError as exc:
            raise DiskFullError(f"{unit}: its record could not be written: {exc}") from exc
        self._load().pop(key, None)
        self._cache[key] = rec
        self._problems.pop(key, None)
        if rec.error_type == DiskFullError.__name__:
            raise DiskFullError(
                f"{unit}: {rec.error.splitlines()[0] if rec.error else 'disk full'}"
            )

    def delete(self, stage: str, video_id: str) -> None:
        db = self._connect()
        db.execute("DELETE FROM records WHERE stage = ? AND video_id = ?", (stage, video_id))
        self._load().pop((stage, video_id), None)
        self.path(stage, video_id).unlink(missing_ok=True)
        self._cache[(stage, video_id)] = None

    def close(self) -> None:
        if self._db is not None:
            self._db.close()
            self._db = None

