"""No repeated work per item (issue 22 item 4), on a real in-process run of pre-cropped faces
listed in a ``videos.csv`` (window all, detect none, default alignment, one hog embedder):

- one dlib predictor pass per image (``landmarks.refine`` null: no refinement in a whole-frame
  box), counted by wrapping the predictor the landmarker calls;
- the predictor, the detector and the embedder are built once per worker process: the second
  item does not load the model again.

The faces are frames of the sample clips cut with OpenCV's Haar cascade and resized to 224x224.
"""

from __future__ import annotations

import csv
import os
from pathlib import Path

import cv2
import numpy as np
import pytest
import yaml

from emoprep.pipeline.runner import RunOptions, run
from emoprep.stages import instances
from emoprep.stages.embed.hog import HogConfig
from emoprep.stages.landmarks import dlib68

N_IMAGES = 4


@pytest.fixture(scope="module")
def faces(samples_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A manifest over N_IMAGES 224x224 face crops of single_face.mp4 listed in videos.csv."""
    root = tmp_path_factory.mktemp("faces")
    (root / "imgs").mkdir()
    cascade = cv2.CascadeClassifier(cv2.data.haarcascades + "haarcascade_frontalface_default.xml")
    cap, rows = cv2.VideoCapture(str(samples_dir / "single_face.mp4")), []
    while len(rows) < N_IMAGES:
        ok, frame = cap.read()
        assert ok, "single_face.mp4 ran out of frames with a face"
        found = cascade.detectMultiScale(cv2.cvtColor(frame, cv2.COLOR_BGR2GRAY), 1.2, 5,
                                         minSize=(80, 80))
        if len(found):
            x, y, w, h = (int(v) for v in found[0])
            name = f"img{len(rows):03d}.jpg"
            cv2.imwrite(str(root / "imgs" / name), cv2.resize(frame[y:y + h, x:x + w], (224, 224)))
            rows.append([name, f"img{len(rows):03d}", f"s{len(rows) % 2}"])
    cap.release()
    with open(root / "videos.csv", "w", newline="") as fh:
        csv.writer(fh).writerows([["path", "video_id", "subject"], *rows])
    (root / "m.yaml").write_text(yaml.safe_dump({
        "videos": {"root": str(root / "imgs"), "csv": "videos.csv"},
        "stages": {"window": {"mode": "all"}, "detect": {"backend": "none"},
                   "embed": {"hog": {"type": "hog"}}, "split": {"required": False}}}))
    return root / "m.yaml"


class CountingPredictor:
    """The real dlib predictor, counting its calls."""

    def __init__(self, real: object) -> None:
        self.real, self.calls = real, 0

    def __call__(self, grey: np.ndarray, rect: object) -> object:
        self.calls += 1
        return self.real(grey, rect)  # type: ignore[operator]


@pytest.fixture()
def counted(monkeypatch: pytest.MonkeyPatch) -> dict[str, object]:
    """Loads of the predictor file, builds of the hog embedder and the one wrapped predictor;
    this process's built backends forgotten before and after."""
    instances.clear()
    seen: dict[str, object] = {"loads": 0, "hog_builds": 0, "predictor": None}
    real_load, real_make = dlib68._load_predictor, HogConfig.make

    def load(path: str, mtime_ns: int) -> CountingPredictor:
        seen["loads"] = int(seen["loads"]) + 1  # type: ignore[call-overload]
        seen["predictor"] = CountingPredictor(real_load(path, mtime_ns))
        return seen["predictor"]  # type: ignore[return-value]

    def make(self: HogConfig) -> object:
        seen["hog_builds"] = int(seen["hog_builds"]) + 1  # type: ignore[call-overload]
        return real_make(self)

    monkeypatch.setattr(dlib68, "_load_predictor", load)
    monkeypatch.setattr(HogConfig, "make", make)
    yield seen
    instances.clear()


def test_one_predictor_pass_per_image_and_one_model_load_per_process(
        faces: Path, tmp_path: Path, counted: dict[str, object]) -> None:
    summary = run(faces, tmp_path / "out", opts=RunOptions(workers=0))
    assert not summary.failed_videos and not summary.error
    predictor = counted["predictor"]
    assert isinstance(predictor, CountingPredictor)
    assert predictor.calls == N_IMAGES  # one landmark pass per frame, not 1 + refine
    assert counted["loads"] == 1  # the items after the first reuse the predictor
    assert counted["hog_builds"] == 1  # and the embedder


def test_refine_written_keeps_the_second_pass(faces: Path, tmp_path: Path,
                                              counted: dict[str, object]) -> None:
    """``landmarks.refine: 1`` written in the manifest: two passes per image, as before."""
    raw = yaml.safe_load(faces.read_text())
    raw["stages"]["landmarks"] = {"refine": 1}
    manifest = tmp_path / "m.yaml"
    raw["videos"]["csv"] = str(faces.parent / "videos.csv")
    manifest.write_text(yaml.safe_dump(raw))
    summary = run(manifest, tmp_path / "out", opts=RunOptions(workers=0))
    assert not summary.failed_videos and not summary.error
    predictor = counted["predictor"]
    assert isinstance(predictor, CountingPredictor) and predictor.calls == 2 * N_IMAGES


def test_a_replaced_model_file_is_built_again(tmp_path: Path) -> None:
    """The per-process cache is keyed by the model file's content: same config, new bytes at the
    same path -> a new object; same bytes -> the same one."""
    instances.clear()
    model = tmp_path / "m.dat"
    model.write_bytes(dlib68.find_model_file(dlib68.DEFAULT_MODEL).read_bytes())
    cfg = dlib68.Dlib68Config(model=str(model))
    first = instances.built(cfg)
    assert instances.built(cfg) is first
    assert instances.built(dlib68.Dlib68Config(model=str(model), refine=0)) is not first
    model.write_bytes(model.read_bytes() + b"\0")  # new content, new mtime: loaded again
    assert instances.built(cfg) is not first
    instances.clear()


def test_a_reused_instance_is_found_by_stat_not_by_hashing_again(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Per item of a batch, finding the built landmarker costs a stat of its model file: the
    file's sha256 is asked once while its size and mtime stay; a new mtime asks again."""
    instances.clear()
    model = tmp_path / "m.dat"
    model.write_bytes(dlib68.find_model_file(dlib68.DEFAULT_MODEL).read_bytes())
    hashed: list[Path] = []
    real = instances.file_hash
    monkeypatch.setattr(instances, "file_hash", lambda p: hashed.append(p) or real(p))
    cfg = dlib68.Dlib68Config(model=str(model))
    first = instances.built(cfg)
    for _ in range(50):
        assert instances.built(dlib68.Dlib68Config(model=str(model))) is first
    assert hashed == [model]
    os.utime(model, ns=(1, 1))  # same bytes, another mtime: hashed again, the same object
    assert instances.built(cfg) is first and hashed == [model, model]
    instances.clear()
