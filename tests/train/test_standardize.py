"""Standardisation: statistics of the training part only, kept in the checkpoint, applied later."""

from __future__ import annotations

import numpy as np
import torch

from emoprep.train.loop import Trainer
from emoprep.train.standardize import MIN_STD, fit_stats
from tests.train.conftest import fast_config, make_sequences, subject_folds


def test_stats_are_those_of_the_training_frames() -> None:
    seqs = make_sequences(n=12)
    idx = np.array([0, 3, 5])
    frames = np.concatenate([seqs.features[i] for i in idx]).astype(np.float64)
    mean, std = fit_stats(seqs, idx)
    np.testing.assert_allclose(mean, frames.mean(0), rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(std, frames.std(0), rtol=1e-4, atol=1e-6)
    seqs.features[0][:, 1] = 7.0  # a constant dimension in the whole training part
    seqs.features[3][:, 1] = 7.0
    seqs.features[5][:, 1] = 7.0
    mean, std = fit_stats(seqs, idx)
    assert mean[1] == 7.0 and std[1] == 1.0 > MIN_STD


def test_a_validation_item_never_changes_the_statistics() -> None:
    seqs = make_sequences(n=60, per_subject=3)
    tr, va = subject_folds(seqs, test_subjects=4).folds[0]
    cfg = fast_config(head="linear", optim={"epochs": 1})
    a = Trainer(seqs, cfg, seed=0)
    a.fit(tr, va, 1)
    seqs.features[int(va[0])] = seqs.features[int(va[0])] * 100 + 50  # only a validation item
    b = Trainer(seqs, cfg, seed=0)
    b.fit(tr, va, 1)
    torch.testing.assert_close(a.model.norm.mean, b.model.norm.mean, rtol=0, atol=0)
    torch.testing.assert_close(a.model.norm.std, b.model.norm.std, rtol=0, atol=0)
    mean, std = fit_stats(seqs, tr)
    np.testing.assert_array_equal(b.model.norm.mean.numpy(), mean)
    seqs.features[int(tr[0])] = seqs.features[int(tr[0])] + 1  # a training item does change them
    assert not np.array_equal(fit_stats(seqs, tr)[0], mean)


def test_statistics_travel_with_the_checkpoint(tmp_path) -> None:
    seqs = make_sequences(n=60, per_subject=3)
    tr, va = subject_folds(seqs, test_subjects=4).folds[0]
    cfg = fast_config(head="mlp", optim={"epochs": 1})
    trainer = Trainer(seqs, cfg, seed=0)
    trainer.fit(tr, va, 1)
    trainer.save(tmp_path / "best.pt")
    state = torch.load(tmp_path / "best.pt", weights_only=True)
    np.testing.assert_array_equal(state["norm.mean"].numpy(), fit_stats(seqs, tr)[0])
    fresh = Trainer(seqs, cfg, seed=5)  # another init, identity statistics
    fresh.load(tmp_path / "best.pt")
    x = torch.from_numpy(seqs.features[int(va[0])])[None]
    fresh.model.eval()
    trainer.model.eval()
    with torch.no_grad():
        torch.testing.assert_close(fresh.model(x, torch.tensor([x.shape[1]]))["emotion"],
                                   trainer.model(x, torch.tensor([x.shape[1]]))["emotion"])


def test_standardize_off_leaves_identity() -> None:
    seqs = make_sequences(n=60, per_subject=3)
    tr, va = subject_folds(seqs, test_subjects=4).folds[0]
    t = Trainer(seqs, fast_config(head="linear", standardize=False), seed=0)
    t.fit(tr, va, 1)
    assert float(t.model.norm.mean.abs().max()) == 0.0 and float(t.model.norm.std.min()) == 1.0
