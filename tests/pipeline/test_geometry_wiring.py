"""Geometry wiring: the detector of the chain per frame and the head pose stored with the
geometry, and FAN as a landmarks backend, through the stages and whole runs on real clips."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch

from emoprep.errors import ModelFileError
from emoprep.io.layout import Layout
from emoprep.io.reader import open_store
from emoprep.io.video import iter_frames
from emoprep.pipeline.config import StagesConfig
from emoprep.pipeline.records import RecordStore
from emoprep.pipeline.runner import RunOptions, run
from emoprep.pipeline.steps import track as track_step
from emoprep.pipeline.steps.shared import load_geometry
from emoprep.stages.headpose import head_pose
from emoprep.stages.landmarks import Dlib68Config, FanConfig
from emoprep.stages.landmarks.fan import HEATMAP, N_POINTS, to_source
from emoprep.stages.track import track_faces
from emoprep.types import FrameStatus, Geometry
from tests.helpers import CORPUS, read_item, write_manifest

INLINE = RunOptions(workers=0)
BLIND_HAAR = {"backend": "haar", "min_size": 330}  # above the ~270 px sample face: finds nothing


class PeakGrid(torch.nn.Module):
    """A stand-in for 2D-FAN with its shapes: (B, 3, 256, 256) -> (B, 68, 64, 64) heatmaps whose
    point k peaks at cell (8 + 3 (k % 16), 8 + 10 (k // 16)) whatever the image."""

    def __init__(self) -> None:
        super().__init__()
        hm = torch.zeros(N_POINTS, HEATMAP, HEATMAP)
        for k, (x, y) in enumerate(PEAKS.astype(int)):
            hm[k, y, x] = 1.0
        self.register_buffer("hm", hm)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.hm.expand(x.shape[0], -1, -1, -1) + 0.0 * x.mean()


PEAKS = np.array([(8 + 3 * (k % 16), 8 + 10 * (k // 16)) for k in range(N_POINTS)], np.float32)


@pytest.fixture
def fan_model(tmp_path: Path) -> Path:
    path = tmp_path / "fan.pt"
    torch.jit.save(torch.jit.script(PeakGrid()), str(path))
    return path


def _two_clips(corpus: Path) -> Path:
    """The corpus cut to its first two Wolfgang clips (two subjects, enough for the split)."""
    for name, *_ in CORPUS[2:]:
        (corpus / name).unlink()
    return corpus


def _assert_fan_landmarks(geom: Geometry) -> None:
    """Each face row holds the PeakGrid points mapped back through its box; NaN elsewhere."""
    face = FrameStatus.has_face(geom.status)
    assert face.sum() > 0 and np.isnan(geom.landmarks[~face]).all()
    for k in np.flatnonzero(face):
        np.testing.assert_allclose(geom.landmarks[k], to_source(PEAKS, geom.boxes[k]), atol=1e-3)


def test_fan_backend_through_track_faces_on_real_frames(sample_entry, fan_model: Path) -> None:
    stages = StagesConfig.model_validate({"landmarks": {"backend": "fan", "model": str(fan_model),
                                                        "device": "cpu"}})
    assert isinstance(stages.landmarks, FanConfig)
    frames = list(iter_frames(sample_entry("WolfgangLanger_Pexels.mp4"), range(300, 312)))
    fan = track_faces(frames, 24.0, stages.detect, stages.track, stages.landmarks)
    dlib = track_faces(frames, 24.0, stages.detect, stages.track, Dlib68Config())
    np.testing.assert_array_equal(fan.status, dlib.status)  # landmarks never steer the tracker
    np.testing.assert_array_equal(fan.boxes, dlib.boxes)
    assert FrameStatus.has_face(fan.status).all() and FrameStatus.TRACKED in fan.status
    _assert_fan_landmarks(fan)
    # the dlib points sit on the face, the stand-in's on its fixed grid: they differ
    assert np.abs(fan.landmarks - dlib.landmarks).max() > 5


def _geometry(out: Path, vid: str) -> Geometry:
    """The track stage's output of ``vid``, read as the stages downstream of it read it."""
    return read_item(out, vid, lambda lay: load_geometry(lay, vid))


def test_run_stores_detector_and_head_pose_with_the_geometry(corpus: Path, tmp_path: Path) -> None:
    out = tmp_path / "out"
    run(write_manifest(tmp_path / "m.yaml", corpus), out, opts=INLINE)
    store, recs = open_store(out), RecordStore(Layout(out))
    for name, *_ in CORPUS:
        vid = Path(name).stem
        assert recs.get("track", vid).summary["detectors"] == ["haar"]
        geom = _geometry(out, vid)  # the track stage's output (its batch's pack or its file)
        detector, status = geom.detector, geom.status
        face = FrameStatus.has_face(status)
        assert detector.dtype == np.uint8 and (detector == face).all()  # 1: haar, 0: no face
        m = store.meta(vid)
        np.testing.assert_array_equal(m["detector"], detector)  # frames keeps every tracked row
        pose = m["head_pose"]
        assert pose.shape == (len(status), 3) and pose.dtype == np.float32
        np.testing.assert_array_equal(pose, head_pose(m["landmarks"], m["width"], m["height"]))
        assert np.isnan(pose[~face]).all() and np.isfinite(pose[face]).mean() > 0.9
        assert np.nanmedian(np.abs(pose[face, 0])) < 35  # the sample faces look at the camera


def test_fallback_detector_is_recorded_through_the_pipeline(corpus: Path, tmp_path: Path) -> None:
    root, out = _two_clips(corpus), tmp_path / "out"
    detect = {**BLIND_HAAR, "fallback": ["dlib_hog"]}
    run(write_manifest(tmp_path / "m.yaml", root, {"detect": detect}), out, opts=INLINE)
    recs = RecordStore(Layout(out))
    for name, *_ in CORPUS[:2]:
        vid = Path(name).stem
        assert recs.get("track", vid).summary["detectors"] == ["haar", "dlib_hog"]
        arrays = open_store(out).meta(vid)  # the frame store's per-frame tables
        face = FrameStatus.has_face(arrays["status"])
        assert face.mean() > 0.9  # Haar is blind: every face comes from the fallback
        assert (arrays["detector"][face] == 2).all() and (arrays["detector"][~face] == 0).all()


def test_chain_and_landmarks_go_into_the_track_fingerprint(fan_model: Path) -> None:
    mmod = StagesConfig.model_validate({"detect": {"fallback": ["dlib_mmod"]}})
    files = track_step.models(mmod)
    assert [p.name for p in files] == ["haarcascade_frontalface_default.xml",
                                       "mmod_human_face_detector.dat",
                                       "shape_predictor_68_face_landmarks.dat"]
    mtcnn = StagesConfig.model_validate({"detect": {"fallback": ["mtcnn"]}})
    assert "torch" in track_step.libraries(mtcnn) and "torch" not in track_step.libraries(mmod)
    fan = StagesConfig.model_validate({"landmarks": {"backend": "fan", "model": str(fan_model)}})
    assert track_step.models(fan)[-1] == fan_model and "torch" in track_step.libraries(fan)
    assert track_step.STAGE.version == 2


def test_switching_to_fan_reruns_track_and_downstream_only(corpus: Path, tmp_path: Path,
                                                          fan_model: Path) -> None:
    root, out = _two_clips(corpus), tmp_path / "out"
    run(write_manifest(tmp_path / "m.yaml", root), out, opts=INLINE)
    fan = {"landmarks": {"backend": "fan", "model": str(fan_model), "device": "cpu"}}
    manifest = write_manifest(tmp_path / "fan.yaml", root, fan)
    again = run(manifest, out, opts=INLINE)
    assert sorted({r["stage"] for r in again.ran}) == ["au", "frames", "track"]
    assert not run(manifest, out, opts=INLINE).ran  # unchanged: nothing runs
    store = open_store(out)
    for name, *_ in CORPUS[:2]:
        vid = Path(name).stem
        geom = _geometry(out, vid)
        _assert_fan_landmarks(geom)
        np.testing.assert_array_equal(store.meta(vid)["landmarks"], geom.landmarks)


def test_missing_fan_model_is_an_error_before_any_work(corpus: Path, tmp_path: Path) -> None:
    missing = tmp_path / "models" / "2DFAN4.pt"
    manifest = write_manifest(tmp_path / "m.yaml", corpus,
                              {"landmarks": {"backend": "fan", "model": str(missing)}})
    out = tmp_path / "out"
    with pytest.raises(ModelFileError, match=f"{missing}: FAN TorchScript file not found"):
        run(manifest, out, opts=INLINE)
    assert not Layout(out).work("probe", "s01_happy_1", ".json").exists()
    assert not list(out.rglob("*.npz")) and not list(out.rglob("*.h5"))


def test_older_geometry_without_detector_loads_with_zeros() -> None:
    arrays = {"frame_index": np.arange(3), "timestamps": np.arange(3) / 25.0,
              "boxes": np.zeros((3, 4), np.float32), "landmarks": np.zeros((3, 68, 2), np.float32),
              "status": np.ones(3, np.uint8), "n_faces": np.ones(3, np.int16)}
    geom = Geometry.from_arrays(arrays)
    assert geom.detector.dtype == np.uint8 and geom.detector.tolist() == [0, 0, 0]
    with pytest.raises(KeyError, match="status"):
        Geometry.from_arrays({k: v for k, v in arrays.items() if k != "status"})
    assert set(geom.as_arrays()) == {*arrays, "detector"}
