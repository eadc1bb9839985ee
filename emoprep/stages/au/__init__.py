"""Per-frame Action Unit intensities for the tracked face: the ``au.source`` family.

One module per source, each holding its config class and its ``compute``: ``landmarks``
(default, :mod:`.landmarks`), ``openface_csv`` (:mod:`.openface`), ``pyfeat`` (:mod:`.pyfeat`),
``expression`` (:mod:`.expression`). :data:`SOURCES` is the family's registry and
:data:`AUConfig` the union on ``source`` built from it. Each source returns a (T, K) float32 array
over the T tracked frames of a :class:`~emoprep.types.Geometry`, NaN where there is no value (no
face, a failed OpenFace row, a frame the CSV does not cover). AU names are zero-padded ("AU01").
Algorithm 1 trimming is in :mod:`.trim`. Formulas: docs/AU.md.
"""

from __future__ import annotations

from pathlib import Path

from emoprep.stages.au.base import AUResult, AUSourceConfig, Crops, canonical_au_name, check_shape
from emoprep.stages.au.expression import ExpressionAUConfig
from emoprep.stages.au.landmarks import LandmarksAUConfig
from emoprep.stages.au.openface import OpenFaceAUConfig, openface_csv_path
from emoprep.stages.au.pyfeat import PyFeatAUConfig, PyFeatAUModel
from emoprep.stages.backends import family, tag_enum
from emoprep.types import Geometry, VideoEntry

#: every AU source's config class; the first is the default
SOURCES: tuple[type[AUSourceConfig], ...] = (
    LandmarksAUConfig, OpenFaceAUConfig, PyFeatAUConfig, ExpressionAUConfig)

AUSource = tag_enum("AUSource", SOURCES, "Names of the AU sources (``au.source``).")

#: the family as a pydantic type: ``source`` (default ``landmarks``) picks the class
AUConfig = family("source", "landmarks", *SOURCES)


def compute_au(
    geometry: Geometry,
    entry: VideoEntry,
    cfg: AUSourceConfig,
    root: Path,
    crops: Crops | None = None,
) -> AUResult:
    """AU intensities (T, K) for the T tracked frames of ``geometry``, from ``cfg.source``.

    crops: callable returning an iterator of the aligned RGB crops (S, S, 3) uint8, one per
    geometry frame; only the sources with ``uses_crops`` call it.
    """
    values, names = cfg.compute(geometry, entry, root, crops)
    check_shape(values, names, len(geometry), entry.video_id, cfg.tag_value())
    return AUResult(values=values, names=names, source=cfg.tag_value())


def source_files(entry: VideoEntry, cfg: AUSourceConfig, root: Path) -> list[Path]:
    """Input files besides the video whose content goes in the AU fingerprint (the OpenFace CSV)."""
    return cfg.source_files(entry, root)


__all__ = [
    "SOURCES", "AUConfig", "AUResult", "AUSource", "AUSourceConfig", "ExpressionAUConfig",
    "LandmarksAUConfig", "OpenFaceAUConfig", "PyFeatAUConfig", "PyFeatAUModel",
    "canonical_au_name", "compute_au", "openface_csv_path", "source_files",
]
