"""Online augmentation of training crops for ``emoprep finetune``: each crop of a batch gets its
own random transform, drawn from the trainer's seeded generator, so a run is repeatable and every
epoch sees new variants (the online augmentation of 003 §3.2.4 and 004 §3.1).

Settings: ``train.finetune.augment``
(:class:`~emoprep.pipeline.manifest.train_section.FrameAugment`). Order per crop: colour
(brightness, contrast, saturation, hue, each only when set), then one affine warp (rotation,
zoom, shift, shear about the centre; uncovered pixels repeat the nearest border pixel, as Keras's
``fill_mode='nearest'``), then the left-right flip. Crops are (B, S, S, 3) uint8 RGB in and out;
nothing is done (and nothing drawn) for a transform that is off.
"""

from __future__ import annotations

import math

import cv2
import numpy as np

from emoprep.pipeline.manifest.train_section import FrameAugment


def is_geometric(aug: FrameAugment) -> bool:
    return bool(aug.rotate or aug.zoom or aug.shift or aug.shear)


def affine(side: int, angle: float, scale: float, dx: float, dy: float,
           shear: float) -> np.ndarray:
    """(2, 3) map of a ``side``-pixel crop: about its centre, shear (degrees, along x), zoom
    ``scale`` (> 1 enlarges the face), rotation ``angle`` (degrees, counter-clockwise as seen),
    then a shift of (dx, dy) pixels."""
    c = (side - 1) / 2
    a, s = math.radians(angle), math.radians(shear)
    rot = np.array([[math.cos(a), math.sin(a)], [-math.sin(a), math.cos(a)]])
    lin = scale * rot @ np.array([[1.0, -math.tan(s)], [0.0, 1.0]])
    offset = np.array([c + dx, c + dy]) - lin @ np.array([c, c])
    return np.hstack([lin, offset[:, None]])


def _colour(x: np.ndarray, aug: FrameAugment, rng: np.random.Generator) -> np.ndarray:
    """Colour transforms of one (S, S, 3) float32 RGB crop on the 0-255 scale."""
    if aug.brightness is not None:
        x = x * rng.uniform(*aug.brightness)
    if aug.contrast is not None:
        m = float(x.mean())
        x = (x - m) * rng.uniform(*aug.contrast) + m
    if aug.saturation is not None:
        grey = x.mean(axis=2, keepdims=True)
        x = (x - grey) * rng.uniform(*aug.saturation) + grey
    if aug.hue:
        hsv = cv2.cvtColor(np.clip(x, 0, 255).astype(np.float32) / 255, cv2.COLOR_RGB2HSV)
        hsv[..., 0] = (hsv[..., 0] + 360 * rng.uniform(-aug.hue, aug.hue)) % 360
        x = cv2.cvtColor(hsv, cv2.COLOR_HSV2RGB) * 255
    return x


def augment(crops: np.ndarray, aug: FrameAugment, rng: np.random.Generator) -> np.ndarray:
    """(B, S, S, 3) uint8 RGB -> the same shape, each crop transformed by its own draw."""
    colour = any(v is not None for v in (aug.brightness, aug.contrast, aug.saturation)) or aug.hue
    geo = is_geometric(aug)
    if not (colour or geo or aug.flip):
        return crops
    side = crops.shape[1]
    out = np.empty_like(crops)
    for i, crop in enumerate(crops):
        x: np.ndarray = crop
        if colour:
            x = np.clip(np.rint(_colour(crop.astype(np.float32), aug, rng)), 0, 255).astype(
                np.uint8)
        if geo:
            angle = rng.uniform(-aug.rotate, aug.rotate)
            scale = rng.uniform(1 - aug.zoom, 1 + aug.zoom)
            dx, dy = rng.uniform(-aug.shift, aug.shift, 2) * side
            m = affine(side, angle, scale, float(dx), float(dy),
                       rng.uniform(-aug.shear, aug.shear))
            x = cv2.warpAffine(np.ascontiguousarray(x), m, (side, side), flags=cv2.INTER_LINEAR,
                               borderMode=cv2.BORDER_REPLICATE)
        if aug.flip and rng.random() < aug.flip:
            x = x[:, ::-1]
        out[i] = x
    return out
