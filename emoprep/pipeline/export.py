"""``emoprep export``: one padded HDF5 file in the layout the source theses trained from.

Datasets: ``features`` (N, L, D) float32, ``masks`` (N, L) uint8, ``labels`` (N, C) one-hot of the
first label key (or ``task``), ``labels_<key>`` (N,) int64 and ``onehot_<key>`` (N, C_key) per
label key, ``classes_<key>`` (C_key,) names, ``names`` (N,) and ``subjects`` (N,).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from emoprep.data import PadRule, Part, label_classes, pad_sequence, select_items
from emoprep.errors import ConfigError
from emoprep.io.hdf5 import write_arrays
from emoprep.io.reader import FeatureStore


def export(out: Path, features: str, dest: Path, max_len: int = 100, split: str | None = None,
           fold: int | None = None, part: Part = Part.ALL, augmentations: tuple[str, ...] = (),
           pad: PadRule = PadRule.SUBSAMPLE, task: str | None = None) -> dict[str, int]:
    """Write one padded file; returns {"n": N, "max_len": L, "dim": D}."""
    store = FeatureStore(out, features)
    items = select_items(store, split, fold, part, augmentations)
    if not items:
        raise ConfigError("export", [f"no sequences for split={split} fold={fold} part={part.value}"])
    classes = label_classes(store.table())
    task = task or next(iter(classes), None)
    if task is not None and task not in classes:
        raise ConfigError("export", [f"task {task!r} is not a label key (have {', '.join(classes)})"])
    feats, masks = [], []
    for it in items:
        f, m = store.read(it.video_id, it.augmentation)
        x, mm = pad_sequence(f, m, max_len, pad)
        feats.append(x)
        masks.append(mm)
    arrays: dict[str, np.ndarray] = {
        "features": np.stack(feats), "masks": np.stack(masks),
        "names": np.array([it.name for it in items], dtype=str),
        "subjects": np.array([it.subject for it in items], dtype=str),
    }
    for key, names in classes.items():
        idx = np.array([names.index(it.labels[key]) if key in it.labels else -1 for it in items], np.int64)
        onehot = np.zeros((len(items), len(names)), np.float32)
        onehot[idx >= 0, idx[idx >= 0]] = 1.0
        arrays[f"labels_{key}"], arrays[f"onehot_{key}"] = idx, onehot
        arrays[f"classes_{key}"] = np.array(names, dtype=str)
    if task is not None:
        arrays["labels"] = arrays[f"onehot_{task}"]
    attrs = {"features": features, "max_len": max_len, "pad_rule": pad.value, "split": split or "",
             "fold": -1 if fold is None else fold, "part": part.value, "task": task or "",
             "augmentations": list(augmentations)}
    write_arrays(dest, arrays, attrs)
    return {"n": len(items), "max_len": max_len, "dim": int(arrays["features"].shape[2])}
