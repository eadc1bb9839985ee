"""Probe a video: fps, frame count, size, codec and content hash.

The frame count comes from the container header where that header can be trusted (MP4/MOV/AVI
store the number of frames; :data:`TRUSTED_HEADERS`), and is verified by counting the decoded
frames: up front with ``exact_count`` when the probe runs on its own, or as a by-product of the
frame pass (:mod:`emoprep.pipeline.driver`). A header that disagrees with the decoded count
(a truncated file, a broken index) is recorded (:class:`CountCheck`) and, per
``on_count_mismatch``, warned about or failed; the decoded count is the one used.

A frame source (``SourceKind.FRAMES``: an image folder, one image sequence of a flat folder, or a
single image) is counted from its file names and read at ``videos.fps``; a single image probes as
kind ``image`` (one frame), the others as kind ``frames``.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import Enum
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from emoprep.errors import FrameCountError, VideoError
from emoprep.io.video import (
    count_frames,
    describe_glob,
    folder_frames,
    open_capture,
    source_label,
)
from emoprep.types import ProbeInfo, SourceKind, VideoEntry

#: containers whose header holds the number of frames (not an estimate from duration x fps)
TRUSTED_HEADERS = frozenset({".mp4", ".m4v", ".mov", ".avi"})


class CountMismatch(str, Enum):
    WARN = (
        "warn"  #: record the mismatch in the probe output and summary, go on with the decoded count
    )
    FAIL = "fail"  #: the probe unit fails (FrameCountError); the video's other stages do not run


class ProbeConfig(BaseModel):
    model_config = ConfigDict(extra="forbid")

    exact_count: bool = Field(
        True,
        description="count frames by decoding (exact) instead of trusting the container header",
    )
    on_count_mismatch: CountMismatch = Field(
        CountMismatch.WARN,
        description="header frame count != decoded count: warn (recorded, decoded count used) or "
                    "fail",
    )

    def fingerprint_slice(self) -> dict[str, Any]:
        """``on_count_mismatch: warn`` (the behaviour before the key existed) stays out of the
        fingerprint, so outputs made before it stay up to date."""
        data = self.model_dump(mode="json")
        if self.on_count_mismatch is CountMismatch.WARN:
            data.pop("on_count_mismatch")
        return data


@dataclass(frozen=True)
class CountCheck:
    """How a video's frame count was established.

    header: the container's count (0: none); decoded: frames decoded (-1: not decoded);
    mismatch: both known and different.
    """

    header: int
    decoded: int = -1

    @property
    def mismatch(self) -> bool:
        return self.header > 0 and self.decoded >= 0 and self.header != self.decoded

    def as_dict(self) -> dict[str, Any]:
        return {"header_frames": self.header, "decoded_frames": self.decoded,
                "count_mismatch": self.mismatch}

    def message(self, entry: VideoEntry) -> str:
        return (f"video {entry.path}: the header says {self.header} frames but {self.decoded} "
                "decode (truncated or damaged file); the decoded count is used. Re-encode or "
                "replace the file, or set probe.on_count_mismatch: fail to stop on such videos")


def _fourcc(value: float) -> str:
    code = int(value)
    text = "".join(chr((code >> 8 * i) & 0xFF) for i in range(4))
    return text.strip("\x00 ") or "unknown"


def header_trusted(entry: VideoEntry) -> bool:
    """True for a frame folder (the count is exact) or a container in :data:`TRUSTED_HEADERS`."""
    return entry.kind is SourceKind.FRAMES or Path(entry.path).suffix.lower() in TRUSTED_HEADERS


#: EXIF orientations that turn the image by 90 degrees (OpenCV's decode applies them)
_QUARTER_TURNS = (5, 6, 7, 8)


def image_size(path: Path, what: str) -> tuple[int, int]:
    """(width, height) in pixels of the image ``path`` as ``cv2.imread`` decodes it (after its
    EXIF orientation), from the file's header (Pillow, ~0.2 ms) instead of a decode (~0.8 ms
    for a 224x224 JPEG, once per small item). A header Pillow cannot read is decoded by OpenCV;
    :class:`VideoError` naming ``what`` when that fails too."""
    if (size := _plain_header_size(path)) is not None:
        return size
    try:
        from PIL import Image

        with Image.open(path) as im:
            w, h = im.size
            # a JPEG without an EXIF segment has no orientation: skip parsing an empty one
            exif = im.format != "JPEG" or "exif" in im.info
            turned = exif and im.getexif().get(0x0112) in _QUARTER_TURNS
        return (h, w) if turned else (w, h)
    except Exception:  # noqa: BLE001 (not for Pillow: OpenCV decodes it or names the problem)
        import cv2

        first = cv2.imread(str(path), cv2.IMREAD_COLOR)
        if first is None:
            raise VideoError(f"{what}: cannot read {path.name} (corrupt or not an image) "
                             "(fix: replace or delete it)") from None
        return int(first.shape[1]), int(first.shape[0])


#: bytes of an image's start read for its size: enough for every header segment of a usual file
_HEAD_BYTES = 1 << 16


def _plain_header_size(path: Path) -> tuple[int, int] | None:
    """(width, height) of a JPEG or PNG whose header, read whole in its first
    :data:`_HEAD_BYTES`, holds no EXIF block (so no orientation applies), by ``imagesize``
    (~4x cheaper than Pillow's open); None otherwise (Pillow and OpenCV decide).

    Whole means: the JPEG's start of scan (every APP segment comes before it), or the PNG's
    first IDAT (an eXIf chunk must come before it), is in those bytes."""
    import io

    import imagesize

    with open(path, "rb") as f:
        head = f.read(_HEAD_BYTES)
    if head[:2] == b"\xff\xd8":
        end = head.find(b"\xff\xda")
        if end < 0 or b"Exif\x00\x00" in head[:end]:
            return None
    elif head[:8] == b"\x89PNG\r\n\x1a\n":
        end = head.find(b"IDAT")
        if end < 0 or b"eXIf" in head[:end]:
            return None
    else:
        return None
    try:
        w, h = imagesize.get(io.BytesIO(head))
    except Exception:  # noqa: BLE001 (a header imagesize cannot parse: Pillow decides)
        return None
    return (int(w), int(h)) if w > 0 and h > 0 else None


def _probe_folder(entry: VideoEntry, content_hash: str) -> ProbeInfo:
    """A frame source: a folder or named images (kind ``frames``) or one image (kind ``image``).

    ``n_frames`` spans the frame numbers (last + 1, a missing image is a gap: see
    :func:`emoprep.io.video.folder_frames`); ``fps`` is the entry's (``videos.fps``).
    """
    files, numbers = folder_frames(entry.path, entry.frames_glob)
    kind = "image" if len(files) == 1 and files[0] == Path(entry.path) else "frames"
    what = f"image {entry.path}" if kind == "image" else source_label(entry.path)
    if not files:
        raise VideoError(f"{what}: expected images matching {describe_glob(entry.frames_glob)}, "
                         "got none (fix: check videos.frames_glob)")
    w, h = image_size(files[0], what)
    if not entry.fps:
        raise VideoError(f"{what}: no fps (fix: set videos.fps in the manifest)")
    return ProbeInfo(float(entry.fps), int(numbers[-1]) + 1, w, h, "images", content_hash, kind)


def probe_header(entry: VideoEntry, content_hash: str) -> ProbeInfo:
    """Stream properties without decoding; ``n_frames`` is the header's count (0 if it has none)."""
    import cv2

    if entry.kind is SourceKind.FRAMES:
        return _probe_folder(entry, content_hash)
    cap = open_capture(entry.path)
    try:
        fps = float(cap.get(cv2.CAP_PROP_FPS) or 0.0)
        header = max(0, int(cap.get(cv2.CAP_PROP_FRAME_COUNT) or 0))
        w, h = int(cap.get(cv2.CAP_PROP_FRAME_WIDTH)), int(cap.get(cv2.CAP_PROP_FRAME_HEIGHT))
        codec = _fourcc(cap.get(cv2.CAP_PROP_FOURCC))
    finally:
        cap.release()
    if entry.fps:
        fps = float(entry.fps)
    if fps <= 0 or fps > 1000:
        raise VideoError(
            f"video {entry.path}: implausible fps {fps}; set videos.fps in the manifest"
        )
    return ProbeInfo(fps, header, w, h, codec, content_hash, "file")


def settle_count(entry: VideoEntry, info: ProbeInfo, check: CountCheck, cfg: ProbeConfig
                 ) -> ProbeInfo:
    """``info`` with the frame count to use: the decoded one with ``exact_count`` (or without a
    header count), else the header's.

    Raises :class:`FrameCountError` on a mismatch with ``on_count_mismatch: fail``, and
    :class:`VideoError` when the video has no decodable frame.
    """
    if check.mismatch and cfg.on_count_mismatch is CountMismatch.FAIL:
        raise FrameCountError(check.message(entry).replace(
            "the decoded count is used", "probe.on_count_mismatch is fail"))
    exact = cfg.exact_count or check.header <= 0
    n = check.decoded if exact and check.decoded >= 0 else check.header
    if n <= 0:
        raise VideoError(f"video {entry.path}: zero decodable frames (corrupt or empty file)")
    return ProbeInfo(info.fps, n, info.width, info.height, info.codec, info.content_hash, info.kind)


def probe_video(entry: VideoEntry, content_hash: str, cfg: ProbeConfig) -> ProbeInfo:
    """Read the stream properties of ``entry`` (the probe on its own); see :func:`probe_counted`."""
    return probe_counted(entry, content_hash, cfg)[0]


def probe_counted(entry: VideoEntry, content_hash: str, cfg: ProbeConfig
                  ) -> tuple[ProbeInfo, CountCheck]:
    """The probe on its own: header, then a decode that counts the frames when ``exact_count``
    is set or the header has no count. Raises :class:`VideoError` without frames."""
    info = probe_header(entry, content_hash)
    if entry.kind is SourceKind.FRAMES:
        return info, CountCheck(info.n_frames, info.n_frames)
    must_count = cfg.exact_count or info.n_frames <= 0
    check = CountCheck(info.n_frames, count_frames(entry) if must_count else -1)
    return settle_count(entry, info, check, cfg), check
