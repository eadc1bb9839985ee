"""Embedder ``hog``: HOG features of the grey aligned face (OpenCV ``HOGDescriptor``;
deterministic, CPU only). OpenCV is imported when the embedder is built."""

from __future__ import annotations

from typing import TYPE_CHECKING, Literal

import numpy as np
from pydantic import Field, model_validator

from emoprep.stages.embed.base import check_crops
from emoprep.stages.embed.config import CV_LIBRARIES, EmbedderBase
from emoprep.stages.embed.contract import RebuildOnUnpickle

if TYPE_CHECKING:
    import cv2


class HogConfig(EmbedderBase):
    """Histogram of oriented gradients of the grey aligned face (cv2.HOGDescriptor)."""

    libraries = CV_LIBRARIES

    type: Literal["hog"] = "hog"
    size: int = Field(64, ge=16, description="grey crop resized to size x size before HOG")
    cell: int = Field(8, ge=2, description="cell side, pixels of the resized crop")
    block: int = Field(2, ge=1, description="cells per block side")
    bins: int = Field(9, ge=2)
    signed: bool = Field(False, description="signed gradients (0-360 degrees) instead of 0-180")

    @model_validator(mode="after")
    def _fits(self) -> HogConfig:
        if self.size % self.cell != 0:
            raise ValueError(f"hog: size {self.size} must be a multiple of cell {self.cell}")
        if self.cell * self.block > self.size:
            raise ValueError(
                f"hog: block of {self.block}x{self.cell} px does not fit in size {self.size}"
            )
        return self

    def make(self) -> HogEmbedder:
        return HogEmbedder(self)


def hog_dim(cfg: HogConfig) -> int:
    """Feature length: blocks per side squared x cells per block x bins (block stride = 1 cell)."""
    blocks = (cfg.size - cfg.cell * cfg.block) // cfg.cell + 1
    return blocks * blocks * cfg.block * cfg.block * cfg.bins


def hog_descriptor(cfg: HogConfig) -> cv2.HOGDescriptor:
    """One window of size x size px; blocks of block x block cells slide one cell at a time;
    L2-Hys block normalisation (clip 0.2); no gamma correction."""
    import cv2

    side = cfg.cell * cfg.block
    return cv2.HOGDescriptor(
        (cfg.size, cfg.size), (side, side), (cfg.cell, cfg.cell), (cfg.cell, cfg.cell), cfg.bins,
        1, -1.0, cv2.HOGDescriptor_L2Hys, 0.2, False, 64, cfg.signed,
    )


def grey_resized(crop: np.ndarray, size: int) -> np.ndarray:
    """(S, S, 3) uint8 RGB -> (size, size) uint8 grey (area interpolation when shrinking)."""
    import cv2

    grey = cv2.cvtColor(crop, cv2.COLOR_RGB2GRAY)
    if grey.shape[0] == size:
        return grey
    interp = cv2.INTER_AREA if grey.shape[0] > size else cv2.INTER_LINEAR
    return cv2.resize(grey, (size, size), interpolation=interp)


class HogEmbedder(RebuildOnUnpickle):
    """HOG of each crop: (B, S, S, 3) uint8 -> (B, :func:`hog_dim`) float32."""

    def __init__(self, cfg: HogConfig) -> None:
        self.cfg = cfg
        self.dim = hog_dim(cfg)
        self._hog = hog_descriptor(cfg)

    def embed(self, crops: np.ndarray, landmarks: np.ndarray | None = None) -> np.ndarray:
        crops = check_crops(crops, "hog")
        out = np.empty((len(crops), self.dim), dtype=np.float32)
        for i, crop in enumerate(crops):
            out[i] = self._hog.compute(grey_resized(crop, self.cfg.size)).reshape(-1)
        return out

    def attrs(self) -> dict[str, str | int | float]:
        c = self.cfg
        return {
            "name": "hog",
            "version": self.cfg.version,
            "dim": self.dim,
            "input_size": c.size,
            "normalisation": "rgb->grey, resize (area), HOG L2-Hys 0.2, no gamma",
            "weights_sha256": "",
            "cell": c.cell,
            "block": c.block,
            "bins": c.bins,
            "signed": int(c.signed),
        }
