"""In-process section of benchmarks/throughput.py: the vision path vs decode only, per core.

Every frame of the sample clips, clips repeated until ``--frames`` frames, one OpenCV thread
(cv2.setNumThreads(1); FFmpeg keeps its default decoder threads, as emoprep's reader does). Each
path is timed in CPU seconds (time.process_time, all threads; what the other jobs on the machine
inflate least) and wall seconds; ratios are taken on CPU time. The model files
(dlib predictor ~1.4 s, Haar cascade) are loaded once before the timing, as a pipeline worker loads
them once per process; the load time is reported apart.

:func:`components` runs the default path and (a5) once more with a CPU timer around each piece
(decode, grey, MedianFlow, predictor, mesh pass, each detector call by its reason, box maths,
warp) and gives every cost in ms per frame of the corpus, the rest as "other Python";
:func:`micro` measures what a timer cannot separate (the predictor vs the dlib -> numpy
conversion) and the MedianFlow-on-a-region variant that was evaluated and not adopted (not the
same tracker).
"""

from __future__ import annotations

import collections
import functools
import os
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

import cv2
import numpy as np

from benchmarks.throughput_mesh import bound_lines_a5, micro_mesh
from emoprep.io.video import iter_frames
from emoprep.samples import fetch_samples
from emoprep.stages.align import AlignConfig, align_face, alignment_matrix
from emoprep.stages.detect import BlazeFaceConfig, DetectConfig, HaarConfig
from emoprep.stages.landmarks import Dlib68Config, LandmarksBackendConfig, MeshConfig
from emoprep.stages.track import FaceTracker, TrackBackend, TrackConfig
from emoprep.types import FrameStatus, VideoEntry

CLIPS = ["WolfgangLanger_Pexels.mp4", "single_face.mp4"]
FAST = {"detect": HaarConfig(max_width=320), "track": TrackConfig(redetect_every=100)}
MESH = {"landmarks": MeshConfig()}
MESH_BLAZE = {"landmarks": MeshConfig(), "detect": BlazeFaceConfig()}
MESH_BLAZE_FOLLOW = {**MESH_BLAZE, "track": TrackConfig(backend=TrackBackend.LANDMARKS)}
FACE = frozenset({FrameStatus.DETECTED, FrameStatus.TRACKED, FrameStatus.REDETECTED,
                  FrameStatus.MULTI_FACE})


def corpus(n_frames: int) -> list[VideoEntry]:
    """The sample clips, repeated until at least ``n_frames`` frames."""
    root = fetch_samples()
    clips = [VideoEntry(name, str(root / name), "s") for name in CLIPS]
    sizes = [sum(1 for _ in iter_frames(c)) for c in clips]
    out, total, k = [], 0, 0
    while total < n_frames:
        out.append(clips[k % len(clips)])
        total += sizes[k % len(clips)]
        k += 1
    return out


def decode_only(videos: list[VideoEntry]) -> int:
    return sum(1 for v in videos for _ in iter_frames(v))


def emoprep_path(videos: list[VideoEntry], detect: DetectConfig | None = None,
                 track: TrackConfig | None = None,
                 landmarks: LandmarksBackendConfig | None = None) -> int:
    """The vision path as the frame driver (pipeline/driver.py) runs it, without the HDF5
    write: each frame decoded once and tracked (detect, MedianFlow, one landmark pass per tracked
    frame); each row warped into an RGB crop as soon as it is settled, holding only the frames of
    a pending face. Returns the number of crops."""
    acfg, n = AlignConfig(), 0
    for v in videos:
        tracker = FaceTracker(detect or HaarConfig(), track or TrackConfig(),
                              landmarks or Dlib68Config())
        held: collections.deque = collections.deque()
        done = 0

        def emit(upto: int, tracker: FaceTracker = tracker, held: collections.deque = held) -> int:
            nonlocal done
            crops = 0
            while done < upto:
                status, box, lm = tracker.row(done)
                frame = held.popleft()
                if status in FACE:  # as steps/frames.Frames: float32 matrix, then the warp
                    align_face(frame, alignment_matrix(lm, box, acfg).astype(np.float32), acfg)
                    crops += 1
                done += 1
            return crops

        for i, frame in iter_frames(v):
            tracker.step(i, frame)
            held.append(frame)
            n += emit(tracker.settled)
        tracker.finish(25.0)
        n += emit(len(tracker))
    return n


def warm() -> float:
    """Load the predictor and the cascade once (as a worker process does); seconds taken. The
    facemesh bundle is fetched first when missing (``emoprep models fetch facemesh``)."""
    from emoprep.io.models import fetch

    fetch("facemesh")
    t0 = time.perf_counter()
    FaceTracker(HaarConfig(), TrackConfig(), Dlib68Config())
    FaceTracker(BlazeFaceConfig(), TrackConfig(), MeshConfig())
    return time.perf_counter() - t0


def timed(fn: Callable[[list[VideoEntry]], int], videos: list[VideoEntry]) -> dict[str, float]:
    c0, t0 = time.process_time(), time.perf_counter()
    n = fn(videos)
    return {"frames_out": n, "cpu_s": round(time.process_time() - c0, 3),
            "wall_s": round(time.perf_counter() - t0, 3), "load": round(os.getloadavg()[0], 2)}


# -- where the time goes --------------------------------------------------------------------------

class _Timers:
    """CPU timers wrapped around methods for one run; restored afterwards."""

    def __init__(self) -> None:
        self.acc: dict[str, list[float]] = collections.defaultdict(lambda: [0, 0.0])
        self.reason = "search"

    def wrap(self, owner: Any, name: str, label: str | Callable[[], str],
             reason: str | None = None) -> tuple[Any, str, Any]:
        fn = getattr(owner, name)

        @functools.wraps(fn)
        def timed_call(*a: Any, **k: Any) -> Any:
            if reason is not None:
                self.reason = reason
            c = time.process_time()
            try:
                return fn(*a, **k)
            finally:
                if label:
                    cell = self.acc[label() if callable(label) else label]
                    cell[0] += 1
                    cell[1] += time.process_time() - c

        setattr(owner, name, timed_call)
        return owner, name, fn

    @contextmanager
    def installed(self) -> Iterator[_Timers]:
        import emoprep.stages.track as track
        import emoprep.stages.track_landmarks as follow
        from emoprep.stages import tracker
        from emoprep.stages.detect.chain import DetectorChain
        from emoprep.stages.landmarks import dlib68 as landmarks
        from emoprep.stages.landmarks.mesh import FaceMesh

        S = track._Session
        saved = [
            self.wrap(track, "to_grey", "grey conversion (whole frame)"),
            self.wrap(tracker.MedianFlow, "update", "MedianFlow update"),
            self.wrap(tracker.MedianFlow, "__init__", "MedianFlow init"),
            self.wrap(landmarks.Dlib68Landmarker, "predict",
                      "dlib-68 pass (+ conversion to numpy)"),
            self.wrap(FaceMesh, "points", "mesh pass (ROI warp, model, points back)"),
            self.wrap(DetectorChain, "find", lambda: f"detector: {self.reason}"),
            self.wrap(S, "_search", "", "search, no face known (whole frame)"),
            self.wrap(S, "_confirm", "", "confirmation of a new face (whole frame)"),
            self.wrap(S, "_redetect", "", "periodic re-detection (region, else frame)"),
            self.wrap(track, "tracked_failed", "box maths (failure test, follow box)"),
            self.wrap(landmarks, "follow_box", "box maths (failure test, follow box)"),
            self.wrap(landmarks, "hog_box_from_landmarks", "box maths (failure test, follow box)"),
            self.wrap(follow, "box_from", "box maths (failure test, follow box)"),
            self.wrap(track.Rows, "add", "row bookkeeping"),
        ]
        here = sys.modules[__name__]
        saved += [self.wrap(here, "align_face", "warp + RGB (align_face)"),
                  self.wrap(here, "alignment_matrix", "alignment matrix")]
        try:
            yield self
        finally:
            for owner, name, fn in reversed(saved):
                setattr(owner, name, fn)


def components(videos: list[VideoEntry], frames: int, decode_ms: float,
               path: dict[str, Any] | None = None) -> dict[str, Any]:
    """A path (the default, else ``emoprep_path(**path)``) once more with the timers: per cost,
    calls, ms per call, ms per frame."""
    timers = _Timers()
    with timers.installed():
        c0 = time.process_time()
        emoprep_path(videos, **(path or {}))
        total = (time.process_time() - c0) * 1000 / frames
    rows = {k: {"calls": int(n), "ms_per_call": round(s * 1000 / n, 3),
                "ms_per_frame": round(s * 1000 / frames, 3)} for k, (n, s) in timers.acc.items()}
    rows = dict(sorted(rows.items(), key=lambda kv: -kv[1]["ms_per_frame"]))
    known = decode_ms + sum(r["ms_per_frame"] for r in rows.values())
    return {"path_ms_per_frame": round(total, 3), "decode_ms_per_frame": round(decode_ms, 3),
            "costs": rows, "other_python_ms_per_frame": round(total - known, 3),
            "load": round(os.getloadavg()[0], 2)}


def micro(n: int = 200) -> dict[str, float]:
    """On the first ``n`` frames of WolfgangLanger_Pexels.mp4 (640x360, face in every frame): the
    predictor alone vs with the conversion to numpy; MedianFlow on the whole grey frame vs on the
    region x >= 128 (448x360, the box stays inside), and how far the region's boxes drift."""
    import dlib

    from emoprep.stages.landmarks.dlib68 import DEFAULT_MODEL, find_model_file

    v = VideoEntry("w", str(fetch_samples() / CLIPS[0]), "s")
    greys = [cv2.cvtColor(f, cv2.COLOR_BGR2GRAY) for _, f in iter_frames(v, range(n))]
    pred = dlib.shape_predictor(str(find_model_file(DEFAULT_MODEL)))
    rect = dlib.rectangle(300, 20, 600, 330)

    def cpu_ms(fn: Callable[[np.ndarray], Any], imgs: list[np.ndarray]) -> float:
        c = time.process_time()
        for g in imgs:
            fn(g)
        return (time.process_time() - c) * 1000 / len(imgs)

    out = {"dlib_predictor_only": cpu_ms(lambda g: pred(g, rect), greys),
           "dlib_predictor_plus_numpy": cpu_ms(
               lambda g: np.array([(p.x, p.y) for p in pred(g, rect).parts()], np.float32), greys)}
    box = (291.0, 0.0, 330.0, 340.0)

    def medianflow(imgs: list[np.ndarray], b: tuple[float, ...]) -> tuple[float, np.ndarray]:
        t = cv2.legacy.TrackerMedianFlow_create()
        t.init(imgs[0], b)
        rows: list[tuple[float, ...]] = []
        ms = cpu_ms(lambda g: rows.append(t.update(g)[1]), imgs[1:])
        return ms, np.asarray(rows)

    out["medianflow_whole_frame"], whole = medianflow(greys, box)
    ox = 128
    out["medianflow_region_448x360"], part = medianflow(
        [np.ascontiguousarray(g[:, ox:]) for g in greys], (box[0] - ox, *box[1:]))
    part[:, 0] += ox
    diff = np.abs(whole - part).max(axis=1)
    out["medianflow_region_box_diff_px_first"] = float(diff[0])
    out["medianflow_region_box_diff_px_max"] = float(diff.max())
    return {k: round(v, 3) for k, v in out.items()}


def naive_haar(videos: list[VideoEntry], size: int = 160) -> int:
    """Per frame: Haar detection, largest box, crop and resize (no tracking, no landmarks)."""
    from emoprep.stages.detect import make_detector, select_face

    cfg = HaarConfig()
    det, n = make_detector(cfg), 0
    for v in videos:
        for _, frame in iter_frames(v):
            boxes = det.detect(frame)
            if len(boxes):
                x, y, w, h = boxes[select_face(boxes, cfg.select, frame.shape[:2])].astype(int)
                cv2.resize(frame[y: y + h, x: x + w], (size, size))
                n += 1
    return n


def in_process(frames: int, naive: bool) -> tuple[dict, dict, list[str]]:
    """Rows (each path: frames out, CPU s, wall s, input frames/s per core), ratios to decode
    only (CPU), the component breakdown and the markdown lines."""
    videos = corpus(frames)
    total = decode_only(videos)
    load_s = warm()
    paths: list[tuple[str, Callable[[list[VideoEntry]], int]]] = [
        ("c_decode_only", decode_only), ("a_emoprep_default", emoprep_path),
        ("a2_emoprep_fast_settings", lambda v: emoprep_path(v, **FAST)),
        ("a3_emoprep_mesh_landmarks", lambda v: emoprep_path(v, **MESH)),
        ("a4_emoprep_blazeface_mesh", lambda v: emoprep_path(v, **MESH_BLAZE)),
        ("a5_emoprep_blazeface_mesh_landmark_tracking",
         lambda v: emoprep_path(v, **MESH_BLAZE_FOLLOW))]
    if naive:
        paths.append(("b_naive_haar_per_frame", naive_haar))
    rows: dict[str, Any] = {}
    for label, fn in paths:
        r = timed(fn, videos)
        rows[label] = {**r, "frames_in": total, "fps_per_core": round(total / r["cpu_s"], 1),
                       "ms_per_frame_cpu": round(r["cpu_s"] * 1000 / total, 3)}
    dec = rows["c_decode_only"]["ms_per_frame_cpu"]
    ratios = {f"{k}_over_c": round(dec / v["ms_per_frame_cpu"], 3) for k, v in rows.items()}
    comp = components(videos, total, dec)
    comp5 = components(videos, total, dec, MESH_BLAZE_FOLLOW)
    mic, mic5 = micro(), micro_mesh(MESH_BLAZE_FOLLOW)
    rows.update(components=comp, components_a5=comp5, micro=mic, micro_mesh=mic5,
                model_load_s=round(load_s, 2))
    lines = [f"### In process: {len(videos)} clips, {total} frames (sample clips repeated), one "
             "OpenCV thread (FFmpeg decodes with its default threads, as emoprep's reader), "
             "models loaded before the timing (load: {:.2f} s once per process)"
             .format(load_s), "",
             "| path | input frames/s per core (CPU) | ms/frame CPU | CPU s | wall s | frames out "
             "| / decode (CPU) | load avg |", "|---|---|---|---|---|---|---|---|"]
    lines += [f"| {k} | {v['fps_per_core']} | {v['ms_per_frame_cpu']} | {v['cpu_s']} | "
              f"{v['wall_s']} | {v['frames_out']} | {ratios[k + '_over_c']} | {v['load']} |"
              for k, v in rows.items() if k in dict(paths)]
    lines += ["", "(a) the pipeline's vision path (one decode; detect, confirm, MedianFlow, "
              "periodic re-detection, one dlib-68 pass per tracked frame, eye alignment + warp); "
              "(a2) (a) with detect.max_width 320 and track.redetect_every 100 (different "
              "results, a user setting); (a3) (a) with landmarks.backend mesh; (a4) (a3) with "
              "detect.backend blazeface; (a5) (a4) with track.backend landmarks (no MedianFlow: "
              "the previous frame's mesh points give the next ROI, the mesh's face score decides "
              "a loss; no grey conversion). Target (a5)/(c) >= 0.3 (the fast landmark backend).",
              ""]
    lines += cost_lines("(a)", comp, total) + bound_lines(comp, mic)
    lines += cost_lines("(a5)", comp5, total) + bound_lines_a5(comp5, mic5)
    return rows, ratios, lines


def cost_lines(label: str, comp: dict[str, Any], total: int) -> list[str]:
    """The markdown table of one :func:`components` result."""
    dec = comp["decode_ms_per_frame"]
    lines = [f"#### Where {label}'s CPU time goes (ms per input frame, load {comp['load']})", "",
             "| cost | calls | ms per call | ms per frame |", "|---|---|---|---|",
             f"| decode (decode-only run) | {total} | {dec} | {dec} |"]
    lines += [f"| {k} | {r['calls']} | {r['ms_per_call']} | {r['ms_per_frame']} |"
              for k, r in comp["costs"].items()]
    return lines + [
        f"| other Python (loop, rows, settling) | | | {comp['other_python_ms_per_frame']} |",
        f"| **total (timed run)** | | | {comp['path_ms_per_frame']} |", ""]


def bound_lines(comp: dict[str, Any], mic: dict[str, float]) -> list[str]:
    """What bounds (a)/(c), from the measured costs."""
    c, dec = comp["costs"], comp["decode_ms_per_frame"]

    def ms(key: str) -> float:
        return sum(r["ms_per_frame"] for k, r in c.items() if k.startswith(key))

    lmk, mf, haar = ms("dlib-68"), ms("MedianFlow"), ms("detector")
    rest = comp["path_ms_per_frame"] - dec - lmk - mf - haar
    return [
        f"What bounds the ratio: of {comp['path_ms_per_frame']} ms per frame, decode is {dec}, "
        f"the dlib-68 pass {lmk:.2f}, MedianFlow {mf:.2f}, Haar (detections, confirmations, "
        f"periodic re-detections) {haar:.2f}, everything else {rest:.2f}. With everything but "
        f"decode and the dlib-68 pass free the ratio would be {dec / (dec + lmk):.2f}; with "
        f"MedianFlow too {dec / (dec + lmk + mf):.2f}; with Haar as well "
        f"{dec / (dec + lmk + mf + haar):.2f}.",
        f"Micro-measurements (200 frames of WolfgangLanger_Pexels.mp4, CPU ms per call): {mic}. "
        "The dlib -> numpy conversion (68 pybind point objects) is the difference of the first "
        "two; MedianFlow on a 448x360 region is cheaper but not the same tracker (boxes differ "
        "after the first update and drift apart), so the pipeline keeps the whole frame.", ""]
