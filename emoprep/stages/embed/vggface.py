"""Embedder ``vggface``: VGG-16 face network (Parkhi, Vedaldi & Zisserman 2015, "Deep Face
Recognition") with a chosen output layer; the network is in :mod:`.vggface_nets`.

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

from enum import Enum
from pathlib import Path
from typing import TYPE_CHECKING, Literal

from pydantic import Field

from emoprep.stages.embed.config import ChannelOrder, TorchEmbedderBase

if TYPE_CHECKING:
    import torch

    from emoprep.stages.embed.torch_common import TorchEmbedder

#: VGG-Face mean pixel (RGB, 0-255) of the Oxford VGG-Face release (vgg_face_dag)
VGGFACE_MEAN_RGB: tuple[float, float, float] = (
    129.186279296875,
    104.76238250732422,
    93.59396362304688,
)


class VggLayer(str, Enum):
    """Which VGG-Face activation is the feature vector."""

    POOL5 = "pool5"  #: conv trunk after pool5, flattened (C, H, W) order: 512 * 7 * 7 = 25088
    FC6 = "fc6"  #: relu(fc6), 4096
    FC7 = "fc7"  #: relu(fc7), 4096
    #: relu(dense(flattened pool5)), 1024; ``dense.*`` from a fine-tuned checkpoint
    DENSE1024 = "dense1024"


DIMS: dict[VggLayer, int] = {VggLayer.POOL5: 512 * 7 * 7, VggLayer.FC6: 4096, VggLayer.FC7: 4096,
                             VggLayer.DENSE1024: 1024}
#: fully connected layers applied after pool5 (each followed by ReLU), per output layer
HEADS: dict[VggLayer, tuple[str, ...]] = {
    VggLayer.POOL5: (),
    VggLayer.FC6: ("fc6",),
    VggLayer.FC7: ("fc6", "fc7"),
    VggLayer.DENSE1024: ("dense",),
}
EXPECTED = (
    "a VGG-Face state dict with vgg_face_dag key names (conv1_1.weight .. conv5_3.bias, "
    "fc6.weight (4096, 25088), fc7.weight (4096, 4096); dense.weight (1024, 25088) for layer "
    "dense1024)"
)


class VggFaceConfig(TorchEmbedderBase):
    """VGG-16 face network (Oxford VGG-Face layout, vgg_face_dag key names) with a chosen output
    layer."""

    version = 2  # 2: dense1024 on the flattened pool5 (25088 -> 1024), not on fc7
    path_keys = ("weights", "head_weights")

    type: Literal["vggface"] = "vggface"
    weights: Path = Field(description="state dict with conv1_1.* .. fc7.* (fc8.* ignored)")
    head_weights: Path | None = Field(
        None, description="state dict with dense.weight (1024, 25088), dense.bias"
    )
    layer: VggLayer = VggLayer.FC7
    input_size: int = Field(
        224, ge=32, description="224 is the original; other sizes adaptive-pool to 7x7"
    )
    mean: tuple[float, float, float] = Field(VGGFACE_MEAN_RGB, description="RGB mean, 0-255 scale")
    std: tuple[float, float, float] = Field((1.0, 1.0, 1.0), description="RGB std, 0-255 scale")

    def make(self) -> TorchEmbedder:
        """Build the net up to ``layer``, load and check weights (ModelFileError when bad), wrap."""
        from emoprep.io.atomic import sha256_file
        from emoprep.stages.embed.torch_common import TorchEmbedder, build_and_load
        from emoprep.stages.embed.vggface_nets import VggFace

        self.set_threads()
        # fc8 and the fully connected layers the chosen layer does not use may be in the file
        unused = tuple(f"{n}." for n in ("fc6", "fc7", "fc8", "dense")
                       if n not in HEADS[self.layer])
        net = build_and_load(lambda: VggFace(HEADS[self.layer]), self._state_dict(), self.type,
                             self.weights, ignore_prefixes=unused)
        files = [self.weights] + ([self.head_weights] if self.head_weights is not None else [])
        mean = ", ".join(f"{m:.2f}" for m in self.mean)
        return TorchEmbedder(
            self, net, DIMS[self.layer], input_size=self.input_size, order=ChannelOrder.RGB,
            mean=self.mean, std=self.std,
            normalisation=f"rgb 0-255, (x - [{mean}]) / {list(self.std)}",
            sha256=",".join(sha256_file(f) for f in files), extra={"layer": self.layer.value},
        )

    def _state_dict(self) -> dict[str, torch.Tensor]:
        from emoprep.stages.embed.torch_common import load_state_dict

        sd = dict(load_state_dict(self.weights, self.type, EXPECTED))
        if self.head_weights is not None:
            sd.update(load_state_dict(
                self.head_weights, self.type,
                "a state dict with dense.weight (1024, 25088), dense.bias (1024,)"))
        return sd
