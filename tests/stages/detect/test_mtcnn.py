"""MTCNN: the networks load the facenet-pytorch state dicts strictly; faces on the real clips.

The nets' outputs are compared with facenet-pytorch's own classes in test_mtcnn_reference.py;
the detection pipeline around them (pyramid, NMS, regression) has no recorded reference output
(facenet-pytorch's detect_face needs torchvision; see there) and is checked here by its results
on real frames."""

from __future__ import annotations

import pickle
from pathlib import Path

import numpy as np
import pytest
import torch

from emoprep.errors import ConfigError, ModelFileError
from emoprep.stages.detect import HaarConfig, MtcnnConfig, box_iou, make_detector, model_files
from emoprep.stages.detect.mtcnn import Faces, pyramid_scales
from emoprep.stages.detect.mtcnn_nets import NETS, load_net


@pytest.fixture(scope="module")
def cfg(mtcnn_weights: Path) -> MtcnnConfig:
    return MtcnnConfig(weights_dir=mtcnn_weights, device="cpu", threads=1)


@pytest.fixture(scope="module")
def det(cfg: MtcnnConfig):
    return make_detector(cfg)


@pytest.fixture(scope="module")
def wolfgang_faces(det, wolfgang_frames: list[np.ndarray]) -> list[Faces]:
    return det.detect_batch(wolfgang_frames)


def test_state_dict_keys_match_the_networks(mtcnn_weights: Path) -> None:
    for name, cls in NETS.items():
        sd = torch.load(mtcnn_weights / f"{name}.pt", weights_only=True)
        assert sorted(sd) == sorted(cls().state_dict())


def test_network_output_shapes(mtcnn_weights: Path) -> None:
    cpu = torch.device("cpu")
    pnet, rnet, onet = (
        load_net(n, mtcnn_weights / f"{n}.pt", cpu) for n in ("pnet", "rnet", "onet")
    )
    with torch.inference_mode():
        prob, reg = pnet(torch.zeros(2, 3, 12, 12))
        assert prob.shape == (2, 1, 1) and reg.shape == (2, 4, 1, 1)
        prob, reg = pnet(torch.zeros(1, 3, 30, 40))  # 28x38 -> pool 14x19 -> 10x15
        assert prob.shape == (1, 10, 15)
        prob, reg = rnet(torch.zeros(3, 3, 24, 24))
        assert prob.shape == (3,) and reg.shape == (3, 4)
        prob, reg, pts = onet(torch.zeros(3, 3, 48, 48))
        assert prob.shape == (3,) and reg.shape == (3, 4) and pts.shape == (3, 10)
        assert ((prob >= 0) & (prob <= 1)).all()


def test_pyramid_scales_hand_computed() -> None:
    # 100 px, min face 20: 12/20 = 0.6 -> short sides 60, 42.5, 30.2, 21.4, 15.2 (then 10.7 < 12)
    np.testing.assert_allclose(pyramid_scales(100, 150, 20, 0.709), 0.6 * 0.709 ** np.arange(5))
    assert pyramid_scales(100, 150, 120, 0.709) == []  # the face cannot fit


def test_finds_the_face_like_haar_with_landmarks_inside(
        wolfgang_faces: list[Faces], wolfgang_frames: list[np.ndarray]) -> None:
    haar = make_detector(HaarConfig())
    for faces, frame in zip(wolfgang_faces, wolfgang_frames, strict=True):
        assert faces.boxes.shape == (1, 4) and faces.boxes.dtype == np.float32
        assert faces.landmarks.shape == (1, 5, 2) and faces.scores.shape == (1,)
        assert faces.scores[0] > 0.95
        assert box_iou(faces.boxes[0], haar.detect(frame)[0]) > 0.5
        x, y, w, h = faces.boxes[0]
        lm = faces.landmarks[0]
        assert ((lm[:, 0] > x) & (lm[:, 0] < x + w) & (lm[:, 1] > y) & (lm[:, 1] < y + h)).all()
        eyes_y, mouth_y = lm[:2, 1].mean(), lm[3:, 1].mean()
        assert eyes_y < lm[2, 1] < mouth_y  # eyes above the nose above the mouth
        assert lm[0, 0] < lm[1, 0] and lm[3, 0] < lm[4, 0]  # left before right in the image


def test_single_frame_calls_agree_with_the_batch(
        det, wolfgang_faces: list[Faces], wolfgang_frames: list[np.ndarray]) -> None:
    one = det.detect_full(wolfgang_frames[2])
    np.testing.assert_allclose(one.boxes, wolfgang_faces[2].boxes, atol=1e-3)
    np.testing.assert_allclose(one.landmarks, wolfgang_faces[2].landmarks, atol=1e-3)
    boxes, scores = det.detect_scored(wolfgang_frames[2])
    np.testing.assert_allclose(scores, wolfgang_faces[2].scores, atol=1e-5)
    np.testing.assert_array_equal(det.detect(wolfgang_frames[2]), boxes)


def test_nothing_in_no_face_clip(det, no_face_frames: list[np.ndarray]) -> None:
    assert [len(f.boxes) for f in det.detect_batch(no_face_frames)] == [0] * len(no_face_frames)


def test_min_size_and_thresholds_filter(
    cfg: MtcnnConfig, wolfgang_frames: list[np.ndarray]
) -> None:
    frame = wolfgang_frames[3]
    assert len(make_detector(cfg.model_copy(update={"min_size": 400})).detect(frame)) == 0
    strict = cfg.model_copy(update={"thresholds": (0.6, 0.7, 0.99999999)})
    assert len(make_detector(strict).detect(frame)) == 0


def test_grey_and_blank_frames(det, wolfgang_frames: list[np.ndarray]) -> None:
    grey = wolfgang_frames[0].mean(axis=2).astype(np.uint8)
    assert len(det.detect(grey)) == 1
    assert det.detect_full(np.full((120, 160, 3), 128, np.uint8)).boxes.shape == (0, 4)
    with pytest.raises(ValueError, match="expected"):
        det.detect(np.zeros((10, 10, 4), np.uint8))


def test_pickles_and_rebuilds(det, wolfgang_frames: list[np.ndarray]) -> None:
    clone = pickle.loads(pickle.dumps(det))
    np.testing.assert_array_equal(clone.detect(wolfgang_frames[1]), det.detect(wolfgang_frames[1]))


def test_model_files_come_from_the_registry(mtcnn_weights: Path) -> None:
    files = model_files(MtcnnConfig())
    assert [p.name for p in files] == ["pnet.pt", "rnet.pt", "onet.pt"]
    assert all(p.parent == mtcnn_weights for p in files)


def test_missing_weight_names_the_file_and_the_fix(tmp_path: Path) -> None:
    with pytest.raises(ModelFileError, match=r"pnet\.pt.*emoprep models fetch mtcnn"):
        make_detector(MtcnnConfig(weights_dir=tmp_path))


def test_wrong_weight_file_is_a_model_file_error(tmp_path: Path, mtcnn_weights: Path) -> None:
    for name in ("pnet.pt", "rnet.pt"):
        (tmp_path / name).write_bytes((mtcnn_weights / name).read_bytes())
    (tmp_path / "onet.pt").write_bytes((mtcnn_weights / "rnet.pt").read_bytes())  # wrong net
    with pytest.raises(ModelFileError, match=r"onet\.pt.*does not match the onet"):
        make_detector(MtcnnConfig(weights_dir=tmp_path))
    (tmp_path / "onet.pt").write_bytes(b"not a torch file")
    with pytest.raises(ModelFileError, match=r"cannot read .*onet\.pt"):
        make_detector(MtcnnConfig(weights_dir=tmp_path))


@pytest.mark.skipif(torch.cuda.is_available(), reason="checks the error raised without CUDA")
def test_device_cuda_without_gpu_is_a_config_error(mtcnn_weights: Path) -> None:
    with pytest.raises(ConfigError, match="device: cuda"):
        make_detector(MtcnnConfig(weights_dir=mtcnn_weights, device="cuda"))


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")
def test_cuda_gives_the_cpu_faces(mtcnn_weights: Path, wolfgang_faces: list[Faces],
                                  wolfgang_frames: list[np.ndarray]) -> None:
    gpu = make_detector(MtcnnConfig(weights_dir=mtcnn_weights, device="cuda"))
    assert gpu.device.type == "cuda"
    for got, want in zip(gpu.detect_batch(wolfgang_frames), wolfgang_faces, strict=True):
        np.testing.assert_allclose(got.boxes, want.boxes, atol=1.0)
        np.testing.assert_allclose(got.landmarks, want.landmarks, atol=1.0)
