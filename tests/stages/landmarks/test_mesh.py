"""The face-mesh landmarks backend (``landmarks.backend: mesh``): the ROI map by hand, the 468 ->
68 table, then the real model on a clip it was not fitted on (the table was chosen on
single_face.mp4; WolfgangLanger_Pexels.mp4 is another person, turning and tilting her head)."""

from __future__ import annotations

import math

import cv2
import dlib
import numpy as np
import pytest

from emoprep.errors import ModelFileError
from emoprep.io.video import iter_frames
from emoprep.stages.align import AlignConfig, align_face, align_geometry, eye_centers
from emoprep.stages.detect import HaarConfig
from emoprep.stages.landmarks import Dlib68Config, make_landmarker
from emoprep.stages.landmarks.mesh import (
    GROUPS,
    INPUT,
    MESH_TO_IBUG68,
    N_MESH,
    FaceMesh,
    MeshConfig,
    eye_angle,
    roi_from_box,
    roi_inverse,
    roi_matrix,
)
from emoprep.stages.tflite import _opencv
from emoprep.stages.track import TrackBackend, TrackConfig, track_faces
from emoprep.stages.window import WindowConfig, select_frames
from emoprep.types import FrameStatus


@pytest.fixture(scope="module")
def facemesh_files() -> None:
    from emoprep.io.models import fetch

    fetch("facemesh")


def test_roi_matrix_centres_scales_and_levels() -> None:
    m = roi_matrix(300.0, 200.0, 96.0, math.radians(30))  # 2 crop pixels per frame pixel
    np.testing.assert_allclose(m[:, :2] @ [300, 200] + m[:, 2], [INPUT / 2, INPUT / 2])
    # a point 10 px along the 30 degree line lands 20 px right of the centre, level
    p = np.array([300 + 10 * math.cos(math.radians(30)), 200 + 10 * math.sin(math.radians(30))])
    np.testing.assert_allclose(m[:, :2] @ p + m[:, 2], [INPUT / 2 + 20, INPUT / 2], atol=1e-9)
    assert roi_from_box(np.array([10, 20, 100, 80]), 1.5, 0.1) == (60.0, 68.0, 150.0, 0.0)


def test_roi_inverse_undoes_roi_matrix() -> None:
    rng = np.random.default_rng(0)
    for _ in range(100):
        roi = (*rng.uniform(0, 800, 2), rng.uniform(20, 900), rng.uniform(-math.pi, math.pi))
        fwd, inv = np.vstack([roi_matrix(*roi), [0, 0, 1]]), np.vstack([roi_inverse(*roi),
                                                                         [0, 0, 1]])
        np.testing.assert_allclose(inv @ fwd, np.eye(3), atol=1e-9)
        np.testing.assert_allclose(roi_inverse(*roi), cv2.invertAffineTransform(roi_matrix(*roi)),
                                   rtol=1e-12, atol=1e-9)


def test_eye_angle_equals_the_means_formula_bit_for_bit() -> None:
    rng = np.random.default_rng(1)
    for _ in range(500):
        pts = (rng.random((68, 2)) * rng.uniform(5, 2000) + rng.uniform(-50, 700)).astype(
            np.float32)
        d = pts[42:48].mean(axis=0) - pts[36:42].mean(axis=0)
        assert eye_angle(pts) == math.atan2(float(d[1]), float(d[0]))


def test_table_has_68_distinct_vertices_and_groups_cover_them() -> None:
    assert len(MESH_TO_IBUG68) == 68 == len(set(MESH_TO_IBUG68))
    assert all(0 <= v < 468 for v in MESH_TO_IBUG68)
    assert sorted(i for a, b in GROUPS.values() for i in range(a, b)) == list(range(68))


def test_eye_angle_by_hand() -> None:
    pts = np.zeros((68, 2), np.float32)
    pts[36:42] = [10, 10]
    pts[42:48] = [20, 20]
    assert eye_angle(pts) == pytest.approx(math.pi / 4)


def test_missing_file_names_it_and_the_fix(tmp_path) -> None:
    with pytest.raises(ModelFileError, match=r"nope\.tflite.*emoprep models fetch facemesh"):
        MeshConfig(model=tmp_path / "nope.tflite").make()


def test_points_agree_with_dlib_on_an_unseen_clip(facemesh_files, sample_entry) -> None:
    """Against dlib's 68 points in the same Haar box, every tenth frame (the head tilts from 5 to
    -25 degrees): eye centres within 10 % of the inter-ocular distance on average (measured
    5.5 %), eye lines within 1.5 degrees on average and 5 at most (measured 1.0 and 3.5)."""
    entry = sample_entry("WolfgangLanger_Pexels.mp4")
    mesh, ref, haar = MeshConfig().make(), make_landmarker(Dlib68Config()), HaarConfig().make()
    errs, tilts, prev = [], [], None
    for _, frame in iter_frames(entry, range(190, 420, 10)):
        box = haar.detect(frame)[0]
        want = ref(frame, box)
        got = mesh(frame, box) if prev is None else mesh.follow(frame, prev, box, box)
        iod = np.linalg.norm(want[42:48].mean(0) - want[36:42].mean(0))
        errs.append(max(np.linalg.norm(got[a:a + 6].mean(0) - want[a:a + 6].mean(0))
                        for a in (36, 42)) / iod)
        tilts.append(abs(math.degrees(eye_angle(got) - eye_angle(want))))
        prev = got
    assert np.mean(errs) < 0.10
    assert np.mean(tilts) < 1.5 and max(tilts) < 5.0


@pytest.mark.parametrize("tracking", [TrackBackend.MEDIANFLOW, TrackBackend.LANDMARKS])
def test_crops_aligned_with_mesh_landmarks_are_level(facemesh_files, sample_entry,
                                                     tracking) -> None:
    """The alignment check of tests/stages/test_align.py with the mesh backend, tracked by
    MedianFlow or by the mesh's own landmarks: landmarks found again on each crop (dlib HOG +
    predictor, independent of the mesh) lie within 2 degrees and 5 % of the set eye distance on
    >= 95 % of frames (measured 236 of 236 with MedianFlow, 235 of 236 with the landmarks)."""
    entry, cfg = sample_entry("WolfgangLanger_Pexels.mp4"), AlignConfig()
    idx = select_frames(472, 23.976, WindowConfig())
    geom = track_faces(iter_frames(entry, idx), 23.976, HaarConfig(),
                       TrackConfig(backend=tracking), MeshConfig())
    assert FrameStatus.has_face(geom.status).all()
    mats = align_geometry(geom, cfg)
    hog, predictor = dlib.get_frontal_face_detector(), make_landmarker(Dlib68Config(refine=0))
    good = 0
    for (_, frame), m in zip(iter_frames(entry, idx), mats, strict=True):
        grey = cv2.cvtColor(align_face(frame, m, cfg), cv2.COLOR_RGB2GRAY)
        rects = hog(grey, 1)
        if not rects:
            continue
        r = max(rects, key=lambda r: r.area())
        left, right = eye_centers(predictor(grey, np.array([r.left(), r.top(), r.width(),
                                                            r.height()])))
        tilt = math.degrees(math.atan2(right[1] - left[1], right[0] - left[0]))
        dist = math.hypot(*(right - left)) / (cfg.eye_distance * cfg.size)
        good += abs(tilt) <= 2.0 and abs(dist - 1.0) <= 0.05
    assert good >= 0.95 * len(idx)


def _reference_points(mesh: FaceMesh, frame: np.ndarray, roi: tuple[float, float, float, float]
                      ) -> tuple[np.ndarray, float]:
    """The mesh pass spelt out: warp, BGR -> RGB, a fresh float32 input through ``model(x)``,
    all 468 points back through cv2.invertAffineTransform, then the 68."""
    m = roi_matrix(*roi)
    crop = cv2.cvtColor(cv2.warpAffine(frame, m, (INPUT, INPUT), flags=cv2.INTER_LINEAR,
                                       borderMode=cv2.BORDER_CONSTANT), cv2.COLOR_BGR2RGB)
    outs = mesh.model(crop.astype(np.float32)[None] * np.float32(1 / 255))
    xy = next(o for o in outs if o.size == N_MESH * 3).reshape(N_MESH, 3)[:, :2]
    inv = cv2.invertAffineTransform(m)
    pts = (xy.astype(np.float64) @ inv[:, :2].T + inv[:, 2]).astype(np.float32)
    logit = float(next(o for o in outs if o.size == 1).ravel()[0])
    return pts[list(MESH_TO_IBUG68)], 1.0 / (1.0 + math.exp(-logit))


def test_points_through_the_input_buffer_equal_the_pass_spelt_out(facemesh_files,
                                                                  sample_entry) -> None:
    """The crop written straight into the interpreter's input tensor and only the 68 points
    mapped back give the reference pass's values (same model input to the bit; points within
    1e-4 px: the inverse map by formula, not by cv2.invertAffineTransform)."""
    mesh = FaceMesh(MeshConfig().model_path())
    index = np.asarray(MESH_TO_IBUG68, np.intp)
    entry = sample_entry("WolfgangLanger_Pexels.mp4")
    for k, (_, frame) in enumerate(iter_frames(entry, range(200, 260, 20))):
        roi = (470.0 - 5 * k, 170.0, 420.0 + 10 * k, math.radians(-12 + 8 * k))
        got, score = mesh.points(frame, roi, True, index)
        want, want_score = _reference_points(mesh, frame, roi)
        np.testing.assert_allclose(got, want, rtol=0, atol=1e-4)
        assert score == pytest.approx(want_score, rel=1e-12) and score > 0.9


def test_opencv_runner_fills_its_own_input_as_the_caller_would(facemesh_files) -> None:
    """The OpenCV DNN fallback: ``run_into`` equals ``model(x)`` on the same input exactly; a
    wrong input shape names the file and both shapes."""
    path = MeshConfig().model_path()
    run, fill = _opencv(path)
    x = np.random.default_rng(2).random((1, INPUT, INPUT, 3), np.float32)
    want = run(x)
    got = fill((1, INPUT, INPUT, 3), lambda buf: np.copyto(buf, x))
    for a, b in zip(got, want, strict=True):
        np.testing.assert_array_equal(a, b)
    with pytest.raises(ModelFileError, match=r"face_landmark\.tflite.*\(1, 192, 192, 3\).*"
                                              r"\(1, 96, 96, 3\)"):
        FaceMesh(path).model.run_into((1, 96, 96, 3), lambda buf: None)


def test_threads_are_runtime_only_and_reach_the_interpreter(facemesh_files) -> None:
    """``landmarks.threads``: out of the fingerprint (the same points to within float rounding of
    the summation order), kept through a pickle (as a worker reloads the landmarker); < 1 is a
    config error naming the key; TFLiteModel itself refuses 0 naming the file."""
    import pickle

    from pydantic import ValidationError

    from emoprep.stages.tflite import TFLiteModel

    assert MeshConfig(threads=2).fingerprint_slice() == MeshConfig().fingerprint_slice()
    assert "threads" not in MeshConfig().fingerprint_slice()
    two = MeshConfig(threads=2).make()
    assert pickle.loads(pickle.dumps(two.mesh.model)).threads == 2
    x = np.random.default_rng(3).random((1, INPUT, INPUT, 3), np.float32)
    one = TFLiteModel(MeshConfig().model_path())
    assert one.threads == 1
    for a, b in zip(two.mesh.model(x), one(x), strict=True):
        np.testing.assert_allclose(a, b, rtol=0, atol=1e-3)
    with pytest.raises(ValidationError, match="threads"):
        MeshConfig(threads=0)
    with pytest.raises(ValueError, match=r"face_landmark\.tflite: threads must be >= 1, got 0 "
                                         r"\(fix: 1"):
        TFLiteModel(MeshConfig().model_path(), threads=0)
