"""Shortest job first on the run's duration estimates (`SimConfig.estimates`), non-preemptive.

The realistic sibling of `sjf`: with `estimates="actual"` the two coincide; with
`noisy:<sigma>` jobs are ordered by a lognormally perturbed duration, which shows how
much of SJF's gain survives imperfect user or predictor estimates.
"""

from __future__ import annotations

from typing import Any, ClassVar

from simulator.policies.base import JobState, OrderedPolicy


class SjfEstimatePolicy(OrderedPolicy):
    """Rank by `estimate_s`, ties by submission."""

    key: ClassVar[str] = "sjf-estimate"

    def rank(self, job: JobState) -> tuple[Any, ...]:
        return (job.estimate_s,)
