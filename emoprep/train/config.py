"""``train:`` settings: the model re-exported from the manifest package, and loading.

The pydantic model (:class:`TrainConfig` and its sections, every policy an Enum) is data of the
manifest and lives in :mod:`emoprep.pipeline.manifest.train_section`; it is re-exported here so
``from emoprep.train.config import TrainConfig`` keeps working. emoprep's defaults (docs/TRAIN.md
says how they were chosen): Adam (``optim.optimizer: sgd`` with ``momentum`` the other choice)
at lr 1e-3 with weight decay 1e-2, batch 32, a 100-epoch budget with
early stopping (15 epochs without better validation accuracy, the best checkpoint kept), features
standardised with the training part's statistics. The heads follow the video-FER thesis (BU-4DFE):
LSTM of 128 units with input dropout 0.4; BiLSTM of 128 units per direction with dropout 0.7; a
1D-CNN of 4 Conv1d, 2 max-pool and 1 dense layer; the thesis profiles pin the thesis's optimiser.
The SASE-FE thesis gives the multi-task settings (two Linear-ReLU-Linear heads, multi-label focal
loss, sum or precision-weighted combination). See docs/TRAIN.md for every choice the theses leave
open.
"""

from __future__ import annotations

from enum import Enum
from typing import Any

from pydantic import ValidationError

from emoprep.errors import ConfigError
from emoprep.pipeline.manifest.train_section import (
    POOLED_HEADS,
    RUNTIME_FIELDS,
    BiLSTMConfig,
    CNN1DConfig,
    Combine,
    CVSummary,
    Device,
    FusionMethod,
    Head,
    LossConfig,
    LossKind,
    LSTMConfig,
    MLPConfig,
    Monitor,
    OptimConfig,
    Optimizer,
    SeqCut,
    Task,
    TrainConfig,
)

__all__ = ["POOLED_HEADS", "RUNTIME_FIELDS", "BiLSTMConfig", "CNN1DConfig", "Combine", "CVSummary",
           "Device", "FusionMethod", "Head", "LSTMConfig", "LossConfig", "LossKind", "MLPConfig",
           "Monitor", "OptimConfig", "Optimizer", "SeqCut", "Task", "TrainConfig", "load_config",
           "Backbone"]


class Backbone(str, Enum):
    """Which network ``emoprep finetune`` trains (the embedder ``type`` that loads the
    checkpoint); the networks are built in :mod:`emoprep.train.backbones`."""

    IRV1 = "inception_resnet_v1"
    VGGFACE = "vggface"
    DENSENET121 = "densenet121"  #: the AffectNet still-image backbone (004 §3.2)
    SHALLOW_CNN = "shallow_cnn"  #: 002 Table 4.2, from scratch (no embedder loads it)
    INCEPTION_V4 = "inception_v4"  #: 002 §4.4.2, timm's layout (no embedder loads it)


def load_config(data: dict[str, Any] | None, source: str = "train") -> TrainConfig:
    """Validate a ``train:`` mapping; every problem in one ConfigError (``train.loss.kind: ..``)."""
    try:
        return TrainConfig.model_validate(data or {})
    except ValidationError as exc:
        problems = [f"{'.'.join(['train', *map(str, e['loc'])])}: {e['msg']} "
                    f"(got {e.get('input')!r})" for e in exc.errors()]
        raise ConfigError(source, problems) from None
