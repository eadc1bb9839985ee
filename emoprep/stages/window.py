"""Which source frames go through the pipeline: the 40-90 % window, all frames for AU trimming,
or all frames with no window (``mode: all``: single images, short clips), then optional
sub-sampling. An item the window keeps no frame of fails with :func:`too_short`'s reason.

The fraction window keeps frames whose index i satisfies ``start * N <= i < end * N`` (N = number
of decodable frames; thesis on multi-task real/fake emotion recognition, SASE-FE).
"""

from __future__ import annotations

import math
from enum import Enum

import numpy as np
from pydantic import BaseModel, ConfigDict, Field, model_validator


class WindowMode(str, Enum):
    FRACTION = "fraction"  #: keep [start*N, end*N) (default 0.4-0.9)
    AU_TRIM = (
        "au_trim"  #: track every frame, then cut neutral onset/offset by AU scores (Algorithm 1)
    )
    ALL = "all"  #: keep every frame, no window (short items, single images, pre-cut sequences)


class SampleConfig(BaseModel):
    """Optional sub-sampling inside the window. At most one of the three may be set."""

    model_config = ConfigDict(extra="forbid")

    every: int | None = Field(None, ge=1, description="keep every k-th frame of the window")
    fps: float | None = Field(None, gt=0, description="keep frames at about this rate")
    max_frames: int | None = Field(None, ge=1, description="keep at most M frames, evenly spaced")

    @model_validator(mode="after")
    def _one_rule(self) -> SampleConfig:
        chosen = [k for k in ("every", "fps", "max_frames") if getattr(self, k) is not None]
        if len(chosen) > 1:
            raise ValueError(f"set only one of every / fps / max_frames, got {', '.join(chosen)}")
        return self


class WindowConfig(BaseModel):
    model_config = ConfigDict(extra="forbid")

    mode: WindowMode = WindowMode.FRACTION
    start: float = Field(0.4, ge=0.0, le=1.0, description="window start, fraction of the frames")
    end: float = Field(
        0.9, ge=0.0, le=1.0, description="window end (exclusive), fraction of the frames"
    )
    sample: SampleConfig = Field(default_factory=SampleConfig)

    @model_validator(mode="after")
    def _ordered(self) -> WindowConfig:
        if self.end <= self.start:
            raise ValueError(f"window end ({self.end}) must be greater than start ({self.start})")
        return self


def fraction_window(n_frames: int, start: float, end: float) -> tuple[int, int]:
    """First and one-past-last frame index of ``[start*N, end*N)``: ``(ceil(start*N),
    ceil(end*N))``.

    >>> fraction_window(100, 0.4, 0.9)
    (40, 90)
    >>> fraction_window(472, 0.4, 0.9)   # 188.8 -> 189, 424.8 -> 425
    (189, 425)
    """
    if n_frames < 0:
        raise ValueError(f"n_frames must be >= 0, got {n_frames}")
    # round away float noise (0.1 * 30 = 3.0000000000000004) before ceil
    lo = math.ceil(round(start * n_frames, 9))
    hi = math.ceil(round(end * n_frames, 9))
    return min(lo, n_frames), min(hi, n_frames)


def subsample(indices: np.ndarray, fps: float, cfg: SampleConfig) -> np.ndarray:
    """Apply the sampling rule to increasing frame ``indices`` (source ``fps``)."""
    idx = np.asarray(indices, dtype=np.int64)
    if idx.size == 0:
        return idx
    if cfg.every is not None:
        return idx[:: cfg.every]
    if cfg.fps is not None:
        if cfg.fps >= fps:
            return idx
        # the frame nearest to each tick of the target clock, first tick on the first frame
        t = (idx - idx[0]) / fps
        ticks = np.arange(0.0, t[-1] + 1e-9, 1.0 / cfg.fps)
        pos = np.clip(np.searchsorted(t, ticks - 0.5 / fps), 0, idx.size - 1)
        return np.unique(idx[pos])
    if cfg.max_frames is not None and idx.size > cfg.max_frames:
        pos = np.round(np.linspace(0, idx.size - 1, cfg.max_frames)).astype(np.int64)
        return idx[np.unique(pos)]
    return idx


def select_frames(n_frames: int, fps: float, cfg: WindowConfig) -> np.ndarray:
    """Source frame numbers (K,) int64 that go on to tracking, increasing."""
    if cfg.mode is WindowMode.FRACTION:
        lo, hi = fraction_window(n_frames, cfg.start, cfg.end)
    else:
        lo, hi = 0, n_frames
    return subsample(np.arange(lo, hi, dtype=np.int64), fps, cfg.sample)


def too_short(n_frames: int, cfg: WindowConfig) -> str:
    """Why the window keeps no frame of an ``n_frames`` item, and the fix (``mode: all``).

    >>> too_short(1, WindowConfig())[:32]
    'the window keeps 0 of 1 frames ('
    """
    rule = (f"mode fraction: frames i with {cfg.start} * {n_frames} <= i < {cfg.end} * {n_frames}"
            if cfg.mode is WindowMode.FRACTION else f"mode {cfg.mode.value}")
    return (f"the window keeps 0 of {n_frames} frames ({rule}), expected at least 1: the item is "
            "shorter than the window can serve (fix: stages.window.mode: all keeps every frame, "
            "no window, for single images and short clips; or widen stages.window.start/end)")
