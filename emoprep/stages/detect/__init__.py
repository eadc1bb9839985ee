"""Face detection, one module per backend: ``haar`` (default), ``none`` (whole frame).

``DetectConfig`` is the discriminated union of the backends' config classes on ``backend``;
adding a backend is its module (a :class:`DetectorConfig` subclass with ``make``) and one entry
in :data:`BACKENDS`.
"""

from __future__ import annotations

from enum import Enum
from pathlib import Path

from emoprep.stages.backends import family
from emoprep.stages.detect.base import (
    DetectorConfig,
    FaceDetector,
    SelectPolicy,
    box_iou,
    pad_box,
    select_face,
    to_grey,
)
from emoprep.stages.detect.haar import HaarConfig, HaarDetector, cascade_path
from emoprep.stages.detect.none import NoDetectConfig, WholeFrameDetector

#: every detector backend's config class; the first is the default
BACKENDS: tuple[type[DetectorConfig], ...] = (HaarConfig, NoDetectConfig)

DetectBackend = Enum("DetectBackend", {c.tag_value().upper(): c.tag_value() for c in BACKENDS}, type=str)
DetectBackend.__doc__ = "Names of the detector backends (``detect.backend``)."

DetectConfig = family("backend", "haar", *BACKENDS)


def make_detector(cfg: DetectorConfig) -> FaceDetector:
    """The detector of ``cfg`` (raises :class:`~emoprep.errors.ModelFileError` for a bad model file)."""
    return cfg.make()


def model_files(cfg: DetectorConfig) -> list[Path]:
    """Model files whose content the detector depends on (hashed into the track fingerprint)."""
    return cfg.model_files()


__all__ = [
    "BACKENDS", "DetectBackend", "DetectConfig", "DetectorConfig", "FaceDetector", "HaarConfig",
    "HaarDetector", "NoDetectConfig", "SelectPolicy", "WholeFrameDetector", "box_iou", "cascade_path",
    "make_detector", "model_files", "pad_box", "select_face", "to_grey",
]
