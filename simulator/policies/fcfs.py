"""First come, first served: jobs start in submission order and the queue head blocks the rest."""

from __future__ import annotations

from typing import ClassVar

import numpy as np
import numpy.typing as npt

from simulator.policies.base import HeadOfLinePolicy
from traces.model import Workload


class FcfsPolicy(HeadOfLinePolicy):
    """Submission order (ties by job id): a workload's row order already is that order."""

    key: ClassVar[str] = "fcfs"

    def queue_order(self, workload: Workload) -> npt.NDArray[np.intp]:
        return np.arange(len(workload), dtype=np.intp)
