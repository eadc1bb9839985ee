"""Per-(stage, video) records: the fingerprint and outcome of the last run of a unit.

Records are JSON files written atomically by the coordinator only, after the unit's outputs are
in place, so an output without a record is never taken as done.
"""

from __future__ import annotations

import json
import os
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from emoprep.io.layout import Layout


@dataclass
class Record:
    stage: str
    video_id: str
    fingerprint: str
    components: dict[str, Any]
    status: str  # "ok" | "failed"
    error: str = ""
    error_type: str = ""
    outputs: list[str] = field(default_factory=list)  # relative to the output folder
    summary: dict[str, Any] = field(default_factory=dict)
    seconds: float = 0.0


def atomic_write_text(path: Path, text: str) -> None:
    """Write to a temporary sibling, fsync, then rename over ``path``."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    with open(tmp, "w") as fh:
        fh.write(text)
        fh.flush()
        os.fsync(fh.fileno())
    os.replace(tmp, path)


class RecordStore:
    """Reads and writes records under ``<out>/.emoprep/records/<stage>/<video_id>.json``."""

    def __init__(self, layout: Layout) -> None:
        self.layout = layout
        # each record file is read once per session; put/delete keep this in step (only the
        # coordinator writes records, and it holds the run lock)
        self._cache: dict[tuple[str, str], Record | None] = {}

    def path(self, stage: str, video_id: str) -> Path:
        return self.layout.record(stage, video_id)

    def get(self, stage: str, video_id: str) -> Record | None:
        key = (stage, video_id)
        if key not in self._cache:
            self._cache[key] = self._read(self.path(stage, video_id))
        return self._cache[key]

    @staticmethod
    def _read(p: Path) -> Record | None:
        try:
            return Record(**json.loads(p.read_text()))
        except FileNotFoundError:
            return None
        except (OSError, ValueError, TypeError):
            return None  # unreadable record: the unit simply runs again

    def put(self, rec: Record) -> None:
        atomic_write_text(self.path(rec.stage, rec.video_id), json.dumps(asdict(rec), indent=1, sort_keys=True))
        self._cache[(rec.stage, rec.video_id)] = rec

    def delete(self, stage: str, video_id: str) -> None:
        self.path(stage, video_id).unlink(missing_ok=True)
        self._cache[(stage, video_id)] = None
