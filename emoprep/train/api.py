"""``fit``: cross-validated training of one head on Sequences + Folds, cached per unit.

Layout under ``root`` (the caller picks it, e.g. ``out/train/<features>``)::

    units/<fingerprint[:20]>/   one per fold and final model (see emoprep.train.units)
    runs/<head>-<task>-<split>-<hash8>/   the run folder (see emoprep.train.report)

Seeds: fold k trains with ``torch.manual_seed(seed * 1000 + k)`` and batch order from
``seed * 1000 + k``-derived generators, the final model with ``seed * 1000 + 999``; the same
inputs and settings on the same machine and thread count give the same metrics.
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np

from emoprep.errors import ConfigError
from emoprep.train.checks import PartCounts, check_folds, single_frame_note
from emoprep.train.config import POOLED_HEADS, Task, TrainConfig, load_config
from emoprep.train.data import Folds, Sequences, folds_digest, sequences_digest, validate
from emoprep.train.metrics import evaluate, with_joint
from emoprep.train.units import (
    FINAL,
    TrainUnit,
    make_unit,
    read_record,
    save_outputs,
    state_of,
    write_log,
    write_record,
)
from emoprep.types import UnitState


@contextlib.contextmanager
def torch_threads(n: int | None) -> Iterator[None]:
    """Run the block with ``torch.set_num_threads(n)`` (unchanged when None), then restore."""
    import torch

    old = torch.get_num_threads()
    if n:
        torch.set_num_threads(n)
    try:
        yield
    finally:
        torch.set_num_threads(old)


def prepare(sequences: Sequences, folds: Folds, cfg: TrainConfig, features_fingerprint: str,
            checks: dict[str, Any] | None = None) -> tuple[Sequences, str, str, list[str]]:
    """Validated sequences (with ``joint`` labels if asked), features and split fingerprints, and
    the degenerate-data warnings (``checks``: ``only``, ``counts``, ``allow`` of
    :func:`emoprep.train.checks.check_folds`; it raises unless allowed)."""
    validate(sequences)
    seqs = with_joint(sequences) if cfg.task is Task.JOINT else sequences
    missing = [t for t in cfg.targets if t not in seqs.labels]
    if missing:
        fix = ("these videos have no labels: set labels.pattern or a preset" if not seqs.labels
               else f"the sequences have {sorted(seqs.labels)}; pick another task")
        raise ConfigError("train.task", [f"task {cfg.task.value!r} needs labels {missing} ({fix})"])
    warnings = check_folds(seqs, folds, cfg.targets, cfg.min_class_items, **(checks or {}))
    warnings += single_frame_note(seqs, cfg.head.value, cfg.head in POOLED_HEADS)
    validate(sequences, folds)
    return (seqs, features_fingerprint or sequences_digest(sequences),
            folds.digest or folds_digest(folds), warnings)


def final_epochs(fold_records: list[dict[str, Any]]) -> int:
    """Rounded mean best epoch of the folds (at least 1)."""
    return max(1, int(round(float(np.mean([r["best_epoch"] for r in fold_records])))))


def train_unit(unit: TrainUnit, root: Path, seqs: Sequences, cfg: TrainConfig,
               train_idx: np.ndarray, val_idx: np.ndarray | None, test_idx: np.ndarray, epochs: int,
               seed: int) -> dict[str, Any]:
    """Train one unit into its folder and write its record; returns the record."""
    from emoprep.train.loop import Trainer, outputs_for

    folder = unit.folder(root)
    folder.mkdir(parents=True, exist_ok=True)
    t0 = time.perf_counter()
    trainer = Trainer(seqs, cfg, seed)
    res = trainer.fit(train_idx, val_idx, epochs)
    trainer.save(folder / "best.pt")
    trainer.load(folder / "best.pt")  # what is reported is what was saved
    classes = {t: seqs.classes[t] for t in (*cfg.targets, "emotion", "authenticity")
               if t in seqs.classes}
    outs = {"val": outputs_for(trainer, seqs, val_idx if val_idx is not None else test_idx[:0]),
            "test": outputs_for(trainer, seqs, test_idx)}
    save_outputs(folder / "outputs.npz", outs)
    write_log(folder / "epochs.csv", res.log)
    rec = {"best_epoch": res.best_epoch, "epochs": len(res.log), "log": res.log,
           "n_train": int(len(train_idx)), "n_train_items": res.n_items, "classes": classes,
           "seconds": time.perf_counter() - t0,
           **{part: evaluate(o["probs"], o["labels"], classes) if o else None
              for part, o in outs.items()}}
    write_record(unit, root, rec)
    return rec


def _ints(idx: np.ndarray) -> np.ndarray:
    return np.asarray(idx, np.int64)


def run_units(seqs: Sequences, folds: Folds, cfg: TrainConfig, root: Path, features: str,
              split_digest: str, only: list[int] | None = None) -> dict[str, Any]:
    """Train what is missing; returns ``{"folds": [(unit, record, trained)], "final": ...}``."""
    done: dict[str, Any] = {"folds": [], "final": None}
    for k in (only if only is not None else range(len(folds.folds))):
        unit = make_unit(cfg, folds.name, split_digest, features, k)
        rec, trained = read_record(unit, root), False
        if rec is None:
            tr, va = folds.folds[k]
            rec, trained = train_unit(unit, root, seqs, cfg, tr, va, _ints(folds.test),
                                      cfg.optim.epochs, cfg.seed * 1000 + k), True
        done["folds"].append((unit, rec, trained))
    if cfg.final_model and only is None:
        epochs = final_epochs([r for _, r, _ in done["folds"]])
        unit = make_unit(cfg, folds.name, split_digest, features, FINAL, epochs)
        rec, trained = read_record(unit, root), False
        if rec is None:
            everyone = np.unique(np.concatenate([np.concatenate(f) for f in folds.folds]))
            rec, trained = train_unit(unit, root, seqs, cfg, everyone, None, _ints(folds.test),
                                      epochs,
                                      cfg.seed * 1000 + 999), True
        done["final"] = (unit, rec, trained)
    return done


def fit(sequences: Sequences, folds: Folds, cfg: TrainConfig | dict[str, Any], out_dir: str | Path,
        features_fingerprint: str = "", *, only_folds: list[int] | None = None,
        plots: bool = True, allow_degenerate: bool = False,
        part_counts: dict[tuple[int, str], PartCounts] | None = None) -> dict[str, Any]:
    """Cross-validate ``cfg.head`` on ``folds``; train only the units not done under ``out_dir``.

    Before any epoch every fold is checked (:mod:`emoprep.train.checks`): degenerate data raises
    DegenerateDataError unless ``allow_degenerate`` (then ``warnings`` lists the problems).
    Returns the run's metrics (also in ``<run folder>/metrics.json``): per fold and mean +- std of
    accuracy per task, combined accuracy, macro-F1, confusion matrices, the final model's test
    scores, the linear probe's scores on the same folds (``probe``), which units were trained or
    reused, and ``table`` (the printed summary, text).
    """
    from emoprep.train.probe import probe_folds
    from emoprep.train.report import write_run

    cfg = cfg if isinstance(cfg, TrainConfig) else load_config(cfg)
    root = Path(out_dir)
    bad = [k for k in only_folds or [] if not 0 <= k < len(folds.folds)]
    if bad:
        raise ConfigError("train.folds", [f"folds {bad} do not exist; split {folds.name!r} has "
                                          f"folds 0..{len(folds.folds) - 1}"])
    seqs, features, split_digest, warnings = prepare(
        sequences, folds, cfg, features_fingerprint,
        {"only": only_folds, "counts": part_counts, "allow": allow_degenerate})
    with torch_threads(cfg.num_threads):
        done = run_units(seqs, folds, cfg, root, features, split_digest, only_folds)
    probe = probe_folds(seqs, folds, cfg.targets, only_folds, cfg.final_model)
    return write_run(root, cfg, folds.name, split_digest, features, done, plots=plots,
                     probe=probe, warnings=warnings)


def unit_states(out_dir: str | Path, cfg: TrainConfig, split_name: str, split_digest: str,
                n_folds: int, features_fingerprint: str) -> list[dict[str, str]]:
    """Every training unit of ``cfg`` on a split with its state, for ``emoprep status``.

    Rows ``{"unit", "state", "reason", "fingerprint"}``; the final model (when asked) is listed
    with the epoch count of its up-to-date folds, or as missing until every fold is done.
    """
    root, rows, recs = Path(out_dir), [], []
    for k in range(n_folds):
        unit = make_unit(cfg, split_name, split_digest, features_fingerprint, k)
        state, reason = state_of(unit, root)
        rows.append({"unit": unit.name, "state": state.value, "reason": reason,
                     "fingerprint": unit.fingerprint})
        recs.append(read_record(unit, root) if state is UnitState.FRESH else None)
    if cfg.final_model:
        name = f"train:{cfg.head.value}/{cfg.task.value}/{split_name}/{FINAL}"
        if any(r is None for r in recs):
            rows.append({"unit": name, "state": UnitState.MISSING.value,
                         "reason": "waits for its folds", "fingerprint": ""})
        else:
            unit = make_unit(cfg, split_name, split_digest, features_fingerprint, FINAL,
                             final_epochs([r for r in recs if r is not None]))
            state, reason = state_of(unit, root)
            rows.append({"unit": unit.name, "state": state.value, "reason": reason,
                         "fingerprint": unit.fingerprint})
    return rows
