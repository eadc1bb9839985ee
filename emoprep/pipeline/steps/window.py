"""Stage ``window``: which source frames go on (40-90 % window, sub-sampling, or all)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from emoprep.errors import VideoError
from emoprep.io.layout import Layout
from emoprep.io.workfiles import save_npz
from emoprep.pipeline.stagedef import WORK, StageDef, UnitTask
from emoprep.pipeline.steps.shared import load_probe
from emoprep.types import ProbeInfo


def run(task: UnitTask, layout: Layout) -> tuple[list[Path], dict[str, Any]]:
    return save(task, layout, frame_index(task, load_probe(layout, task.entry.video_id)))


def frame_index(task: UnitTask, info: ProbeInfo) -> np.ndarray:
    """(K,) int64 source frame numbers the window keeps; VideoError when it keeps none (an item
    shorter than the window can serve: a single image, a 1-frame clip)."""
    from emoprep.stages.window import select_frames, too_short

    idx = select_frames(info.n_frames, info.fps, task.stages.window)
    if idx.size == 0:
        why = too_short(info.n_frames, task.stages.window)
        raise VideoError(f"video {task.entry.video_id}: {why}")
    return idx


def save(task: UnitTask, layout: Layout, idx: np.ndarray) -> tuple[list[Path], dict[str, Any]]:
    path = layout.work("window", task.entry.video_id, ".npz")
    save_npz(path, {"frame_index": idx})
    return [path], {"n_window": int(idx.size)}


STAGE = StageDef(name="window", run=run, version=1, reads={"window": "window"},
                 upstream=("probe",), outputs=(WORK / "window",))
