"""The records database: one SQLite file, ``<out>/.emoprep/records.sqlite``, one row per (stage,
video) unit, and the one-time migration of the JSON record files of older output folders.

Durability: a ``run`` opens it in WAL mode with ``synchronous=FULL`` (a commit is on disk when
``commit`` returns: SQLite fsyncs the WAL) and commits puts in transactions
(:class:`~emoprep.pipeline.records.RecordStore` decides when); at its end it checkpoints and
switches back to the rollback journal, so a folder at rest is one file that ``status`` opens
read-only (``mode=ro``) without creating any file. A kill -9 leaves the WAL, which the next open
replays (committed transactions only).

Migration: a folder made before the database holds ``.emoprep/records/<stage>/<video>.json``
files (and ``records.snapshot.json``). The first open for writing (``run``) builds the database
from them in a temporary file, fsyncs it, renames it into place, and only then removes the JSON
files; a run killed in between finds the database and removes the files left. A file that does not
parse is kept as an unreadable row, so its unit still runs again with the reason. ``status``
never migrates: it reads the JSON files while no database exists (:mod:`.records_legacy`).
"""

from __future__ import annotations

import json
import os
import shutil
import sqlite3
import time
import zlib
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any

from emoprep.io.atomic import fsync_path
from emoprep.io.layout import Layout
from emoprep.pipeline.records_legacy import BODY_FIELDS, legacy_rows

#: format of the database (``PRAGMA user_version``): 2 since issue 22 (the same columns in a
#: table clustered by (stage, video id): a plan reads a stage's rows in one sequential scan, three
#: times faster than through version 1's separate key index); version 1 is read as it is and
#: migrated by the first ``run`` (:func:`_migrate`); any other value is an error naming the file
DB_VERSION = 2
READABLE = (1, 2)
DB_NAME = "records.sqlite"

SCHEMA = """
CREATE TABLE IF NOT EXISTS {table} (
    stage TEXT NOT NULL,
    video_id TEXT NOT NULL,
    fingerprint TEXT NOT NULL,
    status TEXT NOT NULL,
    body TEXT NOT NULL,        -- JSON: error, error_type, outputs, summary, seconds, checksums
    components BLOB NOT NULL,  -- zlib'd JSON: what the fingerprint hashed (to explain a change)
    PRIMARY KEY (stage, video_id)
) WITHOUT ROWID
"""


def db_path(layout: Layout) -> Path:
    return layout.meta_dir / DB_NAME


def connect_ro(path: Path) -> sqlite3.Connection:
    """The database opened read-only (``status``, the report): creates no file."""
    con = sqlite3.connect(f"file:{path}?mode=ro", uri=True, timeout=30)
    _check_version(con, path)
    return con


def connect_rw(layout: Layout) -> sqlite3.Connection:
    """The database opened for a run: created or migrated from JSON record files first; WAL,
    ``synchronous=FULL``; a transaction is opened by the first write (no autocommit)."""
    path = db_path(layout)
    for stale in layout.meta_dir.glob(f".{DB_NAME}.tmp*"):  # a migration killed before its rename
        stale.unlink(missing_ok=True)
    if not path.exists():
        _create(layout, path)
    con = sqlite3.connect(path, timeout=30, isolation_level="DEFERRED")
    version = _check_version(con, path)
    con.execute("PRAGMA journal_mode=WAL")
    con.execute("PRAGMA synchronous=FULL")
    if version != DB_VERSION:
        _migrate(con)
    _count_changes(con)
    _remove_legacy(layout)  # migrated files a killed migration left behind
    return con


#: a generation counter of the records table, kept by SQLite itself (triggers live in the file, so
#: any writer, an older emoprep too, counts): ``id`` (random, new with each database) and
#: ``generation`` (+1 per row written or deleted); what an index was built from
#: (pipeline/indexes.py: a no-op run compares it and rebuilds nothing)
COUNTER = """
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value NOT NULL);
INSERT OR IGNORE INTO meta VALUES ('id', lower(hex(randomblob(8)))), ('generation', 0);
""" + "".join(f"""
CREATE TRIGGER IF NOT EXISTS records_{op.lower()} AFTER {op} ON records BEGIN
UPDATE meta SET value = value + 1 WHERE key = 'generation'; END;""" for op in ("INSERT", "UPDATE",
                                                                           "DELETE"))


def _count_changes(con: sqlite3.Connection) -> None:
    """Create the counter and its triggers where missing (a database of before them: its index
    stamps name no generation, so the next index check rebuilds once)."""
    if con.execute("SELECT count(*) FROM sqlite_master WHERE type = 'trigger'").fetchone()[0] < 3:
        con.executescript(COUNTER)  # commits: its own transaction, before any record is put


def generation(con: sqlite3.Connection) -> str:
    """``<database id>:<generation>``: changes with every committed write to the records (this
    connection's uncommitted ones too); "" for a database without the counter."""
    try:
        rows = dict(con.execute("SELECT key, value FROM meta"))
    except sqlite3.OperationalError:
        return ""
    return f"{rows.get('id', '')}:{rows.get('generation', '')}"


def connect_rw_or_set_aside(layout: Layout) -> tuple[sqlite3.Connection, str]:
    """:func:`connect_rw`; a database that cannot be opened is renamed
    ``records.sqlite.unreadable-<time>`` and a new one started: (connection, why it was set
    aside or "")."""
    try:
        return connect_rw(layout), ""
    except sqlite3.DatabaseError as exc:
        path = db_path(layout)
        moved = path.with_name(f"{DB_NAME}.unreadable-{int(time.time())}")
        os.replace(path, moved)
        for extra in ("-wal", "-shm"):
            Path(f"{path}{extra}").unlink(missing_ok=True)
        why = f"{DB_NAME}: {type(exc).__name__}: {str(exc)[:120]} (set aside as {moved.name})"
        return connect_rw(layout), why


def close_rw(con: sqlite3.Connection) -> None:
    """Commit, checkpoint the WAL into the file and leave it in rollback-journal mode (one file,
    readable read-only); a concurrent reader that blocks the switch only leaves the WAL in place."""
    commit(con)
    try:
        con.execute("PRAGMA journal_mode=DELETE")
    except sqlite3.OperationalError:
        pass  # busy: the WAL stays; the next open replays or reads it
    con.close()


def _check_version(con: sqlite3.Connection, path: Path) -> int:
    version = int(con.execute("PRAGMA user_version").fetchone()[0])
    if version not in READABLE:
        con.close()
        raise sqlite3.DatabaseError(f"{path}: records format {version}, expected {DB_VERSION}")
    return version


def _migrate(con: sqlite3.Connection) -> None:
    """Version 1 -> 2: the rows copied into a table clustered by its key, in one transaction
    (a kill leaves version 1 as it was; the next run migrates again)."""
    con.execute("BEGIN IMMEDIATE")
    try:
        con.execute("DROP TABLE IF EXISTS records_v2")
        con.execute(SCHEMA.format(table="records_v2"))
        con.execute("INSERT INTO records_v2 SELECT stage, video_id, fingerprint, status, body, "
                    "components FROM records")
        con.execute("DROP TABLE records")
        con.execute("ALTER TABLE records_v2 RENAME TO records")
        con.execute(f"PRAGMA user_version={DB_VERSION}")
        commit(con)
    except BaseException:
        con.rollback()
        raise


def _create(layout: Layout, path: Path) -> None:
    """Build the database in a temporary file (from the JSON records, if any), fsync, rename."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{DB_NAME}.tmp{os.getpid()}")
    con = sqlite3.connect(tmp, isolation_level="DEFERRED")
    try:
        con.execute("PRAGMA journal_mode=DELETE")
        con.execute("PRAGMA synchronous=FULL")
        con.execute(SCHEMA.format(table="records"))
        con.execute(f"PRAGMA user_version={DB_VERSION}")
        put_rows(con, ((*row[:5], pack(row[5])) for row in legacy_rows(layout)))
        con.commit()
    finally:
        con.close()
    fsync_path(tmp)
    os.replace(tmp, path)
    fsync_path(path.parent)


def _remove_legacy(layout: Layout) -> None:
    """The JSON records and snapshot of before the database (after it holds them)."""
    if layout.records_dir.is_dir():
        shutil.rmtree(layout.records_dir)
    layout.record_snapshot.unlink(missing_ok=True)


def put_rows(con: sqlite3.Connection, rows: Iterable[tuple[Any, ...]]) -> None:
    con.executemany("INSERT OR REPLACE INTO records VALUES (?, ?, ?, ?, ?, ?)", rows)


class Window:
    """The rows of one stage read ahead from a video id on, in video id order: ``rows`` (video
    id -> (fingerprint, status, body)) holds every row of the stage from ``first`` to ``last``
    (to the stage's end when ``complete``). Each miss reads a new window; one that goes on
    forward from the last reads four times as many rows (up to :attr:`MOST`), so a pass over a
    stage in id order (the plan's slow units, the index rebuild) costs one query per thousands
    of rows and holds at most that many, and a random read stays about a point query."""

    FEW, MOST = 8, 4096

    def __init__(self, rows: list[tuple[str, str, str, str]], first: str, n: int) -> None:
        self.rows = {r[0]: r[1:] for r in rows}
        self.first, self.n = first, n
        self.last = rows[-1][0] if rows else first
        self.complete = len(rows) < n

    def covers(self, video_id: str) -> bool:
        return self.first <= video_id and (self.complete or video_id <= self.last)

    @classmethod
    def read(cls, con: sqlite3.Connection, stage: str, video_id: str,
             before: Window | None) -> Window:
        forward = before is not None and video_id > before.last
        n = min(before.n * 4, cls.MOST) if forward and before is not None else cls.FEW
        rows = con.execute("SELECT video_id, fingerprint, status, body FROM records "
                           "WHERE stage = ? AND video_id >= ? ORDER BY video_id LIMIT ?",
                           (stage, video_id, n)).fetchall()
        return cls(rows, video_id, n)


def pack(components_json: str) -> bytes:
    """Components as stored: zlib'd JSON (about a third of the text; read only to explain a
    fingerprint change)."""
    return zlib.compress(components_json.encode(), 1)


def unpack(blob: bytes) -> dict[str, Any]:
    return json.loads(zlib.decompress(blob))


def get_components(con: sqlite3.Connection, stage: str, video_id: str) -> dict[str, Any] | None:
    row = con.execute("SELECT components FROM records WHERE stage = ? AND video_id = ?",
                      (stage, video_id)).fetchone()
    return None if row is None else unpack(row[0])


def delete_row(con: sqlite3.Connection, stage: str, video_id: str) -> None:
    con.execute("DELETE FROM records WHERE stage = ? AND video_id = ?", (stage, video_id))


def all_rows(con: sqlite3.Connection) -> Iterator[tuple[Any, ...]]:
    """Every row, in (stage, video id) order."""
    yield from con.execute("SELECT stage, video_id, fingerprint, status, body, components "
                           "FROM records ORDER BY stage, video_id")


def to_row(rec: Any) -> tuple[Any, ...]:
    """The row of a :class:`~emoprep.pipeline.records.Record` (components filled in)."""
    body = {f: getattr(rec, f) for f in BODY_FIELDS}
    return (rec.stage, rec.video_id, rec.fingerprint, rec.status.value,
            json.dumps(body, separators=(",", ":"), sort_keys=True, default=str),
            pack(json.dumps(rec.components or {}, separators=(",", ":"), sort_keys=True,
                            default=str)))


def is_full(exc: sqlite3.OperationalError) -> bool:
    """True for SQLite's "database or disk is full" (SQLITE_FULL, 13)."""
    return getattr(exc, "sqlite_errorcode", None) == 13 or "full" in str(exc)


def commit(con: sqlite3.Connection) -> None:
    """Make the open transaction durable (one module-level point: tests/reliability/kill_at.py
    kills a run just before its N-th commit)."""
    con.commit()


def plan_rows(con: sqlite3.Connection, stage: str) -> Iterator[tuple[Any, ...]]:
    """(video id, fingerprint, status, outputs JSON, checksums JSON) of every unit of ``stage``
    in video id order (the primary key's order: no sort); the JSON parts taken out of the body
    by SQLite (NULL for a body that is not JSON, or without them: see :func:`whole`)."""
    yield from con.execute(
        "SELECT video_id, fingerprint, status, "
        "CASE WHEN json_valid(body) THEN json_extract(body, '$.outputs') END, "
        "CASE WHEN json_valid(body) THEN json_extract(body, '$.checksums') END "
        "FROM records WHERE stage = ? ORDER BY video_id", (stage,))


def whole(row: tuple[Any, ...]) -> bool:
    """True when a row of :func:`plan_rows` has its outputs (a list) and checksums (an object):
    a record every writer leaves; anything else (a damaged body, a record of an older format)
    is read whole, one by one."""
    return (row[3] is not None and row[3][:1] == "[" and row[4] is not None
            and row[4][:1] == "{")


def summary_values(con: sqlite3.Connection, stage: str, key: str) -> dict[str, Any]:
    """video id -> ``summary[key]`` of the records of ``stage`` that have it (``key``: a plain
    name, no dots or quotes)."""
    rows = con.execute(
        "SELECT video_id, json_extract(body, ?) FROM records WHERE stage = ? "
        "AND status != 'unreadable' AND json_valid(body)", (f"$.summary.{key}", stage))
    return {vid: value for vid, value in rows if value is not None}
