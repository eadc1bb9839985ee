"""Per-frame cost and face-found rate of each detector backend on the sample clips.

    python benchmarks/detectors.py [--stride 4] [--mmod-stride 4]

Every ``--stride``-th frame of each sample clip (a few hundred frames in all) goes through haar,
mtcnn (frame by frame and batched), dlib_hog, dlib_mmod and BlazeFace (short and full range) with
their default settings, one thread (cv2, torch, LiteRT). dlib_mmod is slow on CPU, so it sees every
``--mmod-stride``-th of those frames.
"Found" is the share of frames with at least one box; the clips have no labels, so for clips with a
face it is a recall proxy and for no_face.mp4 it counts false detections.
Writes benchmarks/results/detectors.{json,md}.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path
from typing import Any

import cv2
import numpy as np

if __package__ in (None, ""):  # run as a file (python benchmarks/x.py): make the repo importable
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from benchmarks.common import write_result  # noqa: E402
from emoprep.io.video import iter_frames  # noqa: E402
from emoprep.samples import fetch_samples  # noqa: E402
from emoprep.stages.detect import (  # noqa: E402
    BlazeFaceConfig,
    DetectorConfig,
    DlibHogConfig,
    DlibMmodConfig,
    HaarConfig,
    MtcnnConfig,
)
from emoprep.types import VideoEntry  # noqa: E402

CLIPS = ["WolfgangLanger_Pexels.mp4", "single_face.mp4", "face_noface.mov", "noface_face.mov",
         "no_face.mp4"]
BATCH = 16


def sample_frames(stride: int) -> dict[str, list[np.ndarray]]:
    """Every ``stride``-th frame of each sample clip, BGR uint8."""
    root = fetch_samples()
    out = {}
    for name in CLIPS:
        entry = VideoEntry(name, str(root / name), "s")
        out[name] = [f for i, f in iter_frames(entry) if i % stride == 0]
    return out


def run_single(
    cfg: DetectorConfig, clips: dict[str, list[np.ndarray]], every: int
) -> dict[str, Any]:
    """Time ``detect`` frame by frame (after one warm-up call); found rate per clip."""
    det = cfg.make()
    det.detect(next(iter(clips.values()))[0])
    found, wall, cpu, n = {}, 0.0, 0.0, 0
    for name, frames in clips.items():
        frames = frames[::every]
        t0, c0 = time.perf_counter(), time.process_time()
        hits = sum(len(det.detect(f)) > 0 for f in frames)
        wall, cpu = wall + time.perf_counter() - t0, cpu + time.process_time() - c0
        n += len(frames)
        found[name] = round(hits / len(frames), 3)
    return _row(n, wall, cpu, found)


def _row(n: int, wall: float, cpu: float, found: dict[str, float]) -> dict[str, Any]:
    return {"frames": n, "cpu_ms_per_frame": round(1000 * cpu / n, 1),
            "wall_ms_per_frame": round(1000 * wall / n, 1), "found": found}


def run_batched(cfg: MtcnnConfig, clips: dict[str, list[np.ndarray]]) -> dict[str, Any]:
    """Time ``detect_batch`` over batches of :data:`BATCH` frames of one clip."""
    det = cfg.make()
    found, wall, cpu, n = {}, 0.0, 0.0, 0
    for name, frames in clips.items():
        t0, c0 = time.perf_counter(), time.process_time()
        hits = sum(len(f.boxes) > 0 for s in range(0, len(frames), BATCH)
                   for f in det.detect_batch(frames[s:s + BATCH]))
        wall, cpu = wall + time.perf_counter() - t0, cpu + time.process_time() - c0
        n += len(frames)
        found[name] = round(hits / len(frames), 3)
    return _row(n, wall, cpu, found)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--stride", type=int, default=4, help="use every N-th frame of each clip")
    ap.add_argument("--mmod-stride", type=int, default=8, help="dlib_mmod: every N-th of those")
    args = ap.parse_args()
    import torch

    cv2.setNumThreads(1)
    torch.set_num_threads(1)
    clips = sample_frames(args.stride)
    rows: dict[str, dict[str, Any]] = {
        "haar": run_single(HaarConfig(), clips, 1),
        "mtcnn": run_single(MtcnnConfig(device="cpu"), clips, 1),
        f"mtcnn_batch{BATCH}": run_batched(MtcnnConfig(device="cpu", batch_size=BATCH), clips),
        "dlib_hog": run_single(DlibHogConfig(), clips, 1),
        "dlib_mmod": run_single(DlibMmodConfig(), clips, args.mmod_stride),
        "blazeface_short": run_single(BlazeFaceConfig(range="short"), clips, 1),
        "blazeface_full": run_single(BlazeFaceConfig(range="full"), clips, 1),
    }
    sizes = {name: f"{frames[0].shape[1]}x{frames[0].shape[0]}" for name, frames in clips.items()}
    head = (
        "| detector | frames | CPU ms/frame | wall ms/frame | "
        + " | ".join(c.rsplit(".", 1)[0] for c in CLIPS)
        + " |"
    )
    lines = [f"clips (every {args.stride}th frame): "
             + ", ".join(f"{c} {sizes[c]} ({len(clips[c])} frames)" for c in CLIPS), "",
             "found = share of frames with at least one box (no_face: false detections)", "",
             head, "|" + "---|" * (4 + len(CLIPS))]
    for name, r in rows.items():
        lines.append(
            f"| {name} | {r['frames']} | {r['cpu_ms_per_frame']} | {r['wall_ms_per_frame']} | "
            + " | ".join(f"{r['found'][c]:.2f}" for c in CLIPS)
            + " |"
        )
    lines += [
        "",
        "defaults: haar min_size 60; mtcnn min_size 40, thresholds 0.6/0.7/0.7, factor "
        "0.709, CPU; dlib_hog / dlib_mmod upsample 0; blazeface min_score 0.5, weighted NMS "
        "IoU 0.3 (LiteRT interpreter). One thread (cv2, torch; dlib is "
        "single-threaded). CPU ms is this process's CPU time, which a shared machine does not "
        "inflate; wall ms is what a user waits on this machine at the time of the run.",
        "",
        f"command: python benchmarks/detectors.py --stride {args.stride} "
        f"--mmod-stride {args.mmod_stride}",
    ]
    write_result("detectors", {"stride": args.stride, "mmod_stride": args.mmod_stride,
                               "sizes": sizes, "rows": rows}, lines)


if __name__ == "__main__":
    main()
