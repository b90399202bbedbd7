"""Shortest remaining time first, preemptive: on actual remaining work (an oracle) or on estimates.

With `estimates="actual"` (the default) the queue is ordered by remaining work
(reference-GPU seconds; fixed while a job waits). A head that does not fit preempts
running jobs whose remaining time on their GPUs (expected end - now, restart overhead and
GPU speed included) is strictly longer than its remaining work, longest first. On a
homogeneous reference-speed cluster the two measures coincide; on a mixed one a running
job is judged by how long it will still hold its GPUs. Strict inequality and a remaining
time that only shrinks while a job runs rule out ping-pong.

Under any other estimate source (`simulator.estimates.uses_estimates`) the same rule runs
on what a scheduler can know: a job's estimated remaining work `max(estimate_s -
work_done_s, 0)`, and a running job's estimated end, its segment's start plus the
segment's run time scaled by estimated over actual remaining work at the start (the
speed the engine runs it at, applied to the estimate, as `easy-backfill` does). A job
that outlives its estimate has nothing left by it: it is never a victim, and if it is
requeued it goes to the front.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from typing import Any, ClassVar

from simulator.estimates import estimated_remaining_s, uses_estimates
from simulator.policies.base import (
    ClusterView,
    Decision,
    JobState,
    PreemptiveOrderedPolicy,
    RunContext,
    RunningIndex,
)


class SrtfPolicy(PreemptiveOrderedPolicy):
    """Rank by `remaining_work_s` (or its estimate); victims by latest (estimated) end first."""

    key: ClassVar[str] = "srtf"
    by_estimate: bool = False  # until `bind` says otherwise: the actual remaining work

    def bind(self, ctx: RunContext) -> None:
        self.by_estimate = uses_estimates(ctx)
        # Per job id: estimated over actual remaining work when it last started (by estimates).
        self._ratio: dict[str, float] = {}
        super().bind(ctx)

    def rank(self, job: JobState) -> tuple[Any, ...]:
        return (estimated_remaining_s(job),) if self.by_estimate else (job.remaining_work_s,)

    def make_index(self) -> RunningIndex:
        if self.by_estimate:
            return RunningIndex(lambda s: (-self._estimated_end_s(s), s.job.job_id))
        return RunningIndex(lambda s: (-s.end_s, s.job.job_id))

    def decide(self, view: ClusterView) -> Sequence[Decision]:
        if self.by_estimate:
            # The only job `decide` can start is the head: note its ratio while it still waits.
            head = view.head()
            if head is not None:
                actual = head.remaining_work_s
                self._ratio[head.job.job_id] = estimated_remaining_s(head) / actual if actual > 0 else 0.0
        return super().decide(view)

    def _estimated_end_s(self, state: JobState) -> float:
        """When a running job ends by its estimate (fixed for its segment)."""
        ratio = self._ratio.get(state.job.job_id, 1.0)
        return state.start_s + (state.end_s - state.start_s) * ratio

    def victims(self, view: Any, head: JobState) -> Iterator[JobState]:
        now = view.now_s
        if self.by_estimate:
            need = estimated_remaining_s(head)
            for state in self.index.worst_first(view):
                if self._estimated_end_s(state) - now <= need:
                    return
                yield state
            return
        for state in self.index.worst_first(view):
            if state.end_s - now <= head.remaining_work_s:
                return
            yield state
