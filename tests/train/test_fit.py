"""fit: determinism, run folder contents, incremental units (three acts), status, fusion."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import numpy as np
import pytest
import torch

from emoprep.errors import ConfigError
from emoprep.train import Folds, fit, fuse, unit_states
from emoprep.train.fusion import FusionMethod, combine_probs
from emoprep.train.heads import SequenceModel
from tests.train.conftest import fast_config, make_sequences, subject_folds

SMALL = {"optim": {"epochs": 4}}


@pytest.fixture(scope="module")
def data():
    seqs = make_sequences(n=60, per_subject=3)
    return seqs, subject_folds(seqs, test_subjects=4)


def test_two_runs_give_the_same_metrics(data, tmp_path: Path) -> None:
    seqs, folds = data
    cfg = fast_config(head="bilstm", task="multitask", **SMALL)
    a = fit(seqs, folds, cfg, tmp_path / "a", plots=False)
    b = fit(seqs, folds, cfg, tmp_path / "b", plots=False)
    assert a["trained"] and b["trained"]
    for fa, fb in zip(a["folds"], b["folds"], strict=True):
        assert fa["val"] == fb["val"] and fa["best_epoch"] == fb["best_epoch"]
    la = (tmp_path / "a" / "runs" / a["run"] / "fold0" / "epochs.csv").read_text().splitlines()
    lb = (tmp_path / "b" / "runs" / b["run"] / "fold0" / "epochs.csv").read_text().splitlines()
    assert [r.split(",")[:-1] for r in la] == [r.split(",")[:-1] for r in lb]  # but wall time


def test_run_folder_is_complete_and_checkpoints_reload(data, tmp_path: Path) -> None:
    seqs, folds = data
    cfg = fast_config(head="cnn1d", task="multitask", final_model=True,
                      loss={"kind": "multilabel_focal", "combine": "precision"}, **SMALL)
    m = fit(seqs, folds, cfg, tmp_path, features_fingerprint="hog:abc")
    run = Path(m["run_dir"])
    for name in ("config.json", "metrics.json", "folds.csv", "summary.csv", "table.txt",
                 "curves.png", "fold0/epochs.csv", "fold1/best.pt", "final/best.pt",
                 "fold0/confusion_val_emotion.csv", "fold0/confusion_val_emotion.png",
                 "final/confusion_test_authenticity.png"):
        assert (run / name).is_file(), name
    saved = json.loads((run / "metrics.json").read_text())
    assert saved["features_fingerprint"] == "hog:abc" and saved["split_digest"] == folds.digest
    assert saved["emoprep_version"] and saved["config"]["head"] == "cnn1d"
    assert set(saved["summary"]["val"]) >= {"emotion/accuracy", "authenticity/macro_f1",
                                            "combined_accuracy"}
    assert m["final"]["epochs"] == round(np.mean([f["best_epoch"] for f in m["folds"]]))
    assert m["final"]["test"]["combined_accuracy"] >= 0.0
    rows = list(csv.reader(open(run / "fold0" / "confusion_val_emotion.csv")))
    assert rows[0][1:] == seqs.classes["emotion"]
    assert sum(int(v) for r in rows[1:] for v in r[1:]) == len(folds.folds[0][1])
    state = torch.load(run / "fold1" / "best.pt", weights_only=True)
    model = SequenceModel(seqs.dim, cfg, {"emotion": 3, "authenticity": 2})
    model.load_state_dict(state)
    assert "fold0" in m["table"] and "val mean" in m["table"] and "final test" in m["table"]


def test_incremental_three_acts(data, tmp_path: Path) -> None:
    seqs, folds = data
    cfg = fast_config(head="lstm", **SMALL)
    args = (folds.name, folds.digest, len(folds.folds), "feat:1")
    assert [r["state"] for r in unit_states(tmp_path, cfg, *args)] == ["missing", "missing"]
    first = fit(seqs, folds, cfg, tmp_path, "feat:1", plots=False)
    assert len(first["trained"]) == 2
    assert [r["state"] for r in unit_states(tmp_path, cfg, *args)] == ["up-to-date"] * 2
    # act 2: nothing changed (threads and device do not count) -> nothing trained, same numbers
    again = fit(seqs, folds, cfg.model_copy(update={"num_threads": 1}), tmp_path, "feat:1",
                plots=False)
    assert again["trained"] == [] and len(again["reused"]) == 2
    assert [f["val"] for f in again["folds"]] == [f["val"] for f in first["folds"]]
    # act 3a: another head trains only its own units; the LSTM ones stay up to date
    cnn = fit(seqs, folds, fast_config(head="cnn1d", **SMALL), tmp_path, "feat:1", plots=False)
    assert len(cnn["trained"]) == 2
    assert fit(seqs, folds, cfg, tmp_path, "feat:1", plots=False)["trained"] == []
    # act 3b: a final model adds one unit; folds are reused
    final = fit(seqs, folds, cfg.model_copy(update={"final_model": True}), tmp_path, "feat:1",
                plots=False)
    assert final["trained"] == ["train:lstm/emotion/synthetic/final"]
    # act 3c: one setting of the LSTM -> its folds are stale, with the key named, and retrained
    changed = fast_config(head="lstm", lstm={"hidden": 12}, **SMALL)
    states = unit_states(tmp_path, changed, *args)
    assert [r["state"] for r in states] == ["stale", "stale"]
    assert "model.lstm.hidden changed 24 -> 12" in states[0]["reason"]
    assert len(fit(seqs, folds, changed, tmp_path, "feat:1", plots=False)["trained"]) == 2
    assert "features changed" in unit_states(tmp_path, cfg, *args[:3], "feat:2")[0]["reason"]


def test_corrupt_checkpoint_is_retrained(data, tmp_path: Path) -> None:
    seqs, folds = data
    cfg = fast_config(head="cnn1d", **SMALL)
    m = fit(seqs, folds, cfg, tmp_path, plots=False, only_folds=[0])
    ckpt = Path(m["run_dir"]) / m["folds"][0]["unit_dir"] / "best.pt"
    ckpt.write_bytes(b"broken")
    assert fit(seqs, folds, cfg, tmp_path, plots=False, only_folds=[0])["trained"]
    with pytest.raises(ConfigError, match="folds 0..1"):
        fit(seqs, folds, cfg, tmp_path, plots=False, only_folds=[5])


def test_augmented_variants_only_in_training_parts(data, tmp_path: Path) -> None:
    seqs, folds = data
    seqs.augmented["noise"] = [f + 0.01 for f in seqs.features]
    try:
        cfg = fast_config(head="cnn1d", use_augmented=True, **SMALL)
        m = fit(seqs, folds, cfg, tmp_path, plots=False)
        rec = json.loads((Path(m["run_dir"]) / m["folds"][0]["unit_dir"] / "record.json")
                         .read_text())
        assert rec["n_train_items"] == 2 * rec["n_train"] == 2 * len(folds.folds[0][0])
        assert sum(sum(r) for r in m["folds"][0]["val"]["emotion"]["confusion"]) == \
            len(folds.folds[0][1])  # validation sees each original once
        assert m["run"] != fit(seqs, folds, fast_config(head="cnn1d", **SMALL), tmp_path,
                               plots=False)["run"]
    finally:
        seqs.augmented.clear()


def test_joint_task_scores_both_tasks(data, tmp_path: Path) -> None:
    seqs, folds = data
    m = fit(seqs, folds, fast_config(head="cnn1d", task="joint", **SMALL), tmp_path, plots=False)
    fold = m["folds"][0]["val"]
    assert len(fold["joint"]["classes"]) == 6
    assert fold["combined_accuracy"] == pytest.approx(fold["joint"]["accuracy"])


def test_combine_probs_methods() -> None:
    a = np.array([[0.6, 0.4], [0.2, 0.8]])
    b = np.array([[0.1, 0.9], [0.3, 0.7]])
    np.testing.assert_allclose(combine_probs([a, b], FusionMethod.AVERAGE), (a + b) / 2)
    np.testing.assert_allclose(combine_probs([a, b], FusionMethod.MAX), [[0.6, 0.9], [0.3, 0.8]])
    np.testing.assert_allclose(combine_probs([a, b], FusionMethod.WEIGHTED, np.array([0.75, 0.25])),
                               0.75 * a + 0.25 * b)


def test_fuse_runs(data, tmp_path: Path) -> None:
    seqs, folds = data
    runs = [fit(seqs, folds, fast_config(head=h, **SMALL), tmp_path, plots=False)
            for h in ("cnn1d", "lstm")]
    dirs = [r["run_dir"] for r in runs]
    avg = fuse(dirs, "average", out_dir=tmp_path / "fusion")
    assert (tmp_path / "fusion" / "fusion_average.json").is_file()
    w = avg["weights"]["emotion"]
    accs = [r["summary"]["val"]["emotion/accuracy"]["mean"] for r in runs]
    assert w == pytest.approx([a / sum(accs) for a in accs])
    for method in FusionMethod:
        out = fuse(dirs, method)
        assert 0.0 <= out["summary"]["val"]["emotion/accuracy"]["mean"] <= 1.0
    # one run fused with itself is that run
    same = fuse([dirs[0], dirs[0]], "max")
    assert same["folds"][0]["val"]["emotion"] == runs[0]["folds"][0]["val"]["emotion"]
    other = fit(seqs, folds, fast_config(head="cnn1d", task="authenticity", **SMALL), tmp_path,
                plots=False)
    with pytest.raises(ConfigError, match="task"):
        fuse([dirs[0], other["run_dir"]])


def test_split_without_test_part(data, tmp_path: Path) -> None:
    """SASE-FE style: 80/20 subjects, no test part; the final model is trained but not scored."""
    seqs, folds = data
    no_test = Folds(folds.name, folds.folds, np.array([]), "no-test")
    m = fit(seqs, no_test, fast_config(head="cnn1d", final_model=True, optim={"epochs": 2}),
            tmp_path, plots=False)
    assert m["summary"]["test"] == {} and m["final"]["test"] is None
    assert "final test" not in m["table"]
    assert fuse([m["run_dir"]])["final_test"] is None


def test_early_stopping_keeps_the_best_epoch(data, tmp_path: Path) -> None:
    seqs, folds = data
    cfg = fast_config(head="linear", optim={"epochs": 40, "early_stopping": True,
                                            "early_stopping_patience": 3})
    m = fit(seqs, folds, cfg, tmp_path, plots=False)
    for f in m["folds"]:
        rows = list(csv.DictReader(open(Path(m["run_dir"]) / f["name"] / "epochs.csv")))
        accs = [float(r["val_acc"]) for r in rows]
        assert len(rows) == f["epochs"] == f["best_epoch"] + 3 < 40  # stopped 3 epochs after
        assert f["best_epoch"] == 1 + int(np.argmax(accs))  # the first best epoch
        assert f["val"]["emotion"]["accuracy"] == pytest.approx(max(accs))  # its weights kept


def test_default_settings() -> None:
    from emoprep.train import TrainConfig

    o = TrainConfig().optim
    assert (o.lr, o.weight_decay, o.epochs, o.early_stopping, o.early_stopping_patience) == \
        (1e-3, 1e-2, 100, True, 15) and TrainConfig().standardize
