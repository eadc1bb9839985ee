"""Torch embedders with checkpoints written here (random weights of the real architectures):
loading, shapes, batch-size invariance, determinism, and the errors for bad weight files.

What remains unverified, and why: the published weights (IRv1 VGGFace2 / CASIA from GitHub
releases, VGG-Face's vgg_face_dag.pth from the Oxford VGG page) are in no wheel on the package
registry, so no embedding of a real face can be compared here. The IRv1 architecture is checked
against facenet-pytorch's original in test_irv1_reference.py; VGG-Face's original definition (a
converted MatConvNet model) is not published as a package either, so VggFace is checked by its
shapes and layer choice only; that its key names match the release is taken from the release's
documentation, not tested."""

from __future__ import annotations

import pickle
from pathlib import Path

import numpy as np
import pytest
import torch
from torch import nn

from emoprep.errors import ConfigError, ModelFileError
from emoprep.io.atomic import sha256_file
from emoprep.stages.embed import (
    InceptionResnetV1Config,
    TorchScriptConfig,
    VggFaceConfig,
    embed_frames,
    make_embedder,
)
from emoprep.stages.embed.irv1_nets import InceptionResnetV1
from emoprep.stages.embed.vggface import HEADS, VggLayer
from emoprep.stages.embed.vggface_nets import VggFace


@pytest.fixture(scope="module", autouse=True)
def _one_thread():
    """One torch thread: fast and steady on a busy 2-core runner; restored afterwards."""
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


def _crops(n: int, size: int = 96, seed: int = 0) -> np.ndarray:
    return np.random.default_rng(seed).integers(0, 256, (n, size, size, 3), dtype=np.uint8)


def _random_state(net: nn.Module, seed: int) -> dict[str, torch.Tensor]:
    """Random weights scaled by fan-in, sane BatchNorm statistics (so activations stay finite)."""
    g = torch.Generator().manual_seed(seed)
    out = {}
    for k, v in net.state_dict().items():
        if k.endswith("running_var") or (
            k.endswith("weight") and v.ndim == 1
        ):  # BN variance, gamma
            out[k] = torch.rand(v.shape, generator=g) * 0.5 + 0.75
        elif k.endswith("num_batches_tracked"):
            continue  # facenet-pytorch files may lack them; the loader must cope
        elif v.ndim >= 2:
            out[k] = torch.randn(v.shape, generator=g) * (2.0 / v[0].numel()) ** 0.5
        else:
            out[k] = torch.randn(v.shape, generator=g) * 0.01
    return out


@pytest.fixture(scope="module")
def irv1_file(tmp_path_factory) -> Path:
    """facenet-pytorch layout, with the classifier ``logits.*`` a VGGFace2 file carries."""
    with torch.device("meta"):
        shapes = InceptionResnetV1()
    sd = _random_state(shapes, 0)
    sd["logits.weight"], sd["logits.bias"] = torch.zeros(16, 512), torch.zeros(16)
    path = tmp_path_factory.mktemp("irv1") / "irv1.pt"
    torch.save(sd, path)
    return path


@pytest.fixture(scope="module")
def irv1(irv1_file):
    return make_embedder(
        InceptionResnetV1Config(weights=irv1_file, input_size=80, batch_size=7, device="cpu")
    )


def test_irv1_shapes_unit_norm_and_attrs(irv1, irv1_file) -> None:
    out = irv1.embed(_crops(3), None)
    assert out.shape == (3, 512) and out.dtype == np.float32 and irv1.dim == 512
    np.testing.assert_allclose(np.linalg.norm(out, axis=1), 1.0, atol=1e-5)
    assert not np.allclose(out[0], out[1])
    a = irv1.attrs()
    assert a["name"] == "inception_resnet_v1" and a["dim"] == 512 and a["input_size"] == 80
    assert a["weights_sha256"] == sha256_file(irv1_file) and "127.5" in str(a["normalisation"])


def test_irv1_batch_size_and_reload_do_not_change_results(irv1, irv1_file) -> None:
    crops = _crops(7, seed=1)
    mask = np.ones(7, bool)
    by7 = embed_frames(irv1, iter(crops), None, mask, batch_size=7)
    by1 = embed_frames(irv1, iter(crops), None, mask, batch_size=1)
    np.testing.assert_allclose(by1, by7, atol=1e-5)
    clone = pickle.loads(pickle.dumps(irv1))  # rebuilt from the file in the "worker"
    np.testing.assert_array_equal(clone.embed(crops[:2], None), irv1.embed(crops[:2], None))


def test_irv1_wrapped_and_prefixed_checkpoints_load(irv1, irv1_file, tmp_path: Path) -> None:
    sd = torch.load(irv1_file, weights_only=True)
    wrapped = tmp_path / "ckpt.pt"
    torch.save(
        {"epoch": 3, "state_dict": {f"module.{k}": v.half() for k, v in sd.items()}}, wrapped
    )
    other = make_embedder(InceptionResnetV1Config(weights=wrapped, input_size=80, device="cpu"))
    crops = _crops(2, seed=2)
    np.testing.assert_allclose(other.embed(crops, None), irv1.embed(crops, None), atol=5e-3)


def test_irv1_bad_files(irv1_file, tmp_path: Path) -> None:
    cfg = InceptionResnetV1Config(weights=tmp_path / "20180402-114759-vggface2.pt", input_size=80)
    with pytest.raises(
        ModelFileError, match="20180402-114759-vggface2.pt not found.*never downloaded"
    ):
        make_embedder(cfg)
    half = tmp_path / "truncated.pt"
    half.write_bytes(irv1_file.read_bytes()[: 1 << 20])
    with pytest.raises(ModelFileError, match="cannot read .*truncated.pt as a torch state dict"):
        make_embedder(cfg.model_copy(update={"weights": half}))
    pickled = tmp_path / "whole_module.pt"
    torch.save(nn.Linear(2, 2), pickled)  # a pickled module, refused by weights_only=True
    with pytest.raises(ModelFileError, match="whole_module.pt"):
        make_embedder(cfg.model_copy(update={"weights": pickled}))
    sd = torch.load(irv1_file, weights_only=True)
    sd["extra.weight"] = sd.pop("last_linear.weight")
    sd["last_bn.weight"] = torch.ones(128)
    wrong = tmp_path / "wrong.pt"
    torch.save(sd, wrong)
    with pytest.raises(ModelFileError) as info:
        make_embedder(cfg.model_copy(update={"weights": wrong}))
    msg = str(info.value)
    assert "1 missing keys ['last_linear.weight']" in msg and "'extra.weight'" in msg
    assert "last_bn.weight (128,) (expected (512,))" in msg


@pytest.fixture(scope="module")
def vgg_files(tmp_path_factory) -> tuple[Path, Path]:
    """A VGG-Face file (conv + fc6 in float16 + fc7 + fc8) and a separate 1024-d head file
    (dense on the flattened pool5: weight (1024, 25088))."""
    with torch.device("meta"):
        shapes, head_shapes = VggFace(HEADS[VggLayer.FC7]), VggFace(HEADS[VggLayer.DENSE1024])
    sd = _random_state(shapes, 1)
    head = {k: v for k, v in _random_state(head_shapes, 2).items() if k.startswith("dense.")}
    assert head["dense.weight"].shape == (1024, 25088)
    sd["fc6.weight"] = sd["fc6.weight"].half()
    sd["fc8.weight"], sd["fc8.bias"] = torch.zeros(8, 4096), torch.zeros(8)
    folder = tmp_path_factory.mktemp("vgg")
    torch.save(sd, folder / "vgg_face_dag.pth")
    torch.save(head, folder / "head.pt")
    return folder / "vgg_face_dag.pth", folder / "head.pt"


@pytest.mark.parametrize(
    "layer, dim", [("pool5", 25088), ("fc6", 4096), ("fc7", 4096), ("dense1024", 1024)]
)
def test_vggface_layers(vgg_files, layer: str, dim: int) -> None:
    weights, head = vgg_files
    cfg = VggFaceConfig(weights=weights, head_weights=head if layer == "dense1024" else None,
                        layer=layer, input_size=32, device="cpu", batch_size=7)
    emb = make_embedder(cfg)
    crops = _crops(7, seed=3)
    out = emb.embed(crops, None)
    assert out.shape == (7, dim) == (7, emb.dim) and np.isfinite(out).all() and out.std() > 0
    assert emb.attrs()["layer"] == layer and emb.attrs()["weights_sha256"].count(",") == (
        layer == "dense1024"
    )
    one = np.concatenate([emb.embed(c[None], None) for c in crops])
    # unnormalised activations (up to ~100 here): float tolerance relative to their scale
    np.testing.assert_allclose(one, out, atol=1e-5 * np.abs(out).max())
    if layer != "pool5":
        assert (out >= 0).all()  # fc activations are after ReLU


def test_vggface_original_geometry_and_errors(vgg_files, irv1_file, tmp_path: Path) -> None:
    weights, head = vgg_files
    emb = make_embedder(VggFaceConfig(weights=weights, layer="pool5", device="cpu"))
    assert emb.embed(_crops(1, size=160), None).shape == (1, 25088)  # 224 input: 7x7 after pool5
    with pytest.raises(ModelFileError, match=r"missing keys \['dense.bias', 'dense.weight'\]"):
        make_embedder(VggFaceConfig(weights=weights, layer="dense1024"))
    with pytest.raises(
        ModelFileError, match=r"missing keys \['conv1_1.bias'.*unexpected keys \['block8"
    ):
        make_embedder(VggFaceConfig(weights=irv1_file, layer="pool5"))  # wrong architecture
    bad_head = tmp_path / "head512.pt"
    # a head on fc7 (the layout before the fix) is rejected with the expected shape
    torch.save({"dense.weight": torch.zeros(1024, 4096), "dense.bias": torch.zeros(1024)}, bad_head)
    with pytest.raises(
        ModelFileError, match=r"dense.weight \(1024, 4096\) \(expected \(1024, 25088\)\)"
    ):
        make_embedder(VggFaceConfig(weights=weights, head_weights=bad_head, layer="dense1024"))


def test_vggface_dense1024_sits_on_pool5(vgg_files) -> None:
    """dense1024 = relu(dense(flattened pool5)): fc6 / fc7 take no part (video-FER thesis head)."""
    weights, head = vgg_files
    crops = _crops(3, size=32, seed=5)
    common = {"weights": weights, "input_size": 32, "device": "cpu"}
    pool5 = make_embedder(VggFaceConfig(layer="pool5", **common)).embed(crops, None)
    dense = make_embedder(VggFaceConfig(layer="dense1024", head_weights=head, **common)).embed(
        crops, None
    )
    sd = torch.load(head, weights_only=True)
    expected = np.maximum(pool5 @ sd["dense.weight"].numpy().T + sd["dense.bias"].numpy(), 0.0)
    np.testing.assert_allclose(dense, expected, atol=1e-4 * np.abs(expected).max())
    with torch.device("meta"):
        net = VggFace(HEADS[VggLayer.DENSE1024])
    assert not hasattr(net, "fc6") and not hasattr(net, "fc7")


class _Tiny(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.conv = nn.Conv2d(3, 4, 3)
        self.pool = nn.AdaptiveAvgPool2d(2)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.pool(torch.relu(self.conv(x)))  # (B, 4, 2, 2): flattened to 16


@pytest.fixture(scope="module")
def tiny_ts(tmp_path_factory) -> tuple[Path, nn.Module]:
    torch.manual_seed(0)
    net = _Tiny().eval()
    path = tmp_path_factory.mktemp("ts") / "tiny.ts"
    torch.jit.save(torch.jit.script(net), str(path))
    return path, net


def test_torchscript_preprocessing_and_batching(tiny_ts) -> None:
    path, net = tiny_ts
    mean, std = (10.0, 20.0, 30.0), (50.0, 60.0, 70.0)
    cfg = TorchScriptConfig(
        model=path, input_size=24, channel_order="bgr", mean=mean, std=std, device="cpu"
    )
    emb = make_embedder(cfg)
    crops = _crops(5, size=24, seed=4)
    out = emb.embed(crops, None)
    assert emb.dim == 16 and out.shape == (5, 16)
    x = (crops[..., ::-1].astype(np.float32) - np.array(mean, np.float32)) / np.array(
        std, np.float32
    )
    with torch.no_grad():
        want = net(torch.from_numpy(x.transpose(0, 3, 1, 2).copy())).flatten(1).numpy()
    np.testing.assert_allclose(out, want, atol=1e-6)
    by1 = embed_frames(emb, iter(crops), None, np.ones(5, bool), batch_size=1)
    np.testing.assert_allclose(by1, out, atol=1e-5)
    assert emb.attrs()["channel_order"] == "bgr" and emb.attrs()["model_file"] == "tiny.ts"


def test_torchscript_errors(irv1_file, tmp_path: Path) -> None:
    with pytest.raises(ModelFileError, match="nope.ts not found"):
        make_embedder(TorchScriptConfig(model=tmp_path / "nope.ts"))
    with pytest.raises(ModelFileError, match="not a TorchScript archive"):
        make_embedder(TorchScriptConfig(model=irv1_file))  # a state dict, not TorchScript
    fixed = tmp_path / "fixed.ts"
    torch.jit.save(
        torch.jit.script(nn.Sequential(nn.Flatten(), nn.Linear(3 * 8 * 8, 4))), str(fixed)
    )
    with pytest.raises(ModelFileError, match="set input_size"):
        make_embedder(TorchScriptConfig(model=fixed, input_size=16))
    assert make_embedder(TorchScriptConfig(model=fixed, input_size=8)).dim == 4


def test_device_and_threads(tiny_ts) -> None:
    path, _ = tiny_ts
    before = torch.get_num_threads()
    try:
        emb = make_embedder(TorchScriptConfig(model=path, input_size=16, threads=2))
        assert torch.get_num_threads() == 2
    finally:
        torch.set_num_threads(before)
    assert emb.device.type == ("cuda" if torch.cuda.is_available() else "cpu")  # auto
    if not torch.cuda.is_available():
        with pytest.raises(ConfigError, match="device: cuda"):
            make_embedder(TorchScriptConfig(model=path, device="cuda"))
