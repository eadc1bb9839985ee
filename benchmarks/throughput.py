"""Aligned frames per second per core: emoprep's detect-once-then-track path vs the naive per-frame
Haar crop of the source thesis vs decode only (the ceiling).

    python benchmarks/throughput.py [--frames 3000]

Every frame of the sample clips with a face is used, clips repeated until --frames frames; one
thread (cv2.setNumThreads(1)). Writes benchmarks/results/throughput.{json,md}.
Targets: (a) >= 4x (b) and (a) >= 0.3x (c).
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import cv2

if __package__ in (None, ""):  # run as a file (python benchmarks/x.py): make the repo importable
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from benchmarks.common import write_result  # noqa: E402
from emoprep.samples import fetch_samples
from emoprep.stages.align import AlignConfig, align_face, align_geometry
from emoprep.stages.detect import DetectConfig, make_detector, select_face
from emoprep.stages.landmarks import LandmarksConfig
from emoprep.stages.track import TrackConfig, track_faces
from emoprep.types import FrameStatus, VideoEntry
from emoprep.io.video import iter_frames

CLIPS = ["WolfgangLanger_Pexels.mp4", "single_face.mp4"]


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
    n = 0
    for v in videos:
        for _ in iter_frames(v):
            n += 1
    return n


def naive_haar(videos: list[VideoEntry], size: int = 160) -> int:
    """Per frame: Haar detection, largest box, crop and resize (no tracking, no landmarks)."""
    cfg = DetectConfig()
    det = make_detector(cfg)
    n = 0
    for v in videos:
        for _, frame in iter_frames(v):
            boxes = det.detect(frame)
            if len(boxes):
                x, y, w, h = boxes[select_face(boxes, cfg.select, frame.shape[:2])].astype(int)
                cv2.resize(frame[y : y + h, x : x + w], (size, size))
                n += 1
    return n


def emoprep_path(videos: list[VideoEntry], detect: DetectConfig | None = None, track: TrackConfig | None = None,
                 landmarks: LandmarksConfig | None = None) -> int:
    """As the pipeline runs it: the track stage decodes and tracks (detect once, MedianFlow with
    re-detection, dlib 68 landmarks), then the frames stage decodes again and aligns."""
    acfg = AlignConfig()
    n = 0
    for v in videos:
        geom = track_faces(iter_frames(v), 25.0, detect or DetectConfig(), track or TrackConfig(),
                           landmarks or LandmarksConfig())
        mats = align_geometry(geom, acfg)
        face = FrameStatus.has_face(geom.status)
        for (_, frame), m, ok in zip(iter_frames(v, geom.frame_index), mats, face, strict=True):
            if ok:
                align_face(frame, m, acfg)
                n += 1
    return n


def single_pass(videos: list[VideoEntry], detect: DetectConfig | None = None, track: TrackConfig | None = None,
                landmarks: LandmarksConfig | None = None) -> int:
    """The same vision path with one decode: frames kept in a short buffer between track and align."""
    acfg = AlignConfig()
    n = 0
    for v in videos:
        buf: list = []

        def frames(v: VideoEntry = v, buf: list = buf):
            for i, f in iter_frames(v):
                buf.append(f)
                yield i, f

        geom = track_faces(frames(), 25.0, detect or DetectConfig(), track or TrackConfig(),
                           landmarks or LandmarksConfig())
        face = FrameStatus.has_face(geom.status)
        for frame, m, ok in zip(buf, align_geometry(geom, acfg), face, strict=True):
            if ok:
                align_face(frame, m, acfg)
                n += 1
    return n


FAST = {"detect": DetectConfig(max_width=320), "track": TrackConfig(redetect_every=100),
        "landmarks": LandmarksConfig(refine=0)}


def timed(fn, videos) -> tuple[int, float]:
    t0 = time.perf_counter()
    n = fn(videos)
    return n, time.perf_counter() - t0


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--frames", type=int, default=3000)
    args = ap.parse_args()
    cv2.setNumThreads(1)
    videos = corpus(args.frames)
    total = decode_only(videos)
    rows = {}
    paths = (("c_decode_only", decode_only), ("b_naive_haar_per_frame", naive_haar),
             ("a_emoprep_track", emoprep_path), ("a1_single_decode", single_pass),
             ("a2_single_decode_fast_settings", lambda v: single_pass(v, **FAST)))
    for label, fn in paths:
        n, sec = timed(fn, videos)
        rows[label] = {"frames_out": n, "frames_in": total, "seconds": round(sec, 3),
                       "fps_per_core": round(total / sec, 1)}
    a, b, c = (rows[k]["fps_per_core"] for k in ("a_emoprep_track", "b_naive_haar_per_frame", "c_decode_only"))
    ratios = {"a_over_b": round(a / b, 2), "a_over_c": round(a / c, 3)}
    lines = [f"corpus: {len(videos)} clips, {total} frames (sample clips repeated)", "",
             "| path | input frames/s per core | frames out | seconds |", "|---|---|---|---|"]
    lines += [f"| {k} | {v['fps_per_core']} | {v['frames_out']} | {v['seconds']} |" for k, v in rows.items()]
    for k in ("a1_single_decode", "a2_single_decode_fast_settings"):
        ratios[f"{k}_over_c"] = round(rows[k]["fps_per_core"] / c, 3)
    lines += ["", f"(a)/(b) = {ratios['a_over_b']} (target >= 4); (a)/(c) = {ratios['a_over_c']} (target >= 0.3)",
              f"(a1)/(c) = {ratios['a1_single_decode_over_c']}; (a2)/(c) = "
              f"{ratios['a2_single_decode_fast_settings_over_c']}",
              "", "(a) is the pipeline as staged: track decodes and tracks, frames decodes again and aligns.",
              "(a1) is the same vision path decoding once. (a2) adds detect.max_width 320, "
              "track.redetect_every 100, landmarks.refine 0.",
              "", "command: python benchmarks/throughput.py --frames " + str(args.frames)]
    write_result("throughput", {"rows": rows, "ratios": ratios, "frames": args.frames}, lines)


if __name__ == "__main__":
    main()
