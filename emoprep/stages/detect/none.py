"""Backend ``none``: no detector, each whole frame is the face (pre-cropped datasets)."""

from __future__ import annotations

from typing import Literal

import numpy as np

from emoprep.stages.detect.base import DetectorConfig, FaceDetector


class NoDetectConfig(DetectorConfig):
    """The whole frame is one face box."""

    region_search = False  # a region would come back as the face box

    backend: Literal["none"] = "none"

    def make(self) -> FaceDetector:
        return WholeFrameDetector()


class WholeFrameDetector:
    """Returns the whole frame as one box."""

    def detect(self, frame_bgr: np.ndarray) -> np.ndarray:
        h, w = frame_bgr.shape[:2]
        return np.array([[0.0, 0.0, w, h]], np.float32)
