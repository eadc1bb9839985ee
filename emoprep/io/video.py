"""Streaming frame access for video files and image-sequence folders.

Never holds a whole video in memory: frames are yielded one at a time, and frames that are not
wanted are skipped with ``grab()`` (no colour conversion, no copy).

A frame folder keeps its source numbering: the number in each image's name (the last run of
digits) minus the first image's is its frame number, so a missing image leaves a gap and every
later timestamp stays right (:func:`folder_frames`). Names without numbers are read in name order.

A ``frames`` entry is one of three things (see :func:`list_frame_files`): a folder and a glob
(``S005/001/`` + ``*.png``), a folder and the exact names of one image sequence in it (a flat
folder of many sequences, ``videos.kind: images``: the names glob-escaped and joined by
:data:`NAME_SEP`), or a single image file (a one-frame item).
"""

from __future__ import annotations

import glob
import logging
import os
import re
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from emoprep.errors import VideoError
from emoprep.types import SourceKind, VideoEntry

IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".bmp", ".tif", ".tiff")
_LAST_NUMBER = re.compile(r"(\d+)(?!.*\d)")
#: separates the globs of a ``frames_glob`` that lists several (no file name holds a NUL)
NAME_SEP = "\0"

log = logging.getLogger(__name__)

if TYPE_CHECKING:
    import cv2


def list_frame_files(folder: str | Path, pattern: str = "*.png") -> list[Path]:
    """Sorted image files of a frame source (by name, so zero-padded numbers sort right).

    ``folder`` is a folder, whose images matching ``pattern`` are listed (``pattern`` may hold
    several globs joined by :data:`NAME_SEP`: the union), or one image file, listed alone.
    """
    root = Path(folder)
    if root.is_file():
        return [root] if is_image(root) else []
    found = {p for g in pattern.split(NAME_SEP) if g for p in root.glob(g)}
    return sorted(p for p in found if is_image(p))


def is_image(path: str | Path) -> bool:
    """True when ``path`` has an image suffix (:data:`IMAGE_SUFFIXES`, any case)."""
    name = path.name if isinstance(path, Path) else os.path.basename(str(path).rstrip("/"))
    i = name.rfind(".")  # Path.suffix, without making another Path (a check per found video)
    return 0 < i < len(name) - 1 and name[i:].lower() in IMAGE_SUFFIXES


def names_glob(names: Iterable[str]) -> str:
    """A ``frames_glob`` that selects exactly the files ``names`` of one folder: each name
    glob-escaped, sorted, joined by :data:`NAME_SEP` (see :func:`list_frame_files`)."""
    return NAME_SEP.join(sorted(glob.escape(n) for n in names))


def describe_glob(pattern: str) -> str:
    """``pattern`` for messages: a name list as ``'a.png' ... 'z.png' (N names)``."""
    parts = pattern.split(NAME_SEP)
    if len(parts) == 1:
        return repr(pattern)
    return f"{parts[0]!r} ... {parts[-1]!r} ({len(parts)} names)"


def folder_frames(folder: str | Path, pattern: str = "*.png") -> tuple[list[Path], np.ndarray]:
    """The images of a frame folder in frame order and their frame numbers (T,) int64.

    Frame number = the last number in the file name minus the first image's (``img_0007.png``
    after ``img_0005.png`` is frame 2: the gap is kept). When no name has a number, name order.
    Raises :class:`VideoError` when only some names have numbers or two share a number.
    """
    return order_frames(list_frame_files(folder, pattern), source_label(folder))


def order_frames(files: list[Path], where: str) -> tuple[list[Path], np.ndarray]:
    """``files`` (sorted by name) in frame order and their frame numbers (T,) int64, by the rule
    of :func:`folder_frames`; ``where`` names the source in the :class:`VideoError`."""
    if len(files) == 1:  # one image: frame 0, whatever number its name holds
        return files, np.zeros(1, np.int64)
    found = [_LAST_NUMBER.search(p.stem) for p in files]
    if not any(found):
        return files, np.arange(len(files), dtype=np.int64)
    if not all(found):
        odd = next(p.name for p, m in zip(files, found, strict=True) if m is None)
        raise VideoError(f"{where}: expected a frame number in every image name, got {odd!r} "
                         "without one (fix: rename it, or narrow videos.frames_glob or "
                         "videos.include)")
    numbers = np.array([int(m.group(1)) for m in found if m], dtype=np.int64)
    order = np.argsort(numbers, kind="stable")  # unpadded names: frame_10 after frame_9
    files, numbers = [files[i] for i in order], numbers[order]
    if np.any(np.diff(numbers) == 0):
        i = int(np.flatnonzero(np.diff(numbers) == 0)[0])
        a, b = files[i].name, files[i + 1].name
        raise VideoError(f"{where}: images {a!r} and {b!r} carry the same frame number "
                         f"{numbers[i]} (fix: remove one)")
    return files, numbers - numbers[0]


def source_label(path: str | Path) -> str:
    """``'image <path>'`` for a single image file, else ``'frame folder <path>'`` (messages)."""
    return f"image {path}" if Path(path).is_file() else f"frame folder {path}"


def frame_gaps(numbers: np.ndarray) -> list[tuple[int, int]]:
    """Missing frame numbers as inclusive ranges: ``[0, 1, 4]`` -> ``[(2, 3)]``."""
    jumps = np.flatnonzero(np.diff(numbers) > 1)
    return [(int(numbers[i]) + 1, int(numbers[i + 1]) - 1) for i in jumps]


def describe_gaps(folder: str | Path, numbers: np.ndarray) -> str:
    """"" or a sentence naming the missing frames of a folder (for warnings and the probe)."""
    gaps = frame_gaps(numbers) if len(numbers) > 1 else []
    if not gaps:
        return ""
    ranges = ", ".join(f"{a}" if a == b else f"{a}-{b}" for a, b in gaps[:5])
    more = f" and {len(gaps) - 5} more ranges" if len(gaps) > 5 else ""
    return (f"frame folder {folder}: frames {ranges}{more} missing; later frames keep their "
            "numbers (timestamps from the file names)")


def open_capture(path: str | Path) -> cv2.VideoCapture:
    import cv2  # here: listing and hashing frame files must not pay for OpenCV

    """Open a video file; raise :class:`VideoError` naming the file when OpenCV cannot."""
    p = Path(path)
    if not p.is_file():
        raise VideoError(f"video {p}: file not found")
    cap = cv2.VideoCapture(str(p))
    if not cap.isOpened():
        raise VideoError(
            f"video {p}: OpenCV cannot open it (corrupt file or unsupported container)"
        )
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
    import cv2

    files, numbers = folder_frames(entry.path, entry.frames_glob)
    if gaps := describe_gaps(entry.path, numbers):
        log.warning(gaps)
    keep = np.ones(len(files), bool) if wanted is None else _members(numbers, wanted)
    for i in np.flatnonzero(keep):
        frame = cv2.imread(str(files[i]), cv2.IMREAD_COLOR)
        if frame is None:
            raise VideoError(f"{source_label(entry.path)}: cannot read image {files[i].name} "
                             "(corrupt or not an image) (fix: replace or delete it)")
        yield int(numbers[i]), frame


def _members(numbers: np.ndarray, wanted: np.ndarray) -> np.ndarray:
    """Mask (T,) of ``numbers`` found in ``wanted`` (increasing): ``np.isin`` by binary search,
    without its set-up (a one-image item asks it once)."""
    if not wanted.size:
        return np.zeros(len(numbers), bool)
    at = np.minimum(np.searchsorted(wanted, numbers), wanted.size - 1)
    return wanted[at] == numbers


def count_frames(entry: VideoEntry) -> int:
    """Exact number of decodable frames (decodes the video once with ``grab``); for a frame
    folder the span of its frame numbers (last + 1: a missing image is a gap, not one less)."""
    if entry.kind is SourceKind.FRAMES:
        _, numbers = folder_frames(entry.path, entry.frames_glob)
        return int(numbers[-1]) + 1 if len(numbers) else 0
    cap = open_capture(entry.path)
    try:
        n = 0
        while cap.grab():
            n += 1
        return n
    finally:
        cap.release()
