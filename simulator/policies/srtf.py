"""Shortest remaining time first, preemptive, on actual remaining work (an oracle baseline).

The queue is ordered by remaining work (reference-GPU seconds; fixed while a job waits).
A head that does not fit preempts running jobs whose remaining time on their GPUs
(expected end - now, restart overhead and GPU speed included) is strictly longer than
its remaining work, longest first. On a homogeneous reference-speed cluster the two
measures coincide; on a mixed one a running job is judged by how long it will still
hold its GPUs. Strict inequality and a remaining time that only shrinks while a job runs
rule out ping-pong.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any, ClassVar

from simulator.policies.base import JobState, PreemptiveOrderedPolicy, RunningIndex


class SrtfPolicy(PreemptiveOrderedPolicy):
    """Rank by `remaining_work_s`; victims by latest expected end first."""

    key: ClassVar[str] = "srtf"

    def rank(self, job: JobState) -> tuple[Any, ...]:
        return (job.remaining_work_s,)

    def make_index(self) -> RunningIndex:
        return RunningIndex(lambda s: (-s.end_s, s.job.job_id))

    def victims(self, view: Any, head: JobState) -> Iterator[JobState]:
        now = view.now_s
        for state in self.index.worst_first(view):
            if state.end_s - now <= head.remaining_work_s:
                return
            yield state
