"""Glue between the cache and the trainers: the inputs of ``emoprep train`` and its units' states.

This module sits in the trainers' layer (docs/ARCHITECTURE.md, "Layers"): it reads a finished
run through the readers (:mod:`emoprep.data`) and the records; the engine never imports it (the
runner's ``status`` takes :func:`training_status` as an argument).

The trainer (:mod:`emoprep.train`) works on :class:`~emoprep.train.data.Sequences` and
:class:`~emoprep.train.data.Folds`; here they are read from a run's feature store and split
manifest (:func:`emoprep.data.load_sequences`), and the feature store's fingerprint is made from
the records of its ``embed:`` units, so a trained fold is stale exactly when its features changed.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from emoprep.errors import EmoprepError
from emoprep.io.layout import Layout, stage_dirname
from emoprep.pipeline.fingerprint import digest
from emoprep.pipeline.records import RecordStore
from emoprep.pipeline.session import Session
from emoprep.types import UnitStatus


def features_fingerprint(out: Path, features: str) -> str:
    """Digest of the fingerprints of every ``embed:<features>[@aug]`` record of a run (the
    features of every video and augmented variant); "" when there are none. Unreadable and
    failed records are left out."""
    name = stage_dirname(f"embed:{features}")
    records, _ = RecordStore(Layout(Path(out))).scan(
        lambda folder: folder == name or folder.startswith(f"{name}@"))
    parts = [[stage_dirname(r.stage), r.video_id, r.fingerprint] for r in records
             if r.status is UnitStatus.OK]
    return digest(parts) if parts else ""


def train_root(out: Path, features: str) -> Path:
    """Where the training units and run folders of one feature store live."""
    return Path(out) / "train" / features


def train_units(out: Path, features: str, cfg: Any, split: str | None = None
                ) -> list[dict[str, str]]:
    """Every training unit of ``cfg`` on ``features`` with its state (for ``status``)."""
    from emoprep.data import load_sequences
    from emoprep.train import unit_states

    fp = features_fingerprint(out, features)
    if not fp:
        return []
    _, folds = load_sequences(out, features, split, cfg.task.value)
    return unit_states(train_root(out, features), cfg, folds.name, folds.digest, len(folds.folds),
                       fp)


def training_status(session: Session) -> list[dict[str, str]]:
    """The units of ``emoprep train`` (the manifest's train: settings) for every feature store
    that has been trained on, with their state; [] when nothing was trained."""
    root = session.layout.root / "train"
    if not root.is_dir():
        return []
    rows = []
    for folder in sorted(p for p in root.iterdir() if p.is_dir()):
        try:
            units = train_units(session.layout.root, folder.name, session.manifest.train,
                                session.manifest.stages.split.name)
        except EmoprepError as exc:
            units = [{"unit": f"train:{folder.name}", "state": "unavailable", "reason": str(exc)}]
        rows += [{"features": folder.name, **u} for u in units]
    return rows
