"""Executors: an unreachable dask scheduler fails fast with one line (no retry traceback), and the
connect timeout follows dask's own ``distributed.comm.timeouts.connect`` when it is configured.
Only loopback addresses, on a port nothing listens on."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
from pathlib import Path

import dask
import distributed  # registers dask's distributed.* config defaults, as a run does
import pytest

from emoprep.pipeline.executors import (
    CONNECT_KEY,
    CONNECT_TIMEOUT_S,
    DaskExecutor,
    SchedulerUnreachableError,
    connect_timeout,
)
from tests.helpers import write_manifest


@pytest.fixture
def dead_address() -> str:
    """``tcp://127.0.0.1:PORT`` where nothing listens (a port just released by this process)."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    return f"tcp://127.0.0.1:{port}"


def test_connect_timeout_defaults_to_5_s_and_follows_dask_config(monkeypatch) -> None:
    monkeypatch.delenv("DASK_DISTRIBUTED__COMM__TIMEOUTS__CONNECT", raising=False)
    assert connect_timeout() == CONNECT_TIMEOUT_S == 5.0
    with dask.config.set({CONNECT_KEY: "2s"}):
        assert connect_timeout() == 2.0
    with dask.config.set({CONNECT_KEY: "1 minute"}):
        assert connect_timeout() == 60.0
    # set in the environment, even to dask's shipped 30 s, it is the user's choice
    monkeypatch.setenv("DASK_DISTRIBUTED__COMM__TIMEOUTS__CONNECT", "30s")
    assert connect_timeout() == 30.0


@pytest.fixture
def attempts(monkeypatch) -> list[tuple[tuple, dict]]:
    """Every ``distributed.Client`` made while the test runs: (args, kwargs), then the real one."""
    made: list[tuple[tuple, dict]] = []
    real = distributed.Client

    def client(*args, **kwargs):  # noqa: ANN002, ANN003, ANN202
        made.append((args, kwargs))
        return real(*args, **kwargs)

    monkeypatch.setattr(distributed, "Client", client)
    return made


def test_unreachable_scheduler_fails_within_the_timeout(dead_address: str, attempts) -> None:
    with pytest.raises(SchedulerUnreachableError) as err:
        DaskExecutor(1, dead_address)
    # one connection attempt, bounded by the 5 s timeout (dask's default is 30 s of retries)
    assert attempts == [((dead_address,), {"timeout": CONNECT_TIMEOUT_S})]
    msg = str(err.value)
    assert "\n" not in msg and dead_address in msg and "within 5 s" in msg
    assert "--scheduler" in msg and "DASK_DISTRIBUTED__COMM__TIMEOUTS__CONNECT" in msg
    assert err.value.exit_code == 2


def test_configured_timeout_is_used(dead_address: str, attempts) -> None:
    with dask.config.set({CONNECT_KEY: "1s"}), pytest.raises(SchedulerUnreachableError) as err:
        DaskExecutor(1, dead_address)
    assert attempts == [((dead_address,), {"timeout": 1.0})] and "within 1 s" in str(err.value)


def test_cli_prints_one_error_line_and_exits_2(clip_bank: Path, tmp_path: Path,
                                               dead_address: str) -> None:
    videos = tmp_path / "videos"
    videos.mkdir()
    (videos / "s01_happy_1.mp4").write_bytes((clip_bank / "s01_happy_1.mp4").read_bytes())
    manifest = write_manifest(tmp_path / "m.yaml", videos, {"split": {"folds": 2,
                                                                     "required": False}})
    res = subprocess.run([sys.executable, "-m", "emoprep.cli.app", "run", "-m", str(manifest),
                          "-o", str(tmp_path / "out"), "--executor", "dask", "--scheduler",
                          dead_address], capture_output=True, text=True, timeout=120,
                         env={**os.environ, "DASK_DISTRIBUTED__COMM__TIMEOUTS__CONNECT": "2s"})
    assert res.returncode == 2, res.stderr
    errors = [line for line in res.stderr.splitlines() if line.startswith("error:")]
    assert len(errors) == 1 and dead_address in errors[0] and "within 2 s" in errors[0]
    assert "Traceback" not in res.stderr and len(res.stderr.splitlines()) <= 3, res.stderr
    # refused before any unit ran: the run lock, the planner's content hashes and the (empty)
    # records database at rest, nothing else
    made = sorted(str(p.relative_to(tmp_path / "out")) for p in (tmp_path / "out").rglob("*"))
    assert made == [".emoprep", ".emoprep/hashes.json", ".emoprep/lock",
                    ".emoprep/records.sqlite"]
