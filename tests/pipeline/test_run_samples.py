"""End to end on the real sample clips: manifest -> run (2 local processes) -> stores -> reader."""

from __future__ import annotations

from pathlib import Path

import h5py
import numpy as np
import pytest

import emoprep
from emoprep.errors import StoreError
from emoprep.pipeline.runner import RunOptions, run
from emoprep.types import FrameStatus
from tests.helpers import index_item, write_manifest


@pytest.fixture(scope="module")
def sample_run(samples_dir: Path, tmp_path_factory: pytest.TempPathFactory):
    tmp = tmp_path_factory.mktemp("samples_run")
    manifest = write_manifest(tmp / "m.yaml", samples_dir,
                              stages={"split": {"folds": 2}, "embed": {"hog": {"type": "hog"}}},
                              labels={"pattern": r"(?P<video>[^/]+)\.(mp4|mov)"})
    report = run(manifest, tmp / "out", opts=RunOptions(workers=2))
    return report, tmp / "out"


def test_summary_ok_and_failed_videos(sample_run) -> None:
    report, _ = sample_run
    status = {v["video_id"]: v for v in report.videos}
    assert set(status) == {
        "WolfgangLanger_Pexels",
        "single_face",
        "no_face",
        "face_noface",
        "noface_face",
    }
    assert status["no_face"]["status"] == "failed"
    assert "no frame of the clip showed a face" in status["no_face"]["error"]
    for vid in ("WolfgangLanger_Pexels", "single_face", "face_noface", "noface_face"):
        assert status[vid]["status"] == "ok", status[vid]
    assert report.split["state"] == "written"


def test_wolfgang_face_in_95_percent_of_kept_frames(sample_run) -> None:
    _, out = sample_run
    store = emoprep.open_store(out)
    m = store.meta("WolfgangLanger_Pexels")
    # 472 decodable frames, window [0.4 N, 0.9 N) = frames 189..424
    assert m["frame_index"].tolist() == list(range(189, 425))
    face = FrameStatus.has_face(m["status"])
    assert face.mean() >= 0.95
    crops = store.frames("WolfgangLanger_Pexels")
    assert crops.shape == (236, 160, 160, 3) and crops.dtype == np.uint8
    assert crops[face].mean() > 20  # real pixels where there is a face
    assert m["landmarks"].shape == (236, 68, 2) and m["boxes"].shape == (236, 4)
    assert np.isfinite(m["landmarks"][face]).all()
    # the pattern's group becomes a label; unmapped label values are normalised to lower case
    assert m["labels"] == {"video": "wolfganglanger_pexels"}
    assert m["fps"] == pytest.approx(23.976, abs=1e-3)
    assert len(m["content_hash"]) == 64


def test_reader_api_and_plain_h5py_agree(sample_run) -> None:
    _, out = sample_run
    store = emoprep.open_store(out)
    assert store.videos() == ["WolfgangLanger_Pexels", "face_noface", "noface_face", "single_face"]
    table = {r["video_id"]: r for r in store.table()}
    assert table["no_face"]["status"] == "failed"
    assert "no frame of the clip showed a face" in table["no_face"]["error"]
    with h5py.File(out / "frames.h5", "r") as f:
        raw = index_item(f, "single_face")["frames"][()]
    np.testing.assert_array_equal(raw, store.frames("single_face"))
    m = store.meta("single_face")
    assert m["au"].shape[0] == m["trim_score"].shape[0] == len(m["au_frame_index"])
    assert m["au_source"] == "landmarks" and isinstance(m["anomaly"], bool)
    assert 0 <= m["trim_start"] <= m["trim_end"] <= len(m["trim_score"])
    with pytest.raises(StoreError, match="no video 'no_face'"):
        store.frames("no_face")


def test_frames_without_face_are_kept_not_dropped(sample_run) -> None:
    _, out = sample_run
    store = emoprep.open_store(out)
    m = store.meta("face_noface")
    n_window = len(m["frame_index"])
    assert m["frame_index"].tolist() == list(range(68, 153))  # every window frame of 169 has a row
    face = FrameStatus.has_face(m["status"])
    assert 0 < face.sum() < n_window
    assert not store.frames("face_noface", np.flatnonzero(~face)[:5]).any()  # blank crops


def test_feature_store_aligned_with_frame_store(sample_run) -> None:
    _, out = sample_run
    with h5py.File(out / "features" / "hog.h5", "r") as f, h5py.File(out / "frames.h5", "r") as fr:
        for vid in ("WolfgangLanger_Pexels", "single_face"):
            g = index_item(f, vid)
            np.testing.assert_array_equal(
                g["frame_index"][()], index_item(fr, vid)["frame_index"][()]
            )
            mask = g["mask"][()].astype(bool)
            np.testing.assert_array_equal(
                mask, FrameStatus.has_face(index_item(fr, vid)["status"][()])
            )
            x = g["features"][()]
            assert x.shape[0] == mask.size and np.all(x[~mask] == 0) and np.abs(x[mask]).sum() > 0
