"""Probe a video: fps, frame count, size, codec and content hash."""

from __future__ import annotations

import cv2
from pydantic import BaseModel, ConfigDict, Field

from emoprep.errors import VideoError
from emoprep.io.video import count_frames, list_frame_files, open_capture
from emoprep.types import ProbeInfo, SourceKind, VideoEntry


class ProbeConfig(BaseModel):
    model_config = ConfigDict(extra="forbid")

    exact_count: bool = Field(
        True, description="count frames by decoding (exact) instead of trusting the container header"
    )


def _fourcc(value: float) -> str:
    code = int(value)
    text = "".join(chr((code >> 8 * i) & 0xFF) for i in range(4))
    return text.strip("\x00 ") or "unknown"


def probe_video(entry: VideoEntry, content_hash: str, cfg: ProbeConfig) -> ProbeInfo:
    """Read the stream properties of ``entry``; raise :class:`VideoError` when it has no frames."""
    if entry.kind is SourceKind.FRAMES:
        files = list_frame_files(entry.path, entry.frames_glob)
        if not files:
            raise VideoError(f"frame folder {entry.path}: no images matching {entry.frames_glob!r}")
        first = cv2.imread(str(files[0]), cv2.IMREAD_COLOR)
        if first is None:
            raise VideoError(f"frame folder {entry.path}: cannot read {files[0].name}")
        if not entry.fps:
            raise VideoError(f"frame folder {entry.path}: no fps; set videos.fps in the manifest")
        h, w = first.shape[:2]
        return ProbeInfo(float(entry.fps), len(files), w, h, "images", content_hash, "frames")
    cap = open_capture(entry.path)
    try:
        fps = float(cap.get(cv2.CAP_PROP_FPS) or 0.0)
        header = int(cap.get(cv2.CAP_PROP_FRAME_COUNT) or 0)
        w, h = int(cap.get(cv2.CAP_PROP_FRAME_WIDTH)), int(cap.get(cv2.CAP_PROP_FRAME_HEIGHT))
        codec = _fourcc(cap.get(cv2.CAP_PROP_FOURCC))
    finally:
        cap.release()
    n = count_frames(entry) if (cfg.exact_count or header <= 0) else header
    if n <= 0:
        raise VideoError(f"video {entry.path}: zero decodable frames (corrupt or empty file)")
    if entry.fps:
        fps = float(entry.fps)
    if fps <= 0 or fps > 1000:
        raise VideoError(f"video {entry.path}: implausible fps {fps}; set videos.fps in the manifest")
    return ProbeInfo(fps, n, w, h, codec, content_hash, "file")
