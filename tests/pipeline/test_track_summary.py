"""The track step's summary counts frames per status by name, in code order (np.bincount, once per
item): equal to counting them with np.unique, for any mix of codes, empty included."""

from __future__ import annotations

import numpy as np
from hypothesis import given
from hypothesis import strategies as st

from emoprep.pipeline.steps.track import status_counts
from emoprep.types import FrameStatus


def _by_unique(status: np.ndarray) -> dict[str, int]:
    values, counts = np.unique(status, return_counts=True)
    return {FrameStatus(k).name.lower(): int(n) for k, n in zip(values, counts, strict=True)}


@given(st.lists(st.sampled_from([int(s) for s in FrameStatus]), max_size=60))
def test_status_counts_equal_np_unique(codes: list[int]) -> None:
    status = np.array(codes, np.uint8)
    got = status_counts(status)
    assert got == _by_unique(status)
    assert list(got) == list(_by_unique(status))  # the same key order (JSON summaries)


def test_one_detected_frame() -> None:
    assert status_counts(np.array([1], np.uint8)) == {"detected": 1}
