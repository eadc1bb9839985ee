"""Frame-level training data: single aligned crops from a run's frame store, each labelled by its
video's label, and the per-video aggregation of per-frame predictions.

A :class:`FrameSet` holds M crops (M, S, S, 3) uint8 RGB of N videos; ``video_of`` (M,) maps each
crop to its video (0..N-1). Per video, at most ``per_video`` frames are kept, evenly spaced over
the frames where a face was found (:func:`emoprep.data.keep_index`); videos without a face frame
or without the task label are left out of every part, as :func:`emoprep.data.load_sequences`
does. Parts come from the split manifest (subject-independent folds): :meth:`FrameSet.part` gives
a part's crop indices. Video metrics use the mean of the per-frame softmax probabilities
(:func:`video_probs`).

``task="multitask"`` (the SASE-FE protocol, 000 §3.2) loads the videos with both an ``emotion``
and an ``authenticity`` label; ``labels``/``classes`` are then the emotion task's and ``heads``
holds both. :func:`multitask_scores` adds the combined accuracy of 000 §3.2.1 counted per frame
(a crop counts when both heads are right), and the same per video. ``task="joint"`` (the
spontaneous/posed thesis's 12 classes, 002 §5.2) is one head whose class ``e * n_auth + a`` is
named ``"e/a"`` (as :func:`emoprep.train.metrics.with_joint`), over every pair of the classes.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, cast

import numpy as np

from emoprep.data import FRAMES, Folds, Item, StoreReader, keep_index, resolve_split, select
from emoprep.errors import ConfigError
from emoprep.pipeline.fingerprint import digest
from emoprep.pipeline.manifest.labels import resolve_task
from emoprep.types import FrameStatus, Part

MULTITASK = "multitask"
MULTI_TARGETS = ("emotion", "authenticity")  #: the heads of ``multitask``, in this order
JOINT = "joint"  #: one head, a class per (emotion, authenticity) pair

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
    #: multitask only: task -> ((N,) int64 labels, class names)
    heads: dict[str, tuple[np.ndarray, list[str]]] = field(default_factory=dict)

    @property
    def targets(self) -> dict[str, tuple[np.ndarray, list[str]]]:
        """Task -> ((N,) labels, classes): ``heads``, or the one task."""
        return self.heads or {self.task: (self.labels, self.classes)}

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
    multi, joint = task == MULTITASK, task == JOINT
    names = list(MULTI_TARGETS) if multi or joint else [
        resolve_task(task, sel.classes, sel.default_task)]
    for n in names if multi or joint else ():
        resolve_task(n, sel.classes)  # a ConfigError naming the missing label key
    name = names[0]
    if not name:
        raise ConfigError("task", [f"task: expected a label key ({', '.join(sel.classes)}), got "
                                   "nothing and the store has no default task (fix: --task)"])
    store = cast("FrameStore", reader.store)
    crops: list[np.ndarray] = []
    video_of: list[np.ndarray] = []
    kept: list[Item] = []
    for it in (i for i in sel.items if all(n in i.labels for n in names)):
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
    heads = {n: (np.array([sel.classes[n].index(it.labels[n]) for it in kept], np.int64),
                 list(sel.classes[n])) for n in names}
    if joint:  # one class per (emotion, authenticity) pair, as emoprep.train.metrics.with_joint
        (emo, e_names), (auth, a_names) = (heads[n] for n in MULTI_TARGETS)
        heads = {JOINT: (emo * len(a_names) + auth, [f"{e}/{a}" for e in e_names
                                                      for a in a_names])}
        name = JOINT
    key = {"split": sf.data.get("fingerprint", ""), "task": task if multi or joint else name,
           "per_video": per_video,
           "labels": [[it.video_id, *(it.labels[n] for n in names)] for it in kept]}
    return FrameSet(np.concatenate(crops), np.concatenate(video_of), *heads[name],
                    MULTITASK if multi else name,
                    np.array([it.video_id for it in kept], dtype=str),
                    np.array([it.subject for it in kept], dtype=str),
                    _folds(sf, [it.video_id for it in kept], digest(key)),
                    heads if multi else {})


def video_probs(probs: np.ndarray, video_of: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Mean of per-frame probabilities per video: (m, K), (m,) video index -> the videos present
    (V,) sorted, and their (V, K) mean probabilities."""
    videos, inverse = np.unique(video_of, return_inverse=True)
    sums = np.zeros((len(videos), probs.shape[1]), np.float64)
    np.add.at(sums, inverse, probs)
    counts = np.bincount(inverse, minlength=len(videos))[:, None]
    return videos, sums / counts


def frame_video_scores(probs: np.ndarray, frames: np.ndarray, fs: FrameSet,
                       labels: np.ndarray | None = None) -> dict[str, float]:
    """``frame_accuracy`` (share of crops right), ``video_accuracy`` (share of videos whose mean
    probability is right) and the counts, for crops ``frames`` with (m, K) ``probs``; ``labels``
    (N,) per video, default ``fs.labels``."""
    y = fs.labels if labels is None else labels
    vof = fs.video_of[frames]
    videos, vp = video_probs(probs, vof)
    return {"frame_accuracy": float((probs.argmax(1) == y[vof]).mean()),
            "video_accuracy": float((vp.argmax(1) == y[videos]).mean()),
            "frames": int(len(frames)), "videos": int(len(videos))}


def multitask_scores(probs: dict[str, np.ndarray], frames: np.ndarray,
                     fs: FrameSet) -> dict[str, Any]:
    """Per task :func:`frame_video_scores`, plus ``combined_frame_accuracy`` (share of crops
    whose every head is right: 000 §3.2.1 counted per frame), ``combined_video_accuracy`` (the
    same on the videos' mean probabilities) and the counts; ``probs``: task -> (m, K_task)."""
    vof = fs.video_of[frames]
    frame_ok = np.ones(len(frames), bool)
    video_ok: np.ndarray | None = None
    out: dict[str, Any] = {}
    for t, (y, _) in fs.targets.items():
        out[t] = frame_video_scores(probs[t], frames, fs, y)
        frame_ok &= probs[t].argmax(1) == y[vof]
        videos, vp = video_probs(probs[t], vof)
        ok = vp.argmax(1) == y[videos]
        video_ok = ok if video_ok is None else video_ok & ok
    assert video_ok is not None
    out.update({"combined_frame_accuracy": float(frame_ok.mean()),
                "combined_video_accuracy": float(video_ok.mean()),
                "frames": int(len(frames)), "videos": int(len(video_ok))})
    return out
