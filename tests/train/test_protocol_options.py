"""The trainer options the thesis profiles need: which end a long sequence loses (``seq_cut``),
SGD with momentum, the plateau schedule on validation accuracy; their defaults keep emoprep's
behaviour and model fingerprints."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from emoprep.errors import ConfigError
from emoprep.train.config import TrainConfig, load_config
from emoprep.train.data import SequenceData, truncate
from emoprep.train.loop import Trainer, make_optimizer
from tests.train.conftest import fast_config, make_sequences, subject_folds

STEPS = np.arange(10, dtype=np.float32)[:, None]  # (10, 1): step t holds t


@pytest.mark.parametrize(("cut", "kept"), [("subsample", [0, 2, 4, 7, 9]), ("end", [0, 1, 2, 3, 4]),
                                           ("start", [5, 6, 7, 8, 9])])
def test_seq_cut_keeps_the_named_steps(cut: str, kept: list[int]) -> None:
    cfg = TrainConfig(max_len=5, seq_cut=cut)
    assert truncate(STEPS, cfg.max_len, cfg.seq_cut)[:, 0].tolist() == kept
    assert truncate(STEPS[:3], cfg.max_len, cfg.seq_cut)[:, 0].tolist() == [0, 1, 2]  # shorter


def test_sequence_data_cuts_features_and_face_mask_alike() -> None:
    seqs = make_sequences(n=6)
    data = SequenceData(seqs, np.arange(6), ["emotion"], max_len=4, cut=TrainConfig(
        seq_cut="start").seq_cut)
    item = data[0]
    np.testing.assert_array_equal(item["x"], seqs.features[0][-4:])
    assert item["face_mask"].shape == (4,)


def test_sgd_with_momentum_and_adam() -> None:
    net = torch.nn.Linear(3, 2)
    sgd = make_optimizer(net.parameters(), TrainConfig.model_validate(
        {"optim": {"optimizer": "sgd", "momentum": 0.9, "lr": 0.001}}).optim)
    assert isinstance(sgd, torch.optim.SGD)
    assert (sgd.param_groups[0]["momentum"], sgd.param_groups[0]["lr"]) == (0.9, 0.001)
    assert isinstance(make_optimizer(net.parameters(), TrainConfig().optim), torch.optim.Adam)


def test_momentum_without_sgd_is_a_config_error() -> None:
    with pytest.raises(ConfigError, match="optim.momentum: applies to optimizer sgd"):
        load_config({"optim": {"momentum": 0.9}})


def test_plateau_on_validation_accuracy_halves_the_lr() -> None:
    """lr 0 after the first epoch keeps the weights, so validation accuracy never improves: the
    accuracy plateau (patience 1) halves the lr after epoch 2; a loss plateau would see the same
    loss and act the same, so the monitor is checked on the scheduler itself."""
    seqs = make_sequences(n=48)
    train_idx, val_idx = subject_folds(seqs, k=2, test_subjects=0).folds[0]
    cfg = fast_config(optim={"plateau": True, "plateau_monitor": "val_acc", "plateau_patience": 1,
                             "plateau_factor": 0.5, "epochs": 4, "optimizer": "sgd",
                             "momentum": 0.0, "lr": 1e-12})
    trainer = Trainer(seqs, cfg, seed=0)
    res = trainer.fit(train_idx, val_idx, cfg.optim.epochs)
    lrs = [row["lr"] for row in res.log]
    assert lrs[0] == 1e-12 and lrs[-1] == pytest.approx(0.5e-12)
    assert isinstance(trainer.opt, torch.optim.SGD)


def test_plateau_monitor_sets_the_schedulers_direction() -> None:
    from emoprep.train.loop import make_plateau

    opt = torch.optim.SGD(torch.nn.Linear(2, 2).parameters(), lr=1.0)
    acc = make_plateau(opt, TrainConfig.model_validate(
        {"optim": {"plateau_monitor": "val_acc"}}).optim)
    loss = make_plateau(opt, TrainConfig().optim)
    assert (acc.mode, loss.mode) == ("max", "min")


def test_new_options_stay_out_of_fingerprints_at_their_defaults() -> None:
    plain = TrainConfig().model_slice()
    assert "seq_cut" not in plain
    assert not {"optimizer", "momentum", "plateau_monitor"} & set(plain["optim"])
    changed = TrainConfig.model_validate({"seq_cut": "end", "optim": {
        "optimizer": "sgd", "momentum": 0.9, "plateau_monitor": "val_acc"}}).model_slice()
    assert changed["seq_cut"] == "end"
    assert (changed["optim"]["optimizer"], changed["optim"]["momentum"],
            changed["optim"]["plateau_monitor"]) == ("sgd", 0.9, "val_acc")


def profile_train(profile: str) -> dict:
    """The ``train:`` mapping a thesis profile fills into an empty manifest."""
    from emoprep.pipeline.manifest.profiles import apply_profile

    return apply_profile({"profile": profile, "videos": {"root": "."}})["train"]


@pytest.mark.parametrize(("profile", "task"), [("thesis-bu4dfe", "emotion"),
                                               ("thesis-sase-fe", "multitask"),
                                               ("thesis-affectnet", "emotion"),
                                               ("thesis-nvie", "authenticity")])
def test_each_thesis_profile_trains_end_to_end(profile: str, task: str, tmp_path) -> None:
    """The profile's protocol as it is, only the epochs cut to 6 and the heads narrowed: folds,
    test part, and the final model where the profile asks for one."""
    from emoprep.train import fit

    train = profile_train(profile)
    train["optim"]["epochs"] = 6
    train.update(lstm={"hidden": 16}, bilstm={"hidden": 8}, device="cpu")
    cfg = TrainConfig.model_validate(train)
    assert cfg.task.value == task
    seqs = make_sequences(n=60)
    m = fit(seqs, subject_folds(seqs, k=2, test_subjects=3), cfg, tmp_path, plots=False,
            allow_degenerate=True)
    assert len(m["folds"]) == 2
    assert ("final" in m and m["final"] is not None) == cfg.final_model
