"""DenseNet-121 in plain torch, with the parameter names of torchvision's ``densenet121`` state
dict, so a file saved from torchvision (``torch.save(model.state_dict(), path)``) loads as is.
Importing this module imports torch (torchvision is not needed).

The AffectNet thesis (004 §3.2, its baseline table "Pretrained DenseNet121 + Weighted Loss")
fine-tunes an ImageNet-pretrained DenseNet-121 on still images. Layout: ``features.conv0`` 7x7/2
(3 -> 64), ``norm0``, ReLU, 3x3/2 max-pool; four dense blocks of 6, 12, 24, 16 layers (each layer
BN-ReLU-1x1 conv to 128, BN-ReLU-3x3 conv to 32 new channels, concatenated), a transition
(BN-ReLU-1x1 conv halving the channels, 2x2 average pool) after each of the first three;
``features.norm5``; ReLU, global average pool -> (B, 1024); torchvision's ``classifier`` (1024 ->
1000) is dropped by the fine-tuning network (:mod:`emoprep.train.backbones`) and by the
``densenet121`` embedder (:mod:`.densenet`), which outputs the pooled (B, 1024). Input: RGB at 224,
``(x / 255 - mean) / std`` with ImageNet's mean and std (:data:`IMAGENET_MEAN`, on 0-255).
Old torchvision files name layer parts ``norm.1`` instead of ``norm1``: :func:`legacy_keys`
renames them.
"""

from __future__ import annotations

import re

import torch
from torch import nn
from torch.nn import functional as F

DIM = 1024  #: pooled feature width
IMAGENET_MEAN = (123.675, 116.28, 103.53)  #: RGB, 0-255 scale
IMAGENET_STD = (58.395, 57.12, 57.375)
EXPECTED = ("a torchvision densenet121 state dict, e.g. torch.save(torchvision.models."
            "densenet121(weights='IMAGENET1K_V1').state_dict(), 'densenet121.pt') "
            "(keys features.conv0.weight ... features.norm5.*, classifier.*)")

BLOCKS = (6, 12, 24, 16)
GROWTH, BN_SIZE, INIT = 32, 4, 64
_LEGACY = re.compile(r"^(.*denselayer\d+\.(?:norm|relu|conv))\.((?:[12])\.(?:weight|bias|"
                     r"running_mean|running_var|num_batches_tracked))$")


class DenseLayer(nn.Module):
    """BN-ReLU-Conv1x1 (in -> 128), BN-ReLU-Conv3x3 (128 -> 32); (B, C, H, W) -> (B, 32, H, W)."""

    def __init__(self, c_in: int) -> None:
        super().__init__()
        self.norm1 = nn.BatchNorm2d(c_in)
        self.conv1 = nn.Conv2d(c_in, BN_SIZE * GROWTH, 1, bias=False)
        self.norm2 = nn.BatchNorm2d(BN_SIZE * GROWTH)
        self.conv2 = nn.Conv2d(BN_SIZE * GROWTH, GROWTH, 3, padding=1, bias=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.conv1(F.relu(self.norm1(x)))
        return self.conv2(F.relu(self.norm2(x)))


class DenseBlock(nn.ModuleDict):
    """``n`` dense layers ``denselayer1..n``; each sees every earlier output concatenated."""

    def __init__(self, n: int, c_in: int) -> None:
        super().__init__({f"denselayer{i + 1}": DenseLayer(c_in + i * GROWTH) for i in range(n)})

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        feats = [x]
        for layer in self.values():
            feats.append(layer(torch.cat(feats, 1)))
        return torch.cat(feats, 1)


class Transition(nn.Sequential):
    """BN-ReLU-Conv1x1 (c -> c // 2), 2x2 average pool."""

    def __init__(self, c_in: int) -> None:
        super().__init__()
        self.add_module("norm", nn.BatchNorm2d(c_in))
        self.add_module("relu", nn.ReLU())
        self.add_module("conv", nn.Conv2d(c_in, c_in // 2, 1, bias=False))
        self.add_module("pool", nn.AvgPool2d(2, 2))


class DenseNet121(nn.Module):
    """(B, 3, H, W) normalised RGB -> (B, 1024) pooled features (``classifier`` kept only with
    ``with_classifier``, for loading a full torchvision file)."""

    def __init__(self, with_classifier: bool = False, n_classes: int = 1000) -> None:
        super().__init__()
        self.features = nn.Sequential()
        self.features.add_module("conv0", nn.Conv2d(3, INIT, 7, 2, 3, bias=False))
        self.features.add_module("norm0", nn.BatchNorm2d(INIT))
        self.features.add_module("relu0", nn.ReLU())
        self.features.add_module("pool0", nn.MaxPool2d(3, 2, 1))
        c = INIT
        for i, n in enumerate(BLOCKS):
            self.features.add_module(f"denseblock{i + 1}", DenseBlock(n, c))
            c += n * GROWTH
            if i < len(BLOCKS) - 1:
                self.features.add_module(f"transition{i + 1}", Transition(c))
                c //= 2
        self.features.add_module("norm5", nn.BatchNorm2d(c))
        self.classifier = nn.Linear(c, n_classes) if with_classifier else None

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        z = F.adaptive_avg_pool2d(F.relu(self.features(x)), 1).flatten(1)
        return z if self.classifier is None else self.classifier(z)


def legacy_keys(sd: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """``...denselayer1.norm.1.weight`` -> ``...denselayer1.norm1.weight`` (old torchvision)."""
    return {_LEGACY.sub(r"\1\2", k): v for k, v in sd.items()}
