"""Feature standardisation with the statistics of a training part only.

:func:`fit_stats` computes per-dimension mean and standard deviation over every frame of the
training items (original features; augmented copies and validation or test items never count).
The statistics live in the model as buffers (:class:`Standardize`), so they are saved in the
checkpoint with the weights and applied to whatever the model later sees (validation, test, a
user's own features), padding re-zeroed.
"""

from __future__ import annotations

import numpy as np
import torch
from torch import nn

from emoprep.train.data import Sequences

#: a dimension whose training std is below this is only centred (constant features: HOG borders)
MIN_STD = 1e-6


def fit_stats(seqs: Sequences, train_idx: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(D,) mean and (D,) std, float32, over all frames of ``seqs.features[i]`` for ``i`` in
    ``train_idx`` (float64 sums; std floored: below :data:`MIN_STD` it is 1)."""
    d = seqs.dim
    total, sq, n = np.zeros(d), np.zeros(d), 0
    for i in np.asarray(train_idx, np.int64):
        x = np.asarray(seqs.features[i], np.float64)
        total += x.sum(0)
        sq += (x * x).sum(0)
        n += len(x)
    if n == 0:
        return np.zeros(d, np.float32), np.ones(d, np.float32)
    mean = total / n
    std = np.sqrt(np.maximum(sq / n - mean * mean, 0.0))
    std[std < MIN_STD] = 1.0
    return mean.astype(np.float32), std.astype(np.float32)


class Standardize(nn.Module):
    """(B, L, D) -> (x - mean) / std at real steps, 0 at padded ones; identity until set."""

    mean: torch.Tensor
    std: torch.Tensor

    def __init__(self, dim: int) -> None:
        super().__init__()
        self.register_buffer("mean", torch.zeros(dim))
        self.register_buffer("std", torch.ones(dim))

    def set(self, mean: np.ndarray, std: np.ndarray) -> None:
        """Store the training part's statistics (copied onto the buffers' device)."""
        self.mean.copy_(torch.from_numpy(np.asarray(mean, np.float32)))
        self.std.copy_(torch.from_numpy(np.asarray(std, np.float32)))

    def forward(self, x: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        return (x - self.mean) / self.std * mask[..., None].to(x.dtype)
