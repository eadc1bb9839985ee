"""AU source ``pyfeat``: py-feat AU detection on the aligned crops (optional extra
``emoprep[pyfeat]``).

Written against py-feat's documented ``Detector`` API (py-feat >= 0.6):
``Detector(au_model=..., device=...)`` and ``Detector.detect(inputs, data_type="tensor",
batch_size=..., progress_bar=False)``, where ``inputs`` is a ``torch.Tensor`` (B, 3, H, W) and
the result is a ``Fex`` data frame with one row per detected face, a ``frame`` column (0-based
position in ``inputs``), a ``FaceScore`` column and the AU columns listed in ``Fex.au_columns``
("AU01", ..., 0-1 probabilities). NOT tested against the real package here (it needs
torchvision and downloads weights); the input/output mapping is tested with a fake detector.

Weights are never downloaded by emoprep: the detector is built with the Hugging Face hub in
offline mode, so the model files must already be in py-feat's cache.
"""

from __future__ import annotations

import contextlib
import functools
import os
from collections.abc import Iterable, Iterator
from enum import Enum
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal, Protocol

import numpy as np
from pydantic import Field

from emoprep.errors import MissingDependencyError, ModelFileError, StageError
from emoprep.stages.au.base import AUSourceConfig, Crops, canonical_au_name

if TYPE_CHECKING:
    from emoprep.types import Geometry, VideoEntry

PYFEAT_EXTRA = "emoprep[pyfeat]"
#: Hugging Face model repositories py-feat's default Detector loads (face, landmarks, pose, AU, ...)
PYFEAT_MODEL_REPOS = ("py-feat/retinaface", "py-feat/mobilefacenet", "py-feat/img2pose",
                      "py-feat/xgb_au", "py-feat/svm_au", "py-feat/resmasknet", "py-feat/facenet")
#: crops per ``detect`` call; never part of the fingerprint
BATCH_SIZE = 32


class PyFeatAUModel(str, Enum):
    XGB = "xgb"  #: py-feat's XGBoost AU model on HOG features (py-feat default)
    SVM = "svm"  #: py-feat's linear SVM AU model on HOG features


class PyFeatAUConfig(AUSourceConfig):
    """py-feat Detector on the aligned crops (optional extra ``emoprep[pyfeat]``)."""

    uses_crops = True
    libraries = {"py-feat": "py-feat"}

    source: Literal["pyfeat"] = "pyfeat"
    pyfeat_au_model: PyFeatAUModel = Field(PyFeatAUModel.XGB, description="py-feat au_model")

    def compute(self, geometry: Geometry, entry: VideoEntry, root: Path,
                crops: Crops | None = None) -> tuple[np.ndarray, list[str]]:
        """py-feat's AU model on the aligned crops of the tracked frames."""
        if crops is None:
            raise StageError(
                f"video {entry.video_id}: au.source 'pyfeat' needs the aligned crops, got none; "
                "fix: run the align stage before au, or use au.source: landmarks"
            )
        detector = load_detector(self.pyfeat_au_model.value)
        return pyfeat_aus(crops(), len(geometry), detector, video=entry.video_id)


class FexLike(Protocol):
    """What emoprep reads from py-feat's ``Fex`` result (a pandas DataFrame subclass)."""

    columns: Any

    def __getitem__(self, key: Any) -> Any: ...


class DetectorLike(Protocol):
    """The part of py-feat's ``Detector`` that emoprep calls."""

    def detect(self, inputs: Any, data_type: str = ..., **kwargs: Any) -> FexLike: ...


def _missing_message(exc: BaseException) -> str:
    return (
        f"AU source 'pyfeat' needs py-feat, which cannot be imported ({exc}); fix: "
        f'pip install "{PYFEAT_EXTRA}" (py-feat needs torchvision), then put its model files '
        f"({', '.join(PYFEAT_MODEL_REPOS)}) in py-feat's model cache while online, since emoprep "
        "never downloads weights; or use au.source: landmarks / openface_csv"
    )


@contextlib.contextmanager
def _hub_offline() -> Iterator[None]:
    """Make huggingface_hub refuse downloads while the detector is built (restored after)."""
    old = os.environ.get("HF_HUB_OFFLINE")
    os.environ["HF_HUB_OFFLINE"] = "1"
    consts = None
    with contextlib.suppress(ImportError):
        from huggingface_hub import constants as consts  # type: ignore[no-redef]
    saved = getattr(consts, "HF_HUB_OFFLINE", None)
    if consts is not None:
        consts.HF_HUB_OFFLINE = True
    try:
        yield
    finally:
        if consts is not None:
            consts.HF_HUB_OFFLINE = saved
        if old is None:
            os.environ.pop("HF_HUB_OFFLINE", None)
        else:
            os.environ["HF_HUB_OFFLINE"] = old


@functools.lru_cache(maxsize=2)
def load_detector(au_model: str = "xgb") -> DetectorLike:
    """py-feat ``Detector(au_model=au_model)`` built offline; cached per process (one per model).

    Raises :class:`MissingDependencyError` when py-feat is not installed and
    :class:`ModelFileError` when its model files are not in the local cache.
    """
    try:
        from feat import Detector  # type: ignore[import-not-found]
    except ImportError as exc:
        raise MissingDependencyError(_missing_message(exc)) from exc
    try:
        with _hub_offline():
            return Detector(au_model=au_model, device="cpu")
    except (OSError, ValueError) as exc:
        raise ModelFileError(
            f"py-feat Detector(au_model={au_model!r}) could not load its model files offline "
            f"({exc}); fix: fetch {', '.join(PYFEAT_MODEL_REPOS)} into py-feat's cache once while "
            "online (e.g. construct feat.Detector() in a Python shell), then re-run"
        ) from exc


def _batches(crops: Iterable[np.ndarray], size: int) -> Iterator[np.ndarray]:
    """Stack crops (S, S, 3) uint8 RGB into batches (B, S, S, 3)."""
    buf: list[np.ndarray] = []
    for c in crops:
        a = np.asarray(c)
        if a.ndim != 3 or a.shape[2] != 3 or a.dtype != np.uint8:
            raise StageError(f"pyfeat: expected RGB crops (S, S, 3) uint8, got {a.shape} {a.dtype}")
        buf.append(a)
        if len(buf) == size:
            yield np.stack(buf)
            buf = []
    if buf:
        yield np.stack(buf)


def au_columns(fex: FexLike) -> list[str]:
    """AU columns of a py-feat result: ``fex.au_columns`` when set, else the ``AUxx`` columns."""
    cols = getattr(fex, "au_columns", None)
    if not cols:
        cols = [c for c in fex.columns if str(c).upper().startswith("AU") and str(c)[2:].isdigit()]
    if not cols:
        raise StageError(
            f"pyfeat: the detector result has no AU column (columns: {list(fex.columns)})"
        )
    return [str(c) for c in cols]


def fex_to_frames(fex: FexLike, n: int, names: list[str]) -> np.ndarray:
    """One AU row per input image (n, K) float32 from a per-face result; NaN where no face.

    When several rows share a ``frame``, a row with AU values beats one without, then the
    higher ``FaceScore``, then the earlier row.
    """
    if "frame" not in fex.columns:
        raise StageError(
            f"pyfeat: the detector result has no 'frame' column (columns: {list(fex.columns)})"
        )
    frames = np.asarray(fex["frame"], dtype=np.int64)
    vals = np.asarray(fex[names], dtype=np.float32).reshape(frames.size, len(names))
    score = (np.asarray(fex["FaceScore"], dtype=np.float64) if "FaceScore" in fex.columns
             else np.zeros(frames.size))
    score = np.where(np.isfinite(score), score, -np.inf)
    if frames.size and (frames.min() < 0 or frames.max() >= n):
        raise StageError(
            f"pyfeat: result frame numbers {frames.min()}-{frames.max()} outside 0-{n - 1}"
        )
    has = np.isfinite(vals).any(axis=1)
    order = np.lexsort((np.arange(frames.size), -score, ~has, frames))
    first = np.ones(order.size, dtype=bool)
    first[1:] = frames[order][1:] != frames[order][:-1]
    out = np.full((n, len(names)), np.nan, dtype=np.float32)
    out[frames[order][first]] = vals[order][first]
    return out


def pyfeat_aus(
    crops: Iterable[np.ndarray], n_frames: int, detector: DetectorLike, video: str = "?",
    batch_size: int = BATCH_SIZE,
) -> tuple[np.ndarray, list[str]]:
    """AU probabilities (T, K) float32 from ``detector`` on the aligned RGB crops, and AU names.

    crops: T arrays (S, S, 3) uint8 RGB, one per tracked frame, in order. Each batch goes to
    ``detector.detect(torch uint8 (B, 3, S, S), data_type="tensor", batch_size=B,
    progress_bar=False)``.
    """
    import torch

    parts: list[np.ndarray] = []
    names: list[str] | None = None
    for batch in _batches(crops, batch_size):
        tensor = torch.from_numpy(np.ascontiguousarray(batch.transpose(0, 3, 1, 2)))
        fex = detector.detect(tensor, data_type="tensor", batch_size=len(batch), progress_bar=False)
        names = names or au_columns(fex)
        parts.append(fex_to_frames(fex, len(batch), names))
    got = sum(p.shape[0] for p in parts)
    if got != n_frames:
        raise StageError(
            f"video {video}: pyfeat got {got} aligned crops for {n_frames} tracked frames; "
            "fix: re-run the align stage so the frame store matches the geometry"
        )
    if names is None:
        return np.zeros((0, 0), dtype=np.float32), []
    return np.concatenate(parts).astype(np.float32), [canonical_au_name(n) for n in names]
