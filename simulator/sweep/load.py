"""Load scaling: the same jobs arriving `factor` times as fast.

`scale_load(workload, 2.0)` keeps every job's size and duration and compresses the gaps
between arrivals by 2 around the first submission, so the offered load (GPU-seconds
demanded per second) doubles and the arrival pattern (bursts, daily cycles) keeps its
shape, only faster. A deadline keeps its slack: it stays the same time after its job's
(new) submission.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from traces.errors import UserError
from traces.model import CATEGORY_COLUMNS, NUMERIC_COLUMNS, Categorical, Workload


def scale_load(workload: Workload, factor: float) -> Workload:
    """Arrivals compressed by `factor` (> 0): offered load times `factor`; `1.0` returns `workload`."""
    if isinstance(factor, bool) or not isinstance(factor, (int, float)) or not math.isfinite(factor) or factor <= 0:
        raise UserError(f"load_scale must be a finite number > 0, got {factor!r}")
    if factor == 1.0 or len(workload) == 0:
        return workload
    t0 = workload.submit_s[0]
    submit_s = t0 + (workload.submit_s - t0) / float(factor)
    deadline_s = workload.deadline_s - workload.submit_s + submit_s  # NaN (no deadline) stays NaN
    columns: dict[str, Any] = {k: getattr(workload, k) for k in NUMERIC_COLUMNS}
    columns.update(submit_s=submit_s, deadline_s=deadline_s)
    columns.update({k: getattr(workload, k) for k in CATEGORY_COLUMNS})
    job_id = workload.job_id
    # The map is monotone, so order is kept, except where rounding made two distinct submit
    # times equal: those ties are ordered by job id, as a Workload must be.
    if np.any((np.diff(submit_s) == 0) & (np.diff(workload.submit_s) != 0)):
        order = np.lexsort((job_id.astype(str), submit_s))
        job_id = job_id[order]
        columns = {k: v.take(order) if isinstance(v, Categorical) else v[order] for k, v in columns.items()}
    return Workload(job_id=job_id, **columns)
