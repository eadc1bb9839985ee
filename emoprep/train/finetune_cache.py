"""Reuse of a fine-tuning run: the key of what a checkpoint depends on, kept in its metrics.json,
so ``emoprep experiment`` fine-tunes again only when something that changes the model changed.

The key (:func:`run_key`) holds the crops themselves (a sha256 of their bytes and of the crop ->
video map), the labels and classes, the split's parts (``Folds.digest``), the pretrained file's
sha256 (None: from scratch), the options (backbone, layer, input size, fold, augmentation on
or off, freeze) and the ``train:`` settings that change the model (task, heads' width, loss,
optimiser, seed and the ``finetune`` section but its ``weights`` path); not the device or
thread count. A run is reused (:func:`reusable`) when ``metrics.json`` holds the same key and
the checkpoint beside it still has the sha256 it recorded.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from emoprep.io.atomic import sha256_file
from emoprep.pipeline.fingerprint import digest

if TYPE_CHECKING:
    from emoprep.train.config import TrainConfig
    from emoprep.train.frames import FrameSet

VERSION = 1  #: bump when fine-tuning changes what it trains from the same inputs
_MODEL_KEYS = ("task", "task_hidden", "loss", "optim", "seed", "finetune")


def run_key(fs: FrameSet, options: dict[str, Any], cfg: TrainConfig) -> str:
    """sha256 hex of everything the fine-tuned checkpoint depends on (see the module);
    ``options``: the FinetuneOptions as a dict (``weights``: the pretrained file)."""
    crops = hashlib.sha256()
    for arr in (fs.crops, fs.video_of):
        crops.update(np.ascontiguousarray(arr).tobytes())
    crops.update(repr(fs.crops.shape).encode())
    settings = cfg.model_dump(mode="json", include=set(_MODEL_KEYS))
    settings["finetune"].pop("weights", None)
    return digest({"version": VERSION, "crops": crops.hexdigest(), "folds": fs.folds.digest,
                   "labels": {t: [y.tolist(), c] for t, (y, c) in fs.targets.items()},
                   "weights_sha256": options["weights"] and sha256_file(options["weights"]),
                   "options": {
                       k: str(v) if isinstance(v, Path) else getattr(v, "value", v)
                       for k, v in options.items()
                       if k != "weights" and not (k == "dropout" and v is None)},
                   "train": settings})


def reusable(dest: Path, key: str) -> dict[str, Any] | None:
    """The metrics of the run in ``dest`` when its key is ``key`` and its checkpoint is intact;
    None otherwise (no run, another key, a changed or missing checkpoint)."""
    path = dest / "metrics.json"
    if not path.is_file():
        return None
    try:
        metrics = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    ckpt = Path(metrics.get("checkpoint", ""))
    if metrics.get("key") != key or not ckpt.is_file() or sha256_file(ckpt) != metrics.get(
            "sha256"):
        return None
    return metrics
