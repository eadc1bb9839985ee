"""Each training-protocol setting of the thesis profiles against its document location (one table
row per setting): the profile's rule has the value the document gives, cites that location, and
(where ../shared/seeds holds the documents) the cited section states the fact (a short token of
it: a number or a term, never a sentence). Settings the documents leave open are checked to say
so (``Rule.chosen``)."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from emoprep.pipeline.manifest.profile_specs import PROFILES, Profile, Rule
from emoprep.pipeline.manifest.train_section import TrainConfig

SEEDS = Path(__file__).resolve().parents[3] / "shared" / "seeds"
DOCS = {"000": "000_59ba537f195f1db9.txt", "002": "002_d939fea7917aa0bd.txt",
        "003": "003_ec163b428ae25ebf.txt", "004": "004_93a8b7221c56d1e9.txt"}
SASE, BU, AFF = Profile.THESIS_SASE_FE, Profile.THESIS_BU4DFE, Profile.THESIS_AFFECTNET
NVIE = Profile.THESIS_NVIE

#: (profile, key, value, document, section, token the section holds)
PROTOCOL = [
    (BU, "train.optim.optimizer", "adam", "003", "3.2.4", "Adam"),
    (BU, "train.optim.lr", 0.0001, "003", "3.2.4", "0.0001"),
    (BU, "train.optim.batch_size", 32, "003", "3.2.4", "Batch size: 32"),
    (BU, "train.optim.epochs", 40, "003", "3.2.4", "Epoch: 40"),
    (BU, "train.max_len", 100, "003", "3.2.3", "100x160x160x3"),
    (BU, "train.optim.plateau", True, "003", "3.2.4", "learning rate decay"),
    (BU, "train.optim.plateau_monitor", "val_acc", "003", "3.2.4", "if accuracy does not improve"),
    (BU, "train.optim.plateau_factor", 0.5, "003", "3.2.4", "factor 0.5"),
    (BU, "train.optim.plateau_patience", 5, "003", "3.2.4", "after 5 epochs"),
    (BU, "train.optim.early_stopping", True, "003", "3.2.4", "Early Stopping"),
    (BU, "train.optim.early_stopping_patience", 10, "003", "3.2.4", "patience of 10"),
    (BU, "train.final_model", True, "003", "3.2.3", "Finalizing model"),
    (BU, "train.use_augmented", True, "003", "3.3.2", "9 times"),
    (BU, "train.lstm.hidden", 128, "003", "3.3.2", "128"),
    (BU, "train.lstm.input_dropout", 0.4, "003", "3.3.2", "0.4"),
    (BU, "train.bilstm.hidden", 128, "003", "3.3.2", "BiLSTM layer with 128"),
    (BU, "train.bilstm.output_dropout", 0.7, "003", "3.3.2", "0.7"),
    (BU, "train.augmented_copies", {"bilstm": 3}, "003", "3.3.2", "3 times offline augmented"),
    (BU, "train.finetune.augment.rotate", 10.0, "003", "3.2.4", "rotation_range=10"),
    (BU, "train.finetune.augment.zoom", 0.1, "003", "3.2.4", "between 0.9 and 1.1"),
    (BU, "train.finetune.augment.shift", 0.1, "003", "3.2.4", "width_shift_range=0.1"),
    (BU, "train.finetune.augment.shear", 0.15, "003", "3.2.4", "shear_range=0.15"),
    (BU, "train.finetune.augment.brightness", [0.4, 1.5], "003", "3.2.4",
     "brightness_range=[0.4, 1.5]"),
    (SASE, "train.finetune.augment.flip", 0.0, "000", "4.4", "without data augmentation"),
    (BU, "train.finetune.trainable_blocks", 2, "003", "3.2.4", "2 last blocks unfrozen"),
    (SASE, "train.task", "multitask", "000", "3.2", "two classification heads"),
    (SASE, "train.loss.kind", "multilabel_focal", "000", "3.2.2", "multi-label focal loss"),
    (SASE, "train.loss.combine", "precision", "000", "3.2.3", "precision"),
    (SASE, "train.optim.optimizer", "sgd", "000", "4.3", "stochastic gradient descent"),
    (SASE, "train.optim.plateau", True, "000", "4.2.4", "ReduceLROnPlateau"),
    (SASE, "train.optim.plateau_monitor", "val_loss", "000", "4.3", "loss plateau"),
    (SASE, "train.use_augmented", False, "000", "4.4", "data augmentation is not used"),
    (SASE, "stages.split.test_fraction", 0.0, "000", "4.1", "80% and 20%"),
    (AFF, "train.optim.optimizer", "sgd", "004", "3.5", "Stochastic Gradient Descent"),
    (AFF, "train.optim.momentum", 0.9, "004", "3.5", "momentum of 0.9"),
    (AFF, "train.optim.lr", 0.001, "004", "3.5", "learning rate of 0.001"),
    (AFF, "train.optim.batch_size", 35, "004", "3.5", "batch size of 35"),
    (AFF, "train.optim.epochs", 10, "004", "3.5", "10 epochs"),
    (AFF, "train.loss.kind", "ce", "004", "3.3", "cross-entropy"),
    (AFF, "train.loss.class_weighted", True, "004", "3.3", "weighted version"),
    (NVIE, "stages.align.size", 96, "002", "4.4.3", "96, 96, 3"),
    (NVIE, "train.task", "authenticity", "002", "5.1", "either posed or spontaneous"),
    (NVIE, "train.mlp.dropout", 0.4, "002", "5.1", "dropout of 0.4"),
    (NVIE, "train.optim.lr", 0.00005, "002", "5.1", "learning rate of 0.00005"),
    (NVIE, "train.optim.batch_size", 64, "002", "5.1", "batch size of 64"),
    (NVIE, "train.use_augmented", True, "002", "5.1", "l2 regularization, and data augmentation"),
    (NVIE, "train.optim.early_stopping", True, "002", "5.1", "early stopping"),
]

#: (profile, key): settings the documents leave open, each marked as chosen
CHOSEN = [(BU, "train.seq_cut"), (BU, "train.loss.kind"), (BU, "train.optim.weight_decay"),
          (BU, "train.standardize"), (SASE, "train.optim.lr"), (SASE, "train.optim.momentum"),
          (SASE, "train.optim.epochs"), (SASE, "train.optim.plateau_factor"),
          (SASE, "train.loss.alpha"), (SASE, "train.loss.gamma"),
          (SASE, "stages.detect.select"), (SASE, "stages.align.size"), (AFF, "stages.align.size"),
          (NVIE, "stages.detect.backend"), (NVIE, "stages.split.test_fraction"),
          (NVIE, "train.head"), (NVIE, "train.optim.weight_decay"), (NVIE, "train.optim.epochs"),
          (NVIE, "train.optim.optimizer"), (NVIE, "stages.augment.names"),
          (BU, "train.finetune.augment.flip"), (SASE, "train.finetune.frames_per_video"),
          (BU, "train.finetune.head_epochs"),
          *[(AFF, f"train.finetune.augment.{k}")
            for k in ("flip", "brightness", "contrast", "rotate", "hue", "saturation")],
          *[(NVIE, f"train.finetune.augment.{k}")
            for k in ("flip", "rotate", "zoom", "shift", "contrast", "hue")]]


def rule_of(profile: Profile, key: str) -> Rule:
    rules = [r for r in PROFILES[profile].rules if r.key == key]
    assert len(rules) == 1, f"{profile.value}: {len(rules)} rules for {key}"
    return rules[0]


def section(doc: str, number: str) -> str:
    """The text of section ``number`` of a document (its subsections included): from its heading
    line to the next heading that is not below it."""
    lines = (SEEDS / DOCS[doc]).read_text(encoding="utf-8").splitlines()
    head = re.compile(r"^#*\s*(\d+(?:\.\d+)+) [A-Z]")  # "3 Experiment" is a page header
    heads = [(i, m.group(1)) for i, line in enumerate(lines)
             if "\t" not in line and (m := head.match(line))]
    start = next(i for i, n in heads if n == number)
    end = next((i for i, n in heads if i > start and not n.startswith(number + ".")), len(lines))
    return "\n".join(lines[start:end])


@pytest.mark.parametrize(("profile", "key", "value", "doc", "where", "token"), PROTOCOL,
                         ids=[f"{p.value}:{k}" for p, k, *_ in PROTOCOL])
def test_protocol_setting_matches_its_document(profile: Profile, key: str, value: object,
                                               doc: str, where: str, token: str) -> None:
    rule = rule_of(profile, key)
    assert rule.value == value
    assert f"{doc} §{where}" in rule.source or re.search(rf"{doc} .*§{re.escape(where)}\b",
                                                          rule.source), rule.source
    if not SEEDS.is_dir():
        pytest.skip(f"the source documents are not at {SEEDS}")
    assert token in section(doc, where), f"{doc} §{where} does not hold {token!r}"


@pytest.mark.parametrize(("profile", "key"), CHOSEN, ids=[f"{p.value}:{k}" for p, k in CHOSEN])
def test_settings_the_documents_leave_open_say_so(profile: Profile, key: str) -> None:
    assert rule_of(profile, key).chosen


@pytest.mark.parametrize("profile", [SASE, BU, AFF, NVIE])
def test_profile_train_settings_validate(profile: Profile) -> None:
    train: dict = {}
    for r in PROFILES[profile].rules:
        if r.key.startswith("train."):
            node = train
            *parents, last = r.key.split(".")[1:]
            for part in parents:
                node = node.setdefault(part, {})
            node[last] = r.value
    cfg = TrainConfig.model_validate(train)
    assert cfg.model_slice()  # every key is a real one (unknown keys are errors)


def test_the_four_sase_fe_rules_000_does_not_contain_are_marked_chosen() -> None:
    rules = PROFILES[SASE].rules
    for key in ("stages.detect.select", "stages.align.size", "input_size", "l2_normalize"):
        assert all(r.chosen for r in rules if r.key == key), key
