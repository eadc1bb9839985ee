"""Eye-based alignment: rotate the eye line horizontal, scale to a fixed inter-ocular distance, crop."""

from __future__ import annotations

from enum import Enum

from pydantic import BaseModel, ConfigDict, Field


class AlignMethod(str, Enum):
    EYES = "eyes"  #: eye centroids -> rotation + scale, one affine warp (default)
    BOX = "box"  #: resize the face box to S x S, no rotation


class Interpolation(str, Enum):
    LINEAR = "linear"
    CUBIC = "cubic"
    AREA = "area"


class AlignConfig(BaseModel):
    model_config = ConfigDict(extra="forbid")

    method: AlignMethod = AlignMethod.EYES
    size: int = Field(160, ge=16, le=1024, description="output crop side S, pixels")
    eye_distance: float = Field(0.30, gt=0.05, lt=0.9, description="inter-ocular distance as a fraction of S")
    eye_y: float = Field(0.40, gt=0.0, lt=1.0, description="height of the eye line as a fraction of S")
    interpolation: Interpolation = Interpolation.LINEAR
