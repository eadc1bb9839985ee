"""Static figures for reports (matplotlib, Agg canvas; no pyplot global state).

Figures are written to a temporary name and renamed, so a killed run never leaves a partial PNG.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure

from emoprep.io.atomic import atomic_path
from emoprep.stages.au.trim import TrimResult


def _save(fig: Figure, path: Path, dpi: int = 100) -> Path:
    """Render ``fig`` to PNG at ``path`` atomically; return ``path``."""
    FigureCanvasAgg(fig)
    with atomic_path(path, suffix=".png") as tmp:
        fig.savefig(tmp, format="png", dpi=dpi)
    return Path(path)


def plot_trim(
    score: np.ndarray,
    result: TrimResult,
    path: Path,
    title: str,
    frame_index: np.ndarray | None = None,
) -> Path:
    """PNG of an AU-trim decision: score curve, threshold line, kept range shaded, peak and anomaly.

    score: (T,) per-frame AU score (NaN gaps are left blank). frame_index: (T,) source frame
    numbers for the x axis (default 0..T-1). Returns ``path``.
    """
    s = np.asarray(score, dtype=np.float64).ravel()
    x = np.arange(s.size) if frame_index is None else np.asarray(frame_index, dtype=np.float64)
    if x.shape != s.shape:
        raise ValueError(f"plot_trim: frame_index has {x.size} entries, score has {s.size}")
    fig = Figure(figsize=(8, 3))
    ax = fig.add_subplot(1, 1, 1)
    ax.plot(x, s, color="tab:blue", lw=1.2, label="AU score")
    if np.isfinite(result.threshold):
        ax.axhline(
            result.threshold,
            color="tab:orange",
            ls="--",
            lw=1,
            label=f"threshold {result.threshold:.3g}",
        )
    if result.end > result.start and s.size:
        lo, hi = x[result.start], x[min(result.end, s.size) - 1]
        ax.axvspan(
            lo, hi, color="tab:green", alpha=0.15, label=f"kept [{result.start}, {result.end})"
        )
    if 0 <= result.peak < s.size:
        ax.plot([x[result.peak]], [s[result.peak]], "v", color="tab:red", label="peak")
    if result.anomaly:
        ax.text(0.5, 0.92, "ANOMALY: " + result.reason, transform=ax.transAxes, ha="center",
                va="top", color="tab:red", fontsize=8, wrap=True)
    ax.set_xlabel("source frame" if frame_index is not None else "tracked frame")
    ax.set_ylabel("mean AU intensity")
    ax.set_title(title, fontsize=10)
    ax.legend(loc="upper left", bbox_to_anchor=(1.01, 1.0), fontsize=7, frameon=False)
    fig.tight_layout()
    return _save(fig, path)


def plot_au(
    values: np.ndarray, names: Sequence[str], path: Path, title: str,
    frame_index: np.ndarray | None = None,
) -> Path:
    """PNG of every AU curve of one video. values: (T, K), one line per AU name."""
    v = np.asarray(values, dtype=np.float64)
    if v.ndim != 2 or v.shape[1] != len(names):
        raise ValueError(f"plot_au: values must be (T, {len(names)}), got {v.shape}")
    x = np.arange(v.shape[0]) if frame_index is None else np.asarray(frame_index, dtype=np.float64)
    fig = Figure(figsize=(8, 3.5))
    ax = fig.add_subplot(1, 1, 1)
    for k, name in enumerate(names):
        ax.plot(x, v[:, k], lw=1, label=name)
    ax.set_xlabel("source frame" if frame_index is not None else "tracked frame")
    ax.set_ylabel("AU intensity")
    ax.set_title(title, fontsize=10)
    ax.legend(loc="upper left", bbox_to_anchor=(1.01, 1.0), fontsize=6, frameon=False,
              ncol=max(1, len(names) // 12 + 1))
    fig.tight_layout()
    return _save(fig, path)
