"""Crash safety: SIGKILL a real `emoprep run` at several points (a fresh folder each), resume,
compare with a clean run; and the dask executors produce the same output folder as the local one.
One clean reference run is shared by the module. Its clips run one unit per stage and video
(``batch.enabled: false``), so records land unit by unit and the kill points fall between them;
a batch's kill points are tests/reliability/test_kill_points_packed.py's."""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import h5py
import pytest

from emoprep.pipeline.executors import ExecutorKind
from emoprep.pipeline.runner import RunOptions, run
from tests.helpers import CORPUS, PER_VIDEO, assert_same_store, n_records, write_manifest

STAGES = {"split": {"folds": 2, "test_fraction": 0.25}, "embed": {"hog": {"type": "hog"}}}


def _n_records(out: Path) -> int:
    return n_records(out)


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


@pytest.fixture(scope="module")
def clean(clip_bank: Path, tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path, int]:
    """(manifest over the four CORPUS clips, the output folder of one clean in-process run, its
    number of units): the reference every test of this module compares with (read-only)."""
    base = tmp_path_factory.mktemp("resume")
    root = base / "videos"
    root.mkdir()
    for name, *_ in CORPUS:
        shutil.copy2(clip_bank / name, root / name)
    manifest = write_manifest(base / "m.yaml", root, STAGES, batch=PER_VIDEO)  # unit by unit
    rep = run(manifest, base / "clean", opts=RunOptions(workers=0))
    assert rep.ran and all(r["ok"] for r in rep.ran)
    return manifest, base / "clean", len(rep.ran)


@pytest.mark.slow
@pytest.mark.parametrize("point", [1, 11, 17])  # early, middle, late; each one must kill
def test_sigkill_at_a_point_then_resume_equals_clean_run(clean, tmp_path: Path, point: int
                                                         ) -> None:
    """SIGKILL the whole process group of a 2-worker run once ``point`` unit records exist (of
    24), resume with the CLI, compare with the clean run."""
    manifest, reference, _ = clean
    out = tmp_path / "killed"
    assert _kill_when(_run_cli(manifest, out), out, point), "the run ended before the point"
    # nothing half-written may look complete: every shard under its final name opens and reads
    # whole (a killed writer leaves only hidden .*.tmp* files)
    for shard in [p for p in out.rglob("*.h5") if not p.name.startswith(".")]:
        with h5py.File(shard, "r") as f:
            f.visititems(lambda _, obj: obj[()] if isinstance(obj, h5py.Dataset) else None)
    final = subprocess.run([sys.executable, "-m", "emoprep.cli.app", "run", "-m", str(manifest),
                            "-o", str(out), "--workers", "2", "--json"],
                           capture_output=True, text=True, timeout=300)
    assert final.returncode == 0, final.stderr[-2000:]
    assert not list(out.rglob(".*.tmp*"))  # the resumed run swept the killed run's temporaries
    assert_same_store(reference, out)
    assert run(manifest, out, opts=RunOptions(workers=0)).ran == []


@pytest.mark.slow
def test_dask_local_cluster_matches_local_executor(clean, tmp_path: Path) -> None:
    manifest, reference, n_units = clean
    dask = run(manifest, tmp_path / "dask", opts=RunOptions(executor=ExecutorKind.DASK, workers=2))
    assert dask.executor.startswith("dask LocalCluster, 2 workers")
    assert dask.dashboard and dask.dashboard.startswith("http://127.0.0.1:")
    assert len(dask.ran) == n_units and all(r["ok"] for r in dask.ran)
    assert_same_store(reference, tmp_path / "dask")


@pytest.mark.slow
def test_dask_existing_scheduler_address(clean, tmp_path: Path) -> None:
    """--scheduler ADDRESS: connect to a scheduler someone else started (here: on loopback)."""
    from distributed import LocalCluster

    manifest, reference, _ = clean
    with LocalCluster(n_workers=2, threads_per_worker=1, processes=True, dashboard_address=None,
                      host="127.0.0.1") as cluster:
        rep = run(manifest, tmp_path / "remote",
                  opts=RunOptions(executor=ExecutorKind.DASK, scheduler=cluster.scheduler_address))
        assert rep.executor == f"dask scheduler {cluster.scheduler_address}"
        assert rep.ran and all(r["ok"] for r in rep.ran)
    assert_same_store(reference, tmp_path / "remote")
