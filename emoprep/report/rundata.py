"""What a finished run left in its output folder, read once: summary, table, records, splits.

Only files are read (``summary.json``, ``frames.h5``'s table, ``.emoprep/records``,
``splits/*.json``); nothing here runs a stage.
"""

from __future__ import annotations

import difflib
import json
from collections import Counter, defaultdict
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from emoprep.errors import StoreError
from emoprep.io.hdf5 import read_table
from emoprep.io.layout import Layout
from emoprep.io.store_config import FRAMES_STORE
from emoprep.pipeline.quality import DEFAULT_MIN_FACE_FRACTION
from emoprep.pipeline.records import RecordStore
from emoprep.types import FrameStatus

#: order of the per-video stages in tables (others follow in name order)
STAGE_ORDER = ("probe", "window", "track", "au", "frames")


def stage_key(stage: str) -> tuple[int, str]:
    """Sort key: the pipeline order first, then embedders by name."""
    return (STAGE_ORDER.index(stage), "") if stage in STAGE_ORDER else (len(STAGE_ORDER), stage)


def status_counts(status: np.ndarray) -> dict[str, int]:
    """Frames per :class:`FrameStatus` name (every name present, zeros included)."""
    counts = Counter(int(s) for s in np.asarray(status).ravel())
    return {s.name.lower(): int(counts.get(int(s), 0)) for s in FrameStatus}


def _read_json(path: Path) -> dict[str, Any]:
    try:
        return json.loads(path.read_text())
    except (OSError, ValueError) as exc:
        raise StoreError(f"{path}: cannot read it as JSON ({exc}); re-run `emoprep run`") from exc


def read_records(layout: Layout) -> dict[str, dict[str, dict[str, Any]]]:
    """Every unit record as plain data: ``{video_id: {stage: record}}`` (stage as in the record,
    e.g. ``embed:hog``). Raises :class:`StoreError` naming the first file that is not a record."""
    records, problems = RecordStore(layout).scan()
    if problems:
        raise StoreError(f"records of {layout.root}: {problems[0]}; re-run `emoprep run`")
    out: dict[str, dict[str, dict[str, Any]]] = defaultdict(dict)
    for rec in records:
        out[rec.video_id][rec.stage] = {**asdict(rec), "status": rec.status.value}
    return dict(out)


class UnknownVideoError(StoreError):
    """A video id the output folder does not hold: a usage mistake (exit status 2)."""

    exit_code = 2


@dataclass
class RunData:
    """The files of one output folder, decoded.

    table: one dict per manifest video (video_id, subject, labels, status, n_frames, n_face,
    error), from ``frames.h5``. records: ``{video_id: {stage: record}}``. splits: split name ->
    the split JSON.
    """

    layout: Layout
    summary: dict[str, Any]
    table: list[dict[str, Any]]
    records: dict[str, dict[str, dict[str, Any]]]
    splits: dict[str, dict[str, Any]] = field(default_factory=dict)

    @property
    def root(self) -> Path:
        return self.layout.root

    def min_face_fraction(self, given: float | None = None) -> float:
        """``given``, else the value the run recorded in summary.json, else the default 0.5."""
        if given is not None:
            return float(given)
        return float(self.summary.get("min_face_fraction", DEFAULT_MIN_FACE_FRACTION))

    def row(self, video_id: str) -> dict[str, Any]:
        for r in self.table:
            if r["video_id"] == video_id:
                return r
        have = ", ".join(sorted(r["video_id"] for r in self.table)[:8])
        close = difflib.get_close_matches(video_id, [r["video_id"] for r in self.table], n=1)
        hint = f"did you mean {close[0]!r}? " if close else ""
        raise UnknownVideoError(f"output {self.root}: no video {video_id!r} in frames.h5 (have: "
                                f"{have}{' ...' if len(self.table) > 8 else ''}) (fix: {hint}"
                                f"the run summary's first column lists every id)")

    def failed_stage(self, video_id: str) -> str:
        """Name of the first stage whose record says failed ('' if none)."""
        recs = self.records.get(video_id, {})
        bad = [s for s, r in recs.items() if r.get("status") == "failed"]
        return min(bad, key=stage_key) if bad else ""

    def stage_seconds(self) -> dict[str, dict[str, float]]:
        """Per stage: units, total seconds, max seconds (from the records)."""
        acc: dict[str, list[float]] = defaultdict(list)
        for recs in self.records.values():
            for stage, rec in recs.items():
                acc[stage].append(float(rec.get("seconds") or 0.0))
        return {s: {"units": len(v), "seconds": round(sum(v), 3), "max": round(max(v), 3)}
                for s, v in sorted(acc.items(), key=lambda kv: stage_key(kv[0]))}

    def stage_settings(self) -> dict[str, dict[str, Any]]:
        """Per stage: code version, config slice, libraries and model hashes (first record seen),
        and how many distinct fingerprint components the records hold (1 when all agree)."""
        out: dict[str, dict[str, Any]] = {}
        seen: dict[str, set[str]] = defaultdict(set)
        for recs in self.records.values():
            for stage, rec in recs.items():
                comp = rec.get("components", {})
                keep = {k: comp.get(k) for k in ("version", "config", "libraries", "models")}
                seen[stage].add(json.dumps(keep, sort_keys=True))
                out.setdefault(stage, keep)
        for stage, variants in seen.items():
            out[stage]["variants"] = len(variants)
        return dict(sorted(out.items(), key=lambda kv: stage_key(kv[0])))


def load_run(out_dir: str | Path) -> RunData:
    """Read an output folder. Raises :class:`StoreError` when it holds no finished run."""
    layout = Layout(Path(out_dir))
    if not layout.index_file(FRAMES_STORE).is_file():
        raise StoreError(f"output {layout.root}: no frames.h5; run `emoprep run --out {out_dir}` "
                         "first")
    summary = _read_json(layout.summary) if layout.summary.is_file() else {}
    splits = {p.stem: _read_json(p) for p in sorted((layout.root / "splits").glob("*.json"))}
    table = read_table(layout.index_file(FRAMES_STORE))
    return RunData(layout, summary, table, read_records(layout), splits)
