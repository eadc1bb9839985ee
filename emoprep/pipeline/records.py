"""Per-(stage, video) records: the fingerprint, outcome and output checksums of a unit's last run.

Records live in one SQLite database per output folder (:mod:`.records_db`,
``.emoprep/records.sqlite``, one row per unit), written by the coordinator only, after the unit's
outputs are in place, so an output without a record is never taken as done. Puts are committed in
transactions: at once for a unit that took :data:`COMMIT_SECONDS` or more, else after
:data:`COMMIT_EVERY` puts or :data:`COMMIT_SECONDS` since the first uncommitted one, and at the end
of the run; a kill loses at most those uncommitted records, whose units run again. A record that
cannot be read is remembered with its reason (``status`` shows "record unreadable"), and its unit
runs again; a database that cannot be opened at all is set aside by ``run`` (every unit runs
again, each with that reason).

Each output's size, mtime and sha256 are kept (:attr:`Record.checksums`; :mod:`.stamps`). Older
folders hold one JSON file per record: ``status`` reads them, the first ``run`` moves them in. A
failure keeps its kind (:class:`FailureKind`): a data one is not retried until an input changes.
"""

from __future__ import annotations

import json
import os
import sqlite3
import time
import zlib
from collections import OrderedDict
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from enum import Enum
from typing import Any

from emoprep.errors import DiskFullError
from emoprep.io.layout import Layout, stage_dirname
from emoprep.pipeline import records_db as db
from emoprep.pipeline.records_legacy import UNREADABLE_STATUS, legacy_files, read_json, scan_files
from emoprep.pipeline.stamps import CORRUPT as CORRUPT
from emoprep.pipeline.stamps import check_outputs, fill_checksums
from emoprep.types import UnitStatus

#: key of a worker's summary that carries the outputs' checksums to the record
CHECKSUM_KEY = "_checksums"


class FailureKind(str, Enum):
    """Why a unit failed, which decides whether an unchanged re-run retries it."""

    DATA = "data"  #: the input itself (no face, undecodable, empty): not retried until it changes
    ENVIRONMENT = "environment"  #: worker lost, I/O error, out of memory, a bug: retried


#: error types (exception class names) caused by the data (FrameCountError: the header's frame
#: count and the decoded one differ under ``probe.on_count_mismatch: fail``)
DATA_ERRORS = frozenset({"NoFaceError", "VideoError", "FrameCountError"})


def failure_kind(error_type: str) -> FailureKind:
    """:attr:`FailureKind.DATA` for :data:`DATA_ERRORS`, else :attr:`FailureKind.ENVIRONMENT`."""
    return FailureKind.DATA if error_type in DATA_ERRORS else FailureKind.ENVIRONMENT


@dataclass
class Record:
    stage: str
    video_id: str
    fingerprint: str
    #: None until asked for: :meth:`RecordStore.components` reads them when a plan needs them
    components: dict[str, Any] | None
    status: UnitStatus
    error: str = ""
    error_type: str = ""
    outputs: list[str] = field(default_factory=list)  # relative to the output folder
    summary: dict[str, Any] = field(default_factory=dict)
    seconds: float = 0.0
    #: output (relative path) -> {"size": bytes, "mtime_ns": int, "sha256": hex}
    checksums: dict[str, dict[str, Any]] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self.status = UnitStatus(self.status)
        if CHECKSUM_KEY in self.summary:  # handed over by the worker (see worker.execute)
            self.summary = dict(self.summary)
            self.checksums = {**self.summary.pop(CHECKSUM_KEY), **self.checksums}

    @property
    def failure(self) -> FailureKind | None:
        """The kind of failure, or None for a unit that succeeded."""
        return None if self.status is UnitStatus.OK else failure_kind(self.error_type)


def _guarded(rows: Iterator[Any]) -> Iterator[Any]:
    try:
        yield from rows
    except sqlite3.DatabaseError:
        return


#: records kept in memory (a plan asks for each a few times; a million would not fit)
CACHE_SIZE = 20_000
#: puts after which a transaction is committed; seconds of a unit's work that commit it at once,
#: and seconds after the first uncommitted put by which its transaction is committed
COMMIT_EVERY, COMMIT_SECONDS = 256, 1.0
Key = tuple[str, str]
#: a row of :meth:`RecordStore.plan_rows`
PlanRow = tuple[str, str, str, str | None, str | None]


class RecordStore:
    """Reads and writes the records of an output folder (see the module's docstring).

    Read-only until :meth:`open_for_run` (``run`` calls it under the run lock, before planning;
    :meth:`put` and :meth:`delete` call it too); :meth:`close` commits and leaves the database
    as one file.
    """

    def __init__(self, layout: Layout) -> None:
        self.layout = layout
        self._con: sqlite3.Connection | None = None
        self._rw = False
        self._legacy = False  # no database: the JSON record files are read (status only)
        self._opened = False
        #: why the whole database could not be read ("" when it could)
        self._store_problem = ""
        self._cache: OrderedDict[Key, Record | None] = OrderedDict()
        #: stage -> the rows read ahead of the last miss (:class:`records_db.Window`: a point
        #: query per unit cost more than the rest of a plan; a whole stage of a million units
        #: does not fit); dropped when the stage's records change
        self._ahead: dict[str, db.Window] = {}
        self._problems: dict[Key, str] = {}
        self._pending, self._pending_since = 0, 0.0
        #: ``full``: :meth:`verify` reads every output in full (``status --verify``, ``run
        #: --verify``); ``hold``: puts wait for a :meth:`commit` (a batch's records: together)
        self.full = self.hold = False

    # -- opening and closing ---------------------------------------------------------------------
    def _connection(self) -> sqlite3.Connection | None:
        """The database (read-only unless opened for a run); None without one."""
        if self._opened:
            return self._con
        self._opened = True
        path = db.db_path(self.layout)
        if path.exists():
            try:
                self._con = db.connect_ro(path)
            except sqlite3.DatabaseError as exc:
                self._store_problem = f"{db.DB_NAME}: {type(exc).__name__}: {str(exc)[:120]}"
        else:
            self._legacy = self.layout.records_dir.is_dir()
        return self._con

    def open_for_run(self) -> None:
        """Open the database for writing (created, or migrated from JSON record files, first).
        One that cannot be opened is renamed ``records.sqlite.unreadable-<time>`` and a new one
        started: every unit runs again, with that reason in its record's place."""
        if self._rw:
            return
        self._drop_connection()
        self._con, problem = db.connect_rw_or_set_aside(self.layout)
        self._store_problem = problem or self._store_problem
        self._rw = self._opened = True
        self._legacy = False
        self._ahead.clear()
        self._cache.clear()
        self._problems.clear()

    def _drop_connection(self) -> None:
        if self._con is not None:
            self._con.close()
        self._con, self._opened = None, False
        self._ahead.clear()

    def commit(self) -> None:
        """Make every put so far durable (:class:`DiskFullError` when the disk is full: the puts
        since the last commit are lost, and their units run again next time)."""
        pending, self._pending = self._pending, 0
        if self._rw and self._con is not None and pending:
            try:
                db.commit(self._con)
            except sqlite3.OperationalError as exc:
                if db.is_full(exc):
                    raise DiskFullError(
                        f"file {db.db_path(self.layout)}: the file system is full ({exc}); the "
                        "records committed before are kept (fix: free space and run again)"
                    ) from exc
                raise

    def close(self, quiet: bool = False) -> None:
        """Commit and close (the run's end; a later read opens the database read-only again).
        ``quiet``: a run that is stopping already: a failed commit only loses its puts."""
        if not (self._rw and self._con is not None):
            return self._drop_connection()
        try:
            self.commit()
            db.close_rw(self._con)
        except (DiskFullError, sqlite3.Error):
            self._con.close()
            if not quiet:
                raise
        finally:
            self._rw = False
            self._drop_connection()

    # -- reading ---------------------------------------------------------------------------------
    def get(self, stage: str, video_id: str) -> Record | None:
        """The record, or None when there is none or it cannot be read (see :meth:`problem`)."""
        key = (stage, video_id)
        if key in self._cache:
            self._cache.move_to_end(key)
            return self._cache[key]
        rec = self._lookup(key)
        self._remember(key, rec)
        return rec

    def _remember(self, key: Key, rec: Record | None) -> None:
        self._cache[key] = rec
        if len(self._cache) > CACHE_SIZE:
            self._cache.popitem(last=False)

    def _lookup(self, key: Key) -> Record | None:
        con = self._connection()
        if con is None:
            return self._read_file(key) if self._legacy else None
        try:
            win = self._ahead.get(key[0])
            if win is None or not win.covers(key[1]):
                win = self._ahead[key[0]] = db.Window.read(con, key[0], key[1], win)
            row = win.rows.get(key[1])
        except sqlite3.DatabaseError as exc:
            self._problems[key] = f"{db.DB_NAME}: {type(exc).__name__}: {str(exc)[:80]}"
            return None
        return None if row is None else self._from_row(key, *row)

    def _from_row(self, key: Key, fingerprint: str, status: str, body: str) -> Record | None:
        if status == UNREADABLE_STATUS:  # a JSON file that did not parse, migrated as it was
            self._problems[key] = body
            return None
        try:
            return Record(key[0], key[1], fingerprint, None, UnitStatus(status), **json.loads(body))
        except (ValueError, TypeError) as exc:
            self._problems[key] = (f"{db.DB_NAME} row {stage_dirname(key[0])}/{key[1]}: "
                                   f"{type(exc).__name__}: {str(exc)[:80]}")
            return None

    def _read_file(self, key: Key) -> Record | None:
        path = self.layout.record_file(*key)
        try:
            return Record(**read_json(path))
        except FileNotFoundError:
            return None
        except (OSError, ValueError, TypeError, KeyError) as exc:
            name = os.path.basename(path)
            self._problems[key] = f"{name}: {type(exc).__name__}: {str(exc)[:80]}"
            return None

    def components(self, rec: Record) -> dict[str, Any]:
        """A record's components, read when first asked for (``{}`` if they cannot be read)."""
        if rec.components is None:
            rec.components = {}
            key = (rec.stage, rec.video_id)
            try:
                con = self._connection()
                if con is not None:
                    rec.components = db.get_components(con, *key) or {}
                elif self._legacy:
                    rec.components = read_json(self.layout.record_file(*key))["components"]
            except (OSError, ValueError, KeyError, sqlite3.DatabaseError, zlib.error):
                pass
        return rec.components or {}

    def generation(self) -> str:
        """What the records are at (:func:`records_db.generation`; "" without a database)."""
        return "" if (con := self._connection()) is None else db.generation(con)

    def problem(self, stage: str, video_id: str) -> str:
        """Why the record of a unit could not be read ("" when it was read or does not exist)."""
        if self.get(stage, video_id) is None and self._store_problem:
            return self._problems.get((stage, video_id), self._store_problem)
        return self._problems.get((stage, video_id), "")

    def plan_rows(self, stage: str) -> Iterator[PlanRow] | None:
        """(video id, fingerprint, status, outputs JSON, checksums JSON) of every record of
        ``stage``, in video id order, from one query (no record object, no JSON parsed in
        Python); None without a database (then a plan asks :meth:`get` per unit). A row whose
        body is not whole comes with no fingerprint (its unit is read one by one, and found
        unreadable); one that cannot be read ends the iteration (the rest: one by one)."""
        con = self._connection()
        if con is None:
            return None
        return _guarded(r if db.whole(r) else (r[0], "", "", None, None)
                        for r in db.plan_rows(con, stage))

    def summary_values(self, stage: str, key: str) -> dict[str, Any] | None:
        """video id -> ``summary[key]`` of every readable record of ``stage`` that has it, in one
        query (batch membership, the probe's frame counts); None without a database."""
        con = self._connection()
        try:
            return None if con is None else db.summary_values(con, stage, key)
        except sqlite3.DatabaseError:
            return None

    def ids(self, stage: str) -> set[str]:
        """The video ids with a record of ``stage`` (readable or not)."""
        if (con := self._connection()) is None:
            return {p.stem for d, p in legacy_files(self.layout) if d == stage_dirname(stage)}
        try:
            return {r[0] for r in con.execute("SELECT video_id FROM records WHERE stage = ?",
                                              (stage,))}
        except sqlite3.DatabaseError:
            return set()

    def scan(self, folders: Callable[[str], bool] | None = None
             ) -> tuple[list[Record], list[str]]:
        """Every record of the output folder, read whole (components included): (records,
        problems). Stage folders (:func:`~emoprep.io.layout.stage_dirname`) in name order, videos
        in name order, only the folders ``folders`` accepts when it is given; a record that cannot
        be read gives ``"<stage folder>/<video>: why"`` in problems. For the readers of a finished
        run (the report, the training glue); a plan uses :meth:`get`."""
        con = self._connection()
        if con is None:
            return scan_files(self.layout, Record, folders)
        rows = sorted(db.all_rows(con), key=lambda r: (stage_dirname(r[0]), r[1]))
        records, problems = [], []
        for stage, vid, fp, status, body, comps in rows:
            if folders is not None and not folders(stage_dirname(stage)):
                continue
            try:
                if status == UNREADABLE_STATUS:
                    raise ValueError(body)
                records.append(Record(stage, vid, fp, db.unpack(comps), status,
                                      **json.loads(body)))
            except (ValueError, TypeError, zlib.error) as exc:
                problems.append(f"{stage_dirname(stage)}/{vid}: {type(exc).__name__}: "
                                f"{str(exc)[:80]}")
        return records, problems

    # -- writing ---------------------------------------------------------------------------------
    def put(self, rec: Record) -> None:
        """Write a record. A disk-full failure of the unit, or of this write, stops the run:
        :class:`DiskFullError` naming the unit (the record of a disk-full unit is written and
        committed first when there is room, so ``status`` shows it; it is retried)."""
        if rec.status is UnitStatus.OK:
            fill_checksums(self.layout.root, rec.outputs, rec.checksums)
        self.components(rec)  # a record read without them is written whole
        self.open_for_run()
        assert self._con is not None
        unit = f"unit {rec.stage} of video {rec.video_id}"
        disk_full = rec.error_type == DiskFullError.__name__
        try:
            db.put_rows(self._con, [db.to_row(rec)])
            self._pending += 1
            if self._pending == 1:
                self._pending_since = time.monotonic()
            if disk_full or self._due(rec.seconds):
                self.commit()
        except (DiskFullError, sqlite3.OperationalError) as exc:
            if isinstance(exc, sqlite3.OperationalError) and not db.is_full(exc):
                raise
            raise DiskFullError(f"{unit}: its record could not be written: {exc}") from exc
        key = (rec.stage, rec.video_id)
        self._remember(key, rec)
        self._ahead.pop(rec.stage, None)
        self._problems.pop(key, None)
        if disk_full:
            first = rec.error.splitlines()[0] if rec.error else "disk full"
            raise DiskFullError(f"{unit}: {first}")

    def _due(self, seconds: float) -> bool:
        return not self.hold and (self._pending >= COMMIT_EVERY or seconds >= COMMIT_SECONDS
                                  or time.monotonic() - self._pending_since >= COMMIT_SECONDS)

    def put_many(self, recs: list[Record]) -> None:
        """Write many records in one transaction (benchmarks, migrations): no checksums filled."""
        self.open_for_run()
        assert self._con is not None
        db.put_rows(self._con, (db.to_row(r) for r in recs))
        self._pending += len(recs)
        self.commit()
        for r in recs:
            self._cache.pop((r.stage, r.video_id), None)
            self._ahead.pop(r.stage, None)

    def delete(self, stage: str, video_id: str) -> None:
        self.open_for_run()
        assert self._con is not None
        db.delete_row(self._con, stage, video_id)
        self._ahead.pop(stage, None)
        self._pending += 1
        self.commit()
        self._remember((stage, video_id), None)

    def verify(self, rec: Record, full: bool | None = None) -> str:
        """Why an ok record's outputs cannot be trusted ("" when they can; see
        :func:`~emoprep.pipeline.stamps.check_outputs`); ``full`` (default :attr:`full`): read
        every output in full."""
        return check_outputs(self.layout.root_str, rec.outputs, rec.checksums,
                             self.full if full is None else full)

    def verify_json(self, outputs: str | None, checksums: str | None) -> str:
        """:meth:`verify` of a record given by the JSON of its outputs and checksums (a row of
        :meth:`plan_rows`)."""
        return check_outputs(self.layout.root_str, json.loads(outputs or "[]"),
                             json.loads(checksums or "{}"), self.full)
