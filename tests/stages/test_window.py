"""Window arithmetic: [start*N, end*N) and the sampling rules, exact values."""

from __future__ import annotations

import numpy as np
import pytest
from pydantic import ValidationError

from emoprep.stages.window import (
    SampleConfig,
    WindowConfig,
    WindowMode,
    fraction_window,
    select_frames,
    subsample,
)


@pytest.mark.parametrize(
    ("n", "start", "end", "expected"),
    [
        (100, 0.4, 0.9, (40, 90)),
        (472, 0.4, 0.9, (189, 425)),  # 188.8 -> first index 189; 424.8 -> 424 is the last kept
        (10, 0.4, 0.9, (4, 9)),
        (30, 0.1, 0.9, (3, 27)),  # 0.1*30 is 3.0000000000000004 in floats: still 3
        (95, 0.0, 1.0, (0, 95)),
        (1, 0.4, 0.9, (1, 1)),  # nothing kept: 0.4 <= i < 0.9 has no integer
        (0, 0.4, 0.9, (0, 0)),
    ],
)
def test_fraction_window(n: int, start: float, end: float, expected: tuple[int, int]) -> None:
    assert fraction_window(n, start, end) == expected
    lo, hi = expected
    # the definition itself: i kept <=> start*N <= i < end*N
    kept = [i for i in range(n) if start * n <= i + 1e-9 and i < end * n - 1e-9]
    assert kept == list(range(lo, hi))


def test_select_frames_modes() -> None:
    cfg = WindowConfig()
    assert select_frames(100, 25.0, cfg).tolist() == list(range(40, 90))
    assert select_frames(100, 25.0, WindowConfig(mode=WindowMode.ALL)).tolist() == list(range(100))
    assert select_frames(100, 25.0, WindowConfig(mode=WindowMode.AU_TRIM)).tolist() == list(range(100))


def test_subsample_every_fps_max() -> None:
    idx = np.arange(40, 90)
    assert subsample(idx, 25.0, SampleConfig(every=10)).tolist() == [40, 50, 60, 70, 80]
    out = subsample(np.arange(0, 100), 100.0, SampleConfig(fps=25))
    assert out.tolist() == list(range(0, 100, 4))
    assert subsample(idx, 25.0, SampleConfig(fps=50)).tolist() == idx.tolist()  # above source rate
    m = subsample(idx, 25.0, SampleConfig(max_frames=5))
    assert m.tolist() == [40, 52, 64, 77, 89]
    assert subsample(idx, 25.0, SampleConfig(max_frames=500)).tolist() == idx.tolist()


def test_sample_rules_exclusive_and_window_ordered() -> None:
    with pytest.raises(ValidationError, match="only one of"):
        SampleConfig(every=2, max_frames=3)
    with pytest.raises(ValidationError, match="greater than start"):
        WindowConfig(start=0.9, end=0.4)
