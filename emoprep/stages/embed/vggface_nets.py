"""The VGG-16 face network in torch, for the ``vggface`` embedder (:mod:`.vggface`). Importing this
module imports torch.

Module names follow the Oxford VGG-Face PyTorch release (``vgg_face_dag.pth``): ``conv1_1`` ..
``conv5_3`` (3x3, padding 1, bias), 2x2/2 max-pool after each group, ``fc6`` (25088 -> 4096),
``fc7`` (4096 -> 4096); the optional ``dense`` head (25088 -> 1024) sits on the flattened pool5.
Sizes other than 224 are adaptive-average-pooled to 7 x 7 after pool5 (identity at 224).
"""

from __future__ import annotations

import torch
from torch import nn

#: (group, convs in the group, output channels) of VGG-16
GROUPS: tuple[tuple[int, int, int], ...] = (
    (1, 2, 64),
    (2, 2, 128),
    (3, 3, 256),
    (4, 3, 512),
    (5, 3, 512),
)
_LINEAR = {"fc6": (512 * 7 * 7, 4096), "fc7": (4096, 4096), "dense": (512 * 7 * 7, 1024)}


class VggFace(nn.Module):
    """(B, 3, H, W) float32 mean-subtracted RGB -> (B, D) activations: the conv trunk, then the
    fully connected layers ``heads`` (each followed by ReLU), e.g. ``("fc6", "fc7")`` for fc7
    (D = 4096), ``("dense",)`` for dense1024 (D = 1024), ``()`` for pool5 (D = 25088)."""

    def __init__(self, heads: tuple[str, ...] = ("fc6", "fc7")) -> None:
        super().__init__()
        self._convs: list[tuple[str, bool]] = []  # (name, max-pool after it)
        cin = 3
        for g, n, cout in GROUPS:
            for i in range(1, n + 1):
                self.add_module(
                    f"conv{g}_{i}", nn.Conv2d(cin, cout, kernel_size=3, stride=1, padding=1)
                )
                self._convs.append((f"conv{g}_{i}", i == n))
                cin = cout
        self.heads = heads
        for name in self.heads:
            self.add_module(name, nn.Linear(*_LINEAR[name]))

    def trunk(self, x: torch.Tensor) -> torch.Tensor:
        """Conv groups with ReLU and 2x2 max-pool: (B, 3, H, W) -> (B, 25088), (C, H, W) order."""
        for name, pool in self._convs:
            x = torch.relu(getattr(self, name)(x))
            if pool:
                x = nn.functional.max_pool2d(x, kernel_size=2, stride=2)
        if x.shape[-2:] != (7, 7):
            x = nn.functional.adaptive_avg_pool2d(x, (7, 7))
        return x.flatten(1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.trunk(x)
        for name in self.heads:
            x = torch.relu(getattr(self, name)(x))
        return x
