"""dlib HOG and MMOD detectors on the real sample frames."""

from __future__ import annotations

import pickle
from pathlib import Path

import cv2
import numpy as np
import pytest

from emoprep.errors import ModelFileError
from emoprep.stages.detect import (
    DlibHogConfig,
    DlibMmodConfig,
    HaarConfig,
    box_iou,
    make_detector,
    model_files,
)


def half(frame: np.ndarray) -> np.ndarray:
    """The frame at half size (MMOD on CPU costs ~1 s per 640x360 frame; the face stays > 80 px)."""
    return cv2.resize(
        frame, (frame.shape[1] // 2, frame.shape[0] // 2), interpolation=cv2.INTER_AREA
    )


def test_hog_finds_the_face_like_haar(wolfgang_frames: list[np.ndarray]) -> None:
    hog, haar = make_detector(DlibHogConfig()), make_detector(HaarConfig())
    for frame in wolfgang_frames:
        boxes, scores = hog.detect_scored(frame)
        assert boxes.shape == (1, 4) and boxes.dtype == np.float32 and scores.shape == (1,)
        assert scores[0] > 0
        assert box_iou(boxes[0], haar.detect(frame)[0]) > 0.5
        np.testing.assert_array_equal(hog.detect(frame), boxes)


def test_hog_nothing_in_no_face_clip(no_face_frames: list[np.ndarray]) -> None:
    hog = make_detector(DlibHogConfig())
    assert [len(hog.detect(f)) for f in no_face_frames] == [0] * len(no_face_frames)


def test_hog_threshold_and_upsample(wolfgang_frames: list[np.ndarray]) -> None:
    frame = wolfgang_frames[0]
    score = make_detector(DlibHogConfig()).detect_scored(frame)[1][0]
    assert len(make_detector(DlibHogConfig(threshold=float(score) + 0.01)).detect(frame)) == 0
    tiny = cv2.resize(frame, (128, 72), interpolation=cv2.INTER_AREA)  # face ~55 px < 80 px window
    assert len(make_detector(DlibHogConfig()).detect(tiny)) == 0
    assert len(make_detector(DlibHogConfig(upsample=1)).detect(tiny)) == 1
    assert DlibHogConfig(upsample=1).min_face() == 40


def test_mmod_finds_the_face_like_haar(wolfgang_frames: list[np.ndarray]) -> None:
    mmod, haar = make_detector(DlibMmodConfig()), make_detector(HaarConfig(min_size=30))
    for frame in (half(wolfgang_frames[0]), half(wolfgang_frames[3])):
        boxes, scores = mmod.detect_scored(frame)
        assert boxes.shape == (1, 4) and scores.shape == (1,) and scores[0] > 0.5
        assert box_iou(boxes[0], haar.detect(frame)[0]) > 0.5


def test_mmod_nothing_in_no_face_clip(no_face_frames: list[np.ndarray]) -> None:
    mmod = make_detector(DlibMmodConfig())
    third = [cv2.resize(f, (320, 180), interpolation=cv2.INTER_AREA) for f in no_face_frames[::2]]
    assert [len(mmod.detect(f)) for f in third] == [0, 0, 0]


def test_mmod_model_file_from_face_recognition_models() -> None:
    (path,) = model_files(DlibMmodConfig())
    assert path.name == "mmod_human_face_detector.dat" and path.is_file()
    assert model_files(DlibHogConfig()) == []


def test_mmod_missing_or_invalid_model(tmp_path: Path) -> None:
    with pytest.raises(ModelFileError, match=r"nope\.dat.*mmod_human_face_detector\.dat"):
        make_detector(DlibMmodConfig(model=str(tmp_path / "nope.dat")))
    bad = tmp_path / "bad.dat"
    bad.write_bytes(b"\x00" * 100)
    with pytest.raises(ModelFileError, match=r"cannot load .*bad\.dat"):
        make_detector(DlibMmodConfig(model=str(bad)))


def test_dlib_detectors_pickle(wolfgang_frames: list[np.ndarray]) -> None:
    hog = make_detector(DlibHogConfig())
    clone = pickle.loads(pickle.dumps(hog))
    np.testing.assert_array_equal(clone.detect(wolfgang_frames[1]), hog.detect(wolfgang_frames[1]))
    mmod = pickle.loads(pickle.dumps(make_detector(DlibMmodConfig(upsample=0))))
    assert mmod.cfg.backend == "dlib_mmod"
