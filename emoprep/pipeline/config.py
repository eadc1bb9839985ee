"""The ``stages:`` section of the manifest: one config model per stage, defaults filled in."""

from __future__ import annotations

from enum import Enum
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, model_validator

from emoprep.io.store_config import StoreConfig
from emoprep.pipeline.quality import QualityConfig
from emoprep.stages.align import AlignConfig, AlignMethod
from emoprep.stages.au import AUConfig, LandmarksAUConfig
from emoprep.stages.au.trim import TrimConfig
from emoprep.stages.detect import DetectConfig, HaarConfig
from emoprep.stages.embed import AugmentConfig, EmbedderConfig
from emoprep.stages.landmarks import Dlib68Config, LandmarksConfig
from emoprep.stages.probe import ProbeConfig
from emoprep.stages.track import TrackConfig, landmarks_problem
from emoprep.stages.window import WindowConfig, WindowMode


class SplitMethod(str, Enum):
    """How the non-test subjects are put into folds."""

    KFOLD = "kfold"  #: ``folds`` folds (StratifiedGroupKFold with ``stratify``, else GroupKFold)
    LOSO = "loso"  #: leave one subject out: one fold per subject


class SplitConfig(BaseModel):
    """Subject-independent splits: held-out test subjects plus folds of the rest (docs/MANIFEST.md).

    The test part is ``test_subjects`` when given, else ``round(test_fraction * subjects)`` drawn
    with ``seed``; the folds are ``fold_subjects`` (named validation subjects per fold) when given,
    else ``method``. ``exclude_subjects`` are in no part.
    """

    model_config = ConfigDict(extra="forbid")

    name: str = Field("default", pattern=r"^[A-Za-z0-9][A-Za-z0-9_.-]*$")
    test_fraction: float = Field(
        0.2, ge=0.0, lt=1.0, description="fraction of subjects held out for test"
    )
    folds: int = Field(5, ge=2)
    stratify: str | None = Field(
        None, description="label key to stratify subjects by (majority label)"
    )
    seed: int = 0
    method: SplitMethod = SplitMethod.KFOLD
    test_subjects: list[str] | None = Field(
        None, description="explicit test subjects (test_fraction unused)"
    )
    fold_subjects: dict[str, list[str]] | None = Field(
        None, description="fold name -> its validation subjects (folds and method unused)")
    exclude_subjects: list[str] = Field(default_factory=list, description="subjects in no part")
    required: bool = Field(True, description="a split that cannot be made from the videos is an "
                           "error before any work; false: it is reported as unavailable")

    def fingerprint_slice(self) -> dict[str, Any]:
        """The keys that decide the split; keys added after 0.1 are left out at their defaults."""
        data = self.model_dump(mode="json", exclude={"required"})
        added: dict[str, Any] = {"method": "kfold", "test_subjects": None, "fold_subjects": None,
                 "exclude_subjects": []}
        return {k: v for k, v in data.items() if not (k in added and v == added[k])}


def landmark_needs(c: StagesConfig) -> list[str]:
    """Under ``landmarks.backend: none`` (no landmark pass): what in ``c`` needs landmarks, each
    a message naming both keys and the fix; empty when nothing does (or landmarks are found)."""
    if c.landmarks.finds_points:
        return []
    none, fix = "stages.landmarks.backend: none (no landmarks)", "or remove stages.landmarks"
    out = []
    if c.align.method is not AlignMethod.BOX:
        out.append(f"stages.align.method: {c.align.method.value} needs the eye landmarks, got "
                   f"{none}; set stages.align.method: box, {fix}")
    out += [f"stages.embed.{name} ({e.tag_value()}) needs landmarks, got {none}; remove the "
            f"embedder or its landmark option, {fix}"
            for name, e in c.embed.items() if e.needs_landmarks]
    if c.au.reads_landmarks and c.window.mode is WindowMode.AU_TRIM:
        out.append(f"stages.window.mode: au_trim needs AU values, and stages.au.source: "
                   f"{c.au.tag_value()} computes them from landmarks, got {none}; set "
                   f"stages.window.mode: all, another stages.au.source, {fix}")
    return out


class StagesConfig(BaseModel):
    model_config = ConfigDict(extra="forbid")

    probe: ProbeConfig = Field(default_factory=ProbeConfig)
    window: WindowConfig = Field(default_factory=WindowConfig)
    detect: DetectConfig = Field(default_factory=HaarConfig)
    track: TrackConfig = Field(default_factory=TrackConfig)
    landmarks: LandmarksConfig = Field(default_factory=Dlib68Config)
    au: AUConfig = Field(default_factory=LandmarksAUConfig)
    trim: TrimConfig = Field(default_factory=TrimConfig)
    align: AlignConfig = Field(default_factory=AlignConfig)
    store: StoreConfig = Field(default_factory=StoreConfig)
    embed: dict[str, EmbedderConfig] = Field(default_factory=dict)
    augment: AugmentConfig = Field(default_factory=AugmentConfig)
    split: SplitConfig = Field(default_factory=SplitConfig)
    quality: QualityConfig = Field(default_factory=QualityConfig)
    splits: dict[str, SplitConfig] = Field(
        default_factory=dict, description="more named splits, written beside stages.split")

    @model_validator(mode="after")
    def _check_tracking(self) -> StagesConfig:
        if problem := landmarks_problem(self.track, self.landmarks):
            raise ValueError(problem)
        if problems := landmark_needs(self):
            raise ValueError("; ".join(problems))
        return self

    def with_model_paths(self, base_dir: Path) -> StagesConfig:
        """A copy whose backend configs (detect with its fallbacks, landmarks, au, every embedder)
        hold absolute model paths: each config's ``path_keys`` resolved against ``base_dir`` (the
        manifest's folder) by :meth:`~emoprep.stages.backends.BackendConfig.resolve_paths`."""
        return self.model_copy(update={
            "detect": self.detect.resolve_paths(base_dir),
            "landmarks": self.landmarks.resolve_paths(base_dir),
            "au": self.au.resolve_paths(base_dir),
            "embed": {name: cfg.resolve_paths(base_dir) for name, cfg in self.embed.items()},
        })
