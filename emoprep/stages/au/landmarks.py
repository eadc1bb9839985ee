"""AU source ``landmarks`` (the default): geometric AU-intensity proxies from the 68 landmarks.

Each proxy is a distance between landmarks in a face frame (origin at the eye midpoint, x along
the eye line, y pointing down, unit = inter-ocular distance), measured relative to the video's
most neutral frames and clipped at 0. Formulas, sources and limits: docs/AU.md.
Landmark indices are 0-based in the dlib / iBUG 68-point scheme.
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import TYPE_CHECKING, Literal

import numpy as np
from pydantic import Field

from emoprep.stages.au.base import AUSourceConfig, Crops
from emoprep.types import FrameStatus

if TYPE_CHECKING:
    from emoprep.types import Geometry, VideoEntry

RIGHT_EYE = slice(36, 42)  #: subject's right eye (image left), points 37-42 1-based
LEFT_EYE = slice(42, 48)  #: subject's left eye (image right), points 43-48 1-based

#: raw geometric measures, columns of :func:`geometric_features`
FEATURES = ("inner_brow", "outer_brow", "brow_gap", "eye_open", "mouth_width", "corner_drop",
            "lip_gap", "jaw_open")
#: AUs the proxies estimate, columns of :func:`landmark_aus`
AU_NAMES = ["AU01", "AU02", "AU04", "AU05", "AU12", "AU15", "AU25", "AU26"]
#: features whose neutral value is the low end of their range (mouth closed, not stretched)
_MOUTH = ("mouth_width", "lip_gap", "jaw_open")


def face_frame(landmarks: np.ndarray) -> np.ndarray:
    """Landmarks (T, 68, 2) pixels -> face-frame coordinates (T, 68, 2) in inter-ocular units.

    Origin: midpoint of the two eye centroids; x: from the right-eye to the left-eye centroid;
    y: x turned 90 degrees towards the chin. Removes translation, in-plane rotation and scale.
    Frames whose eye distance is 0 or NaN come out NaN.
    """
    lm = np.asarray(landmarks, dtype=np.float64)
    r = lm[:, RIGHT_EYE].mean(axis=1)
    left = lm[:, LEFT_EYE].mean(axis=1)
    axis = left - r
    iod = np.linalg.norm(axis, axis=1)
    iod = np.where(iod > 1e-9, iod, np.nan)
    ux = axis / iod[:, None]
    uy = np.stack([-ux[:, 1], ux[:, 0]], axis=1)
    rel = lm - ((r + left) / 2.0)[:, None, :]
    x = np.einsum("tkd,td->tk", rel, ux) / iod[:, None]
    y = np.einsum("tkd,td->tk", rel, uy) / iod[:, None]
    return np.stack([x, y], axis=2)


#: landmark pairs whose distances :func:`geometric_features` uses: the lids (38-42, 39-41, 44-48,
#: 45-47), the inner lips (62-68, 63-67, 64-66), the inner brow ends (22, 23), the lip corners
#: (49, 55); 1-based in the comments, 0-based here
_PAIRS = np.array([(37, 41), (38, 40), (43, 47), (44, 46), (61, 67), (62, 66), (63, 65),
                   (21, 22), (48, 54)])
#: brow points whose heights :func:`geometric_features` averages in pairs: inner right (21, 22),
#: inner left (23, 24), outer right (18, 19), outer left (26, 27); 1-based in the comment
_BROWS = np.array([20, 21, 22, 23, 17, 18, 25, 26])


def _mean_rows(d: np.ndarray) -> np.ndarray:
    """Mean of the columns of ``d`` (T, K) as ``np.mean`` of a list of K (T,) arrays gives it:
    the same (K, T) layout, so the same summation order."""
    return np.mean(np.ascontiguousarray(d.T), axis=0)


def geometric_features(face: np.ndarray) -> np.ndarray:
    """Raw measures (T, 8) in inter-ocular units from face-frame landmarks (T, 68, 2); y is down.

    inner_brow / outer_brow: height of the inner (21-22 / 23-24 1-based) and outer brow points
    (18-19 / 26-27) above their eye's centroid; brow_gap: distance between the inner brow ends
    (22, 23); eye_open: mean upper-to-lower lid distance (38-42, 39-41, 44-48, 45-47); mouth_width:
    lip corners (49, 55); corner_drop: lip corners below the subnasale (34); lip_gap: mean inner
    lip distance (62-68, 63-67, 64-66); jaw_open: chin (9) below the subnasale (34).
    Each distance and mean is computed with the same operations in the same order as one
    ``np.linalg.norm`` per pair and one ``mean`` per pair of brow points (fewer numpy calls: an
    image has T = 1).
    """
    y = face[..., 1]
    eye_r, eye_l = y[:, RIGHT_EYE].mean(axis=1), y[:, LEFT_EYE].mean(axis=1)
    brow = y[:, _BROWS].reshape(-1, 4, 2).mean(axis=2)  # (T, 4): inner r, inner l, outer r, l
    inner = ((eye_r - brow[:, 0]) + (eye_l - brow[:, 1])) / 2
    outer = ((eye_r - brow[:, 2]) + (eye_l - brow[:, 3])) / 2
    dist = np.linalg.norm(face[:, _PAIRS[:, 0]] - face[:, _PAIRS[:, 1]], axis=2)  # (T, 9)
    corner_drop = (y[:, 48] + y[:, 54]) / 2 - y[:, 33]
    cols = [inner, outer, dist[:, 7], _mean_rows(dist[:, :4]), dist[:, 8], corner_drop,
            _mean_rows(dist[:, 4:7]), y[:, 8] - y[:, 33]]
    return np.stack(cols, axis=1)


def proxies(feat: np.ndarray, base: np.ndarray) -> np.ndarray:
    """AU proxies (T, 8) >= 0 from features (T, 8) and the neutral baseline (8,); see AU_NAMES."""
    d = feat - base[None, :]
    i = {n: k for k, n in enumerate(FEATURES)}

    def up(name: str) -> np.ndarray:
        return np.clip(d[:, i[name]], 0.0, None)

    def down(name: str) -> np.ndarray:
        return np.clip(-d[:, i[name]], 0.0, None)

    cols = [
        up("inner_brow"),  # AU1 inner brow raiser
        up("outer_brow"),  # AU2 outer brow raiser
        down("inner_brow") + down("brow_gap"),  # AU4 brow lowerer: brows down and together
        up("eye_open"),  # AU5 upper lid raiser
        down("corner_drop") + up("mouth_width"),  # AU12 lip corner puller: corners up and out
        up("corner_drop"),  # AU15 lip corner depressor
        up("lip_gap"),  # AU25 lips part
        up("jaw_open"),  # AU26 jaw drop
    ]
    return np.stack(cols, axis=1)


def _lowest(cost: np.ndarray, k: int) -> np.ndarray:
    """Indices of the k smallest finite costs (ties: earlier frame first)."""
    idx = np.flatnonzero(np.isfinite(cost))
    order = np.argsort(cost[idx], kind="stable")
    return idx[order[:k]]


def neutral_baseline(feat: np.ndarray, fraction: float) -> np.ndarray:
    """Baseline features (8,): median over the ``fraction`` most neutral valid frames.

    First pick: frames whose mouth measures (width, lip gap, jaw) rank lowest (mouth closed and
    relaxed). Refinement: baseline from those frames, then the frames with the lowest mean AU
    proxy against it, and the median of their features. NaN rows are ignored.
    """
    valid = np.all(np.isfinite(feat), axis=1)
    n = int(valid.sum())
    if n == 0:
        return np.full(feat.shape[1], np.nan)
    if n == 1:  # a single image: both picks are its row, the median of one value is that value
        return feat[valid][0]
    k = max(1, math.ceil(fraction * n))
    cols = [FEATURES.index(c) for c in _MOUTH]
    ranks = np.full(feat.shape[0], np.nan)
    sub = feat[valid][:, cols]
    ranks[valid] = (np.argsort(np.argsort(sub, axis=0, kind="stable"), axis=0)).sum(axis=1)
    base = np.median(feat[_lowest(ranks, k)], axis=0)
    cost = np.where(valid, proxies(feat, base).mean(axis=1), np.nan)
    return np.median(feat[_lowest(cost, k)], axis=0)


def landmark_aus(
    landmarks: np.ndarray, status: np.ndarray | None = None, neutral_fraction: float = 0.1
) -> tuple[np.ndarray, list[str]]:
    """AU proxies (T, 8) float32 in inter-ocular units above the neutral baseline, and AU names.

    landmarks: (T, 68, 2) float32 pixels, NaN where no face. status: (T,) FrameStatus values;
    frames without a face box are NaN whatever their landmarks. All values are >= 0 or NaN.
    """
    lm = np.asarray(landmarks, dtype=np.float64)
    if lm.ndim != 3 or lm.shape[1:] != (68, 2):
        raise ValueError(f"landmark_aus: landmarks must be (T, 68, 2), got {lm.shape}")
    feat = geometric_features(face_frame(lm))
    ok = np.all(np.isfinite(feat), axis=1)
    if status is not None:
        ok &= FrameStatus.has_face(status)
    feat[~ok] = np.nan
    base = neutral_baseline(feat, neutral_fraction)
    out = proxies(feat, base)
    out[~ok] = np.nan
    return out.astype(np.float32), list(AU_NAMES)


class LandmarksAUConfig(AUSourceConfig):
    """Geometric AU-intensity proxies from the 68 landmarks (offline, default)."""

    reads_landmarks = True

    source: Literal["landmarks"] = "landmarks"
    neutral_fraction: float = Field(
        0.1, gt=0.0, le=1.0, description="fraction of most neutral frames used as the baseline"
    )

    def compute(self, geometry: Geometry, entry: VideoEntry, root: Path,
                crops: Crops | None = None) -> tuple[np.ndarray, list[str]]:
        """:func:`landmark_aus` on the tracked geometry."""
        return landmark_aus(geometry.landmarks, geometry.status, self.neutral_fraction)
