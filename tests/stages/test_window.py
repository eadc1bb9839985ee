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
    too_short,
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
    assert select_frames(100, 25.0, WindowConfig(mode=WindowMode.AU_TRIM)).tolist() == list(
        range(100)
    )


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


@pytest.mark.parametrize("n", [0, 1])
def test_items_shorter_than_the_window_keep_every_frame_in_mode_all(n: int) -> None:
    assert select_frames(n, 25.0, WindowConfig()).tolist() == []
    assert select_frames(n, 25.0, WindowConfig(mode=WindowMode.ALL)).tolist() == list(range(n))
    assert select_frames(2, 25.0, WindowConfig()).tolist() == [1]  # 0.8 -> 1, 1.8 -> 2


def test_too_short_names_the_rule_and_mode_all() -> None:
    why = too_short(1, WindowConfig(start=0.5, end=0.75))
    assert why.startswith("the window keeps 0 of 1 frames (mode fraction: frames i with "
                          "0.5 * 1 <= i < 0.75 * 1), expected at least 1")
    assert "(fix: stages.window.mode: all keeps every frame" in why
    assert too_short(0, WindowConfig(mode=WindowMode.ALL)).startswith(
        "the window keeps 0 of 0 frames (mode all), expected at least 1")
