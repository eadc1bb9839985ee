"""InceptionResnetV1 against the original: facenet-pytorch's own ``InceptionResnetV1`` (imported
from its wheel) and emoprep's port, given one state dict, give the same embeddings.

The state dict is the original network's seeded random initialisation with batch-norm
statistics measured on a calibration batch (a fresh network's are 0 and 1, which would hide a
swapped mean and variance, and leave the output nearly independent of the input). What
remains unverified here, and why: the published VGGFace2 / CASIA-WebFace weights themselves
(``20180402-114759-vggface2.pt`` is on GitHub releases, not in a wheel, so it cannot be fetched
here); the port's loading of that exact file is covered by its key names, which are the
original's (this test loads the original's state dict strictly).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch

from emoprep.stages.embed import InceptionResnetV1Config, make_embedder
from emoprep.stages.embed.irv1_nets import InceptionResnetV1
from tests.helpers import import_original


@pytest.fixture(scope="module")
def reference(facenet_source: Path) -> torch.nn.Module:
    """The original network, seeded random weights, batch-norm statistics of one calibration
    batch, eval mode."""
    original = import_original(facenet_source, "models.inception_resnet_v1",
                               absent=("requests", "requests.adapters"))
    torch.manual_seed(26)
    net = original.InceptionResnetV1(pretrained=None, classify=True, num_classes=8)
    net.classify = False  # unit embeddings; the tests switch to logits where they say so
    for m in net.modules():  # batch-norm statistics of real activations, not 0 and 1
        if isinstance(m, torch.nn.modules.batchnorm._BatchNorm):
            m.momentum = None  # a cumulative average over the calibration batch
    net.train()
    with torch.no_grad():
        net(_faces(8, 160, seed=99))
    return net.eval()


def _faces(n: int, side: int, seed: int = 0) -> torch.Tensor:
    rng = np.random.default_rng(seed)
    return torch.from_numpy(rng.normal(0, 1, (n, 3, side, side)).astype(np.float32))


def test_port_equals_facenet_pytorch(reference: torch.nn.Module) -> None:
    """Unit-length embeddings, and the raw 512-d vectors before normalising (through the
    original's 8-class ``logits`` layer, which facenet-pytorch applies to them when
    ``classify``): a random network's unit embeddings are nearly parallel, the raw ones not."""
    sd = {k: v for k, v in reference.state_dict().items() if not k.startswith("logits.")}
    ours, raw = InceptionResnetV1(), InceptionResnetV1(l2_normalize=False)
    for net in (ours, raw):
        net.load_state_dict(sd, strict=True)  # the same key names
        net.eval()
    x = _faces(3, 160)
    with torch.inference_mode():
        reference.classify = False
        want, got = reference(x), ours(x)
        reference.classify = True
        want_logits, got_logits = reference(x), reference.logits(raw(x))
    reference.classify = False
    assert got.shape == (3, 512)
    np.testing.assert_allclose(got.numpy(), want.numpy(), atol=2e-5)
    np.testing.assert_allclose(got_logits.numpy(), want_logits.numpy(), rtol=1e-4, atol=1e-4)
    spread = want_logits.numpy().std(axis=0).mean() / np.abs(want_logits.numpy()).mean()
    assert spread > 0.1  # the inputs give different raw vectors (0.63 measured)


def test_embedder_standardises_as_facenet_pytorch(reference: torch.nn.Module,
                                                  tmp_path: Path) -> None:
    """The embedder on uint8 RGB crops equals the original on facenet-pytorch's own
    ``fixed_image_standardization`` ((x - 127.5) / 128) of the same crops."""
    path = tmp_path / "irv1.pt"
    torch.save(reference.state_dict(), path)  # logits.* included: the embedder ignores them
    emb = make_embedder(InceptionResnetV1Config(weights=path, input_size=160, device="cpu"))
    crops = np.random.default_rng(5).integers(0, 256, (2, 160, 160, 3), dtype=np.uint8)
    x = (torch.from_numpy(crops).permute(0, 3, 1, 2).float() - 127.5) / 128.0
    with torch.inference_mode():
        want = reference(x).numpy()
    np.testing.assert_allclose(emb.embed(crops, None), want, atol=2e-5)
