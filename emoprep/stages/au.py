"""Per-frame Action Unit intensities for the tracked face, from one of several sources."""

from __future__ import annotations

from enum import Enum

from pydantic import BaseModel, ConfigDict, Field


class AUSource(str, Enum):
    LANDMARKS = "landmarks"  #: geometric AU-intensity proxies from the 68 landmarks (offline, default)
    OPENFACE_CSV = "openface_csv"  #: OpenFace 2 FeatureExtraction CSV (AUxx_r columns)
    PYFEAT = "pyfeat"  #: py-feat Detector on the aligned crops (optional extra)


class AUConfig(BaseModel):
    model_config = ConfigDict(extra="forbid")

    source: AUSource = AUSource.LANDMARKS
    openface_csv: str = Field(
        "{stem}.csv",
        description="path template of the OpenFace CSV per video; fields {video_id} {stem} {subject} "
        "{dir}; relative paths are resolved against the manifest's videos.root",
    )
    min_confidence: float = Field(0.0, ge=0.0, le=1.0, description="OpenFace rows below this are NaN")
    neutral_fraction: float = Field(
        0.1, gt=0.0, le=1.0, description="landmarks source: fraction of most neutral frames used as the baseline"
    )
