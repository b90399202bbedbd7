"""Profiling under load: n processes, one per CPU core, measure the same model in lock-step.

On a machine without GPUs, the logical devices of a replay share the machine: while one
job trains, the others train too, and each runs slower than it would alone (shared caches,
memory bandwidth, a hypervisor's sibling threads). A profile taken alone then overstates
the replay's speed by 10-15% here. This module measures the way a busy replay runs: n
spawned processes, each pinned to its own core with one TensorFlow thread, build the same
model, wait for each other at a barrier, then time their repeats at the same time. A gang
of k devices occupies k of the n device slots, so only n // k processes measure gangs of k
(the others wait at the barrier), as in a replay where a gang leaves the rest of the
machine to n - k devices.

The rows of the measuring processes are merged into one per key: the median of their
rates, with a standard deviation that pools the repeats' spread within and across processes.
"""

from __future__ import annotations

import dataclasses
import math
import multiprocessing as mp
import queue
import statistics
from multiprocessing.synchronize import Barrier
from pathlib import Path
from typing import Any

from executor.devices import DeviceSetup, usable_cores
from executor.profile import ProfileConfig, ProfileRow, ProgressFn
from traces.errors import UserError

BARRIER_TIMEOUT_S = 1800.0


def _process(index: int, n: int, config: ProfileConfig, setup: DeviceSetup, cache_dir: str, barrier: Barrier,
             out: Any) -> None:
    """One measuring process: configure, profile in lock-step, send ("rows", i, rows) or ("error", i, text)."""
    from executor.devices import configure
    from executor.profile import profile

    try:
        keras = configure(setup)
        keras.utils.set_random_seed(config.seed)

        def progress(done: int, total: int, label: str) -> None:
            if index == 0:
                out.put(("progress", done, total, label))

        rows = profile(keras, config, cache_dir=Path(cache_dir), progress=progress,
                       sync=lambda: barrier.wait(BARRIER_TIMEOUT_S), measures=lambda k: index < max(1, n // k))
        out.put(("rows", index, [dataclasses.asdict(r) for r in rows]))
    except Exception as exc:  # noqa: BLE001 - reported to the parent as one line
        barrier.abort()
        out.put(("error", index, f"{type(exc).__name__}: {' '.join(str(exc).split())}"))


def profile_concurrently(config: ProfileConfig, setup: DeviceSetup, n: int, *, cache_dir: Path,
                         progress: ProgressFn | None = None) -> tuple[ProfileRow, ...]:
    """Measure `config` in `n` pinned processes at once and merge their rows (see the module docstring)."""
    if n < 2:
        raise UserError(f"--concurrent: expected 2 or more processes but found {n}")
    cores = usable_cores()
    if n > len(cores):
        raise UserError(f"--concurrent {n}: this process may use only {len(cores)} CPU core(s) ({list(cores)})")
    ctx = mp.get_context("spawn")
    barrier = ctx.Barrier(n)
    out = ctx.Queue()
    procs = [
        ctx.Process(target=_process, name=f"gpusched-profile-{i}", daemon=True,
                    args=(i, n, config, dataclasses.replace(setup, cpu_cores=(cores[i],)), str(cache_dir),
                          barrier, out))
        for i in range(n)
    ]
    for proc in procs:
        proc.start()
    results: dict[int, list[ProfileRow]] = {}
    errors: list[str] = []
    try:
        while len(results) + len(errors) < n:
            try:
                message = out.get(timeout=1.0)
            except queue.Empty:
                dead = [p for p in procs if not p.is_alive() and p.exitcode not in (0, None)]
                if dead and len(results) + len(errors) < n:
                    errors.append(f"profiling process {dead[0].name} ended with exit code {dead[0].exitcode}")
                    break
                continue
            if message[0] == "progress":
                if progress is not None:
                    progress(message[1], message[2], message[3])
            elif message[0] == "rows":
                results[message[1]] = [ProfileRow(**r) for r in message[2]]
            else:
                errors.append(message[2])
    finally:
        for proc in procs:
            proc.join(timeout=30)
            if proc.is_alive():
                proc.kill()
    if errors:
        # A process that failed aborts the barrier; the others then report BrokenBarrierError: show the cause.
        cause = next((e for e in errors if not e.startswith("BrokenBarrierError")), errors[0])
        raise UserError(f"concurrent profiling failed: {cause}")
    return merge_concurrent([results[i] for i in sorted(results)], n)


def merge_concurrent(per_process: list[list[ProfileRow]], n: int) -> tuple[ProfileRow, ...]:
    """One row per key from the processes that measured it, in the first process's order."""
    by_key: dict[tuple[str, str, int, int], list[ProfileRow]] = {}
    for rows in per_process:
        for row in rows:
            by_key.setdefault(row.key, []).append(row)
    merged = []
    for rows in by_key.values():
        rates = [r.steps_per_s for r in rows]
        within = statistics.fmean(r.steps_per_s_std ** 2 for r in rows)
        between = statistics.variance(rates) if len(rates) > 1 else 0.0
        merged.append(dataclasses.replace(
            rows[0],
            steps_per_s=statistics.median(rates),
            steps_per_s_std=math.sqrt(within + between),
            repeats=sum(r.repeats for r in rows),
            device_name=f"{rows[0].device_name} x{len(rows)} of {n} concurrent",
        ))
    return tuple(merged)
