"""Inception-V4 in plain torch, with the parameter names of timm's ``inception_v4`` state dict, so
a file saved from timm (``torch.save(timm.create_model('inception_v4', pretrained=True)
.state_dict(), path)``, the ``tf_in1k`` ImageNet weights) loads as is. Importing this module
imports torch (timm is not needed).

The spontaneous/posed thesis (002 §2.2, §4.4.2) fine-tunes an ImageNet Inception-V4 (Szegedy et
al.'s network) on NVIE apex images. Layout (``features.<i>``): a stem of three 3x3 conv units
(3 -> 32 /2, 32 -> 32, 32 -> 64 padded), ``Mixed3a`` (max-pool | 3x3/2 conv to 96), ``Mixed4a``
(two conv branches to 96 each), ``Mixed5a`` (3x3/2 conv to 192 | max-pool); four Inception-A
blocks (384 channels), Reduction-A (to 1024), seven Inception-B blocks, Reduction-B (to 1536),
three Inception-C blocks; global average pool -> (B, 1536); timm's classifier ``last_linear``
(1536 -> 1000) is dropped by the fine-tuning network. Each conv unit is ``conv`` (no bias),
``bn`` (batch norm, eps 1e-3) and ReLU. Branch outputs are concatenated in timm's order. Input:
RGB at 299, ``(x / 255 - 0.5) / 0.5`` (Inception's mean and std; :data:`MEAN`, :data:`STD` on
0-255); any side from 75 works (the pool is global).
"""

from __future__ import annotations

import torch
from torch import nn

DIM = 1536  #: pooled feature width
SIDE = 299  #: the ImageNet input side
MEAN = STD = (127.5, 127.5, 127.5)  #: RGB, 0-255 scale
EXPECTED = ("a timm inception_v4 state dict, e.g. torch.save(timm.create_model('inception_v4', "
            "pretrained=True).state_dict(), 'inception_v4.pt') (keys features.0.conv.weight ... "
            "features.21.branch3.1.bn.*, last_linear.*)")
Kernel = int | tuple[int, int]


class ConvUnit(nn.Module):
    """Conv (no bias) -> BatchNorm (eps 1e-3) -> ReLU; (B, C_in, H, W) -> (B, C_out, H', W')."""

    def __init__(self, c_in: int, c_out: int, k: Kernel, stride: int = 1,
                 pad: Kernel = 0) -> None:
        super().__init__()
        self.conv = nn.Conv2d(c_in, c_out, k, stride, pad, bias=False)
        self.bn = nn.BatchNorm2d(c_out, eps=1e-3)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.relu(self.bn(self.conv(x)))


def _chain(c_in: int, *layers: tuple[int, Kernel] | tuple[int, Kernel, int, Kernel]
           ) -> nn.Sequential:
    """Conv units one after the other: each ``(c_out, k)`` or ``(c_out, k, stride, pad)``."""
    units = []
    for spec in layers:
        c_out, k, stride, pad = (*spec, 1, 0) if len(spec) == 2 else spec
        units.append(ConvUnit(c_in, c_out, k, stride, pad))
        c_in = c_out
    return nn.Sequential(*units)


def _avg_then(c_in: int, c_out: int) -> nn.Sequential:
    """3x3 average pool (stride 1, padding not counted), then a 1x1 conv unit."""
    return nn.Sequential(nn.AvgPool2d(3, 1, 1, count_include_pad=False), ConvUnit(c_in, c_out, 1))


class Concat(nn.Module):
    """Branches applied to the same input, outputs concatenated along channels in ``order``."""

    def __init__(self, order: tuple[str, ...], **branches: nn.Module) -> None:
        super().__init__()
        self.order = order
        for name, module in branches.items():
            self.add_module(name, module)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.cat([getattr(self, n)(x) for n in self.order], 1)


_B4 = ("branch0", "branch1", "branch2", "branch3")
_B3 = _B4[:3]
_17, _71 = (1, 7), (7, 1)
_P17, _P71 = (0, 3), (3, 0)


def inception_a() -> Concat:
    return Concat(_B4, branch0=ConvUnit(384, 96, 1), branch1=_chain(384, (64, 1), (96, 3, 1, 1)),
                  branch2=_chain(384, (64, 1), (96, 3, 1, 1), (96, 3, 1, 1)),
                  branch3=_avg_then(384, 96))


def inception_b() -> Concat:
    return Concat(_B4, branch0=ConvUnit(1024, 384, 1),
                  branch1=_chain(1024, (192, 1), (224, _17, 1, _P17), (256, _71, 1, _P71)),
                  branch2=_chain(1024, (192, 1), (192, _71, 1, _P71), (224, _17, 1, _P17),
                                 (224, _71, 1, _P71), (256, _17, 1, _P17)),
                  branch3=_avg_then(1024, 128))


class InceptionC(nn.Module):
    """Inception-C (1536 -> 1536 channels): 1x1 | 1x1 then 1x3 and 3x1 side by side | 1x1, 3x1,
    1x3 then 1x3 and 3x1 side by side | average pool and 1x1."""

    def __init__(self) -> None:
        super().__init__()
        self.branch0 = ConvUnit(1536, 256, 1)
        self.branch1_0 = ConvUnit(1536, 384, 1)
        self.branch1_1a = ConvUnit(384, 256, (1, 3), 1, (0, 1))
        self.branch1_1b = ConvUnit(384, 256, (3, 1), 1, (1, 0))
        self.branch2_0 = ConvUnit(1536, 384, 1)
        self.branch2_1 = ConvUnit(384, 448, (3, 1), 1, (1, 0))
        self.branch2_2 = ConvUnit(448, 512, (1, 3), 1, (0, 1))
        self.branch2_3a = ConvUnit(512, 256, (1, 3), 1, (0, 1))
        self.branch2_3b = ConvUnit(512, 256, (3, 1), 1, (1, 0))
        self.branch3 = _avg_then(1536, 256)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        b1 = self.branch1_0(x)
        b2 = self.branch2_2(self.branch2_1(self.branch2_0(x)))
        return torch.cat([self.branch0(x), self.branch1_1a(b1), self.branch1_1b(b1),
                          self.branch2_3a(b2), self.branch2_3b(b2), self.branch3(x)], 1)


def _features() -> list[nn.Module]:
    """``features.0`` .. ``features.21`` in timm's order."""
    stem: list[nn.Module] = [ConvUnit(3, 32, 3, 2), ConvUnit(32, 32, 3), ConvUnit(32, 64, 3, 1, 1),
                             Concat(("maxpool", "conv"), maxpool=nn.MaxPool2d(3, 2),
                                    conv=ConvUnit(64, 96, 3, 2)),
                             Concat(("branch0", "branch1"), branch0=_chain(160, (64, 1), (96, 3)),
                                    branch1=_chain(160, (64, 1), (64, _17, 1, _P17),
                                                   (64, _71, 1, _P71), (96, 3))),
                             Concat(("conv", "maxpool"), conv=ConvUnit(192, 192, 3, 2),
                                    maxpool=nn.MaxPool2d(3, 2))]
    reduction_a = Concat(_B3, branch0=ConvUnit(384, 384, 3, 2),
                         branch1=_chain(384, (192, 1), (224, 3, 1, 1), (256, 3, 2, 0)),
                         branch2=nn.MaxPool2d(3, 2))
    reduction_b = Concat(_B3, branch0=_chain(1024, (192, 1), (192, 3, 2, 0)),
                         branch1=_chain(1024, (256, 1), (256, _17, 1, _P17), (320, _71, 1, _P71),
                                        (320, 3, 2, 0)),
                         branch2=nn.MaxPool2d(3, 2))
    return [*stem, *(inception_a() for _ in range(4)), reduction_a,
            *(inception_b() for _ in range(7)), reduction_b, *(InceptionC() for _ in range(3))]


class InceptionV4(nn.Module):
    """(B, 3, H, W) float -> (B, 1536) pooled features; ``with_classifier`` adds timm's
    ``last_linear`` (1536 -> 1000) and returns its logits (to save a file in timm's layout)."""

    def __init__(self, with_classifier: bool = False) -> None:
        super().__init__()
        self.features = nn.Sequential(*_features())
        self.last_linear = nn.Linear(DIM, 1000) if with_classifier else None

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        z = self.features(x).mean((2, 3))
        return z if self.last_linear is None else self.last_linear(z)


#: fine-tuning blocks, input to output (prefixes under ``net``); 002's train layer modes
#: (Table 4.1, Fig. 4.6) lock everything below a line between such blocks
BLOCKS = (tuple(f"features.{i}." for i in range(6)), tuple(f"features.{i}." for i in range(6, 10)),
          ("features.10.",), tuple(f"features.{i}." for i in range(11, 18)), ("features.18.",),
          ("features.19.",), ("features.20.",), ("features.21.",))
