"""The pure parts of benchmarks/shared_fs.py and benchmarks/strace_counts.py: the strace
parser, the folder count and the per-million extrapolation (the mount itself is not tested: CI
has no FUSE)."""

from __future__ import annotations

import shutil
import subprocess
from collections import Counter
from pathlib import Path

import pytest

from benchmarks.shared_fs import per_million, tree_counts
from benchmarks.strace_counts import created_paths, new_threads, parse_strace

#: lines as ``strace -ff -y`` writes them (one process's log, so no pid prefix)
LINES = [
    'openat(AT_FDCWD</w>, "/out/frames/packs/.b000001.h5.7.ab.tmp", O_RDWR|O_CREAT|O_TRUNC, '
    "0666) = 5</out/frames/packs/.b000001.h5.7.ab.tmp>",
    'openat(AT_FDCWD</w>, "/out/frames.h5", O_RDONLY|O_CLOEXEC) = 6</out/frames.h5>',
    'openat(AT_FDCWD</w>, "/elsewhere/x", O_WRONLY|O_CREAT, 0644) = 7</elsewhere/x>',
    'openat(AT_FDCWD</w>, "/out/missing/y", O_WRONLY|O_CREAT, 0644) = -1 ENOENT (No such file '
    "or directory)",
    "fsync(5</out/frames/packs/.b000001.h5.7.ab.tmp>) = 0",
    "fdatasync(7</elsewhere/x>) = 0",
    'rename("/out/frames/packs/.b000001.h5.7.ab.tmp", "/out/frames/packs/b000001.h5") = 0',
    'mkdir("/out/frames/packs", 0777) = 0',
    'mkdir("/out/frames", 0777) = -1 EEXIST (File exists)',
    'unlinkat(AT_FDCWD</w>, "/out/.emoprep/lock", 0) = 0',
    "clone3({flags=CLONE_VM|CLONE_FS|CLONE_THREAD|CLONE_SETTLS, child_tid=0x7f}, 88) = 4321",
    "clone(child_stack=NULL, flags=CLONE_CHILD_CLEARTID|SIGCHLD, child_tidptr=0x7f) = 4400",
]


def test_parse_strace_counts_only_successful_calls_under_the_root() -> None:
    found = parse_strace(LINES, "/out")
    assert dict(found[0]) == {"create": 1, "fsync": 1, "rename": 1, "mkdir": 1, "unlink": 1}


def test_parse_strace_keeps_pids_apart() -> None:
    lines = [f"[pid 12] {LINES[0]}", LINES[0], f"[pid 12] {LINES[4]}"]
    found = parse_strace(lines, "/out")
    assert dict(found[12]) == {"create": 1, "fsync": 1}
    assert dict(found[0]) == {"create": 1}


def test_created_paths_and_threads() -> None:
    assert created_paths(LINES, "/out") == {"/out/frames/packs/.b000001.h5.7.ab.tmp"}
    assert new_threads(LINES) == [4321]  # the plain fork (4400) is a process, not a thread


def test_tree_counts(tmp_path: Path) -> None:
    (tmp_path / "frames" / "packs").mkdir(parents=True)
    for name in ("b000001.h5", "b000002.h5"):
        (tmp_path / "frames" / "packs" / name).write_bytes(b"x" * 10)
    (tmp_path / "frames.h5").write_bytes(b"y" * 3)
    assert tree_counts(tmp_path) == {"files": 3, "dirs": 2, "inodes": 6, "bytes": 23,
                                     "pack_files": 2, "other_files": 1}


def test_per_million_extrapolates_from_the_packs_per_batch() -> None:
    # 4 batches of 500 gave 20 pack files (5 per batch) and 10 other files, 15 directories
    m = per_million(pack_files=20, batches=4, other_files=10, dirs=15)
    assert m == {"batches": 250, "pack_files_per_batch": 5.0, "files": 1260, "inodes": 1276}


@pytest.mark.skipif(shutil.which("strace") is None, reason="strace is not installed")
def test_parse_strace_on_a_real_trace(tmp_path: Path) -> None:
    out = tmp_path / "out"
    out.mkdir()
    log = tmp_path / "log"
    script = (f"import os; p = '{out}/.a.tmp'; open(p, 'w').close(); "
              f"fd = os.open(p, os.O_RDONLY); os.fsync(fd); os.close(fd); "
              f"os.replace(p, '{out}/a'); os.mkdir('{out}/d'); os.unlink('{out}/a')")
    done = subprocess.run(["strace", "-f", "-y", "-qq", "-o", str(log), "-e",
                           "trace=openat,mkdir,rename,renameat,renameat2,fsync,unlink,unlinkat",
                           "python3", "-c", script], capture_output=True, text=True)
    if done.returncode != 0:
        pytest.skip(f"strace cannot trace here: {done.stderr[-300:]}")
    lines = log.read_text().splitlines()
    found = sum(parse_strace(lines, str(out)).values(), Counter())
    assert dict(found) == {"create": 1, "fsync": 1, "rename": 1, "mkdir": 1, "unlink": 1}
