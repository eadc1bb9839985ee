"""Degenerate-data checks: each case its own test; errors name split, fold, part and counts."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from emoprep.errors import ConfigError
from emoprep.train import Folds, Sequences, fit
from emoprep.train.checks import DegenerateDataError, PartCounts, check_folds
from emoprep.train.inputs import NO_LABELS, part_counts
from tests.train.conftest import fast_config

CLASSES = ["happy", "sad", "angry"]


def seqs_of(labels: list[int]) -> Sequences:
    """One 3-step sequence per label, one subject each (s00, s01, ...)."""
    n = len(labels)
    return Sequences([np.full((3, 2), i, np.float32) for i in range(n)],
                     [np.ones(3, bool)] * n, {"emotion": np.array(labels, np.int64)},
                     {"emotion": CLASSES}, np.array([f"s{i:02d}" for i in range(n)]),
                     np.array([f"v{i:02d}" for i in range(n)]))


def folds_of(train: list[int], val: list[int]) -> Folds:
    return Folds("toy", [(np.array(train), np.array(val))], np.array([], np.int64), "toy")


def check(labels: list[int], train: list[int], val: list[int], **kw) -> list[str]:
    return check_folds(seqs_of(labels), folds_of(train, val), ["emotion"], 2, **kw)


def test_clean_fold_has_no_problem() -> None:
    assert check([0, 0, 1, 1, 0, 1], [0, 1, 2, 3], [4, 5]) == []


def test_single_class_in_training() -> None:
    with pytest.raises(DegenerateDataError) as err:
        check([0, 0, 0, 1], [0, 1, 2], [3])
    text = str(err.value)
    assert "split 'toy' fold 0, train part: a single emotion class (happy 3)" in text
    assert "--allow-degenerate" in text and isinstance(err.value, ConfigError)


def test_training_class_missing_from_validation() -> None:
    with pytest.raises(DegenerateDataError, match=r"fold 0, val part: emotion classes of the "
                       r"train part missing from the val part: sad \(train happy 2, sad 2; val "
                       r"happy 1\)"):
        check([0, 0, 1, 1, 0], [0, 1, 2, 3], [4])


def test_validation_class_never_seen_in_training() -> None:
    with pytest.raises(DegenerateDataError, match="classes never seen in training: angry"):
        check([0, 0, 1, 1, 0, 1, 2], [0, 1, 2, 3], [4, 5, 6])


def test_too_few_items_of_a_class() -> None:
    with pytest.raises(DegenerateDataError, match=r"fewer than 2 items \(sad 1; train part: "
                       r"happy 3, sad 1\)"):
        check([0, 0, 0, 1, 0, 1], [0, 1, 2, 3], [4, 5])
    ok = check_folds(seqs_of([0, 0, 0, 1, 0, 1]), folds_of([0, 1, 2, 3], [4, 5]), ["emotion"], 1)
    assert ok == []  # train.min_class_items: 1 accepts a lone item


def test_allow_turns_errors_into_warnings() -> None:
    warnings = check([0, 0, 0, 1], [0, 1, 2], [3], allow=True)
    assert len(warnings) == 3 and all("fold 0" in w for w in warnings)


def test_part_of_failed_videos_only() -> None:
    counts = {(0, "val"): PartCounts(listed=4, failed=4)}
    for allow in (False, True):  # nothing to score: an error even when allowed
        with pytest.raises(DegenerateDataError, match=r"fold 0, val part: all 4 videos failed"):
            check([0, 1, 0, 1], [0, 1, 2, 3], [], counts=counts, allow=allow)
    mixed = {(0, "val"): PartCounts(listed=3, failed=1, unlabelled=2)}
    with pytest.raises(DegenerateDataError, match=r"none of its 3 videos can be used \(1 failed, "
                       r"2 without the task's label\)"):
        check([0, 1, 0, 1], [0, 1, 2, 3], [], counts=mixed)


def test_test_part_of_failed_videos_is_a_warning_when_allowed() -> None:
    counts = {(-1, "test"): PartCounts(listed=2, failed=2)}
    with pytest.raises(DegenerateDataError, match="split 'toy', test part: all 2 videos failed"):
        check([0, 1, 0, 1, 0, 1], [0, 1, 2, 3], [4, 5], counts=counts)
    assert "no test scores" in check([0, 1, 0, 1, 0, 1], [0, 1, 2, 3], [4, 5], counts=counts,
                                     allow=True)[0]


def test_part_counts_from_the_split_and_table() -> None:
    rows = {"a": {"status": "ok", "labels": {"emotion": "happy"}},
            "b": {"status": "failed", "labels": {}},
            "c": {"status": "ok", "labels": {}}}
    split = {"test": ["b"], "folds": [{"train": ["a", "c"], "val": ["b", "gone"]}]}
    counts = part_counts(rows, split, ["emotion"])
    assert counts[(-1, "test")] == PartCounts(1, 1, 0)
    assert counts[(0, "train")] == PartCounts(2, 0, 1)
    assert counts[(0, "val")] == PartCounts(2, 2, 0)


def test_fit_checks_before_any_epoch(tmp_path: Path) -> None:
    seqs = seqs_of([0, 0, 0, 1])
    with pytest.raises(DegenerateDataError):
        fit(seqs, folds_of([0, 1, 2], [3]), fast_config(), tmp_path)
    assert not (tmp_path / "units").exists()  # nothing was trained
    m = fit(seqs, folds_of([0, 1, 2], [3]), fast_config(optim={"epochs": 1}), tmp_path,
            plots=False, allow_degenerate=True)
    assert len(m["warnings"]) == 3 and "warning: split 'toy' fold 0" in m["table"]


def test_task_without_labels(tmp_path: Path) -> None:
    seqs = seqs_of([0, 1, 0, 1])
    seqs.labels, seqs.classes = {}, {}
    with pytest.raises(ConfigError, match=NO_LABELS):
        fit(seqs, folds_of([0, 1], [2, 3]), fast_config(), tmp_path)
