"""Bad input files: each fails alone with a clear reason (or is processed right), never a
traceback, never blocking the rest; failures caused by the data are not retried until asked.

One in-process run over a dataset of odd files built from the real sample clips.
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import cv2
import h5py
import numpy as np
import pytest
import yaml

from emoprep.pipeline.runner import RunOptions, run, status
from emoprep.samples import cut_clip
from tests.helpers import index_item
from tests.reliability.conftest import INLINE

FPS = 25.0


def _write_video(path: Path, frames: list[np.ndarray], fps: float = FPS) -> None:
    h, w = frames[0].shape[:2]
    out = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"mp4v"), fps, (w, h))
    for f in frames:
        out.write(f)
    out.release()


def _frames_of(clip: Path, n: int) -> list[np.ndarray]:
    cap = cv2.VideoCapture(str(clip))
    frames = [cap.read()[1] for _ in range(n)]
    cap.release()
    return frames


def _folder(path: Path, frames: list[np.ndarray], drop: int | None = None) -> Path:
    path.mkdir()
    for i, f in enumerate(frames):
        if i != drop:
            cv2.imwrite(str(path / f"img_{i:03d}.png"), f)
    return path


@pytest.fixture(scope="module")
def odd_run(clip_bank: Path, samples_dir: Path, tmp_path_factory: pytest.TempPathFactory):
    """(manifest, out, report) of one run over the odd dataset."""
    base = tmp_path_factory.mktemp("odd")
    root = base / "videos"
    root.mkdir()
    good = clip_bank / "s01_happy_1.mp4"
    shutil.copy2(good, root / "good.mp4")
    shutil.copy2(good, root / "Ärger 1.mp4")
    shutil.copy2(clip_bank / "s04_sad_1.mp4", root / "with space.mp4")
    (root / "zero.mp4").write_bytes(b"")
    (root / "text.mp4").write_text("this is not a video\n" * 200)
    data = good.read_bytes()
    (root / "truncated.mp4").write_bytes(data[: int(len(data) * 0.4)])
    cut_clip(good, root / "one_frame.mp4", 0, 1)
    cut_clip(samples_dir / "no_face.mp4", root / "noface.mp4", 0, 20)
    face = _frames_of(good, 12)
    _write_video(root / "two_face.mp4", [np.hstack([f, f]) for f in face])
    _folder(root / "seq_gap", face[:10], drop=5)
    corrupt = _folder(root / "seq_corrupt", face[:10])
    (corrupt / "img_006.png").write_bytes(b"\x89PNG garbage")
    os.symlink("cyc.mp4", root / "cyc.mp4")  # a link to itself
    os.symlink("nowhere.mp4", root / "dangling.mp4")
    manifest = base / "m.yaml"
    manifest.write_text(yaml.safe_dump({
        "videos": {"root": str(root), "include": ["*.mp4", "seq_*"], "fps": FPS},
        "stages": {"split": {"folds": 2, "test_fraction": 0.0}}}))
    out = base / "out"
    return manifest, out, run(manifest, out, opts=INLINE)


def test_each_bad_file_fails_alone_with_its_reason(odd_run) -> None:
    manifest, _, rep = odd_run
    root = manifest.parent / "videos"
    by = {v["video_id"]: v for v in rep.videos}
    assert {by[v]["status"] for v in ("good", "Arger_1", "with_space", "two_face", "seq_gap")} \
        == {"ok"}
    assert by["zero"]["error"].startswith("probe: video") and "zero.mp4" in by["zero"]["error"]
    assert by["text"]["status"] == "failed" and by["text"]["error"].startswith("probe: video")
    assert by["one_frame"]["error"].startswith("window: video one_frame: the window keeps 0 of 1")
    assert by["noface"]["error"].startswith(
        "track: video noface: no frame of the clip showed a face (frames")
    assert by["seq_corrupt"]["error"].startswith("track: frame folder") \
        and "cannot read image img_006.png" in by["seq_corrupt"]["error"]
    # the first 40 % of an mp4 whose index (moov) the writer puts last: it cannot be opened at all
    assert by["truncated"]["status"] == "failed"
    assert by["truncated"]["error"] == (
        f"probe: video {root / 'truncated.mp4'}: OpenCV cannot open it (corrupt file or "
        "unsupported container)")
    assert not any("Traceback" in r["error"] for r in rep.ran)


def test_unreadable_links_are_listed_as_unmatched(odd_run) -> None:
    _, _, rep = odd_run
    unmatched = {u.split(":")[0]: u for u in rep.unmatched}
    assert set(unmatched) == {"cyc.mp4", "dangling.mp4"}
    assert "link loop" in unmatched["cyc.mp4"] and "videos.exclude" in unmatched["cyc.mp4"]


def test_two_faces_are_seen_and_one_is_kept(odd_run) -> None:
    _, out, _ = odd_run
    with h5py.File(out / "frames.h5", "r") as f:
        g = index_item(f, "two_face")
        assert g["n_faces"][()].max() >= 2
        assert g["frames"].shape[0] == g["status"].shape[0] > 0


def test_frame_folder_with_a_missing_image_keeps_its_numbering(odd_run) -> None:
    _, out, _ = odd_run
    with h5py.File(out / "frames.h5", "r") as f:
        gap = index_item(f, "seq_gap")
        idx, ts = gap["frame_index"][()], gap["timestamps"][()]
    assert 5 not in idx.tolist() and idx.max() > 5  # frames after the gap keep their numbers
    np.testing.assert_allclose(ts, idx / FPS)


def test_data_failures_are_not_retried_until_asked(odd_run) -> None:
    manifest, out, first = odd_run
    failed = {(r["stage"], r["video_id"]) for r in first.ran if not r["ok"]}
    assert ("track", "noface") in failed
    st = status(manifest, out)
    assert dict(st.failed["track"])["noface"].startswith("failed last run (data): video noface")
    again = {(r["stage"], r["video_id"]) for r in run(manifest, out, opts=INLINE).ran}
    assert not again & failed  # no failure caused by the data is tried again
    assert not {vid for _, vid in again} & {"noface", "zero", "text", "one_frame"}
    retried = run(manifest, out, opts=RunOptions(workers=0, retry_failed=True))
    assert {(r["stage"], r["video_id"]) for r in retried.ran} >= failed
