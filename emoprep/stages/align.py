"""Eye-based alignment: rotate the eye line horizontal, scale to a fixed inter-ocular distance,
crop.

EYES (thesis on categorical/continuous FER, AffectNet): eye centres are the centroids of landmarks
37-42 and 43-48 (1-based, 68-point scheme); angle = atan((r_y - l_y) / (r_x - l_x)); scale =
desired distance / eye distance; rotation and scale about the eye midpoint, then a translation that
puts the midpoint at (0.5 S, eye_y S); all in ONE affine warp. BOX (video-FER thesis, BU-4DFE): the
tracked box extended by ``box_pad_y`` px above and below, resized to S x S with the pixel-centre
convention of ``cv2.resize`` and replicated borders. Matrices map source pixels to crop pixels:
``[u, v] = M[:, :2] @ [x, y] + M[:, 2]``; pixel centres are at integer coordinates.

The default eye line (``eye_y`` 0.28 with ``eye_distance`` 0.30) comes from
benchmarks/crop.py: all 68 landmarks lie inside the crop on 100 % of the 688 face frames of the
sample clips (94.2 % with the former 0.40, where the jaw left the crop), with room for an open
mouth 2.21 inter-ocular distances below the eye line (docs/METHODS.md).
"""

from __future__ import annotations

import math
from enum import Enum

import numpy as np
from pydantic import BaseModel, ConfigDict, Field

from emoprep.errors import StageError
from emoprep.types import FrameStatus, Geometry


class AlignMethod(str, Enum):
    EYES = "eyes"  #: eye centroids -> rotation + scale, one affine warp (default)
    BOX = "box"  #: resize the face box to S x S, no rotation


class Interpolation(str, Enum):
    LINEAR = "linear"  #: bilinear warp (default)
    CUBIC = "cubic"  #: bicubic warp
    # : area-average shrink of the frame first (when the scale is < 1), then bilinear warp
    AREA = ("area")


class AlignConfig(BaseModel):
    model_config = ConfigDict(extra="forbid")

    method: AlignMethod = AlignMethod.EYES
    size: int = Field(160, ge=16, le=1024, description="output crop side S, pixels")
    eye_distance: float = Field(
        0.30, gt=0.05, lt=0.9,
        description="inter-ocular distance as a fraction of S (0.30: 48 px at S = 160)")
    eye_y: float = Field(
        0.28, gt=0.0, lt=1.0,
        description="height of the eye line as a fraction of S. 0.28 (was 0.40): with eye_distance "
        "0.30 all 68 landmarks lie in the crop on 100 % of the sample clips' face frames (0.40: "
        "94.2 %, the jaw fell below the crop) and an open mouth 2.21 eye distances below the eye "
        "line still fits; measured by benchmarks/crop.py, see docs/METHODS.md")
    interpolation: Interpolation = Interpolation.LINEAR
    box_pad_y: int = Field(
        10, ge=0,
        description="method box (and the box fallback): pixels added above and below the tracked "
        "box before it is resized to S x S (the video-FER thesis's 10 px, for the mouth)")


LEFT_EYE = slice(36, 42)  #: landmarks 37-42 (1-based): the eye on the image's left
RIGHT_EYE = slice(42, 48)  #: landmarks 43-48 (1-based): the eye on the image's right
#: OpenCV's flag names per interpolation (area: linear after the area shrink of align_face)
_FLAGS = {Interpolation.LINEAR: "INTER_LINEAR", Interpolation.CUBIC: "INTER_CUBIC",
          Interpolation.AREA: "INTER_LINEAR"}


def eye_centers(landmarks: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(left, right) eye centres, each (2,) float64 px: means of points [36:42] and [42:48]."""
    lm = np.asarray(landmarks, np.float64)
    if lm.shape != (68, 2):
        raise ValueError(f"eye_centers: expected (68, 2) landmarks, got shape {lm.shape}")
    # both centres in one reduction: the sums and the division of ``.mean(axis=0)`` (same values)
    left, right = np.add.reduce(lm[LEFT_EYE.start:RIGHT_EYE.stop].reshape(2, 6, 2), axis=1) / 6
    return left, right


def eyes_matrix(left: np.ndarray, right: np.ndarray, cfg: AlignConfig) -> np.ndarray:
    """(2, 3) float64 affine from eye centres: level the eye line, fix its length and position.

    angle = atan((r_y - l_y) / (r_x - l_x)), computed as atan2 (equal for r_x > l_x, and still
    upright for r_x <= l_x); scale = eye_distance * S / |r - l|; rotation + scale about the eye
    midpoint c, then c goes to (0.5 S, eye_y S).
    """
    dx, dy = float(right[0] - left[0]), float(right[1] - left[1])
    dist = math.hypot(dx, dy)
    if not dist > 1e-6:
        raise StageError(
            f"alignment: eye centres coincide ({left} vs {right}); landmarks are degenerate"
        )
    theta = math.atan2(dy, dx)
    s = cfg.eye_distance * cfg.size / dist
    a, b = s * math.cos(theta), s * math.sin(theta)
    cx, cy = (float(left[0]) + float(right[0])) / 2, (float(left[1]) + float(right[1])) / 2
    rot = np.array([[a, b], [-b, a]])  # = cv2.getRotationMatrix2D(c, degrees(theta), s)[:, :2]
    t = np.array([0.5 * cfg.size, cfg.eye_y * cfg.size]) - rot @ np.array([cx, cy])
    return np.array([[a, b, t[0]], [-b, a, t[1]]])  # [rot | t], without np.hstack's overhead


def box_matrix(box: np.ndarray, size: int, pad_y: float = 0.0) -> np.ndarray:
    """(2, 3) float64 affine that maps box (x, y, w, h), extended by ``pad_y`` px above and below,
    onto the S x S crop (no rotation), as ``cv2.resize`` maps an image onto its output.

    The box's outer edges (x - 0.5 .. x + w - 0.5, pixel centres at integers) go to the crop's
    (-0.5 .. S - 0.5): ``u = (x_src - x + 0.5) * S / w - 0.5``, likewise v with the padded box.
    """
    x, y, w, h = (float(v) for v in box)
    y, h = y - pad_y, h + 2 * pad_y
    if not (w > 0 and h > 0):
        raise StageError(f"alignment: face box {box} has no area; expected w > 0 and h > 0")
    sx, sy = size / w, size / h
    return np.array([[sx, 0.0, (0.5 - x) * sx - 0.5], [0.0, sy, (0.5 - y) * sy - 0.5]])


def alignment_matrix(
    landmarks: np.ndarray | None, box: np.ndarray | None, cfg: AlignConfig
) -> np.ndarray:
    """(2, 3) float64 affine, source px -> crop px, for one frame.

    EYES needs finite landmarks (68, 2); when they are missing it falls back to the BOX rule
    (the box extended by ``box_pad_y``). Raises :class:`StageError` when neither landmarks nor a
    box is usable.
    """
    lm_ok = landmarks is not None and np.isfinite(landmarks).all()
    if cfg.method is AlignMethod.EYES and lm_ok and landmarks is not None:
        return eyes_matrix(*eye_centers(landmarks), cfg)
    if box is not None and np.isfinite(box).all():
        return box_matrix(box, cfg.size, cfg.box_pad_y)
    raise StageError(
        f"alignment ({cfg.method.value}): no usable landmarks or box for this frame; "
        "align only frames with a face (FrameStatus.has_face)"
    )


def transform_points(points: np.ndarray, matrix: np.ndarray) -> np.ndarray:
    """Apply the (2, 3) affine to points (..., 2); returns (..., 2) float64 (NaN stays NaN)."""
    p = np.asarray(points, np.float64)
    m = np.asarray(matrix, np.float64)
    return p @ m[:, :2].T + m[:, 2]


def align_face(frame_bgr: np.ndarray, matrix: np.ndarray, cfg: AlignConfig) -> np.ndarray:
    """(S, S, 3) uint8 **RGB** crop of ``frame_bgr`` (H, W, 3) BGR through ONE affine warp.

    Pixels that fall outside the frame are black for ``method: eyes`` (the box fallback
    included) and repeat the frame's edge pixels for ``method: box`` (``BORDER_REPLICATE``, as
    ``cv2.resize`` of a slice does, so no black is blended into the crop's edges). With
    ``interpolation: area`` and a scale below 1
    the frame is first shrunk by area averaging (the matrix is adjusted), which avoids aliasing.
    """
    import cv2  # here, not at the top: `emoprep status` and the CLI never load OpenCV

    m = np.asarray(matrix, np.float64)
    if m.shape != (2, 3) or not np.isfinite(m).all():
        raise StageError(f"align_face: expected a finite (2, 3) matrix, got {m.shape} {m.tolist()}")
    img = frame_bgr
    scale = 1.0  # read by interpolation: area only (np.linalg.det costs ~10 us a frame)
    if cfg.interpolation is Interpolation.AREA:
        scale = math.sqrt(abs(np.linalg.det(m[:, :2])))
    if scale < 1.0:
        h, w = frame_bgr.shape[:2]
        size = (max(1, round(w * scale)), max(1, round(h * scale)))
        img = cv2.resize(frame_bgr, size, interpolation=cv2.INTER_AREA)
        m = m @ np.diag([w / size[0], h / size[1], 1.0])  # crop <- source <- shrunk
    border = cv2.BORDER_REPLICATE if cfg.method is AlignMethod.BOX else cv2.BORDER_CONSTANT
    crop = cv2.warpAffine(
        img,
        m,
        (cfg.size, cfg.size),
        flags=getattr(cv2, _FLAGS[cfg.interpolation]),
        borderMode=border,
        borderValue=(0, 0, 0),
    )
    return cv2.cvtColor(crop, cv2.COLOR_BGR2RGB)


def align_geometry(geom: Geometry, cfg: AlignConfig) -> np.ndarray:
    """(T, 2, 3) float32 source->crop matrices for every frame of ``geom``; NaN where there is no
    face."""
    out = np.full((len(geom), 2, 3), np.nan, np.float32)
    for t in np.flatnonzero(FrameStatus.has_face(geom.status)):
        out[t] = row_matrix(geom.boxes[t], geom.landmarks[t], cfg)
    return out


def row_matrix(box: np.ndarray, landmarks: np.ndarray, cfg: AlignConfig) -> np.ndarray:
    """(2, 3) float32 matrix of one frame that has a face (:meth:`FrameStatus.has_face`): from its
    landmarks (68, 2) or box (4,), NaN when neither is finite (the rule of :func:`align_geometry`,
    which the frame driver applies row by row as the tracker settles them)."""
    if np.isfinite(landmarks).all() or np.isfinite(box).all():
        return alignment_matrix(landmarks, box, cfg).astype(np.float32)
    return np.full((2, 3), np.nan, np.float32)
