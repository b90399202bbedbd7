"""Shortest job first, non-preemptive: on the actual duration (an oracle) or on the run's estimates.

With `estimates="actual"` (the default) jobs are ranked by the true `duration_s`: the best
case SJF can reach. Under any other estimate source (`--durations noisy:SIGMA` or
`predicted:MODEL`, `simulator.estimates.uses_estimates`) they are ranked by
`estimate_s`, as a real scheduler would have to; `sjf-estimate` is the same policy under
its older name. Like `fcfs` it is strict: the shortest waiting job blocks longer ones
when it does not fit (so big short jobs are not starved by small long ones).
"""

from __future__ import annotations

from typing import Any, ClassVar

from simulator.estimates import uses_estimates
from simulator.policies.base import JobState, OrderedPolicy, RunContext


class SjfPolicy(OrderedPolicy):
    """Rank by the job's total duration (reference-GPU seconds) or its estimate, ties by submission."""

    key: ClassVar[str] = "sjf"
    by_estimate: bool = False  # until `bind` says otherwise: the actual durations

    def bind(self, ctx: RunContext) -> None:
        super().bind(ctx)
        self.by_estimate = uses_estimates(ctx)

    def rank(self, job: JobState) -> tuple[Any, ...]:
        return (job.estimate_s,) if self.by_estimate else (job.job.duration_s,)
