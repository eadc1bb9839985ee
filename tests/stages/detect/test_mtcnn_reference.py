"""MTCNN's three networks against the original: facenet-pytorch's own PNet, RNet and ONet classes
(imported from the wheel the weights come from, with its bundled weights) give the same outputs
as emoprep's ports on the same inputs (a real frame and face crops, plus random ones).

What remains unverified here, and why: the detection pipeline around the nets (image pyramid,
the NMS steps, box regression and squaring, the crops fed to R-Net and O-Net). facenet-pytorch's
``detect_face`` needs torchvision, which cannot be imported beside the project's torch, and a
throw-away environment with a matching torch and torchvision could not be built here (the
registry offers torch 2.13.0+cpu only with CUDA builds of torchvision, whose operators do not
load; torch 2.14.1 needs the CUDA libraries); tests/stages/detect/test_mtcnn.py checks the
pipeline's results on the real clips instead (boxes against Haar's, landmarks inside the box).
"""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import pytest
import torch

from emoprep.io.atomic import sha256_file
from emoprep.stages.detect.mtcnn_nets import load_net
from tests.helpers import import_original


@pytest.fixture(scope="module")
def original(facenet_source: Path):
    """facenet-pytorch's models/mtcnn.py (its detect_face helpers left out: they need
    torchvision and the nets do not call them)."""
    return import_original(facenet_source, "models.mtcnn", skip=("models.utils.detect_face",))


def _inputs(frame: np.ndarray, side: int, n_random: int = 3) -> torch.Tensor:
    """(1 + 4 + n_random, 3, side, side) MTCNN inputs ((x - 127.5) / 128, RGB): the frame, four
    crops around its face, and seeded random images."""
    rgb = frame[:, :, ::-1]
    crops = [cv2.resize(rgb, (side, side), interpolation=cv2.INTER_AREA)]
    for x, y, s in ((290, 0, 330), (300, 20, 300), (250, 0, 360), (320, 40, 260)):
        crops.append(cv2.resize(rgb[y:y + s, x:x + s], (side, side), interpolation=cv2.INTER_AREA))
    rng = np.random.default_rng(side)
    crops += list(rng.integers(0, 256, (n_random, side, side, 3), dtype=np.uint8))
    x = torch.from_numpy(np.stack(crops).astype(np.float32)).permute(0, 3, 1, 2)
    return (x - 127.5) * 0.0078125


@pytest.mark.parametrize("name", ["pnet", "rnet", "onet"])
def test_nets_equal_facenet_pytorch(name: str, original, facenet_source: Path,
                                    mtcnn_weights: Path, wolfgang_frames: list[np.ndarray]
                                    ) -> None:
    bundled = facenet_source / "data" / f"{name}.pt"
    assert sha256_file(bundled) == sha256_file(mtcnn_weights / f"{name}.pt")  # same weights
    ref = {"pnet": original.PNet, "rnet": original.RNet, "onet": original.ONet}[name]()
    ref.eval()  # pretrained=True: loads the wheel's data/<name>.pt
    ours = load_net(name, mtcnn_weights / f"{name}.pt", torch.device("cpu"))
    side = {"pnet": 61, "rnet": 24, "onet": 48}[name]
    x = _inputs(wolfgang_frames[2], side)
    with torch.inference_mode():
        want, got = ref(x), ours(x)
    if name == "onet":  # facenet: (regression, landmarks, softmax); ours: (face prob, reg, pts)
        reg, pts, soft = want
        np.testing.assert_allclose(got[2].numpy(), pts.numpy(), atol=1e-4)
    else:  # facenet: (regression, softmax); ours: (face prob, regression)
        reg, soft = want
    np.testing.assert_allclose(got[0].numpy(), soft[:, 1].numpy(), atol=1e-5)
    np.testing.assert_allclose(got[1].numpy(), reg.numpy(), atol=1e-4)
    if name == "pnet":
        assert got[0].shape == (8, 26, 26)  # 61 -> conv 59 -> pool 30 -> 28 -> 26
    else:  # the inputs exercise both answers: faces found in the crops, none in the noise
        assert got[0][1:5].min() > 0.9 and got[0][5:].max() < 0.5
