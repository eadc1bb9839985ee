"""Per-frame feature extractors ("embedders") over aligned crops, and offline augmentations.

One module per embedder, each holding its config class and its code (``hog``, ``landmarks``
(:mod:`.geometry`), ``dlib_resnet``, ``inception_resnet_v1`` (:mod:`.irv1`), ``vggface``,
``torchscript``, ``fer_xception``, ``densenet121`` (:mod:`.densenet`)); torch network
definitions sit beside them in ``*_nets.py``, imported when an embedder is built.
:data:`EMBEDDERS` is the family's registry and :data:`EmbedderConfig` the union on ``type``
built from it. The config class carries its facts (``version``, ``libraries``, ``path_keys``,
``model_files()``, ``needs_landmarks``, ``make()``). The pipeline calls ``cfg.make()`` and
:func:`embed_frames`. See docs/EMBEDDERS.md.
"""

from __future__ import annotations

from emoprep.stages.backends import family
from emoprep.stages.embed.augment import (
    Augmentation,
    augment_frame,
    augment_frames,
    augment_landmarks,
    augment_rng,
)
from emoprep.stages.embed.base import embed_frames, make_embedder
from emoprep.stages.embed.config import (
    RUNTIME_FIELDS,
    AugmentConfig,
    ChannelOrder,
    EmbedderBase,
    TorchEmbedderBase,
)
from emoprep.stages.embed.contract import Embedder
from emoprep.stages.embed.densenet import DenseNet121Config
from emoprep.stages.embed.dlib_resnet import DlibChip, DlibResnetConfig
from emoprep.stages.embed.fer_xception import FerXceptionConfig
from emoprep.stages.embed.geometry import LandmarksEmbedConfig
from emoprep.stages.embed.hog import HogConfig
from emoprep.stages.embed.irv1 import InceptionResnetV1Config
from emoprep.stages.embed.torchscript import TorchScriptConfig
from emoprep.stages.embed.vggface import VggFaceConfig, VggLayer
from emoprep.types import Device

#: every embedder's config class (adding an embedder: its module and one entry here)
EMBEDDERS: tuple[type[EmbedderBase], ...] = (
    HogConfig, LandmarksEmbedConfig, DlibResnetConfig, InceptionResnetV1Config, VggFaceConfig,
    TorchScriptConfig, FerXceptionConfig, DenseNet121Config,
)

#: the family as a pydantic type: ``type`` (required) picks the class
EmbedderConfig = family("type", None, *EMBEDDERS)

__all__ = [
    "EMBEDDERS",
    "RUNTIME_FIELDS",
    "AugmentConfig",
    "Augmentation",
    "ChannelOrder",
    "DenseNet121Config",
    "Device",
    "DlibChip",
    "DlibResnetConfig",
    "Embedder",
    "EmbedderBase",
    "EmbedderConfig",
    "FerXceptionConfig",
    "HogConfig",
    "InceptionResnetV1Config",
    "LandmarksEmbedConfig",
    "TorchEmbedderBase",
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
