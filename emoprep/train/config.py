"""``train:`` settings: the model re-exported from the manifest package, loading and overrides.

The pydantic model (:class:`TrainConfig` and its sections, every policy an Enum) is data of the
manifest and lives in :mod:`emoprep.pipeline.manifest.train_section`; it is re-exported here so
``from emoprep.train.config import TrainConfig`` keeps working. Defaults reproduce the video-FER
thesis (BU-4DFE): Adam, lr 1e-4, batch 32, 40 epochs, checkpoint on the best validation accuracy;
LSTM of 128 units with input dropout 0.4; BiLSTM of 128 units per direction with dropout 0.7; a
1D-CNN of 4 Conv1d, 2 max-pool and 1 dense layer. The SASE-FE thesis gives the multi-task settings
(two Linear-ReLU-Linear heads, multi-label focal loss, sum or precision-weighted combination). See
docs/TRAIN.md for every choice the theses leave open.
"""

from __future__ import annotations

from typing import Any

from pydantic import ValidationError

from emoprep.errors import ConfigError
from emoprep.pipeline.manifest.train_section import (
    POOLED_HEADS,
    RUNTIME_FIELDS,
    BiLSTMConfig,
    CNN1DConfig,
    Combine,
    Device,
    FusionMethod,
    Head,
    LossConfig,
    LossKind,
    LSTMConfig,
    MLPConfig,
    OptimConfig,
    Task,
    TrainConfig,
)

__all__ = ["POOLED_HEADS", "RUNTIME_FIELDS", "BiLSTMConfig", "CNN1DConfig", "Combine", "Device",
           "FusionMethod", "Head", "LSTMConfig", "LossConfig", "LossKind", "MLPConfig",
           "OptimConfig", "Task", "TrainConfig", "apply_overrides", "flat_items", "load_config"]


def flat_items(data: dict[str, Any], prefix: str = "") -> dict[str, Any]:
    """``{"a": {"b": 1}}`` -> ``{"a.b": 1}`` (names the changed key in status reasons)."""
    out: dict[str, Any] = {}
    for k, v in data.items():
        if isinstance(v, dict):
            out.update(flat_items(v, f"{prefix}{k}."))
        else:
            out[f"{prefix}{k}"] = v
    return out


def load_config(data: dict[str, Any] | None, source: str = "train") -> TrainConfig:
    """Validate a ``train:`` mapping; every problem in one ConfigError (``train.loss.kind: ..``)."""
    try:
        return TrainConfig.model_validate(data or {})
    except ValidationError as exc:
        problems = [f"{'.'.join(['train', *map(str, e['loc'])])}: {e['msg']} "
                    f"(got {e.get('input')!r})" for e in exc.errors()]
        raise ConfigError(source, problems) from None


def apply_overrides(cfg: TrainConfig, overrides: dict[str, Any]) -> TrainConfig:
    """``{"loss.gamma": 1, "head": "cnn1d"}`` (keys below ``train.``) applied and re-validated."""
    data = cfg.model_dump(mode="json")
    for dotted, value in overrides.items():
        node = data
        *parents, leaf = dotted.split(".")
        for key in parents:
            node = node.setdefault(key, {})
            if not isinstance(node, dict):
                raise ConfigError("--set", [f"train.{dotted}: {key} is not a section"])
        node[leaf] = value
    return load_config(data, "--set")
