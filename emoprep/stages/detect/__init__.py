"""Face detection, the ``detect.backend`` family: one module per backend, each holding its config
class and its detector: ``haar`` (default, :mod:`.haar`), ``none`` (whole frame, :mod:`.none`),
``mtcnn`` (:mod:`.mtcnn`, networks in :mod:`.mtcnn_nets`), ``dlib_hog`` and ``dlib_mmod``
(:mod:`.dlib`); ``detect.fallback`` chains them (:mod:`.chain`).

:data:`BACKENDS` is the family's registry; ``DetectConfig`` is the discriminated union on
``backend`` built from it. Adding a backend: its module (a :class:`DetectorConfig` subclass with
``make``) and one entry in :data:`BACKENDS`.
"""

from __future__ import annotations

from pathlib import Path

from emoprep.stages.backends import family, tag_enum
from emoprep.stages.detect.base import (
    DetectorConfig,
    FaceDetector,
    SelectPolicy,
    box_iou,
    pad_box,
    select_face,
    to_grey,
)
from emoprep.stages.detect.chain import Detections, DetectorChain
from emoprep.stages.detect.dlib import DlibHogConfig, DlibMmodConfig
from emoprep.stages.detect.haar import HaarConfig, HaarDetector, cascade_path
from emoprep.stages.detect.mtcnn import MtcnnConfig
from emoprep.stages.detect.none import NoDetectConfig, WholeFrameDetector

#: every detector backend's config class; the first is the default
BACKENDS: tuple[type[DetectorConfig], ...] = (
    HaarConfig, NoDetectConfig, MtcnnConfig, DlibHogConfig, DlibMmodConfig)

DetectBackend = tag_enum("DetectBackend", BACKENDS,
                         "Names of the detector backends (``detect.backend``).")

DetectConfig = family("backend", "haar", *BACKENDS)


def make_detector(cfg: DetectorConfig) -> FaceDetector:
    """The detector of ``cfg`` (raises :class:`~emoprep.errors.ModelFileError` for a bad model
    file)."""
    return cfg.make()


def model_files(cfg: DetectorConfig) -> list[Path]:
    """Model files whose content the detector and its fallbacks depend on (hashed into the track
    fingerprint)."""
    return cfg.chain_model_files()


__all__ = [
    "BACKENDS",
    "DetectBackend",
    "DetectConfig",
    "Detections",
    "DetectorChain",
    "DetectorConfig",
    "DlibHogConfig",
    "DlibMmodConfig",
    "FaceDetector",
    "HaarConfig",
    "MtcnnConfig",
    "HaarDetector",
    "NoDetectConfig",
    "SelectPolicy",
    "WholeFrameDetector",
    "box_iou",
    "cascade_path",
    "make_detector",
    "model_files",
    "pad_box",
    "select_face",
    "to_grey",
]
