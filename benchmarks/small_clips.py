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
"""

from __future__ import annotations

import sys
import time
from pathlib import Path

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


def vision(manifest: Path) -> dict[str, float]:
    """The vision work of every clip of ``manifest`` in this process (see the module's text);
    returns frames and faces seen and the seconds of CPU this function used."""
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
    for entry in discover_videos(m).videos:
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


if __name__ == "__main__":  # python -m benchmarks.small_clips MANIFEST: the vision process
    print(vision(Path(sys.argv[1])))
