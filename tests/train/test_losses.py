"""Losses against their formulas on hand-computed cases."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from torch.nn import functional as F

from emoprep.train.config import LossConfig
from emoprep.train.losses import (
    balanced_weights,
    combine,
    focal_loss,
    head_loss,
    multilabel_focal_loss,
)


def test_focal_with_gamma_zero_is_cross_entropy() -> None:
    torch.manual_seed(0)
    z, y = torch.randn(7, 4), torch.tensor([0, 1, 2, 3, 0, 1, 2])
    torch.testing.assert_close(focal_loss(z, y, 0.0), F.cross_entropy(z, y))
    w = torch.tensor([0.5, 2.0, 1.0, 3.0])
    torch.testing.assert_close(focal_loss(z, y, 0.0, w), F.cross_entropy(z, y, weight=w))


def test_focal_hand_computed() -> None:
    z, y = torch.tensor([[0.0, math.log(3.0)]]), torch.tensor([1])  # p = (0.25, 0.75)
    expected = -((1 - 0.75) ** 2) * math.log(0.75)
    assert focal_loss(z, y, 2.0).item() == pytest.approx(expected, rel=1e-6)


def test_multilabel_focal_hand_computed() -> None:
    """Eq. 3.2 with s = sigmoid(z): z = (0, ln 3) -> s = (0.5, 0.75), true class 0."""
    z, y = torch.tensor([[0.0, math.log(3.0)]]), torch.tensor([0])
    alpha, gamma = 0.25, 2.0
    pos = alpha * (1 - 0.5) ** gamma * math.log(0.5)  # class 0, y = 1
    neg = (1 - alpha) * 0.75 ** gamma * math.log(1 - 0.75)  # class 1, y = 0
    got = multilabel_focal_loss(z, y, alpha, gamma).item()
    assert got == pytest.approx(-(pos + neg), rel=1e-6)
    # batch mean of per-sample class sums
    z2 = torch.cat([z, torch.tensor([[2.0, -1.0]])])
    y2 = torch.tensor([0, 0])
    s = torch.sigmoid(torch.tensor([2.0, -1.0]))
    second = -(alpha * (1 - s[0]) ** gamma * math.log(s[0])
               + (1 - alpha) * s[1] ** gamma * math.log(1 - s[1]))
    assert multilabel_focal_loss(z2, y2, alpha, gamma).item() == pytest.approx(
        (got + float(second)) / 2, rel=1e-6)


def test_multilabel_focal_with_gamma_zero_and_half_alpha_is_half_bce() -> None:
    torch.manual_seed(1)
    z, y = torch.randn(5, 3), torch.tensor([0, 2, 1, 1, 0])
    bce = F.binary_cross_entropy_with_logits(z, F.one_hot(y, 3).float(), reduction="sum") / 5
    torch.testing.assert_close(multilabel_focal_loss(z, y, 0.5, 0.0), 0.5 * bce)


def test_balanced_weights_and_weighted_ce() -> None:
    w = balanced_weights(np.array([0, 0, 0, 1]), 3)
    np.testing.assert_allclose(w, [4 / 9, 4 / 3, 0.0], rtol=1e-6)
    z, y = torch.randn(4, 3), torch.tensor([0, 0, 0, 1])
    wt = torch.from_numpy(w)
    plain = head_loss(z, y, LossConfig(kind="ce"), wt)
    weighted = head_loss(z, y, LossConfig(kind="ce", class_weighted=True), wt)
    torch.testing.assert_close(plain, F.cross_entropy(z, y))
    torch.testing.assert_close(weighted, F.cross_entropy(z, y, weight=wt))


def test_combination_sum_and_precision_weighted() -> None:
    losses = {"emotion": torch.tensor(2.0), "authenticity": torch.tensor(4.0)}
    assert combine(losses, {}).item() == 6.0
    assert combine(losses, {"emotion": 0.5, "authenticity": 0.25}).item() == 2.0
