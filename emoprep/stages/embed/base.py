"""The embedder contract, the factory, and what the pipeline needs for fingerprints.

An embedder maps aligned RGB crops to one float32 vector per frame. The pipeline calls
:func:`make_embedder` once per worker (embedders pickle as their config and are rebuilt, weights
re-read, on the other side), then :func:`embed_frames` per video. Torch is imported only by the
torch embedders, so ``hog``/``landmarks``/``dlib_resnet`` never pay for it.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable
from pathlib import Path
from typing import Any, Protocol, runtime_checkable

import numpy as np

from emoprep.errors import StageError
from emoprep.stages.embed.config import RUNTIME_FIELDS, TORCH_TYPES, EmbedderConfig

#: explicit code version per embedder type; bump when the features of a type change
STAGE_VERSIONS: dict[str, int] = {
    "hog": 1,
    "landmarks": 1,
    "dlib_resnet": 1,
    "inception_resnet_v1": 1,
    "vggface": 1,
    "torchscript": 1,
}


@runtime_checkable
class Embedder(Protocol):
    """Per-frame feature extractor. ``dim`` is D, the length of one feature vector."""

    dim: int

    def embed(self, crops: np.ndarray, landmarks: np.ndarray | None) -> np.ndarray:
        """crops (B, S, S, 3) uint8 RGB aligned faces; landmarks (B, 68, 2) float32 crop pixels
        or None -> (B, D) float32."""
        ...

    def attrs(self) -> dict[str, str | int | float]:
        """name (type), version, dim, input_size, normalisation, weights_sha256 ("" if none)."""
        ...


class RebuildOnUnpickle:
    """Mixin: pickle as ``make_embedder(cfg)``, so no model object crosses a process boundary."""

    cfg: Any

    def __reduce__(self) -> tuple[Any, tuple[Any, ...]]:
        return (make_embedder, (self.cfg,))


def make_embedder(cfg: EmbedderConfig) -> Embedder:
    """Build the embedder of a config (loads weights; raises ModelFileError when they are bad)."""
    if cfg.type == "hog":
        from emoprep.stages.embed.hog import HogEmbedder

        return HogEmbedder(cfg)
    if cfg.type == "landmarks":
        from emoprep.stages.embed.geometry import LandmarkEmbedder

        return LandmarkEmbedder(cfg)
    if cfg.type == "dlib_resnet":
        from emoprep.stages.embed.dlib_resnet import DlibResnetEmbedder

        return DlibResnetEmbedder(cfg)
    from emoprep.stages.embed.torch_common import make_torch_embedder

    return make_torch_embedder(cfg)


def model_files(cfg: EmbedderConfig) -> list[Path]:
    """Weight / model files the features depend on (their hashes go into fingerprints)."""
    if cfg.type == "dlib_resnet":
        from emoprep.stages.embed.dlib_resnet import dlib_model_path

        return [dlib_model_path(cfg)]
    if cfg.type in ("inception_resnet_v1", "vggface"):
        files = [Path(cfg.weights)]
        if cfg.type == "vggface" and cfg.head_weights is not None:
            files.append(Path(cfg.head_weights))
        return files
    if cfg.type == "torchscript":
        return [Path(cfg.model)]
    return []


def library_versions(cfg: EmbedderConfig) -> dict[str, str]:
    """Versions of the libraries that compute the features, e.g. ``{"torch": "2.13.0"}``."""
    versions = {"numpy": np.__version__}
    if cfg.type in ("hog", "dlib_resnet") or cfg.type in TORCH_TYPES:
        import cv2

        versions["opencv"] = cv2.__version__
    if cfg.type == "dlib_resnet":
        import dlib

        versions["dlib"] = dlib.__version__
    if cfg.type in TORCH_TYPES:
        import torch

        versions["torch"] = torch.__version__
    return versions


def stage_version(cfg: EmbedderConfig) -> int:
    """Explicit code version of the embedder type (see :data:`STAGE_VERSIONS`)."""
    return STAGE_VERSIONS[cfg.type]


def needs_landmarks(cfg: EmbedderConfig) -> bool:
    """True when :meth:`Embedder.embed` needs the (B, 68, 2) aligned landmarks."""
    return cfg.type == "landmarks" or (cfg.type == "dlib_resnet" and cfg.chip.value == "eyes")


def fingerprint_config(cfg: EmbedderConfig) -> dict[str, Any]:
    """The config slice that determines the features: JSON-able, runtime-only fields removed."""
    return cfg.model_dump(mode="json", exclude=set(RUNTIME_FIELDS))


def missing_files(cfg: EmbedderConfig, name: str) -> list[str]:
    """Problems to report before any work runs: one line per model file that is not there."""
    out = []
    for path in model_files(cfg):
        if not Path(path).is_file():
            out.append(f"stages.embed.{name}: model file {path} not found; put the file there or fix the path")
    return out


def file_sha256(path: str | Path, chunk: int = 1 << 20) -> str:
    """Hex sha256 of a file's bytes, read in 1 MiB chunks."""
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(chunk), b""):
            h.update(block)
    return h.hexdigest()


def check_crops(crops: np.ndarray, who: str) -> np.ndarray:
    """Validate a batch of crops: (B, S, S, 3) uint8. Returns it as a numpy array."""
    crops = np.asarray(crops)
    if crops.ndim != 4 or crops.shape[3] != 3 or crops.shape[1] != crops.shape[2] or crops.dtype != np.uint8:
        raise ValueError(f"{who}: crops must be (B, S, S, 3) uint8 RGB, got {crops.shape} {crops.dtype}")
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
        raise StageError(f"embed_frames: landmarks has {len(landmarks)} rows, expected {t} (one per mask entry)")
    out = np.zeros((t, embedder.dim), dtype=np.float32)
    rows: list[int] = []
    batch: list[np.ndarray] = []
    n_seen = 0
    for i, crop in enumerate(crops):
        if i >= t:
            raise StageError(f"embed_frames: more crops than the {t} mask entries; pass one crop per frame")
        n_seen = i + 1
        if mask[i]:
            rows.append(i)
            batch.append(np.asarray(crop))
        if len(batch) == batch_size:
            _flush(embedder, batch, rows, landmarks, out)
            rows, batch = [], []
    if n_seen != t:
        raise StageError(f"embed_frames: got {n_seen} crops for {t} mask entries; pass one crop per frame")
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
            f"embedder {type(embedder).__name__}: returned {feats.shape}, expected {(len(rows), embedder.dim)}"
        )
    out[rows] = feats
