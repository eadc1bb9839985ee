"""Inception-V4 (002 §4.4.2) in plain torch with timm's ``inception_v4`` state-dict names,
fine-tuned by `emoprep finetune --backbone inception_v4`. No pretrained file is available here:
a seeded random network saved in that layout stands in (75 x 75 inputs, the smallest it takes:
the pool is global)."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch
from typer.testing import CliRunner

from emoprep.cli.app import app
from emoprep.errors import ModelFileError
from emoprep.train.backbones import build, frozen_prefixes
from emoprep.train.config import Backbone, TrainConfig
from emoprep.train.finetune import FinetuneOptions, finetune
from emoprep.train.inception_v4 import InceptionV4
from tests.train.test_finetune import _frameset


@pytest.fixture(scope="module")
def v4_file(tmp_path_factory: pytest.TempPathFactory) -> Path:
    torch.manual_seed(0)
    path = tmp_path_factory.mktemp("v4") / "inception_v4.pt"
    torch.save(InceptionV4(with_classifier=True).state_dict(), path)
    return path


def test_layout_is_timm_inception_v4(v4_file: Path) -> None:
    sd = torch.load(v4_file, map_location="cpu", weights_only=True)
    assert len(sd) == 896 and sd["features.0.conv.weight"].shape == (32, 3, 3, 3)
    assert sd["features.4.branch1.1.conv.weight"].shape == (64, 64, 1, 7)  # Mixed4a's 1x7
    assert sd["features.9.branch3.1.bn.running_var"].shape == (96,)  # 4th Inception-A's pool
    assert sd["features.17.branch2.4.conv.weight"].shape == (256, 224, 1, 7)  # 7th Inception-B
    assert sd["features.21.branch2_3b.conv.weight"].shape == (256, 512, 3, 1)  # 3rd Inception-C
    assert sd["last_linear.weight"].shape == (1000, 1536)
    n_params = sum(v.numel() for k, v in sd.items() if "running" not in k and "num_b" not in k)
    assert n_params == 42_679_816  # timm's inception_v4 parameter count
    frozen = frozen_prefixes(Backbone.INCEPTION_V4, 3)  # all but the 3 Inception-C blocks
    assert frozen == tuple(f"features.{i}." for i in range(19))


def test_fine_tunes_from_the_file_and_the_checkpoint_keeps_its_layout(v4_file: Path,
                                                                      tmp_path: Path) -> None:
    fs = _frameset(n_videos=2, side=32)
    cfg = TrainConfig.model_validate({"optim": {"lr": 1e-3, "batch_size": 4, "epochs": 1,
                                                "weight_decay": 0, "early_stopping": False},
                                      "finetune": {"trainable_blocks": 1},  # seconds, not 40
                                      "device": "cpu", "num_threads": 2})
    opts = FinetuneOptions(Backbone.INCEPTION_V4, v4_file, input_size=75, fold=None,
                           augment=False, dropout=0.7)
    m = finetune(fs, opts, cfg, tmp_path)
    assert all(r["train_loss"] == r["train_loss"] for r in m["log"])  # finite, trained
    sd = torch.load(m["checkpoint"], map_location="cpu", weights_only=True)
    original = torch.load(v4_file, map_location="cpu", weights_only=True)
    assert Path(m["checkpoint"]).name == "inception_v4_finetuned.pt"
    assert set(sd) == set(original) and sd["last_linear.weight"].shape == (2, 1536)
    assert torch.equal(sd["features.0.conv.weight"], original["features.0.conv.weight"])
    last = "features.21.branch0.conv.weight"
    assert not torch.equal(sd[last], original[last])  # the last block trained
    net = InceptionV4()
    net.load_state_dict({k: v for k, v in sd.items() if not k.startswith("last_linear.")})
    assert m["options"]["dropout"] == 0.7 and m["weights_sha256"]


def test_missing_file_is_named_and_the_cli_exits_2(tmp_path: Path) -> None:
    with pytest.raises(ModelFileError, match=r"nowhere\.pt not found.*timm inception_v4"):
        build(Backbone.INCEPTION_V4, tmp_path / "nowhere.pt", 2)
    manifest = tmp_path / "m.yaml"
    manifest.write_text(f"videos: {{root: {tmp_path}}}\n", encoding="utf-8")
    res = CliRunner().invoke(app, ["finetune", "--backbone", "inception_v4", "-m", str(manifest),
                                   "-o", str(tmp_path / "out"), "--weights",
                                   str(tmp_path / "v4.pt")])
    assert res.exit_code == 2, res.output
    assert "v4.pt not found" in res.output and "timm inception_v4" in res.output
