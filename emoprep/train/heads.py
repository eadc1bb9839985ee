"""Sequence heads on padded batches whose padding never changes the output.

Every model maps ``x`` (B, L, D) float32 with ``lengths`` (B,) int64 to ``{target: logits (B, K)}``.

- LSTM / BiLSTM: ``pack_padded_sequence`` with the lengths, so the recurrence stops at each
  sequence's last real step; the summary is the final hidden state (both directions for BiLSTM).
- 1D-CNN: same-length convolutions whose outputs are re-zeroed at padded steps after every layer,
  max-pooling with ``ceil_mode`` (ReLU outputs are >= 0, so a zeroed padded step never wins), then
  masked max pooling of the real steps into ``bins`` equal time segments (the variable-length
  stand-in for the thesis's flatten; it keeps *when* something happens), flattened.
- Linear / MLP: masked mean of the real steps (an item of length 1, a still image, is its frame),
  then nothing (``linear``: multinomial logistic regression with the output layer) or one hidden
  ReLU layer with dropout (``mlp``).
- Front: standardisation with the training part's statistics (buffers, saved with the weights;
  identity when ``train.standardize`` is off), then an optional projection Linear D -> P per frame,
  re-masked.
- Output: one Linear per target for single tasks; for ``multitask`` two heads, each
  Linear-ReLU-Linear on the shared trunk's summary (SASE-FE thesis).
- Linear skip (``train.linear_skip``; by default on for the 1D-CNN only, off in the thesis
  profiles; any head but ``linear`` can have it): ``Linear(width, K)`` of the masked mean of the
  (standardised, projected) input added to each target's logits, and the head's own output layer
  starts at zero. An untrained head is therefore exactly a linear model on the mean, the linear
  probe's function class; the deep part's share of the logits is learned ("wide & deep").
  For the 1D-CNN, ``cnn1d.path_dropout`` (0.25) of the training items per batch get the skip's
  logits alone (the deep logits dropped, the kept ones scaled by 1 / (1 - p)), so the skip keeps
  learning to classify by itself while the CNN fits the training part (docs/TRAIN.md).
"""

from __future__ import annotations

import torch
from torch import nn
from torch.nn.utils.rnn import pack_padded_sequence

from emoprep.train.config import CNN1DConfig, Head, MLPConfig, Task, TrainConfig
from emoprep.train.standardize import Standardize


def step_mask(lengths: torch.Tensor, steps: int) -> torch.Tensor:
    """(B,) lengths -> (B, steps) bool, True at real steps."""
    return torch.arange(steps, device=lengths.device)[None, :] < lengths[:, None]


class RNNTrunk(nn.Module):
    """(B, L, D) -> (B, H * directions): final hidden state after the last real step."""

    def __init__(self, dim: int, hidden: int, bidirectional: bool, input_dropout: float,
                 output_dropout: float) -> None:
        super().__init__()
        self.inp = nn.Dropout(input_dropout)
        self.rnn = nn.LSTM(dim, hidden, batch_first=True, bidirectional=bidirectional)
        self.out = nn.Dropout(output_dropout)
        self.width = hidden * (2 if bidirectional else 1)

    def forward(self, x: torch.Tensor, lengths: torch.Tensor) -> torch.Tensor:
        packed = pack_padded_sequence(self.inp(x), lengths.cpu(), batch_first=True,
                                      enforce_sorted=False)
        _, (h, _) = self.rnn(packed)  # h: (directions, B, H), in the input's batch order
        return self.out(torch.cat(list(h), dim=1))


class CNNTrunk(nn.Module):
    """(B, L, D) -> (B, filters[-1] * bins); see the module docstring for the masking."""

    def __init__(self, dim: int, cfg: CNN1DConfig) -> None:
        super().__init__()
        widths = (dim, *cfg.filters)
        self.convs = nn.ModuleList(nn.Conv1d(widths[i], widths[i + 1], k, padding=k // 2)
                                   for i, k in enumerate(cfg.kernels))
        self.pool, self.bins = cfg.pool, cfg.bins
        self.drop = nn.Dropout(cfg.dropout)
        self.width = cfg.filters[-1] * cfg.bins

    def forward(self, x: torch.Tensor, lengths: torch.Tensor) -> torch.Tensor:
        h, lens = x.transpose(1, 2), lengths.to(x.device)  # (B, D, L)
        for i, conv in enumerate(self.convs):
            h = torch.relu(conv(h)) * step_mask(lens, h.shape[2])[:, None, :]
            if i in (1, 3) and self.pool > 1:
                h = nn.functional.max_pool1d(h, self.pool, self.pool, ceil_mode=True)
                lens = torch.div(lens + self.pool - 1, self.pool, rounding_mode="floor")
        return self.drop(binned_max(h, lens, self.bins).flatten(1))


def binned_max(h: torch.Tensor, lengths: torch.Tensor, bins: int) -> torch.Tensor:
    """(B, C, L) >= 0, zero after each length -> (B, C, bins): max over each segment.

    Segment b of a sequence of length T covers steps [floor(b T / bins), ceil((b+1) T / bins)),
    never empty for T >= 1 (the rule of ``AdaptiveMaxPool1d``, applied to the real steps only).
    """
    b = torch.arange(bins, device=h.device)[None, :]
    t = lengths[:, None]
    start = torch.div(b * t, bins, rounding_mode="floor")
    end = torch.div((b + 1) * t + bins - 1, bins, rounding_mode="floor")
    steps = torch.arange(h.shape[2], device=h.device)[None, None, :]
    member = (steps >= start[..., None]) & (steps < end[..., None])  # (B, bins, L)
    masked = h[:, :, None, :] * member[:, None, :, :].to(h.dtype)  # (B, C, bins, L)
    return masked.amax(dim=3)


class PoolTrunk(nn.Module):
    """(B, L, D) -> masked mean over the real steps (B, D); with ``mlp`` one hidden layer."""

    def __init__(self, dim: int, mlp: MLPConfig | None) -> None:
        super().__init__()
        self.hidden = None if mlp is None else nn.Sequential(
            nn.Linear(dim, mlp.hidden), nn.ReLU(), nn.Dropout(mlp.dropout))
        self.width = dim if mlp is None else mlp.hidden

    def forward(self, x: torch.Tensor, lengths: torch.Tensor) -> torch.Tensor:
        pooled = masked_mean(x, lengths)
        return pooled if self.hidden is None else self.hidden(pooled)


def masked_mean(x: torch.Tensor, lengths: torch.Tensor) -> torch.Tensor:
    """(B, L, D) -> (B, D): mean over each sequence's real steps (the probe's input)."""
    lens = lengths.to(x.device)
    mask = step_mask(lens, x.shape[1])[..., None].to(x.dtype)
    return (x * mask).sum(1) / lens[:, None].to(x.dtype)


class SequenceModel(nn.Module):
    """Standardisation + projection front (optional) + trunk + one output head per target."""

    def __init__(self, dim: int, cfg: TrainConfig, n_classes: dict[str, int]) -> None:
        super().__init__()
        self.norm = Standardize(dim)
        self.proj = nn.Linear(dim, cfg.projection) if cfg.projection else None
        width = cfg.projection or dim
        self.trunk = make_trunk(width, cfg)
        t = self.trunk.width
        if cfg.task is Task.MULTITASK:
            self.heads = nn.ModuleDict({k: nn.Sequential(
                nn.Linear(t, cfg.task_hidden), nn.ReLU(), nn.Linear(cfg.task_hidden, n))
                for k, n in n_classes.items()})
        else:
            self.heads = nn.ModuleDict({k: nn.Linear(t, n) for k, n in n_classes.items()})
        self.skip: nn.ModuleDict | None = None
        self.path_dropout = cfg.cnn1d.path_dropout if uses_skip(cfg) and \
            cfg.head is Head.CNN1D else 0.0
        if uses_skip(cfg):
            self.skip = nn.ModuleDict({k: nn.Linear(width, n) for k, n in n_classes.items()})
            for head in self.heads.values():  # the deep part starts silent: logits = skip
                last = head if isinstance(head, nn.Linear) else list(head.children())[-1]
                assert isinstance(last, nn.Linear)
                nn.init.zeros_(last.weight)
                nn.init.zeros_(last.bias)

    def forward(self, x: torch.Tensor, lengths: torch.Tensor) -> dict[str, torch.Tensor]:
        mask = step_mask(lengths.to(x.device), x.shape[1])
        x = self.norm(x, mask)
        if self.proj is not None:
            x = self.proj(x) * mask[..., None]
        z = self.trunk(x, lengths)
        out = {k: head(z) for k, head in self.heads.items()}
        if self.skip is not None:
            if self.training and self.path_dropout > 0:
                out = drop_paths(out, self.path_dropout)
            pooled = masked_mean(x, lengths)
            out = {k: v + self.skip[k](pooled) for k, v in out.items()}
        return out


def uses_skip(cfg: TrainConfig) -> bool:
    """Whether the model has the linear skip: ``train.linear_skip``, by default (None) only for
    the 1D-CNN (the head that needs it; docs/TRAIN.md); never for ``linear`` (it is the skip)."""
    return cfg.skip_on


def drop_paths(logits: dict[str, torch.Tensor], p: float) -> dict[str, torch.Tensor]:
    """Each item's deep logits (B, K) zeroed with probability ``p`` (the same items for every
    target), the kept ones scaled by 1 / (1 - p) so that their expectation is unchanged."""
    some = next(iter(logits.values()))
    keep = (torch.rand(some.shape[0], 1, device=some.device) >= p).to(some.dtype) / (1 - p)
    return {k: v * keep for k, v in logits.items()}


def make_trunk(dim: int, cfg: TrainConfig) -> RNNTrunk | CNNTrunk | PoolTrunk:
    """The trunk named by ``cfg.head`` for inputs of width ``dim``."""
    if cfg.head is Head.LSTM:
        c = cfg.lstm
        return RNNTrunk(dim, c.hidden, False, c.input_dropout, c.output_dropout)
    if cfg.head is Head.BILSTM:
        c2 = cfg.bilstm
        return RNNTrunk(dim, c2.hidden, True, c2.input_dropout, c2.output_dropout)
    if cfg.head is Head.LINEAR:
        return PoolTrunk(dim, None)
    if cfg.head is Head.MLP:
        return PoolTrunk(dim, cfg.mlp)
    return CNNTrunk(dim, cfg.cnn1d)
