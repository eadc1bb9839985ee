"""The JSON record files of output folders made before the records database
(``.emoprep/records/<stage folder>/<video id>.json``, one per unit): read by ``status`` and the
readers of a finished run while no database exists, and turned into rows by the first ``run``
(:mod:`.records_db`)."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

from emoprep.io.layout import Layout

#: a row of the records table: stage, video id, fingerprint, status, body JSON, components JSON
Row = tuple[str, str, str, str, str, str]
#: the fields of a Record kept in the row's ``body``
BODY_FIELDS = ("error", "error_type", "outputs", "summary", "seconds", "checksums")
#: the stage of a row whose JSON file did not parse is taken from the file's folder; its body is
#: the file's text, which the store cannot read either: the unit runs again with the reason
UNREADABLE_STATUS = "unreadable"


def read_json(path: str | Path) -> dict[str, Any]:
    """The record dict of one JSON file (OSError, ValueError when it cannot be read)."""
    with open(path, "rb") as fh:
        data = json.loads(fh.read())
    if not isinstance(data, dict):
        raise ValueError(f"expected a JSON object, got {type(data).__name__}")
    return data


def legacy_files(layout: Layout) -> Iterator[tuple[str, Path]]:
    """(stage folder name, file) of every JSON record, folders and files in name order."""
    root = layout.records_dir
    if not root.is_dir():
        return
    for d in sorted(p for p in root.iterdir() if p.is_dir()):
        for path in sorted(d.glob("*.json")):
            yield d.name, path


def legacy_rows(layout: Layout) -> Iterator[Row]:
    """A database row per JSON record file; a file that does not parse becomes a row the store
    reports as unreadable (its text kept, its video id from the file name)."""
    for folder, path in legacy_files(layout):
        try:
            d = read_json(path)
            body = {f: d[f] for f in BODY_FIELDS if f in d}
            yield (str(d["stage"]), str(d["video_id"]), str(d["fingerprint"]), str(d["status"]),
                   json.dumps(body, separators=(",", ":"), sort_keys=True, default=str),
                   json.dumps(d.get("components") or {}, separators=(",", ":"), sort_keys=True))
        except (OSError, ValueError, KeyError, TypeError) as exc:
            why = f"{folder}/{path.name}: {type(exc).__name__}: {str(exc)[:80]}"
            yield (_stage_of(folder), path.stem, "", UNREADABLE_STATUS, why, "{}")


def _stage_of(folder: str) -> str:
    """The stage name of a stage folder (``embed-hog`` -> ``embed:hog``; see stage_dirname)."""
    return folder.replace("-", ":", 1)



def scan_files(layout: Layout, record: Callable[..., Any],
               folders: Callable[[str], bool] | None) -> tuple[list[Any], list[str]]:
    """:meth:`RecordStore.scan` over the JSON files: (``record(**data)`` per file, problems)."""
    records, problems = [], []
    for folder, path in legacy_files(layout):
        if folders is not None and not folders(folder):
            continue
        try:
            records.append(record(**read_json(path)))
        except (OSError, ValueError, TypeError, KeyError) as exc:
            problems.append(f"{folder}/{path.name}: {type(exc).__name__}: {str(exc)[:80]}")
    return records, problems
