"""Config models of the embedders (a discriminated union on ``type``) and of augmentation."""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field


class HogConfig(BaseModel):
    model_config = ConfigDict(extra="forbid")

    type: Literal["hog"] = "hog"
    size: int = Field(64, ge=16, description="grey crop resized to size x size before HOG")
    cell: int = Field(8, ge=2)
    block: int = Field(2, ge=1, description="cells per block side")
    bins: int = Field(9, ge=2)


EmbedderConfig = Annotated[HogConfig, Field(discriminator="type")]


class AugmentConfig(BaseModel):
    model_config = ConfigDict(extra="forbid")

    names: list[str] = Field(default_factory=list)
    seed: int = 0
