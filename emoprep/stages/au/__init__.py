"""Per-frame Action Unit intensities for the tracked face, one module per source.

``compute_au`` asks the source config (``cfg.compute``); each source returns a (T, K) float32
array over the T tracked frames of a :class:`~emoprep.types.Geometry`, NaN where there is no value
(no face, a failed OpenFace row, a frame the CSV does not cover). AU names are zero-padded
("AU01"). Sources: ``landmarks`` (:mod:`.landmarks`), ``openface_csv`` (:mod:`.openface`),
``pyfeat`` (:mod:`.pyfeat`); Algorithm 1 trimming in :mod:`.trim`. Formulas: docs/AU.md.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path

import numpy as np

from emoprep.stages.au.base import AUResult, canonical_au_name, check_shape
from emoprep.stages.au.config import (
    SOURCES,
    AUConfig,
    AUSource,
    AUSourceConfig,
    ExpressionAUConfig,
    LandmarksAUConfig,
    OpenFaceAUConfig,
    PyFeatAUConfig,
    PyFeatAUModel,
    openface_csv_path,
)
from emoprep.types import Geometry, VideoEntry


def compute_au(
    geometry: Geometry,
    entry: VideoEntry,
    cfg: AUSourceConfig,
    root: Path,
    crops: Callable[[], Iterator[np.ndarray]] | None = None,
) -> AUResult:
    """AU intensities (T, K) for the T tracked frames of ``geometry``, from ``cfg.source``.

    crops: callable returning an iterator of the aligned RGB crops (S, S, 3) uint8, one per
    geometry frame; only the ``pyfeat`` source calls it.
    """
    values, names = cfg.compute(geometry, entry, root, crops)
    check_shape(values, names, len(geometry), entry.video_id, cfg.tag_value())
    return AUResult(values=values, names=names, source=cfg.tag_value())


def source_files(entry: VideoEntry, cfg: AUSourceConfig, root: Path) -> list[Path]:
    """Input files besides the video whose content goes in the AU fingerprint (the OpenFace CSV)."""
    return cfg.source_files(entry, root)


__all__ = [
    "SOURCES", "AUConfig", "AUResult", "AUSource", "AUSourceConfig", "ExpressionAUConfig",
    "LandmarksAUConfig",
    "OpenFaceAUConfig", "PyFeatAUConfig", "PyFeatAUModel", "canonical_au_name", "compute_au",
    "openface_csv_path", "source_files",
]
