"""Shortest job first, non-preemptive, on the job's actual duration (an oracle baseline).

Real schedulers only have estimates; using the true `duration_s` gives the best case
SJF can reach. Like `fcfs` it is strict: the shortest waiting job blocks longer ones
when it does not fit (so big short jobs are not starved by small long ones).
"""

from __future__ import annotations

from typing import ClassVar

import numpy as np
import numpy.typing as npt

from simulator.policies.base import HeadOfLinePolicy
from traces.model import Workload


class SjfPolicy(HeadOfLinePolicy):
    """Queue order `(duration_s, submit_s, job_id)`; row order breaks duration ties."""

    key: ClassVar[str] = "sjf"

    def queue_order(self, workload: Workload) -> npt.NDArray[np.intp]:
        rows = np.arange(len(workload), dtype=np.intp)
        return np.lexsort((rows, workload.duration_s)).astype(np.intp)
