"""AU-trim source ``expression`` (emoprep's addition, not from the theses): per-frame expression
intensity 1 - p(neutral) from fer's mini-Xception on the aligned crops.

A neutral face scores near 0 and any expression near 1, so Algorithm 1 trims the neutral onset and
offset of a clip the same way it does with mean AU intensities. One column named ``expression``.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path

import numpy as np

from emoprep.errors import StageError
from emoprep.stages.au.config import ExpressionAUConfig
from emoprep.types import FrameStatus, Geometry, VideoEntry

NAMES = ["expression"]


def compute(
    geometry: Geometry,
    entry: VideoEntry,
    cfg: ExpressionAUConfig,
    root: Path,
    crops: Callable[[], Iterator[np.ndarray]] | None = None,
) -> tuple[np.ndarray, list[str]]:
    """(T, 1) float32 1 - p(neutral) per tracked frame (NaN where there is no face), names."""
    from emoprep.stages.embed.base import embed_frames
    from emoprep.stages.embed.fer_xception import FerXceptionConfig, expression_scores

    if crops is None:
        raise StageError(f"video {entry.video_id}: au.source 'expression' needs the aligned crops, "
                         "got none; fix: use au.source: landmarks")
    face = FrameStatus.has_face(geometry.status)
    embedder = FerXceptionConfig(weights=cfg.weights, batch_size=cfg.batch_size).make()
    feats = embed_frames(embedder, crops(), None, face, cfg.batch_size)
    values = np.where(face, expression_scores(feats), np.nan).astype(np.float32)
    return values[:, None], list(NAMES)
