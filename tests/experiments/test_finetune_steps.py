"""The fine-tuning steps of ``emoprep experiment`` (emoprep.experiments.finetuning), in seconds:
BU-4DFE's first step (VGGFace fine-tuned on an expression image set, its checkpoint then the
features' weights) on a tiny generated image set with a seeded random VGG-Face in the released
layout, its skip when no set is given, the scores read per frame, and the errors."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import pytest
import torch
import yaml

from emoprep.errors import ConfigError, ModelFileError
from emoprep.experiments import run_experiment
from emoprep.experiments.finetuning import as_result, expression_set_step, frame_scores
from emoprep.experiments.results import scored
from emoprep.experiments.sources import EXPERIMENTS, FinetuneStep
from emoprep.io.atomic import sha256_file
from emoprep.pipeline.manifest.profile_specs import Profile
from emoprep.pipeline.session import resolve_manifest
from emoprep.stages.embed.vggface import VggFaceConfig
from emoprep.stages.embed.vggface_nets import VggFace
from emoprep.train.config import Backbone, Task

STEP = EXPERIMENTS[Profile.THESIS_BU4DFE].pre_finetune
FAST = ["train.optim.epochs=1", "train.optim.batch_size=4", "train.device=cpu",
        "train.num_threads=1", "train.finetune.input_size=32"]


@pytest.fixture(scope="module")
def vgg_file(tmp_path_factory: pytest.TempPathFactory) -> Path:
    torch.manual_seed(0)
    path = tmp_path_factory.mktemp("vgg") / "vgg_face_random.pt"
    torch.save(VggFace(()).state_dict(), path)  # the conv trunk: the released file's keys
    return path


def expression_set(root: Path) -> Path:
    """Six subjects x two expressions, one 40 x 40 image each (bright top vs bright left)."""
    rng = np.random.default_rng(0)
    for s in range(6):
        for emo in ("happy", "sad"):
            img = rng.integers(0, 60, (40, 40, 3)).astype(np.uint8)
            img[:20] += 150 if emo == "happy" else 0
            img[:, :20] += 150 if emo == "sad" else 0
            (root / "imgs" / emo).mkdir(parents=True, exist_ok=True)
            assert cv2.imwrite(str(root / "imgs" / emo / f"s{s}_0.png"), img)
    raw = {"videos": {"root": str(root / "imgs"), "include": ["*/*.png"]},
           "labels": {"pattern": r"(?P<emotion>[a-z]+)/(?P<subject>s\d+)_\d+\.png",
                      "subject": "subject"},
           "stages": {"detect": {"backend": "none"}, "window": {"mode": "all"},
                      "align": {"size": 40}, "embed": {},
                      "split": {"folds": 2, "test_fraction": 0.34}}}
    path = root / "fer.yaml"
    path.write_text(yaml.safe_dump(raw), encoding="utf-8")
    return path


def _main(tmp_path: Path, weights: Path) -> Path:
    raw = {"videos": {"root": str(tmp_path / "videos"), "fps": 25}, "labels": {"preset": "bu4dfe"},
           "stages": {"embed": {"vgg": {"type": "vggface", "weights": str(weights),
                                        "input_size": 32, "device": "cpu"}}}}
    path = tmp_path / "main.yaml"
    path.write_text(yaml.safe_dump(raw), encoding="utf-8")
    return path


def test_bu4dfe_first_step_fine_tunes_on_the_set_and_points_the_features_at_it(
        tmp_path: Path, vgg_file: Path) -> None:
    assert STEP is not None and STEP.backbone is Backbone.VGGFACE and STEP.fold is None
    main = resolve_manifest(_main(tmp_path, vgg_file), [*FAST, "profile=thesis-bu4dfe"])
    res, sets, notes = expression_set_step(expression_set(tmp_path), tmp_path / "out", main,
                                           STEP, "vgg", workers=0)
    assert res is not None and notes == []
    ckpt = Path(res["checkpoint"])
    assert ckpt == tmp_path / "out" / "expression-set" / "finetune" / "vggface" / "final" / \
        "vggface_finetuned.pt"
    assert sets == (f"stages.embed.vgg.weights={ckpt}",)
    metrics = yaml.safe_load((ckpt.parent / "metrics.json").read_text())
    # 003 §3.2.4's online augmentation, set by the profile; its train settings
    assert metrics["augment"]["rotate"] == 10.0 and metrics["augment"]["brightness"] == [0.4, 1.5]
    assert metrics["optim"]["optimizer"] == "adam" and metrics["weights"] == str(vgg_file)
    assert metrics["parts"]["test"]["videos"] == 4  # 2 of 6 subjects held out, 2 images each
    value, where = scored(res, "emotion/accuracy")
    assert value == 100 * metrics["parts"]["test"]["frame_accuracy"]
    assert where.startswith("test part, final model, per frame, vggface fine-tuned")
    # the main run's features then load the checkpoint (pool5, its sha256 in the fingerprint)
    cfg = resolve_manifest(_main(tmp_path, vgg_file), [*FAST, *sets]).stages.embed["vgg"]
    emb = VggFaceConfig.model_validate({**cfg.model_dump(), "layer": "pool5"}).make()
    assert emb.attrs()["weights_sha256"] == sha256_file(ckpt) != sha256_file(vgg_file)
    # a second call: the set is up to date and the same fine-tuning is reused, not trained again
    again, same, _ = expression_set_step(tmp_path / "fer.yaml", tmp_path / "out", main, STEP,
                                         "vgg", workers=0)
    assert again is not None and again["cached"] is True and res["cached"] is False
    assert same == sets and sha256_file(ckpt) == metrics["sha256"]
    # features of another type keep their weights, and the note says why
    raw = yaml.safe_load(_main(tmp_path, vgg_file).read_text())
    raw["stages"]["embed"]["hog"] = {"type": "hog"}
    with_hog = resolve_manifest(raw, [*FAST, "profile=thesis-bu4dfe"])
    res, sets, notes = expression_set_step(tmp_path / "fer.yaml", tmp_path / "out", with_hog,
                                           STEP, "hog", 0)
    assert res is not None and res["cached"] is True and sets == ()
    assert notes == [f"the vggface fine-tuned on the expression set ({ckpt}) is not used: "
                     "features 'hog' are hog"]


def test_without_an_expression_set_the_step_is_skipped_and_said_so(tmp_path: Path,
                                                                   vgg_file: Path) -> None:
    main = resolve_manifest(_main(tmp_path, vgg_file), ["profile=thesis-bu4dfe"])
    res, sets, notes = expression_set_step(None, tmp_path / "out", main, STEP, "vgg", 0)
    assert res is None and sets == ()
    assert notes[0].startswith("skipped: 003 §3.2.4's first step") and "--expression-set" in \
        notes[0]


def test_frame_scores_feed_the_table() -> None:
    one = {"frame_accuracy": 0.5, "video_accuracy": 1.0, "frames": 4, "videos": 2,
           "frame_mean_class_accuracy": 0.25}
    assert frame_scores(one, "emotion") == {"emotion": {"accuracy": 0.5,
                                                        "mean_class_accuracy": 0.25}}
    multi = {"emotion": {"frame_accuracy": 0.6}, "authenticity": {"frame_accuracy": 0.7},
             "combined_frame_accuracy": 0.4, "combined_video_accuracy": 0.5, "frames": 5,
             "videos": 2}
    assert frame_scores(multi, "multitask") == {"emotion": {"accuracy": 0.6},
                                                "authenticity": {"accuracy": 0.7},
                                                "combined_accuracy": 0.4}
    metrics = {"parts": {"val": multi}, "task": "multitask", "backbone": "inception_resnet_v1",
               "train": {"frames": 9}, "best_epoch": 2, "checkpoint": "/x/fold_0/irv1.pt"}
    res = as_result(metrics, FinetuneStep("finetune", Backbone.IRV1, Task.MULTITASK, 0))
    assert res["final_test"] is None and res["run_dir"] == "/x/fold_0"
    assert scored(res, "combined_accuracy") == (40.0, "validation part of fold 0, per frame, "
                                                "inception_resnet_v1 fine-tuned (9 training "
                                                "frames, best epoch 2)")


def test_expression_set_is_refused_where_the_document_has_no_such_step(tmp_path: Path) -> None:
    m = tmp_path / "m.yaml"
    m.write_text(yaml.safe_dump({"videos": {"root": str(tmp_path)},
                                 "stages": {"embed": {"hog": {"type": "hog"}}}}))
    with pytest.raises(ConfigError, match="--expression-set: only .*thesis-bu4dfe"):
        run_experiment("thesis-nvie", m, tmp_path / "out", expression_set=tmp_path / "x.yaml")


def test_a_missing_pretrained_file_is_named(tmp_path: Path) -> None:
    from emoprep.experiments.finetuning import run_step

    m = resolve_manifest({"videos": {"root": str(tmp_path)}, "stages": {"embed": {}},
                          "train": {"finetune": {"weights": str(tmp_path / "densenet121.pt")}}})
    step = EXPERIMENTS[Profile.THESIS_AFFECTNET].finetunes[0]
    with pytest.raises(ModelFileError, match=r"densenet121\.pt not found"):
        run_step(m, tmp_path / "out", step)


def test_cli_names_a_missing_weight_file_before_running_anything(tmp_path: Path) -> None:
    import subprocess
    import sys

    m = tmp_path / "m.yaml"
    m.write_text(yaml.safe_dump({"videos": {"root": str(tmp_path / "imgs"),
                                            "csv": str(tmp_path / "training.csv")},
                                 "labels": {"preset": "affectnet"}}))
    res = subprocess.run([sys.executable, "-m", "emoprep.cli.app", "experiment",
                          "thesis-affectnet", "-m", str(m), "-o", str(tmp_path / "out"), "--set",
                          f"train.finetune.weights={tmp_path / 'densenet121.pt'}"],
                         capture_output=True, text=True, timeout=120)
    assert res.returncode == 2, res.stderr
    assert f"weight file {tmp_path / 'densenet121.pt'} not found" in res.stderr
    assert not (tmp_path / "out").exists()  # nothing ran


def test_nvie_steps_take_002_s_settings_and_inception_v4_is_optional(tmp_path: Path) -> None:
    from emoprep.experiments.finetuning import check_weights, missing_weights, step_config

    m = resolve_manifest({"videos": {"root": str(tmp_path)}, "stages": {"embed": {}},
                          "profile": "thesis-nvie"})
    cnn2, cnn12, v4_2, v4_12 = EXPERIMENTS[Profile.THESIS_NVIE].finetunes
    assert (cnn2.backbone, cnn12.task, v4_2.backbone) == (Backbone.SHALLOW_CNN, Task.JOINT,
                                                          Backbone.INCEPTION_V4)
    assert step_config(m, cnn12).optim.lr == 5e-5  # the profile's (002 Fig. 5.9)
    assert step_config(m, v4_12).optim.lr == 0.0005 and (v4_2.dropout, v4_12.dropout) == (
        0.4, 0.7)  # 002 Fig. 5.6 and 5.11
    check_weights(m, [cnn2, v4_2])  # neither stops the experiment
    assert missing_weights(m, cnn2) is None
    assert "inception_v4: no pretrained weight file given" in (missing_weights(m, v4_2) or "")
    with pytest.raises(ConfigError, match="expected no weight file.*got"):
        from emoprep.train.finetune import source_weights

        source_weights(m, Backbone.SHALLOW_CNN, tmp_path / "x.pt")
