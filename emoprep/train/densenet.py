"""DenseNet-121, the AffectNet still-image backbone (004 §3.2), as ``emoprep finetune`` uses it:
the network lives beside the embedders (:mod:`emoprep.stages.embed.densenet_nets`, where the
``densenet121`` embedder builds it too) and is re-exported here. Importing this module imports
torch."""

from emoprep.stages.embed.densenet_nets import (
    BLOCKS,
    DIM,
    EXPECTED,
    IMAGENET_MEAN,
    IMAGENET_STD,
    DenseNet121,
    legacy_keys,
)

__all__ = ["BLOCKS", "DIM", "EXPECTED", "IMAGENET_MEAN", "IMAGENET_STD", "DenseNet121",
           "legacy_keys"]
