"""Frame-level training data: single aligned crops from a run's frame store, each labelled by its
video's label, and the per-video aggregation of per-frame predictions.

A :class:`FrameSet` holds M crops (M, S, S, 3) uint8 RGB of N videos; ``video_of`` (M,) maps each
crop to its video (0..N-1). Per video, at most ``per_video`` frames are kept, evenly spaced over
the frames where a face was found (:func:`emoprep.data.keep_index`); videos without a face frame
or without the task label are left out of every part, as :func:`emoprep.data.load_sequences`
does. Parts come from the split manifest (subject-independent folds): :meth:`FrameSet.part` gives
a part's crop indices. Video metrics use the mean of the per-frame softmax probabilities
(:func:`video_probs`).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, cast

import numpy as np

from emoprep.data import FRAMES, Folds, Item, StoreReader, keep_index, resolve_split, select
from emoprep.errors import ConfigError
from emoprep.pipeline.fingerprint import digest
from emoprep.pipeline.manifest.labels import resolve_task
from emoprep.types import FrameStatus, Part

if TYPE_CHECKING:
    from emoprep.io.reader import FrameStore


@dataclass
class FrameSet:
    """M crops of N videos. ``crops`` (M, S, S, 3) uint8 RGB; ``video_of`` (M,) int64 in 0..N-1;
    ``labels`` (N,) int64 indexing ``classes``; ``video_ids``, ``subjects`` (N,) str;
    ``folds``: the split's parts as indices into the N videos."""

    crops: np.ndarray
    video_of: np.ndarray
    labels: np.ndarray
    classes: list[str]
    task: str
    video_ids: np.ndarray
    subjects: np.ndarray
    folds: Folds

    @property
    def frame_labels(self) -> np.ndarray:
        """(M,) int64: each crop's video label."""
        return self.labels[self.video_of]

    def frames_of(self, videos: np.ndarray) -> np.ndarray:
        """(m,) int64 crop indices of the given video indices, in crop order."""
        return np.flatnonzero(np.isin(self.video_of, np.asarray(videos, np.int64)))

    def part(self, fold: int | None, part: Part) -> np.ndarray:
        """Video indices of a part: ``train``/``val`` of ``fold``, or ``test``; ``fold`` None
        with ``train``: every video not in the test part (a final model)."""
        if part is Part.TEST:
            return self.folds.test
        if fold is None:
            if part is not Part.TRAIN:
                raise ValueError("a final model has no validation part")
            return np.setdiff1d(np.arange(len(self.labels)), self.folds.test)
        train, val = self.folds.folds[fold]
        return train if part is Part.TRAIN else val


def load_frames(out: str | Path, split: str | None = None, task: str | None = None,
                per_video: int | None = 16) -> FrameSet:
    """The crops of every video of ``split``'s parts with a ``task`` label (default: the store's
    default task); at most ``per_video`` face frames per video (None: all of them)."""
    from emoprep.data import _folds

    reader = StoreReader(out, FRAMES)
    sf = resolve_split(reader, split)
    sel = select(reader, sf.name, None, Part.ALL)
    name = resolve_task(task, sel.classes, sel.default_task)
    if not name:
        raise ConfigError("task", [f"task: expected a label key ({', '.join(sel.classes)}), got "
                                   "nothing and the store has no default task (fix: --task)"])
    store = cast("FrameStore", reader.store)
    crops: list[np.ndarray] = []
    video_of: list[np.ndarray] = []
    kept: list[Item] = []
    for it in (i for i in sel.items if name in i.labels):
        faces = np.flatnonzero(FrameStatus.has_face(store.meta(it.video_id)["status"]))
        if len(faces) == 0:
            continue
        pick = faces[keep_index(len(faces), per_video)]
        crops.append(store.frames(it.video_id, pick))
        video_of.append(np.full(len(pick), len(kept), np.int64))
        kept.append(it)
    if not kept:
        raise ConfigError("frames", [f"frame store of {out}: no video of split {sf.name!r} has a "
                                     f"face frame and a {name!r} label; run `emoprep run` first"])
    classes = list(sel.classes[name])
    labels = np.array([classes.index(it.labels[name]) for it in kept], np.int64)
    key = {"split": sf.data.get("fingerprint", ""), "task": name, "per_video": per_video,
           "labels": [[it.video_id, it.labels[name]] for it in kept]}
    return FrameSet(np.concatenate(crops), np.concatenate(video_of), labels, classes, name,
                    np.array([it.video_id for it in kept], dtype=str),
                    np.array([it.subject for it in kept], dtype=str),
                    _folds(sf, [it.video_id for it in kept], digest(key)))


def video_probs(probs: np.ndarray, video_of: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Mean of per-frame probabilities per video: (m, K), (m,) video index -> the videos present
    (V,) sorted, and their (V, K) mean probabilities."""
    videos, inverse = np.unique(video_of, return_inverse=True)
    sums = np.zeros((len(videos), probs.shape[1]), np.float64)
    np.add.at(sums, inverse, probs)
    counts = np.bincount(inverse, minlength=len(videos))[:, None]
    return videos, sums / counts


def frame_video_scores(probs: np.ndarray, frames: np.ndarray, fs: FrameSet) -> dict[str, float]:
    """``frame_accuracy`` (share of crops right), ``video_accuracy`` (share of videos whose mean
    probability is right) and the counts, for crops ``frames`` with (m, K) ``probs``."""
    vof = fs.video_of[frames]
    videos, vp = video_probs(probs, vof)
    return {"frame_accuracy": float((probs.argmax(1) == fs.labels[vof]).mean()),
            "video_accuracy": float((vp.argmax(1) == fs.labels[videos]).mean()),
            "frames": int(len(frames)), "videos": int(len(videos))}
