"""Files that appear whole or not at all, file hashes, and path expansion.

Every file emoprep writes goes to a hidden temporary sibling (``.<name>.<pid>.<random>.tmp``),
is flushed and fsynced, then renamed over the target, so a killed writer never leaves a file that
looks complete. The coordinator sweeps leftovers matching :data:`TEMP_GLOB` at the next run.
"""

from __future__ import annotations

import hashlib
import os
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

#: what a temporary file of :func:`atomic_path` looks like (for the sweep of a killed run)
TEMP_GLOB = ".*.tmp*"


def temp_sibling(path: Path, suffix: str = "") -> Path:
    """A hidden, unique temporary name next to ``path`` (``suffix`` keeps e.g. ``.npz``)."""
    return path.with_name(f".{path.name}.{os.getpid()}.{uuid.uuid4().hex[:8]}.tmp{suffix}")


def _fsync(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


@contextmanager
def atomic_path(path: str | Path, suffix: str = "") -> Iterator[Path]:
    """Yield a temporary path to write; on success fsync it and rename it to ``path``.

    On an exception the temporary file is removed and ``path`` is left as it was.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = temp_sibling(path, suffix)
    try:
        yield tmp
        _fsync(tmp)
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise


def atomic_write_bytes(path: str | Path, data: bytes) -> None:
    """Write ``data`` to ``path`` atomically (temporary sibling, fsync, rename)."""
    with atomic_path(path) as tmp:
        tmp.write_bytes(data)


def atomic_write_text(path: str | Path, text: str) -> None:
    """Write UTF-8 ``text`` to ``path`` atomically (temporary sibling, fsync, rename)."""
    atomic_write_bytes(path, text.encode("utf-8"))


def sha256_file(path: str | Path, chunk: int = 1 << 20) -> str:
    """Hex sha256 of a file's bytes, read in 1 MiB chunks."""
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        while block := fh.read(chunk):
            h.update(block)
    return h.hexdigest()


def expand_path(text: str | Path, base_dir: Path) -> Path:
    """``~`` and ``$VARS`` expanded; a relative path taken against ``base_dir``; absolute, normalised."""
    p = Path(os.path.expandvars(os.path.expanduser(str(text))))
    return Path(os.path.abspath(p if p.is_absolute() else base_dir / p))
