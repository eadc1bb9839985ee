"""The embedder contract: what every per-frame feature extractor provides."""

from __future__ import annotations

from typing import Any, Protocol, runtime_checkable

import numpy as np


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
    """Mixin: pickle as ``cfg.make()``, so no model object crosses a process boundary."""

    cfg: Any

    def __reduce__(self) -> tuple[Any, tuple[Any, ...]]:
        return (_rebuild, (self.cfg,))


def _rebuild(cfg: Any) -> Embedder:
    return cfg.make()
