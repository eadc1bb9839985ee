"""Embedder ``densenet121``: DenseNet-121 (the AffectNet thesis's still-image backbone, 004 §3.2),
features from its pooled layer (B, 1024: ReLU after ``features.norm5``, global average pool). The
network is in :mod:`.densenet_nets` (plain torch with torchvision's parameter names), imported
when the embedder is built.

``weights``: a state dict in torchvision's ``densenet121`` layout: the ImageNet file saved from
torchvision, or the checkpoint ``emoprep finetune --backbone densenet121`` writes
(``densenet121_finetuned.pt``: the same keys, its trained classifier ignored here). The file's
sha256 is in the features' fingerprint, so pointing the embedder at a new checkpoint, or new
content at the same path, makes them stale. Input: RGB at ``input_size`` (224 by default, >= 32),
``(x / 255 - mean) / std`` with ImageNet's mean and std.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Literal

from pydantic import Field

from emoprep.stages.embed.config import ChannelOrder, TorchEmbedderBase

if TYPE_CHECKING:
    from emoprep.stages.embed.torch_common import TorchEmbedder

class DenseNet121Config(TorchEmbedderBase):
    """DenseNet-121 pooled features (1024-d), torchvision state-dict layout (ImageNet weights or
    a fine-tuned checkpoint of ``emoprep finetune``)."""

    path_keys = ("weights",)

    type: Literal["densenet121"] = "densenet121"
    weights: Path = Field(description="state dict .pt in torchvision's densenet121 layout")
    input_size: int = Field(224, ge=32, description="crops resized to this side; 224 is "
                            "ImageNet's")

    def make(self) -> TorchEmbedder:
        """Load the state dict (ModelFileError when missing / corrupt / wrong keys); wrap it."""
        from emoprep.io.atomic import sha256_file
        from emoprep.stages.embed.densenet_nets import (
            DIM,
            EXPECTED,
            IMAGENET_MEAN,
            IMAGENET_STD,
            DenseNet121,
            legacy_keys,
        )
        from emoprep.stages.embed.torch_common import (
            TorchEmbedder,
            build_and_load,
            load_state_dict,
        )

        self.set_threads()
        sd = legacy_keys(load_state_dict(self.weights, self.type, EXPECTED))
        net = build_and_load(lambda: DenseNet121(), sd, self.type, self.weights,
                             ignore_prefixes=("classifier.",))
        return TorchEmbedder(
            self, net, DIM, input_size=self.input_size, order=ChannelOrder.RGB,
            mean=IMAGENET_MEAN, std=IMAGENET_STD,
            normalisation="rgb 0-255, (x - ImageNet mean) / ImageNet std, pooled 1024",
            sha256=sha256_file(self.weights),
        )
