"""Embedder ``landmarks``: geometry features, aligned 68-point coordinates / S and pairwise
distances / S.

Coordinates are in crop pixels of the aligned S x S crop (eyes already level and at a fixed
distance), so dividing by S makes them independent of the crop size.
"""

from __future__ import annotations

from typing import Literal

import numpy as np
from pydantic import Field, model_validator

from emoprep.stages.embed.base import check_crops
from emoprep.stages.embed.config import EmbedderBase
from emoprep.stages.embed.contract import RebuildOnUnpickle

#: 0-based indices of the 20 points whose pairwise distances are used (1-based in comments):
#: brows 18, 20, 22, 23, 25, 27; eye corners 37, 40, 43, 46; eyelids 38, 42, 45, 47;
#: nose tip 31; mouth corners 49, 55; lip midpoints 52, 58; chin 9.
SUBSET20: tuple[int, ...] = (
    17,
    19,
    21,
    22,
    24,
    26,
    36,
    39,
    42,
    45,
    37,
    41,
    44,
    46,
    30,
    48,
    54,
    51,
    57,
    8,
)
_PAIRS = np.triu_indices(len(SUBSET20), k=1)  # 190 pairs, row-major (i < j)


class LandmarksEmbedConfig(EmbedderBase):
    """Normalised 68-point geometry: aligned landmark coordinates / S, optional pairwise
    distances."""

    type: Literal["landmarks"] = "landmarks"
    coords: bool = Field(True, description="include the 136 coordinates x/S, y/S")
    distances: bool = Field(
        False, description="include the 190 distances / S between the 20 SUBSET20 points"
    )

    @model_validator(mode="after")
    def _something(self) -> LandmarksEmbedConfig:
        if not (self.coords or self.distances):
            raise ValueError("landmarks: coords and distances are both false; enable at least one")
        return self

    @property
    def needs_landmarks(self) -> bool:
        return True

    def make(self) -> LandmarkEmbedder:
        return LandmarkEmbedder(self)


def landmarks_dim(cfg: LandmarksEmbedConfig) -> int:
    """136 if coords, + 190 if distances."""
    return 136 * int(cfg.coords) + len(_PAIRS[0]) * int(cfg.distances)


def geometry_features(points: np.ndarray, size: int, cfg: LandmarksEmbedConfig) -> np.ndarray:
    """(B, 68, 2) crop pixels -> (B, D) float32: [x0/S, y0/S, x1/S, ...] then distances/S.

    Distances are between SUBSET20[i] and SUBSET20[j] for i < j in row-major order.
    """
    pts = np.asarray(points, dtype=np.float64) / float(size)
    parts = []
    if cfg.coords:
        parts.append(pts.reshape(len(pts), 136))
    if cfg.distances:
        sub = pts[:, SUBSET20, :]
        diff = sub[:, _PAIRS[0], :] - sub[:, _PAIRS[1], :]
        parts.append(np.sqrt((diff**2).sum(axis=-1)))
    return np.concatenate(parts, axis=1).astype(np.float32)


class LandmarkEmbedder(RebuildOnUnpickle):
    """Geometry of the aligned landmarks; the crops only give S."""

    def __init__(self, cfg: LandmarksEmbedConfig) -> None:
        self.cfg = cfg
        self.dim = landmarks_dim(cfg)

    def embed(self, crops: np.ndarray, landmarks: np.ndarray | None) -> np.ndarray:
        crops = check_crops(crops, "landmarks embedder")
        if landmarks is None:
            raise ValueError("landmarks embedder: landmarks are required (B, 68, 2), got None")
        lms = np.asarray(landmarks)
        if lms.shape != (len(crops), 68, 2):
            raise ValueError(
                f"landmarks embedder: landmarks must be {(len(crops), 68, 2)}, got {lms.shape}"
            )
        return geometry_features(lms, crops.shape[1], self.cfg)

    def attrs(self) -> dict[str, str | int | float]:
        return {
            "name": "landmarks",
            "version": self.cfg.version,
            "dim": self.dim,
            "input_size": 0,
            "normalisation": "aligned crop pixels / S",
            "weights_sha256": "",
            "coords": int(self.cfg.coords),
            "distances": int(self.cfg.distances),
        }
