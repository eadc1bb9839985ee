"""Metrics on hand-made cases; the batch contract (collate, truncation, validation)."""

from __future__ import annotations

import numpy as np
import pytest

from emoprep.errors import ConfigError
from emoprep.train.data import Folds, SequenceData, collate, truncate, validate
from emoprep.train.metrics import combined_accuracy, evaluate, with_joint
from tests.train.conftest import make_sequences


def test_combined_accuracy_hand_made() -> None:
    ys = {"emotion": np.array([0, 1, 2, 0]), "authenticity": np.array([1, 0, 1, 1])}
    preds = {"emotion": np.array([0, 1, 1, 0]), "authenticity": np.array([1, 1, 1, 1])}
    # sample 0 both right, 1 auth wrong, 2 emotion wrong, 3 both right
    assert combined_accuracy(ys, preds) == 0.5


def test_evaluate_decodes_joint_into_both_tasks() -> None:
    seqs = with_joint(make_sequences(n=12))
    assert seqs.classes["joint"][:2] == ["early/genuine", "early/posed"]
    assert np.array_equal(seqs.labels["joint"] // 2, seqs.labels["emotion"])
    y = np.array([0, 3, 5])  # early/genuine, middle/posed, late/posed
    probs = np.eye(6)[[0, 2, 5]]  # right, emotion right but authenticity wrong, right
    out = evaluate({"joint": probs}, {"joint": y}, seqs.classes)
    assert out["joint"]["accuracy"] == pytest.approx(2 / 3)
    assert out["emotion"]["accuracy"] == 1.0
    assert out["authenticity"]["accuracy"] == pytest.approx(2 / 3)
    assert out["combined_accuracy"] == pytest.approx(2 / 3)
    assert np.array(out["emotion"]["confusion"]).trace() == 3


def test_collate_pads_and_reports_lengths_and_masks() -> None:
    seqs = make_sequences(n=6)
    seqs.face_mask[1][:3] = False
    data = SequenceData(seqs, np.array([0, 1, 2]), ["emotion"])
    batch = collate([data[i] for i in range(3)])
    lengths = [len(seqs.features[i]) for i in range(3)]
    assert batch["lengths"].tolist() == lengths
    assert batch["x"].shape == (3, max(lengths), 6)
    assert batch["mask"].sum(1).tolist() == lengths
    assert batch["face_mask"][1].sum().item() == lengths[1] - 3
    assert batch["x"][0, lengths[0]:].abs().sum().item() == 0.0
    assert batch["y"]["emotion"].tolist() == seqs.labels["emotion"][:3].tolist()


def test_truncation_and_augmented_items() -> None:
    x = np.arange(10)[:, None].astype(np.float32)
    assert truncate(x, 4)[:, 0].tolist() == [0, 3, 6, 9]
    assert truncate(x, None) is x
    seqs = make_sequences(n=6)
    seqs.augmented["flip"] = [f[::-1].copy() for f in seqs.features]
    data = SequenceData(seqs, np.array([4, 5]), ["emotion"], max_len=8, augmentations=("flip",))
    assert [data[j]["index"] for j in range(len(data))] == [4, 5, 4, 5]
    assert len(data[0]["x"]) == 8
    with pytest.raises(ConfigError, match="max_len"):
        SequenceData(seqs, np.array([0]), ["emotion"], max_len=0)


def test_validate_lists_every_problem() -> None:
    seqs = make_sequences(n=8, per_subject=2)
    seqs.features[2] = seqs.features[2][:, :3]
    seqs.labels["emotion"][0] = 7
    leaky = Folds("x", [(np.array([0, 1, 2]), np.array([3, 4]))], np.array([5]), "")
    seqs.subjects[5] = seqs.subjects[0]
    with pytest.raises(ConfigError) as err:
        validate(seqs, leaky)
    text = str(err.value)
    assert "3 errors" in text and "features[2]" in text and "labels['emotion']" in text
    assert "subjects in two parts" in text


def test_config_errors_name_the_key_and_overrides_revalidate() -> None:
    from emoprep.pipeline.manifest import apply_overrides
    from emoprep.train.config import Head, load_config

    with pytest.raises(ConfigError) as err:
        load_config({"head": "gru", "loss": {"gamma": -1}, "lstm": {"units": 3}})
    text = str(err.value)
    assert "3 errors" in text and "train.head" in text and "train.loss.gamma" in text
    assert "train.lstm.units" in text
    raw, _, problems = apply_overrides({}, ["train.head=cnn1d", "train.cnn1d.kernels=[3,3,5,5]"])
    cfg = load_config(raw["train"])
    assert problems == [] and cfg.head is Head.CNN1D and cfg.cnn1d.kernels == (3, 3, 5, 5)
    raw, _, problems = apply_overrides(raw, ["train.cnn1d.kernels=[2, 3, 3, 3]"])
    with pytest.raises(ConfigError, match="odd"):
        load_config(raw["train"])
    assert "lstm" not in cfg.model_slice() and "device" not in cfg.model_slice()
