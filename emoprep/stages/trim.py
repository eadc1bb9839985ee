"""AU-score neutral trimming (Algorithm 1 of the thesis on video FER, BU-4DFE)."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field


class TrimConfig(BaseModel):
    """Parameters of Algorithm 1; defaults are the thesis values. ``threshold`` None: per AU source."""

    model_config = ConfigDict(extra="forbid")

    threshold: float | None = Field(None, gt=0.0, lt=1.0, description="fraction of the video's max score")
    min_end_cut: int = Field(10, ge=0, description="always cut at least this many frames at the end")
    anomaly_last: int = Field(20, ge=0, description="max score within the last N frames -> anomaly")
    max_cut: float = Field(0.5, gt=0.0, le=1.0, description="never cut more than this fraction of the video")
    overrides: str | None = Field(None, description="YAML or CSV file: video_id -> start/end kept frames")
