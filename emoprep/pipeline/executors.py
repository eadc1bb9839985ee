"""Executors behind one interface: in-process, local processes, and dask.distributed.

The coordinator submits one job per video's units that run together (a :class:`Job`: one unit, or
a video's frame-reading units fed by one decode) and waits for any to finish; workers only write
their own shards, never records or indexes. Each job goes with the run token read from the output
folder's lock (:func:`emoprep.io.atomic.read_token`), which guards its writes.

Local workers die with their coordinator (:func:`emoprep.pipeline.worker.init_worker`); when the
run is interrupted (Ctrl-C, SIGTERM, an error) :meth:`Executor.abort` ends the running units at
once instead of waiting for them. docs/RELIABILITY.md says why this is a ProcessPoolExecutor and
not joblib's loky.
"""

from __future__ import annotations

import multiprocessing as mp
import os
from abc import ABC, abstractmethod
from collections.abc import Callable, Iterable
from concurrent.futures import FIRST_COMPLETED, Future, ProcessPoolExecutor, wait
from concurrent.futures.process import BrokenProcessPool
from enum import Enum
from pathlib import Path
from typing import Any

from emoprep.errors import EmoprepError
from emoprep.io.atomic import read_token
from emoprep.io.layout import Layout
from emoprep.pipeline.stagedef import Job, UnitResult
from emoprep.pipeline.worker import ProgressChannel, execute_job, init_worker

#: dask's own setting for the time to connect to a ``--scheduler``
CONNECT_KEY = "distributed.comm.timeouts.connect"
#: seconds to connect when ``CONNECT_KEY`` is at dask's shipped default (30 s): an unreachable
#: scheduler fails in seconds, not after 30 s of retries
CONNECT_TIMEOUT_S = 5.0


class SchedulerUnreachableError(EmoprepError):
    """``--scheduler ADDRESS`` cannot be reached (nothing listens there, a bad address)."""

    exit_code = 2  #: a configuration error (the CLI's exit status)


class ExecutorKind(str, Enum):
    LOCAL = "local"  #: processes on this machine (--workers N; 0 = in this process)
    DASK = "dask"  #: dask.distributed: --scheduler ADDRESS, or a LocalCluster of --workers N


class Executor(ABC):
    dashboard: str | None = None
    description: str = ""
    capacity: int = 1  #: jobs in flight at once (the coordinator submits no more)

    @abstractmethod
    def submit(self, job: Job) -> Any: ...

    @abstractmethod
    def wait_any(self, futures: Iterable[Any]) -> list[Any]:
        """Block until at least one future is done; return the done ones."""

    @abstractmethod
    def result(self, future: Any, job: Job) -> list[UnitResult]: ...

    def progress_queue(self) -> Any:
        """A queue workers can put frame counts on, or None when the executor cannot carry one."""
        return None

    def cancel(self, futures: Iterable[Any]) -> None:
        for f in futures:
            f.cancel()

    def close(self) -> None:
        return None

    def abort(self) -> None:
        """Stop now: the run was interrupted; running units are abandoned (their temporaries are
        swept by the next run)."""
        self.close()

    def token(self, job: Job) -> str:
        """The run token of the job's output folder (read once per folder)."""
        tokens: dict[str, str] = self.__dict__.setdefault("_tokens", {})
        out = job.tasks[0].out
        if out not in tokens:
            tokens[out] = read_token(Layout(Path(out)).lock)
        return tokens[out]

    def __enter__(self) -> Executor:
        return self

    def __exit__(self, exc_type: object, *exc: object) -> None:
        if exc_type is None:
            self.close()
        else:
            self.abort()


def _crashed(job: Job, why: str) -> list[UnitResult]:
    """Every unit of a job whose worker was lost fails with ``why``."""
    if len(job.tasks) > 1:
        why = f"{why} (while running the single-decode pass {job.label})"
    return [UnitResult(t.stage, t.entry.video_id, False, error=why, error_type="WorkerCrash")
            for t in job.tasks]


class InlineExecutor(Executor):
    """Runs each unit in this process when submitted (``--workers 0``; debugging and tests)."""

    description = "in-process"

    def __init__(self, fn: Callable[[Job, str], list[UnitResult]] = execute_job) -> None:
        self.fn = fn

    def progress_queue(self) -> Any:
        import queue

        return queue.SimpleQueue()

    def submit(self, job: Job) -> Future:
        fut: Future = Future()
        fut.set_result(self.fn(job, self.token(job)))
        return fut

    def wait_any(self, futures: Iterable[Future]) -> list[Future]:
        return [f for f in futures if f.done()]

    def result(self, future: Future, job: Job) -> list[UnitResult]:
        return future.result()


class LocalExecutor(Executor):
    """A pool of ``workers`` processes (forkserver start: no inherited threads or open files).

    A worker that dies (segfault, OOM kill) fails only the units it was running; the pool is
    rebuilt and the run goes on. Workers watch this process and exit when it ends; frame counts
    travel on a queue handed to them at start (no manager process that could outlive the run).
    """

    def __init__(self, workers: int) -> None:
        self.workers = max(1, workers)
        self.description = f"local, {self.workers} process{'es' if self.workers > 1 else ''}"
        self.capacity = 2 * self.workers
        self._ctx = mp.get_context("forkserver")
        self._queue: Any = None
        self._pool: ProcessPoolExecutor | None = None

    def progress_queue(self) -> Any:
        if self._queue is None:
            self._queue = self._ctx.SimpleQueue()
        return ProgressChannel(self._queue)

    def _new_pool(self) -> ProcessPoolExecutor:
        return ProcessPoolExecutor(self.workers, mp_context=self._ctx, initializer=init_worker,
                                   initargs=(os.getpid(), self._queue))

    @property
    def pool(self) -> ProcessPoolExecutor:
        if self._pool is None:
            self._pool = self._new_pool()
        return self._pool

    def submit(self, job: Job) -> Future:
        try:
            return self.pool.submit(execute_job, job, self.token(job))
        except BrokenProcessPool:
            self._pool = self._new_pool()
            return self._pool.submit(execute_job, job, self.token(job))

    def wait_any(self, futures: Iterable[Future]) -> list[Future]:
        done, _ = wait(list(futures), return_when=FIRST_COMPLETED)
        return list(done)

    def result(self, future: Future, job: Job) -> list[UnitResult]:
        try:
            return future.result()
        except BrokenProcessPool:
            self.pool.shutdown(wait=False, cancel_futures=True)
            self._pool = self._new_pool()
            return _crashed(
                job, "the worker process died while running this unit (crash or out of memory)"
            )

    def close(self) -> None:
        if self._pool is not None:
            self._pool.shutdown(wait=True, cancel_futures=True)

    def abort(self) -> None:
        """Cancel queued units and end the running ones with SIGTERM (then SIGKILL)."""
        if self._pool is None:
            return
        procs = list((getattr(self._pool, "_processes", None) or {}).values())
        self._pool.shutdown(wait=False, cancel_futures=True)
        for p in procs:
            p.terminate()
        for p in procs:
            p.join(timeout=5)
            if p.is_alive():
                p.kill()
                p.join(timeout=5)


class DaskExecutor(Executor):
    """dask.distributed: connect to ``scheduler`` or start a LocalCluster of ``workers``
    processes."""

    def __init__(self, workers: int, scheduler: str | None = None) -> None:
        import dask
        from distributed import Client, LocalCluster

        # Units are long, pure compute on whole frames: dask's statistical profiler (samples every
        # 10 ms) and its MALLOC_TRIM_THRESHOLD_=64 KiB (returns every freed frame buffer to the OS)
        # only cost time. Applies to LocalCluster workers; set the same on your cluster's workers.
        dask.config.set({"distributed.worker.profile.enabled": False,
                         "distributed.nanny.pre-spawn-environ.MALLOC_TRIM_THRESHOLD_": 128 * 2**20})
        self._cluster = None
        if scheduler:
            self.client = connect(scheduler)
            self.description = f"dask scheduler {scheduler}"
        else:
            self._cluster = LocalCluster(
                n_workers=max(1, workers),
                threads_per_worker=1,
                processes=True,
                dashboard_address="127.0.0.1:0",
            )
            self.client = Client(self._cluster)
            self.description = f"dask LocalCluster, {max(1, workers)} workers"
        self.client.run(init_worker)
        self.dashboard = self.client.dashboard_link
        self.capacity = max(
            8, 4 * sum(self.client.nthreads().values())
        )  # hide scheduler round trips

    def progress_queue(self) -> Any:
        from distributed import Queue

        return Queue(client=self.client)

    def submit(self, job: Job) -> Any:
        return self.client.submit(execute_job, job, self.token(job), pure=False)

    def wait_any(self, futures: Iterable[Any]) -> list[Any]:
        from distributed import wait as dwait

        done, _ = dwait(list(futures), return_when="FIRST_COMPLETED")
        return list(done)

    def result(self, future: Any, job: Job) -> list[UnitResult]:
        try:
            return future.result()
        except Exception as exc:  # KilledWorker, lost connection: fail this job, keep the run
            return _crashed(job, f"dask could not run this unit: {type(exc).__name__}: {exc}")

    def close(self) -> None:
        self.client.close()
        if self._cluster is not None:
            self._cluster.close()


def connect_timeout() -> float:
    """Seconds to connect to a scheduler: dask's ``distributed.comm.timeouts.connect`` when it is
    configured (``DASK_DISTRIBUTED__COMM__TIMEOUTS__CONNECT=60s``, a dask YAML file, or
    ``dask.config.set`` to another value than the shipped 30 s), else :data:`CONNECT_TIMEOUT_S`."""
    import dask
    from dask.utils import parse_timedelta

    configured = dask.config.get(CONNECT_KEY, None, config=dask.config.collect())  # env, YAML
    shipped = dask.config.get(CONNECT_KEY, None, config=dask.config.merge(*dask.config.defaults))
    value = dask.config.get(CONNECT_KEY, None)
    if configured is None and (value is None or value == shipped):
        return CONNECT_TIMEOUT_S
    return float(parse_timedelta(value, default="seconds"))


def connect(address: str) -> Any:
    """A ``distributed.Client`` of the scheduler at ``address`` within :func:`connect_timeout`.

    Raises :class:`SchedulerUnreachableError` (one line: the address, the time waited, the fix)
    instead of distributed's retry traceback.
    """
    from distributed import Client

    timeout = connect_timeout()
    try:
        return Client(address, timeout=timeout)
    except (OSError, TimeoutError, ValueError) as exc:
        why = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        raise SchedulerUnreachableError(
            f"dask scheduler {address}: not reachable within {timeout:g} s ({why}); start it "
            f"(`dask scheduler`) and pass the address it prints (tcp://HOST:8786), leave out "
            f"--scheduler to start a local cluster, or allow longer with "
            f"DASK_DISTRIBUTED__COMM__TIMEOUTS__CONNECT=60s") from None


def make_executor(kind: ExecutorKind, workers: int, scheduler: str | None = None) -> Executor:
    if kind is ExecutorKind.DASK:
        return DaskExecutor(workers, scheduler)
    return InlineExecutor() if workers == 0 else LocalExecutor(workers)
