"""Per-frame feature extractors ("embedders") over aligned crops, and offline augmentations.

Each embedder is one module plus one config class in :mod:`.config` (registered in
``EMBEDDERS``); the config class carries its facts (``version``, ``libraries``, model files,
``needs_landmarks``, a lazily imported factory). The pipeline calls ``cfg.make()`` and
:func:`embed_frames`. Torch is imported only when a torch embedder is built. See docs/EMBEDDERS.md.
"""

from emoprep.stages.embed.augment import (
    Augmentation,
    augment_frame,
    augment_frames,
    augment_landmarks,
    augment_rng,
)
from emoprep.stages.embed.base import Embedder, embed_frames, make_embedder
from emoprep.stages.embed.config import (
    EMBEDDERS,
    RUNTIME_FIELDS,
    AugmentConfig,
    ChannelOrder,
    Device,
    DlibChip,
    DlibResnetConfig,
    EmbedderBase,
    EmbedderConfig,
    HogConfig,
    InceptionResnetV1Config,
    LandmarksEmbedConfig,
    TorchScriptConfig,
    VggFaceConfig,
    VggLayer,
)

__all__ = [
    "EMBEDDERS",
    "RUNTIME_FIELDS",
    "AugmentConfig",
    "Augmentation",
    "ChannelOrder",
    "Device",
    "DlibChip",
    "DlibResnetConfig",
    "Embedder",
    "EmbedderBase",
    "EmbedderConfig",
    "HogConfig",
    "InceptionResnetV1Config",
    "LandmarksEmbedConfig",
    "TorchScriptConfig",
    "VggFaceConfig",
    "VggLayer",
    "augment_frame",
    "augment_frames",
    "augment_landmarks",
    "augment_rng",
    "embed_frames",
    "make_embedder",
]
