"""Box arithmetic for cascaded detectors (numpy only): IoU, greedy NMS, regression, squaring, crops.

Boxes here are corner boxes ``(x1, y1, x2, y2)`` float, source pixels, ``x2``/``y2`` exclusive,
so a box's width is ``x2 - x1``. :func:`to_xywh` converts to the ``(x, y, w, h)`` boxes the rest of
emoprep uses.
"""

from __future__ import annotations

from enum import Enum

import numpy as np


class Overlap(str, Enum):
    """How :func:`nms` measures the overlap of two boxes."""

    UNION = "union"  #: intersection / union (IoU)
    MIN = "min"  #: intersection / area of the smaller box (drops boxes nested in a kept one)


def overlap(box: np.ndarray, others: np.ndarray, mode: Overlap = Overlap.UNION) -> np.ndarray:
    """Overlap (N,) float64 of one corner box (4,) with ``others`` (N, 4) in ``mode``."""
    b, o = np.asarray(box, np.float64), np.asarray(others, np.float64).reshape(-1, 4)
    iw = np.clip(np.minimum(b[2], o[:, 2]) - np.maximum(b[0], o[:, 0]), 0, None)
    ih = np.clip(np.minimum(b[3], o[:, 3]) - np.maximum(b[1], o[:, 1]), 0, None)
    inter = iw * ih
    area_b = max(b[2] - b[0], 0.0) * max(b[3] - b[1], 0.0)
    area_o = np.clip(o[:, 2] - o[:, 0], 0, None) * np.clip(o[:, 3] - o[:, 1], 0, None)
    denom = area_b + area_o - inter if mode is Overlap.UNION else np.minimum(area_b, area_o)
    return np.where(denom > 0, inter / np.where(denom > 0, denom, 1.0), 0.0)


def nms(boxes: np.ndarray, scores: np.ndarray, threshold: float,
        mode: Overlap = Overlap.UNION) -> np.ndarray:
    """Greedy non-maximum suppression: indices (M,) int64 of the kept boxes, best score first.

    ``boxes`` (N, 4) corner boxes, ``scores`` (N,). A box is dropped when its overlap with an
    already kept, higher-scoring box is strictly above ``threshold``. Equal scores keep the lower
    index first.
    """
    order = np.argsort(-np.asarray(scores, np.float64), kind="stable")
    b = np.asarray(boxes, np.float64).reshape(-1, 4)
    keep: list[int] = []
    while order.size:
        i = int(order[0])
        keep.append(i)
        rest = order[1:]
        order = rest[overlap(b[i], b[rest], mode) <= threshold]
    return np.asarray(keep, np.int64)


def regress(boxes: np.ndarray, reg: np.ndarray) -> np.ndarray:
    """Apply box regression: each corner moves by its offset times the box width / height.

    ``boxes`` (N, 4) corner boxes, ``reg`` (N, 4) offsets (dx1, dy1, dx2, dy2) in box units.
    Returns (N, 4) float64.
    """
    b = np.asarray(boxes, np.float64).reshape(-1, 4)
    r = np.asarray(reg, np.float64).reshape(-1, 4)
    size = np.stack([b[:, 2] - b[:, 0], b[:, 3] - b[:, 1]] * 2, axis=1)
    return b + r * size


def square(boxes: np.ndarray) -> np.ndarray:
    """Squares (N, 4) float64 with the same centres, side = the longer side of each box."""
    b = np.asarray(boxes, np.float64).reshape(-1, 4)
    c = (b[:, :2] + b[:, 2:]) / 2
    half = np.maximum(b[:, 2] - b[:, 0], b[:, 3] - b[:, 1])[:, None] / 2
    return np.concatenate([c - half, c + half], axis=1)


def cell_boxes(prob: np.ndarray, reg: np.ndarray, scale: float, threshold: float,
               stride: int = 2, cell: int = 12) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Candidate windows of a fully convolutional map: every cell with ``prob >= threshold``.

    ``prob`` (h, w) face probability of the map, ``reg`` (4, h, w) offsets; cell (i, j) covers the
    window ``[stride*j, stride*j + cell)`` x ``[stride*i, stride*i + cell)`` of an image scaled by
    ``scale``, mapped back here to source pixels. Returns boxes (N, 4), scores (N,), offsets (N, 4).
    """
    rows, cols = np.nonzero(prob >= threshold)
    x1, y1 = stride * cols / scale, stride * rows / scale
    boxes = np.stack([x1, y1, x1 + cell / scale, y1 + cell / scale], axis=1)
    return boxes, prob[rows, cols].astype(np.float64), reg[:, rows, cols].T.astype(np.float64)


def crop_resized(image: np.ndarray, boxes: np.ndarray, size: int) -> np.ndarray:
    """Crops (N, size, size, C) of ``image`` (H, W, C) inside ``boxes`` (N, 4), zero outside.

    Box corners are rounded to whole pixels; each crop is resized with area interpolation when
    it shrinks and linear when it grows. Boxes without area give zero crops.
    """
    import cv2

    h, w = image.shape[:2]
    out = np.zeros((len(boxes), size, size, image.shape[2]), image.dtype)
    for k, (x1, y1, x2, y2) in enumerate(np.rint(np.asarray(boxes)).astype(np.int64)):
        if x2 <= x1 or y2 <= y1:
            continue
        patch = np.zeros((y2 - y1, x2 - x1, image.shape[2]), image.dtype)
        sx0, sy0, sx1, sy1 = max(x1, 0), max(y1, 0), min(x2, w), min(y2, h)
        if sx1 > sx0 and sy1 > sy0:
            patch[sy0 - y1:sy1 - y1, sx0 - x1:sx1 - x1] = image[sy0:sy1, sx0:sx1]
        interp = cv2.INTER_AREA if patch.shape[0] > size else cv2.INTER_LINEAR
        out[k] = cv2.resize(patch, (size, size), interpolation=interp).reshape(size, size, -1)
    return out


def to_xywh(boxes: np.ndarray) -> np.ndarray:
    """Corner boxes (N, 4) -> (x, y, w, h) (N, 4) float32."""
    b = np.asarray(boxes, np.float64).reshape(-1, 4)
    return np.concatenate([b[:, :2], b[:, 2:] - b[:, :2]], axis=1).astype(np.float32)
