"""Progress reporting: frame counts travel from worker processes to the coordinator."""

from __future__ import annotations

from pathlib import Path

import pytest

from emoprep.pipeline.runner import RunOptions, run
from tests.conftest import CORPUS, write_manifest


@pytest.mark.parametrize("workers", [0, 2])
def test_frame_counts_reach_the_coordinator(corpus: Path, tmp_path: Path, workers: int) -> None:
    frames: list[int] = []
    told: list[tuple[str, str | None]] = []
    opts = RunOptions(workers=workers, on_frames=frames.append, on_executor=lambda d, url: told.append((d, url)))
    rep = run(write_manifest(tmp_path / "m.yaml", corpus), tmp_path / "out", opts=opts)
    tracked = sum(v["n_tracked"] for v in rep.videos)
    aligned = sum(v["n_frames"] for v in rep.videos)
    assert tracked == aligned == 20 * len(CORPUS)  # window 0.4-0.9 of 40 frames
    assert sum(frames) == tracked + aligned
    assert told and told[0][0] == ("in-process" if workers == 0 else "local, 2 processes")
