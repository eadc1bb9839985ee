"""Worker side: run one (stage, video) unit. Loads upstream results, calls the stage functions,
writes the outputs atomically, and returns a picklable :class:`UnitResult`.

A task holds only plain data (paths, config models, the video entry): no open files, no global
state, so it can go to a process pool or a dask worker.
"""

from __future__ import annotations

import json
import os
import time
import traceback
from collections.abc import Callable, Iterator
from dataclasses import asdict, dataclass, field
from itertools import islice
from pathlib import Path
from typing import Any

import numpy as np

from emoprep.errors import EmoprepError, NoFaceError, VideoError
from emoprep.pipeline.config import StagesConfig
from emoprep.io.layout import Layout
from emoprep.pipeline.records import atomic_write_text
from emoprep.io.hdf5 import ShardWriter, iter_shard_dataset, read_arrays, write_arrays
from emoprep.types import FrameStatus, Geometry, ProbeInfo, VideoEntry
from emoprep.io.video import iter_frames

#: frames embedded per block; features are written block by block (memory: EMBED_BLOCK x D floats)
EMBED_BLOCK = 512


@dataclass(frozen=True)
class UnitTask:
    stage: str
    entry: VideoEntry
    stages: StagesConfig
    out: str
    root: str
    fingerprint: str
    upstream: dict[str, str] = field(default_factory=dict)
    override: tuple[int, int] | None = None
    progress: Any = None  #: a queue (or None) that receives frame counts, for the frames bar


class FrameCounter:
    """Counts frames and puts the count on the progress queue every ``every`` frames."""

    def __init__(self, queue: Any, every: int = 25) -> None:
        self.queue, self.every, self.pending = queue, every, 0

    def __call__(self, n: int = 1) -> None:
        self.pending += n
        if self.queue is not None and self.pending >= self.every:
            self.flush()

    def flush(self) -> None:
        if self.queue is not None and self.pending:
            self.queue.put(self.pending)
        self.pending = 0


@dataclass
class UnitResult:
    stage: str
    video_id: str
    ok: bool
    outputs: list[str] = field(default_factory=list)
    summary: dict[str, Any] = field(default_factory=dict)
    error: str = ""
    error_type: str = ""
    seconds: float = 0.0


def init_worker() -> None:
    """One thread per worker process: parallelism comes from running videos side by side."""
    import cv2

    cv2.setNumThreads(1)
    os.environ.setdefault("OMP_NUM_THREADS", "1")


def execute(task: UnitTask) -> UnitResult:
    """Run one unit; every error becomes a failed result (the coordinator records it)."""
    t0 = time.perf_counter()
    layout = Layout(Path(task.out))
    base = task.stage.split(":", 1)[0]
    try:
        outputs, summary = RUNNERS[base](task, layout)
        return UnitResult(task.stage, task.entry.video_id, True, [layout.rel(p) for p in outputs],
                          summary, seconds=time.perf_counter() - t0)
    except EmoprepError as exc:
        return UnitResult(task.stage, task.entry.video_id, False, error=str(exc),
                          error_type=type(exc).__name__, seconds=time.perf_counter() - t0)
    except Exception as exc:  # unexpected: keep the traceback in the record, let other units go on
        tb = traceback.format_exc(limit=6)
        return UnitResult(task.stage, task.entry.video_id, False, error=f"{type(exc).__name__}: {exc}\n{tb}",
                          error_type=type(exc).__name__, seconds=time.perf_counter() - t0)


# -- small intermediate results ------------------------------------------------------------------

def save_npz(path: Path, arrays: dict[str, np.ndarray]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.stem}.{os.getpid()}.tmp.npz")
    np.savez(tmp, **arrays)
    os.replace(tmp, path)


def load_probe(layout: Layout, video_id: str) -> ProbeInfo:
    return ProbeInfo(**json.loads(layout.work("probe", video_id, ".json").read_text()))


def load_geometry(layout: Layout, video_id: str) -> Geometry:
    with np.load(layout.work("track", video_id, ".npz")) as z:
        return Geometry.from_arrays(dict(z))


# -- stage runners -------------------------------------------------------------------------------

def run_probe(task: UnitTask, layout: Layout) -> tuple[list[Path], dict[str, Any]]:
    from emoprep.stages.probe import probe_video

    content = task.upstream.get("content", "")
    info = probe_video(task.entry, content, task.stages.probe)
    path = layout.work("probe", task.entry.video_id, ".json")
    atomic_write_text(path, json.dumps(asdict(info)))
    return [path], {"n_frames": info.n_frames, "fps": round(info.fps, 3), "size": f"{info.width}x{info.height}",
                    "codec": info.codec}


def run_window(task: UnitTask, layout: Layout) -> tuple[list[Path], dict[str, Any]]:
    from emoprep.stages.window import select_frames

    info = load_probe(layout, task.entry.video_id)
    idx = select_frames(info.n_frames, info.fps, task.stages.window)
    if idx.size == 0:
        raise VideoError(f"video {task.entry.video_id}: the window keeps 0 of {info.n_frames} frames; "
                         "widen stages.window.start/end")
    path = layout.work("window", task.entry.video_id, ".npz")
    save_npz(path, {"frame_index": idx})
    return [path], {"n_window": int(idx.size)}


def run_track(task: UnitTask, layout: Layout) -> tuple[list[Path], dict[str, Any]]:
    from emoprep.stages.track import track_faces

    vid, s = task.entry.video_id, task.stages
    info = load_probe(layout, vid)
    with np.load(layout.work("window", vid, ".npz")) as z:
        idx = z["frame_index"]
    counter = FrameCounter(task.progress)
    geom = track_faces(iter_frames(task.entry, idx), info.fps, s.detect, s.track, s.landmarks, progress=counter)
    counter.flush()
    if len(geom) == 0:
        raise VideoError(f"video {vid}: no frame could be decoded in the window {idx[0]}-{idx[-1]}")
    face = FrameStatus.has_face(geom.status)
    if not face.any():
        raise NoFaceError(
            f"video {vid}: no face found in frames {int(geom.frame_index[0])}-{int(geom.frame_index[-1])}; "
            f"{s.detect.no_face_hint()}"
        )
    path = layout.work("track", vid, ".npz")
    save_npz(path, geom.as_arrays())
    counts = {FrameStatus(k).name.lower(): int(n) for k, n in zip(*np.unique(geom.status, return_counts=True), strict=False)}
    return [path], {"n_frames": len(geom), "n_face": int(face.sum()), "status": counts}


def _aligned_crops(entry: VideoEntry, geom: Geometry, matrices: np.ndarray, cfg) -> Iterator[np.ndarray]:
    """Aligned RGB crops (S,S,3) for every frame of ``geom``; zeros where there is no face."""
    from emoprep.stages.align import align_face

    face = FrameStatus.has_face(geom.status)
    blank = np.zeros((cfg.size, cfg.size, 3), np.uint8)
    n = 0
    for (idx, frame), has, m in zip(iter_frames(entry, geom.frame_index), face, matrices, strict=False):
        if idx != geom.frame_index[n]:
            raise VideoError(f"video {entry.video_id}: frame {idx} decoded where {geom.frame_index[n]} was expected")
        yield align_face(frame, m, cfg) if has and np.isfinite(m).all() else blank
        n += 1
    if n != len(geom):
        raise VideoError(f"video {entry.video_id}: decoding stopped at {n} of {len(geom)} frames "
                         "(the file changed or is truncated)")


def run_au(task: UnitTask, layout: Layout) -> tuple[list[Path], dict[str, Any]]:
    from emoprep.stages.align import align_geometry
    from emoprep.stages.au import compute_au
    from emoprep.stages.au.trim import au_trim, override_range, resolve_threshold, trim_score

    vid, s = task.entry.video_id, task.stages
    geom = load_geometry(layout, vid)

    def crops() -> Iterator[np.ndarray]:
        return _aligned_crops(task.entry, geom, align_geometry(geom, s.align), s.align)

    res = compute_au(geom, task.entry, s.au, Path(task.root), crops=crops)
    score = trim_score(res.values, res.names)
    trim = au_trim(score, s.trim, resolve_threshold(s.trim, s.au.source))
    start, end, anomaly = trim.start, trim.end, trim.anomaly
    if task.override is not None:
        start, end = override_range(geom.frame_index, *task.override)
        anomaly = False
    path = layout.au_shard(vid)
    attrs = {"video_id": vid, "au_source": res.source, "trim_start": int(start), "trim_end": int(end),
             "anomaly": bool(anomaly), "trim_threshold": float(trim.threshold), "trim_peak": int(trim.peak),
             "trim_reason": trim.reason, "override": task.override is not None,
             "auto_anomaly": bool(trim.anomaly), "fingerprint": task.fingerprint}
    write_arrays(path, {"au": res.values.astype(np.float32), "names": np.array(res.names, dtype=object).astype(str),
                        "frame_index": geom.frame_index, "trim_score": score.astype(np.float32)}, attrs)
    return [path], {"au_source": res.source, "trim": [int(start), int(end)], "anomaly": bool(anomaly),
                    "override": task.override is not None}


def _kept_geometry(task: UnitTask, layout: Layout, geom: Geometry) -> tuple[Geometry, dict[str, Any]]:
    from emoprep.stages.window import WindowMode

    if task.stages.window.mode is not WindowMode.AU_TRIM:
        return geom, {}
    _, attrs = read_arrays(layout.au_shard(task.entry.video_id), ())
    start, end = int(attrs["trim_start"]), int(attrs["trim_end"])
    return geom.subset(slice(start, end)), {"trim_start": start, "trim_end": end, "anomaly": bool(attrs["anomaly"])}


def run_frames(task: UnitTask, layout: Layout) -> tuple[list[Path], dict[str, Any]]:
    from emoprep.stages.align import align_geometry

    vid, s, e = task.entry.video_id, task.stages, task.entry
    info = load_probe(layout, vid)
    geom, trim = _kept_geometry(task, layout, load_geometry(layout, vid))
    matrices = align_geometry(geom, s.align).astype(np.float32)
    T, S = len(geom), s.align.size
    attrs = {"video_id": vid, "subject": e.subject, "labels": e.labels, "source": e.path,
             "content_hash": info.content_hash, "fps": info.fps, "width": info.width, "height": info.height,
             "n_source_frames": info.n_frames, "crop_size": S, "channel_order": "RGB",
             "window_mode": s.window.mode.value, "fingerprint": task.fingerprint,
             "fingerprints": task.upstream, **trim}
    path = layout.frames_shard(vid)
    with ShardWriter(path, attrs, s.store) as w:
        ds = w.stream("frames", (T, S, S, 3), np.uint8)
        counter = FrameCounter(task.progress)
        for i, crop in enumerate(_aligned_crops(e, geom, matrices, s.align)):
            ds[i] = crop
            counter()
        counter.flush()
        for name, arr in geom.as_arrays().items():
            w.array(name, arr)
        w.array("align_matrix", matrices)
    face = FrameStatus.has_face(geom.status)
    return [path], {"n_frames": T, "n_face": int(face.sum())}


def run_embed(task: UnitTask, layout: Layout) -> tuple[list[Path], dict[str, Any]]:
    from emoprep.pipeline.dag import parse_embed_stage
    from emoprep.stages.align import transform_points
    from emoprep.stages.embed import augment as aug_mod
    from emoprep.stages.embed import base as embed_base

    vid = task.entry.video_id
    name, aug = parse_embed_stage(task.stage)
    ecfg = task.stages.embed[name]
    shard = layout.frames_shard(vid)
    geo, _ = read_arrays(shard, ("status", "landmarks", "align_matrix", "frame_index"))
    mask = FrameStatus.has_face(geo["status"])
    lms = None
    if embed_base.needs_landmarks(ecfg):
        lms = np.stack([transform_points(p, m) for p, m in zip(geo["landmarks"], geo["align_matrix"], strict=True)]) \
            if len(mask) else np.zeros((0, 68, 2), np.float32)
    crops: Iterator[np.ndarray] = iter_shard_dataset(shard, "frames")
    if aug:
        augmentation = aug_mod.Augmentation(aug)
        crops = _augmented(crops, augmentation, task.stages.augment.seed, vid)
        if lms is not None:
            lms = aug_mod.augment_landmarks(lms, augmentation, task.stages.align.size)
    embedder = embed_base.make_embedder(ecfg)
    path = layout.features_shard(name, vid, aug)
    attrs = {**embedder.attrs(), "embedder": name, "video_id": vid, "augmentation": aug or "",
             "fingerprint": task.fingerprint, "frames_fingerprint": task.upstream.get("frames", "")}
    T, batch = len(mask), getattr(ecfg, "batch_size", 64)
    with ShardWriter(path, attrs) as w:
        ds = w.stream("features", (T, embedder.dim), np.float32, rows=64)
        for lo in range(0, T, EMBED_BLOCK):  # bounded memory: (EMBED_BLOCK, D) at a time
            hi = min(T, lo + EMBED_BLOCK)
            ds[lo:hi] = embed_base.embed_frames(embedder, islice(crops, hi - lo),
                                                None if lms is None else lms[lo:hi], mask[lo:hi], batch)
        w.array("mask", mask.astype(np.uint8))
        w.array("frame_index", geo["frame_index"])
    return [path], {"dim": int(embedder.dim), "n_frames": int(T)}


def _augmented(crops: Iterator[np.ndarray], aug, seed: int, video_id: str) -> Iterator[np.ndarray]:
    """Augment frame by frame; the random stream of frame i depends only on (seed, video, aug, i)."""
    from emoprep.stages.embed.augment import augment_frames

    for i, crop in enumerate(crops):
        yield augment_frames(crop[None], aug, seed, f"{video_id}#{i}")[0]


RUNNERS: dict[str, Callable[[UnitTask, Layout], tuple[list[Path], dict[str, Any]]]] = {
    "probe": run_probe,
    "window": run_window,
    "track": run_track,
    "au": run_au,
    "frames": run_frames,
    "embed": run_embed,
}
