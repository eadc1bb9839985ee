"""AU-trim source ``expression``: 1 - p(neutral) of fer's mini-Xception on the aligned crops."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from emoprep.io.models import fetch
from emoprep.io.video import iter_frames
from emoprep.pipeline.config import StagesConfig
from emoprep.stages.align import AlignConfig, align_face, align_geometry
from emoprep.stages.au import ExpressionAUConfig, compute_au
from emoprep.stages.au.trim import trim_score
from emoprep.stages.detect import HaarConfig
from emoprep.stages.landmarks import Dlib68Config
from emoprep.stages.track import TrackConfig, track_faces
from emoprep.types import FrameStatus


@pytest.fixture(scope="module")
def smile(sample_entry):
    """Tracked geometry of single_face.mp4 frames 0-59 (a smile from frame ~22)."""
    fetch("fer")
    entry = sample_entry("single_face.mp4")
    res = track_faces(iter_frames(entry, np.arange(60)), 25.0, HaarConfig(), TrackConfig(),
                      Dlib68Config())
    geom = getattr(res, "geometry", res)
    return entry, geom


def test_scores_rise_with_the_smile_and_trim_keeps_it(smile) -> None:
    entry, geom = smile
    cfg = AlignConfig()
    mats = align_geometry(geom, cfg)
    face = FrameStatus.has_face(geom.status)

    def crops():
        for (_, frame), m, has in zip(
            iter_frames(entry, geom.frame_index), mats, face, strict=True
        ):
            yield align_face(frame, m, cfg) if has else np.zeros((cfg.size, cfg.size, 3), np.uint8)

    res = compute_au(geom, entry, ExpressionAUConfig(), Path(entry.path).parent, crops=crops)
    assert res.names == ["expression"] and res.values.shape == (len(geom), 1)
    v = res.values[:, 0]
    assert np.isnan(v[~face]).all() and ((v[face] >= 0) & (v[face] <= 1)).all()
    assert np.nanmean(v[:10]) < 0.5 < np.nanmean(v[30:55])  # neutral start, smiling later
    np.testing.assert_array_equal(trim_score(res.values, res.names), v)


def test_expression_source_config_and_fingerprint() -> None:
    c = StagesConfig.model_validate({"au": {"source": "expression", "batch_size": 8}})
    assert isinstance(c.au, ExpressionAUConfig)
    assert "batch_size" not in c.au.fingerprint_slice()
    assert [p.name for p in c.au.model_files()] == ["emotion_model.hdf5"]
