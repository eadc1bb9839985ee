"""The CV figure over the folds' epoch curves (003 §3.2.3) against emoprep's mean of fold bests."""

from __future__ import annotations

import pytest

from emoprep.train.config import CVSummary, TrainConfig
from emoprep.train.metrics import mean_curve
from emoprep.train.report import cv_figure, table
from emoprep.train.units import make_unit


def _log(accs: list[float], task: list[float] | None = None) -> list[dict[str, float]]:
    rows = []
    for i, a in enumerate(accs):
        row = {"epoch": i + 1, "lr": 1e-3, "train_acc": 0.9, "val_loss": 1.0, "val_acc": a,
               "val_emotion_acc": a}
        if task is not None:
            row["val_emotion_acc"], row["val_authenticity_acc"] = task[i], 1.0
        rows.append(row)
    return rows


def test_mean_curve_takes_the_best_epoch_of_the_mean_over_the_common_epochs() -> None:
    # fold bests 0.7 (epoch 2) and 0.8 (epoch 3): their mean is 0.75; the mean curve over the 3
    # epochs both ran is 0.55, 0.6, 0.7 -> epoch 3, 0.7 (fold values 0.6 and 0.8, std 0.1)
    got = mean_curve([_log([0.5, 0.7, 0.6]), _log([0.6, 0.5, 0.8, 0.4])])
    assert got is not None
    assert got["best_epoch"] == 3 and got["epochs"] == 3
    assert got["curve"] == pytest.approx([0.55, 0.6, 0.7])
    assert got["values"] == {"emotion/accuracy": {"mean": pytest.approx(0.7),
                                                  "std": pytest.approx(0.1), "n": 2}}


def test_mean_curve_first_epoch_wins_a_tie_and_multitask_gives_combined() -> None:
    got = mean_curve([_log([0.5, 0.5], [0.6, 0.9]), _log([0.5, 0.5], [0.8, 0.7])])
    assert got is not None and got["best_epoch"] == 1
    assert got["values"]["emotion/accuracy"]["mean"] == pytest.approx(0.7)
    assert got["values"]["authenticity/accuracy"] == {"mean": 1.0, "std": 0.0, "n": 2}
    assert got["values"]["combined_accuracy"]["mean"] == pytest.approx(0.5)


def test_no_validation_curves_give_none() -> None:
    assert mean_curve([]) is None
    assert mean_curve([[{"epoch": 1, "train_acc": 0.5}]]) is None


def test_cv_figure_follows_the_setting_and_the_table_shows_the_curve_row() -> None:
    logs = [_log([0.5, 0.7, 0.6]), _log([0.6, 0.5, 0.8, 0.4])]
    per_fold = {"emotion/accuracy": {"mean": 0.75, "std": 0.05, "n": 2}}
    assert cv_figure(TrainConfig(), per_fold, logs) == {"method": "per_fold_best",
                                                        "values": per_fold}
    cv = cv_figure(TrainConfig(cv_summary=CVSummary.MEAN_CURVE), per_fold, logs)
    assert cv["method"] == "mean_curve" and cv["best_epoch"] == 3
    m = {"run": "r", "split": "s", "trained": [], "reused": [], "folds": [], "final": None,
         "summary": {"val": per_fold, "test": {}}, "cv": cv}
    lines = table(m).splitlines()
    assert lines[-2].split() == ["val", "mean", "0.7500", "+-", "0.0500"]
    assert lines[-1].split() == ["val", "curve", "3", "0.7000", "+-", "0.1000"]


def test_cv_summary_is_not_part_of_a_units_fingerprint() -> None:
    a = make_unit(TrainConfig(), "thesis", "d", "f", 0)
    b = make_unit(TrainConfig(cv_summary=CVSummary.MEAN_CURVE), "thesis", "d", "f", 0)
    assert a.fingerprint == b.fingerprint


def test_keep_test_anomalies_enters_the_model_slice_only_when_set() -> None:
    assert "keep_test_anomalies" not in TrainConfig().model_slice()  # old fingerprints kept
    assert TrainConfig(keep_test_anomalies=True).model_slice()["keep_test_anomalies"] is True
