"""Embedder ``dlib_resnet``: dlib's 128-d ResNet face descriptor
(``dlib_face_recognition_resnet_model_v1.dat``); dlib and OpenCV are imported when used.

The crop is already aligned, so it becomes the 150 x 150 chip dlib expects and is passed to
``face_recognition_model_v1.compute_face_descriptor(list_of_chips)`` (dlib's batched overload).
``chip: resize`` resizes the whole crop; ``chip: eyes`` warps it (rotation + scale + shift) so the
eye centroids (points 37-42 and 43-48, 1-based) land where ``dlib.get_face_chip(size=150,
padding=0.25)`` puts them: 0.37 x 150 px apart, at height 0.315 x 150 (measured on the sample clip).
Descriptors of the same person are typically < 0.6 apart (Euclidean), per dlib's documentation;
their length is about 1.5, not 1.
"""

from __future__ import annotations

from enum import Enum
from pathlib import Path
from typing import Any, Literal

import numpy as np
from pydantic import Field

from emoprep.errors import MissingDependencyError, ModelFileError
from emoprep.io.atomic import sha256_file
from emoprep.stages.embed.base import check_crops
from emoprep.stages.embed.config import CV_LIBRARIES, EmbedderBase
from emoprep.stages.embed.contract import RebuildOnUnpickle

#: dlib's ResNet face descriptor file in face-recognition-models
DLIB_RESNET_FILE = "dlib_face_recognition_resnet_model_v1.dat"
CHIP_SIZE = 150
DIM = 128
CHIP_EYE_DISTANCE = 0.37  # fraction of the chip side, dlib get_face_chip(padding=0.25)
CHIP_EYE_Y = 0.315  # fraction of the chip side


class DlibChip(str, Enum):
    """How an aligned crop becomes dlib's 150 x 150 chip."""

    RESIZE = "resize"  #: resize the whole crop (its alignment is kept as it is)
    #: warp so the eye centroids land where dlib's get_face_chip puts them (needs landmarks)
    EYES = "eyes"


class DlibResnetConfig(EmbedderBase):
    """dlib's 128-d ResNet face descriptor on the aligned crop resized to a 150 x 150 chip."""

    libraries = {**CV_LIBRARIES, "dlib": "dlib-bin"}
    path_keys = ("model",)

    type: Literal["dlib_resnet"] = "dlib_resnet"
    model: Path | None = Field(
        None,
        description="dlib_face_recognition_resnet_model_v1.dat; None: from face-recognition-models",
    )
    chip: DlibChip = DlibChip.RESIZE
    jitters: int = Field(
        0, ge=0, description="dlib num_jitters (random, > 1 makes features non-deterministic)"
    )
    batch_size: int = Field(32, ge=1, description="chips per dlib call (runtime only)")

    @property
    def needs_landmarks(self) -> bool:
        return self.chip is DlibChip.EYES

    def model_files(self) -> list[Path]:
        """The configured .dat file, or the one in face-recognition-models."""
        from emoprep.stages.landmarks.dlib68 import find_model_file

        if self.model is not None:
            return [Path(self.model)]
        try:
            return [find_model_file(DLIB_RESNET_FILE)]
        except ModelFileError as exc:
            raise ModelFileError(f"embedder dlib_resnet: {exc} (for the embedder: "
                                 "stages.embed.<name>.model)") from exc

    def make(self) -> DlibResnetEmbedder:
        return DlibResnetEmbedder(self)


def load_dlib_model(path: Path) -> Any:
    """``dlib.face_recognition_model_v1`` from a .dat file, with ModelFileError when it is bad."""
    try:
        import dlib
    except ImportError as exc:
        raise MissingDependencyError(
            "embedder dlib_resnet: dlib is not installed; pip install dlib-bin"
        ) from exc
    if not path.is_file():
        raise ModelFileError(
            f"embedder dlib_resnet: model file {path} not found; expected {DLIB_RESNET_FILE} "
            "(from face-recognition-models); fix stages.embed.<name>.model or remove it to use "
            "the default"
        )
    try:
        return dlib.face_recognition_model_v1(str(path))
    except RuntimeError as exc:
        raise ModelFileError(
            f"embedder dlib_resnet: {path} is not a dlib ResNet model ({exc}); expected "
            f"{DLIB_RESNET_FILE}"
        ) from exc


def to_chip(crop: np.ndarray) -> np.ndarray:
    """(S, S, 3) uint8 RGB -> (150, 150, 3) uint8 RGB, C-contiguous (area when shrinking)."""
    import cv2

    if crop.shape[0] == CHIP_SIZE:
        return np.ascontiguousarray(crop)
    interp = cv2.INTER_AREA if crop.shape[0] > CHIP_SIZE else cv2.INTER_LINEAR
    return cv2.resize(crop, (CHIP_SIZE, CHIP_SIZE), interpolation=interp)


def eye_chip(crop: np.ndarray, points: np.ndarray) -> np.ndarray:
    """(S, S, 3) uint8 + (68, 2) crop pixels -> (150, 150, 3) uint8 with dlib's eye geometry.

    Zero border where the chip reaches outside the crop (as dlib's own chips outside the image).
    """
    import cv2

    left = points[36:42].mean(axis=0).astype(np.float64)
    right = points[42:48].mean(axis=0).astype(np.float64)
    dx, dy = right - left
    dist = float(np.hypot(dx, dy))
    if not np.isfinite(dist) or dist < 1e-3:
        raise ValueError(f"dlib_resnet chip eyes: eye centroids {left} and {right} are not usable")
    centre = (left + right) / 2.0
    m = cv2.getRotationMatrix2D(
        (float(centre[0]), float(centre[1])),
        float(np.degrees(np.arctan2(dy, dx))),
        CHIP_EYE_DISTANCE * CHIP_SIZE / dist,
    )
    m[:, 2] += np.array([CHIP_SIZE / 2.0, CHIP_EYE_Y * CHIP_SIZE]) - centre
    return cv2.warpAffine(crop, m, (CHIP_SIZE, CHIP_SIZE), flags=cv2.INTER_LINEAR,
                          borderMode=cv2.BORDER_CONSTANT, borderValue=0)


class DlibResnetEmbedder(RebuildOnUnpickle):
    """(B, S, S, 3) uint8 RGB -> (B, 128) float32 dlib face descriptors."""

    dim = DIM

    def __init__(self, cfg: DlibResnetConfig) -> None:
        self.cfg = cfg
        self.path = cfg.model_files()[0]
        self._model = load_dlib_model(self.path)
        self._sha = sha256_file(self.path)

    def embed(self, crops: np.ndarray, landmarks: np.ndarray | None = None) -> np.ndarray:
        crops = check_crops(crops, "dlib_resnet")
        eyes = self.cfg.chip is DlibChip.EYES
        if eyes and (landmarks is None or np.shape(landmarks) != (len(crops), 68, 2)):
            raise ValueError(f"dlib_resnet chip eyes: landmarks must be {(len(crops), 68, 2)}, got "
                             f"{None if landmarks is None else np.shape(landmarks)}")
        out = np.empty((len(crops), DIM), dtype=np.float32)
        bs = self.cfg.batch_size
        for start in range(0, len(crops), bs):
            part = crops[start : start + bs]
            if eyes:
                chips = [
                    eye_chip(c, p) for c, p in zip(part, landmarks[start : start + bs], strict=True)
                ]
            else:
                chips = [to_chip(c) for c in part]
            vecs = self._model.compute_face_descriptor(chips, num_jitters=self.cfg.jitters)
            out[start : start + len(chips)] = np.asarray(
                [np.asarray(v) for v in vecs], dtype=np.float32
            )
        return out

    def attrs(self) -> dict[str, str | int | float]:
        return {
            "name": "dlib_resnet",
            "version": self.cfg.version,
            "dim": DIM,
            "input_size": CHIP_SIZE,
            "normalisation": f"rgb uint8 chip 150x150 ({self.cfg.chip.value}), dlib-internal "
                             "scaling",
            "weights_sha256": self._sha,
            "model_file": self.path.name,
            "jitters": self.cfg.jitters,
            "chip": self.cfg.chip.value,
        }
