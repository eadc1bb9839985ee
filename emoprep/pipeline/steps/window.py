"""Stage ``window``: which source frames go on (40-90 % window, sub-sampling, or all)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from emoprep.errors import VideoError
from emoprep.io.layout import Layout
from emoprep.io.workfiles import save_npz
from emoprep.pipeline.stagedef import WORK, StageDef, UnitTask
from emoprep.pipeline.steps.shared import load_probe


def run(task: UnitTask, layout: Layout) -> tuple[list[Path], dict[str, Any]]:
    from emoprep.stages.window import select_frames

    info = load_probe(layout, task.entry.video_id)
    idx = select_frames(info.n_frames, info.fps, task.stages.window)
    if idx.size == 0:
        raise VideoError(f"video {task.entry.video_id}: the window keeps 0 of {info.n_frames} "
                         "frames; widen stages.window.start/end")
    path = layout.work("window", task.entry.video_id, ".npz")
    save_npz(path, {"frame_index": idx})
    return [path], {"n_window": int(idx.size)}


STAGE = StageDef(name="window", run=run, version=1, reads={"window": "window"},
                 upstream=("probe",), outputs=(WORK / "window",))
