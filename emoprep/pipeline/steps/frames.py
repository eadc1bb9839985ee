"""Stage ``frames``: eye-based alignment of the kept frames into the HDF5 frame shard, with
their geometry and head pose.

The shard holds no subject or labels: those are metadata, written by the index rebuild into
``frames.h5`` (``table`` and the attributes of ``videos/<id>``) from the current manifest.
"""

from __future__ import annotations

from pathlib import Path, PurePosixPath
from typing import TYPE_CHECKING, Any

import numpy as np

from emoprep.errors import StoreError
from emoprep.io.layout import Layout
from emoprep.pipeline.stagedef import PlanContext, StageDef, UnitTask, distributions
from emoprep.pipeline.steps.shared import (
    FrameCounter,
    RowBlocks,
    aligned_crops,
    load_geometry,
    load_probe,
)
from emoprep.stages.window import WindowMode
from emoprep.types import FrameStatus, Geometry, ProbeInfo, VideoEntry

if TYPE_CHECKING:
    from emoprep.io.hdf5 import ShardWriter


def _kept(task: UnitTask, layout: Layout, geom: Geometry) -> tuple[Geometry, dict[str, Any]]:
    """The tracked frames that go into the store: all, or the AU-trimmed range."""
    if task.stages.window.mode is not WindowMode.AU_TRIM:
        return geom, {}
    from emoprep.io.hdf5 import read_arrays

    path = layout.au_shard(task.entry.video_id)
    _, attrs = read_arrays(path, ())
    try:
        start, end = int(attrs["trim_start"]), int(attrs["trim_end"])
    except KeyError as exc:
        raise StoreError(f"shard {path}: attribute {exc} missing; it is rebuilt by the next run") \
            from exc
    return geom.subset(slice(start, end)), {"trim_start": start, "trim_end": end,
                                            "anomaly": bool(attrs.get("anomaly", False))}


def run(task: UnitTask, layout: Layout) -> tuple[list[Path], dict[str, Any]]:
    from emoprep.io.hdf5 import ShardWriter
    from emoprep.stages.align import align_geometry

    vid, s, e = task.entry.video_id, task.stages, task.entry
    info = load_probe(layout, vid)
    geom, trim = _kept(task, layout, load_geometry(layout, vid))
    matrices = align_geometry(geom, s.align).astype(np.float32)
    T, S = len(geom), s.align.size
    path = layout.frames_shard(vid)
    with ShardWriter(path, shard_attrs(task, info, trim), s.store) as w:
        rows = RowBlocks(w.stream("frames", (T, S, S, 3), np.uint8))
        counter = FrameCounter(task.progress)
        for crop in aligned_crops(e, geom, matrices, s.align):
            rows.add(crop)
            counter()
        rows.flush()
        counter.flush()
        return [path], write_tables(w, geom, matrices, info)


def shard_attrs(task: UnitTask, info: ProbeInfo, trim: dict[str, Any]) -> dict[str, Any]:
    """Attributes of a video's frame shard (docs/STORE.md); no subject or labels (metadata)."""
    e, s = task.entry, task.stages
    return {"video_id": e.video_id, "source": e.path,
            "content_hash": info.content_hash, "fps": info.fps, "width": info.width,
            "height": info.height, "n_source_frames": info.n_frames, "crop_size": s.align.size,
            "channel_order": "RGB", "window_mode": s.window.mode.value,
            "fingerprint": task.fingerprint, "fingerprints": task.upstream, **trim}


def write_tables(w: ShardWriter, geom: Geometry, matrices: np.ndarray, info: ProbeInfo
                 ) -> dict[str, Any]:
    """The per-frame arrays after the crops: the geometry, (T, 2, 3) float32 align matrices and
    (T, 3) float32 head pose (yaw, pitch, roll, degrees; NaN without a face); the summary."""
    from emoprep.stages.headpose import head_pose

    for name, arr in geom.as_arrays().items():
        w.array(name, arr)
    w.array("align_matrix", matrices)
    w.array("head_pose", head_pose(geom.landmarks, info.width, info.height))
    return {"n_frames": len(geom), "n_face": int(FrameStatus.has_face(geom.status).sum())}


def upstream(c: Any) -> tuple[str, ...]:
    """``au`` feeds ``frames`` only in ``window.mode: au_trim``."""
    return ("track", "au") if c.window.mode is WindowMode.AU_TRIM else ("track",)


def inputs(v: VideoEntry, ctx: PlanContext) -> dict[str, Any]:
    """Nothing besides the upstream results: subject and labels are metadata, kept in the index
    files (and splits, exports) only, so changing a label re-runs no video stage."""
    return {}


#: version 2: head pose stored with the geometry; the default crop keeps the chin
STAGE = StageDef(name="frames", run=run, version=2,
                 reads={"align": "align", "store": "store", "window_mode": "window.mode"},
                 upstream=upstream, outputs=(PurePosixPath("frames"),), inputs=inputs,
                 libraries=distributions(cv2="opencv-contrib-python-headless", h5py="h5py"))
