"""Per-(stage, video) records: the fingerprint, outcome and output checksums of a unit's last run.

Records are JSON files written atomically by the coordinator only, after the unit's outputs are
in place, so an output without a record is never taken as done. A record that cannot be read is
remembered with its reason (``status`` shows "record unreadable"), and its unit runs again.

Each output's size, mtime and sha256 are kept (:attr:`Record.checksums`), so a corrupt output is
found cheaply (:meth:`RecordStore.verify`).

The files are the truth; a run also leaves a snapshot of them (``.emoprep/records.snapshot.json``:
every record but its components, with the file's inode, size, mtime and ctime), so a plan over
10,000 videos stats 50,000 record files instead of opening and parsing them. A record whose file
does not match its snapshot entry exactly, or has none, is read from its file; components are read
from the file only when a fingerprint differs (to say what changed). A damaged or foreign snapshot
only costs reading the files. Only ``run`` writes it (``status`` stays read-only).

A failure is remembered with its kind (:class:`FailureKind`): one caused by the data is not retried
until an input or setting changes.
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from enum import Enum
from pathlib import Path
from typing import Any

from emoprep.errors import DiskFullError, EmoprepError
from emoprep.io.atomic import atomic_write_text, check_stamp, is_disk_full, stamp_file
from emoprep.io.layout import Layout
from emoprep.types import UnitStatus

#: key of a worker's summary that carries the outputs' checksums to the record
CHECKSUM_KEY = "_checksums"
#: how a reason about a corrupt output starts (``status`` and the plan use it)
CORRUPT = "output corrupt"


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
    #: None for a record served from the snapshot: :meth:`RecordStore.components` reads them
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


#: format of the record snapshot; another value is ignored (the files are read)
SNAPSHOT_VERSION = 2
#: a snapshot entry: the record file's stamp (:func:`_stamp`), then these fields of its record
_SNAP_FIELDS = ("fingerprint", "status", "error", "error_type", "outputs", "summary", "seconds",
                "checksums")
_ENTRY_LEN = 4 + len(_SNAP_FIELDS)

Stamp = list[int]


def _stamp(st: os.stat_result) -> Stamp:
    """What identifies a record file's content: inode (an atomic write makes a new one), size,
    mtime and ctime (which no tool can set back)."""
    return [st.st_ino, st.st_size, st.st_mtime_ns, st.st_ctime_ns]


def _from_entry(stage: str, video_id: str, e: list[Any]) -> Record | None:
    """The record of a snapshot entry (a list of :data:`_ENTRY_LEN`) whose stamp matched,
    components left to be read; None for fields of the wrong types."""
    if type(e[8]) is not list or type(e[11]) is not dict:
        return None
    try:  # Record's field order: components (None) between fingerprint and status
        return Record(stage, video_id, e[4], None, e[5], e[6], e[7], e[8], e[9], e[10], e[11])
    except (TypeError, ValueError):
        return None


class RecordStore:
    """Reads and writes records under ``<out>/.emoprep/records/<stage>/<video_id>.json``."""

    def __init__(self, layout: Layout) -> None:
        self.layout = layout
        # each record file is read once per session; put/delete keep this in step (only the
        # coordinator writes records, and it holds the run lock)
        self._cache: dict[tuple[str, str], Record | None] = {}
        self._problems: dict[tuple[str, str], str] = {}
        #: the stamp of the file each cached record was read from or written to
        self._stamps: dict[tuple[str, str], Stamp] = {}
        self._snapshot: dict[str, dict[str, list[Any]]] | None = None  # loaded by the first get
        self._dirty = False  # a record was read from its file, written or deleted
        #: :meth:`verify` reads every output in full (``status --verify``, ``run --verify``)
        self.full = False

    def path(self, stage: str, video_id: str) -> Path:
        return self.layout.record(stage, video_id)

    def get(self, stage: str, video_id: str) -> Record | None:
        """The record, or None when there is none or it cannot be read (see :meth:`problem`)."""
        key = (stage, video_id)
        if key not in self._cache:
            self._cache[key] = self._lookup(key, self.layout.record_file(stage, video_id))
        return self._cache[key]

    def components(self, rec: Record) -> dict[str, Any]:
        """A record's components, read from its file if it came from the snapshot (``{}`` if that
        file can no longer be read)."""
        if rec.components is None:
            fresh = self._read((rec.stage, rec.video_id),
                               self.layout.record_file(rec.stage, rec.video_id), quiet=True)
            rec.components = fresh.components if fresh is not None else {}
        return rec.components or {}

    def _lookup(self, key: tuple[str, str], p: str) -> Record | None:
        """From the snapshot when the file's stamp matches its entry, else from the file."""
        try:
            st = os.stat(p)
        except FileNotFoundError:
            return None
        except OSError:
            return self._read(key, p)  # says why
        stage = self._snapshot_entries().get(key[0])
        e = stage.pop(key[1], None) if stage else None  # dropped once used: memory
        stamp = _stamp(st)
        if (type(e) is list and len(e) == _ENTRY_LEN and e[:4] == stamp
                and (rec := _from_entry(*key, e))):
            self._stamps[key] = stamp
            return rec
        return self._read(key, p)

    def _snapshot_entries(self) -> dict[str, dict[str, list[Any]]]:
        """stage -> video id -> entry ({} without a readable snapshot of this version)."""
        if self._snapshot is None:
            self._snapshot = {}
            try:
                with open(self.layout.record_snapshot, "rb") as fh:
                    data = json.loads(fh.read())
                if isinstance(data, dict) and data.get("version") == SNAPSHOT_VERSION:
                    stages = data.get("stages")
                    if isinstance(stages, dict):
                        self._snapshot = {k: v for k, v in stages.items() if isinstance(v, dict)}
            except (OSError, ValueError):
                pass  # none yet, or damaged: the files are read
        return self._snapshot

    def save_snapshot(self) -> None:
        """Write the snapshot of every record this session read or wrote (the run calls it at its
        end; a failure to write it costs the next plan only time)."""
        if not self._dirty:
            return
        stages: dict[str, dict[str, list[Any]]] = {}
        for (stage, vid), rec in self._cache.items():
            stamp = self._stamps.get((stage, vid))
            if rec is not None and stamp is not None:
                stages.setdefault(stage, {})[vid] = [*stamp,
                                                     *(getattr(rec, f) for f in _SNAP_FIELDS)]
        text = json.dumps({"version": SNAPSHOT_VERSION, "stages": stages},
                          separators=(",", ":"), default=str)
        try:
            atomic_write_text(self.layout.record_snapshot, text)
        except (OSError, EmoprepError):  # a full disk, say: the summary's write will tell
            return  # kept out of date: every stamp that moved sends its record to the file
        self._dirty = False

    def scan(self, folders: Callable[[str], bool] | None = None
             ) -> tuple[list[Record], list[str]]:
        """Every record file of the output folder, read whole (components included): (records,
        problems). Folders (a stage's :func:`~emoprep.io.layout.stage_dirname`) in name order,
        files in name order, only the folders ``folders`` accepts when it is given; a file that
        is not a record gives ``"<stage folder>/<file>: why"`` in problems. For the readers of a
        finished run (the report, the training glue); a plan uses :meth:`get`."""
        root = self.layout.records_dir
        dirs = sorted(p for p in root.iterdir() if p.is_dir()) if root.is_dir() else []
        records, problems = [], []
        for d in dirs if folders is None else [d for d in dirs if folders(d.name)]:
            for path in sorted(d.glob("*.json")):
                try:
                    records.append(Record(**json.loads(path.read_bytes())))
                except (OSError, ValueError, TypeError, KeyError) as exc:
                    problems.append(f"{d.name}/{path.name}: {type(exc).__name__}: "
                                    f"{str(exc)[:80]}")
        return records, problems

    def problem(self, stage: str, video_id: str) -> str:
        """Why the record of a unit could not be read ("" when it was read or does not exist)."""
        self.get(stage, video_id)
        return self._problems.get((stage, video_id), "")

    def _read(self, key: tuple[str, str], p: str | Path, quiet: bool = False) -> Record | None:
        try:
            with open(p, "rb") as fh:
                stamp = _stamp(os.fstat(fh.fileno()))  # of exactly the bytes read
                rec = Record(**json.loads(fh.read()))
        except FileNotFoundError:
            return None
        except (OSError, ValueError, TypeError, KeyError) as exc:
            if not quiet:
                name = os.path.basename(p)
                self._problems[key] = f"{name}: {type(exc).__name__}: {str(exc)[:80]}"
            return None
        if not quiet:
            self._stamps[key] = stamp
            self._dirty = True
        return rec

    def put(self, rec: Record) -> None:
        """Write a record. A disk-full failure of the unit, or of this write, stops the run:
        :class:`DiskFullError` naming the unit (the record of a disk-full unit is written first
        when there is room, so ``status`` shows it; it is retried)."""
        if rec.status is UnitStatus.OK:
            self._fill_checksums(rec)
        self.components(rec)  # a record from the snapshot is written whole
        text = json.dumps(asdict(rec), indent=1, sort_keys=True, default=str)
        unit = f"unit {rec.stage} of video {rec.video_id}"
        path, key = self.path(rec.stage, rec.video_id), (rec.stage, rec.video_id)
        try:
            atomic_write_text(path, text)
        except DiskFullError as exc:
            raise DiskFullError(f"{unit}: its record could not be written: {exc}") from exc
        self._cache[key] = rec
        self._problems.pop(key, None)
        self._dirty = True
        try:
            self._stamps[key] = _stamp(os.stat(path))
        except OSError:
            self._stamps.pop(key, None)
        if rec.error_type == DiskFullError.__name__:
            first = rec.error.splitlines()[0] if rec.error else "disk full"
            raise DiskFullError(f"{unit}: {first}")

    def _fill_checksums(self, rec: Record) -> None:
        """Stamp outputs a worker did not stamp (a record from an older worker)."""
        for rel in rec.outputs:
            if rel not in rec.checksums and (self.layout.root / rel).is_file():
                try:
                    rec.checksums[rel] = stamp_file(self.layout.root / rel)
                except OSError as exc:
                    if is_disk_full(exc):
                        raise
                    continue

    def delete(self, stage: str, video_id: str) -> None:
        self.path(stage, video_id).unlink(missing_ok=True)
        self._cache[(stage, video_id)] = None
        self._stamps.pop((stage, video_id), None)
        self._dirty = True

    def verify(self, rec: Record, full: bool | None = None) -> str:
        """Why an ok record's outputs cannot be trusted ("" when they can).

        Missing outputs; then size + mtime against the checksums (sha256 when they differ); with
        ``full`` (default :attr:`full`) the sha256 of every output and, for HDF5 files, every
        dataset read in full.
        """
        full = self.full if full is None else full
        root = self.layout.root_str
        for rel in rec.outputs:
            path = f"{root}/{rel}" if rel[:1] != "/" else rel  # os.path.join, for a plain root
            stamp = rec.checksums.get(rel)
            try:  # one stat per output: exists, size and mtime in one call
                st = os.stat(path)
            except (FileNotFoundError, NotADirectoryError):
                return f"output missing: {rel}"
            except OSError:
                st = None  # check_stamp says why
            why = check_stamp(path, stamp, full, st) if stamp else ""
            if not why and full and rel.endswith(".h5"):
                from emoprep.io.hdf5 import verify_shard  # h5py only for --verify

                why = verify_shard(Path(path))
            if why:
                return f"{CORRUPT}: {rel}: {why}"
        return ""
