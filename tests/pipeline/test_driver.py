"""The frame driver: one decode feeds every stale frame-reading stage of a video, each stage
recorded with its own fingerprint; the probe's header count is verified by the pass.

The property: whichever of a video's per-video stages are stale, re-running them gives byte for
byte the outputs, records and fingerprints of a full run.

Every subset of stale stages is made by deleting the records of those stages of one video in a
copy of a finished run (an up-to-date upstream stays up to date: exactly that subset runs, in
whatever passes and jobs the scheduler and the driver form). Compared: the sha256 of every file of
the output folder (work files, frame/AU/feature shards, the ``frames.h5`` and feature indexes,
splits, the hash cache) except the run's own bookkeeping, and every record with its fingerprint,
outputs, checksums and summary. Left out, because they are not outputs: seconds (timing),
the ``mtime_ns`` of a checksum (when the file was written), ``summary.json``, the record snapshot
and the index stamp caches (file stamps of the run).
"""

from __future__ import annotations

import hashlib
import itertools
import shutil
from pathlib import Path

import cv2
import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from emoprep.io.layout import Layout
from emoprep.io.reader import open_store
from emoprep.pipeline.config import StagesConfig
from emoprep.pipeline.dag import build_dag
from emoprep.pipeline.records import RecordStore
from emoprep.pipeline.runner import RunOptions, run
from tests.helpers import CORPUS, drop_record, probe_output, record_rows, write_manifest

INLINE = RunOptions(workers=0)
PER_VIDEO = ("probe", "window", "track", "au", "frames")
#: (video id, source clip, first frame); 24 frames each
CLIPS = [("s01_happy_1", "WolfgangLanger_Pexels.mp4", 0), ("s02_sad_1", "single_face.mp4", 0)]
N_FRAMES = 24
VID = "s01_happy_1"  #: the video whose stages are made stale
#: the property is the driver's, per video, byte for byte: one file per video and artifact (these
#: short clips would go into one batch by default, whose rewritten packs hold the same data but
#: not the same bytes as a clean run's, the other item being copied in)
PER_VIDEO_FILES = ("batch.enabled=false",)
EMBED = {"embed": {"hog": {"type": "hog"}}}
#: files of the run's own bookkeeping (timings, file stamps; the manifest the invocation used,
#: which holds the folder's absolute path), not outputs
VOLATILE = ("summary.json", ".emoprep/indexes/", ".emoprep/records.sqlite", ".emoprep/lock",
            ".emoprep/manifest.json")


def _frames(clip: Path, first: int):
    cap = cv2.VideoCapture(str(clip))
    cap.set(cv2.CAP_PROP_POS_FRAMES, first)
    for _ in range(N_FRAMES):
        ok, frame = cap.read()
        assert ok
        yield frame
    cap.release()


@pytest.fixture(scope="module")
def sources(samples_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """Two 24-frame clips as MP4 files (``videos/``) and as PNG sequences (``seqs/<id>/``)."""
    base = tmp_path_factory.mktemp("driver")
    for vid, clip, first in CLIPS:
        (base / "seqs" / vid).mkdir(parents=True)
        (base / "videos").mkdir(exist_ok=True)
        writer = None
        for i, frame in enumerate(_frames(samples_dir / clip, first)):
            if writer is None:
                h, w = frame.shape[:2]
                writer = cv2.VideoWriter(str(base / "videos" / f"{vid}.mp4"),
                                         cv2.VideoWriter_fourcc(*"mp4v"), 25.0, (w, h))
            writer.write(frame)
            cv2.imwrite(str(base / "seqs" / vid / f"{i:04d}.png"), frame)
        writer.release()
    return {"videos": base / "videos", "seqs": base / "seqs"}


def _manifest(path: Path, sources: dict[str, Path], kind: str, stages: dict) -> Path:
    if kind == "videos":
        return write_manifest(path, sources["videos"], stages)
    labels = {"pattern": r"(?P<subject>s\d+)_(?P<emotion>[a-z]+)_(?P<take>\d+)",
              "subject": "subject", "groups": ["emotion"]}
    m = write_manifest(path, sources["seqs"], stages, labels)
    import yaml

    raw = yaml.safe_load(m.read_text())
    raw["videos"] = {"root": str(sources["seqs"]), "include": ["*"], "kind": "frames",
                     "fps": 25.0}
    m.write_text(yaml.safe_dump(raw))
    return m


def _files(out: Path) -> dict[str, str]:
    """sha256 of every output file, by path relative to ``out``."""
    found = {}
    for p in sorted(out.rglob("*")):
        rel = p.relative_to(out).as_posix()
        if p.is_file() and not rel.startswith(VOLATILE):
            found[rel] = hashlib.sha256(p.read_bytes()).hexdigest()
    return found


def _records(out: Path) -> dict[str, dict]:
    """Every record, without its timing and the write times of its outputs."""
    return record_rows(out)


class Reference:
    """A full run and the copies made from it, one per subset of stale stages (one file per
    video and artifact: ``batch.enabled: false``)."""

    def __init__(self, manifest: Path, base: Path, stages: dict) -> None:
        self.manifest, self.base, self.n = manifest, base, 0
        self.full = base / "full"
        rep = run(manifest, self.full, PER_VIDEO_FILES, INLINE)
        assert rep.ran and [r for r in rep.ran if not r["ok"]] == []
        defs = build_dag(StagesConfig.model_validate(stages))
        self.stages = [d.name for d in defs]
        recs = RecordStore(Layout(self.full))
        for d in defs:  # each stage wrote exactly the artifacts it declares
            assert recs.get(d.name, VID).outputs == [a.pattern.format(video_id=VID)
                                                     for a in d.outputs], d.name
        self.files, self.records = _files(self.full), _records(self.full)
        assert any(k.startswith("frames/") for k in self.files) and "frames.h5" in self.files

    def check(self, stale: set[str]) -> None:
        self.n += 1
        out = self.base / f"copy{self.n}"
        shutil.copytree(self.full, out)
        drop_record(out, *((stage, VID) for stage in stale))
        rep = run(self.manifest, out, PER_VIDEO_FILES, INLINE)
        assert sorted((r["stage"], r["video_id"]) for r in rep.ran) == \
            sorted((s, VID) for s in stale), stale
        assert all(r["ok"] for r in rep.ran)
        files = _files(out)
        assert sorted(files) == sorted(self.files)
        assert [k for k in files if files[k] != self.files[k]] == [], stale
        assert _records(out) == self.records, stale
        shutil.rmtree(out)


def _subsets(names: list[str]) -> list[set[str]]:
    return [set(c) for n in range(1, len(names) + 1) for c in itertools.combinations(names, n)]


def test_every_subset_of_stale_stages_gives_the_full_runs_bytes(sources, tmp_path: Path) -> None:
    """Exhaustive over the 63 non-empty subsets of probe, window, track, au, frames, embed:hog."""
    ref = Reference(_manifest(tmp_path / "m.yaml", sources, "videos", EMBED), tmp_path, EMBED)
    assert len(ref.stages) == 6
    for stale in _subsets(ref.stages):
        ref.check(stale)


@pytest.mark.parametrize(("kind", "stages"), [
    ("videos", {**EMBED, "window": {"mode": "au_trim"}}),
    ("seqs", EMBED),
])
def test_sampled_subsets_in_au_trim_mode_and_for_image_sequences(
        sources, tmp_path_factory: pytest.TempPathFactory, kind: str, stages: dict) -> None:
    base = tmp_path_factory.mktemp("ref")
    ref = Reference(_manifest(base / "m.yaml", sources, kind, stages), base, stages)

    @settings(max_examples=12, deadline=None, derandomize=True,
              suppress_health_check=[HealthCheck.function_scoped_fixture])
    @given(st.sets(st.sampled_from(ref.stages), min_size=1))
    def prop(stale: set[str]) -> None:
        ref.check(stale)

    prop()


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
    probe = probe_output(tmp_path / "out", "s01_happy_1")
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


def test_a_video_decoding_short_of_its_trusted_header_gives_the_same_bytes_in_any_pass(
        truncated, tmp_path: Path) -> None:
    """``exact_count: false``: the window is planned on the header's count, the tracker gets
    fewer frames; ``frames`` warps the rows it did get (in a second pass when fed beside track),
    exactly as when it runs alone."""
    root, header, decodable = truncated
    manifest = _avi_manifest(tmp_path / "m.yaml", root, {"exact_count": False})
    text = manifest.read_text().replace("stages:", "stages:\n  window: {start: 0.2}")
    manifest.write_text(text)
    ref = Reference(manifest, tmp_path, {})
    probe = probe_output(ref.full, VID)
    assert (probe["n_frames"], probe["decoded_frames"]) == (header, decodable)
    frame_index = open_store(ref.full).meta(VID)["frame_index"]
    assert frame_index[-1] == decodable - 1  # the window reached past the end
    for stale in ({"frames"}, {"track", "frames"}, set(PER_VIDEO)):
        ref.check(stale)


def test_a_warp_error_fails_only_frames_and_tracking_goes_on(corpus: Path, tmp_path: Path,
                                                             monkeypatch: pytest.MonkeyPatch
                                                             ) -> None:
    import emoprep.stages.align as align

    def broken(frame, matrix, cfg):
        raise RuntimeError("warp failed")

    monkeypatch.setattr(align, "align_face", broken)
    rep = run(write_manifest(tmp_path / "m.yaml", corpus), tmp_path / "out", opts=INLINE)
    by = {(r["stage"], r["ok"]) for r in rep.ran}
    assert by == {(s, True) for s in ("probe", "window", "track", "au")} | {("frames", False)}
    frames = [r for r in rep.ran if r["stage"] == "frames"]
    assert len(frames) == len(CORPUS) and all("RuntimeError: warp failed" in r["error"]
                                              for r in frames)
    rec = RecordStore(Layout(tmp_path / "out")).get("frames", frames[0]["video_id"])
    assert "Traceback" in rec.error and "in broken" in rec.error  # the innermost frames kept
    assert not list((tmp_path / "out").rglob(".*.tmp*"))  # the shard's temporary removed


class _CountingCapture:
    """cv2.VideoCapture that logs ("grab" | "read", frame position) per call."""

    log: list[tuple[str, str, int]] = []

    def __init__(self, path: str, *args: object) -> None:
        self._cap, self._path, self._pos = _REAL_CAPTURE(path, *args), Path(path).stem, 0

    def grab(self) -> bool:
        self.log.append((self._path, "grab", self._pos))
        self._pos += 1
        return self._cap.grab()

    def read(self, *args: object):  # noqa: ANN202 (cv2's tuple)
        self.log.append((self._path, "read", self._pos))
        self._pos += 1
        return self._cap.read(*args)

    def __getattr__(self, name: str):  # noqa: ANN204 (isOpened, get, release, ...)
        return getattr(self._cap, name)


_REAL_CAPTURE = cv2.VideoCapture


def test_frames_before_the_window_are_grabbed_and_no_frame_is_made_grey_needlessly(
        corpus: Path, tmp_path: Path, monkeypatch) -> None:
    """Issue 24 item 4, through a whole run: the pass decodes the window's frames with read()
    (the colour conversion) and reaches the window's first frame with grab() (no conversion, no
    copy; no seek: OpenCV's frame seek is not exact for every container); with BlazeFace, the
    mesh and track.backend landmarks no frame is converted to grey (nothing reads it), while the
    default (MedianFlow, dlib68) converts each tracked frame once."""
    from emoprep.io.models import fetch
    from emoprep.stages.window import WindowConfig, select_frames

    fetch("facemesh")
    greys: list[tuple[int, ...]] = []
    real_cvt = cv2.cvtColor

    def cvt(src: np.ndarray, code: int, *args: object) -> np.ndarray:
        if code == cv2.COLOR_BGR2GRAY:
            greys.append(src.shape)
        return real_cvt(src, code, *args)

    _CountingCapture.log = []
    monkeypatch.setattr(cv2, "VideoCapture", _CountingCapture)
    monkeypatch.setattr(cv2, "cvtColor", cvt)
    fast = {"detect": {"backend": "blazeface"}, "landmarks": {"backend": "mesh"},
            "track": {"backend": "landmarks"}}
    report = run(write_manifest(tmp_path / "m.yaml", corpus, fast), tmp_path / "out", opts=INLINE)
    assert all(r["ok"] for r in report.ran)
    for name, *_ in CORPUS:
        cap = _REAL_CAPTURE(str(corpus / name))
        n, fps = int(cap.get(cv2.CAP_PROP_FRAME_COUNT)), cap.get(cv2.CAP_PROP_FPS)
        window = select_frames(n, fps, WindowConfig()).tolist()
        calls = [(how, pos) for path, how, pos in _CountingCapture.log if path == Path(name).stem]
        reads = [pos for how, pos in calls if how == "read"]
        assert 0 < window[0] and reads == window  # once each, the window's frames only
        assert [pos for how, pos in calls if how == "grab" and pos < window[0]] == \
            list(range(window[0]))  # each frame before the window grabbed (one decode pass)
    frame_shape = _REAL_CAPTURE(str(corpus / CORPUS[0][0])).read()[1].shape
    assert frame_shape not in greys  # crops may be made grey (embedders), frames are not

    greys.clear()
    default = run(write_manifest(tmp_path / "d.yaml", corpus), tmp_path / "out2", opts=INLINE)
    assert all(r["ok"] for r in default.ran) and greys.count(frame_shape) >= 16
