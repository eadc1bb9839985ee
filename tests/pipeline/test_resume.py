"""Crash safety: SIGKILL a real `emoprep run` at several points, resume, compare with a clean run;
and the dask LocalCluster executor produces the same store as the local one."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import h5py
import pytest

from emoprep.pipeline.executors import ExecutorKind
from emoprep.pipeline.runner import RunOptions, run
from tests.helpers import assert_same_store, write_manifest

STAGES = {"split": {"folds": 2, "test_fraction": 0.25}, "embed": {"hog": {"type": "hog"}}}


def _n_records(out: Path) -> int:
    return len(list((out / ".emoprep" / "records").glob("*/*.json")))


def _run_cli(manifest: Path, out: Path) -> subprocess.Popen:
    cmd = [sys.executable, "-m", "emoprep.cli.app", "run", "-m", str(manifest), "-o", str(out),
           "--workers", "2", "--json"]
    return subprocess.Popen(
        cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True
    )


def _kill_when(proc: subprocess.Popen, out: Path, records: int, timeout: float = 120) -> bool:
    """SIGKILL the run (and its workers) once ``records`` unit records exist; False if it ended
    first."""
    t0 = time.time()
    while time.time() - t0 < timeout:
        if proc.poll() is not None:
            return False
        if _n_records(out) >= records:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()
            return True
        time.sleep(0.02)
    os.killpg(proc.pid, signal.SIGKILL)
    raise AssertionError("run did not reach the kill point in time")


@pytest.mark.slow
def test_sigkill_at_several_points_then_resume_equals_clean_run(
    corpus: Path, tmp_path: Path
) -> None:
    manifest = write_manifest(tmp_path / "m.yaml", corpus, STAGES)
    clean = tmp_path / "clean"
    run(manifest, clean, opts=RunOptions(workers=0))

    out = tmp_path / "killed"
    kills = 0
    for point in (1, 6, 11, 17):
        if _kill_when(_run_cli(manifest, out), out, point):
            kills += 1
            # nothing half-written may look complete: every shard under its final name opens
            # and reads whole (a killed writer leaves only hidden .*.tmp* files)
            shards = [p for p in out.rglob("*.h5") if not p.name.startswith(".")]
            for shard in shards:
                with h5py.File(shard, "r") as f:
                    f.visititems(lambda _, obj: obj[()] if isinstance(obj, h5py.Dataset) else None)
    assert kills >= 3
    final = subprocess.run(
        [
            sys.executable,
            "-m",
            "emoprep.cli.app",
            "run",
            "-m",
            str(manifest),
            "-o",
            str(out),
            "--workers",
            "2",
            "--json",
        ],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert final.returncode == 0, final.stderr[-2000:]
    assert not list(out.rglob(".*.tmp*"))  # the resumed run swept the killed run's temporaries
    assert_same_store(clean, out)
    again = run(manifest, out, opts=RunOptions(workers=0))
    assert again.ran == []


@pytest.mark.slow
def test_dask_local_cluster_matches_local_executor(corpus: Path, tmp_path: Path) -> None:
    manifest = write_manifest(tmp_path / "m.yaml", corpus, STAGES)
    local = run(manifest, tmp_path / "local", opts=RunOptions(workers=2))
    dask = run(manifest, tmp_path / "dask", opts=RunOptions(executor=ExecutorKind.DASK, workers=2))
    assert dask.executor.startswith("dask LocalCluster, 2 workers")
    assert dask.dashboard and dask.dashboard.startswith("http://127.0.0.1:")
    assert len(dask.ran) == len(local.ran) and all(r["ok"] for r in dask.ran)
    assert_same_store(tmp_path / "local", tmp_path / "dask")


@pytest.mark.slow
def test_dask_existing_scheduler_address(corpus: Path, tmp_path: Path) -> None:
    """--scheduler ADDRESS: connect to a scheduler someone else started (here: on loopback)."""
    from distributed import LocalCluster

    manifest = write_manifest(tmp_path / "m.yaml", corpus, STAGES)
    with LocalCluster(n_workers=2, threads_per_worker=1, processes=True, dashboard_address=None,
                      host="127.0.0.1") as cluster:
        rep = run(manifest, tmp_path / "remote",
                  opts=RunOptions(executor=ExecutorKind.DASK, scheduler=cluster.scheduler_address))
        assert rep.executor == f"dask scheduler {cluster.scheduler_address}"
        assert rep.ran and all(r["ok"] for r in rep.ran)
    local = tmp_path / "local"
    run(manifest, local, opts=RunOptions(workers=0))
    assert_same_store(local, tmp_path / "remote")
