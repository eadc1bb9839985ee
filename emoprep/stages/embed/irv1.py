"""Embedder ``inception_resnet_v1``: FaceNet InceptionResnetV1 (512-d) with facenet-pytorch's
state-dict layout (e.g. the VGGFace2 one); the network is in :mod:`.irv1_nets`, imported with torch
when the embedder is built. Input: (B, 3, H, W) RGB, ``(x - 127.5) / 128``; trained at 160 x 160
(>= 75 works).
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Literal

from pydantic import Field

from emoprep.stages.embed.config import ChannelOrder, TorchEmbedderBase

if TYPE_CHECKING:
    from emoprep.stages.embed.torch_common import TorchEmbedder

DIM = 512
EXPECTED = ("a facenet-pytorch InceptionResnetV1 state dict such as 20180402-114759-vggface2.pt "
            "(keys conv2d_1a.conv.weight ... last_linear.weight, last_bn.*)")


class InceptionResnetV1Config(TorchEmbedderBase):
    """FaceNet InceptionResnetV1 (512-d), facenet-pytorch state-dict layout (e.g. the VGGFace2
    one)."""

    path_keys = ("weights",)

    type: Literal["inception_resnet_v1"] = "inception_resnet_v1"
    weights: Path = Field(description="state dict .pt, e.g. 20180402-114759-vggface2.pt")
    input_size: int = Field(
        160, ge=75, description="crops resized to this side; 160 is what it was trained on"
    )
    l2_normalize: bool = Field(True, description="unit-length output, as facenet-pytorch does")

    def make(self) -> TorchEmbedder:
        """Load the state dict (ModelFileError when missing / corrupt / wrong keys); wrap it."""
        from emoprep.io.atomic import sha256_file
        from emoprep.stages.embed.irv1_nets import InceptionResnetV1
        from emoprep.stages.embed.torch_common import (
            TorchEmbedder,
            build_and_load,
            load_state_dict,
        )

        self.set_threads()
        sd = load_state_dict(self.weights, self.type, EXPECTED)
        net = build_and_load(lambda: InceptionResnetV1(l2_normalize=self.l2_normalize), sd,
                             self.type, self.weights, ignore_prefixes=("logits.",))
        unit = ", l2-normalised" if self.l2_normalize else ""
        return TorchEmbedder(
            self, net, DIM, input_size=self.input_size, order=ChannelOrder.RGB,
            mean=(127.5,) * 3, std=(128.0,) * 3, normalisation="rgb, (x - 127.5) / 128" + unit,
            sha256=sha256_file(self.weights),
        )
