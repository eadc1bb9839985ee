"""Files that appear whole or not at all, file checksums, the run-token guard, path expansion.

Every file emoprep writes goes to a hidden temporary sibling (``.<name>.<pid>.<random>.tmp``),
is flushed and fsynced, then renamed over the target, so a killed writer never leaves a file that
looks complete. The coordinator sweeps leftovers matching :data:`TEMP_GLOB` at the next run.

Two guards sit at this choke point (and at :class:`emoprep.io.hdf5.ShardWriter`):

- a full disk (ENOSPC, EDQUOT) leaves as :class:`~emoprep.errors.DiskFullError` naming the file,
  after the temporary file is removed;
- inside :func:`guarded_writes` (set by a worker around one unit) every rename into the output
  folder first checks that the run token in ``.emoprep/lock`` is still the one the unit was
  submitted with, so a worker of a dead run can never write into a folder another run holds.
"""

from __future__ import annotations

import contextvars
import errno
import hashlib
import json
import os
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Any

from emoprep.errors import DiskFullError, StaleRunError

#: what a temporary file of :func:`atomic_path` looks like (for the sweep of a killed run)
TEMP_GLOB = ".*.tmp*"
#: errno values that mean "no room to write"
_FULL = (errno.ENOSPC, errno.EDQUOT)


def temp_sibling(path: Path, suffix: str = "") -> Path:
    """A hidden, unique temporary name next to ``path`` (``suffix`` keeps e.g. ``.npz``)."""
    return path.with_name(f".{path.name}.{os.getpid()}.{uuid.uuid4().hex[:8]}.tmp{suffix}")


def fsync_path(path: Path) -> None:
    """Flush a written file to disk (before it is renamed into place)."""
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


# --- disk full ---------------------------------------------------------------------------------


def is_disk_full(exc: BaseException) -> bool:
    """True for ENOSPC / EDQUOT, also when wrapped (h5py puts errno only into its message)."""
    seen: BaseException | None = exc
    while seen is not None:
        if isinstance(seen, OSError) and seen.errno in _FULL:
            return True
        text = str(seen)
        if "No space left on device" in text or "errno = 28" in text or "Disk quota" in text:
            return True
        seen = seen.__cause__ or seen.__context__
    return False


def disk_full(path: str | Path, exc: BaseException) -> DiskFullError:
    """The :class:`DiskFullError` for a failed write of ``path``."""
    return DiskFullError(f"file {path}: the file system is full ({exc.__class__.__name__}: "
                         f"{str(exc)[:120]}); nothing partial was left under its name (fix: "
                         "free space or move the output folder, then run again: finished units "
                         "are kept)")


# --- run token ---------------------------------------------------------------------------------


def lock_text(pid: int, token: str) -> str:
    """Content of ``.emoprep/lock`` while a run holds it (``token`` "" once it is released)."""
    return json.dumps({"pid": pid, "token": token, "host": os.uname().nodename})


def read_token(lock: Path) -> str:
    """The run token in a lock file; "" when there is none (no run, released, old format)."""
    try:
        data = json.loads(Path(lock).read_text(encoding="utf-8") or "{}")
    except (OSError, ValueError):
        return ""
    return str(data.get("token", "")) if isinstance(data, dict) else ""


@dataclass(frozen=True)
class RunGuard:
    """Writes under ``root`` are allowed only while ``lock`` holds ``token``."""

    root: Path
    lock: Path
    token: str

    def check(self, path: Path) -> None:
        """Raise :class:`StaleRunError` when ``path`` is in ``root`` and the token changed."""
        if not Path(os.path.abspath(path)).is_relative_to(self.root):
            return
        now = read_token(self.lock)
        if now != self.token:
            held = f"run {now[:8]}" if now else "no run"
            raise StaleRunError(f"file {path}: not written: this worker belongs to run "
                                f"{self.token[:8]}, but {self.root} is now held by {held} (a "
                                "worker that outlived its run; it stops here)")


_GUARD: contextvars.ContextVar[RunGuard | None] = contextvars.ContextVar("run_guard", default=None)


@contextmanager
def guarded_writes(root: str | Path, lock: str | Path, token: str) -> Iterator[None]:
    """Within the block, every atomic write into ``root`` checks the run token first."""
    reset = _GUARD.set(RunGuard(Path(os.path.abspath(root)), Path(lock), token) if token else None)
    try:
        yield
    finally:
        _GUARD.reset(reset)


def check_run_token(path: str | Path) -> None:
    """The guard of :func:`guarded_writes` for ``path`` (a no-op outside one)."""
    guard = _GUARD.get()
    if guard is not None:
        guard.check(Path(path))


# --- atomic writes -----------------------------------------------------------------------------


@contextmanager
def atomic_path(path: str | Path, suffix: str = "") -> Iterator[Path]:
    """Yield a temporary path to write; on success fsync it and rename it to ``path``.

    On an exception the temporary file is removed and ``path`` is left as it was; a full disk
    becomes :class:`DiskFullError`; a stale run's write :class:`StaleRunError`.
    """
    path = Path(path)
    check_run_token(path)
    tmp = temp_sibling(path, suffix)
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        yield tmp
        fsync_path(tmp)
        check_run_token(path)
        os.replace(tmp, path)
    except BaseException as exc:
        tmp.unlink(missing_ok=True)
        if isinstance(exc, Exception) and is_disk_full(exc):
            raise disk_full(path, exc) from exc
        raise


def atomic_write_bytes(path: str | Path, data: bytes) -> None:
    """Write ``data`` to ``path`` atomically (temporary sibling, fsync, rename)."""
    with atomic_path(path) as tmp:
        tmp.write_bytes(data)


def atomic_write_text(path: str | Path, text: str) -> None:
    """Write UTF-8 ``text`` to ``path`` atomically (temporary sibling, fsync, rename)."""
    atomic_write_bytes(path, text.encode("utf-8"))


# --- checksums ---------------------------------------------------------------------------------


def sha256_file(path: str | Path, chunk: int = 1 << 20) -> str:
    """Hex sha256 of a file's bytes, read in 1 MiB chunks."""
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        while block := fh.read(chunk):
            h.update(block)
    return h.hexdigest()


@lru_cache(maxsize=64)
def _sha256_of(path: str, ctime_ns: int, size: int, mtime_ns: int) -> str:
    """:func:`sha256_file`, once per file state (the change time moves with any write, also one
    that restores the mtime): the items of a pack share its checksum, so checking each item's
    record reads the pack once, not once per item."""
    return sha256_file(path)


def stamp_file(path: str | Path) -> dict[str, Any]:
    """What a record keeps of an output: ``{"size": bytes, "mtime_ns": int, "sha256": hex}``."""
    st = os.stat(path)
    return {"size": st.st_size, "mtime_ns": st.st_mtime_ns, "sha256": sha256_file(path)}


def check_stamp(path: str | Path, stamp: dict[str, Any], full: bool = False,
                st: os.stat_result | None = None) -> str:
    """Why ``path`` no longer matches its ``stamp`` ("" when it does).

    Cheap: size and mtime equal -> trusted without reading. Otherwise (or with ``full``) the
    sha256 is compared. ``st``: the file's stat when the caller has it already.
    """
    if st is None:
        try:
            st = os.stat(path)
        except OSError as exc:
            return f"cannot stat ({exc.strerror or exc})"
    if st.st_size != stamp.get("size"):
        return f"size {st.st_size} bytes, recorded {stamp.get('size')}"
    if not full and st.st_mtime_ns == stamp.get("mtime_ns"):
        return ""
    try:
        got = _sha256_of(str(path), st.st_ctime_ns, st.st_size, st.st_mtime_ns)
    except OSError as exc:
        return f"cannot read ({exc.strerror or exc})"
    want = str(stamp.get("sha256"))
    return "" if got == want else f"sha256 {got[:12]}, recorded {want[:12]}"


def expand_path(text: str | Path, base_dir: Path) -> Path:
    """``~`` and ``$VARS`` expanded; a relative path taken against ``base_dir``; absolute,
    normalised."""
    p = Path(os.path.expandvars(os.path.expanduser(str(text))))
    return Path(os.path.abspath(p if p.is_absolute() else base_dir / p))
