"""Fallback chains: config, what goes into the track fingerprint, detection and the per-frame
record."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from pydantic import TypeAdapter, ValidationError

from emoprep.stages.detect import (
    DetectConfig,
    DetectorChain,
    DlibHogConfig,
    HaarConfig,
    MtcnnConfig,
    box_iou,
    model_files,
)
from emoprep.stages.detect.chain import NOT_FOUND
from emoprep.stages.landmarks import Dlib68Config
from emoprep.stages.track import TrackConfig, track_video
from emoprep.types import FrameStatus

ADAPTER = TypeAdapter(DetectConfig)
BLIND_HAAR = {"min_size": 330}  # larger than the ~270 px face of the sample: Haar finds nothing


@pytest.fixture(scope="module")
def mtcnn_cfg(mtcnn_weights: Path) -> MtcnnConfig:
    return MtcnnConfig(weights_dir=mtcnn_weights, device="cpu", threads=1)


# -- config ------------------------------------------------------------------------------------

def test_fallback_names_and_mappings_parse_to_backend_configs() -> None:
    cfg = ADAPTER.validate_python({"backend": "haar", "fallback": ["mtcnn", {"backend": "dlib_hog",
                                                                             "upsample": 1}]})
    assert isinstance(cfg, HaarConfig)
    assert [type(c) for c in cfg.chain()] == [HaarConfig, MtcnnConfig, DlibHogConfig]
    assert cfg.fallback[1].upsample == 1
    assert ADAPTER.validate_python({}).fallback == []


@pytest.mark.parametrize(("raw", "match"), [
    ({"fallback": [{"backend": "mtcnn", "fallback": ["haar"]}]}, r"fallback\[0\] \(mtcnn\) has "
                                                                 r"its own"),
    ({"fallback": [{"backend": "mtcnn", "select": "center"}]}, r"fallback\[0\]\.select is "
                                                               r"set.*top-level"),
    ({"fallback": [{"backend": "mtcnn", "pad_y": 3}]}, r"fallback\[0\]\.pad_y is set"),
    ({"fallback": ["nope"]}, r"nope.*'haar', 'none', 'mtcnn', 'dlib_hog', 'dlib_mmod'"),
    ({"fallback": [{"backend": "mtcnn", "min_neighbors": 3}]},
     r"'min_neighbors' belongs to backend haar, not 'mtcnn'"),
])
def test_bad_fallbacks_are_named(raw: dict, match: str) -> None:
    with pytest.raises(ValidationError, match=match):
        ADAPTER.validate_python(raw)


def test_fingerprint_slice_leaves_out_runtime_and_path_keys() -> None:
    plain = HaarConfig().fingerprint_slice()
    assert "fallback" not in plain and "cascade" not in plain  # unchanged without fallbacks
    assert plain == {k: v for k, v in HaarConfig().model_dump(mode="json").items()
                     if k not in ("fallback", "cascade")}
    cfg = ADAPTER.validate_python({"fallback": [{"backend": "mtcnn", "weights_dir": "/w",
                                                 "device": "cpu", "batch_size": 4, "threads": 1}]})
    fb = cfg.fingerprint_slice()["fallback"]
    assert fb == [MtcnnConfig().fingerprint_slice()]
    assert not {"weights_dir", "device", "batch_size", "threads"} & set(fb[0])
    other = ADAPTER.validate_python({"fallback": [{"backend": "mtcnn", "min_size": 30}]})
    assert other.fingerprint_slice() != cfg.fingerprint_slice()


def test_chain_model_files_and_libraries(mtcnn_weights: Path) -> None:
    cfg = HaarConfig(fallback=[MtcnnConfig(weights_dir=mtcnn_weights)])
    names = [p.name for p in model_files(cfg)]
    assert names == ["haarcascade_frontalface_default.xml", "pnet.pt", "rnet.pt", "onet.pt"]
    assert cfg.chain_libraries() == {"torch": "torch"}
    assert HaarConfig().chain_libraries() == {}


def test_backend_change_reruns_track_only() -> None:
    """Among the per-video stages, only track's fingerprint parts change with detect.backend;
    the stages after it follow through their upstream fingerprints."""
    from emoprep.io.models import file_hash
    from emoprep.pipeline.config import StagesConfig
    from emoprep.pipeline.steps import declared

    def parts(c: StagesConfig) -> dict[str, tuple]:
        return {d.name: (d.config_slice(c), d.libraries(c), [file_hash(p) for p in d.models(c)])
                for d in declared(c)}

    haar, mtcnn = parts(StagesConfig()), parts(StagesConfig(detect={"backend": "mtcnn"}))
    assert [k for k in haar if haar[k] != mtcnn[k]] == ["track"]
    assert "torch" in mtcnn["track"][1] and len(mtcnn["track"][2]) == len(haar["track"][2]) + 2


# -- detection -----------------------------------------------------------------------------------

def test_chain_uses_the_fallback_only_when_needed(
        mtcnn_cfg: MtcnnConfig, wolfgang_frames: list[np.ndarray],
        no_face_frames: list[np.ndarray]) -> None:
    frame = wolfgang_frames[0]
    seeing = DetectorChain(HaarConfig(fallback=[mtcnn_cfg]))
    assert seeing.names == ("haar", "mtcnn")
    found = seeing.find(frame)
    assert found.source == 0 and found.scores is None and len(found) == 1
    blind = DetectorChain(HaarConfig(**BLIND_HAAR, fallback=[mtcnn_cfg]))
    rescued = blind.find(frame)
    assert rescued.source == 1 and rescued.scores is not None and rescued.scores[0] > 0.9
    assert box_iou(rescued.boxes[0], found.boxes[0]) > 0.5
    nothing = blind.find(no_face_frames[0])
    assert nothing.source == NOT_FOUND and nothing.boxes.shape == (0, 4)


def test_track_records_the_detector_per_frame(
        mtcnn_cfg: MtcnnConfig, sample_entry, wolfgang_frames: list[np.ndarray]) -> None:
    from emoprep.io.video import iter_frames

    frames = list(iter_frames(sample_entry("WolfgangLanger_Pexels.mp4"), range(300, 306)))
    track, lmk = TrackConfig(redetect_every=3), Dlib68Config()
    plain = track_video(frames, 24.0, HaarConfig(), track, lmk)
    assert plain.detectors == ("haar",) and plain.detector.dtype == np.uint8
    assert plain.detector.tolist() == [1] * 6
    blind = track_video(frames, 24.0, HaarConfig(**BLIND_HAAR), track, lmk)
    assert blind.detector.tolist() == [0] * 6
    assert not FrameStatus.has_face(blind.geometry.status).any()
    chained = track_video(frames, 24.0, HaarConfig(**BLIND_HAAR, fallback=[mtcnn_cfg]), track, lmk)
    g = chained.geometry
    assert chained.detectors == ("haar", "mtcnn") and chained.detector.tolist() == [2] * 6
    assert FrameStatus.has_face(g.status).all()
    assert FrameStatus.REDETECTED in g.status.tolist()  # the region search went through the chain
    direct = DetectorChain(mtcnn_cfg)
    for k in np.flatnonzero(g.status == FrameStatus.REDETECTED):
        assert box_iou(g.boxes[k], direct.find(frames[k][1]).boxes[0]) > 0.8
