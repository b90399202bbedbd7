"""Where sweep runs execute: in this process, or in a pool of spawned local processes.

A backend takes run configs and yields each run's `RunOutput` as it finishes (in any
order); it never writes files, the driver does. Both call `runner.run_one`, so a run
gives the same output wherever it ran. Pool workers are spawned, not forked (a forked
child would inherit the driver's threads and locks, e.g. Arrow's), and their initializer
imports the plug-in modules that register extra policies (the CLI passes
"solvers.rolling" so `cpsat-rolling` exists in every worker). At most two runs per worker
are queued at a time, so an interrupted sweep leaves little queued work behind, and a
worker whose driver died (kill -9) exits within a second. The Ray
backend (`executor.sweep_ray`) has the same shape.
"""

from __future__ import annotations

import importlib
import multiprocessing as mp
import os
import threading
import time
from collections.abc import Iterator, Sequence
from concurrent.futures import FIRST_COMPLETED, Future, ProcessPoolExecutor, wait
from concurrent.futures.process import BrokenProcessPool
from typing import Any, Protocol

from simulator.sweep.runner import RunOutput, one_line, run_one
from traces.errors import UserError

QUEUED_PER_WORKER = 2
ORPHAN_CHECK_S = 0.5


class Backend(Protocol):
    """Runs configs and yields their outputs as they finish."""

    @property
    def workers(self) -> int:
        """How many runs go at once."""
        ...

    def describe(self) -> str:
        """One line for the CLI, e.g. "a pool of 4 local processes"."""
        ...

    def run(self, configs: Sequence[dict[str, Any]]) -> Iterator[RunOutput]:
        """One output per config, in completion order."""
        ...


def import_plugins(modules: Sequence[str]) -> None:
    """Import modules that register plug-ins (policies, placements) as a side effect."""
    for name in modules:
        importlib.import_module(name)


def _init_worker(plugin_modules: Sequence[str]) -> None:
    """Pool worker start: exit when the driver dies (a killed driver's queue never closes, so an
    orphaned worker would otherwise wait forever), then import the plug-ins."""
    parent = os.getppid()

    def watch() -> None:
        while os.getppid() == parent:
            time.sleep(ORPHAN_CHECK_S)
        os._exit(1)

    threading.Thread(target=watch, name="sweep-orphan-watch", daemon=True).start()
    import_plugins(plugin_modules)


def failed_output(config: dict[str, Any], exc: BaseException, why: str) -> RunOutput:
    """The output of a run whose worker failed outside `run_one` (it died, the pool broke)."""
    error = {"type": type(exc).__name__, "message": f"{why}: {one_line(exc)}", "traceback": ""}
    return RunOutput(str(config.get("run_id", "")), None, b"", b"", error, 0.0)


def default_workers() -> int:
    """The CPUs this process may use (its affinity mask, else the machine's count)."""
    if hasattr(os, "sched_getaffinity"):
        return max(1, len(os.sched_getaffinity(0)))
    return max(1, os.cpu_count() or 1)


class SequentialBackend:
    """Every run in this process, one after another (no start-up cost; `--jobs 1`)."""

    def __init__(self, plugin_modules: Sequence[str] = ()) -> None:
        self.plugin_modules = tuple(plugin_modules)

    @property
    def workers(self) -> int:
        return 1

    def describe(self) -> str:
        return "this process (sequential)"

    def run(self, configs: Sequence[dict[str, Any]]) -> Iterator[RunOutput]:
        import_plugins(self.plugin_modules)
        for config in configs:
            yield run_one(config)


class PoolBackend:
    """A pool of spawned local processes (`concurrent.futures.ProcessPoolExecutor`)."""

    def __init__(self, workers: int | None = None, plugin_modules: Sequence[str] = ()) -> None:
        if workers is not None and workers < 1:
            raise UserError(f"--jobs must be >= 1, got {workers}")
        self._workers = workers or default_workers()
        self.plugin_modules = tuple(plugin_modules)

    @property
    def workers(self) -> int:
        return self._workers

    def describe(self) -> str:
        return f"a pool of {self._workers} local processes"

    def _pool(self, n: int) -> ProcessPoolExecutor:
        return ProcessPoolExecutor(max_workers=n, mp_context=mp.get_context("spawn"),
                                   initializer=_init_worker, initargs=(self.plugin_modules,))

    def run(self, configs: Sequence[dict[str, Any]]) -> Iterator[RunOutput]:
        if not configs:
            return
        n = min(self._workers, len(configs))
        pool = self._pool(n)
        todo = iter(configs)
        pending: dict[Future[RunOutput], dict[str, Any]] = {}
        finished = False
        try:
            while True:
                while len(pending) < QUEUED_PER_WORKER * n:
                    config = next(todo, None)
                    if config is None:
                        break
                    pending[pool.submit(run_one, config)] = config
                if not pending:
                    break
                ready, _ = wait(pending, return_when=FIRST_COMPLETED)
                broken = False
                for future in ready:
                    config = pending.pop(future)
                    try:
                        output = future.result()
                    except BrokenProcessPool as exc:
                        broken = True
                        output = failed_output(config, exc, "a worker process died while running it or a run beside it")
                    except Exception as exc:  # noqa: BLE001 - e.g. an output that could not be sent back
                        output = failed_output(config, exc, "the worker failed outside the run")
                    yield output
                if broken:
                    # Every run still in flight is lost with the pool; record them and go on with a new one.
                    for future, config in list(pending.items()):
                        yield failed_output(config, BrokenProcessPool(), "a worker process died beside it")
                        del pending[future]
                    pool.shutdown(wait=False, cancel_futures=True)
                    pool = self._pool(n)
            finished = True
        finally:
            pool.shutdown(wait=finished, cancel_futures=True)


def make_local_backend(jobs: int | None = None, plugin_modules: Sequence[str] = ()) -> Backend:
    """`jobs` workers (default: the CPUs this process may use); one means in this process."""
    if jobs is not None and jobs < 1:
        raise UserError(f"--jobs must be >= 1, got {jobs}")
    n = jobs or default_workers()
    if n == 1:
        return SequentialBackend(plugin_modules)
    return PoolBackend(n, plugin_modules)
