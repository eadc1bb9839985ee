"""The linear probe, and the pooled heads on single-frame items (still images)."""

from __future__ import annotations

import numpy as np
import pytest
from sklearn.linear_model import LogisticRegression
from sklearn.preprocessing import StandardScaler

from emoprep.train import Folds, Sequences, fit
from emoprep.train.probe import pooled, probe_folds, probe_scores
from tests.train.conftest import fast_config, make_sequences, subject_folds


def stills(n: int = 120, dim: int = 10, seed: int = 0) -> Sequences:
    """Items of one frame (images): class k shifts dimension k by 4; 3 classes, 4 per subject."""
    rng = np.random.default_rng(seed)
    y = np.arange(n) % 3
    feats = [rng.normal(0, 1, (1, dim)).astype(np.float32) for _ in range(n)]
    for f, k in zip(feats, y, strict=True):
        f[0, k] += 4.0
    return Sequences(feats, [np.ones(1, bool)] * n, {"emotion": y.astype(np.int64)},
                     {"emotion": ["a", "b", "c"]}, np.array([f"s{i // 4:03d}" for i in range(n)]),
                     np.array([f"v{i:04d}" for i in range(n)]))


def test_probe_is_logistic_regression_on_the_mean_vector() -> None:
    seqs = make_sequences(n=60, per_subject=3)
    tr, va = subject_folds(seqs, test_subjects=4).folds[0]
    x_tr, x_va = pooled(seqs, tr), pooled(seqs, va)
    np.testing.assert_allclose(x_tr[0], seqs.features[int(tr[0])].mean(0), rtol=1e-6)
    sc = StandardScaler().fit(x_tr)
    lr = LogisticRegression(C=1.0, max_iter=2000).fit(sc.transform(x_tr),
                                                      seqs.labels["emotion"][tr])
    want = (lr.predict(sc.transform(x_va)) == seqs.labels["emotion"][va]).mean()
    got = probe_scores(seqs, ["emotion"], tr, va)
    assert got["emotion"]["accuracy"] == pytest.approx(want, abs=1e-12)
    assert probe_scores(seqs, ["emotion"], tr, va[:0]) is None


def test_probe_with_one_training_class_predicts_it() -> None:
    seqs = stills(n=12)
    tr = np.flatnonzero(seqs.labels["emotion"] == 1)
    got = probe_scores(seqs, ["emotion"], tr, np.arange(12))
    assert got["emotion"]["accuracy"] == pytest.approx(1 / 3)


def test_probe_folds_cover_the_run_folds_and_final() -> None:
    seqs = stills()
    folds = subject_folds(seqs, test_subjects=6)
    out = probe_folds(seqs, folds, ["emotion"], None, final=True)
    assert [f["name"] for f in out["folds"]] == ["fold0", "fold1"]
    assert out["final"]["test"]["emotion"]["accuracy"] > 0.9
    assert [f["name"] for f in probe_folds(seqs, folds, ["emotion"], [1], True)["folds"]] == \
        ["fold1"]


@pytest.mark.parametrize("head", ["linear", "mlp"])
def test_pooled_heads_learn_single_frame_items(head: str, tmp_path) -> None:
    seqs = stills()
    folds = subject_folds(seqs, test_subjects=6)
    m = fit(seqs, folds, fast_config(head=head, optim={"epochs": 30, "lr": 0.01}), tmp_path,
            plots=False)
    head_acc, probe_acc = m["versus"]["head"], m["versus"]["probe"]
    assert probe_acc > 0.85 and head_acc >= probe_acc - 0.05
    assert m["versus"]["line"].startswith(f"{head} ")
    assert "linear probe" in m["table"] and "probe val" in m["table"]
    assert m["warnings"] == []


def test_sequence_head_on_single_frames_gets_a_note(tmp_path) -> None:
    seqs = stills(n=60)
    m = fit(seqs, subject_folds(seqs, test_subjects=3), fast_config(head="lstm",
            optim={"epochs": 1}), tmp_path, plots=False)
    assert m["warnings"] == ["every item is a single frame (an image set): the lstm head sees "
                             "sequences of length 1; --head mlp or --head linear is the head for "
                             "still images"]


def test_same_seed_same_numbers_probe_included(tmp_path) -> None:
    seqs = stills(n=60)
    folds = Folds("s", subject_folds(seqs, test_subjects=3).folds, np.array([], np.int64), "d")
    cfg = fast_config(head="mlp", optim={"epochs": 3})
    a = fit(seqs, folds, cfg, tmp_path / "a", plots=False)
    b = fit(seqs, folds, cfg, tmp_path / "b", plots=False)
    assert a["summary"] == b["summary"] and a["probe"] == b["probe"] and a["versus"] == b["versus"]
    c = fit(seqs, folds, fast_config(head="mlp", seed=1, optim={"epochs": 3}), tmp_path / "c",
            plots=False)
    assert c["probe"] == a["probe"]  # the probe has no seed
