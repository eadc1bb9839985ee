"""What several stage runners share: reading upstream work files, writing rows in blocks."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import numpy as np

from emoprep.errors import VideoError
from emoprep.io.layout import Layout
from emoprep.io.video import iter_frames
from emoprep.pipeline.steps.track import OUTPUT as TRACK_OUTPUT
from emoprep.stages.align import AlignConfig
from emoprep.types import FrameStatus, Geometry, VideoEntry


class RowBlocks:
    """Writes rows (S, S, 3) into dataset ``ds`` (T, S, S, 3) ``block`` rows at a time (one h5py
    call per block instead of per frame; the chunking of the dataset is unchanged)."""

    def __init__(self, ds: Any, block: int = 32) -> None:
        self.ds, self.block, self.start = ds, block, 0
        self.rows: list[np.ndarray] = []

    def add(self, row: np.ndarray) -> None:
        self.rows.append(row)
        if len(self.rows) >= self.block:
            self.flush()

    def flush(self) -> None:
        if self.rows:
            self.ds[self.start:self.start + len(self.rows)] = np.stack(self.rows)
            self.start += len(self.rows)
            self.rows = []


def load_geometry(layout: Layout, video_id: str) -> Geometry:
    """The track output of ``video_id``: the geometry ``track`` finished with in the same job
    (:func:`~emoprep.pipeline.driver.job_value`), else read from its work file or pack."""
    from emoprep.pipeline.driver import job_value

    geom = job_value("track")
    if isinstance(geom, Geometry):
        return geom
    return Geometry.from_arrays(layout.io.load_npz(TRACK_OUTPUT, video_id,
                                         tuple(Geometry.__dataclass_fields__)))


def aligned_crops(entry: VideoEntry, geom: Geometry, matrices: np.ndarray,
                  cfg: AlignConfig) -> Iterator[np.ndarray]:
    """Aligned RGB crops (S, S, 3) uint8 for every frame of ``geom``; zeros where no face."""
    from emoprep.stages.align import align_face

    face = FrameStatus.has_face(geom.status)
    blank = np.zeros((cfg.size, cfg.size, 3), np.uint8)
    n = 0
    for (idx, frame), has, m in zip(iter_frames(entry, geom.frame_index), face, matrices,
                                    strict=False):
        if idx != geom.frame_index[n]:
            raise VideoError(f"video {entry.video_id}: frame {idx} decoded where "
                             f"{geom.frame_index[n]} was expected")
        yield align_face(frame, m, cfg) if has and np.isfinite(m).all() else blank
        n += 1
    if n != len(geom):
        raise VideoError(f"video {entry.video_id}: decoding stopped at {n} of {len(geom)} frames "
                         "(the file changed or is truncated)")
