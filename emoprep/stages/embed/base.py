"""The embedder contract, the factory, and what the pipeline needs for fingerprints.

An embedder maps aligned RGB crops to one float32 vector per frame. The pipeline calls
:func:`make_embedder` once per worker (embedders pickle as their config and are rebuilt, weights
re-read, on the other side), then :func:`embed_frames` per video. Torch is imported only by the
torch embedders, so ``hog``/``landmarks``/``dlib_resnet`` never pay for it.
"""

from __future__ import annotations

from collections.abc import Iterable

import numpy as np

from emoprep.errors import StageError
from emoprep.stages.embed.config import EmbedderBase
from emoprep.stages.embed.contract import Embedder
from emoprep.stages.instances import built


def make_embedder(cfg: EmbedderBase) -> Embedder:
    """Build the embedder of a config (loads weights; raises ModelFileError when they are bad)."""
    return built(cfg)


def check_crops(crops: np.ndarray, who: str) -> np.ndarray:
    """Validate a batch of crops: (B, S, S, 3) uint8. Returns it as a numpy array."""
    crops = np.asarray(crops)
    if (
        crops.ndim != 4
        or crops.shape[3] != 3
        or crops.shape[1] != crops.shape[2]
        or crops.dtype != np.uint8
    ):
        raise ValueError(
            f"{who}: crops must be (B, S, S, 3) uint8 RGB, got {crops.shape} {crops.dtype}"
        )
    return crops


def embed_frames(
    embedder: Embedder,
    crops: Iterable[np.ndarray],
    landmarks: np.ndarray | None,
    mask: np.ndarray,
    batch_size: int,
) -> np.ndarray:
    """Features of one video: (T, D) float32, zeros where ``mask`` is False.

    crops: T crops (S, S, 3) uint8 RGB, streamed in frame order (one per frame, masked or not).
    landmarks: (T, 68, 2) float32 crop pixels, or None. mask: (T,) bool, frames with a face.
    Masked-out frames are never passed to the model; the rest go in batches of ``batch_size``.
    """
    if batch_size < 1:
        raise ValueError(f"embed_frames: batch_size must be >= 1, got {batch_size}")
    mask = np.asarray(mask, dtype=bool)
    t = mask.shape[0]
    if landmarks is not None and len(landmarks) != t:
        raise StageError(
            f"embed_frames: landmarks has {len(landmarks)} rows, expected {t} (one per mask entry)"
        )
    out = np.zeros((t, embedder.dim), dtype=np.float32)
    rows: list[int] = []
    batch: list[np.ndarray] = []
    n_seen = 0
    for i, crop in enumerate(crops):
        if i >= t:
            raise StageError(
                f"embed_frames: more crops than the {t} mask entries; pass one crop per frame"
            )
        n_seen = i + 1
        if mask[i]:
            rows.append(i)
            batch.append(np.asarray(crop))
        if len(batch) == batch_size:
            _flush(embedder, batch, rows, landmarks, out)
            rows, batch = [], []
    if n_seen != t:
        raise StageError(
            f"embed_frames: got {n_seen} crops for {t} mask entries; pass one crop per frame"
        )
    if batch:
        _flush(embedder, batch, rows, landmarks, out)
    return out


def _flush(
    embedder: Embedder,
    batch: list[np.ndarray],
    rows: list[int],
    landmarks: np.ndarray | None,
    out: np.ndarray,
) -> None:
    lms = None if landmarks is None else np.asarray(landmarks[rows], dtype=np.float32)
    feats = embedder.embed(np.stack(batch), lms)
    if feats.shape != (len(rows), embedder.dim):
        raise StageError(
            f"embedder {type(embedder).__name__}: returned {feats.shape}, expected "
            f"{(len(rows), embedder.dim)}"
        )
    out[rows] = feats
