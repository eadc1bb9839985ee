"""The frame driver: one decode feeds every stale frame-reading stage of a video; each stage is
recorded with its own fingerprint, and the probe's header count is verified by the pass."""

from __future__ import annotations

import json
from pathlib import Path

import cv2
import numpy as np
import pytest

from emoprep.io.hdf5 import read_arrays
from emoprep.io.layout import Layout
from emoprep.pipeline.records import RecordStore
from emoprep.pipeline.runner import RunOptions, run, status
from tests.helpers import CORPUS, write_manifest

INLINE = RunOptions(workers=0)
PER_VIDEO = ("probe", "window", "track", "au", "frames")


def _outputs(out: Path, vid: str) -> dict[str, object]:
    """Every array and value a video's per-video stages wrote (fingerprint attributes left out)."""
    lay = Layout(out)
    found: dict[str, object] = {"probe": json.loads(lay.work("probe", vid, ".json").read_text())}
    for stage in ("window", "track"):
        with np.load(lay.work(stage, vid, ".npz")) as z:
            found.update({f"{stage}/{k}": z[k] for k in z.files})
    for name, path in (("frames", lay.frames_shard(vid)), ("au", lay.au_shard(vid))):
        arrays, attrs = read_arrays(path)
        found.update({f"{name}/{k}": v for k, v in arrays.items()})
        found.update({f"{name}@{k}": v for k, v in attrs.items() if "fingerprint" not in k})
    return found


def _assert_same(a: dict[str, object], b: dict[str, object]) -> None:
    assert set(a) == set(b)
    for k in a:
        if isinstance(a[k], np.ndarray):
            np.testing.assert_array_equal(a[k], b[k], err_msg=k)
        else:
            assert a[k] == b[k], k


def test_detector_change_tracks_and_warps_in_one_pass_only_downstream_of_window(
        corpus: Path, tmp_path: Path) -> None:
    manifest, out = write_manifest(tmp_path / "m.yaml", corpus), tmp_path / "out"
    run(manifest, out, opts=INLINE)
    again = run(manifest, out, ("stages.detect.min_size=50",), INLINE)
    assert sorted({r["stage"] for r in again.ran}) == ["au", "frames", "track"]
    assert len(again.ran) == 3 * len(CORPUS)


def _mjpg_clip(sample: Path, path: Path) -> int:
    """Re-encode ``sample`` as MJPG AVI (its header holds the frame count); returns the count."""
    cap, writer, n = cv2.VideoCapture(str(sample)), None, 0
    while True:
        ok, frame = cap.read()
        if not ok:
            break
        if writer is None:
            writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"MJPG"), 25.0,
                                     (frame.shape[1], frame.shape[0]))
        writer.write(frame)
        n += 1
    cap.release()
    writer.release()
    return n


@pytest.fixture
def truncated(samples_dir: Path, tmp_path: Path) -> tuple[Path, int, int]:
    """A folder with an AVI cut to its first 40 % of bytes (``s01_happy_1``) and an intact one
    (``s02_sad_1``, the split needs two subjects): (folder, header count, decodable frames)."""
    root = tmp_path / "videos"
    root.mkdir()
    full = tmp_path / "full.avi"
    header = _mjpg_clip(samples_dir / "single_face.mp4", full)
    data = full.read_bytes()
    cut = root / "s01_happy_1.avi"
    cut.write_bytes(data[: int(len(data) * 0.4)])
    (root / "s02_sad_1.avi").write_bytes(data)
    cap, decodable = cv2.VideoCapture(str(cut)), 0
    while cap.grab():
        decodable += 1
    assert int(cap.get(cv2.CAP_PROP_FRAME_COUNT)) == header > decodable > 10
    return root, header, decodable


def _avi_manifest(path: Path, root: Path, probe: dict) -> Path:
    m = write_manifest(path, root, {"probe": probe})
    text = m.read_text().replace("'*.mp4'", "'*.avi'").replace(r"\.mp4", r"\.avi")
    m.write_text(text)
    return m


def test_truncated_video_warns_and_runs_on_the_decoded_count(truncated, tmp_path: Path) -> None:
    root, header, decodable = truncated
    rep = run(_avi_manifest(tmp_path / "m.yaml", root, {}), tmp_path / "out", opts=INLINE)
    assert len(rep.ran) == 2 * len(PER_VIDEO) and all(r["ok"] for r in rep.ran)
    lay = Layout(tmp_path / "out")
    probe = json.loads(lay.work("probe", "s01_happy_1", ".json").read_text())
    assert probe["n_frames"] == probe["decoded_frames"] == decodable
    assert probe["header_frames"] == header and probe["count_mismatch"] is True
    rec = RecordStore(lay).get("probe", "s01_happy_1")
    assert rec.summary["count_mismatch"] and f"says {header} frames" in rec.summary["warning"]
    lo, hi = int(np.ceil(0.4 * decodable)), int(np.ceil(0.9 * decodable))
    window = RecordStore(lay).get("window", "s01_happy_1")
    assert window.summary["n_window"] == hi - lo  # the window of the decoded count
    intact = RecordStore(lay).get("probe", "s02_sad_1").summary
    assert intact["n_frames"] == intact["header_frames"] == header
    assert not intact["count_mismatch"] and "warning" not in intact


def test_truncated_video_fails_its_probe_with_on_count_mismatch_fail(truncated, tmp_path: Path
                                                                     ) -> None:
    root, header, decodable = truncated
    manifest = _avi_manifest(tmp_path / "m.yaml", root, {"on_count_mismatch": "fail"})
    rep = run(manifest, tmp_path / "out", opts=INLINE)
    cut = [r for r in rep.ran if r["video_id"] == "s01_happy_1"]
    assert [(r["stage"], r["ok"]) for r in cut] == [("probe", False)]
    assert f"header says {header} frames but {decodable} decode" in cut[0]["error"]
    assert "on_count_mismatch is fail" in cut[0]["error"]
    assert rep.blocked == len(PER_VIDEO) - 1
    assert all(r["ok"] for r in rep.ran if r["video_id"] == "s02_sad_1")
