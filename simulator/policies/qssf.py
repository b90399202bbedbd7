"""Quasi-shortest-service-first (Helios, Hu et al., SC '21): non-preemptive, by estimated GPU-time.

Jobs are ranked by `num_gpus * estimate_s`, the GPU-seconds the run's estimates say they
will use: small and short jobs go first, and a large gang must be proportionally short
to jump the queue. Helios orders by a predicted GPU-time from the user's history; here
the estimate is the run's (`--durations predicted:MODEL` for a trained predictor; with
the default `actual` it is an oracle on true GPU-time). Strict like `fcfs` and Helios's
allocation loop: the first job in order that does not fit blocks the ones behind it.
"""

from __future__ import annotations

from typing import Any, ClassVar

from simulator.policies.base import JobState, OrderedPolicy


class QssfPolicy(OrderedPolicy):
    """Rank by estimated GPU-seconds (`num_gpus * estimate_s`), ties by submission."""

    key: ClassVar[str] = "qssf"

    def rank(self, job: JobState) -> tuple[Any, ...]:
        return (job.job.num_gpus * job.estimate_s,)
