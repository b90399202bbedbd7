"""Concrete GPUs inside one node for jobs whose start and end times are already fixed.

CP-SAT decides only a job's node and start; its cumulative constraint guarantees that the
number of GPUs in use never exceeds the node's size, and on an interval graph that is
enough: sweeping the jobs by start time and giving each the lowest-numbered GPUs free at
that moment never runs out (greedy colouring of an interval graph is exact). Times are
seconds or ticks, compared exactly; intervals are half-open, so a job may start on a GPU
at the very instant the previous job on it ends.
"""

from __future__ import annotations

import heapq
from collections.abc import Sequence


def assign_gpu_ids(
    starts: Sequence[float], ends: Sequence[float], demands: Sequence[int], num_gpus: int
) -> list[tuple[int, ...]]:
    """GPU indices (0..num_gpus-1, ascending) per job: the lowest-numbered ones free at its start.

    Jobs are swept by (start, position in the input), so equal starts are served in input
    order. Raises `ValueError` when the jobs need more than `num_gpus` GPUs at some time
    (the caller's capacity constraint was violated) or an interval is empty.
    """
    if not len(starts) == len(ends) == len(demands):
        raise ValueError("starts, ends and demands must have the same length")
    out: list[tuple[int, ...]] = [()] * len(starts)
    idle = list(range(num_gpus))  # a heap: the lowest free index first
    busy: list[tuple[float, int, tuple[int, ...]]] = []  # (end, job, its GPUs)
    for job in sorted(range(len(starts)), key=lambda j: (starts[j], j)):
        s, e, k = starts[job], ends[job], demands[job]
        if not e > s or k < 1:
            raise ValueError(f"job {job}: needs end > start and at least one GPU, got [{s}, {e}) and {k}")
        while busy and busy[0][0] <= s:
            for g in heapq.heappop(busy)[2]:
                heapq.heappush(idle, g)
        if len(idle) < k:
            raise ValueError(f"job {job}: needs {k} GPU(s) at {s} but only {len(idle)} of {num_gpus} are free")
        got = tuple(sorted(heapq.heappop(idle) for _ in range(k)))
        heapq.heappush(busy, (e, job, got))
        out[job] = got
    return out


__all__ = ["assign_gpu_ids"]
