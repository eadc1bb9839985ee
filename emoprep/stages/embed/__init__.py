"""Per-frame feature extractors ("embedders") over aligned crops, and offline augmentations.

The pipeline uses :func:`make_embedder` and :func:`embed_frames`, and for fingerprints
:func:`model_files`, :func:`library_versions`, :func:`stage_version`, :func:`fingerprint_config`.
Torch is imported only when a torch embedder is built. See docs/EMBEDDERS.md.
"""

from emoprep.stages.embed.augment import (
    Augmentation,
    augment_frame,
    augment_frames,
    augment_landmarks,
    augment_rng,
)
from emoprep.stages.embed.base import (
    STAGE_VERSIONS,
    Embedder,
    embed_frames,
    file_sha256,
    fingerprint_config,
    library_versions,
    make_embedder,
    missing_files,
    model_files,
    needs_landmarks,
    stage_version,
)
from emoprep.stages.embed.config import (
    RUNTIME_FIELDS,
    AugmentConfig,
    ChannelOrder,
    Device,
    DlibChip,
    DlibResnetConfig,
    EmbedderConfig,
    HogConfig,
    InceptionResnetV1Config,
    LandmarksEmbedConfig,
    TorchScriptConfig,
    VggFaceConfig,
    VggLayer,
)

__all__ = [
    "RUNTIME_FIELDS",
    "STAGE_VERSIONS",
    "AugmentConfig",
    "Augmentation",
    "ChannelOrder",
    "Device",
    "DlibChip",
    "DlibResnetConfig",
    "Embedder",
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
    "file_sha256",
    "fingerprint_config",
    "library_versions",
    "make_embedder",
    "missing_files",
    "model_files",
    "needs_landmarks",
    "stage_version",
]
