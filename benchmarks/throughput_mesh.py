"""What bounds path (a5) of benchmarks/throughput.py (BlazeFace + mesh + ``track.backend:
landmarks``) against decode only: the mesh pass taken apart on real frames.

:func:`micro_mesh` runs the a5 tracker over the first ``n`` frames of WolfgangLanger_Pexels.mp4
(640x360, a face in every frame), records each mesh pass's frame and ROI, then times, in CPU ms
per call (one thread): the model alone on one input over and over (the figure of issue 24), the
whole pass on the held frames (cache-cold frames, as after a decode), the ROI warp alone on the
held frames and on one frame over and over, the aligned-crop warp (align_face) likewise, and the
decode of the same frames with FFmpeg's default threads and with one. :func:`bound_lines_a5`
turns these and the per-cost table of (a5) into what the ratio could reach.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

import cv2
import numpy as np

from emoprep.io.video import iter_frames
from emoprep.samples import fetch_samples
from emoprep.stages.align import AlignConfig, align_face, alignment_matrix
from emoprep.stages.landmarks import MeshConfig
from emoprep.stages.landmarks.mesh import INPUT, MESH_TO_IBUG68, FaceMesh, roi_matrix
from emoprep.stages.track import FaceTracker
from emoprep.types import VideoEntry

CLIP = "WolfgangLanger_Pexels.mp4"
TARGET = 0.3  #: issue 24: (a5) >= 0.3x decode only
ROI = tuple[float, float, float, float]  #: (cx, cy, side, angle) as FaceMesh.points takes it


def _cpu_ms(fn: Callable[[], Any], calls: int) -> float:
    c = time.process_time()
    fn()
    return round((time.process_time() - c) * 1000 / calls, 3)


def mesh_calls(n: int, path: dict[str, Any]) -> list[tuple[np.ndarray, ROI]]:
    """(frame, roi) of every mesh pass of the (a5) tracker (``path``: its configs) on the first
    ``n`` frames of :data:`CLIP`; the frames are held in memory."""
    v = VideoEntry("w", str(fetch_samples() / CLIP), "s")
    tracker = FaceTracker(path["detect"], path["track"], path["landmarks"])
    calls: list[tuple[np.ndarray, ROI]] = []
    points = FaceMesh.points

    def record(self: FaceMesh, frame: np.ndarray, roi: ROI,
               bgr: bool = False, index: np.ndarray | None = None) -> tuple[np.ndarray, float]:
        calls.append((frame, roi))
        return points(self, frame, roi, bgr, index)

    FaceMesh.points = record  # type: ignore[method-assign]
    try:
        for i, frame in iter_frames(v, range(n)):
            tracker.step(i, frame)
    finally:
        FaceMesh.points = points  # type: ignore[method-assign]
    return calls


def _decode_ms(n: int, threads: int | None) -> float:
    """CPU ms per frame to decode the first ``n`` frames of :data:`CLIP` (``threads`` None:
    FFmpeg's default, as emoprep's reader)."""
    params = [] if threads is None else [cv2.CAP_PROP_N_THREADS, threads]
    cap = cv2.VideoCapture(str(fetch_samples() / CLIP), cv2.CAP_FFMPEG, params)
    c = time.process_time()
    for _ in range(n):
        cap.read()
    ms = (time.process_time() - c) * 1000 / n
    cap.release()
    return round(ms, 3)


def micro_mesh(path: dict[str, Any], n: int = 200) -> dict[str, float]:
    """CPU ms per call of the mesh pass's pieces (see the module docstring)."""
    calls = mesh_calls(n, path)
    k, mesh = len(calls), FaceMesh(MeshConfig().model_path())
    index, acfg = np.asarray(MESH_TO_IBUG68, np.intp), AlignConfig()
    frame0, roi0 = calls[len(calls) // 2]
    x = np.random.default_rng(0).random((1, INPUT, INPUT, 3), np.float32)
    mats = [alignment_matrix(mesh.points(f, r, True, index)[0], None, acfg).astype(np.float32)
            for f, r in calls]
    def warp(f: np.ndarray, r: ROI) -> np.ndarray:
        return cv2.warpAffine(f, roi_matrix(*r), (INPUT, INPUT), flags=cv2.INTER_LINEAR)

    out = {
        "model_alone_one_input": _cpu_ms(lambda: [mesh.model(x) for _ in range(k)], k),
        "mesh_pass_held_frames": _cpu_ms(
            lambda: [mesh.points(f, r, True, index) for f, r in calls], k),
        "roi_warp_held_frames": _cpu_ms(lambda: [warp(f, r) for f, r in calls], k),
        "roi_warp_one_frame": _cpu_ms(lambda: [warp(frame0, roi0) for _ in range(k)], k),
        "align_warp_held_frames": _cpu_ms(
            lambda: [align_face(f, m, acfg) for (f, _), m in zip(calls, mats, strict=True)], k),
        "align_warp_one_frame": _cpu_ms(
            lambda: [align_face(frame0, mats[0], acfg) for _ in range(k)], k),
        "decode_ffmpeg_default_threads": _decode_ms(n, None),
        "decode_one_thread": _decode_ms(n, 1),
    }
    return out


def bound_lines_a5(comp: dict[str, Any], mic: dict[str, float]) -> list[str]:
    """What bounds (a5)/(c): its measured costs per frame, and the ratio with pieces at their
    floor (the model alone, the warps on a frame already in cache)."""
    c, dec, total = comp["costs"], comp["decode_ms_per_frame"], comp["path_ms_per_frame"]

    def ms(key: str) -> float:
        return sum(r["ms_per_frame"] for k, r in c.items() if k.startswith(key))

    mesh, align = ms("mesh pass"), ms("warp + RGB")
    rest = total - dec - mesh - align
    model = mic["model_alone_one_input"]
    warps = mic["roi_warp_one_frame"] + mic["align_warp_one_frame"]
    need = dec / TARGET
    return [
        f"What bounds (a5): of {total} ms per frame, decode is {dec}, the mesh pass {mesh:.2f} "
        f"(the model alone: {model} ms per call on one input over and over), the aligned crop "
        f"{align:.2f}, everything else {rest:.2f}. The target {TARGET}x needs <= {need:.2f} ms "
        f"per frame. With decode and the model alone (every other piece free) the ratio would be "
        f"{dec / (dec + model):.2f}; adding the two warps at their in-cache cost "
        f"({warps:.2f} ms) {dec / (dec + model + warps):.2f}; with the measured mesh pass and "
        f"crop and nothing else {dec / (dec + mesh + align):.2f}.",
        f"Micro-measurements of the mesh pass (200 frames of {CLIP}, CPU ms per call): {mic}. "
        "Held frames are cache-cold (as after a decode); one frame over and over is in cache. "
        "Decode: emoprep's reader leaves FFmpeg its default threads (2 here); one thread costs "
        "less CPU per frame, which would lower decode only and every path alike.", ""]
