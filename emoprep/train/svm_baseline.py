"""The SVM baseline of the spontaneous/posed thesis (002 §4.4.4): a scikit-learn support vector
classifier on the images themselves, with the settings 002's random search returned.

002 §4.4.4 (Tables 4.3-4.6): scikit-learn's SVC; a random search (70 draws from Table 4.3's grid:
gamma 1e-5..10, C 1e-3..100, rbf / poly / linear kernels, on the frontal-illumination images)
returned a polynomial kernel, C 0.01, gamma 0.001: the defaults of :class:`SvmSettings`. The
search itself is not rerun (:func:`search_space` is its grid, for whoever wants to). What 002
leaves open, chosen here: the input is each crop's pixels, RGB scaled to [0, 1] and flattened
(96 x 96 x 3 = 27648 values, the CNN's input; 002 names no features), the polynomial degree is
scikit-learn's default 3 and ``coef0`` its default 0 (002 ran scikit-learn's defaults but for
the three searched values).

Training and scoring use the crops of one fold's parts (:class:`~emoprep.train.frames.FrameSet`),
as ``emoprep finetune`` does: fit on the training part, score the validation and test parts per
crop (accuracy, mean class accuracy, confusion) and per video (majority of its crops' votes).
Writes ``<dest>/metrics.json``.
"""

from __future__ import annotations

import json
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np
from sklearn.metrics import balanced_accuracy_score, confusion_matrix
from sklearn.svm import SVC

from emoprep.errors import ConfigError
from emoprep.io.atomic import atomic_write_text
from emoprep.train.frames import FrameSet, frame_video_scores
from emoprep.types import Part


@dataclass(frozen=True)
class SvmSettings:
    """The SVC's settings: 002 §4.4.4's search result (kernel, C, gamma); degree and coef0 are
    scikit-learn's defaults (002 gives none)."""

    kernel: str = "poly"
    C: float = 0.01
    gamma: float = 0.001
    degree: int = 3
    coef0: float = 0.0

    def classifier(self) -> SVC:
        return SVC(kernel=self.kernel, C=self.C, gamma=self.gamma, degree=self.degree,
                   coef0=self.coef0)


def search_space() -> dict[str, list[Any]]:
    """002 Table 4.3's grid (for ``sklearn.model_selection.RandomizedSearchCV``; 002: 70 draws)."""
    return {"gamma": [1e-5, 1e-4, 1e-3, 1e-2, 0.1, 1.0, 10.0],
            "C": [1e-3, 1e-2, 0.1, 1.0, 10.0, 100.0], "kernel": ["rbf", "poly", "linear"]}


def pixels(crops: np.ndarray) -> np.ndarray:
    """(M, S, S, 3) uint8 -> (M, S * S * 3) float32 in [0, 1]."""
    return crops.reshape(len(crops), -1).astype(np.float32) / 255.0


def _scores(fs: FrameSet, frames: np.ndarray, pred: np.ndarray) -> dict[str, Any]:
    """Per crop and per video (mean of one-hot votes) scores of predictions ``pred`` (m,)."""
    k = len(fs.classes)
    s: dict[str, Any] = frame_video_scores(np.eye(k)[pred], frames, fs)
    y = fs.frame_labels[frames]
    s["frame_mean_class_accuracy"] = float(balanced_accuracy_score(y, pred))
    s["confusion"] = confusion_matrix(y, pred, labels=list(range(k))).tolist()
    return s


def fit_svm(fs: FrameSet, fold: int | None, dest: Path,
            settings: SvmSettings = SvmSettings()) -> dict[str, Any]:
    """Fit the SVC on ``fold``'s training crops (None: every non-test crop), score the
    validation (a fold's) and test parts, write and return ``metrics.json``'s content."""
    t0 = time.perf_counter()
    train = fs.frames_of(fs.part(fold, Part.TRAIN))
    y = fs.frame_labels[train]
    if len(np.unique(y)) < 2:
        raise ConfigError("svm", [f"svm: expected at least 2 classes among the training crops of "
                                  f"fold {fold}, got {np.unique(y).tolist()} (fix: more labelled "
                                  "items, or another split)"])
    svc = settings.classifier().fit(pixels(fs.crops[train]), y)
    parts: dict[str, Any] = {}
    val = None if fold is None else fs.frames_of(fs.part(fold, Part.VAL))
    for name, frames in (("val", val), ("test", fs.frames_of(fs.folds.test))):
        if frames is not None and len(frames):
            parts[name] = _scores(fs, frames, svc.predict(pixels(fs.crops[frames])))
    dest.mkdir(parents=True, exist_ok=True)
    metrics = {"model": "svm", "settings": asdict(settings), "input": "pixels / 255, flattened",
               "features": int(fs.crops[0].size), "task": fs.task, "classes": fs.classes,
               "split": fs.folds.name, "fold": "final" if fold is None else fold,
               "train": {"frames": int(len(train))}, "support_vectors": int(svc.n_support_.sum()),
               "parts": parts, "seconds": time.perf_counter() - t0}
    atomic_write_text(dest / "metrics.json", json.dumps(metrics, indent=1))
    return metrics
