"""Strict priority, non-preemptive: the highest `Job.priority` first, then submission order.

A larger `priority` value is more important (as in Kubernetes PriorityClasses). The
head blocks the queue when it does not fit, as in `fcfs`.
"""

from __future__ import annotations

from typing import Any, ClassVar

from simulator.policies.base import JobState, OrderedPolicy


class PriorityPolicy(OrderedPolicy):
    """Rank by `-priority`, ties by submission."""

    key: ClassVar[str] = "priority"

    def rank(self, job: JobState) -> tuple[Any, ...]:
        return (-job.job.priority,)
