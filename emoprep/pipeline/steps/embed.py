"""Stages ``embed:<name>`` and ``embed:<name>@<aug>``: features of the aligned crops per embedder
(and per augmentation), one stage per configured embedder."""

from __future__ import annotations

from collections.abc import Iterator
from itertools import islice
from pathlib import Path
from typing import Any

import numpy as np

from emoprep.io.layout import Layout
from emoprep.io.store_config import features_store
from emoprep.pipeline.stagedef import Artifact, Indexed, StageDef, UnitTask
from emoprep.pipeline.steps import frames
from emoprep.stages.instances import built
from emoprep.types import FrameStatus

#: frames embedded per block; features are written block by block (memory: EMBED_BLOCK x D floats)
EMBED_BLOCK = 512


def output(name: str, aug: str | None = None) -> Artifact:
    """The feature shard of embedder ``name`` (of augmentation ``aug``), in ``features/<name>/``
    (``@<aug>/``), linked from the index ``features/<name>.h5``."""
    store = features_store(name)
    if aug:
        return Artifact.shard(store, f"{store}/@{aug}", Indexed.group(store, f"augmented/{aug}/"))
    return Artifact.shard(store, index=Indexed.rows())


def stage_name(name: str, aug: str | None = None) -> str:
    return f"embed:{name}" + (f"@{aug}" if aug else "")


def _landmarks(geo: dict[str, np.ndarray]) -> np.ndarray:
    """(T, 68, 2) float32 landmarks in crop pixels (the stored ones warped by each frame's
    matrix)."""
    from emoprep.stages.align import transform_points

    if not len(geo["status"]):
        return np.zeros((0, 68, 2), np.float32)
    return np.stack([transform_points(p, m)
                     for p, m in zip(geo["landmarks"], geo["align_matrix"], strict=True)])


def _augmented(crops: Iterator[np.ndarray], aug: Any, seed: int, video_id: str
               ) -> Iterator[np.ndarray]:
    """Augment frame by frame; the random stream of frame i depends only on (seed, video, aug,
    i)."""
    from emoprep.stages.embed.augment import augment_frames

    for i, crop in enumerate(crops):
        yield augment_frames(crop[None], aug, seed, f"{video_id}#{i}")[0]


def _frames_of(layout: Layout, vid: str, landmarks: bool
               ) -> tuple[dict[str, np.ndarray], dict[str, Any], Iterator[np.ndarray]]:
    """(arrays, attributes, crops) of the item's frame output: what ``frames`` kept when it ran
    in this job (a short item: :class:`~emoprep.pipeline.steps.frames.Kept`), else read from
    the store (``landmarks``: also the landmarks and align matrices)."""
    from emoprep.pipeline.driver import job_value

    kept = job_value("frames")
    if isinstance(kept, frames.Kept):
        return kept.arrays, {"crop_size": kept.crop_size}, iter(kept.crops)
    lm_keys = ("landmarks", "align_matrix") if landmarks else ()
    geo, stored = layout.io.read_arrays(frames.OUTPUT, vid, ("status", "frame_index", *lm_keys))
    return geo, stored, layout.io.iter_dataset(frames.OUTPUT, vid, "frames")


def run(task: UnitTask, layout: Layout) -> tuple[list[Path], dict[str, Any]]:
    from emoprep.stages.embed import augment as aug_mod
    from emoprep.stages.embed.base import embed_frames

    vid, name, aug = task.entry.video_id, task.embedder, task.augmentation
    assert name is not None
    ecfg = task.stages.embed[name]
    geo, stored, crops = _frames_of(layout, vid, ecfg.needs_landmarks)
    mask = FrameStatus.has_face(geo["status"])
    lms = _landmarks(geo) if ecfg.needs_landmarks else None
    if aug:
        augmentation = aug_mod.Augmentation(aug)
        crops = _augmented(crops, augmentation, task.stages.augment.seed, vid)
        if lms is not None:
            lms = aug_mod.augment_landmarks(lms, augmentation, int(stored["crop_size"]))
    embedder = built(ecfg)  # once per worker process
    attrs = {**embedder.attrs(), "embedder": name, "video_id": vid, "augmentation": aug or "",
             "fingerprint": task.fingerprint, "frames_fingerprint": task.upstream.get("frames", "")}
    T, batch = len(mask), getattr(ecfg, "batch_size", 64)
    with layout.io.writer(output(name, aug), vid, attrs) as w:
        ds = w.stream("features", (T, embedder.dim), np.float32, rows=64)
        for lo in range(0, T, EMBED_BLOCK):  # bounded memory: (EMBED_BLOCK, D) at a time
            hi = min(T, lo + EMBED_BLOCK)
            ds[lo:hi] = embed_frames(embedder, islice(crops, hi - lo),
                                     None if lms is None else lms[lo:hi], mask[lo:hi], batch)
        w.array("mask", mask.astype(np.uint8))
        w.array("frame_index", geo["frame_index"])
    return [w.path], {"dim": int(embedder.dim), "n_frames": int(T)}


def _stage(name: str, ecfg: Any, aug: str | None) -> StageDef:
    reads: dict[str, Any] = {"embed": f"embed.{name}"}
    if aug:
        reads["augment"] = lambda c: {"name": aug, "seed": c.augment.seed}
    return StageDef(name=stage_name(name, aug), run=run, version=ecfg.version, reads=reads,
                    upstream=("frames",), outputs=(output(name, aug),),
                    libraries=lambda c: c.embed[name].library_versions(),
                    models=lambda c: c.embed[name].model_files(), embedder=name, augmentation=aug)


def stages(c: Any) -> list[StageDef]:
    """One stage per configured embedder, and one per (embedder, augmentation)."""
    defs = []
    for name, ecfg in sorted(c.embed.items()):
        defs.append(_stage(name, ecfg, None))
        defs += [_stage(name, ecfg, aug.value) for aug in c.augment.names]
    return defs
