"""Strict priority with preemption: a waiting job preempts running jobs of lower priority.

A larger `Job.priority` is more important. When the head (highest priority, then oldest)
does not fit, it preempts running jobs of strictly lower priority: the lowest priority
first, and among equals the most recently started (it has the least progress since its
segment began). Equal priorities never preempt each other, so there is no ping-pong.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any, ClassVar

from simulator.policies.base import JobState, PreemptiveOrderedPolicy, RunningIndex


class PriorityPreemptivePolicy(PreemptiveOrderedPolicy):
    """Rank by `-priority`, ties by submission; victims by (priority, latest start, job id)."""

    key: ClassVar[str] = "priority-preemptive"

    def rank(self, job: JobState) -> tuple[Any, ...]:
        return (-job.job.priority,)

    def make_index(self) -> RunningIndex:
        return RunningIndex(lambda s: (s.job.priority, -s.start_s, s.job.job_id))

    def victims(self, view: Any, head: JobState) -> Iterator[JobState]:
        for state in self.index.worst_first(view):
            if state.job.priority >= head.job.priority:
                return
            yield state
