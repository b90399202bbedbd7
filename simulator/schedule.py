"""Schedules: which job ran when, on exactly which GPUs, in one or more segments.

A job preempted and resumed has several `Assignment`s (segments). `work_s` is the
reference-GPU seconds of the job's work a segment accomplished: equal to its length on
the reference type, less on slower GPUs or when work since the last checkpoint was lost.
The validator checks that a job's segments add up to its `duration_s`.
Every engine, solver and the executor produce and consume this one type.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Iterator
from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class Assignment:
    job_id: str
    start_s: float
    end_s: float
    gpu_ids: tuple[str, ...]
    work_s: float | None = None  # None: end_s - start_s (reference speed, nothing lost)

    def __post_init__(self) -> None:
        if not isinstance(self.gpu_ids, tuple):
            object.__setattr__(self, "gpu_ids", tuple(self.gpu_ids))

    @property
    def length_s(self) -> float:
        return self.end_s - self.start_s

    @property
    def effective_work_s(self) -> float:
        return self.length_s if self.work_s is None else self.work_s


@dataclass(frozen=True, slots=True)
class Schedule:
    """Assignments sorted by `(start_s, job_id)`; `rejected` lists jobs deliberately not run."""

    assignments: tuple[Assignment, ...]
    rejected: tuple[str, ...] = ()

    @staticmethod
    def of(assignments: Iterable[Assignment], rejected: Iterable[str] = ()) -> Schedule:
        items = sorted(assignments, key=lambda a: (a.start_s, a.job_id, a.end_s, a.gpu_ids))
        return Schedule(tuple(items), tuple(sorted(rejected)))

    def __iter__(self) -> Iterator[Assignment]:
        return iter(self.assignments)

    def __len__(self) -> int:
        return len(self.assignments)

    def by_job(self) -> dict[str, list[Assignment]]:
        """Segments per job, in start order."""
        out: dict[str, list[Assignment]] = {}
        for a in self.assignments:
            out.setdefault(a.job_id, []).append(a)
        return out

    @property
    def makespan_s(self) -> float:
        return max((a.end_s for a in self.assignments), default=0.0)

    def finite(self) -> bool:
        return all(math.isfinite(a.start_s) and math.isfinite(a.end_s) for a in self.assignments)
