"""Losses per output head and their multi-task combination.

With logits z (B, K), targets y (B,) int64, optional class weights w (K,):

- ``ce``: cross-entropy, weighted by w[y] (mean over the batch normalised by sum w[y], as torch).
- ``focal``: -w[y] (1 - p_y)^gamma log p_y, p = softmax(z); mean over the batch (divided by
  sum w[y] when weighted). gamma = 0 and no weights is exactly cross-entropy.
- ``multilabel_focal``: the SASE-FE thesis, eq. 3.2, on one-hot targets and s = sigmoid(z):
  -sum_i [alpha (1 - s_i)^gamma y_i log s_i + (1 - alpha) s_i^gamma (1 - y_i) log(1 - s_i)],
  summed over the K classes, averaged over the batch; class weights (if any) scale term i.

Class weights are "balanced": w_k = N / (K n_k) over the training part (n_k = 0 gives w_k = 0).
Combination of two heads (``multitask``): ``sum`` L_emo + L_rf, or ``precision``
P_emo L_emo + P_rf L_rf (thesis eq. 3.3) where P is the macro precision of that head on the
training part over the previous epoch (1 in the first epoch); see :mod:`emoprep.train.loop`.
"""

from __future__ import annotations

import numpy as np
import torch
from torch.nn import functional as F

from emoprep.train.config import LossConfig, LossKind


def balanced_weights(y: np.ndarray, n_classes: int) -> np.ndarray:
    """(N,) int labels -> (K,) float32 weights N / (K n_k); 0 for absent classes."""
    counts = np.bincount(np.asarray(y, np.int64), minlength=n_classes).astype(np.float64)
    w = np.divide(len(y), n_classes * counts, out=np.zeros(n_classes), where=counts > 0)
    return w.astype(np.float32)


def focal_loss(logits: torch.Tensor, y: torch.Tensor, gamma: float,
               weight: torch.Tensor | None = None) -> torch.Tensor:
    """Softmax focal loss, (B, K), (B,) -> scalar (see module docstring)."""
    logp = F.log_softmax(logits, dim=1).gather(1, y[:, None])[:, 0]
    term = -((1 - logp.exp()) ** gamma) * logp
    if weight is None:
        return term.mean()
    wy = weight[y]
    return (wy * term).sum() / wy.sum().clamp_min(1e-12)


def multilabel_focal_loss(logits: torch.Tensor, y: torch.Tensor, alpha: float, gamma: float,
                          weight: torch.Tensor | None = None) -> torch.Tensor:
    """SASE-FE eq. 3.2 on s = sigmoid(logits), one-hot y; (B, K), (B,) -> scalar."""
    onehot = F.one_hot(y, logits.shape[1]).to(logits.dtype)
    s = torch.sigmoid(logits)
    log_s, log_1s = F.logsigmoid(logits), F.logsigmoid(-logits)  # stable log s, log(1 - s)
    pos = alpha * (1 - s) ** gamma * onehot * log_s
    neg = (1 - alpha) * s ** gamma * (1 - onehot) * log_1s
    per_class = -(pos + neg)
    if weight is not None:
        per_class = per_class * weight[None, :]
    return per_class.sum(dim=1).mean()


def head_loss(logits: torch.Tensor, y: torch.Tensor, cfg: LossConfig,
              weight: torch.Tensor | None) -> torch.Tensor:
    """The loss ``cfg.kind`` of one head (scalar)."""
    w = weight if cfg.class_weighted else None
    if cfg.kind is LossKind.CE:
        return F.cross_entropy(logits, y, weight=w)
    if cfg.kind is LossKind.FOCAL:
        return focal_loss(logits, y, cfg.gamma, w)
    return multilabel_focal_loss(logits, y, cfg.alpha, cfg.gamma, w)


def combine(losses: dict[str, torch.Tensor], factors: dict[str, float]) -> torch.Tensor:
    """sum_k factors[k] * losses[k] (factors all 1 for ``sum``; precisions for ``precision``)."""
    total = torch.zeros((), device=next(iter(losses.values())).device)
    for k, v in losses.items():
        total = total + factors.get(k, 1.0) * v
    return total
