"""Shortest job first, non-preemptive, on the job's actual duration (an oracle baseline).

Real schedulers only have estimates (see `sjf-estimate`); using the true `duration_s`
gives the best case SJF can reach. Like `fcfs` it is strict: the shortest waiting job
blocks longer ones when it does not fit (so big short jobs are not starved by small long
ones).
"""

from __future__ import annotations

from typing import Any, ClassVar

from simulator.policies.base import JobState, OrderedPolicy


class SjfPolicy(OrderedPolicy):
    """Rank by the job's total duration (reference-GPU seconds), ties by submission."""

    key: ClassVar[str] = "sjf"

    def rank(self, job: JobState) -> tuple[Any, ...]:
        return (job.job.duration_s,)
