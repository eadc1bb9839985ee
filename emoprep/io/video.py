"""Streaming frame access for video files and image-sequence folders.

Never holds a whole video in memory: frames are yielded one at a time, and frames that are not
wanted are skipped with ``grab()`` (no colour conversion, no copy).
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from pathlib import Path

import cv2
import numpy as np

from emoprep.errors import VideoError
from emoprep.types import SourceKind, VideoEntry

IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".bmp", ".tif", ".tiff")


def list_frame_files(folder: str | Path, pattern: str = "*.png") -> list[Path]:
    """Sorted image files of a frame folder (by name, so zero-padded numbers sort right)."""
    files = sorted(p for p in Path(folder).glob(pattern) if p.suffix.lower() in IMAGE_SUFFIXES)
    return files


def open_capture(path: str | Path) -> cv2.VideoCapture:
    """Open a video file; raise :class:`VideoError` naming the file when OpenCV cannot."""
    p = Path(path)
    if not p.is_file():
        raise VideoError(f"video {p}: file not found")
    cap = cv2.VideoCapture(str(p))
    if not cap.isOpened():
        raise VideoError(f"video {p}: OpenCV cannot open it (corrupt file or unsupported container)")
    return cap


def iter_frames(
    entry: VideoEntry, indices: Iterable[int] | None = None
) -> Iterator[tuple[int, np.ndarray]]:
    """Yield ``(frame_number, frame)`` for the wanted frames, in increasing order.

    frame: (H, W, 3) uint8, BGR (OpenCV order). ``indices`` must be increasing; ``None`` means
    every frame. Stops early when the video ends before the last wanted index.
    """
    wanted = None if indices is None else np.asarray(list(indices), dtype=np.int64)
    if wanted is not None and wanted.size and np.any(np.diff(wanted) <= 0):
        raise ValueError("iter_frames: indices must be strictly increasing")
    if entry.kind is SourceKind.FRAMES:
        yield from _iter_folder(entry, wanted)
    else:
        yield from _iter_file(entry, wanted)


def _iter_file(entry: VideoEntry, wanted: np.ndarray | None) -> Iterator[tuple[int, np.ndarray]]:
    cap = open_capture(entry.path)
    try:
        pos, k = 0, 0
        while wanted is None or k < wanted.size:
            target = pos if wanted is None else int(wanted[k])
            while pos < target:  # skip unwanted frames cheaply
                if not cap.grab():
                    return
                pos += 1
            ok, frame = cap.read()
            if not ok or frame is None:
                return
            yield pos, frame
            pos += 1
            k += 1
    finally:
        cap.release()


def _iter_folder(entry: VideoEntry, wanted: np.ndarray | None) -> Iterator[tuple[int, np.ndarray]]:
    files = list_frame_files(entry.path, entry.frames_glob)
    order = range(len(files)) if wanted is None else (int(i) for i in wanted if i < len(files))
    for i in order:
        frame = cv2.imread(str(files[i]), cv2.IMREAD_COLOR)
        if frame is None:
            raise VideoError(f"frame folder {entry.path}: cannot read image {files[i].name}")
        yield i, frame


def count_frames(entry: VideoEntry) -> int:
    """Exact number of decodable frames (decodes the video once with ``grab``)."""
    if entry.kind is SourceKind.FRAMES:
        return len(list_frame_files(entry.path, entry.frames_glob))
    cap = open_capture(entry.path)
    try:
        n = 0
        while cap.grab():
            n += 1
        return n
    finally:
        cap.release()
