"""Frame-level training: a face backbone fine-tuned end to end (or frozen) on single aligned frames
of a run's frame store, with frame and video accuracy, and a checkpoint an embedder loads.

Protocol: crops of one fold's training videos (:mod:`emoprep.train.frames`), each labelled by its
video's label; per epoch one shuffled pass (seeded), each crop transformed by
``train.finetune.augment`` (:mod:`emoprep.train.frame_augment`; default: a left-right flip with
probability 0.5; ``FinetuneOptions.augment=False``: none), the loss of ``train.loss`` (class
weights from the training frames when ``class_weighted``), the optimiser of ``train.optim``
(Adam, or SGD with ``momentum``; the trainer's :func:`~emoprep.train.loop.make_optimizer`) and
its plateau schedule
(:func:`~emoprep.train.loop.make_plateau`, ``val_acc`` = validation *video* accuracy). The
checkpoint is the state after the epoch with the best validation video accuracy (first best
wins; early stopping after ``early_stopping_patience`` epochs without a better one); a final
model (``fold=None``: every non-test video) trains ``epochs`` epochs and keeps the last state.
Video predictions: the mean of the per-frame softmax probabilities. One task: each part also
has ``frame_mean_class_accuracy`` (the mean over classes of each class's recall, per crop: the
AffectNet thesis's metric, 004 §3.5).

The files come from :func:`source_weights` (``--weights``, ``train.finetune.weights``, or the
manifest's embedder of the backbone's type, whose ``input_size`` is used too).

``task: multitask`` (the SASE-FE protocol, 000 §3.2): one Linear-ReLU-Linear head per task
(emotion, authenticity; ``train.task_hidden`` units) on the shared backbone, each with the loss
of ``train.loss`` (``multilabel_focal``: the MFL of eq. 3.2), combined by ``train.loss.combine``
(``sum``, or ``precision``: eq. 3.3 with each head's training macro precision of the previous
epoch, 1 in the first). Scores: each head's frame and video accuracy and the combined accuracy of
§3.2.1 counted per frame (both heads right on a crop) and per video; the best epoch is the one
with the best validation combined *frame* accuracy, the thesis's figure.

Writes ``OUT/finetune/<backbone>/<fold_k | final>/``: the checkpoint (``irv1_finetuned.pt``,
``vggface_finetuned.pt``, ``densenet121_finetuned.pt``, ``shallow_cnn.pt``: a plain state
dict), ``metrics.json`` (settings, per-epoch log, frame and video accuracy of the validation
and test parts, the checkpoint's sha256).
"""

from __future__ import annotations

import copy
import json
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
from sklearn.metrics import balanced_accuracy_score

from emoprep.errors import ConfigError, ModelFileError
from emoprep.io.atomic import atomic_path, atomic_write_text, expand_path, sha256_file
from emoprep.pipeline.manifest.schema import Manifest
from emoprep.stages.embed.vggface import VggLayer
from emoprep.train.backbones import (
    CHECKPOINT,
    EXPECTED,
    Built,
    build,
    checkpoint_state,
    eval_frozen,
    frozen_prefixes,
    set_frozen,
)
from emoprep.train.config import Backbone, Combine, Monitor, TrainConfig
from emoprep.train.finetune_cache import reusable, run_key
from emoprep.train.frame_augment import augment
from emoprep.train.frames import FrameSet, frame_video_scores, multitask_scores
from emoprep.train.loop import make_optimizer, make_plateau
from emoprep.train.losses import balanced_weights, combine, head_loss
from emoprep.train.metrics import combined_accuracy, macro_precision
from emoprep.types import Part, resolve_device


@dataclass
class FinetuneOptions:
    """What to fine-tune and on which part; the optimiser, loss, epochs, seed and device come
    from ``train:`` (:class:`TrainConfig`)."""

    backbone: Backbone
    weights: Path | None  #: None: ``shallow_cnn`` (from scratch)
    layer: VggLayer = VggLayer.DENSE1024  #: vggface only: the layer the classifier sits on
    input_size: int | None = None  #: None: 160 (IRv1), 224 (VGGFace)
    fold: int | None = 0  #: None: a final model on every non-test video
    augment: bool = True  #: transform training crops as ``train.finetune.augment`` says
    freeze: bool = False  #: train the classifier only (the frozen-features baseline)
    dropout: float | None = None  #: inception_v4: before the classifier (None: 0.4)


def source_weights(m: Manifest, backbone: Backbone, given: Path | None = None,
                   input_size: int | None = None) -> tuple[Path | None, int | None]:
    """The pretrained file and the input side: ``given`` (``--weights``), else
    ``train.finetune.weights`` (relative: to the manifest's folder), else the ``weights`` of the
    manifest's first embedder (by name) of the backbone's type, whose ``input_size`` then applies
    unless one is given (``input_size``, ``train.finetune.input_size``). ModelFileError saying
    what to set when there is none, naming the file when it is not there (checked before any
    data is read). ``shallow_cnn`` trains from scratch: no file (None); a ``given`` one is a
    ConfigError; its side is fixed (96), so ``train.finetune.input_size`` (another backbone's, in
    an experiment) does not apply to it, only ``input_size``."""
    if backbone is Backbone.SHALLOW_CNN:
        if given is not None:
            raise ConfigError("--weights", [
                f"finetune shallow_cnn: expected no weight file (002 Table 4.2's CNN trains from "
                f"scratch), got {given} (fix: drop --weights)"])
        return None, input_size
    size = input_size or m.train.finetune.input_size
    path = given or (expand_path(m.train.finetune.weights, m.base_dir)
                     if m.train.finetune.weights is not None else None)
    for name in sorted(m.stages.embed) if path is None else ():
        e = m.stages.embed[name]
        if str(getattr(e.type, "value", e.type)) == backbone.value and getattr(e, "weights", None):
            path = expand_path(e.weights, m.base_dir)
            size = size or getattr(e, "input_size", None)
            break
    if path is None:
        raise ModelFileError(
            f"finetune {backbone.value}: no pretrained weight file given; expected "
            f"{EXPECTED[backbone]} (fix: --set train.finetune.weights=/path/file.pt, or declare "
            f"stages.embed.<name>: {{type: {backbone.value}, weights: /path/file.pt}}; weights "
            "are never downloaded)")
    if not Path(path).is_file():
        raise ModelFileError(
            f"finetune {backbone.value}: weight file {path} not found; expected "
            f"{EXPECTED[backbone]}. Weights are never downloaded: put the file there or fix the "
            "path (--weights, train.finetune.weights or the embedder's weights)")
    return Path(path), size


def finetune_root(out: Path, backbone: Backbone, fold: int | None) -> Path:
    """``OUT/finetune/<backbone>/fold_<k>`` or ``.../final``."""
    return Path(out) / "finetune" / backbone.value / ("final" if fold is None else f"fold_{fold}")


class FrameTrainer:
    """Trains a :class:`~emoprep.train.backbones.Built` network on crops of a FrameSet."""

    def __init__(self, built: Built, fs: FrameSet, cfg: TrainConfig, opts: FinetuneOptions):
        self.built, self.fs, self.cfg, self.opts = built, fs, cfg, opts
        self.device = resolve_device(cfg.device, "train")
        self.model = built.model.to(self.device)
        #: backbone name prefixes kept frozen after the head-only epochs (None: all of it)
        self.frozen: tuple[str, ...] | None = None if opts.freeze else frozen_prefixes(
            built.backbone, cfg.finetune.trainable_blocks)
        set_frozen(self.model, self.frozen)
        params = [p for p in self.model.parameters() if p.requires_grad]
        self.opt = make_optimizer(params, cfg.optim)
        self.rng = np.random.default_rng(cfg.seed)
        self.targets = fs.targets
        self.weight: dict[str, torch.Tensor] = {}
        self.factors: dict[str, float] = {}

    def _batches(self, frames: np.ndarray, shuffle: bool) -> list[np.ndarray]:
        order = self.rng.permutation(frames) if shuffle else frames
        bs = self.cfg.optim.batch_size
        return [order[s:s + bs] for s in range(0, len(order), bs)]

    def _outputs(self, x: torch.Tensor) -> dict[str, torch.Tensor]:
        out = self.model(x)
        return out if isinstance(out, dict) else {self.fs.task: out}

    def _labels(self, b: np.ndarray) -> dict[str, torch.Tensor]:
        vof = self.fs.video_of[b]
        return {t: torch.from_numpy(y[vof]).to(self.device) for t, (y, _) in self.targets.items()}

    def _loss(self, out: dict[str, torch.Tensor], ys: dict[str, torch.Tensor]) -> torch.Tensor:
        """One head: its loss; several: :func:`combine` with ``self.factors`` (1 each for
        ``sum``; the previous epoch's training macro precision for ``precision``, 000 eq. 3.3)."""
        losses = {t: head_loss(out[t], ys[t], self.cfg.loss, self.weight.get(t)) for t in out}
        return combine(losses, self.factors) if len(losses) > 1 else next(iter(losses.values()))

    def train_epoch(self, frames: np.ndarray, epoch: int = 1) -> dict[str, float]:
        """One shuffled pass over crops ``frames``; mean loss and frame accuracy of the batches
        (multitask: the combined frame accuracy, and each head's). Epochs up to
        ``train.finetune.head_epochs`` train the classifier alone."""
        head_only = epoch <= self.cfg.finetune.head_epochs
        frozen = None if head_only else self.frozen
        set_frozen(self.model, frozen)
        self.model.train()
        eval_frozen(self.model, frozen)  # frozen batch-norm statistics too
        total = 0.0
        ys: dict[str, list[np.ndarray]] = {t: [] for t in self.targets}
        ps: dict[str, list[np.ndarray]] = {t: [] for t in self.targets}
        aug = self.cfg.finetune.augment
        for b in self._batches(frames, True):
            crops = augment(self.fs.crops[b], aug, self.rng) if self.opts.augment else \
                self.fs.crops[b]
            out = self._outputs(self.built.prep(crops).to(self.device))
            y = self._labels(b)
            loss = self._loss(out, y)
            self.opt.zero_grad()
            loss.backward()
            self.opt.step()
            total += float(loss.detach()) * len(b)
            for t in out:
                ys[t].append(y[t].cpu().numpy())
                ps[t].append(out[t].detach().argmax(1).cpu().numpy())
        yc = {t: np.concatenate(v) for t, v in ys.items()}
        pc = {t: np.concatenate(v) for t, v in ps.items()}
        row = {"train_loss": total / len(frames), "train_frame_acc": combined_accuracy(yc, pc)}
        if len(self.targets) > 1:
            row.update({f"train_{t}_frame_acc": float((yc[t] == pc[t]).mean()) for t in yc})
            row.update({f"{t}_loss_factor": self.factors.get(t, 1.0) for t in yc})  # this epoch's
            if self.cfg.loss.combine is Combine.PRECISION:
                self.factors = {t: macro_precision(yc[t], pc[t]) for t in yc}
        return row

    @torch.no_grad()
    def predict_all(self, frames: np.ndarray) -> tuple[dict[str, np.ndarray], float]:
        """Task -> (m, K) softmax probabilities of crops ``frames``, and their mean loss."""
        self.model.eval()
        probs: dict[str, list[np.ndarray]] = {t: [] for t in self.targets}
        total = 0.0
        for b in self._batches(frames, False):
            out = self._outputs(self.built.prep(self.fs.crops[b]).to(self.device))
            total += float(self._loss(out, self._labels(b))) * len(b)
            for t in out:
                probs[t].append(torch.softmax(out[t].float(), 1).cpu().numpy())
        return {t: np.concatenate(v) for t, v in probs.items()}, total / max(len(frames), 1)

    def predict(self, frames: np.ndarray) -> tuple[np.ndarray, float]:
        """(m, K) softmax probabilities of crops ``frames`` (one task) and their mean loss."""
        probs, loss = self.predict_all(frames)
        return next(iter(probs.values())), loss

    def scores(self, frames: np.ndarray) -> tuple[dict[str, Any], float]:
        """:func:`frame_video_scores` (one task) or :func:`multitask_scores`, and the loss."""
        probs, loss = self.predict_all(frames)
        if len(self.targets) > 1:
            return multitask_scores(probs, frames, self.fs), loss
        p = next(iter(probs.values()))
        s: dict[str, Any] = frame_video_scores(p, frames, self.fs)
        s["frame_mean_class_accuracy"] = float(balanced_accuracy_score(
            self.fs.frame_labels[frames], p.argmax(1)))  # 004 §3.5's metric, per crop
        return s, loss

    def _val_row(self, val: np.ndarray) -> dict[str, float]:
        """Validation loss, frame accuracy and ``val_acc``, the selection accuracy: video
        accuracy (one task) or combined frame accuracy (multitask, 000 §3.2.1)."""
        s, loss = self.scores(val)
        if len(self.targets) == 1:
            return {"val_loss": loss, "val_frame_acc": s["frame_accuracy"],
                    "val_acc": s["video_accuracy"]}
        row = {"val_loss": loss, "val_frame_acc": s["combined_frame_accuracy"],
               "val_video_acc": s["combined_video_accuracy"]}
        row.update({f"val_{t}_frame_acc": s[t]["frame_accuracy"] for t in self.targets})
        return {**row, "val_acc": s["combined_frame_accuracy"]}

    def fit(self, train: np.ndarray, val: np.ndarray | None) -> tuple[list[dict], int]:
        """Train on crops ``train``; select on crops ``val`` (None: keep the last epoch).
        Returns the per-epoch log and the best epoch (1-based); the best state is loaded."""
        optim = self.cfg.optim
        vof = self.fs.video_of[train]
        self.weight = {t: torch.from_numpy(balanced_weights(y[vof], len(c))).to(self.device)
                       for t, (y, c) in self.targets.items()}
        plateau = make_plateau(self.opt, optim) if optim.plateau and val is not None else None
        log: list[dict] = []
        best, best_epoch, best_state = -1.0, 0, None
        for epoch in range(1, optim.epochs + 1):
            t0 = time.perf_counter()
            row: dict[str, float] = {"epoch": epoch, "lr": self.opt.param_groups[0]["lr"],
                                     **self.train_epoch(train, epoch)}
            if val is not None:
                row.update(self._val_row(val))
                if plateau is not None:
                    plateau.step(row["val_acc" if optim.plateau_monitor is Monitor.VAL_ACC
                                     else "val_loss"])
            row["seconds"] = time.perf_counter() - t0
            log.append(row)
            if val is None or row["val_acc"] > best:
                best, best_epoch = row.get("val_acc", 0.0), epoch
                best_state = copy.deepcopy(self.model.state_dict())
            elif optim.early_stopping and epoch - best_epoch >= optim.early_stopping_patience:
                break
        assert best_state is not None  # the first epoch always sets it
        self.model.load_state_dict(best_state)
        return log, best_epoch


def finetune(fs: FrameSet, opts: FinetuneOptions, cfg: TrainConfig, dest: Path,
             reuse: bool = False) -> dict[str, Any]:
    """Fine-tune on ``fs`` as ``opts`` and ``cfg`` say; write the checkpoint and metrics.json to
    ``dest``; return the metrics (``checkpoint``: its path, ``sha256``, ``key``: what it depends
    on). ``reuse``: return the run already in ``dest`` (``cached`` true) when its key is the same
    (:mod:`emoprep.train.finetune_cache`)."""
    key = run_key(fs, asdict(opts), cfg)
    if reuse and (done := reusable(dest, key)) is not None:
        return {**done, "cached": True}
    if cfg.num_threads is not None:
        torch.set_num_threads(cfg.num_threads)
    n = {t: len(c) for t, (_, c) in fs.heads.items()} if fs.heads else len(fs.classes)
    built = build(opts.backbone, opts.weights, n, opts.input_size, opts.layer, cfg.seed,
                  cfg.task_hidden, opts.dropout)
    trainer = FrameTrainer(built, fs, cfg, opts)
    final = opts.fold is None
    train = fs.frames_of(fs.part(opts.fold, Part.TRAIN))
    val = None if final else fs.frames_of(fs.part(opts.fold, Part.VAL))
    log, best_epoch = trainer.fit(train, val if val is not None and len(val) else None)
    parts: dict[str, dict[str, Any]] = {}
    for name, frames in (("val", val), ("test", fs.frames_of(fs.folds.test))):
        if frames is not None and len(frames):
            parts[name] = trainer.scores(frames)[0]
    dest.mkdir(parents=True, exist_ok=True)
    ckpt = dest / CHECKPOINT[opts.backbone]
    with atomic_path(ckpt, ".pt") as tmp:
        torch.save(checkpoint_state(built), tmp)
    metrics = {"backbone": opts.backbone.value, "weights": opts.weights and str(opts.weights),
               "weights_sha256": opts.weights and sha256_file(opts.weights), "task": fs.task,
               "classes": {t: c for t, (_, c) in fs.heads.items()} if fs.heads else fs.classes,
               "split": fs.folds.name,
               "fold": "final" if final else opts.fold, "best_epoch": best_epoch,
               "train": {"frames": int(len(train)), "videos": int(len(np.unique(
                   fs.video_of[train])))}, "parts": parts, "log": log,
               "options": {**asdict(opts), "input_size": built.prep.size},
               "augment": cfg.finetune.augment.model_dump(mode="json") if opts.augment else None,
               "finetune": cfg.finetune.model_dump(mode="json", exclude={"augment"}),
               "optim": cfg.optim.model_dump(mode="json"), "loss": cfg.loss.model_dump(
                   mode="json"), "checkpoint": str(ckpt), "sha256": sha256_file(ckpt),
               "key": key, "cached": False}
    atomic_write_text(dest / "metrics.json", json.dumps(metrics, indent=1, default=str))
    return metrics


def table(m: dict[str, Any]) -> str:
    """Frame and video accuracy per part (multitask: per head and combined), the best epoch and
    the checkpoint, as text."""
    lines = [f"fine-tuned {m['backbone']} on {m['train']['frames']} frames of "
             f"{m['train']['videos']} videos ({m['task']}, split {m['split']}, fold {m['fold']}, "
             f"best epoch {m['best_epoch']})",
             f"{'part':<6}  {'scores':<12}  {'frames':>6}  {'frame acc':>9}  {'videos':>6}  "
             f"{'video acc':>9}"]
    for name, s in m["parts"].items():
        rows = [(t, v["frame_accuracy"], v["video_accuracy"]) for t, v in s.items()
                if isinstance(v, dict)]
        if "combined_frame_accuracy" in s:
            rows.append(("combined", s["combined_frame_accuracy"], s["combined_video_accuracy"]))
        else:
            rows = [(m["task"], s["frame_accuracy"], s["video_accuracy"])]
        for label, fa, va in rows:
            lines.append(f"{name:<6}  {label:<12}  {s['frames']:>6}  {fa:>9.4f}  "
                         f"{s['videos']:>6}  {va:>9.4f}")
    lines.append(f"checkpoint: {m['checkpoint']} (sha256 {m['sha256'][:12]})")
    return "\n".join(lines)
