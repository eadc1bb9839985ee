"""Head pose (yaw, pitch, roll in degrees) per frame from the 68 landmarks, with cv2.solvePnP.

Model. Six landmarks of the iBUG 68-point scheme are matched to a generic rigid 3D face:

==========================  =====  ==========================
point                       index  (x, y, z), model units
==========================  =====  ==========================
nose tip                    30     (   0,    0,    0)
chin                        8      (   0,  330,   65)
outer corner, image-left    36     (-225, -170,  135)
outer corner, image-right   45     ( 225, -170,  135)
mouth corner, image-left    48     (-150,  150,  125)
mouth corner, image-right   54     ( 150,  150,  125)
==========================  =====  ==========================

These are the six "generic face" points popularised by S. Mallick, "Head Pose Estimation using
OpenCV and Dlib" (LearnOpenCV, 2016), an approximate average adult face in which the outer eye
corners lie 450 units apart (so one unit is about 0.2 mm). We restate them in the camera's axes
(x to the image right, y down, z away from the camera; the original has y up and z towards the
camera, so y and z change sign), which makes a frontal face's rotation the identity. The scale
does not matter for the angles.

Camera. Pinhole, focal length = image width (pixels), principal point = image centre, no lens
distortion: the usual assumption when the calibration is unknown.

Angles. The rotation R (model -> camera) is split as R = Ry(a) @ Rx(b) @ Rz(c) (yaw about the
vertical axis first, then pitch, then roll, intrinsic). Signs, from the subject's point of view:

- ``yaw`` > 0: the subject turns their head to their own left (the nose moves to the image right).
- ``pitch`` > 0: the subject looks up (the nose moves up in the image).
- ``roll`` > 0: the head tilts clockwise in the image (top of the head towards the image right,
  i.e. towards the subject's left shoulder).

A horizontally mirrored frame has the opposite yaw and roll and the same pitch.
"""

from __future__ import annotations

import math

import numpy as np

#: 0-based indices (iBUG 68 scheme) of the landmarks matched to :data:`MODEL_POINTS`.
MODEL_INDICES = (30, 8, 36, 45, 48, 54)
_INDEX = np.array(MODEL_INDICES)  # the same, as an index array (built once)

#: (6, 3) float64, the generic face in camera-aligned axes (x right, y down, z away), model units.
MODEL_POINTS = np.array(
    [
        [0.0, 0.0, 0.0],
        [0.0, 330.0, 65.0],
        [-225.0, -170.0, 135.0],
        [225.0, -170.0, 135.0],
        [-150.0, 150.0, 125.0],
        [150.0, 150.0, 125.0],
    ],
    dtype=np.float64,
)

_EYE_SPAN = 450.0  # model distance between the outer eye corners (points 36 and 45)


def camera_matrix(width: int, height: int) -> np.ndarray:
    """(3, 3) float64 pinhole intrinsics: focal length = ``width`` px, centre = image centre."""
    if width <= 0 or height <= 0:
        raise ValueError(f"camera_matrix: image size must be positive, got {width}x{height}")
    f = float(width)
    return np.array([[f, 0.0, width / 2.0], [0.0, f, height / 2.0], [0.0, 0.0, 1.0]])


def euler_from_rotation(rot: np.ndarray) -> tuple[float, float, float]:
    """(yaw, pitch, roll) in degrees of a (3, 3) rotation, with the module's sign convention."""
    r = np.asarray(rot, dtype=np.float64)
    b = math.asin(float(np.clip(-r[1, 2], -1.0, 1.0)))
    a = math.atan2(r[0, 2], r[2, 2])
    c = math.atan2(r[1, 0], r[1, 1])
    # a > 0 turns the face's forward axis (0, 0, -1) towards the image left: the subject's right.
    # b > 0 turns it downwards (y grows down). Flip both so that left and up are positive.
    return -math.degrees(a), -math.degrees(b), math.degrees(c)


def _initial_translation(points: np.ndarray, cam: np.ndarray) -> np.ndarray:
    """A starting translation (3, 1): the nose on its ray, at the depth the eye span implies."""
    span = float(np.linalg.norm(points[3] - points[2]))
    f = cam[0, 0]
    z = f * _EYE_SPAN / max(span, 1.0)
    nose = points[0]
    return np.array([[(nose[0] - cam[0, 2]) * z / f], [(nose[1] - cam[1, 2]) * z / f], [z]])


def head_pose_frame(landmarks: np.ndarray, width: int, height: int) -> np.ndarray:
    """Head pose of one face: (3,) float32 yaw, pitch, roll in degrees; NaN if not solvable.

    landmarks: (68, 2) x, y in source pixels (NaN where no face). width, height: source frame
    size in pixels (they set the camera).
    """
    import cv2

    lm = np.asarray(landmarks, dtype=np.float64)
    if lm.shape != (68, 2):
        raise ValueError(f"head_pose_frame: landmarks must be (68, 2), got {lm.shape}")
    points = lm[_INDEX]
    if not np.isfinite(points).all():
        return np.full(3, np.nan, np.float32)
    cam = camera_matrix(width, height)
    rvec: np.ndarray = np.zeros((3, 1))
    tvec = _initial_translation(points, cam)
    ok, rvec, tvec = cv2.solvePnP(MODEL_POINTS, points.reshape(-1, 1, 2), cam, None, rvec, tvec,
                                  useExtrinsicGuess=True, flags=cv2.SOLVEPNP_ITERATIVE)
    if not ok or tvec[2, 0] <= 0:
        return np.full(3, np.nan, np.float32)
    rot, _ = cv2.Rodrigues(rvec)
    return np.array(euler_from_rotation(rot), np.float32)


def head_pose(landmarks: np.ndarray, width: int, height: int) -> np.ndarray:
    """Head pose of every frame: (T, 3) float32 yaw, pitch, roll in degrees; NaN rows where the
    frame has no face.

    landmarks: (T, 68, 2) x, y in source pixels, as in the frame store's ``landmarks``.
    """
    lm = np.asarray(landmarks)
    if lm.ndim != 3 or lm.shape[1:] != (68, 2):
        raise ValueError(f"head_pose: landmarks must be (T, 68, 2), got {lm.shape}")
    out = np.full((lm.shape[0], 3), np.nan, np.float32)
    for t in range(lm.shape[0]):
        out[t] = head_pose_frame(lm[t], width, height)
    return out


def within_pose(pose: np.ndarray, max_yaw: float | None = None, max_pitch: float | None = None,
                max_roll: float | None = None) -> np.ndarray:
    """(T,) bool: frames whose |yaw|, |pitch|, |roll| (degrees) are within the given limits.

    pose: (T, 3) yaw, pitch, roll in degrees. A frame with a NaN angle under a set limit is
    outside (no face, no pose); a limit of None is not checked.
    """
    p = np.asarray(pose, dtype=np.float64)
    if p.ndim != 2 or p.shape[1] != 3:
        raise ValueError(f"within_pose: pose must be (T, 3) yaw, pitch, roll, got {p.shape}")
    keep = np.ones(p.shape[0], bool)
    for k, limit in enumerate((max_yaw, max_pitch, max_roll)):
        if limit is not None:
            with np.errstate(invalid="ignore"):
                keep &= np.abs(p[:, k]) <= float(limit)
    return keep
