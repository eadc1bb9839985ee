"""dlib's ResNet descriptor on real faces from the WolfgangLanger sample clip.

Crops are built here as the align stage builds them: dlib HOG detector, 68 landmarks, eye-based
rotation + scale (eye distance 0.30 S, eye line at 0.40 S, S = 160).
"""

from __future__ import annotations

from pathlib import Path

import cv2
import dlib
import numpy as np
import pytest

from emoprep.errors import ModelFileError
from emoprep.io.video import iter_frames
from emoprep.stages.embed import DlibResnetConfig, embed_frames, make_embedder
from emoprep.stages.landmarks import find_model_file

S = 160
FRAMES = (30, 200, 380)


def _align(frame: np.ndarray, pts: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    left, right = pts[36:42].mean(0), pts[42:48].mean(0)
    d = right - left
    centre = (left + right) / 2
    m = cv2.getRotationMatrix2D(
        tuple(map(float, centre)),
        float(np.degrees(np.arctan2(d[1], d[0]))),
        0.30 * S / float(np.hypot(*d)),
    )
    m[:, 2] += np.array([S / 2, 0.40 * S]) - centre
    crop = cv2.warpAffine(frame, m, (S, S), flags=cv2.INTER_LINEAR)
    return crop, (pts @ m[:, :2].T + m[:, 2]).astype(np.float32)


@pytest.fixture(scope="module")
def faces(sample_entry) -> dict[str, np.ndarray]:
    """crops (3, 160, 160, 3) RGB, landmarks (3, 68, 2) crop px, reference (3, 128): dlib's own
    chips."""
    detector = dlib.get_frontal_face_detector()
    sp68 = dlib.shape_predictor(str(find_model_file("shape_predictor_68_face_landmarks.dat")))
    sp5 = dlib.shape_predictor(str(find_model_file("shape_predictor_5_face_landmarks.dat")))
    rec = dlib.face_recognition_model_v1(
        str(find_model_file("dlib_face_recognition_resnet_model_v1.dat"))
    )
    crops, lms, ref = [], [], []
    for _, bgr in iter_frames(sample_entry("WolfgangLanger_Pexels.mp4"), FRAMES):
        rgb = cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB)
        (box,) = detector(rgb, 1)
        pts = np.array([(p.x, p.y) for p in sp68(rgb, box).parts()], np.float64)
        crop, lm = _align(rgb, pts)
        crops.append(crop)
        lms.append(lm)
        chip = dlib.get_face_chip(rgb, sp5(rgb, box), size=150, padding=0.25)
        ref.append(np.asarray(rec.compute_face_descriptor(chip)))
    return {"crops": np.stack(crops), "landmarks": np.stack(lms), "reference": np.stack(ref)}


@pytest.fixture(scope="module")
def embedder():
    return make_embedder(DlibResnetConfig(batch_size=2))


def test_descriptor_of_real_faces(faces, embedder) -> None:
    v = embedder.embed(faces["crops"], None)
    assert v.shape == (3, 128) and v.dtype == np.float32 and embedder.dim == 128
    norms = np.linalg.norm(v, axis=1)
    assert np.all((norms > 1.0) & (norms < 2.0))  # dlib descriptors are ~1.5 long, not unit
    noise = np.random.default_rng(0).integers(0, 256, (1, S, S, 3), dtype=np.uint8)
    others = embedder.embed(np.concatenate([noise, noise[:, :, ::-1]]), None)
    same = max(
        np.linalg.norm(v[0] - v[1]), np.linalg.norm(v[0] - v[2]), np.linalg.norm(v[1] - v[2])
    )
    far = min(np.linalg.norm(v[:, None] - others[None], axis=2).ravel())
    assert same < 0.6 < far  # dlib's same-person threshold separates them


def test_batching_and_masking_do_not_change_features(faces, embedder) -> None:
    crops = faces["crops"]
    one = np.concatenate([embedder.embed(c[None], None) for c in crops])
    np.testing.assert_allclose(one, embedder.embed(crops, None), atol=1e-5)
    mask = np.array([True, False, True])
    out = embed_frames(embedder, iter(crops), None, mask, batch_size=1)
    assert np.all(out[1] == 0)
    np.testing.assert_allclose(out[[0, 2]], one[[0, 2]], atol=1e-5)
    assert embedder.attrs()["weights_sha256"] == embedder._sha and len(embedder._sha) == 64


def test_eye_chips_match_dlibs_own_alignment_better(faces, embedder) -> None:
    eyes = make_embedder(DlibResnetConfig(chip="eyes"))
    by_eyes = eyes.embed(faces["crops"], faces["landmarks"])
    by_resize = embedder.embed(faces["crops"], None)
    d_eyes = np.linalg.norm(by_eyes - faces["reference"], axis=1)
    d_resize = np.linalg.norm(by_resize - faces["reference"], axis=1)
    assert np.all(d_eyes < d_resize) and d_eyes.max() < 0.25
    with pytest.raises(ValueError, match="landmarks"):
        eyes.embed(faces["crops"], None)


def test_missing_and_corrupt_model_files(tmp_path: Path) -> None:
    with pytest.raises(ModelFileError, match="not found.*dlib_face_recognition_resnet_model_v1"):
        make_embedder(DlibResnetConfig(model=tmp_path / "nope.dat"))
    bad = tmp_path / "bad.dat"
    bad.write_bytes(b"this is not a dlib model" * 100)
    with pytest.raises(ModelFileError, match="bad.dat"):
        make_embedder(DlibResnetConfig(model=bad))
