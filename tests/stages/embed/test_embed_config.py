"""Embedder config union, augmentation config, and the fingerprint helpers the pipeline calls."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
from pydantic import TypeAdapter, ValidationError

from emoprep.pipeline.config import StagesConfig
from emoprep.stages.embed import (
    Augmentation,
    AugmentConfig,
    DlibResnetConfig,
    EmbedderConfig,
    HogConfig,
    InceptionResnetV1Config,
    LandmarksEmbedConfig,
    TorchScriptConfig,
    VggFaceConfig,
)

ADAPTER = TypeAdapter(EmbedderConfig)


def test_union_parses_every_type_by_discriminator() -> None:
    raw = {
        "hog": {"type": "hog", "cell": 4},
        "lm": {"type": "landmarks", "distances": True},
        "dlib": {"type": "dlib_resnet", "chip": "eyes"},
        "face": {"type": "inception_resnet_v1", "weights": "/m/irv1.pt"},
        "vgg": {"type": "vggface", "weights": "/m/vgg.pt", "layer": "fc6"},
        "ts": {"type": "torchscript", "model": "/m/net.ts", "channel_order": "bgr"},
    }
    stages = StagesConfig.model_validate({"embed": raw})
    kinds = {k: type(v) for k, v in stages.embed.items()}
    assert kinds == {"hog": HogConfig, "lm": LandmarksEmbedConfig, "dlib": DlibResnetConfig,
                     "face": InceptionResnetV1Config, "vgg": VggFaceConfig, "ts": TorchScriptConfig}
    assert stages.embed["face"].weights == Path("/m/irv1.pt")


@pytest.mark.parametrize(
    "raw, fragment",
    [
        ({"type": "hog", "colour": True}, "unknown key 'colour' for type 'hog'; valid keys: bins"),
        ({"type": "hog", "size": 60, "cell": 8}, "multiple of cell"),
        ({"type": "landmarks", "coords": False}, "at least one"),
        ({"type": "inception_resnet_v1"}, "weights"),
        ({"type": "inception_resnet_v1", "weights": "/x.pt", "input_size": 64}, "75"),
        ({"type": "vggface", "weights": "/x.pt", "layer": "fc8"}, "fc7"),
        ({"type": "torchscript", "model": "/x.ts", "std": [1, 0, 1]}, "std"),
        ({"type": "resnet50"}, "hog"),
    ],
)
def test_bad_embedder_configs_are_rejected(raw: dict, fragment: str) -> None:
    with pytest.raises(ValidationError) as info:
        ADAPTER.validate_python(raw)
    assert fragment in str(info.value)


def test_augment_config_validates_names() -> None:
    cfg = AugmentConfig.model_validate({"names": ["flip", "salt_pepper_1"], "seed": 7})
    assert cfg.names == [Augmentation.FLIP, Augmentation.SALT_PEPPER_1]
    with pytest.raises(ValidationError, match="rotate_p8"):  # the error lists the valid names
        AugmentConfig.model_validate({"names": ["rotate8"]})
    with pytest.raises(ValidationError, match="twice"):
        AugmentConfig.model_validate({"names": ["flip", "flip"]})
    assert len(Augmentation) == 12  # the nine of the thesis, three in its code's exact flavour


def test_fingerprint_slice_leaves_out_runtime_fields() -> None:
    a = InceptionResnetV1Config(weights="/m/a.pt", batch_size=4, device="cpu", threads=2)
    b = InceptionResnetV1Config(weights="/m/a.pt", batch_size=64, device="auto")
    assert a.fingerprint_slice() == b.fingerprint_slice()
    assert a.fingerprint_slice() != a.model_copy(update={"input_size": 128}).fingerprint_slice()
    assert (
        DlibResnetConfig(batch_size=1).fingerprint_slice() == DlibResnetConfig().fingerprint_slice()
    )


def test_model_files_versions_and_landmark_needs(tmp_path: Path) -> None:
    assert HogConfig().model_files() == [] and LandmarksEmbedConfig().model_files() == []
    dlib_file = DlibResnetConfig().model_files()[0]
    assert dlib_file.name == "dlib_face_recognition_resnet_model_v1.dat" and dlib_file.is_file()
    vgg = VggFaceConfig(weights=tmp_path / "v.pt", head_weights=tmp_path / "h.pt")
    assert vgg.model_files() == [tmp_path / "v.pt", tmp_path / "h.pt"]
    assert TorchScriptConfig(model=tmp_path / "n.ts").model_files() == [tmp_path / "n.ts"]
    assert len(vgg.missing_files("vgg")) == 2 and "stages.embed.vgg" in vgg.missing_files("vgg")[0]
    assert "torch" in vgg.library_versions() and "dlib" in DlibResnetConfig().library_versions()
    assert "torch" not in HogConfig().library_versions()
    assert all(c.version >= 1 for c in (HogConfig(), vgg, DlibResnetConfig()))
    assert LandmarksEmbedConfig().needs_landmarks and not HogConfig().needs_landmarks
    assert DlibResnetConfig(chip="eyes").needs_landmarks and not DlibResnetConfig().needs_landmarks


def test_classic_embedders_do_not_import_torch() -> None:
    code = (
        "import sys, numpy as np\n"
        "from emoprep.stages.embed import make_embedder, HogConfig, LandmarksEmbedConfig, "
        "DlibResnetConfig\n"
        "c = np.zeros((1, 64, 64, 3), np.uint8)\n"
        "make_embedder(HogConfig()).embed(c, None)\n"
        "make_embedder(LandmarksEmbedConfig()).embed(c, np.zeros((1, 68, 2), np.float32))\n"
        "make_embedder(DlibResnetConfig())\n"
        "assert 'torch' not in sys.modules, 'torch was imported'\n"
    )
    subprocess.run([sys.executable, "-c", code], check=True, timeout=60)
