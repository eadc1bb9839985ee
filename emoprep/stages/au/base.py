"""What every AU source shares: the config base, the result, AU names."""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, ClassVar

import numpy as np

from emoprep.errors import StageError
from emoprep.stages.backends import BackendConfig

if TYPE_CHECKING:
    from emoprep.types import Geometry, VideoEntry

#: the aligned RGB crops (S, S, 3) uint8 of a video, one per tracked frame, as a callable
#: returning a fresh iterator (only the sources with ``uses_crops`` get one)
Crops = Callable[[], Iterator[np.ndarray]]


class AUSourceConfig(BackendConfig):
    """Base of the AU sources (``au.source``). Each source's module subclasses it with its keys,
    its facts and :meth:`compute`."""

    _tag_key = "source"
    #: Algorithm 1's threshold fraction when ``trim.threshold`` is null (the thesis's 0.5)
    trim_threshold: ClassVar[float] = 0.5
    #: whether the values are computed on the aligned crops (then ``align`` is in the fingerprint)
    uses_crops: ClassVar[bool] = False
    #: whether the values are computed from the 68 landmarks (nothing to compute under
    #: ``landmarks.backend: none``: the ``au`` stage is then left out)
    reads_landmarks: ClassVar[bool] = False

    def compute(self, geometry: Geometry, entry: VideoEntry, root: Path,
                crops: Crops | None) -> tuple[np.ndarray, list[str]]:
        """(T, K) float32 AU values over the T tracked frames (NaN where unavailable), K names."""
        raise NotImplementedError

    def source_files(self, entry: VideoEntry, root: Path) -> list[Path]:
        """Input files besides the video whose content goes in the au fingerprint."""
        return []


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
