"""Exception hierarchy: one class per kind of failure, all under :class:`EmoprepError`.

Messages name the object, say what was expected and what was found, and give a fix.
"""

from __future__ import annotations


class EmoprepError(Exception):
    """Base class of every error emoprep raises on purpose."""


class ConfigError(EmoprepError):
    """A manifest or stage setting is invalid. Carries every problem found, not just the first."""

    def __init__(self, source: str, problems: list[str]) -> None:
        self.source = source
        self.problems = list(problems)
        n = len(self.problems)
        head = f"{n} error{'s' if n != 1 else ''} in {source}:"
        super().__init__("\n".join([head, *(f"  - {p}" for p in self.problems)]))


class VideoError(EmoprepError):
    """A video cannot be read: missing, corrupt, zero frames, unsupported codec."""


class NoFaceError(EmoprepError):
    """No face was found in any kept frame of a video."""


class ModelFileError(EmoprepError):
    """A model or weight file is missing, unreadable or has the wrong content."""


class StoreError(EmoprepError):
    """An HDF5 store or shard cannot be read or written."""


class StageError(EmoprepError):
    """A stage failed for a reason that is not one of the more specific errors."""


class MissingDependencyError(EmoprepError):
    """An optional package needed by the chosen backend is not installed."""


class DiskFullError(StoreError):
    """A write failed because the file system is full (ENOSPC) or over quota (EDQUOT)."""


class StaleRunError(EmoprepError):
    """A worker of a run that no longer holds the output folder tried to write into it."""


class FrameCountError(VideoError):
    """Header frame count != decoded frames, with ``probe.on_count_mismatch: fail``."""
