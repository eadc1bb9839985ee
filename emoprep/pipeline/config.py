"""The ``stages:`` section of the manifest: one config model per stage, defaults filled in."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field

from emoprep.io.hdf5 import StoreConfig
from emoprep.stages.align import AlignConfig
from emoprep.stages.au import AUConfig, LandmarksAUConfig
from emoprep.stages.au.trim import TrimConfig
from emoprep.stages.detect import DetectConfig, HaarConfig
from emoprep.stages.embed.config import AugmentConfig, EmbedderConfig
from emoprep.stages.landmarks import LandmarksConfig
from emoprep.stages.probe import ProbeConfig
from emoprep.stages.track import TrackConfig
from emoprep.stages.window import WindowConfig


class SplitConfig(BaseModel):
    """Subject-independent splits: held-out test subjects plus k folds of the rest."""

    model_config = ConfigDict(extra="forbid")

    name: str = "default"
    test_fraction: float = Field(0.2, ge=0.0, lt=1.0, description="fraction of subjects held out for test")
    folds: int = Field(5, ge=2)
    stratify: str | None = Field(None, description="label key to stratify subjects by (majority label)")
    seed: int = 0


class StagesConfig(BaseModel):
    model_config = ConfigDict(extra="forbid")

    probe: ProbeConfig = Field(default_factory=ProbeConfig)
    window: WindowConfig = Field(default_factory=WindowConfig)
    detect: DetectConfig = Field(default_factory=HaarConfig)
    track: TrackConfig = Field(default_factory=TrackConfig)
    landmarks: LandmarksConfig = Field(default_factory=LandmarksConfig)
    au: AUConfig = Field(default_factory=LandmarksAUConfig)
    trim: TrimConfig = Field(default_factory=TrimConfig)
    align: AlignConfig = Field(default_factory=AlignConfig)
    store: StoreConfig = Field(default_factory=StoreConfig)
    embed: dict[str, EmbedderConfig] = Field(default_factory=dict)
    augment: AugmentConfig = Field(default_factory=AugmentConfig)
    split: SplitConfig = Field(default_factory=SplitConfig)
