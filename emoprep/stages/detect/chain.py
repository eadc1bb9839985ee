"""A detector with its fallbacks: ``detect.fallback`` tried in order where the primary finds
nothing.

::

    detect:
      backend: haar            # the primary detector, with its own keys
      select: largest          # selection and padding apply to every detector of the chain
      fallback: [mtcnn]        # or [{backend: mtcnn, min_size: 30}, dlib_hog]

On each frame the chain runs the primary; only when it returns no box does it run the first
fallback, and so on. :class:`Detections` says which detector of the chain found the boxes
(``source``: 0 the primary, 1 the first fallback, ...); the track stage records it per frame.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from emoprep.stages.detect.base import DetectorConfig, FaceDetector, SelectPolicy, select_face
from emoprep.stages.instances import built

NOT_FOUND = -1  #: :attr:`Detections.source` when no detector of the chain found a face


@dataclass(frozen=True)
class Detections:
    """Boxes found on one frame by one detector of a chain.

    boxes: (K, 4) float32 x, y, w, h, source pixels.
    scores: (K,) float32 confidences, or None when the detector gives none (haar, none).
    source: position in the chain of the detector that found them; :data:`NOT_FOUND` when K = 0.
    """

    boxes: np.ndarray
    scores: np.ndarray | None
    source: int

    def __len__(self) -> int:
        return int(self.boxes.shape[0])

    def shifted(self, dx: float, dy: float) -> Detections:
        """The same detections with boxes moved by (dx, dy) px (from a region to the frame)."""
        return Detections(
            self.boxes + np.array([dx, dy, 0, 0], np.float32), self.scores, self.source
        )

    def pick(self, policy: SelectPolicy, frame_shape: tuple[int, ...],
             previous: np.ndarray | None = None) -> np.ndarray:
        """The box (4,) float32 that ``policy`` keeps (see :func:`select_face`)."""
        return self.boxes[select_face(self.boxes, policy, frame_shape, previous, self.scores)]


def detect_scored(
    detector: FaceDetector, frame: np.ndarray
) -> tuple[np.ndarray, np.ndarray | None]:
    """Boxes (K, 4) float32 and scores (K,) float32 from ``detector`` (scores None when it has
    no ``detect_scored`` method)."""
    scored = getattr(detector, "detect_scored", None)
    if scored is None:
        return np.asarray(detector.detect(frame), np.float32).reshape(-1, 4), None
    boxes, scores = scored(frame)
    return np.asarray(boxes, np.float32).reshape(-1, 4), np.asarray(scores, np.float32).reshape(-1)


class DetectorChain:
    """The detectors of ``cfg.chain()``, built once; :meth:`find` tries them in order."""

    def __init__(self, cfg: DetectorConfig) -> None:
        self.cfg = cfg
        self.names: tuple[str, ...] = tuple(c.tag_value() for c in cfg.chain())
        self.detectors: list[FaceDetector] = [built(c) for c in cfg.chain()]

    def __getstate__(self) -> dict[str, Any]:  # detectors rebuild themselves from the config
        return {"cfg": self.cfg}

    def __setstate__(self, state: dict[str, Any]) -> None:
        type(self).__init__(self, state["cfg"])

    def find(self, frame: np.ndarray) -> Detections:
        """Detections of the first detector that finds a face on ``frame`` ((H, W, 3) BGR or
        (H, W) grey uint8); an empty :class:`Detections` with source NOT_FOUND otherwise."""
        for k, det in enumerate(self.detectors):
            boxes, scores = detect_scored(det, frame)
            if len(boxes):
                return Detections(boxes, scores, k)
        return Detections(np.zeros((0, 4), np.float32), None, NOT_FOUND)
