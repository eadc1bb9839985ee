"""Detection: box padding, face selection policies, the Haar and whole-frame backends."""

from __future__ import annotations

import pickle
from pathlib import Path

import cv2
import numpy as np
import pytest

from emoprep.errors import ModelFileError
from emoprep.io.video import iter_frames
from emoprep.stages.detect import (
    HaarConfig,
    NoDetectConfig,
    SelectPolicy,
    box_iou,
    make_detector,
    model_files,
    pad_box,
    select_face,
)

FRAME = (360, 640)  # (H, W)


@pytest.fixture(scope="module")
def wolfgang_frame(sample_entry) -> np.ndarray:
    """Frame 300 of WolfgangLanger_Pexels.mp4 (640x360 BGR, one frontal face)."""
    return next(iter_frames(sample_entry("WolfgangLanger_Pexels.mp4"), [300]))[1]


# -- pad_box ----------------------------------------------------------------------------------

def test_pad_box_inside_adds_pad_above_and_below() -> None:
    out = pad_box(np.array([100, 50, 80, 80]), 10, FRAME)
    assert out.dtype == np.float32
    np.testing.assert_array_equal(out, [100, 40, 80, 100])


def test_pad_box_clips_top_and_bottom() -> None:
    np.testing.assert_array_equal(pad_box(np.array([10, 4, 50, 60]), 10, FRAME), [10, 0, 50, 74])
    np.testing.assert_array_equal(
        pad_box(np.array([10, 300, 50, 55]), 10, FRAME), [10, 290, 50, 70]
    )


def test_pad_box_clips_x_without_extending_it() -> None:
    np.testing.assert_array_equal(pad_box(np.array([-20, 100, 60, 40]), 0, FRAME), [0, 100, 40, 40])
    np.testing.assert_array_equal(
        pad_box(np.array([600, 100, 60, 40]), 5, FRAME), [600, 95, 40, 50]
    )


def test_pad_box_outside_frame_has_no_area() -> None:
    out = pad_box(np.array([700, 100, 50, 50]), 10, FRAME)
    assert out[2] == 0


# -- select_face ------------------------------------------------------------------------------

BOXES = np.array([[0, 0, 50, 50], [400, 200, 120, 120], [280, 140, 80, 80]], np.float32)


def test_select_largest() -> None:
    assert select_face(BOXES, SelectPolicy.LARGEST, FRAME) == 1


def test_select_largest_tie_goes_to_first() -> None:
    boxes = np.array([[0, 0, 60, 60], [100, 100, 60, 60]], np.float32)
    assert select_face(boxes, SelectPolicy.LARGEST, FRAME) == 0


def test_select_center() -> None:
    # centre of box 2 = (320, 180) = frame centre
    assert select_face(BOXES, SelectPolicy.CENTER, FRAME) == 2


def test_select_previous_uses_overlap_then_falls_back_to_largest() -> None:
    assert select_face(BOXES, SelectPolicy.PREVIOUS, FRAME, np.array([5, 5, 50, 50])) == 0
    assert select_face(BOXES, SelectPolicy.PREVIOUS, FRAME, np.array([290, 150, 80, 80])) == 2
    assert select_face(BOXES, SelectPolicy.PREVIOUS, FRAME, np.array([600, 0, 10, 10])) == 1
    assert select_face(BOXES, SelectPolicy.PREVIOUS, FRAME, None) == 1


def test_select_empty_raises() -> None:
    with pytest.raises(ValueError, match="empty"):
        select_face(np.zeros((0, 4)), SelectPolicy.LARGEST, FRAME)


def test_box_iou_exact() -> None:
    a = np.array([0, 0, 10, 10])
    assert box_iou(a, np.array([5, 0, 10, 10])) == pytest.approx(50 / 150)
    assert box_iou(a, np.array([20, 20, 5, 5])) == 0.0
    assert box_iou(a, a) == 1.0


# -- backends ---------------------------------------------------------------------------------

def test_model_files_haar_and_none() -> None:
    files = model_files(HaarConfig())
    assert len(files) == 1 and files[0].name == "haarcascade_frontalface_default.xml"
    assert files[0].is_file()
    assert model_files(NoDetectConfig()) == []


def test_cascade_path_given_as_a_path(tmp_path: Path) -> None:
    src = Path(cv2.data.haarcascades) / "haarcascade_frontalface_alt2.xml"
    copy = tmp_path / "my_cascade.xml"
    copy.write_bytes(src.read_bytes())
    assert model_files(HaarConfig(cascade=str(copy))) == [copy.resolve()]


def test_missing_cascade_names_the_file_and_the_fix() -> None:
    with pytest.raises(ModelFileError, match=r"nope\.xml.*haarcascade_frontalface_default"):
        make_detector(HaarConfig(cascade="nope.xml"))


def test_invalid_cascade_file(tmp_path: Path) -> None:
    bad = tmp_path / "bad.xml"
    bad.write_text("<opencv_storage></opencv_storage>")
    with pytest.raises(ModelFileError, match="cannot load"):
        make_detector(HaarConfig(cascade=str(bad)))


def test_none_backend_returns_the_whole_frame() -> None:
    det = make_detector(NoDetectConfig())
    out = det.detect(np.zeros((48, 64, 3), np.uint8))
    assert out.dtype == np.float32
    np.testing.assert_array_equal(out, [[0, 0, 64, 48]])


def test_haar_finds_the_one_face(wolfgang_frame: np.ndarray) -> None:
    det = make_detector(HaarConfig())
    boxes = det.detect(wolfgang_frame)
    assert boxes.shape == (1, 4) and boxes.dtype == np.float32
    x, y, w, h = boxes[0]
    assert 200 < w < 320 and w == h  # Haar boxes are square; the face is ~270 px
    assert 250 < x + w / 2 < 550 and 80 < y + h / 2 < 250
    grey = cv2.cvtColor(wolfgang_frame, cv2.COLOR_BGR2GRAY)
    np.testing.assert_array_equal(det.detect(grey), boxes)  # grey input gives the same boxes


def test_haar_min_and_max_size_filter(wolfgang_frame: np.ndarray) -> None:
    assert len(make_detector(HaarConfig(min_size=330)).detect(wolfgang_frame)) == 0
    assert len(make_detector(HaarConfig(max_size=150)).detect(wolfgang_frame)) == 0


def test_haar_nothing_on_a_blank_frame() -> None:
    out = make_detector(HaarConfig()).detect(np.full((240, 320, 3), 128, np.uint8))
    assert out.shape == (0, 4)


def test_max_width_maps_boxes_back_to_source_pixels(wolfgang_frame: np.ndarray) -> None:
    full = make_detector(HaarConfig()).detect(wolfgang_frame)
    small = make_detector(HaarConfig(max_width=320)).detect(wolfgang_frame)
    assert small.shape == (1, 4)
    assert box_iou(full[0], small[0]) > 0.8


def test_haar_detector_pickles(wolfgang_frame: np.ndarray) -> None:
    det = make_detector(HaarConfig(min_neighbors=4))
    clone = pickle.loads(pickle.dumps(det))
    np.testing.assert_array_equal(clone.detect(wolfgang_frame), det.detect(wolfgang_frame))
