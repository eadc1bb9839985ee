"""Trainers on cached feature sequences: LSTM / BiLSTM / 1D-CNN heads, CV, late fusion.

Notebook use::

    from emoprep.train import TrainConfig, fit, fuse
    metrics = fit(sequences, folds, TrainConfig(head="cnn1d"), "out/train/hog")
    print(metrics["table"])

torch is imported only when training or predicting (not by importing this package).
"""

from __future__ import annotations

from typing import Any

from emoprep.data import Folds, Sequences
from emoprep.train.config import Combine, Device, Head, LossKind, Task, TrainConfig
from emoprep.train.data import SequenceData, collate


def fit(*args: Any, **kwargs: Any) -> dict[str, Any]:
    """See :func:`emoprep.train.api.fit`."""
    from emoprep.train.api import fit as _fit

    return _fit(*args, **kwargs)


def fuse(*args: Any, **kwargs: Any) -> dict[str, Any]:
    """See :func:`emoprep.train.fusion.fuse`."""
    from emoprep.train.fusion import fuse as _fuse

    return _fuse(*args, **kwargs)


def unit_states(*args: Any, **kwargs: Any) -> list[dict[str, str]]:
    """See :func:`emoprep.train.api.unit_states`."""
    from emoprep.train.api import unit_states as _states

    return _states(*args, **kwargs)


__all__ = ["Combine", "Device", "Folds", "Head", "LossKind", "SequenceData", "Sequences", "Task",
           "TrainConfig", "collate", "fit", "fuse", "unit_states"]
