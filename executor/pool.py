"""Where workers live: spawned local processes (default) or Ray actors (`executor.ray_pool`).

The dispatcher (`executor.execute`) sees only this small interface, so the replay logic
is the same on one machine and on a Ray cluster. Events come back as tuples:
("ready", worker_id, info), ("done", worker_id, task, result), ("died", worker_id, why),
("error", worker_id, message) for a worker that could not start.
"""

from __future__ import annotations

import multiprocessing as mp
import os
import re
import signal
from collections.abc import Sequence
from multiprocessing.connection import Connection, wait
from typing import Any, Protocol

from executor.worker import Task, WorkerSpec, process_main

Event = tuple[Any, ...]


class WorkerPool(Protocol):
    def start(self, specs: Sequence[WorkerSpec]) -> None:
        """Start every worker; each reports ("ready", ...) or ("error", ...) through `wait`."""

    def submit(self, worker_id: str, task: Task) -> None: ...

    def wait(self, timeout_s: float) -> list[Event]: ...

    def restart(self, worker_id: str) -> None: ...

    def pids(self) -> dict[str, int]: ...

    def close(self) -> None: ...


def describe_exit(exitcode: int | str | None) -> tuple[str, str]:
    """(status, words) for a worker that ended while running a job: killed by a signal, or crashed.

    `exitcode` is a process exit code (negative: the signal), or a runtime's own words (Ray).
    """
    if exitcode is None:
        return "crashed", "the worker stopped answering"
    if isinstance(exitcode, str):
        words = " ".join(exitcode.split())[:300]
        return ("killed" if re.search(r"SIGKILL|SIGTERM|killed", words) else "crashed"), words
    if exitcode < 0:
        try:
            name = signal.Signals(-exitcode).name
        except ValueError:
            name = f"signal {-exitcode}"
        status = "killed" if -exitcode in (signal.SIGKILL, signal.SIGTERM, signal.SIGINT) else "crashed"
        return status, f"the worker process was ended by {name}"
    return "crashed", f"the worker process exited with code {exitcode}"


class LocalPool:
    """One spawned process per worker (spawn, not fork: TensorFlow is not fork-safe)."""

    def __init__(self) -> None:
        self._ctx = mp.get_context("spawn")
        self._specs: dict[str, WorkerSpec] = {}
        self._procs: dict[str, Any] = {}
        self._conns: dict[str, Connection] = {}
        self._dead: set[str] = set()

    def start(self, specs: Sequence[WorkerSpec]) -> None:
        for spec in specs:
            self._specs[spec.worker_id] = spec
            self._spawn(spec.worker_id)

    def _spawn(self, worker_id: str) -> None:
        parent, child = self._ctx.Pipe()
        proc = self._ctx.Process(target=process_main, args=(self._specs[worker_id], child, os.getpid()),
                                 name=f"gpusched-worker-{worker_id}", daemon=True)
        proc.start()
        child.close()
        self._procs[worker_id], self._conns[worker_id] = proc, parent
        self._dead.discard(worker_id)

    def submit(self, worker_id: str, task: Task) -> None:
        self._conns[worker_id].send(("run", task))

    def pids(self) -> dict[str, int]:
        return {w: p.pid for w, p in self._procs.items() if w not in self._dead}

    def wait(self, timeout_s: float) -> list[Event]:
        live = {w: p for w, p in self._procs.items() if w not in self._dead}
        handles: dict[Any, tuple[str, str]] = {}
        for w in live:
            handles[self._conns[w]] = (w, "conn")
            handles[live[w].sentinel] = (w, "proc")
        events: list[Event] = []
        if not handles:
            return events
        for ready in wait(list(handles), timeout=max(0.0, timeout_s)):
            w, kind = handles[ready]
            if w in self._dead:
                continue
            if kind == "conn":
                try:
                    while self._conns[w].poll():
                        message = self._conns[w].recv()
                        events.append((message[0], w, *message[1:]))
                    continue
                except (EOFError, OSError):
                    pass
            self._procs[w].join(timeout=5)
            self._dead.add(w)
            events.append(("died", w, self._procs[w].exitcode))
        return events

    def restart(self, worker_id: str) -> None:
        proc = self._procs.get(worker_id)
        if proc is not None and proc.is_alive():
            proc.kill()
            proc.join(timeout=5)
        self._conns[worker_id].close()
        self._spawn(worker_id)

    def close(self) -> None:
        for w, conn in self._conns.items():
            if w not in self._dead:
                try:
                    conn.send(("stop",))
                except (OSError, BrokenPipeError):
                    pass
        for proc in self._procs.values():
            proc.join(timeout=10)
            if proc.is_alive():
                proc.kill()
                proc.join(timeout=5)
        for conn in self._conns.values():
            conn.close()
