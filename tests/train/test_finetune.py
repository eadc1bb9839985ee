"""Frame-level training and fine-tuning (emoprep.train.frames / backbones / finetune, `emoprep
finetune`). The real pretrained weights (facenet-pytorch's VGGFace2 IRv1, Oxford VGG-Face) are
not available here: the tests build the networks with a seeded random initialisation and save
their state dicts, which have the released files' layout."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch

import emoprep
from emoprep.data import Folds
from emoprep.errors import ModelFileError
from emoprep.pipeline.manifest.train_section import FinetuneConfig
from emoprep.stages.embed.irv1 import InceptionResnetV1Config
from emoprep.stages.embed.irv1_nets import InceptionResnetV1
from emoprep.stages.embed.vggface import VggFaceConfig
from emoprep.stages.embed.vggface_nets import VggFace
from emoprep.train.backbones import build, checkpoint_state, frozen_prefixes
from emoprep.train.config import Backbone, TrainConfig
from emoprep.train.finetune import FinetuneOptions, FrameTrainer, finetune
from emoprep.train.frames import FrameSet, frame_video_scores, load_frames, video_probs
from tests.helpers import CORPUS, write_manifest


def _frameset(n_videos: int = 4, per: int = 1, side: int = 32, test: int = 0) -> FrameSet:
    """Class 0: bright top half; class 1: bright left half (noise below); videos alternate."""
    rng = np.random.default_rng(0)
    labels = np.arange(n_videos) % 2
    crops = rng.integers(0, 60, (n_videos * per, side, side, 3)).astype(np.uint8)
    video_of = np.repeat(np.arange(n_videos), per)
    for i, v in enumerate(video_of):
        if labels[v]:
            crops[i, :, : side // 2] += 150
        else:
            crops[i, : side // 2] += 150
    train = np.arange(n_videos - test)
    folds = Folds("hand", [(train, np.array([], np.int64))], np.arange(n_videos - test, n_videos),
                  "hand")
    return FrameSet(crops, video_of, labels, ["up", "left"], "emotion",
                    np.array([f"v{i}" for i in range(n_videos)]),
                    np.array([f"s{i}" for i in range(n_videos)]), folds)


def _cfg(**optim) -> TrainConfig:
    return TrainConfig.model_validate({"optim": {"optimizer": "sgd", "momentum": 0.9, "lr": 0.01,
                                                 "batch_size": 4, "epochs": 3, "weight_decay": 0,
                                                 "early_stopping": False, **optim},
                                       "device": "cpu"})


@pytest.fixture(scope="module")
def irv1_file(tmp_path_factory: pytest.TempPathFactory) -> Path:
    torch.manual_seed(0)
    path = tmp_path_factory.mktemp("irv1") / "irv1_random.pt"
    torch.save(InceptionResnetV1().state_dict(), path)
    return path


def test_video_aggregation_is_the_mean_of_frame_probabilities() -> None:
    fs = _frameset(n_videos=3, per=1)
    fs.video_of, fs.labels = np.array([0, 0, 0, 1, 1, 2]), np.array([0, 1, 1])
    probs = np.array([[0.9, 0.1], [0.2, 0.8], [0.4, 0.6],  # video 0: mean 0.5 / 0.5 -> class 0
                      [0.7, 0.3], [0.2, 0.8],  # video 1: mean 0.45 / 0.55 -> class 1, right
                      [0.6, 0.4]])  # video 2: class 0, wrong
    videos, vp = video_probs(probs, fs.video_of)
    assert videos.tolist() == [0, 1, 2]
    np.testing.assert_allclose(vp, [[0.5, 0.5], [0.45, 0.55], [0.6, 0.4]], atol=1e-12)
    s = frame_video_scores(probs, np.arange(6), fs)
    # frames right: v0 (label 0): 1 of 3; v1 (label 1): 1 of 2; v2 (label 1): 0 of 1 -> 2 / 6
    assert s == {"frame_accuracy": 2 / 6, "video_accuracy": 2 / 3, "frames": 6, "videos": 3}
    part = frame_video_scores(probs[3:], np.arange(3, 6), fs)  # a part's crops only
    assert part["videos"] == 2 and part["video_accuracy"] == 0.5


def test_irv1_loss_decreases_and_the_embedder_loads_the_checkpoint(irv1_file: Path,
                                                                   tmp_path: Path) -> None:
    fs = _frameset()
    opts = FinetuneOptions(Backbone.IRV1, irv1_file, input_size=80, fold=None, augment=False)
    m = finetune(fs, opts, _cfg(), tmp_path)
    losses = [r["train_loss"] for r in m["log"]]
    assert losses[-1] < losses[0], losses
    ckpt = Path(m["checkpoint"])
    assert ckpt.name == "irv1_finetuned.pt" and m["fold"] == "final"
    sd = torch.load(ckpt, map_location="cpu", weights_only=True)
    original = torch.load(irv1_file, map_location="cpu", weights_only=True)
    assert set(sd) == set(original) | {"logits.weight", "logits.bias"}
    assert sd["logits.weight"].shape == (2, 512)
    assert not torch.equal(sd["conv2d_1a.conv.weight"], original["conv2d_1a.conv.weight"])
    crops = fs.crops[:2]
    before = InceptionResnetV1Config(weights=irv1_file, input_size=80, device="cpu").make()
    after = InceptionResnetV1Config(weights=ckpt, input_size=80, device="cpu").make()
    assert after.embed(crops).shape == (2, 512)
    assert not np.allclose(after.embed(crops), before.embed(crops))
    assert after.attrs()["weights_sha256"] == m["sha256"] != before.attrs()["weights_sha256"]


def test_freeze_trains_the_classifier_only(irv1_file: Path) -> None:
    fs = _frameset()
    opts = FinetuneOptions(Backbone.IRV1, irv1_file, input_size=80, fold=None, augment=False,
                           freeze=True)
    built = build(opts.backbone, irv1_file, 2, 80)
    FrameTrainer(built, fs, _cfg(epochs=1), opts).fit(np.arange(len(fs.crops)), None)
    sd = checkpoint_state(built)
    original = torch.load(irv1_file, map_location="cpu", weights_only=True)  # not built.original:
    # the network's tensors may be that dict's own
    assert all(torch.equal(sd[k], original[k]) for k in original if not k.startswith("logits."))
    assert sd["logits.weight"].shape == (2, 512)


def test_vggface_dense_head_trains_and_loads_for_every_layer(tmp_path: Path) -> None:
    torch.manual_seed(0)
    net = VggFace(())
    for mod in net.modules():  # a trainable scale, as trained weights have (default init fades)
        if isinstance(mod, torch.nn.Conv2d):
            torch.nn.init.kaiming_normal_(mod.weight, nonlinearity="relu")
    with torch.no_grad():
        net.conv1_1.weight /= 128  # the input is on the 0-255 scale
    weights = tmp_path / "vgg_conv.pt"
    torch.save(net.state_dict(), weights)
    fs = _frameset()
    opts = FinetuneOptions(Backbone.VGGFACE, weights, input_size=32, fold=None, augment=False)
    built = build(opts.backbone, weights, 2, 32)
    trainer = FrameTrainer(built, fs, _cfg(lr=0.001), opts)
    every = np.arange(len(fs.crops))
    before = trainer.predict(every)[1]  # no batch-norm in VGG: eval-mode losses compare
    trainer.fit(every, None)
    after = trainer.predict(every)[1]
    assert after < before, (before, after)
    ckpt = tmp_path / "vggface_finetuned.pt"
    torch.save(checkpoint_state(built), ckpt)  # what finetune() writes
    sd = torch.load(ckpt, map_location="cpu", weights_only=True)
    assert sd["dense.weight"].shape == (1024, 25088) and sd["fc8.weight"].shape == (2, 1024)
    for layer, dim in (("dense1024", 1024), ("pool5", 25088)):
        emb = VggFaceConfig(weights=ckpt, layer=layer, input_size=32, device="cpu").make()
        assert emb.embed(fs.crops[:1]).shape == (1, dim)


def test_missing_weights_name_the_file(tmp_path: Path) -> None:
    with pytest.raises(ModelFileError, match=r"nowhere\.pt not found.*never downloaded"):
        build(Backbone.IRV1, tmp_path / "nowhere.pt", 2)


# --- end to end: `emoprep run` on real clips, then `emoprep finetune` ---------------------------

STAGES = {"align": {"size": 80}, "window": {"sample": {"every": 4}},
          "split": {"folds": 2, "test_fraction": 0.0}}


@pytest.fixture(scope="module")
def run_out(clip_bank: Path, irv1_file: Path, tmp_path_factory: pytest.TempPathFactory):
    root = tmp_path_factory.mktemp("ft_run")
    videos = root / "videos"
    videos.mkdir()
    for name, *_ in CORPUS:
        shutil.copy2(clip_bank / name, videos / name)
    weights = root / "irv1.pt"
    shutil.copy2(irv1_file, weights)
    embed = {"irv1": {"type": "inception_resnet_v1", "weights": str(weights), "input_size": 80,
                      "device": "cpu"}}
    manifest = write_manifest(root / "m.yaml", videos, {**STAGES, "embed": embed})
    out = root / "out"
    emoprep.run(manifest, out, workers=0)
    return manifest, out, weights


def test_frames_load_per_video_with_the_split(run_out) -> None:
    _, out, _ = run_out
    fs = load_frames(out, per_video=3)
    split = json.loads((out / "splits" / f"{fs.folds.name}.json").read_text())
    assert sorted(fs.video_ids[fs.folds.folds[0][1]]) == sorted(split["folds"][0]["val"])
    assert np.bincount(fs.video_of).tolist() == [3] * len(fs.video_ids)
    assert fs.crops.shape[1:] == (80, 80, 3) and fs.crops.dtype == np.uint8
    assert [fs.classes[k] for k in fs.labels] == [v.split("_")[1] for v in fs.video_ids]


def test_cli_finetune_then_the_embedder_is_stale(run_out) -> None:
    manifest, out, weights = run_out
    res = subprocess.run(
        [sys.executable, "-m", "emoprep.cli.app", "finetune", "--backbone", "inception_resnet_v1",
         "-m", str(manifest), "-o", str(out), "--no-flip",  # weights: the irv1 embedder's
         "--frames-per-video", "1", "--fold", "0", "--set", "train.optim.epochs=1",
         "--set", "train.optim.optimizer=sgd", "--set", "train.optim.momentum=0.9",
         "--set", "train.optim.plateau=true", "--set", "train.optim.plateau_monitor=val_acc",
         "--set", "train.device=cpu"], capture_output=True, text=True, timeout=300)
    assert res.returncode == 0, res.stderr
    assert "frame acc" in res.stdout and "video acc" in res.stdout
    ckpt = out / "finetune" / "inception_resnet_v1" / "fold_0" / "irv1_finetuned.pt"
    metrics = json.loads((ckpt.parent / "metrics.json").read_text())
    assert metrics["parts"]["val"]["videos"] == 2 and metrics["optim"]["optimizer"] == "sgd"
    assert metrics["weights"] == str(weights) and metrics["options"]["input_size"] == 80
    assert metrics["augment"]["flip"] == 0.0  # --no-flip
    assert _embed_states(manifest, out) == (4, 0)
    assert _embed_states(manifest, out, f"stages.embed.irv1.weights={ckpt}") == (0, 4)
    shutil.copy2(ckpt, weights)  # same path, new content: the fingerprint holds the sha256
    assert _embed_states(manifest, out) == (0, 4)


def _embed_states(manifest: Path, out: Path, *overrides: str) -> tuple[int, int]:
    counts = emoprep.status(manifest, out, overrides=overrides)["stages"]["embed:irv1"]
    return counts["up-to-date"], counts["stale"]


def test_block_prefixes_per_backbone() -> None:
    assert frozen_prefixes(Backbone.VGGFACE, None) == ()
    assert frozen_prefixes(Backbone.VGGFACE, 2) == ("conv1_", "conv2_", "conv3_")
    assert frozen_prefixes(Backbone.VGGFACE, 9) == ()
    assert len(frozen_prefixes(Backbone.VGGFACE, 0)) == 5
    assert frozen_prefixes(Backbone.IRV1, 1) == ("conv2d_", "maxpool_3a", "repeat_1.",
                                                 "mixed_6a.", "repeat_2.", "mixed_7a.")
    irv1 = [n for n, _ in InceptionResnetV1().named_parameters()]
    every = frozen_prefixes(Backbone.IRV1, 0)
    assert {n.split(".")[0] for n in irv1 if not n.startswith(every)} == {"last_linear",
                                                                          "last_bn"}


def test_head_epochs_then_the_last_two_vgg_blocks_train(tmp_path: Path) -> None:
    """003 §3.2.4 / Table 3.4: the classifier alone first, then the last two convolution blocks
    (conv4, conv5) with it; conv1-conv3 keep the loaded weights throughout."""
    torch.manual_seed(0)
    weights = tmp_path / "vgg_conv.pt"
    torch.save(VggFace(()).state_dict(), weights)
    original = torch.load(weights, map_location="cpu", weights_only=True)
    fs = _frameset()
    opts = FinetuneOptions(Backbone.VGGFACE, weights, input_size=32, fold=None, augment=False)

    def trained(epochs: int) -> dict[str, torch.Tensor]:
        cfg = _cfg(epochs=epochs, lr=0.001).model_copy(update={
            "finetune": FinetuneConfig(trainable_blocks=2, head_epochs=1)})
        built = build(opts.backbone, weights, 2, 32)
        FrameTrainer(built, fs, cfg, opts).fit(np.arange(len(fs.crops)), None)
        return checkpoint_state(built)

    head_only, both = trained(1), trained(2)
    for k in original:
        assert torch.equal(head_only[k], original[k]), k  # epoch 1: the classifier alone
        assert torch.equal(both[k], original[k]) == k.startswith(("conv1", "conv2", "conv3")), k
    assert not torch.equal(head_only["dense.weight"], both["dense.weight"])
