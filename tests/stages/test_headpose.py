"""Head pose from 68 landmarks: exact recovery on projected model points, then real frames."""

from __future__ import annotations

import math

import cv2
import numpy as np
import pytest

from emoprep.io.video import iter_frames
from emoprep.stages.detect import HaarConfig, make_detector
from emoprep.stages.headpose import (
    MODEL_INDICES,
    MODEL_POINTS,
    camera_matrix,
    head_pose,
    head_pose_frame,
    within_pose,
)
from emoprep.stages.landmarks import Dlib68Config, make_landmarker

W, H = 640, 360


def rot_y(deg: float) -> np.ndarray:
    t = math.radians(deg)
    return np.array([[math.cos(t), 0, math.sin(t)], [0, 1, 0], [-math.sin(t), 0, math.cos(t)]])


def rot_x(deg: float) -> np.ndarray:
    t = math.radians(deg)
    return np.array([[1, 0, 0], [0, math.cos(t), -math.sin(t)], [0, math.sin(t), math.cos(t)]])


def rot_z(deg: float) -> np.ndarray:
    t = math.radians(deg)
    return np.array([[math.cos(t), -math.sin(t), 0], [math.sin(t), math.cos(t), 0], [0, 0, 1]])


def projected_face(rot: np.ndarray, depth: float = 3000.0) -> np.ndarray:
    """(68, 2) landmarks: the six model points projected with ``rot``, the rest NaN-free filler."""
    rvec, _ = cv2.Rodrigues(rot)
    pts, _ = cv2.projectPoints(MODEL_POINTS, rvec, np.array([0.0, 0.0, depth]),
                               camera_matrix(W, H), None)
    lm = np.full((68, 2), [W / 2, H / 2], np.float64)
    lm[list(MODEL_INDICES)] = pts.reshape(-1, 2)
    return lm


def test_identity_rotation_is_zero_pose() -> None:
    np.testing.assert_allclose(head_pose_frame(projected_face(np.eye(3)), W, H), 0, atol=0.05)


@pytest.mark.parametrize("yaw,pitch,roll", [(20, 0, 0), (0, 15, 0), (0, 0, 10), (-25, -10, 5)])
def test_projected_rotations_are_recovered(yaw: float, pitch: float, roll: float) -> None:
    # the documented decomposition: R = Ry(-yaw) Rx(-pitch) Rz(roll)
    rot = rot_y(-yaw) @ rot_x(-pitch) @ rot_z(roll)
    np.testing.assert_allclose(head_pose_frame(projected_face(rot), W, H), [yaw, pitch, roll],
                               atol=0.1)


def test_sign_convention_in_the_image() -> None:
    """Positive yaw moves the nose to the image right; positive pitch moves it up;
    positive roll turns the eye line clockwise (image-right eye lower)."""
    lm = projected_face(rot_y(-20))  # yaw +20
    eyes_mid = (lm[36] + lm[45]) / 2
    assert lm[30, 0] > eyes_mid[0] + 5
    level = projected_face(np.eye(3))
    up = projected_face(rot_x(-15))  # pitch +15
    assert (up[30, 1] - (up[36, 1] + up[45, 1]) / 2) < (level[30, 1] - level[36, 1]) - 5
    tilt = projected_face(rot_z(10))  # roll +10
    assert tilt[45, 1] > tilt[36, 1] + 5


def test_missing_landmarks_give_nan_rows() -> None:
    lm = np.stack([projected_face(np.eye(3)), np.full((68, 2), np.nan)])
    pose = head_pose(lm, W, H)
    assert pose.shape == (2, 3) and pose.dtype == np.float32
    assert np.isfinite(pose[0]).all() and np.isnan(pose[1]).all()
    with pytest.raises(ValueError, match="68, 2"):
        head_pose(np.zeros((3, 5, 2)), W, H)


# --- real frames ----------------------------------------------------------------------------


@pytest.fixture(scope="module")
def face_tools():
    return make_detector(HaarConfig()), make_landmarker(Dlib68Config())


def read_frame(entry, index: int) -> np.ndarray:
    return next(f for i, f in iter_frames(entry, [index]))


def pose_of(frame: np.ndarray, face_tools) -> np.ndarray:
    """Detect the largest face, fit the 68 landmarks, return (yaw, pitch, roll) degrees."""
    detector, landmarker = face_tools
    boxes = detector.detect(frame)
    assert len(boxes), "no face detected in the test frame"
    box = boxes[np.argmax(boxes[:, 2] * boxes[:, 3])]
    lm = landmarker(frame, box)
    return head_pose_frame(lm, frame.shape[1], frame.shape[0])


def test_frontal_face_is_near_zero(sample_entry, face_tools) -> None:
    frame = read_frame(sample_entry("single_face.mp4"), 42)
    pose = pose_of(frame, face_tools)
    assert np.all(np.abs(pose) < 10), pose


def test_mirrored_frame_flips_yaw_and_roll(sample_entry, face_tools) -> None:
    # frame 367: the subject turns to her left (nose towards the image right) and tilts clockwise
    frame = read_frame(sample_entry("WolfgangLanger_Pexels.mp4"), 367)
    pose = pose_of(frame, face_tools)
    flipped = pose_of(np.ascontiguousarray(frame[:, ::-1]), face_tools)
    assert pose[0] > 5 and pose[2] > 3, pose  # the documented signs: left turn, clockwise tilt
    assert flipped[0] < -5 and flipped[2] < -3, flipped
    assert abs(pose[0] + flipped[0]) < 4 and abs(pose[2] + flipped[2]) < 4
    assert abs(pose[1] - flipped[1]) < 4


def test_within_pose_limits_each_angle_and_rejects_nan() -> None:
    pose = np.array([[5, 0, 0], [-31, 0, 0], [10, 25, 0], [np.nan] * 3], np.float32)
    assert within_pose(pose).tolist() == [True] * 4
    assert within_pose(pose, max_yaw=30).tolist() == [True, False, True, False]
    assert within_pose(pose, max_yaw=30, max_pitch=20).tolist() == [True, False, False, False]
    with pytest.raises(ValueError, match="T, 3"):
        within_pose(np.zeros(3))
