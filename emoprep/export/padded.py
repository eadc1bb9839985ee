"""``emoprep export``: one padded HDF5 file per part, in the layout the source theses trained from.

Datasets (N sequences, L = ``max_len`` steps, D features; ``max_len`` None, the default, is the
longest sequence of the part, so nothing is cut; the theses cut to 100):

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
``include_anomalies``, ``n_anomalies_held_back``, ``anomalies_held_back`` (JSON list),
``max_yaw``, ``max_pitch``, ``max_roll`` (degrees; -1: no limit).

Head-pose limits (``max_yaw`` ...) keep every frame (frame alignment is unchanged) but set
``face_mask`` to 0 where |yaw|, |pitch| or |roll| exceeds its limit or the pose is unknown (no
face): the pose is the frame store's ``head_pose`` (:func:`emoprep.export.frame_csv.frame_pose`).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import cast

import numpy as np

from emoprep.data import (
    AU,
    FRAMES,
    Item,
    Padded,
    PadRule,
    Part,
    Selection,
    StoreReader,
    class_index,
    pad_to,
    select,
)
from emoprep.errors import ConfigError, StoreError
from emoprep.io.hdf5 import write_arrays
from emoprep.io.reader import FeatureStore, FrameStore
from emoprep.pipeline.manifest.labels import resolve_task

#: file name endings an export may have
SUFFIXES = (".h5", ".hdf5")


@dataclass
class ExportOptions:
    """What goes into one export file (see the module docstring)."""

    max_len: int | None = None  #: steps L; None: the longest sequence of the part (no cut)
    split: str | None = None
    fold: int | str | None = None
    part: Part = Part.ALL
    augmentations: tuple[str, ...] = ()
    pad: PadRule = PadRule.SUBSAMPLE
    task: str | None = None
    include_anomalies: bool = False
    drop_no_face: bool = False
    max_yaw: float | None = None  #: degrees; frames beyond get face_mask 0 (None: no limit)
    max_pitch: float | None = None
    max_roll: float | None = None

    @property
    def pose_limits(self) -> tuple[float | None, float | None, float | None]:
        """(max_yaw, max_pitch, max_roll) degrees, None where not limited."""
        return self.max_yaw, self.max_pitch, self.max_roll

    def problems(self, dest: Path) -> list[str]:
        out = []
        for name, limit in zip(("yaw", "pitch", "roll"), self.pose_limits, strict=True):
            if limit is not None and not 0 <= limit <= 180:
                out.append(f"--max-{name}: expected degrees in [0, 180], got {limit} "
                           f"(fix: e.g. --max-{name} 30)")
        if self.max_len is not None and self.max_len < 1:
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


def pose_mask(frames: FrameStore, video_id: str, frame_index: np.ndarray | None,
              limits: tuple[float | None, float | None, float | None]) -> np.ndarray:
    """(T,) bool: the frames of ``frame_index`` (source frame numbers; None: every frame of the
    frame store) whose head pose is within ``limits`` (max |yaw|, |pitch|, |roll| in degrees)."""
    from emoprep.export.frame_csv import frame_pose
    from emoprep.stages.headpose import within_pose

    meta = frames.meta(video_id)
    keep = within_pose(frame_pose(meta), *limits)
    if frame_index is None:
        return keep
    row = {int(f): i for i, f in enumerate(meta["frame_index"])}
    missing = [int(f) for f in frame_index if int(f) not in row]
    if missing:
        raise StoreError(f"export {video_id!r}: frames {missing[:5]} of the feature store are not "
                         f"in the frame store, so their head pose is unknown; re-run `emoprep run`")
    return keep[[row[int(f)] for f in frame_index]]


def _pose_keep(reader: StoreReader, frames: FrameStore | None, video_id: str,
               o: ExportOptions) -> np.ndarray | None:
    """(T,) bool of the pose limits for one video's stored frames, or None without limits."""
    if frames is None:
        return None
    own = reader.features in (FRAMES, AU)
    index = None if own else cast(FeatureStore, reader.store).frame_index(video_id)
    return pose_mask(frames, video_id, index, o.pose_limits)


def _sequences(reader: StoreReader, sel: Selection, o: ExportOptions) -> dict[str, np.ndarray]:
    limited = any(v is not None for v in o.pose_limits)
    frames = FrameStore(reader.out) if limited else None
    try:
        padded = [_padded(reader, frames, it, o) for it in sel.items]
    finally:
        if frames is not None:
            frames.close()
    if o.max_len is None:  # every sequence whole, padded to the longest
        longest = max(p.length for p in padded)
        padded = [pad_to(p.x[: p.length], p.face_mask[: p.length], longest, o.pad)
                  for p in padded]
    return {"features": np.stack([p.x for p in padded]),
            "lengths": np.array([p.length for p in padded], np.int64),
            "mask": np.stack([p.mask for p in padded]).astype(np.uint8),
            "face_mask": np.stack([p.face_mask for p in padded]).astype(np.uint8)}


def _padded(reader: StoreReader, frames: FrameStore | None, it: Item, o: ExportOptions) -> Padded:
    """One sequence padded to ``o.max_len`` (None: not cut, not padded); pose limits clear
    ``face`` (then --drop-no-face)."""
    x, face = reader.read(it.video_id, it.augmentation)
    keep = _pose_keep(reader, frames, it.video_id, o)
    if keep is not None:
        face = face & keep
    if o.drop_no_face:
        x, face = x[face], face[face]
    return pad_to(x, face, o.max_len, o.pad)


def _why_empty(reader: StoreReader, sel: Selection, o: ExportOptions) -> str:
    """Why a part holds no sequence: the videos it lists that are not in the store (failed or
    not run), those held back as AU-trim anomalies, or a part that lists none."""
    where = f"split {sel.split.name!r} " if sel.split else ""
    head = f"no sequences in {where}part {o.part.value} (fold {sel.fold_name or '-'})"
    listed = (sel.split.ids(o.part.value, sel.fold) if sel.split is not None else [])
    held = set(sel.held_back)
    absent = [v for v in listed if v not in held]
    if held:
        return (f"{head}: {len(held)} AU-trim anomalies held back ({', '.join(sorted(held)[:5])}) "
                f"(fix: --include-anomalies, or another part)")
    if absent:
        shown = ", ".join(absent[:5])
        return (f"{head}: its videos are not in the {reader.features} store ({shown}: failed or "
                f"not run) (fix: see `emoprep status`; `emoprep run` plans the split "
                f"over the videos that did not fail)")
    return f"{head}: the part lists no video (fix: another part or fold)"


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
        raise EmptyPartError("export", [_why_empty(reader, sel, o)])
    task = resolve_task(o.task, sel.classes, sel.default_task)
    arrays = {**_sequences(reader, sel, o), **_labels(sel, task),
              "names": np.array([it.name for it in sel.items], dtype=str),
              "subjects": np.array([it.subject for it in sel.items], dtype=str)}
    split = sel.split.name if sel.split else ""
    max_len = int(arrays["features"].shape[1])
    attrs = {"features": features, "max_len": max_len, "pad_rule": o.pad.value, "split": split,
             "split_fingerprint": sel.split.data.get("fingerprint", "") if sel.split else "",
             "fold": -1 if sel.fold is None else sel.fold, "fold_name": sel.fold_name,
             "part": o.part.value, "task": task, "augmentations": list(o.augmentations),
             "drop_no_face": o.drop_no_face, "include_anomalies": o.include_anomalies,
             "n_anomalies_held_back": len(sel.held_back), "anomalies_held_back": sel.held_back,
             **{f"max_{k}": -1.0 if v is None else float(v)
                for k, v in zip(("yaw", "pitch", "roll"), o.pose_limits, strict=True)}}
    write_arrays(Path(dest), arrays, attrs)
    return {"n": len(sel.items), "max_len": max_len, "cut": o.max_len is not None,
            "dim": int(arrays["features"].shape[2]),
            "split": split, "fold": sel.fold_name, "part": o.part.value, "task": task,
            "held_back": len(sel.held_back)}
