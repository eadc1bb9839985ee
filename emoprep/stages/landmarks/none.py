"""``landmarks.backend: none``: no landmark pass at all (pre-cropped faces aligned by their box).

For a dataset of face crops that only wants crops and features (``detect.backend: none``,
``align.method: box``) the 68-point pass is work nobody reads. Under this backend every face row
gets NaN landmarks (the frame store's ``landmarks`` keeps its (T, 68, 2) shape, all NaN; its
``head_pose`` is NaN too), and the ``au`` stage with ``au.source: landmarks`` is left out of the
DAG (no AU datasets; docs/MANIFEST.md, docs/STORE.md). What needs landmarks is a manifest error
naming the keys: ``align.method: eyes``, an embedder with ``needs_landmarks``,
``window.mode: au_trim`` with landmark AUs, ``track.backend: landmarks``
(:func:`emoprep.pipeline.config.landmark_needs`).
"""

from __future__ import annotations

from typing import ClassVar, Literal

import numpy as np

from emoprep.stages.landmarks.base import LandmarksBackendConfig


class NoLandmarksConfig(LandmarksBackendConfig):
    """``landmarks.backend: none``: no landmarks; every row's 68 points are NaN."""

    #: no tracked-frame follow pass
    temporal: ClassVar[bool] = False
    #: the landmarker reads nothing, so nobody needs the grey frame made for it
    colour: ClassVar[bool] = True
    finds_points: ClassVar[bool] = False

    backend: Literal["none"] = "none"

    def make(self) -> NoLandmarker:
        return NoLandmarker()


class NoLandmarker:
    """Called as ``landmarker(frame, box)``: (68, 2) float32 NaN, without looking at the frame."""

    def __call__(self, frame: np.ndarray, box_xywh: np.ndarray) -> np.ndarray:
        return np.full((68, 2), np.nan, np.float32)
