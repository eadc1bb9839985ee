"""The landmarks family and its default backend dlib68: model files, the landmarker on a real face,
the temporal pass's box maths, the union picking the backend."""

from __future__ import annotations

import pickle
from pathlib import Path

import numpy as np
import pytest
from pydantic import TypeAdapter, ValidationError

from emoprep.errors import ModelFileError
from emoprep.io.video import iter_frames
from emoprep.stages.detect import HaarConfig, make_detector
from emoprep.stages.landmarks import (
    Dlib68Config,
    Dlib68Landmarker,
    FanConfig,
    LandmarksBackend,
    LandmarksConfig,
    find_model_file,
    make_landmarker,
    model_files,
)
from emoprep.stages.landmarks.dlib68 import follow_box

DET, LMK = HaarConfig(), Dlib68Config()
LANDMARKS = TypeAdapter(LandmarksConfig)


# -- landmarks --------------------------------------------------------------------------------

def test_find_model_file_and_model_files() -> None:
    path = find_model_file("shape_predictor_68_face_landmarks.dat")
    assert path.is_file() and path.parent.name == "models"
    assert model_files(LMK) == [path]


def test_missing_model_files_name_the_fix(tmp_path: Path) -> None:
    with pytest.raises(ModelFileError, match="pip install face-recognition-models"):
        find_model_file("no_such_model.dat")
    with pytest.raises(ModelFileError, match="landmarks.model"):
        model_files(Dlib68Config(model=str(tmp_path / "missing.dat")))
    junk = tmp_path / "junk.dat"
    junk.write_bytes(b"not a model")
    with pytest.raises(ModelFileError, match="junk.dat"):
        make_landmarker(Dlib68Config(model=str(junk)))


def test_landmarker_on_a_real_face(sample_entry) -> None:
    frame = next(iter_frames(sample_entry("WolfgangLanger_Pexels.mp4"), [300]))[1]
    box = make_detector(DET).detect(frame)[0]
    lmk = make_landmarker(LMK)
    pts = lmk(frame, box)
    assert pts.shape == (68, 2) and pts.dtype == np.float32
    x, y, w, h = box
    assert (pts[:, 0] > x).all() and (pts[:, 0] < x + w).all()
    eyes_y, mouth_y, chin_y = pts[36:48, 1].mean(), pts[48:68, 1].mean(), pts[8, 1]
    assert eyes_y < mouth_y < chin_y  # the 68-point order: eyes above mouth above chin tip
    assert pts[36:42, 0].mean() < pts[42:48, 0].mean()  # 37-42 is the image-left eye
    again = pickle.loads(pickle.dumps(lmk))(frame, box)
    np.testing.assert_array_equal(again, pts)


def test_follow_box_moves_and_scales_with_the_tracked_box() -> None:
    hog = np.array([110, 120, 60, 50], np.float32)
    same = follow_box(hog, np.array([100, 100, 80, 80]), np.array([100, 100, 80, 80]))
    np.testing.assert_allclose(same, hog)
    moved = follow_box(hog, np.array([100, 100, 80, 80]), np.array([105, 97, 80, 80]))
    np.testing.assert_allclose(moved, [115, 117, 60, 50])
    grown = follow_box(hog, np.array([100, 100, 80, 80]), np.array([80, 80, 160, 160]))
    np.testing.assert_allclose(grown, [100, 120, 120, 100])  # centre offset and size doubled


def test_temporal_false_keeps_the_fingerprint_of_before() -> None:
    assert "temporal" not in Dlib68Config(temporal=False).fingerprint_slice()
    assert Dlib68Config().fingerprint_slice()["temporal"] is True


# -- the landmarks backend family ------------------------------------------------------------------

def test_landmarks_family_default_is_dlib68_with_the_fingerprint_of_before() -> None:
    cfg = LANDMARKS.validate_python({})
    assert type(cfg) is Dlib68Config
    assert type(LANDMARKS.validate_python({"refine": 0})) is Dlib68Config
    assert cfg.model_dump(mode="json") == {"backend": "dlib68", "model": None, "refine": None,
                                           "temporal": True}
    # refine null fingerprints as the 1 it means in a detector's box (the default of before)
    assert cfg.fingerprint_slice() == {"backend": "dlib68", "model": None, "refine": 1,
                                       "temporal": True} and cfg.libraries == {}
    assert cfg.fingerprint_slice() == Dlib68Config(refine=1).fingerprint_slice()
    assert cfg.for_boxes(False).refine == 1 and cfg.for_boxes(True).refine == 0
    assert Dlib68Config(refine=2).for_boxes(True).refine == 2  # a value written stays
    assert [b.value for b in LandmarksBackend] == ["dlib68", "fan", "mesh", "none"]
    assert isinstance(make_landmarker(cfg), Dlib68Landmarker)


def test_landmarks_family_picks_the_backend_and_names_foreign_keys(tmp_path: Path) -> None:
    fan = LANDMARKS.validate_python({"backend": "fan", "model": str(tmp_path / "fan.pt"),
                                     "device": "cpu", "batch": 4})
    assert type(fan) is FanConfig and fan.temporal is False and fan.libraries == {"torch": "torch"}
    assert fan.fingerprint_slice() == {"backend": "fan", "model": str(tmp_path / "fan.pt")}
    with pytest.raises(ValidationError, match="key 'refine' belongs to backend dlib68, not 'fan'"):
        LANDMARKS.validate_python({"backend": "fan", "refine": 2})
    with pytest.raises(ValidationError, match="key 'batch' belongs to backend fan"):
        LANDMARKS.validate_python({"batch": 2})
    with pytest.raises(ValidationError, match="'dlib68', 'fan'"):
        LANDMARKS.validate_python({"backend": "dlib5"})
    with pytest.raises(ModelFileError, match="fan.pt: FAN TorchScript file not found"):
        model_files(fan)  # dispatched through the config, named before any work
