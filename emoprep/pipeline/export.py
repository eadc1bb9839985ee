"""``emoprep export``: one padded HDF5 file per part, in the layout the source theses trained from.

Datasets (N sequences, L = ``max_len`` steps, D features):

- ``features`` (N, L, D) float32, zero after each sequence's end;
- ``lengths`` (N,) int64, steps before padding (use these for ``pack_padded_sequence``);
- ``mask`` (N, L) uint8, 1 for the first ``lengths[i]`` steps, 0 for padding;
- ``face_mask`` (N, L) uint8, 1 where a face was found (0 on padding too);
- ``labels`` (N, C) float32 one-hot of the task, ``labels_<key>`` (N,) int64 (-1: no label),
  ``onehot_<key>`` (N, C_key), ``classes_<key>`` (C_key,) per label key, from the full class
  lists (indices do not depend on the videos present);
- ``names`` (N,) (``<id>`` or ``<id>@<aug>``) and ``subjects`` (N,).

Attributes: ``features``, ``max_len``, ``pad_rule``, ``split``, ``split_fingerprint``, ``fold``
(-1: none), ``fold_name``, ``part``, ``task``, ``augmentations``, ``drop_no_face``,
``include_anomalies``, ``n_anomalies_held_back``, ``anomalies_held_back`` (JSON list).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from emoprep.data import (
    FRAMES,
    PadRule,
    Part,
    Selection,
    StoreReader,
    class_index,
    pad_to,
    select,
)
from emoprep.errors import ConfigError
from emoprep.io.hdf5 import write_arrays
from emoprep.pipeline.manifest.labels import resolve_task

#: file name endings an export may have
SUFFIXES = (".h5", ".hdf5")


@dataclass
class ExportOptions:
    """What goes into one export file (see the module docstring)."""

    max_len: int = 100
    split: str | None = None
    fold: int | str | None = None
    part: Part = Part.ALL
    augmentations: tuple[str, ...] = ()
    pad: PadRule = PadRule.SUBSAMPLE
    task: str | None = None
    include_anomalies: bool = False
    drop_no_face: bool = False

    def problems(self, dest: Path) -> list[str]:
        out = []
        if self.max_len < 1:
            out.append(f"--max-len: expected an integer >= 1, got {self.max_len} (fix: e.g. 100)")
        if dest.suffix.lower() not in SUFFIXES:
            out.append(f"--dest: expected a file name ending in .h5 or .hdf5, got {str(dest)!r} "
                       f"(fix: e.g. {dest.with_suffix('.h5').name})")
        return out


def _labels(sel: Selection, task: str) -> dict[str, np.ndarray]:
    arrays: dict[str, np.ndarray] = {}
    for key, names in sel.classes.items():
        idx = np.array([class_index(sel.classes, key, it.labels) for it in sel.items], np.int64)
        onehot = np.zeros((len(idx), len(names)), np.float32)
        onehot[np.flatnonzero(idx >= 0), idx[idx >= 0]] = 1.0
        arrays[f"labels_{key}"], arrays[f"onehot_{key}"] = idx, onehot
        arrays[f"classes_{key}"] = np.array(names, dtype=str)
    if task:
        arrays["labels"] = arrays[f"onehot_{task}"]
    return arrays


def _sequences(reader: StoreReader, sel: Selection, o: ExportOptions) -> dict[str, np.ndarray]:
    feats, lengths, masks, faces = [], [], [], []
    for it in sel.items:
        x, face = reader.read(it.video_id, it.augmentation)
        if o.drop_no_face:
            x, face = x[face], face[face]
        p = pad_to(x, face, o.max_len, o.pad)
        feats.append(p.x)
        lengths.append(p.length)
        masks.append(p.mask)
        faces.append(p.face_mask)
    return {"features": np.stack(feats), "lengths": np.array(lengths, np.int64),
            "mask": np.stack(masks).astype(np.uint8), "face_mask": np.stack(faces).astype(np.uint8)}


class EmptyPartError(ConfigError):
    """The chosen part of the split holds no sequence (e.g. its only subject's video failed)."""


def export(out: Path, features: str, dest: Path, opts: ExportOptions | None = None
           ) -> dict[str, object]:
    """Write one padded file of one part. Returns {"n", "max_len", "dim", "split", "fold",
    "part", "task", "held_back"} (``held_back``: AU-trim anomalies left out)."""
    o = opts or ExportOptions()
    if problems := o.problems(Path(dest)):
        raise ConfigError("export", problems)
    if features == FRAMES:
        raise ConfigError("export", ["--features: expected an embedder name or 'au', got "
                                     "'frames' (crops are read with emoprep.data.SequenceDataset("
                                     "features='frames'), not exported)"])
    reader = StoreReader(out, features)
    sel = select(reader, o.split, o.fold, o.part, o.augmentations, o.include_anomalies)
    if not sel.items:
        where = f"split {sel.split.name!r} " if sel.split else ""
        raise EmptyPartError("export", [f"no sequences in {where}part {o.part.value} (fold "
                                     f"{sel.fold_name or '-'}); {len(sel.held_back)} anomalies "
                                     f"held back (fix: --include-anomalies, or another part)"])
    task = resolve_task(o.task, sel.classes, sel.default_task)
    arrays = {**_sequences(reader, sel, o), **_labels(sel, task),
              "names": np.array([it.name for it in sel.items], dtype=str),
              "subjects": np.array([it.subject for it in sel.items], dtype=str)}
    split = sel.split.name if sel.split else ""
    attrs = {"features": features, "max_len": o.max_len, "pad_rule": o.pad.value, "split": split,
             "split_fingerprint": sel.split.data.get("fingerprint", "") if sel.split else "",
             "fold": -1 if sel.fold is None else sel.fold, "fold_name": sel.fold_name,
             "part": o.part.value, "task": task, "augmentations": list(o.augmentations),
             "drop_no_face": o.drop_no_face, "include_anomalies": o.include_anomalies,
             "n_anomalies_held_back": len(sel.held_back), "anomalies_held_back": sel.held_back}
    write_arrays(Path(dest), arrays, attrs)
    return {"n": len(sel.items), "max_len": o.max_len, "dim": int(arrays["features"].shape[2]),
            "split": split, "fold": sel.fold_name, "part": o.part.value, "task": task,
            "held_back": len(sel.held_back)}
