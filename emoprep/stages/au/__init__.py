"""Per-frame Action Unit intensities for the tracked face, from one of several sources.

``compute_au`` dispatches on :class:`AUSource`; each source returns a (T, K) float32 array over
the T tracked frames of a :class:`~emoprep.types.Geometry`, NaN where there is no value (no face,
a failed OpenFace row, a frame the CSV does not cover). AU names are zero-padded ("AU01").
Formulas and sources: docs/AU.md.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from enum import Enum
from pathlib import Path

import numpy as np
from pydantic import BaseModel, ConfigDict, Field

from emoprep.errors import ConfigError, StageError
from emoprep.types import Geometry, VideoEntry


class AUSource(str, Enum):
    LANDMARKS = "landmarks"  #: geometric AU-intensity proxies from the 68 landmarks (offline, default)
    OPENFACE_CSV = "openface_csv"  #: OpenFace 2 FeatureExtraction CSV (AUxx_r columns)
    PYFEAT = "pyfeat"  #: py-feat Detector on the aligned crops (optional extra)


class PyFeatAUModel(str, Enum):
    XGB = "xgb"  #: py-feat's XGBoost AU model on HOG features (py-feat default)
    SVM = "svm"  #: py-feat's linear SVM AU model on HOG features


class AUConfig(BaseModel):
    model_config = ConfigDict(extra="forbid")

    source: AUSource = AUSource.LANDMARKS
    openface_csv: str = Field(
        "{stem}.csv",
        description="path template of the OpenFace CSV per video; fields {video_id} {stem} {subject} "
        "{dir}; relative paths are resolved against the manifest's videos.root",
    )
    min_confidence: float = Field(0.0, ge=0.0, le=1.0, description="OpenFace rows below this are NaN")
    neutral_fraction: float = Field(
        0.1, gt=0.0, le=1.0, description="landmarks source: fraction of most neutral frames used as the baseline"
    )
    openface_frame_base: int = Field(
        1, ge=0, description="number OpenFace gives the first source frame (1: FeatureExtraction's 'frame')"
    )
    pyfeat_au_model: PyFeatAUModel = Field(PyFeatAUModel.XGB, description="pyfeat source: py-feat au_model")


@dataclass
class AUResult:
    """AU intensities of one video.

    values: (T, K) float32, NaN where unavailable (no face). Units depend on ``source``:
            OpenFace 0-5 intensities, py-feat 0-1 probabilities, landmark proxies in
            inter-ocular distances above the video's neutral baseline (all >= 0).
    names:  K AU names, zero-padded ("AU01", "AU02", ...).
    source: the :class:`AUSource` value that produced them.
    """

    values: np.ndarray
    names: list[str]
    source: str


_AU_NAME = re.compile(r"^\s*AU\s*0*(\d+)(?:_[rc])?\s*$", re.IGNORECASE)


def canonical_au_name(name: str) -> str:
    """"AU1", "AU01_r", " AU01_r", "au1" -> "AU01"; raise ValueError for a non-AU name."""
    m = _AU_NAME.match(str(name))
    if not m:
        raise ValueError(f"not an Action Unit name: {name!r} (expected e.g. AU01, AU1 or AU01_r)")
    return f"AU{int(m.group(1)):02d}"


def _template_fields(entry: VideoEntry, root: Path) -> dict[str, str]:
    path = Path(entry.path)
    parent = path.parent
    try:
        rel = parent.resolve().relative_to(Path(root).resolve())
        folder = rel.as_posix() or "."
    except ValueError:
        folder = str(parent)
    return {"video_id": entry.video_id, "stem": path.stem, "subject": entry.subject, "dir": folder}


def openface_csv_path(entry: VideoEntry, cfg: AUConfig, root: Path) -> Path:
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


def source_files(entry: VideoEntry, cfg: AUConfig, root: Path) -> list[Path]:
    """Input files besides the video whose content goes in the AU fingerprint (the OpenFace CSV)."""
    if cfg.source is AUSource.OPENFACE_CSV:
        return [openface_csv_path(entry, cfg, root)]
    return []


def compute_au(
    geometry: Geometry,
    entry: VideoEntry,
    cfg: AUConfig,
    root: Path,
    crops: Callable[[], Iterator[np.ndarray]] | None = None,
) -> AUResult:
    """AU intensities (T, K) for the T tracked frames of ``geometry``, from ``cfg.source``.

    crops: callable returning an iterator of the aligned RGB crops (S, S, 3) uint8, one per
    geometry frame; only the ``pyfeat`` source calls it.
    """
    source = AUSource(cfg.source)
    if source is AUSource.LANDMARKS:
        from emoprep.stages.au.landmarks import landmark_aus

        values, names = landmark_aus(geometry.landmarks, geometry.status, cfg.neutral_fraction)
    elif source is AUSource.OPENFACE_CSV:
        from emoprep.stages.au.openface import openface_aus

        path = openface_csv_path(entry, cfg, root)
        values, names = openface_aus(path, geometry.frame_index, cfg, video=entry.video_id)
    else:
        from emoprep.stages.au.pyfeat import load_detector, pyfeat_aus

        if crops is None:
            raise StageError(
                f"video {entry.video_id}: au.source 'pyfeat' needs the aligned crops, got none; "
                "fix: run the align stage before au, or use au.source: landmarks"
            )
        detector = load_detector(cfg.pyfeat_au_model.value)
        values, names = pyfeat_aus(crops(), len(geometry), detector, video=entry.video_id)
    _check_shape(values, names, len(geometry), entry.video_id, source)
    return AUResult(values=values, names=names, source=source.value)


def _check_shape(values: np.ndarray, names: list[str], t: int, video: str, source: AUSource) -> None:
    if values.shape != (t, len(names)) or values.dtype != np.float32:
        raise StageError(
            f"video {video}: AU source {source.value} returned {values.shape} {values.dtype}, "
            f"expected ({t}, {len(names)}) float32; this is a bug in emoprep"
        )
