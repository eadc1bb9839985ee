"""68-point facial landmarks inside a face box (dlib shape predictor from face-recognition-models)."""

from __future__ import annotations

from enum import Enum

from pydantic import BaseModel, ConfigDict, Field


class LandmarksBackend(str, Enum):
    DLIB68 = "dlib68"  #: dlib shape_predictor_68_face_landmarks.dat


class LandmarksConfig(BaseModel):
    model_config = ConfigDict(extra="forbid")

    backend: LandmarksBackend = LandmarksBackend.DLIB68
    model: str | None = Field(None, description="path to the .dat file; default: the one in face-recognition-models")
    refine: int = Field(1, ge=0, description="re-run the predictor in the box the landmarks span, this many times")
