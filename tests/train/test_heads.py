"""Heads: padding never changes the output; each head learns *when* a bump occurs."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from emoprep.train import fit
from emoprep.train.config import POOLED_HEADS, Head, Task
from emoprep.train.heads import SequenceModel, binned_max
from tests.train.conftest import fast_config, make_sequences, subject_folds


@pytest.mark.parametrize("head", list(Head))
@pytest.mark.parametrize("task,projection", [(Task.EMOTION, None), (Task.MULTITASK, 5)])
def test_padding_does_not_change_output(head: Head, task: Task, projection: int | None) -> None:
    torch.manual_seed(0)
    cfg = fast_config(head=head.value, task=task.value, projection=projection)
    model = SequenceModel(7, cfg, {t: 3 for t in cfg.targets}).eval()
    lengths = [1, 2, 5, 9, 13]
    seqs = [torch.randn(t, 7) for t in lengths]
    padded = torch.zeros(len(seqs), 20, 7)
    for i, s in enumerate(seqs):
        padded[i, : len(s)] = s
        padded[i, len(s):] = 0.0
    with torch.no_grad():
        batch = model(padded, torch.tensor(lengths))
        for i, s in enumerate(seqs):
            alone = model(s[None], torch.tensor([len(s)]))
            for t in cfg.targets:
                torch.testing.assert_close(batch[t][i], alone[t][0], atol=1e-5, rtol=1e-5)


def test_garbage_in_padding_is_ignored_by_recurrent_heads() -> None:
    """Packing stops at each length: even non-zero padding changes nothing for the LSTMs."""
    torch.manual_seed(1)
    for head in (Head.LSTM, Head.BILSTM):
        model = SequenceModel(4, fast_config(head=head.value), {"emotion": 3}).eval()
        x = torch.randn(2, 10, 4)
        noisy = x.clone()
        noisy[:, 6:] = 100.0
        lengths = torch.tensor([6, 3])
        with torch.no_grad():
            torch.testing.assert_close(model(x, lengths)["emotion"],
                                       model(noisy, lengths)["emotion"])


def test_binned_max_segments_follow_the_real_length() -> None:
    h = torch.tensor([[[1.0, 5.0, 2.0, 7.0, 0.0, 0.0]], [[3.0, 0.0, 0.0, 0.0, 0.0, 0.0]]])
    out = binned_max(h, torch.tensor([4, 1]), bins=2)
    assert out.tolist() == [[[5.0, 7.0]], [[3.0, 3.0]]]  # length 1: both bins see step 0


SEQUENCE_HEADS = [h for h in Head if h not in POOLED_HEADS]


@pytest.mark.parametrize("head", SEQUENCE_HEADS)
def test_each_head_learns_when_the_bump_occurs(head: Head, tmp_path) -> None:
    seqs = make_sequences()
    # the per-frame mean does not separate the classes: nearest-centroid on it is near chance
    means = np.stack([f.mean(0) for f in seqs.features])
    y = seqs.labels["emotion"]
    cent = np.stack([means[y == k].mean(0) for k in range(3)])
    nearest = np.argmin(((means[:, None] - cent[None]) ** 2).sum(-1), 1)
    assert (nearest == y).mean() < 0.55
    m = fit(seqs, subject_folds(seqs), fast_config(head=head.value), tmp_path, plots=False)
    assert m["summary"]["val"]["emotion/accuracy"]["mean"] >= 0.9
    # the held-out test part plays no role in checkpoint selection
    assert m["summary"]["test"]["emotion/accuracy"]["mean"] >= 0.85
    # the linear probe on the mean vector cannot see when: the head beats it, and says so
    assert m["probe"]["summary"]["val"]["emotion/accuracy"]["mean"] < 0.6
    assert m["versus"]["head"] > m["versus"]["probe"] + 0.3
    assert m["versus"]["line"].startswith(f"{head.value} ") and "vs linear probe" in m["table"]


@pytest.mark.parametrize("head", list(Head))
def test_shuffled_labels_stay_at_chance(head: Head, tmp_path) -> None:
    seqs = make_sequences()
    seqs.labels["emotion"] = np.random.default_rng(3).permutation(seqs.labels["emotion"])
    m = fit(seqs, subject_folds(seqs), fast_config(head=head.value), tmp_path, plots=False)
    # chance is 1/3; the best of 12 epochs on 40-video parts stays well below the real 0.9
    assert m["summary"]["val"]["emotion/accuracy"]["mean"] < 0.6
