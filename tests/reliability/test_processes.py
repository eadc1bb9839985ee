"""No process outlives its run, and a stale worker can never write into a folder another run holds.

Real ``emoprep run --workers 2`` processes are stopped with SIGKILL, SIGTERM and SIGINT; every
process of the run (workers, forkserver, resource tracker) must be gone within seconds.
"""

from __future__ import annotations

import json
import os
import signal
from pathlib import Path

import pytest

from emoprep.io.layout import Layout
from emoprep.pipeline.runner import run, run_lock
from emoprep.pipeline.session import open_session
from emoprep.pipeline.stagedef import UnitTask
from emoprep.pipeline.worker import execute
from tests.helpers import assert_same_store
from tests.reliability.conftest import (
    INLINE,
    assert_nothing_partial,
    group_pids,
    n_records,
    start_cli,
    wait_for,
)

VID = "s01_happy_1"


def _started(manifest: Path, out: Path):
    """A real run with 2 workers, once its workers exist and 2 units are recorded."""
    proc = start_cli("run", "-m", str(manifest), "-o", str(out), "--workers", "2", "--json")
    wait_for(lambda: (n_records(out) >= 2 and len(group_pids(proc.pid)) >= 4)
             or proc.poll() is not None, 120, "2 records and the worker processes")
    assert proc.poll() is None, proc.communicate()
    return proc


def _all_gone(pgid: int) -> None:
    wait_for(lambda: not group_pids(pgid), 10, "every process of the run to end")


@pytest.mark.parametrize("sig", [signal.SIGKILL, signal.SIGTERM,
                                 pytest.param(signal.SIGINT, marks=pytest.mark.slow)])
def test_workers_die_with_the_coordinator(two_clips, clean_out, tmp_path: Path, sig) -> None:
    manifest, out = two_clips[1], tmp_path / "out"
    proc = _started(manifest, out)
    os.kill(proc.pid, sig)  # the coordinator only, as `kill` or the OOM killer would
    _, err = proc.communicate(timeout=60)
    _all_gone(proc.pid)
    assert proc.returncode == (-9 if sig == signal.SIGKILL else 128 + sig)
    assert_nothing_partial(out)
    if sig != signal.SIGKILL:  # a clean stop: the reason, a summary, the token released
        assert f"interrupted by {signal.Signals(sig).name}" in err and "Traceback" not in err
        summary = json.loads((out / "summary.json").read_text())
        assert summary["error"].startswith(f"interrupted by {signal.Signals(sig).name}")
        assert json.loads(Layout(out).lock.read_text())["token"] == ""
    rep = run(manifest, out, opts=INLINE)  # resumes where it stopped
    assert all(r["ok"] for r in rep.ran) and len(rep.ran) < 12
    assert_same_store(clean_out, out)


def _task(manifest: Path, out: Path, stage: str) -> UnitTask:
    """The real task of one unit, as the scheduler builds it."""
    session = open_session(manifest, out)
    unit = session.plan().units[(stage, VID)]
    ups = {"content": session.ctx.content[VID]} if stage == "probe" else {}
    return UnitTask(stage, unit.decl.run, unit.video, session.manifest.stages, str(out),
                    str(session.manifest.root_dir()), unit.fingerprint, ups)


def test_a_stale_worker_cannot_write_into_a_folder_another_run_holds(two_clips, done_out,
                                                                     tmp_path: Path) -> None:
    manifest = two_clips[1]
    fresh = tmp_path / "fresh"
    probe, frames = _task(manifest, fresh, "probe"), _task(manifest, done_out, "frames")
    shard = done_out / "frames" / f"{VID}.h5"
    before = (shard.stat().st_mtime_ns,)
    for out, task in ((fresh, probe), (done_out, frames)):
        with run_lock(Layout(out)) as token:
            old_run = "0" * 32  # a worker still holding a task of an earlier run
            res = execute(task, old_run)
            assert not res.ok and res.error_type == "StaleRunError", res.error
            assert "now held by run" in res.error
            assert execute(task, token).ok  # the run that holds the folder writes
    assert (fresh / ".emoprep" / "work" / "probe" / f"{VID}.json").is_file()
    assert not list(done_out.rglob(".*.tmp*")) and not list(fresh.rglob(".*.tmp*"))
    assert shard.stat().st_mtime_ns != before[0]  # rewritten once, by the holder only
    with run_lock(Layout(done_out)):
        pass
    res = execute(frames, token)  # after that run ended its token is void too
    assert res.error_type == "StaleRunError"


def _workers(pgid: int, coordinator: int) -> list[int]:
    """Worker processes of a run: children of its forkserver."""
    def parent(pid: int) -> int:
        return int(Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[1])

    procs = [p for p in group_pids(pgid) if p != coordinator]
    servers = {p for p in procs if parent(p) == coordinator}
    return [p for p in procs if p not in servers]


def _busy(pgid: int, out: Path) -> list[int]:
    """Workers of a run that hold a temporary output of ``out`` open (so they are inside a
    unit: a unit writes its outputs under temporary names and renames them when it ends)."""
    found = []
    for pid in _workers(pgid, pgid):
        try:
            links = [os.readlink(f) for f in Path(f"/proc/{pid}/fd").iterdir()]
        except (FileNotFoundError, ProcessLookupError, PermissionError):
            continue
        if any(link.startswith(str(out)) and link.endswith(".tmp") for link in links):
            found.append(pid)
    return found


@pytest.mark.slow
def test_a_killed_worker_fails_only_its_units_and_they_are_retried(two_clips, clean_out,
                                                                   tmp_path: Path) -> None:
    manifest, out = two_clips[1], tmp_path / "out"
    proc = _started(manifest, out)
    busy: list[int] = []
    wait_for(lambda: bool(busy.extend(_busy(proc.pid, out)) or busy)
             or proc.poll() is not None, 60, "a worker inside a unit")
    assert busy, "the run ended before any worker was seen inside a unit"
    os.kill(busy[0], signal.SIGKILL)  # mid-unit, as the OOM killer would
    stdout, _ = proc.communicate(timeout=300)
    _all_gone(proc.pid)
    report = json.loads(stdout)
    crashed = [r for r in report["ran"] if not r["ok"]]
    assert crashed, "a worker was killed mid-unit, yet no unit failed"
    assert all("worker process died" in r["error"] for r in crashed), crashed
    assert proc.returncode == 1
    rep = run(manifest, out, opts=INLINE)  # environment failures are retried
    assert {(r["stage"], r["video_id"]) for r in crashed} <= {
        (r["stage"], r["video_id"]) for r in rep.ran}
    assert all(r["ok"] for r in rep.ran)
    assert_same_store(clean_out, out)
