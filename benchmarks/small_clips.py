"""CREMA-D-shaped clips (issue 22, item 5): the per-clip overhead of ``emoprep run`` over the
vision work it does, both as whole processes.

    python -m benchmarks.small_items --clips N   (this module does the work)

The clips: ``N`` clips of :data:`CLIP_FRAMES` frames (2.5 s at 30 fps) at 320x240, cut from the
sample clips' frames (each clip starts at another frame of the pool, odd clips mirrored, so no
two are equal), written with OpenCV's mp4v, listed in a ``videos.csv`` with a subject and an
emotion. The settings are emoprep's defaults (Haar detector, MedianFlow, dlib68 landmarks, eye
alignment, landmark AUs) with ``window.mode: all`` (every frame is vision work), one hog
embedder, ``batch.enabled: true`` (a 75-frame clip is a small item).

The vision work, timed apart (:func:`vision`), is a whole process too: each clip decoded once
with OpenCV, then the stage functions emoprep calls, in-process, on the same frames and
settings: :class:`~emoprep.stages.track.FaceTracker` (detect, track, landmarks), the alignment
(:func:`~emoprep.stages.align.row_matrix`, :func:`~emoprep.stages.align.align_face`), the AU
values and trim score, the head pose, the hog features (:func:`~emoprep.stages.embed.base.
embed_frames`); nothing written. Its CPU time includes Python's start, the imports it needs and
the model loads, as emoprep's does. Overhead = emoprep's CPU minus the vision process's CPU,
as a percentage of the latter (issue 22's target: <= 10 %).

Where the overhead goes (:func:`split`): each process also runs on the first two clips alone
(two subjects: the split needs them), so each is a fixed cost plus a cost per clip (a line
through the two runs). The overhead per clip splits into the crops' compression, measured on the
run's own crops (:func:`codecs`: ms per crop and ratio of zlib level 1 as h5py's gzip filter did
it, and of libdeflate as :mod:`emoprep.io.chunks` does it now), and the rest (the frame driver,
the steps beyond the stage functions, records, the other writes); the fixed overhead (start-up,
imports, splits, the index) is spread over the clips. The two processes do the same vision
work: a profile of 30 clips (``python -m cProfile`` of each) counts the same calls of the dlib
predictor (2,299), the Haar cascade (115), the tracker update (2,204), solvePnP, warpAffine and
HOG (2,232).
"""

from __future__ import annotations

import sys
import time
from pathlib import Path
from typing import Any

CLIP_FRAMES = 75
FPS = 30.0
SIZE = (320, 240)
EMOTIONS = ("happy", "sad", "neutral", "angry", "fear", "disgust")


def make_clips(root: Path, n: int) -> Path:
    """``n`` clips of :data:`CLIP_FRAMES` frames and their ``videos.csv`` (path, video_id,
    subject, emotion); 91 subjects as CREMA-D."""
    import cv2

    from emoprep.samples import fetch_samples

    root.mkdir(parents=True, exist_ok=True)
    pool = []
    for name in ("WolfgangLanger_Pexels.mp4", "single_face.mp4"):
        cap = cv2.VideoCapture(str(fetch_samples() / name))
        while True:
            ok, frame = cap.read()
            if not ok:
                break
            pool.append(cv2.resize(frame, SIZE, interpolation=cv2.INTER_AREA))
        cap.release()
    lines = ["path,video_id,subject,emotion"]
    for i in range(n):
        start = (i * 37) % (len(pool) - CLIP_FRAMES)
        name = f"c{i:05d}"
        path = root / f"{name}.mp4"
        out = cv2.VideoWriter(str(path), cv2.VideoWriter.fourcc(*"mp4v"), FPS, SIZE)
        for frame in pool[start:start + CLIP_FRAMES]:
            out.write(cv2.flip(frame, 1) if i % 2 else frame)
        out.release()
        lines.append(f"{path},{name},s{i % 91:03d},{EMOTIONS[i % len(EMOTIONS)]}")
    csv = root / "videos.csv"
    csv.write_text("\n".join(lines) + "\n")
    return csv


def clip_manifest(path: Path, csv: Path) -> Path:
    import yaml

    path.write_text(yaml.safe_dump({
        "videos": {"root": str(csv.parent), "csv": str(csv)},
        "stages": {"window": {"mode": "all"}, "embed": {"hog": {"type": "hog"}},
                   "split": {"folds": 2, "test_fraction": 0.0}}}))
    return path


def vision(manifest: Path, limit: int | None = None) -> dict[str, float]:
    """The vision work of every clip of ``manifest`` (the first ``limit``, if given; 0: the
    imports and model loads alone) in this process (see the module's text); returns frames and
    faces seen and the seconds of CPU this function used."""
    import cv2
    import numpy as np

    from emoprep.pipeline.manifest import discover_videos, load_manifest
    from emoprep.stages.align import align_face, row_matrix
    from emoprep.stages.au import compute_au
    from emoprep.stages.au.trim import trim_score
    from emoprep.stages.embed.base import embed_frames
    from emoprep.stages.headpose import head_pose
    from emoprep.stages.instances import built
    from emoprep.stages.track import FaceTracker
    from emoprep.types import FrameStatus

    cv2.setNumThreads(1)
    t0 = time.process_time()
    m = load_manifest(manifest)
    s = m.stages.with_model_paths(manifest.parent)
    frames_seen = faces = 0
    built(next(iter(s.embed.values())))  # the models load whatever the limit
    FaceTracker(s.detect, s.track, s.landmarks)
    for entry in discover_videos(m).videos[:limit]:
        cap, frames = cv2.VideoCapture(entry.path), []
        tracker = FaceTracker(s.detect, s.track, s.landmarks)
        while True:
            ok, frame = cap.read()
            if not ok:
                break
            tracker.step(len(frames), frame)
            frames.append(frame)
        cap.release()
        geom = tracker.finish(FPS).geometry
        face = FrameStatus.has_face(geom.status)
        blank = np.zeros((s.align.size, s.align.size, 3), np.uint8)
        crops = [align_face(f, row_matrix(geom.boxes[k], geom.landmarks[k], s.align), s.align)
                 if face[k] else blank for k, f in enumerate(frames)]
        res = compute_au(geom, entry, s.au, Path(entry.path).parent)
        trim_score(res.values, res.names)
        head_pose(geom.landmarks, *frames[0].shape[1::-1])
        for ecfg in s.embed.values():
            embed_frames(built(ecfg), crops, None, face, getattr(ecfg, "batch_size", 64))
        frames_seen, faces = frames_seen + len(frames), faces + int(face.sum())
    return {"frames": frames_seen, "faces": faces, "cpu_s": time.process_time() - t0}


def codecs(pack: Path, n: int = 300) -> dict[str, dict[str, float]]:
    """CPU ms per crop and compression ratio of the first ``n`` crops of a pack's
    ``data/frames``: zlib level 1 (what HDF5's gzip filter ran through h5py before) and
    libdeflate at the level :mod:`emoprep.io.chunks` uses for store level 1 (now)."""
    import zlib

    import deflate
    import h5py
    import numpy as np

    from emoprep.io.chunks import fast_level

    with h5py.File(pack, "r") as f:
        crops = [np.ascontiguousarray(c) for c in f["data/frames"][:n]]
    level = fast_level("gzip", 1, False, 1)
    out = {}
    for name, fn in (("zlib 1 (h5py, before)", lambda c: zlib.compress(c, 1)),
                     (f"libdeflate {level} (now)", lambda c: deflate.zlib_compress(c, level))):
        t0 = time.process_time()
        size = sum(len(fn(c)) for c in crops)
        ms = 1000 * (time.process_time() - t0) / len(crops)
        out[name] = {"ms_per_crop": round(ms, 3),
                     "ratio": round(sum(c.nbytes for c in crops) / size, 3)}
    return out


def split(n: int, runs: dict[str, dict[str, Any]], out: Path
          ) -> tuple[dict[str, Any], list[str]]:
    """The result of ``--clips N`` (``runs``: CPU and wall of each process; ``out``: emoprep's
    output folder): the overhead, and the split of the module's text, per clip."""
    import os

    for k, r in runs.items():  # the runs of the first two clips: per clip of those two
        r["cpu_ms_per_clip"] = round(1000 * r["cpu_s"] / (2 if "2 clips" in k else n), 1)
    c_vis, f_vis = _line(runs["vision work"]["cpu_s"], runs["vision work, 2 clips"]["cpu_s"], n)
    c_emo, f_emo = _line(runs["emoprep batched"]["cpu_s"],
                         runs["emoprep batched, 2 clips"]["cpu_s"], n)
    over_ms = 1000 * (runs["emoprep batched"]["cpu_s"] - runs["vision work"]["cpu_s"]) / n
    codec = codecs(next((out / "frames" / "packs").glob("*.h5")))
    now = next(v for k, v in codec.items() if "now" in k)
    parts = {"per clip: crop compression (libdeflate, measured per crop)":
             CLIP_FRAMES * now["ms_per_crop"]}
    parts["per clip: the rest (frame driver, steps beyond the stage functions, records, other "
          "writes)"] = 1000 * (c_emo - c_vis) - parts[next(iter(parts))]
    parts[f"fixed (start-up, imports, splits, index), {1000 * (f_emo - f_vis):.0f} ms over "
          f"{n} clips"] = 1000 * (f_emo - f_vis) / n
    pct = 100 * over_ms / runs["vision work"]["cpu_ms_per_clip"]
    load = os.getloadavg()[0]
    lines = [f"{n} clips of {CLIP_FRAMES} frames (320x240, 30 fps, mp4v), emoprep's defaults "
             "(haar, medianflow, dlib68, eye alignment, landmark AUs), window.mode all, hog, "
             "`batch.enabled: true`, `--workers 0`; CPU = user + system of the whole process",
             "", "| run | CPU s | CPU ms / clip | wall s |", "|---|---|---|---|"]
    lines += [f"| {k} | {r['cpu_s']} | {r['cpu_ms_per_clip']} | {r['wall_s']} |"
              for k, r in runs.items()]
    lines += ["", f"per-clip overhead: {over_ms:.1f} ms CPU = {pct:.1f} % of the vision work "
              "(issue 22's target: <= 10 %)", "", "| where the overhead goes | ms / clip |",
              "|---|---|"]
    lines += [f"| {k} | {v:.1f} |" for k, v in parts.items()]
    lines += ["", "| crop codec (first 300 crops of the run) | ms / crop | ratio |",
              "|---|---|---|"]
    lines += [f"| {k} | {v['ms_per_crop']} | {v['ratio']} |" for k, v in codec.items()]
    lines += ["", "vision work: the same clips decoded once and put through the stage functions "
              "emoprep calls, in one process, nothing written (benchmarks/small_clips.py)",
              f"load average when it ended: {load:.1f} on {os.cpu_count()} cores"]
    data = {"runs": runs, "overhead_ms_per_clip": round(over_ms, 1),
            "overhead_pct": round(pct, 1), "split_ms_per_clip": {k: round(v, 1)
                                                                 for k, v in parts.items()},
            "codecs": codec, "load_average": load}
    return data, lines


def _line(cpu_n: float, cpu_2: float, n: int) -> tuple[float, float]:
    """CPU seconds per clip and fixed, from whole runs of ``n`` clips and of the first 2."""
    per = (cpu_n - cpu_2) / max(1, n - 2)
    return per, cpu_2 - 2 * per


if __name__ == "__main__":  # python -m benchmarks.small_clips MANIFEST [LIMIT]: the vision process
    print(vision(Path(sys.argv[1]), int(sys.argv[2]) if len(sys.argv) > 2 else None))
