"""Counting what a process tree does to a folder, from ``strace -ff -y`` logs
(benchmarks/shared_fs.py): files created, renames, fsyncs, unlinks, directories, per process."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
from collections import Counter
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
STRACE_CALLS = "openat,open,creat,mkdir,mkdirat,rename,renameat,renameat2,fsync,fdatasync," \
    "unlink,unlinkat,clone,clone3,fork,vfork"
_CALL = re.compile(r"^(?:\[pid\s+(\d+)\]\s+)?(\d+\s+)?(\w+)\((.*)\)\s+=\s+(-?\d+)")
_PATH = re.compile(r'"((?:[^"\\]|\\.)*)"')
_FD_PATH = re.compile(r"^\d+<([^>]*)>")


def parse_strace(lines: list[str], root: str) -> dict[int, Counter]:
    """Per process id, the calls that touched ``root`` (a path prefix): ``create`` (an
    ``open``/``openat``/``creat`` with ``O_CREAT``, or ``creat``), ``mkdir``, ``rename``,
    ``fsync`` (``fsync``/``fdatasync``, the fd decoded by ``strace -y``), ``unlink``.
    Failed calls (result < 0) are left out. Lines need ``strace -f -y``'s form, with or
    without ``[pid N]``; a line without a pid belongs to pid 0 (the first process)."""
    found: dict[int, Counter] = {}
    for line in lines:
        m = _CALL.match(line.strip())
        if not m or int(m.group(5)) < 0:
            continue
        pid, call, args = int(m.group(1) or 0), m.group(3), m.group(4)
        kind = _kind(call, args, root)
        if kind:
            found.setdefault(pid, Counter())[kind] += 1
    return found


def _kind(call: str, args: str, root: str) -> str | None:
    if call in ("fsync", "fdatasync"):
        fd = _FD_PATH.match(args)
        return "fsync" if fd and fd.group(1).startswith(root) else None
    paths = _PATH.findall(args)
    if not any(p.startswith(root) for p in paths):
        return None
    if call in ("open", "openat"):
        return "create" if "O_CREAT" in args else None
    return {"creat": "create", "mkdir": "mkdir", "mkdirat": "mkdir", "rename": "rename",
            "renameat": "rename", "renameat2": "rename", "unlink": "unlink",
            "unlinkat": "unlink"}.get(call)


def traced(cmd: list[str], out: Path, log: Path) -> dict[str, Any]:
    """Run ``cmd`` under ``strace -ff -y`` (one log per process, ``log.PID``); the calls that
    touched ``out``, the coordinator (the lowest pid: strace's child) apart from the rest (the
    dask nanny and worker processes)."""
    shutil.rmtree(log.parent, ignore_errors=True)
    log.parent.mkdir(parents=True)
    proc = subprocess.run(["strace", "-ff", "-y", "--seccomp-bpf", "-qq", "-o", str(log), "-e",
                           f"trace={STRACE_CALLS}", *cmd], cwd=REPO, capture_output=True,
                          text=True, env={**os.environ, "OMP_NUM_THREADS": "1"})
    if proc.returncode != 0:
        raise RuntimeError(f"strace {cmd}: exit {proc.returncode}: {proc.stderr[-2000:]}")
    per_tid: dict[int, Counter] = {}
    threads: dict[int, int] = {}
    paths: set[str] = set()
    for f in log.parent.glob(log.name + ".*"):
        lines = f.read_text(errors="replace").splitlines()
        tid = int(f.suffix[1:])
        per_tid[tid] = parse_strace(lines, str(out)).get(0, Counter())
        threads.update({t: tid for t in new_threads(lines)})
        paths |= created_paths(lines, str(out))
    per_pid: dict[int, Counter] = {}
    for tid, counts in per_tid.items():
        pid = tid
        while pid in threads:
            pid = threads[pid]
        per_pid[pid] = per_pid.get(pid, Counter()) + counts
    coord = per_pid.pop(min(per_pid), Counter())
    return {"coordinator": dict(coord), "others": dict(sum(per_pid.values(), Counter())),
            "other_processes_writing": sum(1 for c in per_pid.values() if c),
            "distinct_paths_created": len(paths)}


def new_threads(lines: list[str]) -> list[int]:
    """The thread ids a thread started (``clone``/``clone3`` with ``CLONE_THREAD``)."""
    found = []
    for line in lines:
        m = _CALL.match(line.strip())
        if m and m.group(3) in ("clone", "clone3") and "CLONE_THREAD" in m.group(4):
            found.append(int(m.group(5)))
    return found


def created_paths(lines: list[str], root: str) -> set[str]:
    """The distinct paths under ``root`` opened with ``O_CREAT`` (or ``creat``) successfully."""
    found: set[str] = set()
    for line in lines:
        m = _CALL.match(line.strip())
        if m and int(m.group(5)) >= 0 and _kind(m.group(3), m.group(4), root) == "create":
            found |= {p for p in _PATH.findall(m.group(4)) if p.startswith(root)}
    return found
