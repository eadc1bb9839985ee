"""``train.augmented_copies``: how many of the offline augmented copies a training part reads (all,
none, the first N; per head as 003 §3.3.2's BiLSTM took three and its LSTM all nine), and its
place in the model fingerprint; and where fine-tuning takes its weight file from."""

from __future__ import annotations

from pathlib import Path

import pytest
from pydantic import ValidationError

from emoprep.errors import ModelFileError
from emoprep.pipeline.manifest.schema import Manifest
from emoprep.train.config import Backbone, TrainConfig
from emoprep.train.finetune import source_weights
from emoprep.train.inputs import augmentations_used

NINE = ["flip", "blur3", "brightness_p50", "brightness_p20", "contrast_x2", "contrast_x1_7_p50",
        "rotate_p8_thesis", "rotate_m8_thesis", "salt_pepper_1_thesis"]


def _cfg(**kw) -> TrainConfig:
    return TrainConfig.model_validate(kw)


@pytest.mark.parametrize(("settings", "head", "expected"), [
    ({}, "lstm", []),  # use_augmented off: none
    ({"use_augmented": True}, "lstm", NINE),  # all
    ({"use_augmented": True, "augmented_copies": 0}, "lstm", []),
    ({"use_augmented": True, "augmented_copies": 3}, "lstm", NINE[:3]),
    ({"use_augmented": True, "augmented_copies": 20}, "lstm", NINE),
    ({"use_augmented": True, "augmented_copies": {"bilstm": 3}}, "bilstm", NINE[:3]),
    ({"use_augmented": True, "augmented_copies": {"bilstm": 3}}, "lstm", NINE),
    ({"use_augmented": True, "augmented_copies": {"bilstm": 3}}, "cnn1d", NINE),
    ({"augmented_copies": {"bilstm": 3}}, "bilstm", []),
])
def test_copies_read_per_head(settings: dict, head: str, expected: list[str]) -> None:
    assert augmentations_used(NINE, _cfg(head=head, **settings)) == expected


def test_negative_counts_are_refused() -> None:
    with pytest.raises(ValidationError, match="augmented_copies"):
        _cfg(augmented_copies=-1)
    with pytest.raises(ValidationError, match="augmented_copies"):
        _cfg(augmented_copies={"bilstm": -2})


def test_fingerprint_holds_the_active_heads_count_only() -> None:
    base = {"use_augmented": True}
    assert "augmented_copies" not in _cfg(**base).model_slice()  # all: as before the key existed
    assert "augmented_copies" not in _cfg().model_slice()
    per_head = {**base, "augmented_copies": {"bilstm": 3}}
    assert _cfg(head="lstm", **per_head).model_slice() == _cfg(head="lstm", **base).model_slice()
    assert _cfg(head="bilstm", **per_head).model_slice()["augmented_copies"] == 3
    assert _cfg(head="bilstm", **per_head).model_slice() == _cfg(
        head="bilstm", **base, **{"augmented_copies": 3}).model_slice()


def test_finetune_settings_are_not_in_the_sequence_models_fingerprint() -> None:
    tuned = {"finetune": {"augment": {"rotate": 10.0}, "frames_per_video": 4}}
    assert _cfg(**tuned).model_slice() == _cfg().model_slice()


def _manifest(tmp_path: Path, embed: dict, train: dict | None = None) -> Manifest:
    return Manifest.model_validate({"videos": {"root": str(tmp_path)},
                                    "stages": {"embed": embed}, "train": train or {}})


def test_weights_come_from_the_setting_then_the_embedder_of_the_type(tmp_path: Path) -> None:
    embed = {"hog": {"type": "hog"},
             "v": {"type": "vggface", "weights": str(tmp_path / "vgg.pth"), "input_size": 64}}
    for name in ("vgg.pth", "mine.pt", "cli.pt"):
        (tmp_path / name).write_bytes(b"")  # existence is checked here, content when built
    m = _manifest(tmp_path, embed)
    assert source_weights(m, Backbone.VGGFACE) == (tmp_path / "vgg.pth", 64)
    assert source_weights(m, Backbone.VGGFACE, input_size=32) == (tmp_path / "vgg.pth", 32)
    own = _manifest(tmp_path, embed, {"finetune": {"weights": str(tmp_path / "mine.pt")}})
    assert source_weights(own, Backbone.VGGFACE) == (tmp_path / "mine.pt", None)
    assert source_weights(own, Backbone.VGGFACE, tmp_path / "cli.pt")[0] == tmp_path / "cli.pt"


def test_no_weight_file_anywhere_says_what_to_set(tmp_path: Path) -> None:
    m = _manifest(tmp_path, {"hog": {"type": "hog"}})
    with pytest.raises(ModelFileError, match=r"densenet121: no pretrained weight file given; "
                       r"expected a torchvision densenet121.*train\.finetune\.weights"):
        source_weights(m, Backbone.DENSENET121)
    named = _manifest(tmp_path, {}, {"finetune": {"weights": str(tmp_path / "dn121.pt")}})
    with pytest.raises(ModelFileError, match=r"weight file .*dn121\.pt not found; expected a "
                       "torchvision densenet121"):
        source_weights(named, Backbone.DENSENET121)
