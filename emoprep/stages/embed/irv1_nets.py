"""The FaceNet InceptionResnetV1 network in torch (Szegedy et al. 2016, as trained by D. Sandberg's
facenet), 512-d, for the ``inception_resnet_v1`` embedder (:mod:`.irv1`). Importing this module
imports torch.

Module names follow facenet-pytorch's ``InceptionResnetV1`` exactly, so its published state dicts
(e.g. ``20180402-114759-vggface2.pt``) load as they are; ``logits.*`` (the training classifier) is
ignored. Input: (B, 3, H, W) RGB, ``(x - 127.5) / 128``; trained at 160 x 160 (>= 75 works).
"""

from __future__ import annotations

import torch
from torch import nn
from torch.nn import functional as F

Spec = tuple[
    int, int, int | tuple[int, int], int, int | tuple[int, int]
]  # in, out, kernel, stride, pad


class BasicConv2d(nn.Module):
    """Conv (no bias) -> BatchNorm (eps 1e-3, as in TensorFlow) -> ReLU."""

    def __init__(self, cin: int, cout: int, kernel: int | tuple[int, int], stride: int,
                 padding: int | tuple[int, int] = 0) -> None:
        super().__init__()
        self.conv = nn.Conv2d(
            cin, cout, kernel_size=kernel, stride=stride, padding=padding, bias=False
        )
        self.bn = nn.BatchNorm2d(cout, eps=0.001, momentum=0.1, affine=True)
        self.relu = nn.ReLU(inplace=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.relu(self.bn(self.conv(x)))


def _branch(specs: list[Spec]) -> nn.Module:
    """One conv as itself (keys ``branchN.conv.*``), several as a Sequential
    (``branchN.0.conv.*``)."""
    convs = [BasicConv2d(*s) for s in specs]
    return convs[0] if len(convs) == 1 else nn.Sequential(*convs)


class _Residual(nn.Module):
    """Inception-ResNet block: concat(branches) -> 1x1 conv (bias) -> x + scale * that -> ReLU."""

    def __init__(
        self, channels: int, branches: list[list[Spec]], scale: float, relu: bool = True
    ) -> None:
        super().__init__()
        self.scale = scale
        for i, specs in enumerate(branches):
            self.add_module(f"branch{i}", _branch(specs))
        self.n = len(branches)
        width = sum(specs[-1][1] for specs in branches)
        self.conv2d = nn.Conv2d(width, channels, kernel_size=1, stride=1)
        self.relu = nn.ReLU(inplace=False) if relu else nn.Identity()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = torch.cat([getattr(self, f"branch{i}")(x) for i in range(self.n)], 1)
        return self.relu(self.conv2d(out) * self.scale + x)


class _Mixed(nn.Module):
    """Reduction block: concat(conv branches, 3x3/2 max-pool branch)."""

    def __init__(self, branches: list[list[Spec]]) -> None:
        super().__init__()
        for i, specs in enumerate(branches):
            self.add_module(f"branch{i}", _branch(specs))
        self.add_module(f"branch{len(branches)}", nn.MaxPool2d(3, stride=2))
        self.n = len(branches) + 1

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.cat([getattr(self, f"branch{i}")(x) for i in range(self.n)], 1)


def block35(scale: float = 0.17) -> _Residual:
    return _Residual(256, [[(256, 32, 1, 1, 0)],
                           [(256, 32, 1, 1, 0), (32, 32, 3, 1, 1)],
                           [(256, 32, 1, 1, 0), (32, 32, 3, 1, 1), (32, 32, 3, 1, 1)]], scale)


def block17(scale: float = 0.10) -> _Residual:
    return _Residual(
        896,
        [
            [(896, 128, 1, 1, 0)],
            [(896, 128, 1, 1, 0), (128, 128, (1, 7), 1, (0, 3)), (128, 128, (7, 1), 1, (3, 0))],
        ],
        scale,
    )


def block8(scale: float = 0.20, relu: bool = True) -> _Residual:
    return _Residual(
        1792,
        [
            [(1792, 192, 1, 1, 0)],
            [(1792, 192, 1, 1, 0), (192, 192, (1, 3), 1, (0, 1)), (192, 192, (3, 1), 1, (1, 0))],
        ],
        scale,
        relu,
    )


class InceptionResnetV1(nn.Module):
    """(B, 3, H, W) float32 standardised RGB -> (B, 512) embeddings (unit length if
    l2_normalize)."""

    def __init__(self, l2_normalize: bool = True) -> None:
        super().__init__()
        self.l2_normalize = l2_normalize
        self.conv2d_1a = BasicConv2d(3, 32, 3, 2)
        self.conv2d_2a = BasicConv2d(32, 32, 3, 1)
        self.conv2d_2b = BasicConv2d(32, 64, 3, 1, 1)
        self.maxpool_3a = nn.MaxPool2d(3, stride=2)
        self.conv2d_3b = BasicConv2d(64, 80, 1, 1)
        self.conv2d_4a = BasicConv2d(80, 192, 3, 1)
        self.conv2d_4b = BasicConv2d(192, 256, 3, 2)
        self.repeat_1 = nn.Sequential(*[block35() for _ in range(5)])
        self.mixed_6a = _Mixed([[(256, 384, 3, 2, 0)],
                                [(256, 192, 1, 1, 0), (192, 192, 3, 1, 1), (192, 256, 3, 2, 0)]])
        self.repeat_2 = nn.Sequential(*[block17() for _ in range(10)])
        self.mixed_7a = _Mixed([[(896, 256, 1, 1, 0), (256, 384, 3, 2, 0)],
                                [(896, 256, 1, 1, 0), (256, 256, 3, 2, 0)],
                                [(896, 256, 1, 1, 0), (256, 256, 3, 1, 1), (256, 256, 3, 2, 0)]])
        self.repeat_3 = nn.Sequential(*[block8() for _ in range(5)])
        self.block8 = block8(scale=1.0, relu=False)
        self.avgpool_1a = nn.AdaptiveAvgPool2d(1)
        self.dropout = nn.Dropout(0.6)
        self.last_linear = nn.Linear(1792, 512, bias=False)
        self.last_bn = nn.BatchNorm1d(512, eps=0.001, momentum=0.1, affine=True)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        for name in (
            "conv2d_1a",
            "conv2d_2a",
            "conv2d_2b",
            "maxpool_3a",
            "conv2d_3b",
            "conv2d_4a",
            "conv2d_4b",
            "repeat_1",
            "mixed_6a",
            "repeat_2",
            "mixed_7a",
            "repeat_3",
            "block8",
            "avgpool_1a",
            "dropout",
        ):
            x = getattr(self, name)(x)
        x = self.last_bn(self.last_linear(x.flatten(1)))
        return F.normalize(x, p=2, dim=1) if self.l2_normalize else x
