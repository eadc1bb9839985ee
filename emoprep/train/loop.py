"""Training of one unit (a CV fold, or the final model) and prediction with its best checkpoint.

Protocol: features standardised with the training part's statistics (kept in the model, see
:mod:`emoprep.train.standardize`); Adam, or SGD with momentum (``optim.optimizer``); sequences
longer than ``max_len`` cut by ``seq_cut``; per epoch one shuffled pass over the training part
(seeded generator), then the validation part. The checkpoint is the state after the epoch with
the best validation *selection accuracy* (the task's accuracy; the combined accuracy for
``multitask``; first best wins ties).
Optional ReduceLROnPlateau on the validation loss or accuracy (``optim.plateau_monitor``) and
early stopping after ``patience`` epochs
without a better selection accuracy. A final model has no validation part: it trains a fixed number
of epochs and keeps the last state. ``precision`` combination: each head's factor for an epoch is
its macro precision on the training batches of the previous epoch (predictions made while
training, dropout on); 1 in the first epoch.
"""

from __future__ import annotations

import copy
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import numpy as np
import torch

from emoprep.train.config import Combine, Monitor, OptimConfig, Optimizer, TrainConfig
from emoprep.train.data import SequenceData, Sequences, collate
from emoprep.train.heads import SequenceModel
from emoprep.train.losses import balanced_weights, combine, head_loss
from emoprep.train.metrics import combined_accuracy, macro_precision
from emoprep.train.standardize import fit_stats
from emoprep.types import resolve_device


@dataclass
class FitResult:
    """What training one unit produced: per-epoch log rows and the best epoch (1-based)."""

    log: list[dict[str, float]] = field(default_factory=list)
    best_epoch: int = 0
    best_score: float = float("-inf")
    n_items: int = 0  #: training items per epoch (originals + augmented copies)


def selection_score(ys: dict[str, np.ndarray], preds: dict[str, np.ndarray]) -> float:
    """Accuracy of the single target, or the share with every target right."""
    return combined_accuracy(ys, preds)


def _loader(data: SequenceData, batch: int, shuffle: bool,
            seed: int) -> torch.utils.data.DataLoader:
    g = torch.Generator().manual_seed(seed)
    # a map-style dataset by protocol (__len__, __getitem__); torch's stubs want a Dataset
    return torch.utils.data.DataLoader(data,  # type: ignore[arg-type]
                                       batch_size=batch, shuffle=shuffle, generator=g,
                                       collate_fn=collate, num_workers=0)


def make_optimizer(params: Any, optim: OptimConfig) -> torch.optim.Optimizer:
    """Adam, or SGD with ``optim.momentum``; both at ``optim.lr`` with ``optim.weight_decay``."""
    if optim.optimizer is Optimizer.SGD:
        return torch.optim.SGD(params, lr=optim.lr, momentum=optim.momentum,
                               weight_decay=optim.weight_decay)
    return torch.optim.Adam(params, lr=optim.lr, weight_decay=optim.weight_decay)


def make_plateau(opt: torch.optim.Optimizer, optim: OptimConfig) -> Any:
    """ReduceLROnPlateau on ``optim.plateau_monitor``: ``min`` for the loss, ``max`` for the
    accuracy; the lr is multiplied by ``plateau_factor`` after ``plateau_patience`` epochs
    without a better value."""
    mode: Literal["min", "max"] = "max" if optim.plateau_monitor is Monitor.VAL_ACC else "min"
    return torch.optim.lr_scheduler.ReduceLROnPlateau(
        opt, mode=mode, factor=optim.plateau_factor, patience=optim.plateau_patience)


class Trainer:
    """Trains one model on ``train_idx`` of ``seqs``; see the module docstring for the protocol."""

    def __init__(self, seqs: Sequences, cfg: TrainConfig, seed: int) -> None:
        self.seqs, self.cfg, self.targets = seqs, cfg, cfg.targets
        self.device = resolve_device(cfg.device, "train")
        torch.manual_seed(seed)
        n_classes = {t: len(seqs.classes[t]) for t in self.targets}
        self.model = SequenceModel(seqs.dim, cfg, n_classes).to(self.device)
        self.opt = make_optimizer(self.model.parameters(), cfg.optim)
        self.seed = seed
        self.factors = {t: 1.0 for t in self.targets}
        self.weights: dict[str, torch.Tensor] = {}

    def set_class_weights(self, idx: np.ndarray) -> None:
        for t in self.targets:
            w = balanced_weights(self.seqs.labels[t][idx], len(self.seqs.classes[t]))
            self.weights[t] = torch.from_numpy(w).to(self.device)

    def _loss(self, out: dict[str, torch.Tensor], y: dict[str, torch.Tensor]) -> torch.Tensor:
        losses = {t: head_loss(out[t], y[t].to(self.device), self.cfg.loss, self.weights[t])
                  for t in self.targets}
        return combine(losses, self.factors)

    def train_epoch(self, data: SequenceData, epoch: int) -> dict[str, float]:
        """One pass; returns mean loss and accuracy per target on the training batches."""
        self.model.train()
        total = 0.0
        ys: dict[str, list[np.ndarray]] = {t: [] for t in self.targets}
        preds: dict[str, list[np.ndarray]] = {t: [] for t in self.targets}
        for batch in _loader(data, self.cfg.optim.batch_size, True, self.seed * 1000 + epoch):
            out = self.model(batch["x"].to(self.device), batch["lengths"])
            loss = self._loss(out, batch["y"])
            self.opt.zero_grad()
            loss.backward()
            self.opt.step()
            total += float(loss.detach()) * len(batch["lengths"])
            for t in self.targets:
                ys[t].append(batch["y"][t].numpy())
                preds[t].append(out[t].argmax(1).cpu().numpy())
        y = {t: np.concatenate(v) for t, v in ys.items()}
        p = {t: np.concatenate(v) for t, v in preds.items()}
        if self.cfg.loss.combine is Combine.PRECISION:
            self.factors = {t: macro_precision(y[t], p[t]) for t in self.targets}
        row = {"train_loss": total / len(data), "train_acc": selection_score(y, p)}
        row.update({f"train_{t}_acc": float((y[t] == p[t]).mean()) for t in self.targets})
        return row

    @torch.no_grad()
    def predict(self, data: SequenceData) -> tuple[dict[str, np.ndarray], float]:
        """Softmax probabilities per target, (N, K) in ``data`` order, and the mean loss."""
        self.model.eval()
        probs: dict[str, list[np.ndarray]] = {t: [] for t in self.targets}
        total = 0.0
        for batch in _loader(data, self.cfg.optim.batch_size, False, 0):
            out = self.model(batch["x"].to(self.device), batch["lengths"])
            total += float(self._loss(out, batch["y"])) * len(batch["lengths"])
            for t in self.targets:
                probs[t].append(torch.softmax(out[t].float(), 1).cpu().numpy())
        return {t: np.concatenate(v) for t, v in probs.items()}, total / max(len(data), 1)

    def fit(self, train_idx: np.ndarray, val_idx: np.ndarray | None, epochs: int) -> FitResult:
        """Train ``epochs`` epochs (fewer with early stopping); leaves the best state loaded."""
        cfg = self.cfg
        self.set_class_weights(train_idx)
        if cfg.standardize:
            self.model.norm.set(*fit_stats(self.seqs, train_idx))
        augs = tuple(sorted(self.seqs.augmented)) if cfg.use_augmented else ()
        train = SequenceData(self.seqs, train_idx, self.targets, cfg.max_len, augs, cfg.seq_cut)
        val = SequenceData(self.seqs, val_idx, self.targets, cfg.max_len, (), cfg.seq_cut) \
            if val_idx is not None else None
        plateau = make_plateau(self.opt, cfg.optim) if cfg.optim.plateau and val is not None \
            else None
        res, best_state = FitResult(n_items=len(train)), None
        for epoch in range(1, epochs + 1):
            t0 = time.perf_counter()
            row: dict[str, float] = {"epoch": epoch, "lr": self.opt.param_groups[0]["lr"]}
            row.update(self.train_epoch(train, epoch))
            score = row["train_acc"]
            if val is not None:
                score = self._validate(val, row)
                if plateau is not None:
                    plateau.step(row[cfg.optim.plateau_monitor.value])
            row["seconds"] = time.perf_counter() - t0
            res.log.append(row)
            if val is None or score > res.best_score:
                res.best_epoch, res.best_score = epoch, score
                best_state = copy.deepcopy(self.model.state_dict())
            elif cfg.optim.early_stopping and \
                    epoch - res.best_epoch >= cfg.optim.early_stopping_patience:
                break
        assert best_state is not None  # the first epoch always sets it
        self.model.load_state_dict(best_state)
        return res

    def _validate(self, val: SequenceData, row: dict[str, float]) -> float:
        probs, loss = self.predict(val)
        idx = np.array([i for _, i in val.items], np.int64)
        ys = {t: self.seqs.labels[t][idx] for t in self.targets}
        preds = {t: p.argmax(1) for t, p in probs.items()}
        row["val_loss"] = loss
        row.update({f"val_{t}_acc": float((ys[t] == preds[t]).mean()) for t in self.targets})
        row["val_acc"] = selection_score(ys, preds)
        return row["val_acc"]

    def save(self, path: Path) -> None:
        """Best state dict to ``path`` (written to a temporary name, then renamed)."""
        tmp = path.with_suffix(".tmp")
        torch.save(self.model.state_dict(), tmp)
        tmp.replace(path)

    def load(self, path: Path) -> None:
        state = torch.load(path, map_location=self.device, weights_only=True)
        self.model.load_state_dict(state)


def outputs_for(trainer: Trainer, seqs: Sequences, idx: np.ndarray) -> dict[str, Any]:
    """Probabilities, labels and ids of ``idx`` under the trainer's current (best) state."""
    if len(idx) == 0:
        return {}
    cfg = trainer.cfg
    probs, _ = trainer.predict(SequenceData(seqs, idx, trainer.targets, cfg.max_len, (),
                                            cfg.seq_cut))
    return {"index": np.asarray(idx, np.int64), "video_ids": np.asarray(seqs.video_ids)[idx],
            "probs": probs, "labels": {t: seqs.labels[t][idx] for t in trainer.targets}}
