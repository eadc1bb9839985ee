"""AU-score neutral trimming (Algorithm 1 of the thesis on video FER, BU-4DFE).

Per-frame score = mean AU intensity over the available AUs, AU45 (blink) excluded. With
``thr = threshold * max(score)``, frames are cut from the start while ``score < thr`` and from the
end while ``score < thr`` or fewer than ``min_end_cut`` frames were cut there; the loop stops when
both sides stop or ``max_cut`` of the video is cut. If the maximum lies in the last
``anomaly_last`` frames the video is marked ``anomaly`` and left untrimmed for manual review.
Manual overrides (YAML or CSV, source frame numbers) replace the automatic range per video.

Two readings of the thesis are selectable. ``trim.cap``: ``prose`` (default) never cuts more than
``floor(max_cut * T)`` frames, as the text describes it (at most half); ``pseudocode`` is the
printed listing, which tests ``cut >= max_cut * T`` only after both sides have cut in a step, so it
can cut ``floor(T / 2) + 1`` or ``+ 2`` frames. ``trim.count_in``: ``kept`` (default) counts
``min_end_cut`` and ``anomaly_last`` in tracked frames; ``source`` counts them in source frames
(what the thesis means; differs only when ``window.sample`` sub-samples).
"""

from __future__ import annotations

import csv
import math
from collections.abc import Sequence
from dataclasses import dataclass
from enum import Enum
from functools import lru_cache
from pathlib import Path
from typing import Any, ClassVar

import numpy as np
import yaml
from pydantic import BaseModel, ConfigDict, Field

from emoprep.errors import ConfigError, StageError
from emoprep.stages.au.base import AUSourceConfig, canonical_au_name

#: AU excluded from the trimming score (blinks happen in neutral frames too)
BLINK_AU = "AU45"



class TrimCap(str, Enum):
    """How Algorithm 1 applies ``max_cut``."""

    #: the cap ``floor(max_cut * T)`` is checked before every single cut: never more (default)
    PROSE = "prose"
    #: the thesis's listing: ``cut >= max_cut * T`` is checked after both sides' cuts of a step,
    #: so up to ``floor(max_cut * T) + 2`` frames can go
    PSEUDOCODE = "pseudocode"


class TrimCount(str, Enum):
    """What ``min_end_cut`` and ``anomaly_last`` count."""

    #: tracked frames (the window's frames after sub-sampling; default)
    KEPT = "kept"
    #: source frames: tracked frame j is within the last N when
    #: ``frame_index[-1] - frame_index[j] < N`` (the thesis's meaning)
    SOURCE = "source"


class TrimConfig(BaseModel):
    """Parameters of Algorithm 1; defaults are the thesis values. ``threshold`` None: per AU
    source."""

    model_config = ConfigDict(extra="forbid")
    #: keys added after 0.1 and their defaults (which reproduce 0.1): left out of the fingerprint
    #: while at the default, so outputs made before them stay up to date
    _ADDED: ClassVar[dict[str, str]] = {"cap": "prose", "count_in": "kept"}

    threshold: float | None = Field(
        None, gt=0.0, lt=1.0, description="fraction of the video's max score"
    )
    min_end_cut: int = Field(
        10, ge=0, description="always cut at least this many frames at the end"
    )
    anomaly_last: int = Field(20, ge=0, description="max score within the last N frames -> anomaly")
    max_cut: float = Field(
        0.5, gt=0.0, le=1.0, description="never cut more than this fraction of the video"
    )
    overrides: str | None = Field(
        None, description="YAML or CSV file: video_id -> start/end kept frames"
    )
    cap: TrimCap = Field(
        TrimCap.PROSE,
        description="prose: never cut more than max_cut; pseudocode: "
        "the thesis's listing (checked after both cuts, up to 2 frames more)",
    )
    count_in: TrimCount = Field(
        TrimCount.KEPT,
        description="kept: min_end_cut and anomaly_last count "
        "tracked frames; source: source frames (the thesis's meaning)",
    )

    def fingerprint_slice(self) -> dict[str, Any]:
        """The config as it goes into the au fingerprint; ``cap`` and ``count_in`` only when not
        at their defaults."""
        data = self.model_dump(mode="json")
        return {k: v for k, v in data.items() if not (k in self._ADDED and v == self._ADDED[k])}


@dataclass(frozen=True)
class TrimResult:
    """Kept range ``[start, end)`` into the score (tracked frames), and why.

    threshold: the absolute score threshold used (``fraction * max score``; NaN if no finite score).
    peak: index of the first frame with the maximum score (-1 if none).
    """

    start: int
    end: int
    anomaly: bool
    threshold: float
    peak: int
    reason: str


def _is_blink(name: str) -> bool:
    """True for the blink AU; a score column that is no AU (``expression``) is never one."""
    try:
        return canonical_au_name(name) == BLINK_AU
    except ValueError:
        return False


@lru_cache(maxsize=64)
def _kept_columns(names: tuple[str, ...]) -> list[int]:
    """Indices of ``names`` that are not the blink AU (parsed once per set of names: an image's
    AU unit calls :func:`trim_score` once per item)."""
    return [i for i, n in enumerate(names) if not _is_blink(n)]


def trim_score(values: np.ndarray, names: Sequence[str]) -> np.ndarray:
    """Per-frame mean AU intensity (T,) float32 over the AUs in ``names``, AU45 excluded.

    values: (T, K) float, NaN where unavailable. NaN values are skipped; a frame with no finite
    value among the kept AUs scores NaN.
    """
    vals = np.asarray(values, dtype=np.float64)
    if vals.ndim != 2 or vals.shape[1] != len(names):
        raise ValueError(f"trim_score: values must be (T, {len(names)}), got {vals.shape}")
    keep = _kept_columns(tuple(names))
    if not keep:
        raise StageError(
            f"trim_score: no AU left after excluding {BLINK_AU} (names: {list(names)}); "
            "fix: use an AU source that provides more than the blink AU"
        )
    sub = vals[:, keep]
    finite = np.isfinite(sub)
    n = finite.sum(axis=1)
    total = np.where(finite, sub, 0.0).sum(axis=1)
    with np.errstate(invalid="ignore", divide="ignore"):
        score = np.where(n > 0, total / np.maximum(n, 1), np.nan)
    return score.astype(np.float32)


def resolve_threshold(cfg: TrimConfig, source: AUSourceConfig) -> float:
    """``cfg.threshold`` when set, else the default of the AU ``source`` (the thesis's 0.5)."""
    return cfg.threshold if cfg.threshold is not None else source.trim_threshold


def au_trim(score: np.ndarray, cfg: TrimConfig, threshold: float,
            frame_index: np.ndarray | None = None) -> TrimResult:
    """Algorithm 1 on a per-frame score (T,); ``threshold`` is the fraction of the max score.

    NaN frames (no face) count as below the threshold, so face-less frames at either end are cut
    like neutral ones; the max and the peak (first frame at the max) are taken over finite frames
    only. A video without any finite score is an anomaly (nothing to trim on). Each loop step cuts
    one frame at the start (if that side is still cutting), then one at the end; ``cfg.cap`` says
    how ``max_cut`` stops it (:class:`TrimCap`). ``frame_index`` (T,) increasing source frame
    numbers, needed for ``count_in: source``. An anomaly returns ``start=0, end=T``.
    """
    s = np.asarray(score, dtype=np.float64).ravel()
    t = int(s.size)
    finite = np.isfinite(s)
    if not finite.any():
        return TrimResult(0, t, True, math.nan, -1, "no finite AU score (no face in any frame)")
    pos = _positions(t, cfg.count_in, frame_index)
    peak = int(np.argmax(np.where(finite, s, -np.inf)))
    smax = float(s[peak])
    thr = float(threshold) * smax
    unit = "source frames" if cfg.count_in is TrimCount.SOURCE else "frames"
    if pos[-1] - pos[peak] < cfg.anomaly_last:
        why = (f"max score {smax:.4g} at frame {peak} lies in the last {cfg.anomaly_last} {unit} "
               f"of {t} frames")
        return TrimResult(0, t, True, thr, peak, why + "; not trimmed, review by hand")
    below, near_end = ~finite | (s < thr), pos[-1] - pos < cfg.min_end_cut
    if cfg.cap is TrimCap.PSEUDOCODE:
        limit = cfg.max_cut * t
        start, end = _cut_pseudocode(below, near_end, limit)
        hit = start + (t - end) >= limit
    else:
        cap = math.floor(cfg.max_cut * t + 1e-9)
        start, end = _cut(below, near_end, cap)
        hit = start + (t - end) >= cap
    why = f"kept [{start}, {end}) of {t}: cut {start} at the start, {t - end} at the end"
    if hit:
        why += f" (cap of {cfg.max_cut:.0%} reached, {cfg.cap.value})"
    return TrimResult(start, end, False, thr, peak, why)


def _positions(t: int, count_in: TrimCount, frame_index: np.ndarray | None) -> np.ndarray:
    """(T,) int64 position of each tracked frame in the unit ``min_end_cut``/``anomaly_last``
    count: 0..T-1 (kept) or source frame numbers (source)."""
    if count_in is TrimCount.KEPT:
        return np.arange(t, dtype=np.int64)
    fi = None if frame_index is None else np.asarray(frame_index, np.int64).ravel()
    if fi is None or fi.size != t or (t > 1 and np.any(np.diff(fi) <= 0)):
        got = "nothing" if fi is None else f"{fi.size} numbers"
        raise StageError(f"trim.count_in: source needs the {t} increasing source frame numbers of "
                         f"the tracked frames, got {got}; pass frame_index to au_trim")
    return fi


def _cut(below: np.ndarray, near_end: np.ndarray, cap: int) -> tuple[int, int]:
    """The cutting loop of Algorithm 1, cap checked before every cut (``trim.cap: prose``).

    below: (T,) bool, frame under the threshold; near_end: (T,) bool, frame within the last
    ``min_end_cut`` (always cut at the end). Returns (start, end).
    """
    t = int(below.size)
    start, end = 0, t
    cut_start = cut_end = True
    while cut_start or cut_end:
        if cut_start:
            cut_start = start + (t - end) < cap and start < end and bool(below[start])
            start += int(cut_start)
        if cut_end:
            forced = bool(near_end[end - 1]) if end > start else False
            cut_end = start + (t - end) < cap and start < end and (forced or bool(below[end - 1]))
            end -= int(cut_end)
    return start, end


def _cut_pseudocode(below: np.ndarray, near_end: np.ndarray, max_frames: float) -> tuple[int, int]:
    """The loop as the thesis prints it (``trim.cap: pseudocode``): each step cuts at the start,
    then at the end, then stops when ``cut >= max_frames`` (``max_cut * T``, not rounded)."""
    t = int(below.size)
    start, end, cut = 0, t, 0
    cut_start = cut_end = True
    while cut_start or cut_end:
        if cut_start:
            cut_start = start < end and bool(below[start])
            start, cut = start + int(cut_start), cut + int(cut_start)
        if cut_end:
            cut_end = start < end and (bool(near_end[end - 1]) or bool(below[end - 1]))
            end, cut = end - int(cut_end), cut + int(cut_end)
        if cut >= max_frames:
            break
    return start, end


def load_overrides(path: Path) -> dict[str, tuple[int, int]]:
    """Manual kept ranges: video_id -> (start_frame, end_frame), SOURCE frame numbers, end
    exclusive.

    YAML (``.yaml``/``.yml``): a mapping ``video_id: [start, end]`` or
    ``video_id: {start: s, end: e}``. CSV (``.csv``): header ``video_id,start,end``. Every problem
    in the file is collected and raised once as :class:`ConfigError` naming the file and the key.
    """
    p = Path(path)
    if not p.is_file():
        raise ConfigError(str(p), ["trim overrides file not found; fix: check trim.overrides"])
    suffix = p.suffix.lower()
    if suffix in (".yaml", ".yml"):
        raw, problems = _read_yaml_overrides(p)
    elif suffix == ".csv":
        raw, problems = _read_csv_overrides(p)
    else:
        raise ConfigError(
            str(p), [f"unknown overrides format {suffix!r}; expected .yaml, .yml or .csv"]
        )
    out: dict[str, tuple[int, int]] = {}
    for key, (a, b) in raw.items():
        err = _check_range(a, b)
        if err:
            problems.append(f"{key}: {err}")
        else:
            out[key] = (_as_int(a), _as_int(b))
    if problems:
        raise ConfigError(str(p), problems)
    return out


def _read_yaml_overrides(p: Path) -> tuple[dict[str, tuple[object, object]], list[str]]:
    try:
        data = yaml.safe_load(p.read_text())
    except yaml.YAMLError as exc:
        raise ConfigError(str(p), [f"not valid YAML: {exc}"]) from exc
    if not isinstance(data, dict):
        raise ConfigError(
            str(p), [f"expected a mapping video_id -> [start, end], got {type(data).__name__}"]
        )
    raw: dict[str, tuple[object, object]] = {}
    problems: list[str] = []
    for key, val in data.items():
        if isinstance(val, dict) and set(val) == {"start", "end"}:
            raw[str(key)] = (val["start"], val["end"])
        elif isinstance(val, list | tuple) and len(val) == 2:
            raw[str(key)] = (val[0], val[1])
        else:
            problems.append(f"{key}: expected [start, end] or {{start: s, end: e}}, got {val!r}")
    return raw, problems


def _read_csv_overrides(p: Path) -> tuple[dict[str, tuple[object, object]], list[str]]:
    with open(p, newline="") as fh:
        reader = csv.DictReader(fh)
        fields = [f.strip() for f in (reader.fieldnames or [])]
        if not {"video_id", "start", "end"} <= set(fields):
            raise ConfigError(
                str(p), [f"CSV header must have video_id,start,end; got {','.join(fields)}"]
            )
        reader.fieldnames = fields
        raw: dict[str, tuple[object, object]] = {}
        problems: list[str] = []
        for row in reader:
            key = (row.get("video_id") or "").strip()
            if key in raw:
                problems.append(f"{key}: listed twice (line {reader.line_num})")
            raw[key] = ((row.get("start") or "").strip(), (row.get("end") or "").strip())
    return raw, problems


def _check_range(a: object, b: object) -> str | None:
    """Problem text for a (start, end) pair, or None when it is two ints with 0 <= start < end."""
    try:
        ia, ib = _as_int(a), _as_int(b)
    except ValueError:
        return f"start and end must be whole frame numbers, got {a!r}, {b!r}"
    if ia < 0 or ib <= ia:
        return f"expected 0 <= start < end (end exclusive), got start={ia}, end={ib}"
    return None


def _as_int(v: object) -> int:
    if isinstance(v, bool):
        raise ValueError(v)
    if isinstance(v, int):
        return v
    if isinstance(v, str) and v.strip().lstrip("-").isdigit():
        return int(v)
    raise ValueError(v)


def override_range(frame_index: np.ndarray, start_frame: int, end_frame: int) -> tuple[int, int]:
    """Indices ``(start, end)`` into the tracked frames whose source numbers lie in
    ``[start_frame, end_frame)``. frame_index: (T,) increasing source frame numbers."""
    fi = np.asarray(frame_index, dtype=np.int64)
    lo = int(np.searchsorted(fi, start_frame, side="left"))
    hi = int(np.searchsorted(fi, end_frame, side="left"))
    if hi <= lo:
        span = f"{int(fi[0])}-{int(fi[-1])}" if fi.size else "none"
        raise StageError(
            f"trim override [{start_frame}, {end_frame}) keeps no tracked frame (tracked source "
            f"frames: {span}); fix: correct the range in trim.overrides"
        )
    return lo, hi
