"""Checks on single paths of a dataset: suffixes in any case, files that cannot be videos."""

from __future__ import annotations

from pathlib import Path

#: bytes read to tell a text file from a video container
_HEAD = 512


def any_case_suffix(pattern: str) -> str:
    """``pattern`` with the letters of its file suffix matching either case (``*.mp4`` ->
    ``*.[mM][pP]4``): cameras write ``.MP4``; the rest of the glob stays case-sensitive."""
    head, dot, suffix = pattern.rpartition(".")
    if not dot or not suffix.isalnum() or "/" in suffix:
        return pattern
    return head + "." + "".join(f"[{c.lower()}{c.upper()}]" if c.isalpha() else c
                                for c in suffix)


def file_problem(path: str | Path) -> str | None:
    """Why a video file cannot be a video, from its size and first bytes (no decoding): 0 bytes,
    or text (a video container's first bytes are never all printable text); None otherwise, and
    for paths that cannot be read (the probe says why)."""
    try:
        with open(path, "rb") as fh:
            head = fh.read(_HEAD)
    except OSError:
        return None
    if not head:
        return "0 bytes: an empty file, not a video (fix: copy it again, or delete it)"
    try:
        text = head.decode("utf-8")
    except UnicodeDecodeError:
        return None
    if "\x00" in text or not all(c.isprintable() or c in "\r\n\t" for c in text):
        return None
    return (f"a text file, not a video (starts with {text[:30]!r}) (fix: replace it with the "
            f"video, or leave it out with videos.exclude)")
