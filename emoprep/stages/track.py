"""Detect once, then track: MedianFlow (cv2.legacy) with re-detection; per-frame status."""

from __future__ import annotations

from enum import Enum

from pydantic import BaseModel, ConfigDict, Field


class TrackBackend(str, Enum):
    MEDIANFLOW = "medianflow"  #: cv2.legacy.TrackerMedianFlow (opencv-contrib)
    NONE = "none"  #: run the detector on every frame (the naive per-frame path)


class TrackConfig(BaseModel):
    model_config = ConfigDict(extra="forbid")

    backend: TrackBackend = TrackBackend.MEDIANFLOW
    redetect_every: int = Field(50, ge=0, description="run the detector every N tracked frames (0: only on failure)")
    retry_every: int = Field(1, ge=1, description="while no face is known, run the detector every N frames")
    min_box: int = Field(20, ge=2, description="a tracked box smaller than this (pixels) counts as a failure")
