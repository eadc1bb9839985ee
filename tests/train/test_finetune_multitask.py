"""Frame-level multi-task fine-tuning (the SASE-FE protocol, 000 §3.2): two heads on one backbone,
the combined accuracy counted per frame (§3.2.1) beside frame and video accuracies. Random IRv1
weights in the released layout (no real weights here)."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch

from emoprep.data import Folds
from emoprep.stages.embed.irv1 import InceptionResnetV1Config
from emoprep.stages.embed.irv1_nets import InceptionResnetV1
from emoprep.train.config import Backbone, TrainConfig
from emoprep.train.finetune import FinetuneOptions, finetune, table
from emoprep.train.frames import FrameSet, multitask_scores


def _frameset(n_videos: int = 4, per: int = 2, side: int = 32, test: int = 0) -> FrameSet:
    """Emotion: bright top (0) or left (1) half; authenticity: red (0) or blue (1) tint."""
    rng = np.random.default_rng(0)
    emo = np.arange(n_videos) % 2
    auth = (np.arange(n_videos) // 2) % 2
    crops = rng.integers(0, 60, (n_videos * per, side, side, 3)).astype(np.uint8)
    video_of = np.repeat(np.arange(n_videos), per)
    for i, v in enumerate(video_of):
        if emo[v]:
            crops[i, :, : side // 2] += 100
        else:
            crops[i, : side // 2] += 100
        crops[i, ..., 0 if auth[v] == 0 else 2] += 90
    folds = Folds("hand", [(np.arange(n_videos - test), np.array([], np.int64))],
                  np.arange(n_videos - test, n_videos), "hand")
    heads = {"emotion": (emo, ["up", "left"]), "authenticity": (auth, ["genuine", "posed"])}
    return FrameSet(crops, video_of, emo, ["up", "left"], "multitask",
                    np.array([f"v{i}" for i in range(n_videos)]),
                    np.array([f"s{i}" for i in range(n_videos)]), folds, heads)


def test_combined_accuracy_counts_frames_with_both_heads_right() -> None:
    fs = _frameset(n_videos=2, per=1)
    fs.video_of = np.array([0, 0, 0, 1, 1])
    fs.heads = {"emotion": (np.array([0, 1]), ["a", "b"]),
                "authenticity": (np.array([1, 0]), ["g", "p"])}
    emo = np.array([[0.9, 0.1], [0.8, 0.2], [0.3, 0.7], [0.2, 0.8], [0.6, 0.4]])
    auth = np.array([[0.1, 0.9], [0.7, 0.3], [0.4, 0.6], [0.9, 0.1], [0.8, 0.2]])
    # per frame: emotion right 1,1,0,1,0 ; authenticity right 1,0,1,1,1 ; both 1,0,0,1,0
    s = multitask_scores({"emotion": emo, "authenticity": auth}, np.arange(5), fs)
    assert s["combined_frame_accuracy"] == 2 / 5
    assert s["emotion"]["frame_accuracy"] == 3 / 5 and s["authenticity"]["frame_accuracy"] == 4 / 5
    # video means: v0 emo (2/3, 1/3) -> 0 right, auth (0.4, 0.6) -> 1 right; v1 emo (0.4, 0.6)
    # -> 1 right, auth (0.85, 0.15) -> 0 right: both videos right on both heads
    assert s["combined_video_accuracy"] == 1.0 and (s["frames"], s["videos"]) == (5, 2)
    # the combined figure is not the product or the mean of the two accuracies
    assert s["combined_frame_accuracy"] != 3 / 5 * 4 / 5


@pytest.mark.parametrize("combine", ["sum", "precision"])
def test_multitask_loss_falls_and_metrics_report_combined(tmp_path: Path, combine: str) -> None:
    torch.manual_seed(0)
    weights = tmp_path / "irv1_random.pt"
    torch.save(InceptionResnetV1().state_dict(), weights)
    fs = _frameset(n_videos=6, per=2, test=2)
    cfg = TrainConfig.model_validate({
        "task": "multitask", "task_hidden": 16, "device": "cpu",
        "loss": {"kind": "multilabel_focal", "combine": combine},
        "optim": {"optimizer": "sgd", "momentum": 0.9, "lr": 0.01, "batch_size": 4, "epochs": 4,
                  "weight_decay": 0, "early_stopping": False}})
    opts = FinetuneOptions(Backbone.IRV1, weights, input_size=80, fold=None, augment=False)
    m = finetune(fs, opts, cfg, tmp_path / "ft")
    losses = [r["train_loss"] for r in m["log"]]
    assert losses[-1] < losses[0], losses
    assert {"train_emotion_frame_acc", "train_authenticity_frame_acc"} <= set(m["log"][0])
    factors = [(r["emotion_loss_factor"], r["authenticity_loss_factor"]) for r in m["log"]]
    assert factors[0] == (1.0, 1.0)  # eq. 3.3: no precision before the first epoch
    if combine == "sum":
        assert set(factors) == {(1.0, 1.0)}
    else:  # the previous epoch's training macro precision, a value in [0, 1]
        assert all(0 <= f <= 1 for pair in factors[1:] for f in pair) and factors[1] != (1.0, 1.0)
    test = json.loads((tmp_path / "ft" / "metrics.json").read_text())["parts"]["test"]
    assert set(test) == {"emotion", "authenticity", "combined_frame_accuracy",
                         "combined_video_accuracy", "frames", "videos"}
    assert (test["frames"], test["videos"]) == (4, 2)
    assert test["combined_frame_accuracy"] <= min(test["emotion"]["frame_accuracy"],
                                                  test["authenticity"]["frame_accuracy"])
    assert m["classes"] == {"emotion": ["up", "left"], "authenticity": ["genuine", "posed"]}
    assert "combined" in table(m)
    sd = torch.load(m["checkpoint"], map_location="cpu", weights_only=True)
    assert sd["logits.heads.emotion.0.weight"].shape == (16, 512)
    assert sd["logits.heads.authenticity.2.weight"].shape == (2, 16)
    emb = InceptionResnetV1Config(weights=Path(m["checkpoint"]), input_size=80, device="cpu").make()
    assert emb.embed(fs.crops[:1]).shape == (1, 512)


# --- end to end: a run of real clips with both labels, then `emoprep finetune --task multitask` --

NAMES = ("s01_happy_g.mp4", "s02_sad_p.mp4", "s03_happy_p.mp4", "s04_sad_g.mp4")
LABELS = {"pattern": r"(?P<subject>s\d+)_(?P<emotion>[a-z]+)_(?P<authenticity>[gp])\.mp4",
          "subject": "subject", "groups": ["emotion", "authenticity"]}


def test_cli_multitask_on_a_run(clip_bank: Path, tmp_path: Path) -> None:
    import shutil
    import subprocess
    import sys

    import emoprep
    from emoprep.train.frames import load_frames
    from tests.helpers import CORPUS, write_manifest

    videos = tmp_path / "videos"
    videos.mkdir()
    for (name, *_), new in zip(CORPUS, NAMES, strict=True):
        shutil.copy2(clip_bank / name, videos / new)
    manifest = write_manifest(tmp_path / "m.yaml", videos, {
        "align": {"size": 80}, "window": {"sample": {"every": 4}},
        "split": {"folds": 2, "test_fraction": 0.0}}, LABELS)
    out = tmp_path / "out"
    emoprep.run(manifest, out, workers=0)
    fs = load_frames(out, task="multitask", per_video=2)
    assert fs.task == "multitask" and list(fs.heads) == ["emotion", "authenticity"]
    assert [fs.heads["authenticity"][1][k] for k in fs.heads["authenticity"][0]] == \
        [v.split("_")[2][0] for v in fs.video_ids]
    torch.manual_seed(0)
    weights = tmp_path / "irv1.pt"
    torch.save(InceptionResnetV1().state_dict(), weights)
    res = subprocess.run(
        [sys.executable, "-m", "emoprep.cli.app", "finetune", "--backbone", "inception_resnet_v1",
         "--weights", str(weights), "-m", str(manifest), "-o", str(out), "--input-size", "80",
         "--frames-per-video", "1", "--fold", "0", "--task", "multitask",
         "--set", "train.optim.epochs=1", "--set", "train.loss.combine=precision",
         "--set", "train.device=cpu"], capture_output=True, text=True, timeout=300)
    assert res.returncode == 0, res.stderr
    assert "combined" in res.stdout
    metrics = json.loads((out / "finetune" / "inception_resnet_v1" / "fold_0" /
                          "metrics.json").read_text())
    assert metrics["task"] == "multitask" and "combined_frame_accuracy" in metrics["parts"]["val"]
    joint, multi = load_frames(out, task="joint"), load_frames(out, task="multitask")
    (emo, e_names), (auth, a_names) = multi.heads["emotion"], multi.heads["authenticity"]
    assert joint.task == "joint" and not joint.heads  # one head: a class per pair (002 §5.2)
    assert [joint.classes[k] for k in joint.labels] == [
        f"{e_names[e]}/{a_names[a]}" for e, a in zip(emo, auth, strict=True)]
    assert len(joint.classes) == len(e_names) * len(a_names)
