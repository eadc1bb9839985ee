"""AU source ``openface_csv``: OpenFace 2 FeatureExtraction CSVs, ``AUxx_r`` intensities (0-5)
per frame.

OpenFace writes a header whose names after the first carry a leading space (``frame, face_id,
timestamp, confidence, success, ...``); both forms are accepted. ``frame`` is 1-based (the first
source frame is 1; ``OpenFaceAUConfig.openface_frame_base``). Rows with ``success == 0`` or
``confidence``
below ``OpenFaceAUConfig.min_confidence`` become NaN. When several rows share a frame (multi-face
output,
``face_id``), the successful row with the highest confidence is kept.
"""

from __future__ import annotations

import csv
import math
import re
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

import numpy as np
from pydantic import Field

from emoprep.errors import ConfigError, StageError
from emoprep.stages.au.base import AUSourceConfig, Crops, canonical_au_name
from emoprep.types import VideoEntry

if TYPE_CHECKING:
    from emoprep.types import Geometry

_INTENSITY = re.compile(r"^AU\d+_r$")


class OpenFaceAUConfig(AUSourceConfig):
    """OpenFace 2 FeatureExtraction CSV per video (AUxx_r columns)."""

    source: Literal["openface_csv"] = "openface_csv"
    openface_csv: str = Field(
        "{stem}.csv",
        description="path template of the OpenFace CSV per video; fields {video_id} {stem} "
                    "{subject} "
        "{dir}; relative paths are resolved against the manifest's videos.root",
    )
    min_confidence: float = Field(
        0.0, ge=0.0, le=1.0, description="OpenFace rows below this are NaN"
    )
    openface_frame_base: int = Field(
        1,
        ge=0,
        description="number OpenFace gives the first source frame (1: FeatureExtraction's 'frame')",
    )

    def source_files(self, entry: VideoEntry, root: Path) -> list[Path]:
        return [openface_csv_path(entry, self, root)]

    def compute(self, geometry: Geometry, entry: VideoEntry, root: Path,
                crops: Crops | None = None) -> tuple[np.ndarray, list[str]]:
        """The video's CSV (``openface_csv``) at the tracked frames."""
        path = openface_csv_path(entry, self, root)
        return openface_aus(path, geometry.frame_index, self, video=entry.video_id)


def _template_fields(entry: VideoEntry, root: Path) -> dict[str, str]:
    path = Path(entry.path)
    parent = path.parent
    try:
        rel = parent.resolve().relative_to(Path(root).resolve())
        folder = rel.as_posix() or "."
    except ValueError:
        folder = str(parent)
    return {"video_id": entry.video_id, "stem": path.stem, "subject": entry.subject, "dir": folder}


def openface_csv_path(entry: VideoEntry, cfg: OpenFaceAUConfig, root: Path) -> Path:
    """Where the OpenFace CSV of ``entry`` lies: ``cfg.openface_csv`` filled in, relative to root.

    Template fields: ``{video_id}``, ``{stem}`` (file name without suffix), ``{subject}``,
    ``{dir}`` (the video's folder relative to ``root``, or absolute when outside it).
    """
    fields = _template_fields(entry, root)
    try:
        rel = cfg.openface_csv.format(**fields)
    except (KeyError, IndexError, ValueError) as exc:
        raise ConfigError(
            "stages.au.openface_csv",
            [f"template {cfg.openface_csv!r} cannot be filled ({exc!r}); allowed fields: "
             + ", ".join("{" + k + "}" for k in fields)],
        ) from exc
    p = Path(rel).expanduser()
    return p if p.is_absolute() else Path(root) / p


class OpenFaceCSVError(StageError):
    """An OpenFace CSV is missing, malformed, or does not match the video's frames."""


@dataclass
class OpenFaceTable:
    """The columns emoprep uses from one OpenFace CSV (N rows).

    frame: (N,) int64, OpenFace frame numbers as written. success: (N,) bool (True when absent).
    confidence: (N,) float32 (1.0 when absent). values: (N, K) float32 AU intensities, 0-5.
    names: K zero-padded AU names ("AU01", ...), in file order.
    """

    frame: np.ndarray
    success: np.ndarray
    confidence: np.ndarray
    values: np.ndarray
    names: list[str]


def _header(path: Path, row: list[str]) -> tuple[dict[str, int], list[int]]:
    """Column positions by stripped name, and the positions of the ``AUxx_r`` columns."""
    names = [c.strip() for c in row]
    seen: dict[str, int] = {}
    for i, n in enumerate(names):
        if n in seen:
            raise OpenFaceCSVError(
                f"OpenFace CSV {path}: line 1: column {n!r} appears twice (columns {seen[n] + 1} "
                f"and {i + 1}); fix: re-export the CSV with OpenFace FeatureExtraction"
            )
        seen[n] = i
    au_cols = [i for i, n in enumerate(names) if _INTENSITY.match(n)]
    missing = [c for c in ("frame",) if c not in seen]
    if missing or not au_cols:
        what = "no 'frame' column" if missing else "no AUxx_r intensity column"
        raise OpenFaceCSVError(
            f"OpenFace CSV {path}: line 1: {what} in the header (got {len(names)} columns: "
            f"{', '.join(names[:6])}{', ...' if len(names) > 6 else ''}); expected OpenFace 2 "
            "FeatureExtraction output with -aus; fix: run FeatureExtraction with -aus"
        )
    return seen, au_cols


def _number(path: Path, line: int, col: str, text: str) -> float:
    try:
        return float(text)
    except ValueError:
        raise OpenFaceCSVError(
            f"OpenFace CSV {path}: line {line}, column {col!r}: {text.strip()!r} is not a number"
        ) from None


def read_openface_csv(path: Path) -> OpenFaceTable:
    """Parse the columns emoprep needs; raise :class:`OpenFaceCSVError` with file, line, column."""
    p = Path(path)
    if not p.is_file():
        raise OpenFaceCSVError(f"OpenFace CSV {p}: file not found; fix: check au.openface_csv")
    with open(p, newline="", encoding="utf-8", errors="replace") as fh:
        reader = csv.reader(fh)
        head = next(reader, None)
        if not head:
            raise OpenFaceCSVError(f"OpenFace CSV {p}: empty file (no header line)")
        cols, au_cols = _header(p, head)
        names_raw = [head[i].strip() for i in au_cols]
        rows = _read_rows(p, reader, len(head), cols, au_cols, names_raw)
    if not rows:
        raise OpenFaceCSVError(f"OpenFace CSV {p}: header only, no data rows")
    arr = np.asarray(rows, dtype=np.float64)
    return OpenFaceTable(
        frame=arr[:, 0].astype(np.int64),
        success=arr[:, 1] != 0,
        confidence=arr[:, 2].astype(np.float32),
        values=arr[:, 3:].astype(np.float32),
        names=[canonical_au_name(n) for n in names_raw],
    )


def _read_rows(
    p: Path, reader: Any, width: int, cols: dict[str, int], au_cols: list[int], au_names: list[str]
) -> list[list[float]]:
    """Rows as [frame, success, confidence, AU...] from a ``csv.reader`` (which has ``line_num``);
    blank lines are skipped."""
    opt = [(cols.get("success"), 1.0), (cols.get("confidence"), 1.0)]
    rows: list[list[float]] = []
    for row in reader:
        if not row or all(not c.strip() for c in row):
            continue
        line = reader.line_num
        if len(row) != width:
            raise OpenFaceCSVError(
                f"OpenFace CSV {p}: line {line}: {len(row)} fields, expected {width} as in the "
                "header (truncated or mixed file?)"
            )
        frame = _number(p, line, "frame", row[cols["frame"]])
        if not math.isfinite(frame) or frame != int(frame) or frame < 0:
            raise OpenFaceCSVError(
                f"OpenFace CSV {p}: line {line}, column 'frame': expected a whole number >= 0, "
                f"got {row[cols['frame']].strip()!r}"
            )
        rec = [frame]
        for (i, default), name in zip(opt, ("success", "confidence"), strict=True):
            rec.append(default if i is None else _number(p, line, name, row[i]))
        rec.extend(_number(p, line, n, row[i]) for i, n in zip(au_cols, au_names, strict=True))
        rows.append(rec)
    return rows


def best_rows(table: OpenFaceTable, min_confidence: float) -> tuple[np.ndarray, np.ndarray]:
    """One row per frame: ``(frames (F,) increasing, values (F, K))``, NaN for rejected rows.

    A row is rejected when ``success`` is 0 or ``confidence < min_confidence``. Among rows of one
    frame, accepted rows win over rejected ones, then higher confidence, then file order.
    """
    ok = table.success & (table.confidence >= min_confidence)
    vals = np.where(ok[:, None], table.values, np.float32(np.nan)).astype(np.float32)
    order = np.lexsort((np.arange(ok.size), -table.confidence, ~ok, table.frame))
    frames = table.frame[order]
    first = np.ones(frames.size, dtype=bool)
    first[1:] = frames[1:] != frames[:-1]
    return frames[first], vals[order][first]


def openface_aus(
    path: Path, frame_index: np.ndarray, cfg: OpenFaceAUConfig, video: str = "?"
) -> tuple[np.ndarray, list[str]]:
    """AU intensities (T, K) float32 for the tracked source frames ``frame_index`` (T,).

    OpenFace frame ``f`` is source frame ``f - cfg.openface_frame_base``. Tracked frames missing
    from the CSV are NaN. No frame in common at all raises :class:`OpenFaceCSVError`.
    """
    table = read_openface_csv(path)
    frames, vals = best_rows(table, cfg.min_confidence)
    src = frames - cfg.openface_frame_base
    fi = np.asarray(frame_index, dtype=np.int64)
    out = np.full((fi.size, len(table.names)), np.nan, dtype=np.float32)
    if fi.size == 0:
        return out, table.names
    pos = np.clip(np.searchsorted(src, fi), 0, src.size - 1)
    hit = src[pos] == fi
    if not hit.any():
        raise OpenFaceCSVError(
            f"video {video}: OpenFace CSV {path} covers source frames {int(src[0])}-{int(src[-1])} "
            f"(frame - {cfg.openface_frame_base}), the tracked frames are "
            f"{int(fi[0])}-{int(fi[-1])}: "
            "no frame in common; fix: check au.openface_csv points at this video's CSV and "
            "au.openface_frame_base"
        )
    out[hit] = vals[pos[hit]]
    return out, table.names
