"""What every embedder config shares (:class:`EmbedderBase`, :class:`TorchEmbedderBase`) and the
augmentation config. Each embedder's own config class lives in its module beside its code
(:mod:`.hog`, :mod:`.irv1`, ...); the registry and the union on ``type`` are in the package's
``__init__``.

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
from typing import TYPE_CHECKING, Any, ClassVar

from pydantic import BaseModel, ConfigDict, Field, field_validator

from emoprep.stages.backends import BackendConfig
from emoprep.stages.embed.augment import Augmentation
from emoprep.types import Device

if TYPE_CHECKING:
    from emoprep.stages.embed.contract import Embedder

#: config fields that do not change the features; excluded from fingerprints
RUNTIME_FIELDS: frozenset[str] = frozenset({"batch_size", "device", "threads"})


class ChannelOrder(str, Enum):
    """Channel order of the tensor fed to a network (crops arrive RGB)."""

    RGB = "rgb"
    BGR = "bgr"


class _Base(BaseModel):
    model_config = ConfigDict(extra="forbid")


class EmbedderBase(BackendConfig):
    """What every embedder config carries besides its keys: the facts the pipeline needs.

    ``version`` is the explicit code version of the features (bump when they change);
    ``libraries`` maps a fingerprint name to the distribution whose version goes in it;
    ``path_keys`` are the fields that name model files (their sha256 goes in the fingerprint).
    Each subclass implements :meth:`make` in its own module, importing heavy libraries there.
    """

    _tag_key = "type"
    version: ClassVar[int] = 1
    libraries: ClassVar[dict[str, str]] = {"numpy": "numpy"}

    @property
    def needs_landmarks(self) -> bool:
        """True when the embedder needs the (B, 68, 2) aligned landmarks with the crops."""
        return False

    def make(self) -> Embedder:
        """Build the embedder (loads weights; raises ModelFileError when they are bad)."""
        raise NotImplementedError

    def model_files(self) -> list[Path]:
        """Model files the features depend on (their hashes go into fingerprints)."""
        return [Path(p) for p in (getattr(self, k) for k in self.path_keys) if p is not None]

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


#: libraries of the embedders working on OpenCV images, and of the torch ones
CV_LIBRARIES = {"numpy": "numpy", "opencv": "opencv-contrib-python-headless"}
TORCH_LIBRARIES = {**CV_LIBRARIES, "torch": "torch"}


class TorchEmbedderBase(EmbedderBase):
    """Keys every torch embedder has (all runtime only); :meth:`set_threads` is the first thing
    its ``make`` does."""

    libraries = TORCH_LIBRARIES

    batch_size: int = Field(32, ge=1, description="crops per forward pass (runtime only)")
    device: Device = Device.AUTO
    threads: int | None = Field(
        None, ge=1, description="torch.set_num_threads (process-wide); None: torch default"
    )

    def set_threads(self) -> None:
        """torch's thread count (process-wide) when ``threads`` is set."""
        if self.threads is not None:
            import torch

            torch.set_num_threads(self.threads)


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
