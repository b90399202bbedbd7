"""First come, first served: jobs start in submission order and the queue head blocks the rest."""

from __future__ import annotations

from typing import Any, ClassVar

from simulator.policies.base import JobState, OrderedPolicy


class FcfsPolicy(OrderedPolicy):
    """Every job ranks the same, so the engine's tie-break (submit_s, job_id) is the order.

    A job requeued after a node failure therefore goes back to its place by submission.
    """

    key: ClassVar[str] = "fcfs"

    def rank(self, job: JobState) -> tuple[Any, ...]:
        return ()
