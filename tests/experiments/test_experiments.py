"""``emoprep experiment`` end to end on generated data of each preset's layout (seconds): the
profile's preprocessing, each training the document reports, its fusions, the table beside the
document's numbers (checked against the saved runs) and the differences of protocol; the CLI as
a subprocess for NVIE."""

from __future__ import annotations

import json
import subprocess
import sys
import time
from pathlib import Path

import cv2
import numpy as np
import pytest
import torch
import yaml

from emoprep.experiments import run_experiment
from emoprep.experiments.results import metric_value
from emoprep.pipeline.manifest.presets import bu4dfe_thesis_split
from emoprep.pipeline.manifest.profile_specs import PROFILES, Profile
from emoprep.stages.embed.densenet_nets import DenseNet121
from emoprep.stages.embed.irv1_nets import InceptionResnetV1
from emoprep.stages.embed.vggface_nets import VggFace
from emoprep.train import fuse
from tests.experiments.test_finetune_steps import expression_set

pytestmark = pytest.mark.slow  # each runs preprocessing and several trainings (10-30 s CPU)

HOG = {"hog": {"type": "hog", "size": 32}}
#: a short protocol: the profile's settings otherwise
FAST = ("train.optim.epochs=1", "train.optim.batch_size=8", "train.final_model=true",
        "train.num_threads=1", "train.device=cpu")


def _image(path: Path, level: int, rng: np.random.Generator, size: int = 48) -> None:
    """A noisy grey image whose mean is ``level`` (the class signal), written as JPEG/PNG."""
    path.parent.mkdir(parents=True, exist_ok=True)
    img = np.clip(rng.normal(level, 20, (size, size, 3)), 0, 255).astype(np.uint8)
    cv2.rectangle(img, (8 + level % 16, 10), (30, 34), (255 - level, 90, level), -1)
    assert cv2.imwrite(str(path), img)


def _manifest(path: Path, root: Path, preset: str, videos: dict | None = None,
              stages: dict | None = None) -> Path:
    raw = {"videos": {"root": str(root), **(videos or {})}, "labels": {"preset": preset},
           "stages": {"embed": HOG, **(stages or {})}}
    path.write_text(yaml.safe_dump(raw), encoding="utf-8")
    return path


def _random_weights(path: Path, net: torch.nn.Module) -> Path:
    """A seeded random network's state dict in the released layout (no pretrained file here)."""
    torch.manual_seed(0)
    torch.save(net.state_dict(), path)
    return path


def _finetuned(res: dict, step: str) -> dict:
    return json.loads((Path(res["runs"][step]) / "metrics.json").read_text())


def _table(res: dict) -> dict[str, dict]:
    return {r["result"]: r for r in res["rows"]}


def _final_test(run_dir: str, metric: str) -> float:
    metrics = json.loads((Path(run_dir) / "metrics.json").read_text())
    return round(100 * metric_value(metrics["final"]["test"], metric), 2)


def test_bu4dfe_experiment_trains_three_heads_and_fuses(tmp_path: Path) -> None:
    """Frame folders F###/<Expression>/ as the preset reads them, one subject per Fig. 3.6 fold
    and two test subjects: the thesis split, LSTM / BiLSTM / 1D-CNN with final models scored on
    the test part, Table 3.7's fusions of the same runs; 003's first step, VGGFace (a seeded
    random one) fine-tuned on a generated expression set, beside Table 3.4 (the hog features do
    not use it, and the differences say so)."""
    rng = np.random.default_rng(0)
    subjects = ["F001", "M001", "F011", "F028", "F044", "M012", "M028"]
    emotions = ["Angry", "Disgust", "Fear", "Happy", "Sad", "Surprise"]
    for s in subjects:
        for k, e in enumerate(emotions):
            for f in range(3):
                _image(tmp_path / "data" / s / e / f"{f:03d}.jpg", 30 + 35 * k, rng)
    m = _manifest(tmp_path / "m.yaml", tmp_path / "data", "bu4dfe", {"fps": 25})
    vgg = _random_weights(tmp_path / "vgg_face.pt", VggFace(()))
    sets = ("stages.window.mode=all", "stages.au.source=landmarks", "stages.detect.backend=none",
            "stages.augment.names=[flip]", *FAST,
            "train.lstm.hidden=8", "train.bilstm.hidden=8", "train.cnn1d.filters=[4,4,8,8]",
            f"train.finetune.weights={vgg}", "train.finetune.input_size=32")
    t0 = time.perf_counter()
    res = run_experiment("thesis-bu4dfe", m, tmp_path / "out", sets, allow_degenerate=True,
                         expression_set=expression_set(tmp_path / "fer"))
    print(f"bu4dfe experiment: {time.perf_counter() - t0:.1f} s")
    rows = _table(res)
    assert [r["document"] for r in res["rows"]][:4] == [62.5, 62.5, 65.0, 67.8]
    for name, head in (("VGGFace + LSTM", "lstm"), ("VGGFace + BiLSTM", "bilstm"),
                       ("VGGFace + 1D-CNN", "cnn1d")):
        row = rows[f"{name}, test accuracy"]
        assert row["source"] == "003 Table 3.6" and row["measured_on"] == "test part, final model"
        assert row["emoprep"] == _final_test(res["runs"][head], "emotion/accuracy")
    assert rows["human ground truth, test part"]["emoprep"] is None
    fused = fuse([res["runs"][h] for h in ("lstm", "bilstm", "cnn1d")], "weighted")
    row = rows["fusion lstm + bilstm + cnn1d, weighted, test accuracy"]
    assert (row["document"], row["source"]) == (63.33, "003 Table 3.7")
    assert row["emoprep"] == round(100 * metric_value(fused["final_test"], "emotion/accuracy"), 2)
    split = json.loads((tmp_path / "out" / "splits" / "thesis.json").read_text())
    thesis = bu4dfe_thesis_split()
    assert split["test_subjects"] == ["F001", "M001"]
    assert [f["val_subjects"] for f in split["folds"]] == [
        [s for s in subjects if s in thesis["fold_subjects"][f"fold{k}"]] for k in range(5)]
    saved = json.loads((tmp_path / "out" / "experiment-thesis-bu4dfe.json").read_text())
    assert saved["rows"] == res["rows"]
    for head in ("lstm", "bilstm", "cnn1d"):  # the profile's CV figure: 003 §3.2.3's mean curve
        metrics = json.loads((Path(res["runs"][head]) / "metrics.json").read_text())
        assert saved["cv"][head] == metrics["cv"] and metrics["cv"]["method"] == "mean_curve"
        assert metrics["config"]["keep_test_anomalies"] is True
    md = (tmp_path / "out" / "experiment-thesis-bu4dfe.md").read_text()
    assert "| VGGFace + 1D-CNN, test accuracy | 65.0 | 003 Table 3.6 |" in md
    diffs = res["differences"]
    fer = rows["VGGFace fine-tuned on FER2013, test accuracy"]
    ft = _finetuned(res, "vggface-expression-set")
    assert (fer["document"], fer["source"]) == (69.0, "003 Table 3.4")
    assert fer["emoprep"] == round(100 * ft["parts"]["test"]["frame_accuracy"], 2)
    assert ft["augment"]["shear"] == 0.15 and ft["fold"] == "final"
    assert (tmp_path / "out" / "expression-set" / "summary.json").is_file()
    assert f"the vggface fine-tuned on the expression set ({ft['checkpoint']}) is not used: " \
        "features 'hog' are hog" in diffs
    bilstm = json.loads((Path(res["runs"]["bilstm"]) / "metrics.json").read_text())["config"]
    assert bilstm["augmented_copies"] == {"bilstm": 3}  # 003 §3.3.2
    assert set(PROFILES[Profile.THESIS_BU4DFE].notes) <= set(diffs)
    assert "--set stages.detect.backend=none: yours, not the profile's" in diffs
    assert "features 'hog' are hog; the document's are vggface" in diffs


def _step_score(res: dict, step: str, metric: str = "frame_accuracy") -> float:
    """A step's validation score (fold 0) from the metrics.json it wrote, in percent."""
    metrics = json.loads((Path(res["runs"][step]) / "metrics.json").read_text())
    return round(100 * metrics["parts"]["val"][metric], 2)


def test_nvie_experiment_from_the_command_line(tmp_path: Path) -> None:
    """`emoprep experiment thesis-nvie` as a subprocess on apex images of the nvie layout: the
    profile's own preprocessing (whole image, 96 x 96), 002's shallow CNN trained from scratch
    and its SVM on pixels, for 2 and 12 classes; the printed table and the files it writes
    agree with the runs' own metrics; Inception V4 without its weight file is skipped, saying
    why (tests/train/test_inception_v4.py fine-tunes it)."""
    rng = np.random.default_rng(1)
    for s in range(6):
        for a, auth in enumerate(("posed", "spontaneous")):
            for k, emo in enumerate(("happiness", "anger")):
                _image(tmp_path / "data" / auth / f"S{s}" / emo / "apex.jpg",
                       40 + 120 * a + 40 * k, rng)
    m = _manifest(tmp_path / "m.yaml", tmp_path / "data", "nvie")
    t0 = time.perf_counter()
    res = subprocess.run([sys.executable, "-m", "emoprep.cli.app", "experiment", "thesis-nvie",
                          "-m", str(m), "-o", str(tmp_path / "out"), "-j", "0",
                          "--set", "stages.augment.names=[flip]",
                          *[a for s in FAST for a in ("--set", s)]],
                         capture_output=True, text=True, timeout=600)
    print(f"nvie experiment: {time.perf_counter() - t0:.1f} s")
    assert res.returncode == 0, res.stderr[-3000:]
    saved = json.loads((tmp_path / "out" / "experiment-thesis-nvie.json").read_text())
    rows = {r["result"]: r for r in saved["rows"]}
    assert [(r["document"], r["source"]) for r in saved["rows"]] == [
        (71.6, "002 Table 5.1"), (67.4, "002 Table 5.1"), (53.8, "002 Table 5.1"),
        (22.7, "002 Table 5.4"), (17.3, "002 Table 5.4"), (17.2, "002 Table 5.4")]
    assert [r["run"] for r in saved["rows"]] == ["cnn-2", "inception-v4-2", "svm-2", "cnn-12",
                                                 "inception-v4-12", "svm-12"]
    for row, step in (("shallow CNN, 2 classes", "cnn-2"), ("shallow CNN, 12 classes", "cnn-12"),
                      ("SVM, 2 classes", "svm-2"), ("SVM, 12 classes", "svm-12")):
        assert rows[row]["emoprep"] == _step_score(saved, step), row
        assert rows[row]["measured_on"].startswith("validation part of fold 0, per ")
    cnn = json.loads((Path(saved["runs"]["cnn-12"]) / "metrics.json").read_text())
    assert (cnn["backbone"], cnn["task"], cnn["weights"]) == ("shallow_cnn", "joint", None)
    assert len(cnn["classes"]) % 2 == 0 and "happiness/posed" in cnn["classes"]
    assert Path(cnn["checkpoint"]).name == "shallow_cnn.pt"
    assert "trained from scratch" in rows["shallow CNN, 12 classes"]["measured_on"]
    assert cnn["optim"]["lr"] == 5e-5 and cnn["augment"]["rotate"] == 10.0  # the profile's
    svm = json.loads((Path(saved["runs"]["svm-2"]) / "metrics.json").read_text())
    assert (svm["settings"]["kernel"], svm["settings"]["C"], svm["features"]) == (
        "poly", 0.01, 96 * 96 * 3)
    for n in (2, 12):  # no weight file here: skipped, the row and the differences say why
        v4 = rows[f"Inception V4, {n} classes"]
        assert v4["emoprep"] is None and "no pretrained weight file given" in v4["measured_on"]
        assert v4["measured_on"] in saved["differences"]
    assert "shallow CNN, 2 classes" in res.stdout and "written: " in res.stdout
    assert any("random search" in d for d in saved["differences"])
    with_96 = json.loads((tmp_path / "out" / "summary.json").read_text())
    assert with_96["provenance"]["resolved_manifest"]["stages"]["align"]["size"] == 96


def _clip(path: Path, level: int, rng: np.random.Generator, n: int = 10) -> None:
    """A tiny MP4 (48 x 48, ``n`` frames) around grey ``level``."""
    path.parent.mkdir(parents=True, exist_ok=True)
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"mp4v"), 25.0, (48, 48))
    for _ in range(n):
        writer.write(np.clip(rng.normal(level, 15, (48, 48, 3)), 0, 255).astype(np.uint8))
    writer.release()


def test_sase_fe_experiment_scores_table_4_6s_three_accuracies(tmp_path: Path) -> None:
    """<subject>/<clip>.MP4 clips: the document's protocol, InceptionResnetV1 fine-tuned with two
    heads (MFL, precision-weighted) on fold 0 of the 80/20-style folds, its emotion, real/fake and
    combined accuracies per frame beside Table 4.6's; the frozen row beside the multi-task heads
    trained on embeddings (mean of the folds' validation parts)."""
    rng = np.random.default_rng(2)
    for s in range(5):
        for k, clip in enumerate(("N2H", "S2N2H", "N2A", "H2N2A")):
            _clip(tmp_path / "data" / f"{s + 1:02d}" / f"{clip}.MP4", 40 + 50 * k, rng)
    m = _manifest(tmp_path / "m.yaml", tmp_path / "data", "sase-fe")
    irv1 = _random_weights(tmp_path / "irv1.pt", InceptionResnetV1())
    res = run_experiment("thesis-sase-fe", m, tmp_path / "out",
                         ("stages.detect.backend=none", *FAST, "train.final_model=false",
                          f"train.finetune.weights={irv1}", "train.finetune.input_size=80",
                          "train.finetune.frames_per_video=2"), allow_degenerate=True)
    ft = _finetuned(res, "finetune")
    assert (ft["backbone"], ft["task"], ft["fold"]) == ("inception_resnet_v1", "multitask", 0)
    assert ft["loss"]["kind"] == "multilabel_focal" and ft["loss"]["combine"] == "precision"
    assert ft["optim"]["optimizer"] == "sgd" and ft["augment"]["flip"] == 0.0  # no DA (§4.4)
    val = ft["parts"]["val"]
    for row, value, got in zip(res["rows"], (54.609, 53.713, 30.150),
                               (val["emotion"]["frame_accuracy"],
                                val["authenticity"]["frame_accuracy"],
                                val["combined_frame_accuracy"]), strict=False):
        assert (row["document"], row["source"], row["run"]) == (value, "000 Table 4.6",
                                                                "finetune")
        assert row["emoprep"] == round(100 * got, 2)
        assert row["measured_on"].startswith("validation part of fold 0, per frame")
    frozen = res["rows"][3]
    metrics = json.loads((Path(res["runs"]["multitask"]) / "metrics.json").read_text())
    assert metrics["config"]["loss"]["combine"] == "precision" and metrics["final"] is None
    vals = [metric_value(f["val"], "emotion/accuracy") for f in metrics["folds"]]
    assert (frozen["document"], frozen["source"]) == (33.217, "000 Table 4.5")
    assert frozen["emoprep"] == round(100 * float(np.mean(vals)), 2)
    assert frozen["measured_on"].startswith("validation, mean of 5 folds")


def test_affectnet_experiment_on_faces_listed_in_its_csv(samples_dir: Path,
                                                         tmp_path: Path) -> None:
    """Face images in AffectNet's folders, labelled by a CSV of its format: the profile's own
    preprocessing (Haar, landmarks, eye alignment), DenseNet121 (a seeded random one in
    torchvision's layout) fine-tuned with class-weighted loss, with and without 004's six
    augmentations, scored by mean class accuracy per image beside Table 3.1's rows; the row
    without alignment from a second preprocessing (box crops) in OUT/variants/no-alignment."""
    cap = cv2.VideoCapture(str(samples_dir / "single_face.mp4"))
    lines = ["subDirectory_filePath,face_x,face_y,face_width,face_height,facial_landmarks,"
             "expression,valence,arousal"]
    for i in range(30):
        ok, frame = cap.read()
        assert ok
        rel = f"{i % 3}/img{i:02d}.jpg"
        (tmp_path / "imgs" / rel).parent.mkdir(parents=True, exist_ok=True)
        cv2.imwrite(str(tmp_path / "imgs" / rel), frame)
        lines.append(f'{rel},0,0,10,10,"1;2",{i % 4 if i < 29 else 9},0.1,0.2')
    cap.release()
    (tmp_path / "training.csv").write_text("\n".join(lines) + "\n")
    m = _manifest(tmp_path / "m.yaml", tmp_path / "imgs", "affectnet",
                  {"csv": str(tmp_path / "training.csv")})
    dn = _random_weights(tmp_path / "densenet121.pt", DenseNet121(with_classifier=True))
    res = run_experiment("thesis-affectnet", m, tmp_path / "out",
                         (*FAST, f"train.finetune.weights={dn}", "train.finetune.input_size=32"),
                         allow_degenerate=True)
    plain, aligned, augmented = res["rows"]
    assert [r["document"] for r in res["rows"]] == [57.3, 59.5, 61.4]
    for row, step in ((plain, "no-alignment/densenet121-plain"), (aligned, "densenet121-plain"),
                      (augmented, "densenet121")):
        ft = _finetuned(res, step)
        assert row["run"] == step and row["metric"] == "emotion/mean_class_accuracy"
        assert row["emoprep"] == round(100 * ft["parts"]["test"]["frame_mean_class_accuracy"], 2)
        assert row["measured_on"].startswith("test part, final model, per frame, densenet121")
        assert ft["fold"] == "final" and ft["loss"]["class_weighted"] is True
        assert (ft["optim"]["optimizer"], ft["optim"]["momentum"]) == ("sgd", 0.9)
    assert _finetuned(res, "densenet121")["augment"]["hue"] == 0.05  # 004 §3.1's six, chosen
    assert _finetuned(res, "densenet121-plain")["augment"]["flip"] == 0.0
    assert "no-alignment/densenet121" not in res["runs"]  # the variant runs its row's step only
    box = json.loads((tmp_path / "out" / "variants" / "no-alignment" / "summary.json").read_text())
    assert box["provenance"]["resolved_manifest"]["stages"]["align"]["method"] == "box"
    summary = json.loads((tmp_path / "out" / "summary.json").read_text())
    assert len(summary["videos"]) == 29  # the row with code 9 is no item
    assert summary["provenance"]["resolved_manifest"]["stages"]["align"]["method"] == "eyes"
