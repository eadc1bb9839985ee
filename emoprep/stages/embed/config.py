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

from enum import Enum
from pathlib import Path
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from emoprep.stages.embed.augment import Augmentation

#: config fields that do not change the features; excluded from fingerprints
RUNTIME_FIELDS: frozenset[str] = frozenset({"batch_size", "device", "threads"})

#: VGG-Face mean pixel (RGB, 0-255) of the Oxford VGG-Face release (vgg_face_dag)
VGGFACE_MEAN_RGB: tuple[float, float, float] = (129.186279296875, 104.76238250732422, 93.59396362304688)


class Device(str, Enum):
    """Where a torch embedder runs."""

    AUTO = "auto"  #: CUDA when ``torch.cuda.is_available()``, else CPU
    CPU = "cpu"
    CUDA = "cuda"  #: fails with a clear error when no CUDA device is present


class ChannelOrder(str, Enum):
    """Channel order of the tensor fed to a network (crops arrive RGB)."""

    RGB = "rgb"
    BGR = "bgr"


class DlibChip(str, Enum):
    """How an aligned crop becomes dlib's 150 x 150 chip."""

    RESIZE = "resize"  #: resize the whole crop (its alignment is kept as it is)
    EYES = "eyes"  #: warp so the eye centroids land where dlib's get_face_chip puts them (needs landmarks)


class VggLayer(str, Enum):
    """Which VGG-Face activation is the feature vector."""

    POOL5 = "pool5"  #: conv trunk after pool5, flattened (C, H, W) order: 512 * 7 * 7 = 25088
    FC6 = "fc6"  #: relu(fc6), 4096
    FC7 = "fc7"  #: relu(fc7), 4096
    DENSE1024 = "dense1024"  #: relu(dense(relu(fc7))), 1024; ``dense.*`` from a fine-tuned checkpoint


class _Base(BaseModel):
    model_config = ConfigDict(extra="forbid")


class _TorchBase(_Base):
    batch_size: int = Field(32, ge=1, description="crops per forward pass (runtime only)")
    device: Device = Device.AUTO
    threads: int | None = Field(
        None, ge=1, description="torch.set_num_threads (process-wide); None: torch default"
    )


class HogConfig(_Base):
    """Histogram of oriented gradients of the grey aligned face (cv2.HOGDescriptor)."""

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
            raise ValueError(f"hog: block of {self.block}x{self.cell} px does not fit in size {self.size}")
        return self


class LandmarksEmbedConfig(_Base):
    """Normalised 68-point geometry: aligned landmark coordinates / S, optional pairwise distances."""

    type: Literal["landmarks"] = "landmarks"
    coords: bool = Field(True, description="include the 136 coordinates x/S, y/S")
    distances: bool = Field(False, description="include the 190 distances / S between the 20 SUBSET20 points")

    @model_validator(mode="after")
    def _something(self) -> LandmarksEmbedConfig:
        if not (self.coords or self.distances):
            raise ValueError("landmarks: coords and distances are both false; enable at least one")
        return self


class DlibResnetConfig(_Base):
    """dlib's 128-d ResNet face descriptor on the aligned crop resized to a 150 x 150 chip."""

    type: Literal["dlib_resnet"] = "dlib_resnet"
    model: Path | None = Field(
        None, description="dlib_face_recognition_resnet_model_v1.dat; None: from face-recognition-models"
    )
    chip: DlibChip = DlibChip.RESIZE
    jitters: int = Field(0, ge=0, description="dlib num_jitters (random, > 1 makes features non-deterministic)")
    batch_size: int = Field(32, ge=1, description="chips per dlib call (runtime only)")


class InceptionResnetV1Config(_TorchBase):
    """FaceNet InceptionResnetV1 (512-d), facenet-pytorch state-dict layout (e.g. the VGGFace2 one)."""

    type: Literal["inception_resnet_v1"] = "inception_resnet_v1"
    weights: Path = Field(description="state dict .pt, e.g. 20180402-114759-vggface2.pt")
    input_size: int = Field(160, ge=75, description="crops resized to this side; 160 is what it was trained on")
    l2_normalize: bool = Field(True, description="unit-length output, as facenet-pytorch does")


class VggFaceConfig(_TorchBase):
    """VGG-16 face network (Oxford VGG-Face layout, vgg_face_dag key names) with a chosen output layer."""

    type: Literal["vggface"] = "vggface"
    weights: Path = Field(description="state dict with conv1_1.* .. fc7.* (fc8.* ignored)")
    head_weights: Path | None = Field(None, description="state dict with dense.weight (1024, 4096), dense.bias")
    layer: VggLayer = VggLayer.FC7
    input_size: int = Field(224, ge=32, description="224 is the original; other sizes adaptive-pool to 7x7")
    mean: tuple[float, float, float] = Field(VGGFACE_MEAN_RGB, description="RGB mean, 0-255 scale")
    std: tuple[float, float, float] = Field((1.0, 1.0, 1.0), description="RGB std, 0-255 scale")


class TorchScriptConfig(_TorchBase):
    """Any TorchScript module: (B, 3, H, W) float32 in, (B, ...) out (flattened to (B, D))."""

    type: Literal["torchscript"] = "torchscript"
    model: Path = Field(description="file written by torch.jit.save")
    input_size: int = Field(160, ge=8, description="crops resized to input_size x input_size")
    channel_order: ChannelOrder = ChannelOrder.RGB
    mean: tuple[float, float, float] = Field(
        (0.0, 0.0, 0.0), description="per channel (in channel_order), 0-255 scale"
    )
    std: tuple[float, float, float] = Field((255.0, 255.0, 255.0), description="per channel, 0-255 scale")

    @field_validator("std")
    @classmethod
    def _positive(cls, v: tuple[float, float, float]) -> tuple[float, float, float]:
        if min(v) <= 0:
            raise ValueError(f"std must be > 0 per channel, got {v}")
        return v


EmbedderConfig = Annotated[
    HogConfig
    | LandmarksEmbedConfig
    | DlibResnetConfig
    | InceptionResnetV1Config
    | VggFaceConfig
    | TorchScriptConfig,
    Field(discriminator="type"),
]

TORCH_TYPES: frozenset[str] = frozenset({"inception_resnet_v1", "vggface", "torchscript"})


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
