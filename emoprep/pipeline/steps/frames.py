"""Stage ``frames``: eye-based alignment of the kept frames into the HDF5 frame shard, with
their geometry and head pose.

The shard holds no subject or labels: those are metadata, written by the index rebuild into
``frames.h5`` (``table`` and the attributes of ``videos/<id>``) from the current manifest.
"""

from __future__ import annotations

from collections import deque
from contextlib import ExitStack
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np

from emoprep.errors import StoreError, VideoError
from emoprep.io.layout import Layout
from emoprep.io.store_config import FRAMES_STORE
from emoprep.pipeline.stagedef import (
    REDO,
    Artifact,
    FrameConsumer,
    FrameNeed,
    Indexed,
    Outputs,
    PassContext,
    PlanContext,
    Redo,
    Reported,
    StageDef,
    UnitTask,
    distributions,
)
from emoprep.pipeline.steps import au
from emoprep.pipeline.steps.probe import load_probe
from emoprep.pipeline.steps.shared import RowBlocks, load_geometry
from emoprep.pipeline.steps.window import load_window
from emoprep.stages.window import WindowMode
from emoprep.types import FrameStatus, Geometry, ProbeInfo, VideoEntry

if TYPE_CHECKING:
    from emoprep.io.layout import ItemWriter


def _kept(task: UnitTask, layout: Layout, geom: Geometry) -> tuple[Geometry, dict[str, Any]]:
    """The tracked frames that go into the store: all, or the AU-trimmed range."""
    if task.stages.window.mode is not WindowMode.AU_TRIM:
        return geom, {}
    vid = task.entry.video_id
    _, attrs = layout.io.read_arrays(au.OUTPUT, vid, ())
    try:
        start, end = int(attrs["trim_start"]), int(attrs["trim_end"])
    except KeyError as exc:
        raise StoreError(f"AU output of {vid}: attribute {exc} missing; it is rebuilt by the "
                         "next run") from exc
    return geom.subset(slice(start, end)), {"trim_start": start, "trim_end": end,
                                            "anomaly": bool(attrs.get("anomaly", False))}


#: the frame store's shard of a video (docs/STORE.md): the rows of ``frames.h5``
OUTPUT = Artifact.shard(FRAMES_STORE, index=Indexed.rows())
#: an item of at most this many frames keeps its crops for the embedders of its job (<= 23 MB
#: at 160x160), which then read nothing back from the store
KEEP_FRAMES = 300


@dataclass
class Kept:
    """What ``frames`` wrote for a short item, its consumer's value after ``finish``: the T crops
    (S, S, 3) uint8 RGB, the per-frame ``status``, ``frame_index``, ``landmarks`` and
    ``align_matrix`` arrays as stored, and ``crop_size`` (S)."""

    crops: list[np.ndarray]
    arrays: dict[str, np.ndarray]
    crop_size: int


class Frames(FrameConsumer):
    """Alignment in the frame pass: each frame is warped once its track row is final and the crop
    goes into the shard block by block; only the frames whose row may still change are held.

    Fed beside ``track`` the rows come from the live tracker; otherwise from the finished
    geometry (the AU-trimmed range in ``window.mode: au_trim``, whose ``whole_first`` keeps this
    stage out of the tracking pass). When the tracker ended with fewer rows than the window
    planned (the video decoded short), ``finish`` asks for another pass on the final rows.
    """

    def begin(self, ctx: PassContext) -> FrameNeed:
        vid, s = self.task.entry.video_id, self.task.stages
        self.info = ctx.value("probe") or load_probe(self.layout, vid)
        trim: dict[str, Any] = {}
        if ctx.streaming("track"):
            window = ctx.value("window")
            self.rows: Any = ctx.value("track")
            self.expected: np.ndarray | None = None
            idx = window if window is not None else load_window(self.layout, vid)
        else:
            tracked = ctx.value("track")
            geom, trim = _kept(self.task, self.layout, tracked if tracked is not None
                               else load_geometry(self.layout, vid))
            self.rows, self.expected, idx = _Settled(geom), geom.frame_index, geom.frame_index
        self.T, self.next, self.held = len(idx), 0, deque[np.ndarray]()
        self.matrices = np.full((self.T, 2, 3), np.nan, np.float32)
        self.blank = np.zeros((s.align.size, s.align.size, 3), np.uint8)
        self.stack = ExitStack()
        self.w = self.stack.enter_context(self.layout.io.writer(
            OUTPUT, vid, shard_attrs(self.task, self.info, trim), s.store))
        self.path = self.w.path
        self.blocks = RowBlocks(self.w.stream("frames", (self.T, s.align.size, s.align.size, 3),
                                              np.uint8))
        self.kept: list[np.ndarray] | None = [] if self.T <= KEEP_FRAMES else None
        return FrameNeed(idx)

    def push(self, index: int, frame: np.ndarray) -> None:
        if self.expected is not None:
            k = self.next + len(self.held)
            if k >= self.T or index != self.expected[k]:
                want = self.expected[k] if k < self.T else "none"
                raise VideoError(f"video {self.task.entry.video_id}: frame {index} decoded where "
                                 f"{want} was expected")
        self.held.append(frame)
        self._emit(self.rows.settled)

    def _emit(self, upto: int) -> None:
        from emoprep.stages.align import align_face, row_matrix

        cfg = self.task.stages.align
        while self.next < min(upto, self.T) and self.held:
            status, box, lm = self.rows.row(self.next)
            frame, crop = self.held.popleft(), self.blank
            if FrameStatus.has_face(status):
                m = self.matrices[self.next] = row_matrix(box, lm, cfg)
                if np.isfinite(m).all():
                    crop = align_face(frame, m, cfg)
            self.blocks.add(crop)
            if self.kept is not None:
                self.kept.append(crop)
            self.next += 1

    def finish(self, ctx: PassContext) -> Outputs | Redo:
        geom = self.rows.geometry if isinstance(self.rows, _Settled) else ctx.value("track")
        if self.expected is None and len(geom) != self.T:
            return REDO  # the video decoded short: warp the rows the tracker did fill
        self._emit(len(geom))
        if self.next != self.T:
            raise VideoError(f"video {self.task.entry.video_id}: decoding stopped at "
                             f"{self.next} of {self.T} frames (the file changed or is truncated)")
        self.blocks.flush()
        summary = write_tables(self.w, geom, self.matrices, self.info)
        self.stack.close()  # the shard is in place once the writer has closed
        if self.kept is not None:
            self.value = Kept(self.kept, {"status": geom.status, "frame_index": geom.frame_index,
                                          "landmarks": geom.landmarks,
                                          "align_matrix": self.matrices},
                              self.task.stages.align.size)
        return [self.path], summary

    def abort(self) -> None:
        stack = getattr(self, "stack", None)
        if stack is not None:
            stack.__exit__(RuntimeError, RuntimeError("pass given up"), None)


class _Settled:
    """The rows of a finished geometry, read like the live tracker's (all settled)."""

    def __init__(self, geometry: Geometry) -> None:
        self.geometry, self.settled = geometry, len(geometry)

    def row(self, k: int) -> tuple[int, np.ndarray, np.ndarray]:
        g = self.geometry
        return g.status[k], g.boxes[k], g.landmarks[k]


def shard_attrs(task: UnitTask, info: ProbeInfo, trim: dict[str, Any]) -> dict[str, Any]:
    """Attributes of a video's frame shard (docs/STORE.md); no subject or labels (metadata)."""
    e, s = task.entry, task.stages
    return {"video_id": e.video_id, "source": e.path,
            "content_hash": info.content_hash, "fps": info.fps, "width": info.width,
            "height": info.height, "n_source_frames": info.n_frames, "crop_size": s.align.size,
            "channel_order": "RGB", "window_mode": s.window.mode.value,
            "fingerprint": task.fingerprint, "fingerprints": task.upstream, **trim}


def write_tables(w: ItemWriter, geom: Geometry, matrices: np.ndarray, info: ProbeInfo
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


def whole_first(c: Any) -> tuple[str, ...]:
    """In ``window.mode: au_trim`` the kept rows are known only once tracking has finished."""
    return ("track",) if c.window.mode is WindowMode.AU_TRIM else ()


#: version 2: head pose stored with the geometry; the default crop keeps the chin
STAGE = StageDef(name="frames", consumer=Frames, whole_first=whole_first, version=2,
                 reads={"align": "align", "store": "store", "window_mode": "window.mode"},
                 upstream=upstream, outputs=(OUTPUT,), report=Reported(face_counts=True),
                 inputs=inputs,
                 libraries=distributions(cv2="opencv-contrib-python-headless", h5py="h5py"))
