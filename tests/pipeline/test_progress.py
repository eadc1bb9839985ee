"""Progress reporting: frame counts travel from worker processes to the coordinator."""

from __future__ import annotations

from pathlib import Path

import pytest

from emoprep.pipeline.executors import ExecutorKind
from emoprep.pipeline.runner import RunOptions, run
from tests.helpers import CORPUS, write_manifest


@pytest.mark.parametrize(("executor", "workers"), [("local", 0), ("local", 2), ("dask", 2)])
def test_frame_counts_reach_the_coordinator(
    corpus: Path, tmp_path: Path, executor: str, workers: int
) -> None:
    frames: list[int] = []
    told: list[tuple[str, str | None]] = []
    opts = RunOptions(ExecutorKind(executor), workers=workers, on_frames=frames.append,
                      on_executor=lambda d, url: told.append((d, url)))
    rep = run(write_manifest(tmp_path / "m.yaml", corpus), tmp_path / "out", opts=opts)
    tracked = sum(v["n_tracked"] for v in rep.videos)
    aligned = sum(v["n_frames"] for v in rep.videos)
    assert tracked == aligned == 20 * len(CORPUS)  # window 0.4-0.9 of 40 frames
    assert sum(frames) == tracked  # each frame counted once: decoded once, tracked and warped
    expected = {("local", 0): "in-process", ("local", 2): "local, 2 processes",
                ("dask", 2): "dask LocalCluster, 2 workers"}[(executor, workers)]
    assert told and told[0][0] == expected
