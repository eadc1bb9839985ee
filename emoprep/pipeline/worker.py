"""Worker side: run one (stage, video) unit and return a picklable :class:`UnitResult`.

A task holds only plain data (paths, config models, the video entry, the stage's run function
by reference): no open files, no global state, so it can go to a process pool or a dask worker.
"""

from __future__ import annotations

import os
import time
import traceback
from pathlib import Path

from emoprep.errors import EmoprepError
from emoprep.io.layout import Layout
from emoprep.pipeline.stagedef import UnitResult, UnitTask

#: frames of a crash traceback kept in the record: the innermost ones, where it was raised
TRACEBACK_FRAMES = 6


def init_worker() -> None:
    """One thread per worker process: parallelism comes from running videos side by side."""
    import cv2

    cv2.setNumThreads(1)
    os.environ.setdefault("OMP_NUM_THREADS", "1")


def execute(task: UnitTask) -> UnitResult:
    """Run one unit; every error becomes a failed result (the coordinator records it)."""
    t0 = time.perf_counter()
    layout = Layout(Path(task.out))
    vid = task.entry.video_id
    try:
        outputs, summary = task.run(task, layout)
        return UnitResult(task.stage, vid, True, [layout.rel(p) for p in outputs], summary,
                          seconds=time.perf_counter() - t0)
    except EmoprepError as exc:
        return UnitResult(task.stage, vid, False, error=str(exc), error_type=type(exc).__name__,
                          seconds=time.perf_counter() - t0)
    except Exception as exc:  # unexpected: keep where it was raised, let other units go on
        tb = traceback.format_exc(limit=-TRACEBACK_FRAMES)
        return UnitResult(task.stage, vid, False, error=f"{type(exc).__name__}: {exc}\n{tb}",
                          error_type=type(exc).__name__, seconds=time.perf_counter() - t0)
