"""Degenerate-data checks, run on every fold and part before any epoch.

A run whose numbers cannot mean anything stops here with one :class:`DegenerateDataError` (a
ConfigError: exit code 2) listing every problem, each naming the split, fold, part and counts and
giving the fix. With ``allow`` (``--allow-degenerate``) the same lines come back as warnings and
the run goes on. The cases:

- a training part with a single class (of the target): nothing to learn;
- a class with fewer than ``train.min_class_items`` training items in a fold;
- classes of the training part missing from the validation part (their recall is never measured,
  and a validation part of classes the model never saw scores 0 however good the model);
- a part made only of failed videos (or empty): from the split's own lists (:class:`PartCounts`).

"These videos have no labels" is raised earlier, by :mod:`emoprep.train.inputs`, when the store
has no label key at all.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass

import numpy as np

from emoprep.errors import ConfigError
from emoprep.train.data import Folds, Sequences

FIX_SPLIT = ("fix: folds stratified by the label (stages.split.stratify: emotion), fewer folds "
             "(stages.split.folds) or more subjects, or pass --allow-degenerate to train anyway")


class DegenerateDataError(ConfigError):
    """The training data of a fold cannot give a meaningful score (see the module docstring)."""


@dataclass(frozen=True)
class PartCounts:
    """What the split listed for one part and why items are missing from it."""

    listed: int  #: videos of the part in the split file
    failed: int  #: of those, videos with no features (failed, or not run)
    unlabelled: int = 0  #: of those, videos without the task's label


def _counts(seqs: Sequences, task: str, idx: np.ndarray) -> Counter[str]:
    names = seqs.classes[task]
    return Counter(names[int(y)] for y in seqs.labels[task][np.asarray(idx, np.int64)])


def _fmt(counts: Counter[str]) -> str:
    return ", ".join(f"{k} {v}" for k, v in sorted(counts.items())) or "none"


def fold_problems(seqs: Sequences, task: str, where: str, tr: np.ndarray, va: np.ndarray,
                  min_items: int) -> list[str]:
    """Problem lines of one fold for one target (``where``: "split 'x' fold 0")."""
    out: list[str] = []
    c_tr, c_va = _counts(seqs, task, tr), _counts(seqs, task, va)
    if len(tr) and len(c_tr) < 2:
        out.append(f"{where}, train part: a single {task} class ({_fmt(c_tr)}); a classifier "
                   f"needs two or more ({FIX_SPLIT})")
    few = {k: v for k, v in c_tr.items() if v < min_items}
    if few and len(c_tr) >= 2:
        out.append(f"{where}, train part: {task} classes with fewer than {min_items} items "
                   f"({_fmt(Counter(few))}; train part: {_fmt(c_tr)}) (fix: more videos of those "
                   f"classes, drop them from the labels, set train.min_class_items, or pass "
                   f"--allow-degenerate)")
    missing = sorted(set(c_tr) - set(c_va))
    if len(va) and missing:
        out.append(f"{where}, val part: {task} classes of the train part missing from the val "
                   f"part: {', '.join(missing)} (train {_fmt(c_tr)}; val {_fmt(c_va)}) "
                   f"({FIX_SPLIT})")
    unseen = sorted(set(c_va) - set(c_tr))
    if len(tr) and unseen:
        out.append(f"{where}, val part: {task} classes never seen in training: "
                   f"{', '.join(unseen)} (val {_fmt(c_va)}; train {_fmt(c_tr)}) ({FIX_SPLIT})")
    return out


def part_problems(where: str, part: str, n: int, counts: PartCounts | None) -> list[str]:
    """An empty part, or one whose videos all failed."""
    if n:
        return []
    if counts is not None and counts.listed and counts.failed == counts.listed:
        return [f"{where}, {part} part: all {counts.listed} videos failed (no features) (fix: "
                f"emoprep status and emoprep report show why; fix or exclude those videos and "
                f"run again)"]
    if counts is not None and counts.listed:
        return [f"{where}, {part} part: none of its {counts.listed} videos can be used "
                f"({counts.failed} failed, {counts.unlabelled} without the task's label) (fix: "
                f"label them or pick another task)"]
    return [f"{where}, {part} part: empty ({FIX_SPLIT})"]


def single_frame_note(seqs: Sequences, head: str, pooled: bool) -> list[str]:
    """A note (never an error) when every item is one frame and the head is a sequence head."""
    if pooled or any(len(f) != 1 for f in seqs.features):
        return []
    return [f"every item is a single frame (an image set): the {head} head sees sequences of "
            f"length 1; --head mlp or --head linear is the head for still images"]


def check_folds(seqs: Sequences, folds: Folds, targets: list[str], min_items: int,
                only: list[int] | None = None,
                counts: dict[tuple[int, str], PartCounts] | None = None,
                allow: bool = False) -> list[str]:
    """Every problem of the chosen folds; raises DegenerateDataError unless ``allow`` (then the
    problem lines are returned as warnings). An empty part is an error even when allowed (there
    is nothing to train or score)."""
    empty: list[str] = []
    problems: list[str] = []
    counts = counts or {}
    for k in only if only is not None else range(len(folds.folds)):
        tr, va = (np.asarray(a, np.int64) for a in folds.folds[k])
        if max(int(tr.max(initial=-1)), int(va.max(initial=-1))) >= len(seqs):
            continue  # not indices of these sequences: data.validate says so
        where = f"split {folds.name!r} fold {k}"
        for part, idx in (("train", tr), ("val", va)):
            empty += part_problems(where, part, len(idx), counts.get((k, part)))
        for task in targets:
            problems += fold_problems(seqs, task, where, tr, va, min_items)
    test = counts.get((-1, "test"))
    if test is not None and test.listed and not len(folds.test):
        problems += [p.replace("fix: ", "the run has no test scores; fix: ")
                     for p in part_problems(f"split {folds.name!r}", "test", 0, test)]
    if empty or (problems and not allow):
        raise DegenerateDataError("training data", empty + problems)
    return problems
