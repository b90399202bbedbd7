"""`sjf-estimate`: shortest job first on the run's duration estimates, non-preemptive.

Kept under its own key for scripts and sweeps written before `sjf` learned to use
estimates: it ranks by `estimate_s` in every run, which under `estimates="actual"` is the
actual duration and under `noisy:<sigma>` or `predicted:<MODEL>` is what `sjf` ranks by
too, so the two now give the same schedule.
"""

from __future__ import annotations

from typing import Any, ClassVar

from simulator.policies.base import JobState, OrderedPolicy


class SjfEstimatePolicy(OrderedPolicy):
    """Rank by `estimate_s`, ties by submission."""

    key: ClassVar[str] = "sjf-estimate"

    def rank(self, job: JobState) -> tuple[Any, ...]:
        return (job.estimate_s,)
