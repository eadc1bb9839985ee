"""Subjects and videos per part of a split (held-out test, each fold's validation part), per label.

A split JSON (``splits/<name>.json``) lists video ids: ``test`` and, per fold, ``train`` and
``val``. The validation parts of the folds partition the non-test videos, so the parts shown are
``test`` and ``fold k`` (its validation videos); subjects and labels come from the store table.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any


@dataclass
class PartStats:
    """One part of a split: its videos, subjects, label counts and failed videos."""

    name: str
    videos: list[str]
    subjects: list[str]
    labels: dict[str, dict[str, int]] = field(default_factory=dict)  # key -> value -> videos
    failed: list[str] = field(default_factory=list)


def split_parts(split: Mapping[str, Any], table: Sequence[Mapping[str, Any]]) -> list[PartStats]:
    """Statistics of every part of ``split`` (test first, then the folds)."""
    rows = {r["video_id"]: r for r in table}
    named = [("test", list(split.get("test", [])))]
    named += [(f"fold {f['fold']}", list(f.get("val", []))) for f in split.get("folds", [])]
    parts = []
    for name, ids in named:
        known = [rows[v] for v in ids if v in rows]
        labels: dict[str, Counter[str]] = {}
        for r in known:
            for k, v in r["labels"].items():
                labels.setdefault(k, Counter())[str(v)] += 1
        parts.append(PartStats(
            name=name, videos=sorted(ids), subjects=sorted({r["subject"] for r in known}),
            labels={k: dict(sorted(c.items())) for k, c in sorted(labels.items())},
            failed=sorted(r["video_id"] for r in known if r["status"] != "ok")))
    return parts


def chart_key(split: Mapping[str, Any], parts: Sequence[PartStats]) -> str | None:
    """The label key to colour the bars by: the split's stratify key, else the first key."""
    keys = sorted({k for p in parts for k in p.labels})
    strat = (split.get("config") or {}).get("stratify")
    if strat in keys:
        return str(strat)
    return keys[0] if keys else None


def chart_series(parts: Sequence[PartStats], key: str | None) -> dict[str, list[int]]:
    """Label value -> videos per part (one series "videos" when there is no label key)."""
    if key is None:
        return {"videos": [len(p.videos) for p in parts]}
    values = sorted({v for p in parts for v in p.labels.get(key, {})})
    series = {f"{key}={v}": [p.labels.get(key, {}).get(v, 0) for p in parts] for v in values}
    unlabelled = [len(p.videos) - sum(p.labels.get(key, {}).values()) for p in parts]
    if any(unlabelled):
        series[f"{key} missing"] = unlabelled
    return series


def subject_overlap(parts: Sequence[PartStats]) -> list[str]:
    """Subjects found in more than one part (a leak; empty for a subject-independent split)."""
    seen = Counter(s for p in parts for s in p.subjects)
    return sorted(s for s, n in seen.items() if n > 1)
