"""``emoprep export --format csv`` and the head-pose limits of the HDF5 export, on a real run of
the corpus clips (``tests.test_data.shared_run``: 6 videos, hog features, a flip augmentation)."""

from __future__ import annotations

import csv
from pathlib import Path

import h5py
import numpy as np
import pytest
from typer.testing import CliRunner

from emoprep.cli.app import app
from emoprep.export.frame_csv import frame_pose
from emoprep.io.reader import open_store
from emoprep.stages.headpose import within_pose
from emoprep.types import FrameStatus
from tests.test_data import shared_run

cli = CliRunner()


@pytest.fixture(scope="module")
def out(clip_bank: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    return shared_run(clip_bank, tmp_path_factory)


def _csv(path: Path) -> dict[str, np.ndarray]:
    with path.open(newline="") as fh:
        rows = list(csv.reader(fh))
    cols = list(zip(*rows[1:], strict=True))
    return {name: np.array(col) for name, col in zip(rows[0], cols, strict=True)}


def _export(out: Path, dest: Path, *extra: str) -> dict[str, np.ndarray]:
    res = cli.invoke(app, ["export", "-o", str(out), "--features", "hog", "--dest", str(dest),
                           "--include-anomalies", "--max-len", "60", *extra])
    assert res.exit_code == 0, res.output
    with h5py.File(dest) as f:
        d = {k: f[k][()] for k in ("face_mask", "mask", "lengths", "features", "names")}
        d["attrs"] = dict(f.attrs)
    d["names"] = [n.decode() for n in d["names"]]
    return d


def test_csv_per_video_with_the_stores_landmarks(out: Path) -> None:
    res = cli.invoke(app, ["export", "-o", str(out), "--format", "csv"])
    assert res.exit_code == 0, res.output
    store = open_store(out)
    videos = store.videos()
    assert f"{len(videos)} CSV files" in res.output
    assert sorted(p.stem for p in (out / "csv").glob("*.csv")) == videos
    for vid in videos:
        meta, d = store.meta(vid), _csv(out / "csv" / f"{vid}.csv")
        lm = meta["landmarks"]
        x = np.stack([d[f"x_{i}"].astype(np.float32) for i in range(68)], axis=1)
        y = np.stack([d[f"y_{i}"].astype(np.float32) for i in range(68)], axis=1)
        np.testing.assert_array_equal(x, lm[:, :, 0])
        np.testing.assert_array_equal(y, lm[:, :, 1])
        np.testing.assert_array_equal(d["frame_index"].astype(int), meta["frame_index"])
        np.testing.assert_array_equal(d["success"].astype(int),
                                      FrameStatus.has_face(meta["status"]).astype(int))
        yaw = d["pose_yaw"].astype(np.float32)
        np.testing.assert_allclose(yaw, frame_pose(meta)[:, 0], rtol=1e-6, equal_nan=True)


def test_csv_into_a_chosen_folder_and_h5_only_options_refused(out: Path, tmp_path: Path) -> None:
    res = cli.invoke(app, ["export", "-o", str(out), "--format", "csv", "--dest",
                           str(tmp_path / "per_frame")])
    assert res.exit_code == 0, res.output
    assert len(list((tmp_path / "per_frame").glob("*.csv"))) == len(open_store(out).videos())
    bad = cli.invoke(app, ["export", "-o", str(out), "--format", "csv", "--max-yaw", "30",
                           "--features", "hog"])
    assert bad.exit_code == 2 and "--features, --max-yaw" in bad.output
    h5 = cli.invoke(app, ["export", "-o", str(out), "--dest", str(tmp_path / "x.h5")])
    assert h5.exit_code == 2 and "--features" in h5.output


def test_max_yaw_masks_frames_and_keeps_alignment(out: Path, tmp_path: Path) -> None:
    free = _export(out, tmp_path / "free.h5")
    wide = _export(out, tmp_path / "wide.h5", "--max-yaw", "90")
    tight = _export(out, tmp_path / "tight.h5", "--max-yaw", "0.001")
    n_face = int(free["face_mask"].sum())
    assert n_face > 100
    np.testing.assert_array_equal(wide["face_mask"], free["face_mask"])
    assert tight["face_mask"].sum() <= 0.01 * n_face  # |yaw| <= 0.001 degrees: (nearly) none
    for d in (wide, tight):  # frame alignment: only face_mask changes
        for key in ("mask", "lengths", "features"):
            np.testing.assert_array_equal(d[key], free[key])
    assert tight["attrs"]["max_yaw"] == pytest.approx(0.001) and free["attrs"]["max_yaw"] == -1


def test_pose_limits_follow_the_stored_pose_per_frame(out: Path, tmp_path: Path) -> None:
    """A limit in the middle of the clips' poses: face_mask == face & within_pose, frame by frame
    (no subsampling: max_len above the longest video)."""
    store = open_store(out)
    pose = {v: frame_pose(store.meta(v)) for v in store.videos()}
    limit = float(np.nanmedian(np.abs(np.concatenate(list(pose.values()))[:, 0])))
    free = _export(out, tmp_path / "free.h5", "--max-len", "400")
    cut = _export(out, tmp_path / "cut.h5", "--max-len", "400", "--max-yaw", str(limit),
                  "--max-roll", "20")
    assert 0 < cut["face_mask"].sum() < free["face_mask"].sum()
    for i, name in enumerate(cut["names"]):
        vid = name.split("@")[0]
        n = int(cut["lengths"][i])
        keep = within_pose(pose[vid], max_yaw=limit, max_roll=20)
        expect = free["face_mask"][i, :n].astype(bool) & keep
        np.testing.assert_array_equal(cut["face_mask"][i, :n].astype(bool), expect, err_msg=name)
