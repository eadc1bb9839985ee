"""The paths a ``videos.include`` / ``exclude`` glob matches under ``videos.root``, as strings
(a million Path objects cost seconds): one ``os.scandir`` for a pattern of one path part,
``Path.glob`` for the rest."""

from __future__ import annotations

import os
from fnmatch import fnmatchcase
from pathlib import Path

from emoprep.errors import ConfigError
from emoprep.pipeline.manifest.files import any_case_suffix


def _path_order(p: Path) -> list[str]:
    """Path's own order (its parts compared in turn), cheaper than ``Path.__lt__``."""
    return str(p).split("/")


def glob_matches(root: Path, key: str, pattern: str, source: str) -> list[tuple[str, bool | None]]:
    """(path, is a folder; None: not known) of what ``pattern`` matches, in path order; a pattern
    of one path part is matched on one ``os.scandir`` (no Path, no stat but for links)."""
    pat = any_case_suffix(pattern)
    if "/" not in pat and "**" not in pat and pat not in ("", ".", ".."):
        try:
            with os.scandir(root) as it:
                return sorted((e.path, None if e.is_symlink() else e.is_dir())
                              for e in it if fnmatchcase(e.name, pat))
        except OSError:
            return []
    try:
        return [(str(p), None) for p in sorted(root.glob(pat), key=_path_order)]
    except (ValueError, NotImplementedError) as exc:
        raise ConfigError(
            source,
            [
                f"videos.{key}: expected a glob relative to videos.root, got {pattern!r} "
                f"({exc}) (fix: e.g. '**/*.mp4'; '**' must be a whole path part)"
            ],
        ) from exc
