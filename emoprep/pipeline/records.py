"""Per-(stage, video) records: the fingerprint, outcome and output checksums of a unit's last run.

Records are JSON files written atomically by the coordinator only, after the unit's outputs are
in place, so an output without a record is never taken as done. A record that cannot be read is
remembered with its reason (``status`` shows "record unreadable"), and its unit runs again.

Each output's size, mtime and sha256 are kept (:attr:`Record.checksums`), so a corrupt output is
found cheaply (:meth:`RecordStore.verify`). A failure is remembered with its kind
(:class:`FailureKind`): one caused by the data is not retried until an input or setting changes.
"""

from __future__ import annotations

import json
import os
from dataclasses import asdict, dataclass, field
from enum import Enum
from pathlib import Path
from typing import Any

from emoprep.errors import DiskFullError
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
    components: dict[str, Any]
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


class RecordStore:
    """Reads and writes records under ``<out>/.emoprep/records/<stage>/<video_id>.json``."""

    def __init__(self, layout: Layout) -> None:
        self.layout = layout
        # each record file is read once per session; put/delete keep this in step (only the
        # coordinator writes records, and it holds the run lock)
        self._cache: dict[tuple[str, str], Record | None] = {}
        self._problems: dict[tuple[str, str], str] = {}
        #: :meth:`verify` reads every output in full (``status --verify``, ``run --verify``)
        self.full = False
    def path(self, stage: str, video_id: str) -> Path:
        return self.layout.record(stage, video_id)

    def get(self, stage: str, video_id: str) -> Record | None:
        """The record, or None when there is none or it cannot be read (see :meth:`problem`)."""
        key = (stage, video_id)
        if key not in self._cache:
            self._cache[key] = self._read(key, self.layout.record_file(stage, video_id))
        return self._cache[key]

    def problem(self, stage: str, video_id: str) -> str:
        """Why the record of a unit could not be read ("" when it was read or does not exist)."""
        self.get(stage, video_id)
        return self._problems.get((stage, video_id), "")

    def _read(self, key: tuple[str, str], p: str | Path) -> Record | None:
        try:
            with open(p, "rb") as fh:
                return Record(**json.loads(fh.read()))
        except FileNotFoundError:
            return None
        except (OSError, ValueError, TypeError, KeyError) as exc:
            name = os.path.basename(p)
            self._problems[key] = f"{name}: {type(exc).__name__}: {str(exc)[:80]}"
            return None

    def put(self, rec: Record) -> None:
        """Write a record. A disk-full failure of the unit, or of this write, stops the run:
        :class:`DiskFullError` naming the unit (the record of a disk-full unit is written first
        when there is room, so ``status`` shows it; it is retried)."""
        if rec.status is UnitStatus.OK:
            self._fill_checksums(rec)
        text = json.dumps(asdict(rec), indent=1, sort_keys=True, default=str)
        unit = f"unit {rec.stage} of video {rec.video_id}"
        try:
            atomic_write_text(self.path(rec.stage, rec.video_id), text)
        except DiskFullError as exc:
            raise DiskFullError(f"{unit}: its record could not be written: {exc}") from exc
        self._cache[(rec.stage, rec.video_id)] = rec
        self._problems.pop((rec.stage, rec.video_id), None)
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

    def verify(self, rec: Record, full: bool | None = None) -> str:
        """Why an ok record's outputs cannot be trusted ("" when they can).

        Missing outputs; then size + mtime against the checksums (sha256 when they differ); with
        ``full`` (default :attr:`full`) the sha256 of every output and, for HDF5 files, every
        dataset read in full.
        """
        full = self.full if full is None else full
        root = self.layout.root
        for rel in rec.outputs:
            path = os.path.join(root, rel)
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
