"""VGG-16 face network (Parkhi, Vedaldi & Zisserman 2015, "Deep Face Recognition") with a chosen
output layer.

Module names follow the Oxford VGG-Face PyTorch release (``vgg_face_dag.pth``, S. Albanie's
MatConvNet conversion): ``conv1_1`` .. ``conv5_3`` (3x3, padding 1, bias), 2x2/2 max-pool after
each group, ``fc6`` (25088 -> 4096), ``fc7`` (4096 -> 4096); ``fc8.*`` (2622 identities) is ignored.
The optional ``dense`` layer (25088 -> 1024, ReLU) is the fine-tuned head of the video-FER thesis:
it
sits on the flattened pool5 output, not on fc7 (the thesis's parameter counts show this: 25088 x
1024
+ 1024 = 25,691,136), so layer ``dense1024`` never runs fc6 / fc7. Read from ``weights`` or
``head_weights``. Input: (B, 3, H, W) RGB on the 0-255 scale minus the
VGG-Face mean; 224 x 224 is the original, other sizes are adaptive-average-pooled to 7 x 7 after
pool5 (identity at 224).
"""

from __future__ import annotations

import torch
from torch import nn

from emoprep.io.atomic import sha256_file
from emoprep.stages.embed.config import ChannelOrder, VggFaceConfig, VggLayer
from emoprep.stages.embed.torch_common import TorchEmbedder, build_and_load, load_state_dict

#: (group, convs in the group, output channels) of VGG-16
GROUPS: tuple[tuple[int, int, int], ...] = (
    (1, 2, 64),
    (2, 2, 128),
    (3, 3, 256),
    (4, 3, 512),
    (5, 3, 512),
)
DIMS: dict[VggLayer, int] = {VggLayer.POOL5: 512 * 7 * 7, VggLayer.FC6: 4096, VggLayer.FC7: 4096,
                             VggLayer.DENSE1024: 1024}
#: fully connected layers applied after pool5 (each followed by ReLU), per output layer
HEADS: dict[VggLayer, tuple[str, ...]] = {
    VggLayer.POOL5: (),
    VggLayer.FC6: ("fc6",),
    VggLayer.FC7: ("fc6", "fc7"),
    VggLayer.DENSE1024: ("dense",),
}
_LINEAR = {"fc6": (512 * 7 * 7, 4096), "fc7": (4096, 4096), "dense": (512 * 7 * 7, 1024)}
EXPECTED = (
    "a VGG-Face state dict with vgg_face_dag key names (conv1_1.weight .. conv5_3.bias, "
    "fc6.weight (4096, 25088), fc7.weight (4096, 4096); dense.weight (1024, 25088) for layer "
    "dense1024)"
)


class VggFace(nn.Module):
    """(B, 3, H, W) float32 mean-subtracted RGB -> (B, DIMS[layer]) activations (after ReLU for
    fc)."""

    def __init__(self, layer: VggLayer = VggLayer.FC7) -> None:
        super().__init__()
        self.layer = layer
        self._convs: list[tuple[str, bool]] = []  # (name, max-pool after it)
        cin = 3
        for g, n, cout in GROUPS:
            for i in range(1, n + 1):
                self.add_module(
                    f"conv{g}_{i}", nn.Conv2d(cin, cout, kernel_size=3, stride=1, padding=1)
                )
                self._convs.append((f"conv{g}_{i}", i == n))
                cin = cout
        self.heads = HEADS[layer]
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


def _state_dict(cfg: VggFaceConfig) -> dict[str, torch.Tensor]:
    sd = dict(load_state_dict(cfg.weights, cfg.type, EXPECTED))
    if cfg.head_weights is not None:
        head = load_state_dict(cfg.head_weights, cfg.type,
                               "a state dict with dense.weight (1024, 25088), dense.bias (1024,)")
        sd.update(head)
    return sd


def make_vggface_embedder(cfg: VggFaceConfig) -> TorchEmbedder:
    """Build the net up to ``cfg.layer``, load and check weights (ModelFileError when bad), wrap."""
    # fc8 and the fully connected layers the chosen layer does not use may be in the file
    unused = tuple(f"{n}." for n in ("fc6", "fc7", "fc8", "dense") if n not in HEADS[cfg.layer])
    net = build_and_load(lambda: VggFace(cfg.layer), _state_dict(cfg), cfg.type, cfg.weights,
                         ignore_prefixes=unused)
    files = [cfg.weights] + ([cfg.head_weights] if cfg.head_weights is not None else [])
    mean = ", ".join(f"{m:.2f}" for m in cfg.mean)
    return TorchEmbedder(
        cfg, net, DIMS[cfg.layer], input_size=cfg.input_size, order=ChannelOrder.RGB, mean=cfg.mean,
        std=cfg.std, normalisation=f"rgb 0-255, (x - [{mean}]) / {list(cfg.std)}",
        sha256=",".join(sha256_file(f) for f in files), extra={"layer": cfg.layer.value},
    )
