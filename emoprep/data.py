"""Fixed-length sequences of cached features for training code.

``SequenceDataset`` is a torch Dataset over one feature store; ``select_items`` and
``pad_sequence`` are shared with ``emoprep export``, so the exported file and the Dataset agree
frame for frame.

Length rule (``max_len`` = L): a sequence longer than L is cut to L frames, either evenly spaced
(``PadRule.SUBSAMPLE``, frames ``round(linspace(0, T-1, L))``) or the first L (``PadRule.HEAD``);
a shorter one is zero-padded at the end. The mask is 1 for real frames with a face, 0 for
padding and for frames without a face (their features are zeros).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from enum import Enum
from pathlib import Path
from typing import Any

import numpy as np

from emoprep.errors import ConfigError
from emoprep.io.layout import Layout
from emoprep.io.reader import FeatureStore


class PadRule(str, Enum):
    SUBSAMPLE = "subsample"  #: evenly spaced frames when too long (default)
    HEAD = "head"  #: the first L frames when too long


class Part(str, Enum):
    TRAIN = "train"
    VAL = "val"
    TEST = "test"
    ALL = "all"


def pad_sequence(features: np.ndarray, mask: np.ndarray, max_len: int,
                 rule: PadRule = PadRule.SUBSAMPLE) -> tuple[np.ndarray, np.ndarray]:
    """(T, D), (T,) -> (L, D) float32, (L,) uint8 per the module's length rule."""
    T = features.shape[0]
    if T > max_len:
        pick = (np.round(np.linspace(0, T - 1, max_len)).astype(np.int64) if rule is PadRule.SUBSAMPLE
                else np.arange(max_len))
        features, mask = features[pick], mask[pick]
    out = np.zeros((max_len, features.shape[1]), np.float32)
    m = np.zeros(max_len, np.uint8)
    out[: len(features)] = features
    m[: len(mask)] = mask.astype(np.uint8)
    return out, m


@dataclass(frozen=True)
class Item:
    video_id: str
    augmentation: str | None
    subject: str
    labels: dict[str, str]

    @property
    def name(self) -> str:
        return f"{self.video_id}@{self.augmentation}" if self.augmentation else self.video_id


def label_classes(table: list[dict[str, Any]]) -> dict[str, list[str]]:
    """Sorted class names per label key over every video of the manifest (so all parts agree)."""
    classes: dict[str, set[str]] = {}
    for row in table:
        for k, v in row["labels"].items():
            classes.setdefault(k, set()).add(v)
    return {k: sorted(v) for k, v in sorted(classes.items())}


def split_videos(out: Path, split: str, fold: int | None, part: Part) -> set[str]:
    """Video ids of one part of a split manifest (``out/splits/<split>.json``)."""
    path = Layout(out).split(split)
    if not path.is_file():
        raise ConfigError(str(path), [f"split {split!r} not found; run `emoprep run` (stages.split.name)"])
    s = json.loads(path.read_text())
    if part is Part.TEST:
        return set(s["test"])
    if part is Part.ALL:
        return set(s["test"]) | {v for f in s["folds"] for v in f["val"]}
    if fold is None or not 0 <= fold < len(s["folds"]):
        raise ConfigError(str(path), [f"fold must be 0..{len(s['folds']) - 1} for part {part.value}, got {fold}"])
    return set(s["folds"][fold][part.value])


def select_items(store: FeatureStore, split: str | None = None, fold: int | None = None,
                 part: Part = Part.ALL, augmentations: list[str] | tuple[str, ...] = ()) -> list[Item]:
    """The sequences of one part, originals first then augmented variants (training part only)."""
    if augmentations and part is not Part.TRAIN:
        raise ConfigError("augmentations", [f"augmented variants are for the training part only, got part={part.value}"])
    rows = {r["video_id"]: r for r in store.table() if r["status"] == "ok"}
    wanted = sorted(rows) if split is None else sorted(set(rows) & split_videos(store.layout.root, split, fold, part))
    items = [Item(v, None, rows[v]["subject"], rows[v]["labels"]) for v in wanted]
    for aug in augmentations:
        missing = [v for v in wanted if aug not in store.augmentations(v)]
        if missing:
            raise ConfigError("augmentations", [f"augmentation {aug!r} not cached for {missing[0]} and "
                                                f"{len(missing) - 1} more; add it to stages.augment.names and run"])
        items += [Item(v, aug, rows[v]["subject"], rows[v]["labels"]) for v in wanted]
    return items


class SequenceDataset:
    """torch Dataset of (features (L, D) float32, mask (L,) float32, labels {task: int64}, name).

    HDF5 files are opened lazily in each worker process, so DataLoader(num_workers > 0) works.
    """

    def __init__(self, out: str | Path, features: str, split: str | None = None, fold: int | None = None,
                 part: str | Part = Part.ALL, max_len: int = 100, augmentations: list[str] | tuple[str, ...] = (),
                 pad: str | PadRule = PadRule.SUBSAMPLE) -> None:
        self.store = FeatureStore(out, features)
        self.items = select_items(self.store, split, fold, Part(part), tuple(augmentations))
        self.classes = label_classes(self.store.table())
        self.max_len, self.pad = max_len, PadRule(pad)

    def __len__(self) -> int:
        return len(self.items)

    def __getitem__(self, i: int) -> tuple[Any, Any, dict[str, Any], str]:
        import torch

        it = self.items[i]
        feats, mask = self.store.read(it.video_id, it.augmentation)
        x, m = pad_sequence(feats, mask, self.max_len, self.pad)
        labels = {k: torch.tensor(self.classes[k].index(v), dtype=torch.int64) for k, v in it.labels.items()}
        return torch.from_numpy(x), torch.from_numpy(m.astype(np.float32)), labels, it.name
