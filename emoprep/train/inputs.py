"""The inputs of ``emoprep train`` read from an output folder, with what the checks need.

:func:`load_inputs` wraps :func:`emoprep.data.load_sequences`: it first refuses a store whose
videos carry no label at all ("these videos have no labels: set labels.pattern or a preset"), and
it counts, per fold and part, the videos the split lists and why some are missing (failed, no
label), so that :mod:`emoprep.train.checks` can say "all 4 videos of fold 1's val part failed"
rather than "empty part".
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from emoprep.data import StoreReader, label_classes, load_sequences, resolve_split
from emoprep.errors import ConfigError
from emoprep.train.checks import PartCounts
from emoprep.train.config import Task, TrainConfig
from emoprep.train.data import Folds, Sequences

NO_LABELS = "these videos have no labels: set labels.pattern or a preset"


def augmentations_used(names: list[str], cfg: TrainConfig) -> list[str]:
    """The augmented copies a training part reads: none unless ``use_augmented``; of
    ``stages.augment.names`` (in the manifest's order) all, or the first
    ``augmented_copies`` (per head when a mapping: 003 §3.3.2's BiLSTM took three)."""
    n = cfg.copies()
    return list(names) if n is None else list(names)[:n]


def label_keys(cfg: TrainConfig) -> list[str]:
    """The label keys the task reads (``joint`` reads emotion and authenticity)."""
    return [Task.EMOTION.value, Task.AUTHENTICITY.value] if cfg.task is Task.JOINT \
        else cfg.targets


def require_labels(classes: dict[str, list[str]], cfg: TrainConfig, source: str) -> None:
    """ConfigError when the store has no label key at all (the manifest set no naming rule)."""
    if not classes:
        raise ConfigError(source, [f"task {cfg.task.value!r}: {NO_LABELS} (labels.preset or "
                                   f"labels.pattern in the manifest, docs/MANIFEST.md; then "
                                   f"emoprep run again: labels are metadata, nothing re-decodes)"])


def part_counts(rows: dict[str, dict[str, Any]], split: dict[str, Any],
                keys: list[str]) -> dict[tuple[int, str], PartCounts]:
    """``{(fold, "train"|"val"): PartCounts, (-1, "test"): ...}`` from the split file's lists and
    the store's table rows (video id -> row with ``status`` and ``labels``)."""

    def count(ids: list[str]) -> PartCounts:
        failed = [v for v in ids if rows.get(v, {}).get("status") != "ok"]
        unlabelled = [v for v in ids if v not in failed
                      and not all(k in rows[v]["labels"] for k in keys)]
        return PartCounts(len(ids), len(failed), len(unlabelled))

    out = {(-1, "test"): count(list(split.get("test", [])))}
    for k, fold in enumerate(split.get("folds", [])):
        for part in ("train", "val"):
            out[(k, part)] = count(list(fold[part]))
    return out


def load_inputs(out: str | Path, features: str, split: str | None, cfg: TrainConfig,
                augmentations: list[str]) -> tuple[Sequences, Folds,
                                                   dict[tuple[int, str], PartCounts]]:
    """Sequences, folds and per-part counts of one feature store and split of a run."""
    reader = StoreReader(out, features)
    table = reader.table()
    require_labels(reader.attrs().get("classes") or label_classes(table), cfg, "train.task")
    seqs, folds = load_sequences(out, features, split, cfg.task.value,
                                 augmentations=augmentations,
                                 keep_test_anomalies=cfg.keep_test_anomalies)
    rows = {r["video_id"]: r for r in table}
    return seqs, folds, part_counts(rows, resolve_split(reader, split).data, label_keys(cfg))
