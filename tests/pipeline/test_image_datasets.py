"""Image datasets on real frames: a flat CK+-style folder grouped into sequences by the naming
rule (``videos.kind: images``), a single image as a one-frame item, the error of an item shorter
than the window, and ``detect.backend: none`` giving whole-frame boxes with no tracking.

The images are frames of the sample clips written with ``cv2.imwrite``.
"""

from __future__ import annotations

import json
from pathlib import Path

import cv2
import h5py
import numpy as np
import pytest
import yaml

from emoprep.errors import ConfigError
from emoprep.io.video import list_frame_files
from emoprep.pipeline.fingerprint import HashCache
from emoprep.pipeline.manifest import discover_videos, manifest_from_dict
from emoprep.pipeline.runner import RunOptions, run
from emoprep.types import FrameStatus, SourceKind
from tests.helpers import index_item, probe_output

INLINE = RunOptions(workers=0)
FPS = 30.0
#: sequence id -> (source clip, first source frame, CK+ frame numbers present: 4 missing in one)
SEQUENCES = {
    "S010_001": ("WolfgangLanger_Pexels.mp4", 0, [1, 2, 3, 4, 5, 6]),
    "S010_002": ("WolfgangLanger_Pexels.mp4", 200, [1, 2, 3, 5, 6, 7]),
    "S011_001": ("single_face.mp4", 0, [1, 2, 3, 4, 5, 6]),
    "S011_002": ("single_face.mp4", 40, [1, 2, 3, 4, 5, 6]),
}
CK_LABELS = {
    "pattern": r"flat/(?P<subject>S\d{3})_(?P<sequence>\d{3})_\d{8}\.png",
    "subject": "subject",
    "video_id": "{subject}_{sequence}",
    "groups": ["sequence"],
    "maps": {"sequence": {"001": {"emotion": "happy"}, "002": {"emotion": "sadness"}}},
}
SPLIT = {"split": {"folds": 2, "test_fraction": 0.0}}


def _frames(clip: Path, start: int, n: int) -> list[np.ndarray]:
    """``n`` decoded frames (H, W, 3) BGR uint8 of ``clip`` from frame ``start``."""
    cap = cv2.VideoCapture(str(clip))
    cap.set(cv2.CAP_PROP_POS_FRAMES, start)
    frames = [cap.read()[1] for _ in range(n)]
    cap.release()
    assert all(f is not None for f in frames)
    return frames


@pytest.fixture(scope="module")
def ck_flat(samples_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Dataset root with ``flat/``: the four sequences as CK+-named PNGs, and one file the rule
    rejects (``S010_001_00000003_mask.png``) lying among them."""
    root = tmp_path_factory.mktemp("ck") / "ck"
    flat = root / "flat"
    flat.mkdir(parents=True)
    for vid, (clip, start, numbers) in SEQUENCES.items():
        for number, frame in zip(numbers, _frames(samples_dir / clip, start, len(numbers)),
                                 strict=True):
            cv2.imwrite(str(flat / f"{vid}_{number:08d}.png"), frame)
    cv2.imwrite(str(flat / "S010_001_00000003_mask.png"), np.zeros((8, 8, 3), np.uint8))
    return root


def _manifest(base: Path, root: Path, videos: dict, labels: dict | None = None,
              stages: dict | None = None) -> Path:
    path = base / "m.yaml"
    split = SPLIT if labels else {"split": {"required": False}}  # one image: no split to make
    raw = {"videos": {"root": str(root), **videos}, "labels": labels or {},
           "stages": {**split, **(stages or {})}}
    path.write_text(yaml.safe_dump(raw))
    return path


def _ck_videos(fps: float | None = FPS) -> dict:
    return {"include": ["flat/*.png"], "kind": "images", **({"fps": fps} if fps else {})}


def _ck(root: Path, **videos: object) -> list:
    raw = {"videos": {"root": str(root), **_ck_videos(), **videos}, "labels": CK_LABELS}
    return discover_videos(manifest_from_dict(raw)).videos


# --- discovery: sequences from a flat folder ----------------------------------------------------

def test_flat_folder_is_grouped_into_sequences_by_the_naming_rule(ck_flat: Path) -> None:
    raw = {"videos": {"root": str(ck_flat), **_ck_videos()}, "labels": CK_LABELS}
    found = discover_videos(manifest_from_dict(raw))
    by = {e.video_id: e for e in found.videos}
    assert list(by) == list(SEQUENCES)
    assert found.unmatched == ["flat/S010_001_00000003_mask.png: does not match labels.pattern "
                               f"{CK_LABELS['pattern']!r}"]
    for vid, e in by.items():
        assert e.kind is SourceKind.FRAMES and e.fps == FPS and Path(e.path) == ck_flat / "flat"
        assert e.subject == vid[:4]
        names = [p.name for p in list_frame_files(e.path, e.frames_glob)]
        assert names == [f"{vid}_{n:08d}.png" for n in SEQUENCES[vid][2]]  # exactly its files
    assert by["S010_001"].labels == {"emotion": "happy"}
    assert by["S011_002"].labels == {"emotion": "sadness"}


def test_the_content_hash_covers_exactly_the_sequence_files(ck_flat: Path, tmp_path: Path) -> None:
    seq = next(e for e in _ck(ck_flat) if e.video_id == "S010_001")
    cache = HashCache(tmp_path / "hashes.json")
    before = cache.video(seq)
    mask, other = ck_flat / "flat" / "S010_001_00000003_mask.png", ck_flat / "flat" / "x.png"
    data = mask.read_bytes()
    try:  # a rejected file beside it and a file of no sequence change nothing
        cv2.imwrite(str(mask), np.full((8, 8, 3), 255, np.uint8))
        other.write_bytes(b"not part of it")
        assert HashCache(tmp_path / "fresh.json").video(seq) == before
    finally:
        mask.write_bytes(data)
        other.unlink()
    frame = ck_flat / "flat" / "S010_001_00000002.png"
    data = frame.read_bytes()
    try:  # one of its own images does
        cv2.imwrite(str(frame), np.zeros((360, 640, 3), np.uint8))
        assert HashCache(tmp_path / "fresh2.json").video(seq) != before
    finally:
        frame.write_bytes(data)


def test_sequence_problems_are_reported_before_any_work(ck_flat: Path) -> None:
    with pytest.raises(ConfigError, match=r"videos.fps: expected .* for 4 image sequences "
                                          r"\(e.g. flat/S010_001_00000001.png ... \(6 images\)\)"):
        discover_videos(manifest_from_dict({"videos": {"root": str(ck_flat), **_ck_videos(None)},
                                            "labels": CK_LABELS}))
    pattern = r"flat/(?P<subject>S\d{3})_(?P<sequence>\d{3})_(?P<frame>\d{8})\.png"
    frame_as_label = {**CK_LABELS, "groups": None, "maps": {}, "pattern": pattern}
    with pytest.raises(ConfigError) as err:
        discover_videos(manifest_from_dict({"videos": {"root": str(ck_flat), **_ck_videos()},
                                            "labels": frame_as_label}))
    assert len(err.value.problems) == 4
    assert err.value.problems[0].startswith(
        "video id 'S010_001': its images flat/S010_001_00000001.png and "
        "flat/S010_001_00000002.png differ in label 'frame', expected one value per image sequence")


def test_a_folder_under_kind_images_is_listed_as_unmatched(ck_flat: Path) -> None:
    raw = {"videos": {"root": str(ck_flat), "include": ["*", "flat/S011_00[12]_*.png"],
                      "kind": "images", "fps": FPS}, "labels": CK_LABELS}
    found = discover_videos(manifest_from_dict(raw))
    assert [e.video_id for e in found.videos] == ["S011_001", "S011_002"]
    assert found.unmatched == ["flat: a folder, but videos.kind is 'images' "
                               "(fix: include its images, e.g. '*/*.png')"]


def test_csv_rows_of_images_with_one_video_id_form_one_sequence(ck_flat: Path, tmp_path: Path
                                                                ) -> None:
    rows = ["path,video_id,subject,emotion"] + [
        f"flat/S011_001_{n:08d}.png,seq_a,p1,happy" for n in (3, 1, 2)] + [
        "flat/S011_002_00000001.png,still,p2,sadness"]
    (tmp_path / "list.csv").write_text("\n".join(rows) + "\n")
    raw = {"videos": {"root": str(ck_flat), "csv": str(tmp_path / "list.csv"), "kind": "images",
                      "fps": FPS}}
    seq, still = discover_videos(manifest_from_dict(raw)).videos
    assert (seq.video_id, seq.subject, seq.labels) == ("seq_a", "p1", {"emotion": "happy"})
    assert [p.name for p in list_frame_files(seq.path, seq.frames_glob)] == [
        f"S011_001_{n:08d}.png" for n in (1, 2, 3)]
    assert (still.video_id, Path(still.path).name) == ("still", "S011_002_00000001.png")


# --- the pipeline on the flat folder ------------------------------------------------------------

def test_run_on_a_flat_folder_stores_each_sequence_with_its_frame_numbers(
        ck_flat: Path, tmp_path: Path) -> None:
    manifest = _manifest(tmp_path, ck_flat, _ck_videos(), CK_LABELS, {"window": {"mode": "all"}})
    rep = run(manifest, tmp_path / "out", opts=INLINE)
    assert {v["video_id"]: v["status"] for v in rep.videos} == dict.fromkeys(SEQUENCES, "ok")
    with h5py.File(tmp_path / "out" / "frames.h5", "r") as f:
        for vid, (_, _, numbers) in SEQUENCES.items():
            probe = probe_output(tmp_path / "out", vid)
            assert (probe["kind"], probe["n_frames"], probe["fps"]) == ("frames", numbers[-1], FPS)
            g = index_item(f, vid)
            expected = np.array(numbers) - numbers[0]  # S010_002: frame 3 (file 4) is a gap
            assert g["frame_index"][()].tolist() == expected.tolist()
            np.testing.assert_allclose(g["timestamps"][()], expected / FPS)
            assert g["frames"].shape == (len(numbers), 160, 160, 3)
            assert (g["status"][()] != FrameStatus.NO_FACE).all()
            assert g.attrs["subject"] == vid[:4]
            assert json.loads(g.attrs["labels"]) == \
                {"emotion": "happy" if vid.endswith("001") else "sadness"}
    again = run(manifest, tmp_path / "out", opts=INLINE)
    assert again.ran == []  # unchanged images: nothing runs


# --- single images and items too short for the window ---------------------------------------------

@pytest.fixture
def one_image(samples_dir: Path, tmp_path: Path) -> Path:
    root = tmp_path / "imgs"
    root.mkdir()
    cv2.imwrite(str(root / "face.png"), _frames(samples_dir / "single_face.mp4", 10, 1)[0])
    return root


def test_a_single_image_is_a_one_frame_item(one_image: Path, tmp_path: Path) -> None:
    found = discover_videos(manifest_from_dict({"videos": {"root": str(one_image),
                                                           "include": ["*.png"]}}))
    (e,) = found.videos
    assert (e.video_id, e.kind, e.fps, Path(e.path)) == ("face", SourceKind.FRAMES, 1.0,
                                                        one_image / "face.png")
    manifest = _manifest(tmp_path, one_image, {"include": ["*.png"]},
                         stages={"window": {"mode": "all"}})
    rep = run(manifest, tmp_path / "out", opts=INLINE)
    assert rep.videos[0]["status"] == "ok", rep.videos
    probe = probe_output(tmp_path / "out", "face")  # in its batch's probe pack
    assert (probe["kind"], probe["n_frames"], probe["fps"]) == ("image", 1, 1.0)
    assert (probe["width"], probe["height"]) == (640, 360)
    with h5py.File(tmp_path / "out" / "frames.h5", "r") as f:
        g = index_item(f, "face")
        assert g["frame_index"][()].tolist() == [0] and g["timestamps"][()].tolist() == [0.0]
        assert g["frames"].shape == (1, 160, 160, 3)


def test_videos_fps_sets_the_rate_of_a_single_image(one_image: Path) -> None:
    raw = {"videos": {"root": str(one_image), "include": ["*.png"], "kind": "file", "fps": 12.5}}
    (e,) = discover_videos(manifest_from_dict(raw)).videos
    assert (e.kind, e.fps) == (SourceKind.FRAMES, 12.5)


def test_an_item_shorter_than_the_window_names_mode_all(one_image: Path, tmp_path: Path) -> None:
    manifest = _manifest(tmp_path, one_image, {"include": ["*.png"]})
    rep = run(manifest, tmp_path / "out", opts=INLINE)
    (v,) = rep.videos
    assert v["status"] == "failed"
    assert v["error"] == (
        "window: video face: the window keeps 0 of 1 frames (mode fraction: frames i with "
        "0.4 * 1 <= i < 0.9 * 1), expected at least 1: the item is shorter than the window can "
        "serve (fix: stages.window.mode: all keeps every frame, no window, for single images and "
        "short clips; or widen stages.window.start/end)")
    fixed = run(manifest, tmp_path / "out", overrides=("stages.window.mode=all",), opts=INLINE)
    assert fixed.videos[0]["status"] == "ok"


# --- detect.backend: none ---------------------------------------------------------------------

def test_backend_none_boxes_are_the_whole_frame_in_the_pipeline(ck_flat: Path, tmp_path: Path
                                                                ) -> None:
    stages = {"window": {"mode": "all"}, "detect": {"backend": "none"}}
    manifest = _manifest(tmp_path, ck_flat, _ck_videos(), CK_LABELS, stages)
    rep = run(manifest, tmp_path / "out", opts=INLINE)
    assert {v["status"] for v in rep.videos} == {"ok"}
    with h5py.File(tmp_path / "out" / "frames.h5", "r") as f:
        for vid in SEQUENCES:
            g = index_item(f, vid)
            boxes, status = g["boxes"][()], g["status"][()]
            assert (boxes == np.array([0, 0, 640, 360], np.float32)).all()  # no drift at all
            assert (status == FrameStatus.DETECTED).all()


@pytest.mark.parametrize("track", [{}, {"confirm": 3, "redetect_every": 5}, {"backend": "none"}])
def test_backend_none_tracks_nothing_whatever_the_track_settings(sample_entry, track: dict
                                                                 ) -> None:
    from emoprep.io.video import iter_frames
    from emoprep.stages.detect import NoDetectConfig
    from emoprep.stages.landmarks import Dlib68Config
    from emoprep.stages.track import TrackConfig, track_video

    entry = sample_entry("WolfgangLanger_Pexels.mp4")  # the face moves: a tracker would follow
    res = track_video(iter_frames(entry, range(60)), 24.0, NoDetectConfig(), TrackConfig(**track),
                      Dlib68Config())
    g = res.geometry
    assert g.frame_index.tolist() == list(range(60))
    assert (g.boxes == np.array([0, 0, 640, 360], np.float32)).all()
    assert (g.status == FrameStatus.DETECTED).all() and (g.n_faces == 1).all()
    assert (res.detector == 1).all() and res.detectors == ("none",)
    assert np.isfinite(g.landmarks).all()
