"""AU results and names shared by every source."""

from __future__ import annotations

import re
from dataclasses import dataclass

import numpy as np

from emoprep.errors import StageError


@dataclass
class AUResult:
    """AU intensities of one video.

    values: (T, K) float32, NaN where unavailable (no face). Units depend on ``source``:
            OpenFace 0-5 intensities, py-feat 0-1 probabilities, landmark proxies in
            inter-ocular distances above the video's neutral baseline (all >= 0).
    names:  K AU names, zero-padded ("AU01", "AU02", ...).
    source: the :class:`AUSource` value that produced them.
    """

    values: np.ndarray
    names: list[str]
    source: str


_AU_NAME = re.compile(r"^\s*AU\s*0*(\d+)(?:_[rc])?\s*$", re.IGNORECASE)


def canonical_au_name(name: str) -> str:
    """"AU1", "AU01_r", " AU01_r", "au1" -> "AU01"; raise ValueError for a non-AU name."""
    m = _AU_NAME.match(str(name))
    if not m:
        raise ValueError(f"not an Action Unit name: {name!r} (expected e.g. AU01, AU1 or AU01_r)")
    return f"AU{int(m.group(1)):02d}"


def check_shape(values: np.ndarray, names: list[str], t: int, video: str, source: str) -> None:
    if values.shape != (t, len(names)) or values.dtype != np.float32:
        raise StageError(
            f"video {video}: AU source {source} returned {values.shape} {values.dtype}, "
            f"expected ({t}, {len(names)}) float32; this is a bug in emoprep"
        )
