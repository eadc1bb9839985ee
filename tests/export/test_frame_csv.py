"""Per-frame CSV export: read back with the csv module and compared with the frame store."""

from __future__ import annotations

import csv
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

import emoprep
from emoprep.errors import StoreError
from emoprep.export.frame_csv import POSE_COLUMNS, frame_columns, write_frame_csv, write_frame_csvs
from emoprep.stages.headpose import head_pose
from emoprep.types import FrameStatus
from tests.helpers import write_manifest

EMOPREP = str(Path(sys.executable).with_name("emoprep"))
CLIPS = ("s01_happy_1.mp4", "s04_sad_1.mp4")


@pytest.fixture(scope="module")
def out(clip_bank: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A real run (au_trim window, so the AU shard covers more frames than the frame store)."""
    base = tmp_path_factory.mktemp("csv_run")
    root = base / "videos"
    root.mkdir()
    for name in CLIPS:
        shutil.copy2(clip_bank / name, root / name)
    stages = {"window": {"mode": "au_trim"}, "trim": {"min_end_cut": 2, "anomaly_last": 0},
              "split": {"folds": 2, "test_fraction": 0}}
    manifest = write_manifest(base / "m.yaml", root, stages=stages)
    cmd = [EMOPREP, "run", "-m", str(manifest), "-o", str(base / "out"), "--workers", "0",
           "--json"]
    res = subprocess.run(cmd, capture_output=True, text=True, timeout=600)
    assert res.returncode == 0, res.stdout[-2000:] + res.stderr[-2000:]
    return base / "out"


def read_csv(path: Path) -> tuple[list[str], np.ndarray, list[list[str]]]:
    with path.open(newline="") as fh:
        rows = list(csv.reader(fh))
    header, body = rows[0], rows[1:]
    text = header.index("status")
    numbers = [[float(v) if i != text else 0.0 for i, v in enumerate(r)] for r in body]
    return header, np.array(numbers), body


def test_landmarks_boxes_and_frames_round_trip(out: Path, tmp_path: Path) -> None:
    store = emoprep.open_store(out)
    vid = store.videos()[0]
    m = store.meta(vid)
    header, values, body = read_csv(write_frame_csv(out, vid, tmp_path / "a.csv"))
    col = {name: i for i, name in enumerate(header)}
    assert len(body) == len(m["frame_index"])
    xs = values[:, [col[f"x_{i}"] for i in range(68)]]
    ys = values[:, [col[f"y_{i}"] for i in range(68)]]
    lm = np.stack([xs, ys], axis=-1).astype(np.float32)
    np.testing.assert_array_equal(lm, m["landmarks"])  # NaN where no face, on both sides
    box = values[:, [col[k] for k in ("face_x", "face_y", "face_w", "face_h")]].astype(np.float32)
    np.testing.assert_array_equal(box, m["boxes"])
    np.testing.assert_array_equal(values[:, col["frame_index"]], m["frame_index"])
    np.testing.assert_array_equal(values[:, col["frame"]], m["frame_index"] + 1)
    np.testing.assert_allclose(values[:, col["timestamp"]], m["timestamps"], rtol=1e-8)
    face = FrameStatus.has_face(m["status"])
    np.testing.assert_array_equal(values[:, col["success"]], face.astype(float))
    np.testing.assert_array_equal(values[:, col["confidence"]], face.astype(float))
    assert header[:2] == ["frame", "face_id"] and set(values[:, col["face_id"]]) == {0.0}
    assert [r[col["status"]] for r in body] == [FrameStatus(s).name.lower() for s in m["status"]]


def test_au_columns_follow_the_store_by_frame_number(out: Path, tmp_path: Path) -> None:
    store = emoprep.open_store(out)
    trimmed = 0
    for vid in store.videos():
        m = store.meta(vid)
        trimmed += len(m["frame_index"]) < len(m["au_frame_index"])
        header, values, _ = read_csv(write_frame_csv(out, vid, tmp_path / f"{vid}.csv"))
        au_cols = [f"{n}_geom" for n in m["au_names"]]  # landmark proxies: not OpenFace's _r
        assert header == frame_columns(au_cols) and au_cols
        # au_trim: the frame store holds a sub-range of the AU shard's frames
        start = int(np.flatnonzero(m["au_frame_index"] == m["frame_index"][0])[0])
        expect = m["au"][start:start + len(m["frame_index"])]
        got = values[:, [header.index(c) for c in au_cols]].astype(np.float32)
        np.testing.assert_array_equal(got, expect)
    assert trimmed, "au_trim cut no frame: the alignment by frame number is not exercised"


def test_pose_columns_are_the_headpose_of_the_landmarks(out: Path, tmp_path: Path) -> None:
    store = emoprep.open_store(out)
    vid = store.videos()[0]
    m = store.meta(vid)
    header, values, _ = read_csv(write_frame_csv(out, vid, tmp_path / "p.csv"))
    got = values[:, [header.index(c) for c in POSE_COLUMNS]]
    want = head_pose(m["landmarks"], m["width"], m["height"])
    np.testing.assert_allclose(got, want, rtol=1e-6, atol=1e-5)
    assert np.isfinite(got[FrameStatus.has_face(m["status"])]).all()


def test_all_videos_and_unknown_video(out: Path, tmp_path: Path) -> None:
    paths = write_frame_csvs(out, tmp_path / "csv")
    assert sorted(p.name for p in paths) == sorted(f"{Path(c).stem}.csv" for c in CLIPS)
    assert not list((tmp_path / "csv").glob(".*"))  # no temporaries left
    with pytest.raises(StoreError, match="no video 'nope'"):
        write_frame_csv(out, "nope", tmp_path / "x.csv")
    assert not (tmp_path / "x.csv").exists()
