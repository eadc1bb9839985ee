"""Stage ``window``: which source frames go on (40-90 % window, sub-sampling, or all)."""

from __future__ import annotations

import numpy as np

from emoprep.errors import VideoError
from emoprep.io.layout import Layout
from emoprep.pipeline.stagedef import (
    Artifact,
    FrameConsumer,
    FrameNeed,
    Outputs,
    PassContext,
    StageDef,
    UnitTask,
)
from emoprep.pipeline.steps.probe import load_probe
from emoprep.types import ProbeInfo

#: (K,) int64 ``frame_index``: the source frame numbers the window keeps
OUTPUT = Artifact.work("window", ".npz")


class Window(FrameConsumer):
    """The window in the frame pass: planned from the probe's count before any frame is decoded;
    ``value``: (K,) int64 source frame numbers. Reads no frame itself."""

    def begin(self, ctx: PassContext) -> FrameNeed:
        info = ctx.value("probe") or load_probe(self.layout, self.task.entry.video_id)
        self.value = frame_index(self.task, info)
        return FrameNeed()

    def finish(self, ctx: PassContext) -> Outputs:
        path = self.layout.io.save_npz(OUTPUT, self.task.entry.video_id,
                                       {"frame_index": self.value})
        return [path], {"n_window": int(self.value.size)}


def frame_index(task: UnitTask, info: ProbeInfo) -> np.ndarray:
    """(K,) int64 source frame numbers the window keeps; VideoError when it keeps none (an item
    shorter than the window can serve: a single image, a 1-frame clip)."""
    from emoprep.stages.window import select_frames, too_short

    idx = select_frames(info.n_frames, info.fps, task.stages.window)
    if idx.size == 0:
        why = too_short(info.n_frames, task.stages.window)
        raise VideoError(f"video {task.entry.video_id}: {why}")
    return idx


def load_window(layout: Layout, video_id: str) -> np.ndarray:
    """(K,) int64: the window output of a video."""
    return layout.io.load_npz(OUTPUT, video_id, ("frame_index",))["frame_index"]


STAGE = StageDef(name="window", consumer=Window, version=1, reads={"window": "window"},
                 upstream=("probe",), outputs=(OUTPUT,))
