"""Box arithmetic of the cascaded detectors against hand-computed cases."""

from __future__ import annotations

import numpy as np
import pytest

from emoprep.stages.detect.boxmath import (
    Overlap,
    cell_boxes,
    crop_resized,
    nms,
    overlap,
    regress,
    square,
    to_xywh,
)

# A (0,0)-(10,10); B shifted by 1 px (IoU 81/119); C apart; D (2,2)-(8,8) nested in A
A, B, C, D = [0, 0, 10, 10], [1, 1, 11, 11], [20, 20, 30, 30], [2, 2, 8, 8]
BOXES = np.array([A, B, C, D], np.float64)
SCORES = np.array([0.9, 0.8, 0.7, 0.95])


def test_overlap_union_and_min() -> None:
    np.testing.assert_allclose(overlap(A, BOXES), [1.0, 81 / 119, 0.0, 36 / 100])
    np.testing.assert_allclose(overlap(A, BOXES, Overlap.MIN), [1.0, 81 / 100, 0.0, 1.0])


def test_overlap_of_empty_boxes_is_zero() -> None:
    assert overlap([5, 5, 5, 5], np.array([[5, 5, 5, 5]]))[0] == 0.0


def test_nms_union() -> None:
    # D (0.95) kept; A overlaps D by 0.36 <= 0.5, kept; B overlaps A by 0.68, dropped; C kept
    assert nms(BOXES, SCORES, 0.5).tolist() == [3, 0, 2]
    # with a looser threshold B survives too (0.68 <= 0.7), in score order
    assert nms(BOXES, SCORES, 0.7).tolist() == [3, 0, 1, 2]


def test_nms_min_drops_nested_boxes() -> None:
    # A and B both contain D entirely: overlap / smaller area = 1 > 0.7
    assert nms(BOXES, SCORES, 0.7, Overlap.MIN).tolist() == [3, 2]


def test_nms_threshold_is_strict_and_ties_keep_the_lower_index() -> None:
    two = np.array([[0, 0, 10, 10], [5, 0, 15, 10]], np.float64)  # IoU 50/150
    assert nms(two, np.array([0.5, 0.5]), 1 / 3).tolist() == [0, 1]
    assert nms(two, np.array([0.5, 0.5]), 0.3).tolist() == [0]
    assert nms(np.zeros((0, 4)), np.zeros(0), 0.5).tolist() == []


def test_regress_moves_each_corner_by_box_units() -> None:
    # w = 20, h = 40: x1 + 0.1*20, y1 - 0.25*40, x2 + 0.5*20, y2 + 0
    out = regress(np.array([[10, 20, 30, 60]]), np.array([[0.1, -0.25, 0.5, 0.0]]))
    np.testing.assert_allclose(out, [[12, 10, 40, 60]])


def test_square_keeps_the_centre_and_takes_the_longer_side() -> None:
    np.testing.assert_allclose(square(np.array([[0, 0, 10, 20], [0, 0, 30, 10]])),
                               [[-5, 0, 15, 20], [0, -10, 30, 20]])


def test_cell_boxes_map_cells_back_to_source_pixels() -> None:
    prob = np.zeros((3, 4))
    prob[1, 2], prob[2, 0] = 0.9, 0.5
    reg = np.arange(4 * 3 * 4, dtype=np.float64).reshape(4, 3, 4)
    boxes, scores, offs = cell_boxes(prob, reg, scale=0.5, threshold=0.6)
    # cell (row 1, col 2): window x 4..16, y 2..14 of the half-size image -> x 8..32, y 4..28
    np.testing.assert_allclose(boxes, [[8, 4, 32, 28]])
    np.testing.assert_allclose(scores, [0.9])
    np.testing.assert_allclose(offs, [reg[:, 1, 2]])
    assert len(cell_boxes(prob, reg, 0.5, 0.5)[0]) == 2  # the threshold is inclusive


def test_crop_resized_exact_size_and_zero_padding() -> None:
    img = np.arange(8 * 8 * 3, dtype=np.uint8).reshape(8, 8, 3)
    same = crop_resized(img, np.array([[2, 1, 6, 5]]), 4)
    np.testing.assert_array_equal(same[0], img[1:5, 2:6])
    half_out = crop_resized(img, np.array([[-2, 0, 2, 4]]), 4)[0]
    assert (half_out[:, :2] == 0).all()
    np.testing.assert_array_equal(half_out[:, 2:], img[0:4, 0:2])
    assert crop_resized(img, np.array([[3, 3, 3, 9]]), 4).max() == 0  # no area: zeros


def test_crop_resized_shrinks_with_area_averaging() -> None:
    img = np.zeros((4, 4, 1), np.uint8)
    img[:2, :2] = 200  # one 2x2 block -> one pixel of the 2x2 crop
    out = crop_resized(img, np.array([[0, 0, 4, 4]]), 2)[0, :, :, 0]
    np.testing.assert_array_equal(out, [[200, 0], [0, 0]])


def test_to_xywh() -> None:
    out = to_xywh(np.array([[1.5, 2, 11.5, 32]]))
    assert out.dtype == np.float32
    np.testing.assert_array_equal(out, [[1.5, 2, 10, 30]])


@pytest.mark.parametrize("mode", list(Overlap))
def test_nms_keeps_everything_without_overlap(mode: Overlap) -> None:
    far = np.array([[0, 0, 5, 5], [10, 10, 15, 15], [20, 0, 25, 5]], np.float64)
    assert sorted(nms(far, np.array([0.1, 0.3, 0.2]), 0.0, mode).tolist()) == [0, 1, 2]
