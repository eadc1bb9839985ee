"""68-point facial landmarks inside a face box: the ``landmarks.backend`` family.

One module per backend, each holding its config class and its landmarker: ``dlib68`` (default,
:mod:`.dlib68`, dlib's shape predictor), ``fan`` (:mod:`.fan`, 2D-FAN as a local TorchScript
file), ``mesh`` (:mod:`.mesh`, Google's 468-point face mesh mapped to the 68 points) and ``none``
(:mod:`.none`, no landmark pass: NaN points, for pre-cropped faces aligned by their box).
:data:`BACKENDS` is the family's registry; :data:`LandmarksConfig` is the discriminated union
built from it (the type of ``stages.landmarks``). Adding a backend: its module (a
:class:`LandmarksBackendConfig` subclass with ``make``) and one entry in :data:`BACKENDS`.
"""

from __future__ import annotations

from pathlib import Path

from emoprep.stages.backends import family, tag_enum
from emoprep.stages.instances import built
from emoprep.stages.landmarks.base import Landmarker, LandmarksBackendConfig
from emoprep.stages.landmarks.dlib68 import Dlib68Config, Dlib68Landmarker, find_model_file
from emoprep.stages.landmarks.fan import FanConfig, FanLandmarker
from emoprep.stages.landmarks.mesh import MeshConfig, MeshLandmarker
from emoprep.stages.landmarks.none import NoLandmarksConfig

#: every landmarks backend's config class; the first is the default
BACKENDS: tuple[type[LandmarksBackendConfig], ...] = (Dlib68Config, FanConfig, MeshConfig,
                                                     NoLandmarksConfig)

LandmarksBackend = tag_enum("LandmarksBackend", BACKENDS,
                            "Names of the landmarks backends (``landmarks.backend``).")

#: the family as a pydantic type: a mapping whose ``backend`` (default ``dlib68``) picks the class
LandmarksConfig = family("backend", "dlib68", *BACKENDS)


def make_landmarker(cfg: LandmarksBackendConfig) -> Landmarker:
    """The landmarker of ``cfg``, called as ``landmarker(frame, box_xywh) -> (68, 2)`` float32;
    built once per process for one config and model file
    (:func:`~emoprep.stages.instances.built`)."""
    return built(cfg)


def model_files(cfg: LandmarksBackendConfig) -> list[Path]:
    """Model files whose content the landmarks depend on (hashed into the track fingerprint)."""
    return cfg.model_files()


__all__ = [
    "BACKENDS",
    "Dlib68Config",
    "Dlib68Landmarker",
    "FanConfig",
    "FanLandmarker",
    "Landmarker",
    "LandmarksBackend",
    "LandmarksBackendConfig",
    "LandmarksConfig",
    "MeshConfig",
    "MeshLandmarker",
    "NoLandmarksConfig",
    "find_model_file",
    "make_landmarker",
    "model_files",
]
