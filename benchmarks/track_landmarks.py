"""``track.backend: landmarks`` against MedianFlow on every frame of the sample clips.

    python -m benchmarks.track_landmarks

Per clip, four tracking set-ups: the default (Haar, MedianFlow, dlib68: the reference), the mesh
with MedianFlow (Haar), and the mesh following itself (``track.backend: landmarks``) after Haar
and after BlazeFace detections. Reported: frames with a face, frames where the reference has a
face and the set-up has none (and the reverse); the eye-centre difference between the two mesh
set-ups with Haar (% of the inter-ocular distance); and the alignment check of
tests/stages/landmarks/test_mesh.py on every aligned crop: dlib's HOG detector and predictor find
the eyes again on the crop, and the crop counts as level when the eye line lies within 2 degrees
and the eye distance within 5 % of the set one (crops where HOG finds no face are not checked).
Writes benchmarks/results/track_landmarks.{json,md}.
"""

from __future__ import annotations

import math
import os
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np

if __package__ in (None, ""):
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from benchmarks.common import write_result  # noqa: E402
from emoprep.io.video import iter_frames  # noqa: E402
from emoprep.samples import fetch_samples  # noqa: E402
from emoprep.stages.align import AlignConfig, align_face, align_geometry, eye_centers  # noqa: E402
from emoprep.stages.detect import BlazeFaceConfig, HaarConfig  # noqa: E402
from emoprep.stages.landmarks import Dlib68Config, MeshConfig, make_landmarker  # noqa: E402
from emoprep.stages.track import TrackBackend, TrackConfig, track_faces  # noqa: E402
from emoprep.types import FrameStatus, Geometry, VideoEntry  # noqa: E402

CLIPS = ["single_face.mp4", "WolfgangLanger_Pexels.mp4", "face_noface.mov", "noface_face.mov",
         "no_face.mp4"]
FOLLOW = TrackConfig(backend=TrackBackend.LANDMARKS)
SETUPS = {"medianflow_dlib68_haar": (HaarConfig(), TrackConfig(), Dlib68Config()),
          "medianflow_mesh_haar": (HaarConfig(), TrackConfig(), MeshConfig()),
          "landmarks_mesh_haar": (HaarConfig(), FOLLOW, MeshConfig()),
          "landmarks_mesh_blazeface": (BlazeFaceConfig(), FOLLOW, MeshConfig())}


class LevelCheck:
    """dlib HOG + predictor on a crop: (checked, eye line within 2 degrees, eye distance within
    5 %) per crop."""

    def __init__(self) -> None:
        import dlib

        self.hog, self.pred = dlib.get_frontal_face_detector(), \
            make_landmarker(Dlib68Config(refine=0))
        self.cfg = AlignConfig()

    def __call__(self, crop_rgb: np.ndarray) -> tuple[bool, bool, bool]:
        import cv2

        grey = cv2.cvtColor(crop_rgb, cv2.COLOR_RGB2GRAY)
        rects = self.hog(grey, 1)
        if not rects:
            return False, False, False
        r = max(rects, key=lambda r: r.area())
        left, right = eye_centers(self.pred(grey, np.array([r.left(), r.top(), r.width(),
                                                             r.height()])))
        tilt = math.degrees(math.atan2(right[1] - left[1], right[0] - left[0]))
        dist = math.hypot(*(right - left)) / (self.cfg.eye_distance * self.cfg.size)
        return True, abs(tilt) <= 2.0, abs(dist - 1.0) <= 0.05


def level(frames: list[np.ndarray], geom: Geometry, check: LevelCheck) -> dict[str, int]:
    """Crops checked, level (both criteria), and passing each criterion, among the frames with a
    face."""
    n = {"crops_checked": 0, "crops_level": 0, "eye_line_ok": 0, "eye_distance_ok": 0}
    mats = align_geometry(geom, check.cfg)
    for frame, m, face in zip(frames, mats, FrameStatus.has_face(geom.status), strict=True):
        if face:
            c, tilt, dist = check(align_face(frame, m, check.cfg))
            n["crops_checked"] += c
            n["crops_level"] += tilt and dist
            n["eye_line_ok"] += tilt
            n["eye_distance_ok"] += dist
    return n


def clip_rows(name: str, check: LevelCheck) -> dict[str, Any]:
    entry = VideoEntry(name, str(fetch_samples() / name), "s")
    pairs = list(iter_frames(entry))
    frames = [f for _, f in pairs]
    geoms, rows = {}, {}
    for label, (det, trk, lmk) in SETUPS.items():
        c0 = time.process_time()
        geoms[label] = g = track_faces(pairs, 25.0, det, trk, lmk)
        rows[label] = {"cpu_ms_per_frame": round((time.process_time() - c0) * 1000 / len(g), 2),
                       "faces": int(FrameStatus.has_face(g.status).sum()),
                       **level(frames, g, check)}
    ref = FrameStatus.has_face(geoms["medianflow_dlib68_haar"].status)
    for label, g in geoms.items():
        face = FrameStatus.has_face(g.status)
        rows[label].update(missing=int((ref & ~face).sum()), extra=int((face & ~ref).sum()))
    a, b = geoms["landmarks_mesh_haar"].landmarks, geoms["medianflow_mesh_haar"].landmarks
    both = np.isfinite(a).all(axis=(1, 2)) & np.isfinite(b).all(axis=(1, 2))
    if both.any():
        iod = np.linalg.norm(b[both, 42:48].mean(1) - b[both, 36:42].mean(1), axis=1)
        eye = np.maximum(*(np.linalg.norm(a[both, k:k + 6].mean(1) - b[both, k:k + 6].mean(1),
                                          axis=1) for k in (36, 42))) / iod
        rows["eye_centre_pct_landmarks_vs_medianflow_mesh"] = {
            "mean": round(100 * float(eye.mean()), 2), "max": round(100 * float(eye.max()), 2)}
    return {"frames": len(pairs), **rows}


def main() -> None:
    import cv2

    cv2.setNumThreads(1)
    check = LevelCheck()
    data = {c: clip_rows(c, check) for c in CLIPS}
    lines = ["| clip | frames | set-up | faces | missing / extra vs default | crops level / "
             "checked | eye line ok | eye distance ok | CPU ms/frame |",
             "|---|---|---|---|---|---|---|---|---|"]
    for clip, r in data.items():
        for label in SETUPS:
            s = r[label]
            lines.append(f"| {clip} | {r['frames']} | {label} | {s['faces']} | {s['missing']} / "
                         f"{s['extra']} | {s['crops_level']} / {s['crops_checked']} | "
                         f"{s['eye_line_ok']} | {s['eye_distance_ok']} | "
                         f"{s['cpu_ms_per_frame']} |")
    eyes = {c: r.get("eye_centre_pct_landmarks_vs_medianflow_mesh") for c, r in data.items()}
    lines += ["", "default = medianflow_dlib68_haar (Haar, MedianFlow, dlib68). Level: the eye "
              "line found again on the crop (dlib HOG + predictor) within 2 degrees and the eye "
              "distance within 5 %. Eye-centre difference, landmark tracking vs MedianFlow, both "
              f"with the mesh and Haar (% of the inter-ocular distance, mean / max): {eyes}.", "",
              f"load average at the end: {os.getloadavg()[0]:.1f} on {os.cpu_count()} cores "
              "(CPU ms are this process's; other jobs inflate them less than wall time)", "",
              "command: python -m benchmarks.track_landmarks"]
    write_result("track_landmarks", data, lines)


if __name__ == "__main__":
    main()
