"""Per-(stage, video) records: the fingerprint and outcome of the last run of a unit.

Records are JSON files written atomically by the coordinator only, after the unit's outputs are
in place, so an output without a record is never taken as done. A record that cannot be read is
remembered with its reason (``status`` shows "record unreadable"), and its unit runs again.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from emoprep.io.atomic import atomic_write_text
from emoprep.io.layout import Layout
from emoprep.types import UnitStatus


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

    def __post_init__(self) -> None:
        self.status = UnitStatus(self.status)


class RecordStore:
    """Reads and writes records under ``<out>/.emoprep/records/<stage>/<video_id>.json``."""

    def __init__(self, layout: Layout) -> None:
        self.layout = layout
        # each record file is read once per session; put/delete keep this in step (only the
        # coordinator writes records, and it holds the run lock)
        self._cache: dict[tuple[str, str], Record | None] = {}
        self._problems: dict[tuple[str, str], str] = {}

    def path(self, stage: str, video_id: str) -> Path:
        return self.layout.record(stage, video_id)

    def get(self, stage: str, video_id: str) -> Record | None:
        """The record, or None when there is none or it cannot be read (see :meth:`problem`)."""
        key = (stage, video_id)
        if key not in self._cache:
            self._cache[key] = self._read(key, self.path(stage, video_id))
        return self._cache[key]

    def problem(self, stage: str, video_id: str) -> str:
        """Why the record of a unit could not be read ("" when it was read or does not exist)."""
        self.get(stage, video_id)
        return self._problems.get((stage, video_id), "")

    def _read(self, key: tuple[str, str], p: Path) -> Record | None:
        try:
            return Record(**json.loads(p.read_text(encoding="utf-8")))
        except FileNotFoundError:
            return None
        except (OSError, ValueError, TypeError) as exc:
            self._problems[key] = f"{p.name}: {type(exc).__name__}: {str(exc)[:80]}"
            return None

    def put(self, rec: Record) -> None:
        text = json.dumps(asdict(rec), indent=1, sort_keys=True, default=str)
        atomic_write_text(self.path(rec.stage, rec.video_id), text)
        self._cache[(rec.stage, rec.video_id)] = rec
        self._problems.pop((rec.stage, rec.video_id), None)

    def delete(self, stage: str, video_id: str) -> None:
        self.path(stage, video_id).unlink(missing_ok=True)
        self._cache[(stage, video_id)] = None
