"""Offline augmentations of aligned face crops: the nine of the video-FER thesis.

Each augmentation turns every crop of a video into a modified copy, so that features of the
augmented video can be cached next to the originals. Intensity changes follow OpenCV's
``convertScaleAbs`` convention, ``out = saturate(alpha * x + beta)`` per channel (no centring):

=====================  ==============================================================
``flip``               horizontal mirror
``blur3``              Gaussian blur, 3 x 3 kernel, sigma from the kernel size (0.8)
``brightness_p50``     x + 50
``brightness_p20``     x + 20
``contrast_x2``        2 x
``contrast_x1_7_p50``  1.7 x + 50
``rotate_p8``          rotate +8 degrees (counter-clockwise on screen) about the centre
``rotate_m8``          rotate -8 degrees (clockwise)
``salt_pepper_1``      1 % of the pixels set to 255 (half) or 0 (half), all channels
=====================  ==============================================================

Rotations use bilinear interpolation and reflect the border (``BORDER_REFLECT_101``), so no
black corners appear that a network could learn.

The ``_thesis`` names reproduce the video-FER thesis's code exactly (profile ``thesis-bu4dfe``):

==========================  =========================================================
``rotate_p8_thesis``        ``imutils.rotate(img, 8)``: about ``(w // 2, h // 2)``, bilinear,
``rotate_m8_thesis``        black border (``cv2.warpAffine`` defaults); -8 degrees
``salt_pepper_1_thesis``    per channel, ``ceil(0.01 * H * W * 0.5)`` salt (255) then as many
                            pepper (0) positions, rows and columns each drawn with replacement
                            from ``randint(0, i - 1)`` (so row H-1 and column W-1 are never
                            hit): coloured specks, repeats possible
==========================  =========================================================

The seed indexes with the list of coordinate arrays, ``out[coords]``; NumPy < 1.23 read that as a
tuple (one point per draw), NumPy >= 1.23 reads it as one index array into the first axis and
sets whole rows. We index with a tuple, as the seed intended (and as it behaved when written).
The other six augmentations are the same in the thesis's code and here.

Only the salt-and-pepper augmentations are random; their generator is seeded from
``sha256(seed, video_id, augmentation)``, the same in every process.
"""

from __future__ import annotations

import hashlib
import math
from enum import Enum
from typing import Protocol

import numpy as np

#: 0-based index of the mirror partner of each of the 68 points (iBUG 300-W scheme) under a flip
FLIP_PERMUTATION_68: np.ndarray = np.array(
    [16 - i for i in range(17)]  # jaw 0..16
    + [26, 25, 24, 23, 22, 21, 20, 19, 18, 17]  # brows 17..26
    + [27, 28, 29, 30]  # nose bridge
    + [35, 34, 33, 32, 31]  # nostrils 31..35
    + [45, 44, 43, 42, 47, 46, 39, 38, 37, 36, 41, 40]  # eyes 36..47
    + [54, 53, 52, 51, 50, 49, 48, 59, 58, 57, 56, 55]  # outer lips 48..59
    + [64, 63, 62, 61, 60, 67, 66, 65],  # inner lips 60..67
    dtype=np.int64,
)

SALT_PEPPER_FRACTION = 0.01
ROTATE_DEGREES = 8.0


class Augmentation(str, Enum):
    """One offline augmentation (values are stable short names used in stores and configs)."""

    FLIP = "flip"  #: horizontal mirror; landmarks mirrored and left/right swapped
    BLUR3 = "blur3"  #: Gaussian blur 3 x 3
    BRIGHTNESS_P50 = "brightness_p50"  #: x + 50
    BRIGHTNESS_P20 = "brightness_p20"  #: x + 20
    CONTRAST_X2 = "contrast_x2"  #: 2 x
    CONTRAST_X1_7_P50 = "contrast_x1_7_p50"  #: 1.7 x + 50
    ROTATE_P8 = "rotate_p8"  #: +8 degrees
    ROTATE_M8 = "rotate_m8"  #: -8 degrees
    SALT_PEPPER_1 = "salt_pepper_1"  #: 1 % salt-and-pepper noise
    ROTATE_P8_THESIS = "rotate_p8_thesis"  #: +8 degrees as imutils.rotate (thesis code)
    ROTATE_M8_THESIS = "rotate_m8_thesis"  #: -8 degrees as imutils.rotate (thesis code)
    SALT_PEPPER_1_THESIS = "salt_pepper_1_thesis"  #: per-channel specks as the thesis code

    @property
    def geometric(self) -> bool:
        """True when the augmentation moves pixels (and so landmarks)."""
        return self is Augmentation.FLIP or self in _ANGLE


_LINEAR: dict[Augmentation, tuple[float, float]] = {
    Augmentation.BRIGHTNESS_P50: (1.0, 50.0),
    Augmentation.BRIGHTNESS_P20: (1.0, 20.0),
    Augmentation.CONTRAST_X2: (2.0, 0.0),
    Augmentation.CONTRAST_X1_7_P50: (1.7, 50.0),
}
_ANGLE: dict[Augmentation, float] = {
    Augmentation.ROTATE_P8: ROTATE_DEGREES,
    Augmentation.ROTATE_M8: -ROTATE_DEGREES,
    Augmentation.ROTATE_P8_THESIS: ROTATE_DEGREES,
    Augmentation.ROTATE_M8_THESIS: -ROTATE_DEGREES,
}
_THESIS_ROTATIONS = frozenset({Augmentation.ROTATE_P8_THESIS, Augmentation.ROTATE_M8_THESIS})

#: the nine augmentations of the video-FER thesis exactly as its code does them
THESIS_AUGMENTATIONS: tuple[Augmentation, ...] = (
    Augmentation.FLIP, Augmentation.BLUR3, Augmentation.BRIGHTNESS_P50, Augmentation.BRIGHTNESS_P20,
    Augmentation.CONTRAST_X2, Augmentation.CONTRAST_X1_7_P50, Augmentation.ROTATE_P8_THESIS,
    Augmentation.ROTATE_M8_THESIS, Augmentation.SALT_PEPPER_1_THESIS,
)


class IntegerSource(Protocol):
    """What the salt-and-pepper augmentations draw from (a :class:`numpy.random.Generator`)."""

    def integers(self, low: int, high: int, size: int) -> np.ndarray: ...


def augment_rng(seed: int, video_id: str, aug: Augmentation) -> np.random.Generator:
    """Generator for one (seed, video, augmentation), identical in every process and run."""
    key = f"{int(seed)}\x1f{video_id}\x1f{Augmentation(aug).value}".encode()
    digest = hashlib.sha256(key).digest()
    return np.random.default_rng(int.from_bytes(digest[:16], "little"))


def rotation_matrix(aug: Augmentation, size: int) -> np.ndarray:
    """(2, 3) float64 affine of a rotate augmentation of a size x size crop.

    About the pixel-grid centre ``((S - 1) / 2, (S - 1) / 2)``; the ``_thesis`` rotations about
    ``(S // 2, S // 2)`` as ``imutils.rotate`` (80, 80 for S = 160; one half pixel off centre).
    """
    import cv2

    c = float(size // 2) if aug in _THESIS_ROTATIONS else (size - 1) / 2.0
    return cv2.getRotationMatrix2D((c, c), _ANGLE[aug], 1.0)


def augment_frame(crop: np.ndarray, aug: Augmentation, rng: np.random.Generator) -> np.ndarray:
    """Augment one crop: (S, S, 3) uint8 -> (S, S, 3) uint8 (a new array).

    ``rng`` is only drawn from by the salt-and-pepper augmentations; pass the same generator for
    every frame of a
    video, in frame order (see :func:`augment_rng`), to reproduce :func:`augment_frames`.
    """
    import cv2

    _check_crop(crop)
    aug = Augmentation(aug)
    if aug is Augmentation.FLIP:
        return np.ascontiguousarray(crop[:, ::-1])
    if aug is Augmentation.BLUR3:
        return cv2.GaussianBlur(crop, (3, 3), 0)
    if aug in _LINEAR:
        alpha, beta = _LINEAR[aug]
        return cv2.convertScaleAbs(crop, alpha=alpha, beta=beta)
    if aug in _ANGLE:
        s = crop.shape[0]
        border = cv2.BORDER_CONSTANT if aug in _THESIS_ROTATIONS else cv2.BORDER_REFLECT_101
        return cv2.warpAffine(crop, rotation_matrix(aug, s), (s, s), flags=cv2.INTER_LINEAR,
                              borderMode=border, borderValue=(0, 0, 0))
    if aug is Augmentation.SALT_PEPPER_1_THESIS:
        return salt_pepper_thesis(crop, rng, SALT_PEPPER_FRACTION)
    return _salt_pepper(crop, rng, SALT_PEPPER_FRACTION)


def augment_frames(crops: np.ndarray, aug: Augmentation, seed: int, video_id: str) -> np.ndarray:
    """Augment all crops of a video: (B, S, S, 3) uint8 -> (B, S, S, 3) uint8.

    Deterministic for (seed, video_id, aug): the same bytes in every process and run.
    """
    crops = np.asarray(crops)
    if crops.ndim != 4:
        raise ValueError(
            f"augment_frames: crops must be (B, S, S, 3) uint8, got shape {crops.shape}"
        )
    rng = augment_rng(seed, video_id, aug)
    out = np.empty_like(crops)
    for i, crop in enumerate(crops):
        out[i] = augment_frame(crop, aug, rng)
    return out


def augment_landmarks(points: np.ndarray, aug: Augmentation, size: int) -> np.ndarray:
    """Move landmarks as :func:`augment_frame` moves pixels: (..., 68, 2) float32, crop pixels.

    Pixel centres are at integer coordinates: a flip maps x to ``size - 1 - x`` and swaps each
    point with its mirror partner (:data:`FLIP_PERMUTATION_68`), so that point 37 (1-based) is
    still the outer corner of the subject's right eye. Non-geometric augmentations return a copy.
    """
    pts = np.asarray(points, dtype=np.float32)
    if pts.shape[-2:] != (68, 2):
        raise ValueError(f"augment_landmarks: points must be (..., 68, 2), got {pts.shape}")
    aug = Augmentation(aug)
    if aug is Augmentation.FLIP:
        out = pts[..., FLIP_PERMUTATION_68, :].copy()
        out[..., 0] = (size - 1) - out[..., 0]
        return out
    if aug in _ANGLE:
        m = rotation_matrix(aug, size)
        moved = pts.astype(np.float64) @ m[:, :2].T + m[:, 2]
        return moved.astype(np.float32)
    return pts.copy()


def _salt_pepper(crop: np.ndarray, rng: np.random.Generator, fraction: float) -> np.ndarray:
    """Set round(fraction * H * W) distinct pixels: the first half to 255, the rest to 0."""
    h, w = crop.shape[:2]
    n = int(round(fraction * h * w))
    flat = rng.choice(h * w, size=n, replace=False)
    out = crop.copy()
    ys, xs = np.divmod(flat, w)
    half = n // 2
    out[ys[:half], xs[:half]] = 255
    out[ys[half:], xs[half:]] = 0
    return out


def salt_pepper_thesis(crop: np.ndarray, rng: IntegerSource, fraction: float) -> np.ndarray:
    """The thesis code's salt-and-pepper: (H, W, C) uint8 -> (H, W, C) uint8 (a new array).

    For each channel c in order: ``n = ceil(fraction * H * W * 0.5)``; salt: rows
    ``rng.integers(0, H - 1, n)``, then columns ``rng.integers(0, W - 1, n)``, set to 255; pepper:
    the same draws again, set to 0. Draws are with replacement (fewer than n distinct positions
    is possible) and never reach row H-1 or column W-1 (``randint``'s high bound is exclusive).
    Indexing is by tuple, one point per draw (see the module docstring).
    """
    h, w, channels = crop.shape
    n = math.ceil(fraction * h * w * 0.5)
    out = crop.copy()
    for c in range(channels):
        for value in (255, 0):
            rows = rng.integers(0, h - 1, n)
            cols = rng.integers(0, w - 1, n)
            out[(rows, cols, np.full(n, c))] = value
    return out


def _check_crop(crop: np.ndarray) -> None:
    if crop.ndim != 3 or crop.shape[2] != 3 or crop.dtype != np.uint8:
        raise ValueError(
            f"augment_frame: crop must be (S, S, 3) uint8, got {crop.shape} {crop.dtype}"
        )
