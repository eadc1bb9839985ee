"""The training-input contract: variable-length feature sequences, their labels and subject folds.

The loader (:func:`emoprep.data.load_sequences`: HDF5 feature store + split manifest) builds a
:class:`~emoprep.data.Sequences` and a :class:`~emoprep.data.Folds` (the readers define them;
the trainers use them); everything in :mod:`emoprep.train` reads only these two.
:class:`SequenceData` is a map-style torch Dataset over them and :func:`collate` pads a batch:

- ``x`` (B, L, D) float32, zero rows after each sequence's end (L = longest in the batch);
- ``lengths`` (B,) int64, steps before padding: use these for ``pack_padded_sequence``;
- ``mask`` (B, L) bool, True for real steps (``arange(L) < lengths``);
- ``face_mask`` (B, L) bool, True where a face was found (False for padding too);
- ``y`` task -> (B,) int64 class indices; ``index`` (B,) int64 positions in the Sequences.

Truncation (``max_len`` = M): a longer sequence keeps M evenly spaced frames
``round(linspace(0, T-1, M))`` (``cut`` subsample, the rule of ``emoprep.data.PadRule.SUBSAMPLE``),
its first M (``end``: the end is cut, the BU-4DFE thesis's 100 steps) or its last M (``start``).
torch is imported inside :func:`collate` only.
"""

from __future__ import annotations

import hashlib
from typing import Any

import numpy as np

from emoprep.data import Folds, Sequences
from emoprep.errors import ConfigError
from emoprep.pipeline.manifest.train_section import SeqCut


def validate(seqs: Sequences, folds: Folds | None = None) -> None:
    """Raise ConfigError listing every way ``seqs`` (and ``folds``) break the contract."""
    n, problems = len(seqs), []
    if n == 0:
        raise ConfigError("training sequences", ["no sequences; expected N >= 1"])
    d = seqs.dim
    for i, (f, m) in enumerate(zip(seqs.features, seqs.face_mask, strict=True)):
        if f.ndim != 2 or f.shape[0] < 1 or f.shape[1] != d:
            problems.append(f"features[{i}] ({seqs.video_ids[i]}): expected (T>=1, {d}), "
                            f"got {f.shape}")
        elif m.shape != (f.shape[0],):
            problems.append(f"face_mask[{i}]: expected ({f.shape[0]},), got {m.shape}")
    for task, y in seqs.labels.items():
        k = len(seqs.classes.get(task, []))
        if y.shape != (n,) or (n and (y.min() < 0 or y.max() >= k)):
            problems.append(f"labels[{task!r}]: expected ({n},) ints in [0, {k}), got shape "
                            f"{y.shape}, range [{y.min()}, {y.max()}]; list every class in classes")
    for name, arrs in seqs.augmented.items():
        if len(arrs) != n:
            problems.append(f"augmented[{name!r}]: expected {n} arrays, got {len(arrs)}")
    if folds is not None:
        problems += _fold_problems(seqs, folds)
    if problems:
        raise ConfigError("training sequences", problems)


def _fold_problems(seqs: Sequences, folds: Folds) -> list[str]:
    out, n = [], len(seqs)
    test_subjects = set(seqs.subjects[np.asarray(folds.test, np.int64)].tolist())
    for k, (tr, va) in enumerate(folds.folds):
        if len(tr) == 0 or len(va) == 0:
            out.append(f"split {folds.name!r} fold {k}: empty train or val part")
        if max(int(np.max(tr, initial=-1)), int(np.max(va, initial=-1))) >= n:
            out.append(f"split {folds.name!r} fold {k}: index >= {n} sequences")
            continue
        shared = (set(seqs.subjects[tr].tolist()) & set(seqs.subjects[va].tolist())) | (
            test_subjects & set(seqs.subjects[np.concatenate([tr, va])].tolist()))
        if shared:
            out.append(f"split {folds.name!r} fold {k}: subjects in two parts: "
                       f"{sorted(shared)[:5]}")
    return out


def sequences_digest(seqs: Sequences) -> str:
    """sha256 of features, face masks, labels, classes, ids (when no fingerprint is given)."""
    h = hashlib.sha256()
    for f, m in zip(seqs.features, seqs.face_mask, strict=True):
        h.update(np.ascontiguousarray(f, np.float32).tobytes())
        h.update(np.asarray(m, bool).tobytes())
    for name in sorted(seqs.augmented):
        h.update(name.encode())
        for a in seqs.augmented[name]:
            h.update(np.ascontiguousarray(a, np.float32).tobytes())
    for task in sorted(seqs.labels):
        h.update(task.encode() + repr(seqs.classes[task]).encode())
        h.update(np.asarray(seqs.labels[task], np.int64).tobytes())
    h.update("\0".join(map(str, seqs.video_ids)).encode())
    return "data:" + h.hexdigest()


def folds_digest(folds: Folds) -> str:
    """sha256 over the fold index arrays (used when ``folds.digest`` is empty)."""
    h = hashlib.sha256(folds.name.encode())
    for tr, va in folds.folds:
        h.update(np.asarray(tr, np.int64).tobytes() + b"|" + np.asarray(va, np.int64).tobytes())
    h.update(np.asarray(folds.test, np.int64).tobytes())
    return "folds:" + h.hexdigest()


def truncate(x: np.ndarray, max_len: int | None, cut: SeqCut = SeqCut.SUBSAMPLE) -> np.ndarray:
    """First axis cut to ``max_len`` steps when longer (``cut``: evenly spaced, the first ones
    (the end cut) or the last ones (the start cut)); unchanged otherwise."""
    if max_len is None or len(x) <= max_len:
        return x
    if cut is SeqCut.END:
        return x[:max_len]
    if cut is SeqCut.START:
        return x[len(x) - max_len:]
    return x[np.round(np.linspace(0, len(x) - 1, max_len)).astype(np.int64)]


class SequenceData:
    """Map-style Dataset over chosen items of a Sequences, with optional augmented copies.

    Item ``j`` is a dict: ``x`` (T, D) float32, ``face_mask`` (T,) bool, ``y`` task -> int,
    ``index`` position in ``seqs``. With ``augmentations``, every index appears once per source
    ("" = the original features, else an augmentation name), originals first.
    """

    def __init__(self, seqs: Sequences, indices: np.ndarray, tasks: list[str],
                 max_len: int | None = None, augmentations: tuple[str, ...] = (),
                 cut: SeqCut = SeqCut.SUBSAMPLE) -> None:
        if max_len is not None and max_len < 1:
            raise ConfigError("SequenceData", [f"max_len: expected >= 1 or None, got {max_len}"])
        self.seqs, self.tasks, self.max_len, self.cut = seqs, list(tasks), max_len, SeqCut(cut)
        idx = np.asarray(indices, np.int64)
        self.items = [("", int(i)) for i in idx] + [(a, int(i)) for a in augmentations for i in idx]

    def __len__(self) -> int:
        return len(self.items)

    def __getitem__(self, j: int) -> dict[str, Any]:
        source, i = self.items[j]
        feats = self.seqs.features[i] if not source else self.seqs.augmented[source][i]
        face = self.seqs.face_mask[i]
        if len(face) != len(feats):  # an augmented variant of another length: faces unknown
            face = np.ones(len(feats), bool)
        return {"x": truncate(np.asarray(feats, np.float32), self.max_len, self.cut),
                "face_mask": truncate(np.asarray(face, bool), self.max_len, self.cut),
                "y": {t: int(self.seqs.labels[t][i]) for t in self.tasks}, "index": i}


def collate(items: list[dict[str, Any]]) -> dict[str, Any]:
    """Pad a list of :class:`SequenceData` items into a batch (see the module docstring)."""
    import torch

    lengths = np.array([len(it["x"]) for it in items], np.int64)
    b, length, d = len(items), int(lengths.max()), items[0]["x"].shape[1]
    x = np.zeros((b, length, d), np.float32)
    face = np.zeros((b, length), bool)
    for j, it in enumerate(items):
        x[j, : lengths[j]] = it["x"]
        face[j, : lengths[j]] = it["face_mask"]
    lens = torch.from_numpy(lengths)
    return {"x": torch.from_numpy(x), "lengths": lens,
            "mask": torch.arange(length)[None, :] < lens[:, None],
            "face_mask": torch.from_numpy(face),
            "y": {t: torch.tensor([it["y"][t] for it in items], dtype=torch.int64)
                  for t in items[0]["y"]},
            "index": torch.tensor([it["index"] for it in items], dtype=torch.int64)}
