"""002's shallow CNN (Table 4.2) and SVM baseline (§4.4.4): the layer shapes and parameter count
of the table, training from scratch with ``emoprep finetune``'s trainer (loss decreases, the
checkpoint reloads with ``weights_only=True``), the SVC's settings and its scores on tiny
generated crops."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch

from emoprep.errors import ConfigError, ModelFileError
from emoprep.train import shallow_cnn
from emoprep.train.backbones import build, frozen_prefixes
from emoprep.train.config import Backbone, TrainConfig
from emoprep.train.finetune import FinetuneOptions, finetune
from emoprep.train.svm_baseline import SvmSettings, fit_svm, pixels, search_space
from tests.train.test_finetune import _frameset

#: Table 4.2's rows: (layer, output shape NHWC as printed, batch 1)
TABLE_4_2 = [("conv1", (1, 96, 96, 8)), ("conv2", (1, 96, 96, 16)), ("pool", (1, 32, 32, 16)),
             ("conv3", (1, 32, 32, 24)), ("conv4", (1, 32, 32, 32)), ("pool", (1, 11, 11, 32)),
             ("fc1", (1, 2048))]


def test_layers_have_table_4_2_s_shapes_and_parameter_count() -> None:
    net = shallow_cnn.ShallowCNN()
    seen: list[tuple[str, tuple[int, ...]]] = []
    for name in ("conv1", "conv2", "pool", "conv3", "conv4", "fc1"):
        getattr(net, name).register_forward_hook(
            lambda _m, _i, out, name=name: seen.append((name, tuple(out.shape))))
    assert net(torch.zeros(1, 3, 96, 96)).shape == (1, 2048)
    nhwc = [(n, (s[0], s[2], s[3], s[1]) if len(s) == 4 else s) for n, s in seen]
    assert nhwc == TABLE_4_2
    # 3x3 kernels (chosen) on Table 4.2's channels; fc 3872 -> 2048 -> K (the table's)
    convs = (3 * 8 + 8 * 16 + 16 * 24 + 24 * 32) * 9 + (8 + 16 + 24 + 32)
    for k in (2, 12):
        built = build(Backbone.SHALLOW_CNN, None, k)
        n = sum(p.numel() for p in built.model.parameters())
        assert n == shallow_cnn.parameter_count(k) == convs + 3872 * 2048 + 2048 + 2048 * k + k
    assert built.prep.size == 96 and built.model.drop.p == 0.4
    assert frozen_prefixes(Backbone.SHALLOW_CNN, 1) == ("conv1.", "conv2.")
    with pytest.raises(ConfigError, match="expected input side 96.*got 64"):
        build(Backbone.SHALLOW_CNN, None, 2, input_size=64)


def test_trains_from_scratch_and_the_checkpoint_reloads(tmp_path: Path) -> None:
    fs = _frameset(n_videos=10, side=48, test=2)
    cfg = TrainConfig.model_validate({"optim": {"lr": 1e-3, "batch_size": 4, "epochs": 3,
                                                "weight_decay": 0, "early_stopping": False},
                                      "device": "cpu", "num_threads": 1})
    m = finetune(fs, FinetuneOptions(Backbone.SHALLOW_CNN, None, fold=None, augment=False), cfg,
                 tmp_path)
    losses = [r["train_loss"] for r in m["log"]]
    assert losses[-1] < losses[0], losses
    assert m["weights"] is None and m["weights_sha256"] is None and m["options"]["input_size"] == 96
    sd = torch.load(m["checkpoint"], map_location="cpu", weights_only=True)
    assert Path(m["checkpoint"]).name == "shallow_cnn.pt"
    assert {k.split(".")[0] for k in sd} == {"conv1", "conv2", "conv3", "conv4", "fc1", "fc2"}
    assert sd["fc2.weight"].shape == (2, 2048)
    net = shallow_cnn.load_checkpoint(m["checkpoint"])
    test = fs.frames_of(fs.folds.test)
    with torch.no_grad():
        pred = net(build(Backbone.SHALLOW_CNN, None, 2).prep(fs.crops[test])).argmax(1).numpy()
    assert (pred == fs.frame_labels[test]).mean() == m["parts"]["test"]["frame_accuracy"]
    with pytest.raises(ModelFileError, match=r"nowhere\.pt not found"):
        shallow_cnn.load_checkpoint(tmp_path / "nowhere.pt")
    again = finetune(fs, FinetuneOptions(Backbone.SHALLOW_CNN, None, fold=None, augment=False),
                     cfg, tmp_path, reuse=True)
    assert again["cached"] and again["sha256"] == m["sha256"]


def test_svm_has_002_s_settings_and_scores_the_parts(tmp_path: Path) -> None:
    svc = SvmSettings().classifier()
    params = svc.get_params()
    assert (params["kernel"], params["C"], params["gamma"], params["degree"]) == (
        "poly", 0.01, 0.001, 3)  # 002 §4.4.4's search result; degree: scikit-learn's default
    assert search_space() == {"gamma": [1e-5, 1e-4, 1e-3, 0.01, 0.1, 1.0, 10.0],
                              "C": [0.001, 0.01, 0.1, 1.0, 10.0, 100.0],
                              "kernel": ["rbf", "poly", "linear"]}  # Table 4.3
    fs = _frameset(n_videos=12, side=16, test=4)
    assert pixels(fs.crops).shape == (12, 16 * 16 * 3) and pixels(fs.crops).max() <= 1.0
    m = fit_svm(fs, 0, tmp_path, SvmSettings(kernel="linear", C=1.0))
    assert m["train"]["frames"] == 8 and set(m["parts"]) == {"test"}
    test = m["parts"]["test"]
    assert test["frames"] == 4 and test["frame_accuracy"] == 1.0  # halves 150 apart: separable
    assert np.trace(np.asarray(test["confusion"])) == 4
    assert json.loads((tmp_path / "metrics.json").read_text())["settings"]["kernel"] == "linear"
    fs.labels[:] = 0
    with pytest.raises(ConfigError, match="at least 2 classes"):
        fit_svm(fs, 0, tmp_path)
