"""A full disk stops the run cleanly (the reason and the unit, no traceback, nothing partial under
a final name) and a later run with room completes. Runs on a size-limited tmpfs, so only as root
(skipped otherwise)."""

from __future__ import annotations

import json
import os
import re
from pathlib import Path

import pytest

from emoprep.errors import DiskFullError
from emoprep.pipeline.runner import run
from tests.helpers import assert_same_store, mount_tmpfs
from tests.reliability.conftest import (
    INLINE,
    assert_nothing_partial,
    group_pids,
    start_cli,
    wait_for,
)


def _fill(disk: Path, leave: int) -> Path:
    """A file that takes all free space of ``disk`` but ``leave`` bytes."""
    st = os.statvfs(disk)
    filler = disk / "filler"
    with open(filler, "wb") as fh:
        os.posix_fallocate(fh.fileno(), 0, st.f_bavail * st.f_frsize - leave)
    return filler


def test_disk_full_in_a_worker_stops_the_run_and_a_later_run_completes(two_clips, clean_out,
                                                                       small_disk: Path) -> None:
    manifest, out = two_clips[1], small_disk / "out"
    proc = start_cli("run", "-m", str(manifest), "-o", str(out), "--workers", "2")
    _, err = proc.communicate(timeout=300)
    wait_for(lambda: not group_pids(proc.pid), 10, "every process of the run to end")
    assert proc.returncode == 1
    assert "file system is full" in err and "Traceback" not in err, err
    assert re.search(r"unit \S+ of video s0[14]_\w+", err), err
    assert_nothing_partial(out)
    assert mount_tmpfs(small_disk, "16m", remount=True).returncode == 0
    rep = run(manifest, out, opts=INLINE)
    assert rep.ran and all(r["ok"] for r in rep.ran)
    assert_same_store(clean_out, out)


def test_disk_full_while_writing_a_record(two_clips, clean_out, small_disk: Path) -> None:
    """The disk fills up after the first unit: the next unit's output and record cannot be
    written."""
    manifest, out = two_clips[1], small_disk / "out"
    filler: list[Path] = []
    with pytest.raises(DiskFullError) as err:
        run(manifest, out, opts=INLINE,
            on_done=lambda *_: filler or filler.append(_fill(small_disk, 0)))
    text = str(err.value)
    assert re.match(r"stopped: unit \w+ of video s01_happy_1: its record could not be written: "
                    r"file \S+/records\.sqlite: the file system is full", text), text
    # the failed commit gives its pages back: the summary may fit (it says why the run stopped)
    summary = out / "summary.json"
    assert "the summary could not be written either" in text or \
        json.loads(summary.read_text())["error"] == text.split(" (the summary")[0]
    assert_nothing_partial(out)
    assert not list(out.rglob(".*.tmp*"))
    filler[0].unlink()
    assert mount_tmpfs(small_disk, "16m", remount=True).returncode == 0
    rep = run(manifest, out, opts=INLINE)
    assert rep.ran and all(r["ok"] for r in rep.ran)
    assert_same_store(clean_out, out)
