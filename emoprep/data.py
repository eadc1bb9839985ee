"""Training inputs read from an output folder: one part of a split, stable class indices,
sequence lengths, padding and face masks kept apart.

- :class:`SequenceDataset` is a torch Dataset over one store: an embedder's features (``features=
  "<name>"``), the AU intensities (``"au"``) or the aligned crops themselves (``"frames"``).
- :func:`load_sequences` builds the trainers' inputs, a :class:`Sequences` and a :class:`Folds`,
  from a store and a split manifest (defined here: the trainers use the readers).
- ``emoprep export`` (:mod:`emoprep.export.padded`) writes what the Dataset gives, padded.

Parts come from a split manifest (``splits/<name>.json``): ``train``/``val`` of one fold, ``test``,
or ``all`` (test plus every fold's validation part; excluded subjects are in none). Asking for a
fold or part without naming a split uses the manifest's split (``stages.split.name``, recorded in
the index files). Without a split and with part ``all``, every video of the store is used.

Length rule (``max_len`` = L): a sequence longer than L is cut to L frames, evenly spaced
(``PadRule.SUBSAMPLE``: frames ``round(linspace(0, T-1, L))``) or the first L (``PadRule.HEAD``);
a shorter one is zero-padded at the end. ``length`` counts the steps before padding (use it for
``pack_padded_sequence``); ``mask`` is 1 for those steps; ``face_mask`` is 1 where a face was
found (frames without a face are kept as zero features unless ``drop_no_face``).
Class indices index the full class list of each label (``classes``), which comes from the
manifest (preset vocabularies), never from the videos present. AU-trim anomalies are left out
unless ``include_anomalies``.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, cast

import numpy as np

from emoprep.errors import ConfigError, StoreError
from emoprep.pipeline.fingerprint import digest
from emoprep.pipeline.manifest.labels import resolve_task
from emoprep.pipeline.splits import SplitFile, available_splits, read_split
from emoprep.types import FrameStatus, PadRule, Part

if TYPE_CHECKING:
    from emoprep.io.reader import FeatureStore, FrameStore

FRAMES, AU = "frames", "au"  #: the two stores besides the embedders' features


@dataclass
class Sequences:
    """N videos: features (T_i, D) float32 in frame order, face masks (T_i,) bool, labels per task.

    ``labels[task]`` is (N,) int64 indexing ``classes[task]`` (the full, fixed class list);
    ``augmented[name]`` holds N arrays aligned with ``features`` (same T_i not required).
    """

    features: list[np.ndarray]
    face_mask: list[np.ndarray]
    labels: dict[str, np.ndarray]
    classes: dict[str, list[str]]
    subjects: np.ndarray
    video_ids: np.ndarray
    augmented: dict[str, list[np.ndarray]] = field(default_factory=dict)

    def __len__(self) -> int:
        return len(self.features)

    @property
    def dim(self) -> int:
        """Feature width D."""
        return int(self.features[0].shape[1])


@dataclass
class Folds:
    """Subject folds of one split: (train, val) index arrays into a Sequences, and a test part."""

    name: str
    folds: list[tuple[np.ndarray, np.ndarray]]
    test: np.ndarray
    digest: str


def keep_index(n: int, max_len: int | None, rule: PadRule = PadRule.SUBSAMPLE) -> np.ndarray:
    """Frame positions kept of a sequence of ``n`` frames (all when ``max_len`` is None)."""
    if max_len is None or n <= max_len:
        return np.arange(n)
    if rule is PadRule.SUBSAMPLE:
        return np.round(np.linspace(0, n - 1, max_len)).astype(np.int64)
    return np.arange(max_len)


@dataclass
class Padded:
    """One sequence cut and padded: x (L, ...) float32, length, mask (L,) and face_mask (L,)
    bool."""

    x: np.ndarray
    length: int
    mask: np.ndarray
    face_mask: np.ndarray


def pad_to(x: np.ndarray, face: np.ndarray, max_len: int | None,
           rule: PadRule = PadRule.SUBSAMPLE) -> Padded:
    """(T, ...) and (T,) bool -> :class:`Padded` of length ``max_len`` (T' <= L kept, zero-padded);
    ``max_len`` None keeps every frame and pads nothing."""
    pick = keep_index(len(x), max_len, rule)
    x, face = x[pick], np.asarray(face, bool)[pick]
    n = len(x) if max_len is None else max_len
    out = np.zeros((n, *x.shape[1:]), np.float32)
    out[: len(x)] = x
    mask, fm = np.zeros(n, bool), np.zeros(n, bool)
    mask[: len(x)], fm[: len(x)] = True, face
    return Padded(out, len(x), mask, fm)


def pad_sequence(features: np.ndarray, mask: np.ndarray, max_len: int,
                 rule: PadRule = PadRule.SUBSAMPLE) -> tuple[np.ndarray, np.ndarray]:
    """(T, D), (T,) -> (L, D) float32, (L,) uint8 face mask that is 0 on padding too.
    Kept for existing callers; :func:`pad_to` also gives the length and the padding mask."""
    p = pad_to(features, mask, max_len, rule)
    return p.x, p.face_mask.astype(np.uint8)


class StoreReader:
    """One store of an output folder: its table, index attributes and per-video arrays."""

    def __init__(self, out: str | Path, features: str) -> None:
        from emoprep.io.reader import FeatureStore, FrameStore  # h5py: not when importing Sequences

        self.out, self.features = Path(out), features
        self.store = FrameStore(out) if features in (FRAMES, AU) else FeatureStore(out, features)

    def table(self) -> list[dict[str, Any]]:
        return self.store.table()

    def attrs(self) -> dict[str, Any]:
        """``classes``, ``default_task``, ``default_split``, ``anomalies`` of the index file."""
        import h5py

        try:
            with h5py.File(self.store.path, "r") as f:
                raw = dict(f.attrs)
        except OSError as exc:
            raise StoreError(f"index {self.store.path}: cannot read ({exc})") from exc
        out = {k: (v.decode() if isinstance(v, bytes) else v) for k, v in raw.items()}
        for key in ("classes", "anomalies"):
            out[key] = json.loads(out[key]) if out.get(key) else None
        return out

    def augmentations(self, video_id: str) -> list[str]:
        own = self.features in (FRAMES, AU)
        return [] if own else cast("FeatureStore", self.store).augmentations(video_id)

    def read(self, video_id: str, augmentation: str | None = None) -> tuple[np.ndarray, np.ndarray]:
        """(x, face (T,) bool): features (T, D) float32, AU (T, K) float32 of the stored frames
        (NaN rows zeroed, not a face), or crops (T, 3, S, S) float32 in [0, 1] RGB."""
        if self.features not in (FRAMES, AU):
            x, face = cast("FeatureStore", self.store).read(video_id, augmentation)
            return x.astype(np.float32, copy=False), face
        frames = cast("FrameStore", self.store)  # frames or AU: the frame store
        meta = frames.meta(video_id)
        face = FrameStatus.has_face(meta["status"])
        if self.features == FRAMES:
            crops = frames.frames(video_id)
            return np.moveaxis(crops, -1, 1).astype(np.float32) / 255.0, face
        if "au" not in meta:
            raise StoreError(f"frame store {self.out}: no AU data for {video_id!r}; the au stage "
                             f"failed or has not run (see emoprep status)")
        fi, afi, au = meta["frame_index"], meta["au_frame_index"], meta["au"]
        pos = np.clip(np.searchsorted(afi, fi), 0, max(len(afi) - 1, 0))
        hit = (afi[pos] == fi) if len(afi) else np.zeros(len(fi), bool)
        x = np.zeros((len(fi), au.shape[1]), np.float32)
        x[hit] = au[pos[hit]]
        ok = np.isfinite(x).all(1) & hit
        x[~ok] = 0.0
        return x, face & ok


@dataclass(frozen=True)
class Item:
    video_id: str
    augmentation: str | None
    subject: str
    labels: dict[str, str]

    @property
    def name(self) -> str:
        return f"{self.video_id}@{self.augmentation}" if self.augmentation else self.video_id


@dataclass
class Selection:
    """The items of one part and where they came from."""

    items: list[Item]
    classes: dict[str, list[str]]
    default_task: str
    split: SplitFile | None = None
    fold: int | None = None
    part: Part = Part.ALL
    held_back: list[str] = field(default_factory=list)  #: AU-trim anomalies left out

    @property
    def fold_name(self) -> str:
        return "" if self.split is None or self.fold is None else self.split.fold_names[self.fold]


def label_classes(table: list[dict[str, Any]]) -> dict[str, list[str]]:
    """Sorted values per label key: only for index files written before the class lists were
    recorded (their indices depend on the videos present)."""
    classes: dict[str, set[str]] = {}
    for row in table:
        for k, v in row["labels"].items():
            classes.setdefault(k, set()).add(v)
    return {k: sorted(v) for k, v in sorted(classes.items())}


def resolve_split(reader: StoreReader, split: str | None) -> SplitFile:
    """The named split, or the manifest's (recorded in the index), or the only one there."""
    if split is None:
        have = available_splits(reader.out)
        split = reader.attrs().get("default_split") or (have[0] if len(have) == 1 else None)
        if not split:
            names = ", ".join(have) or "none"
            raise ConfigError("split", [f"split: expected a split name for a fold or part, got "
                                        f"nothing; splits in {reader.out}: {names} (fix: pass "
                                        "--split / split=)"])
    return read_split(reader.out, split)


def select(reader: StoreReader, split: str | None = None, fold: int | str | None = None,
           part: Part | str = Part.ALL, augmentations: Sequence[str] = (),
           include_anomalies: bool = False) -> Selection:
    """The items of one part: originals (sorted by id), then augmented variants (train only)."""
    part = Part(part)
    if augmentations and part is not Part.TRAIN:
        raise ConfigError("augmentations", [f"augmented variants are for the training part only, "
                                            f"got part={part.value}"])
    if fold is not None and part in (Part.ALL, Part.TEST):
        raise ConfigError("fold", [f"fold: part {part.value} takes no fold, got {fold!r} (fix: "
                                   f"--part train or val, or leave out --fold)"])
    attrs, table = reader.attrs(), reader.table()
    rows = {r["video_id"]: r for r in table if r["status"] == "ok"}
    sel = Selection([], attrs.get("classes") or label_classes(table),
                    str(attrs.get("default_task") or ""), part=part)
    wanted = sorted(rows)
    if split is not None or fold is not None or part is not Part.ALL:
        sel.split = resolve_split(reader, split)
        ids = set(sel.split.ids(part.value, fold))
        sel.fold = None if part in (Part.ALL, Part.TEST) else sel.split.fold_index(fold, part.value)
        wanted = [v for v in wanted if v in ids]
    anomalies = set(attrs.get("anomalies") or ())
    sel.held_back = [] if include_anomalies else [v for v in wanted if v in anomalies]
    wanted = [v for v in wanted if v not in set(sel.held_back)]
    sel.items = [Item(v, None, rows[v]["subject"], rows[v]["labels"]) for v in wanted]
    for aug in augmentations:
        missing = [v for v in wanted if aug not in reader.augmentations(v)]
        if missing:
            raise ConfigError("augmentations", [f"augmentation {aug!r} not cached for {missing[0]} "
                                                f"and {len(missing) - 1} more; add it to "
                                                f"stages.augment.names and run"])
        sel.items += [Item(v, aug, rows[v]["subject"], rows[v]["labels"]) for v in wanted]
    return sel


def class_index(classes: dict[str, list[str]], task: str, labels: dict[str, str]) -> int:
    """Index of the item's ``task`` label in its class list; -1 when the video has none."""
    value = labels.get(task)
    return -1 if value is None else classes[task].index(value)


class SequenceDataset:
    """torch Dataset of one part of a store; item ``i`` is a dict of tensors:

    ``x`` (L, D) float32 (crops: (L, 3, S, S)), ``length`` int64, ``mask`` (L,) bool (real
    steps), ``face_mask`` (L,) bool, ``y`` {task: int64 class index, -1 if unlabelled},
    ``name`` str. With ``max_len=None`` L is each sequence's own length: use
    ``DataLoader(ds, collate_fn=collate_padded)``. Files open lazily in each worker process.
    """

    def __init__(self, out: str | Path, features: str, split: str | None = None,
                 fold: int | str | None = None, part: str | Part = Part.ALL,
                 max_len: int | None = 100, augmentations: Sequence[str] = (),
                 pad: str | PadRule = PadRule.SUBSAMPLE, tasks: Sequence[str] | None = None,
                 include_anomalies: bool = False, drop_no_face: bool = False) -> None:
        if max_len is not None and max_len < 1:
            raise ConfigError("SequenceDataset", [f"max_len: expected >= 1 or None, got {max_len}"])
        self.reader = StoreReader(out, features)
        self.selection = select(self.reader, split, fold, part, tuple(augmentations),
                                include_anomalies)
        self.items, self.classes = self.selection.items, self.selection.classes
        self.tasks = [resolve_task(t, self.classes) for t in tasks] if tasks else list(self.classes)
        self.max_len, self.pad, self.drop_no_face = max_len, PadRule(pad), drop_no_face

    def __len__(self) -> int:
        return len(self.items)

    def __getitem__(self, i: int) -> dict[str, Any]:
        import torch

        it = self.items[i]
        x, face = self.reader.read(it.video_id, it.augmentation)
        if self.drop_no_face:
            x, face = x[face], face[face]
        p = pad_to(x, face, self.max_len, self.pad)
        return {"x": torch.from_numpy(p.x), "length": torch.tensor(p.length, dtype=torch.int64),
                "mask": torch.from_numpy(p.mask), "face_mask": torch.from_numpy(p.face_mask),
                "y": {t: torch.tensor(class_index(self.classes, t, it.labels), dtype=torch.int64)
                      for t in self.tasks}, "name": it.name}


def collate_padded(items: list[dict[str, Any]]) -> dict[str, Any]:
    """Batch :class:`SequenceDataset` items of any lengths: ``x`` (B, L, ...) zero-padded to the
    longest, ``lengths`` (B,), ``mask`` / ``face_mask`` (B, L) bool, ``y`` {task: (B,)},
    ``names``."""
    import torch

    lengths = torch.stack([it["length"] for it in items])
    n = int(lengths.max()) if len(items) else 0
    x = torch.zeros((len(items), n, *items[0]["x"].shape[1:]), dtype=torch.float32)
    mask, face = (
        torch.zeros((len(items), n), dtype=torch.bool),
        torch.zeros((len(items), n), dtype=torch.bool),
    )
    for j, it in enumerate(items):
        k = int(it["length"])
        x[j, :k], mask[j, :k], face[j, :k] = it["x"][:k], True, it["face_mask"][:k]
    return {"x": x, "lengths": lengths, "mask": mask, "face_mask": face,
            "y": {t: torch.stack([it["y"][t] for it in items]) for t in items[0]["y"]},
            "names": [it["name"] for it in items]}


#: trainer tasks that need two labels
_PAIRS = {"joint": ["emotion", "authenticity"], "multitask": ["emotion", "authenticity"]}


def _tasks(tasks: str | Sequence[str] | None, sel: Selection) -> list[str]:
    wanted: list[str | None] = [tasks] if isinstance(tasks, str) else [*tasks] if tasks else [None]
    out = [t for w in wanted for t in (_PAIRS.get(w, [w]) if w else [None])]
    resolved = [resolve_task(t, sel.classes, sel.default_task) for t in out]
    if not all(resolved):
        keys = ", ".join(sel.classes) or "none"
        raise ConfigError("tasks", [f"tasks: expected label keys ({keys}), got none and the "
                                    "store has no default task (fix: tasks=)"])
    return list(dict.fromkeys(resolved))


def load_sequences(out_dir: str | Path, features: str, split: str | None = None,
                   tasks: str | Sequence[str] | None = None, augmentations: Sequence[str] = (),
                   drop_no_face: bool = False, include_anomalies: bool = False,
                   keep_test_anomalies: bool = False) -> tuple[Sequences, Folds]:
    """The trainers' inputs: every video of the split's parts (test and every fold) with all
    ``tasks`` labels (default: the store's default task, ``emotion``), and the split's folds as
    indices into them. Videos without a task label, without frames (``drop_no_face``) or marked
    AU-trim anomalies (``keep_test_anomalies``: the test part keeps them, untrimmed) are left out
    of every part. ``tasks`` may be ``joint`` / ``multitask``."""
    reader = StoreReader(out_dir, features)
    sf = resolve_split(reader, split)
    sel = select(reader, sf.name, None, Part.ALL, (), include_anomalies or keep_test_anomalies)
    off = set() if include_anomalies or not keep_test_anomalies else \
        set(reader.attrs().get("anomalies") or ()) - set(sf.ids(Part.TEST.value))
    names = _tasks(tasks, sel)
    feats, faces, kept = [], [], []
    augs: dict[str, list[np.ndarray]] = {a: [] for a in augmentations}
    for it in (i for i in sel.items if i.video_id not in off and all(t in i.labels for t in names)):
        x, face = reader.read(it.video_id)
        keep = face if drop_no_face else np.ones(len(face), bool)
        if not keep.any():
            continue
        feats.append(x[keep])
        faces.append(face[keep])
        kept.append(it)
        for a in augmentations:
            xa, fa = reader.read(it.video_id, a)
            augs[a].append(
                xa[keep] if len(xa) == len(keep) else xa[fa if drop_no_face else slice(None)]
            )
    labels = {
        t: np.array([sel.classes[t].index(it.labels[t]) for it in kept], np.int64) for t in names
    }
    seqs = Sequences(feats, faces, labels, {t: list(sel.classes[t]) for t in names},
                     np.array([it.subject for it in kept], dtype=str),
                     np.array([it.video_id for it in kept], dtype=str), augs)
    key = {"split": sf.data.get("fingerprint", ""), "tasks": names, "classes": seqs.classes,
           "labels": [[it.video_id, *(it.labels[t] for t in names)] for it in kept],
           "drop_no_face": drop_no_face, "include_anomalies": include_anomalies}
    key.update({"keep_test_anomalies": True} if keep_test_anomalies else {})  # old digests kept
    return seqs, _folds(sf, [it.video_id for it in kept], digest(key))


def _folds(sf: SplitFile, ids: list[str], key: str) -> Folds:
    """The split's folds and test part as indices into ``ids``; ``key`` makes the digest (it
    changes with the split, the videos kept, their labels, the class lists and the options)."""
    pos = {v: i for i, v in enumerate(ids)}

    def idx(part: list[str]) -> np.ndarray:
        return np.array(sorted(pos[v] for v in part if v in pos), np.int64)

    folds = [(idx(f["train"]), idx(f["val"])) for f in sf.data.get("folds", [])]
    return Folds(sf.name, folds, idx(sf.data["test"]), "split:" + key)
