"""The AffectNet still-image backbone (004 §3.2): DenseNet-121 in plain torch with torchvision's
state-dict names, fine-tuned by `emoprep finetune --backbone densenet121`. No pretrained file is
available here: a seeded random network saved in that layout stands in (small 32x32 inputs)."""

from __future__ import annotations

from dataclasses import asdict
from pathlib import Path

import numpy as np
import pytest
import torch

from emoprep.data import Folds
from emoprep.errors import ModelFileError
from emoprep.stages.embed import DenseNet121Config, EmbedderConfig
from emoprep.stages.embed.densenet_nets import IMAGENET_MEAN, IMAGENET_STD, DenseNet121, legacy_keys
from emoprep.train.backbones import Preprocess, build, checkpoint_state
from emoprep.train.config import Backbone, TrainConfig
from emoprep.train.finetune import FinetuneOptions, FrameTrainer, finetune
from emoprep.train.finetune_cache import reusable, run_key
from emoprep.train.frames import FrameSet


def _frameset(n: int = 8, side: int = 32) -> FrameSet:
    """Class 0: bright top half; class 1: bright left half; one crop per still image."""
    rng = np.random.default_rng(0)
    labels = np.arange(n) % 2
    crops = rng.integers(0, 60, (n, side, side, 3)).astype(np.uint8)
    for i in range(n):
        if labels[i]:
            crops[i, :, : side // 2] += 150
        else:
            crops[i, : side // 2] += 150
    folds = Folds("hand", [(np.arange(n), np.array([], np.int64))], np.array([], np.int64), "h")
    return FrameSet(crops, np.arange(n), labels, ["up", "left"], "emotion",
                    np.array([f"i{k}" for k in range(n)]), np.array([f"s{k}" for k in range(n)]),
                    folds)


@pytest.fixture(scope="module")
def dn_file(tmp_path_factory: pytest.TempPathFactory) -> Path:
    torch.manual_seed(0)
    path = tmp_path_factory.mktemp("dn") / "densenet121.pt"
    torch.save(DenseNet121(with_classifier=True).state_dict(), path)
    return path


def test_layout_is_torchvision_densenet121(dn_file: Path) -> None:
    sd = torch.load(dn_file, map_location="cpu", weights_only=True)
    assert sd["features.conv0.weight"].shape == (64, 3, 7, 7)
    assert sd["features.denseblock4.denselayer16.conv2.weight"].shape == (32, 128, 3, 3)
    assert sd["features.transition3.conv.weight"].shape == (512, 1024, 1, 1)
    assert sd["features.norm5.running_var"].shape == (1024,)
    assert sd["classifier.weight"].shape == (1000, 1024)
    n_params = sum(v.numel() for k, v in sd.items() if "running" not in k and "num_b" not in k)
    assert n_params == 7_978_856  # torchvision's densenet121 parameter count
    old = {k.replace("denselayer1.norm1.", "denselayer1.norm.1."): v for k, v in sd.items()}
    assert legacy_keys(old).keys() == sd.keys()


def test_densenet_loss_falls_and_checkpoint_reloads(dn_file: Path, tmp_path: Path) -> None:
    fs = _frameset()
    cfg = TrainConfig.model_validate({
        "device": "cpu", "loss": {"class_weighted": True},
        "optim": {"optimizer": "sgd", "momentum": 0.9, "lr": 0.001, "batch_size": 4,
                  "epochs": 4, "weight_decay": 0, "early_stopping": False}})
    opts = FinetuneOptions(Backbone.DENSENET121, dn_file, input_size=32, fold=None, augment=False)
    m = finetune(fs, opts, cfg, tmp_path)
    losses = [r["train_loss"] for r in m["log"]]
    assert losses[-1] < losses[0], losses
    ckpt = Path(m["checkpoint"])
    assert ckpt.name == "densenet121_finetuned.pt"
    sd = torch.load(ckpt, map_location="cpu", weights_only=True)
    original = torch.load(dn_file, map_location="cpu", weights_only=True)
    assert set(sd) == set(original) and sd["classifier.weight"].shape == (2, 1024)
    assert not torch.equal(sd["features.conv0.weight"], original["features.conv0.weight"])
    net = DenseNet121(with_classifier=True, n_classes=2)
    net.load_state_dict(sd)  # strict: the checkpoint keeps torchvision's layout
    assert net.eval()(torch.zeros(1, 3, 32, 32)).shape == (1, 2)
    # the densenet121 embedder reads it: pooled features, the file's sha256 in its fingerprint
    before = DenseNet121Config(weights=dn_file, input_size=32, device="cpu").make()
    after = DenseNet121Config(weights=ckpt, input_size=32, device="cpu").make()
    crops = fs.crops[:3]
    got = after.embed(crops)
    assert got.shape == (3, 1024) and not np.allclose(got, before.embed(crops))
    pooled = DenseNet121()
    pooled.load_state_dict({k: v for k, v in sd.items() if not k.startswith("classifier.")})
    x = Preprocess(32, IMAGENET_MEAN, IMAGENET_STD)(crops)
    with torch.no_grad():
        np.testing.assert_allclose(got, pooled.eval()(x).numpy(), rtol=1e-4, atol=1e-5)
    assert after.attrs()["weights_sha256"] == m["sha256"] != before.attrs()["weights_sha256"]
    assert DenseNet121Config(weights=ckpt).model_files() == [ckpt]


def test_missing_or_foreign_file_is_named(tmp_path: Path) -> None:
    with pytest.raises(ModelFileError, match=r"nowhere\.pt not found"):
        build(Backbone.DENSENET121, tmp_path / "nowhere.pt", 2)
    other = tmp_path / "other.pt"
    torch.save({"conv.weight": torch.zeros(1)}, other)
    with pytest.raises(ModelFileError, match=r"other\.pt does not match.*missing keys"):
        build(Backbone.DENSENET121, other, 2)


def test_one_task_parts_report_mean_class_accuracy(dn_file: Path) -> None:
    fs = _frameset()
    fs.labels = np.array([0, 0, 0, 0, 0, 1, 1, 1])  # unbalanced: MCA differs from accuracy
    opts = FinetuneOptions(Backbone.DENSENET121, dn_file, input_size=32, fold=None, augment=False)
    trainer = FrameTrainer(build(opts.backbone, dn_file, 2, 32), fs,
                           TrainConfig.model_validate({"device": "cpu"}), opts)
    every = np.arange(8)
    s, _ = trainer.scores(every)
    pred = trainer.predict(every)[0].argmax(1)
    recalls = [float((pred[fs.labels == k] == k).mean()) for k in (0, 1)]
    assert s["frame_mean_class_accuracy"] == pytest.approx(np.mean(recalls), abs=1e-12)
    assert s["frame_accuracy"] == pytest.approx(float((pred == fs.labels).mean()), abs=1e-12)


def test_embedder_is_declared_in_a_manifest_and_names_a_missing_file(tmp_path: Path) -> None:
    from pydantic import TypeAdapter

    cfg = TypeAdapter(EmbedderConfig).validate_python(
        {"type": "densenet121", "weights": str(tmp_path / "dn.pt")})
    assert isinstance(cfg, DenseNet121Config) and cfg.input_size == 224
    assert cfg.missing_files("dn") == [f"stages.embed.dn: model file {tmp_path / 'dn.pt'} not "
                                       "found; put the file there or fix the path"]
    with pytest.raises(ModelFileError, match=r"embedder densenet121: weight file .*dn\.pt not "
                       "found; expected a torchvision densenet121 state dict"):
        cfg.make()


def test_a_fine_tuning_run_is_reused_until_something_it_depends_on_changes(
        dn_file: Path, tmp_path: Path) -> None:
    """Three acts (emoprep experiment's reuse): train; the same again is reused (a thread count
    is no part of the key); a new learning rate, other crops or a changed checkpoint train anew."""
    fs = _frameset()
    opts = FinetuneOptions(Backbone.DENSENET121, dn_file, input_size=32, fold=None)
    base = {"device": "cpu", "optim": {"batch_size": 4, "epochs": 1}}
    first = finetune(fs, opts, TrainConfig.model_validate(base), tmp_path, reuse=True)
    ckpt = Path(first["checkpoint"])
    stamp = ckpt.stat().st_mtime_ns
    assert first["cached"] is False
    again = finetune(fs, opts, TrainConfig.model_validate({**base, "num_threads": 1}), tmp_path,
                     reuse=True)
    assert again["cached"] is True and again["key"] == first["key"]
    assert ckpt.stat().st_mtime_ns == stamp and again["sha256"] == first["sha256"]
    other = {**base, "optim": {**base["optim"], "lr": 0.01}}
    third = finetune(fs, opts, TrainConfig.model_validate(other), tmp_path, reuse=True)
    assert third["cached"] is False and third["key"] != first["key"]
    fs.crops[0, 0, 0, 0] ^= 1  # one value of one crop
    assert run_key(fs, asdict(opts), TrainConfig.model_validate(other)) != third["key"]
    fs.crops[0, 0, 0, 0] ^= 1
    assert reusable(tmp_path, third["key"]) is not None
    ckpt.write_bytes(ckpt.read_bytes()[:-1])  # a damaged checkpoint is not reused
    assert reusable(tmp_path, third["key"]) is None


def test_frozen_blocks_keep_weights_and_batch_norm_statistics(dn_file: Path) -> None:
    """train.finetune.trainable_blocks=1: only denseblock4 (and norm5, the classifier) train; the
    earlier blocks' batch-norm layers stay in eval mode, their running statistics as loaded."""
    fs = _frameset()
    opts = FinetuneOptions(Backbone.DENSENET121, dn_file, input_size=32, fold=None, augment=False)
    cfg = TrainConfig.model_validate({"device": "cpu", "finetune": {"trainable_blocks": 1},
                                      "optim": {"batch_size": 4, "epochs": 1}})
    built = build(opts.backbone, dn_file, 2, 32)
    FrameTrainer(built, fs, cfg, opts).fit(np.arange(8), None)
    sd = checkpoint_state(built)
    original = torch.load(dn_file, map_location="cpu", weights_only=True)
    for k in ("features.denseblock1.denselayer1.norm1.running_mean",
              "features.transition3.conv.weight", "features.conv0.weight"):
        assert torch.equal(sd[k], original[k]), k
    for k in ("features.denseblock4.denselayer16.norm1.running_mean",
              "features.denseblock4.denselayer16.conv2.weight", "features.norm5.weight"):
        assert not torch.equal(sd[k], original[k]), k
