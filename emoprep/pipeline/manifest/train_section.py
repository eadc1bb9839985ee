"""The manifest's ``train:`` section: the pydantic training-settings model (data only).

It lives in the manifest package because :class:`~emoprep.pipeline.manifest.schema.Manifest`
validates it; the trainers (:mod:`emoprep.train`) import it from here (re-exported by
:mod:`emoprep.train.config`), never the reverse. Every policy is an Enum; docs/TRAIN.md documents
every key and its default.
"""

from __future__ import annotations

from enum import Enum
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, model_validator

from emoprep.types import Device


class Head(str, Enum):
    LSTM = "lstm"  #: one LSTM layer, last hidden state of the real steps
    BILSTM = "bilstm"  #: one bidirectional LSTM layer, both final states concatenated
    CNN1D = "cnn1d"  #: 4 Conv1d, 2 max-pool, masked pooling into time bins, 1 dense layer
    LINEAR = "linear"  #: multinomial logistic regression on the mean of the real steps
    MLP = "mlp"  #: one hidden ReLU layer on the mean of the real steps (still images: the frame)


#: heads that pool the sequence first (order of the steps does not matter to them)
POOLED_HEADS = (Head.LINEAR, Head.MLP)


class Task(str, Enum):
    EMOTION = "emotion"  #: labels["emotion"]
    AUTHENTICITY = "authenticity"  #: labels["authenticity"] (genuine / posed)
    JOINT = "joint"  #: one head over emotion x authenticity classes (12 on SASE-FE)
    MULTITASK = "multitask"  #: shared trunk, an emotion head and an authenticity head


class LossKind(str, Enum):
    CE = "ce"  #: cross-entropy on softmax
    FOCAL = "focal"  #: softmax focal loss -(1 - p_t)^gamma log p_t
    MULTILABEL_FOCAL = "multilabel_focal"  #: SASE-FE thesis eq. 3.2 on sigmoid outputs


class Combine(str, Enum):
    SUM = "sum"  #: L_emo + L_rf
    PRECISION = "precision"  #: P_emo L_emo + P_rf L_rf, P = last epoch's macro train precision


class FusionMethod(str, Enum):
    AVERAGE = "average"
    WEIGHTED = "weighted"
    MAX = "max"


class Optimizer(str, Enum):
    ADAM = "adam"  #: torch.optim.Adam (weight_decay: L2 added to the gradient)
    SGD = "sgd"  #: torch.optim.SGD with ``momentum`` (the SASE-FE and AffectNet theses)


class Monitor(str, Enum):
    VAL_LOSS = "val_loss"  #: the plateau schedule waits for a lower validation loss
    VAL_ACC = "val_acc"  #: ... for a higher validation (selection) accuracy (the BU-4DFE thesis)


class SeqCut(str, Enum):
    """Which steps a sequence longer than ``max_len`` keeps (shorter ones are padded and masked)."""

    SUBSAMPLE = "subsample"  #: ``max_len`` evenly spaced steps (emoprep's rule)
    END = "end"  #: the first ``max_len`` steps: the end is cut (``export --pad head``)
    START = "start"  #: the last ``max_len`` steps: the start is cut


class CVSummary(str, Enum):
    """How the cross-validation figure is computed from the folds (it never changes a model)."""

    PER_FOLD_BEST = "per_fold_best"  #: mean +- std of each fold's best-epoch scores (emoprep)
    MEAN_CURVE = "mean_curve"  #: per epoch the folds' mean, then that curve's best epoch (003)


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class LSTMConfig(_Strict):
    hidden: int = Field(128, ge=1)
    input_dropout: float = Field(0.4, ge=0, lt=1)
    output_dropout: float = Field(0.0, ge=0, lt=1)


class BiLSTMConfig(_Strict):
    hidden: int = Field(128, ge=1, description="units per direction")
    input_dropout: float = Field(0.0, ge=0, lt=1)
    output_dropout: float = Field(0.7, ge=0, lt=1)


class CNN1DConfig(_Strict):
    filters: tuple[int, int, int, int] = (32, 32, 64, 64)
    kernels: tuple[int, int, int, int] = (3, 3, 3, 3)
    pool: int = Field(2, ge=1, description="max-pool size and stride, after conv 2 and conv 4")
    bins: int = Field(4, ge=1, description="masked max pooling into this many time segments")
    dropout: float = Field(0.5, ge=0, lt=1)
    path_dropout: float = Field(0.25, ge=0, lt=1, description="with the linear skip only: the "
                                "share of training items whose CNN logits are dropped, so the "
                                "skip learns to classify alone (docs/TRAIN.md)")

    @model_validator(mode="after")
    def _odd_kernels(self) -> CNN1DConfig:
        if any(k < 1 or k % 2 == 0 for k in self.kernels):
            raise ValueError(f"cnn1d.kernels: expected odd sizes >= 1 (same-length convolution), "
                             f"got {list(self.kernels)}")
        return self


class MLPConfig(_Strict):
    hidden: int = Field(256, ge=1)
    dropout: float = Field(0.5, ge=0, lt=1)


class LossConfig(_Strict):
    kind: LossKind = LossKind.CE
    class_weighted: bool = False
    alpha: float = Field(0.25, ge=0, le=1, description="multilabel_focal only")
    gamma: float = Field(2.0, ge=0, description="focal and multilabel_focal")
    combine: Combine = Combine.SUM


class OptimConfig(_Strict):
    """Adam by default; defaults chosen on the CK+ stand-in (docs/TRAIN.md,
    benchmarks/train_quality.py)."""

    optimizer: Optimizer = Optimizer.ADAM
    lr: float = Field(1e-3, gt=0)
    momentum: float = Field(0.0, ge=0, lt=1, description="sgd only")
    weight_decay: float = Field(1e-2, ge=0, description="L2 penalty on every weight")
    batch_size: int = Field(32, ge=1)
    epochs: int = Field(100, ge=1, description="budget; early stopping ends most folds sooner")
    plateau: bool = False
    plateau_monitor: Monitor = Monitor.VAL_LOSS
    plateau_factor: float = Field(0.5, gt=0, lt=1)
    plateau_patience: int = Field(5, ge=0)
    early_stopping: bool = True
    early_stopping_patience: int = Field(15, ge=1)

    @model_validator(mode="after")
    def _momentum_is_sgds(self) -> OptimConfig:
        if self.momentum and self.optimizer is not Optimizer.SGD:
            raise ValueError(f"optim.momentum: applies to optimizer sgd, got {self.momentum} with "
                             f"{self.optimizer.value} (fix: set optim.optimizer: sgd, or drop "
                             "optim.momentum)")
        return self


class FrameAugment(_Strict):
    """Random transforms of each training crop of ``emoprep finetune``, drawn anew every epoch
    from the run's seed (:mod:`emoprep.train.frame_augment`); 0 / None: off. The default is a
    left-right flip with probability 0.5 (emoprep's fine-tuning before these keys)."""

    flip: float = Field(0.5, ge=0, le=1, description="probability of a left-right flip")
    rotate: float = Field(0.0, ge=0, le=180, description="degrees, uniform in [-r, r]")
    zoom: float = Field(0.0, ge=0, lt=1, description="scale uniform in [1 - z, 1 + z]")
    shift: float = Field(0.0, ge=0, lt=1, description="fraction of the side, x and y each "
                         "uniform in [-s, s]")
    shear: float = Field(0.0, ge=0, lt=90, description="degrees, uniform in [-s, s]")
    brightness: tuple[float, float] | None = Field(None, description="pixel values times a "
                                                   "factor uniform in [lo, hi]")
    contrast: tuple[float, float] | None = Field(None, description="distance from the crop's "
                                                 "mean grey times a factor in [lo, hi]")
    saturation: tuple[float, float] | None = Field(None, description="distance from each "
                                                   "pixel's grey times a factor in [lo, hi]")
    hue: float = Field(0.0, ge=0, le=0.5, description="hue turned by a fraction of the circle "
                       "uniform in [-h, h]")

    @model_validator(mode="after")
    def _ranges(self) -> FrameAugment:
        for name in ("brightness", "contrast", "saturation"):
            r = getattr(self, name)
            if r is not None and not 0 <= r[0] <= r[1]:
                raise ValueError(f"finetune.augment.{name}: expected [lo, hi] with 0 <= lo <= hi, "
                                 f"got {list(r)}")
        return self


class FinetuneConfig(_Strict):
    """``emoprep finetune`` and the fine-tuning steps of ``emoprep experiment`` (the sequence
    trainer ignores this section: it is no part of its models' fingerprints)."""

    weights: Path | None = Field(None, description="the pretrained file (relative: to the "
                                 "manifest's folder); None: the weights of the manifest's "
                                 "embedder of the backbone's type")
    input_size: int | None = Field(None, ge=16, description="crop side fed to the network; "
                                   "None: that embedder's, else 160 (IRv1) / 224")
    frames_per_video: int | None = Field(16, ge=1, description="face frames per video, evenly "
                                         "spaced; None: all")
    augment: FrameAugment = FrameAugment()
    trainable_blocks: int | None = Field(None, ge=0, description="train only the backbone's "
                                         "last N blocks (the layers after them always train); "
                                         "None: every block")
    head_epochs: int = Field(0, ge=0, description="first epochs with the whole backbone frozen "
                             "(the new classifier alone), then the trainable blocks join")


#: keys added after emoprep 0.1 and their defaults: left out of the model fingerprint at these
#: values, so runs made before them stay up to date
ADDED_AT_DEFAULT: dict[tuple[str, ...], Any] = {
    ("optim", "optimizer"): Optimizer.ADAM.value, ("optim", "momentum"): 0.0,
    ("optim", "plateau_monitor"): Monitor.VAL_LOSS.value, ("seq_cut",): SeqCut.SUBSAMPLE.value,
    ("keep_test_anomalies",): False, ("augmented_copies",): None,
}


#: fields that never change a trained model (left out of fingerprints)
RUNTIME_FIELDS = ("device", "num_threads", "final_model", "min_class_items", "cv_summary",
                  "finetune")


class TrainConfig(_Strict):
    head: Head = Head.LSTM
    task: Task = Task.EMOTION
    projection: int | None = Field(None, ge=1, description="Linear D -> this width per frame")
    task_hidden: int = Field(64, ge=1, description="hidden width of each multitask head")
    lstm: LSTMConfig = LSTMConfig()
    bilstm: BiLSTMConfig = BiLSTMConfig()
    cnn1d: CNN1DConfig = CNN1DConfig()
    mlp: MLPConfig = MLPConfig()
    loss: LossConfig = LossConfig()
    optim: OptimConfig = OptimConfig()
    max_len: int | None = Field(None, ge=1, description="longest sequence fed (steps); longer "
                                "ones are cut by seq_cut")
    seq_cut: SeqCut = Field(SeqCut.SUBSAMPLE, description="which steps a longer sequence keeps")
    standardize: bool = Field(True, description="features (x - mean) / std per dimension, the "
                              "statistics of each training part's frames, kept in the checkpoint")
    linear_skip: bool | None = Field(None, description="add a linear map of the masked mean of "
                                     "the (standardised) input to the head's logits; None: on "
                                     "for cnn1d only (docs/TRAIN.md)")
    min_class_items: int = Field(2, ge=1, description="a class with fewer training items in a "
                                 "fold is degenerate data (an error unless allowed)")
    final_model: bool = False
    cv_summary: CVSummary = Field(CVSummary.PER_FOLD_BEST, description="the CV figure: mean of "
                                  "each fold's best, or best epoch of the folds' mean curve")
    use_augmented: bool = False
    augmented_copies: int | dict[Head, int | None] | None = Field(
        None, description="augmented copies per training video when use_augmented: None all of "
        "stages.augment.names, N the first N in their order; a mapping sets it per head "
        "(a head not named: all)")
    keep_test_anomalies: bool = Field(False, description="AU-trim anomalies stay in the test "
                                      "part (untrimmed); the folds still leave them out")
    seed: int = 0
    device: Device = Device.AUTO
    num_threads: int | None = Field(None, ge=1)
    finetune: FinetuneConfig = FinetuneConfig()

    @model_validator(mode="after")
    def _copies(self) -> TrainConfig:
        values = self.augmented_copies.values() if isinstance(self.augmented_copies, dict) \
            else [self.augmented_copies]
        if any(v is not None and v < 0 for v in values):
            raise ValueError(f"augmented_copies: expected None or a count >= 0, got "
                             f"{self.augmented_copies!r}")
        return self

    def copies(self, head: Head | None = None) -> int | None:
        """Augmented copies per training video for ``head`` (default: ``self.head``): 0 when
        ``use_augmented`` is off, None for all of them."""
        if not self.use_augmented:
            return 0
        c = self.augmented_copies
        return c.get(head or self.head) if isinstance(c, dict) else c

    def model_slice(self) -> dict[str, Any]:
        """What changes a fold's model: everything but runtime fields and inactive heads."""
        data = self.model_dump(mode="json", exclude=set(RUNTIME_FIELDS))
        data["augmented_copies"] = self.copies() if self.use_augmented else None
        for head in Head:
            if head is not self.head:
                data.pop(head.value, None)
        if not self.skip_on:  # no effect without the skip: old fingerprints kept
            data.get(Head.CNN1D.value, {}).pop("path_dropout", None)
        for (*parents, key), default in ADDED_AT_DEFAULT.items():
            node = data
            for part in parents:
                node = node[part]
            if node.get(key) == default:
                del node[key]
        return data

    @property
    def skip_on(self) -> bool:
        """Whether the model has the linear skip: ``linear_skip``, by default (None) only for
        the 1D-CNN; never for ``linear`` (it is the skip)."""
        on = self.head is Head.CNN1D if self.linear_skip is None else self.linear_skip
        return on and self.head is not Head.LINEAR

    @property
    def targets(self) -> list[str]:
        """Label keys the model predicts, one output head each."""
        if self.task is Task.MULTITASK:
            return [Task.EMOTION.value, Task.AUTHENTICITY.value]
        return [self.task.value]
