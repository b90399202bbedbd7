"""The objective value of any schedule, computed one way for every solver (and for the simulator's
own schedules, so an online policy and an offline solver are compared on the same number)."""

from __future__ import annotations

import math

from simulator.gpu_catalog import GpuCatalog
from simulator.schedule import Schedule
from solvers.base import Objective
from traces.cluster import Cluster
from traces.errors import UserError
from traces.model import Workload

J_PER_KWH = 3.6e6


def busy_power_w(catalog: GpuCatalog | None, gpu_type: str) -> float:
    """A GPU type's busy power from `catalog` (None: the shipped one); `UserError` when it has none,
    since every solver needs it for the energy objective."""
    spec = (catalog if catalog is not None else GpuCatalog.default()).get(gpu_type)
    if spec is None:
        raise UserError(f"objective energy: the GPU catalog has no power figure for type {gpu_type!r}; "
                        "add it with --gpu-catalog")
    return spec.busy_w


def completion_s(schedule: Schedule) -> dict[str, float]:
    """Each scheduled job's completion time (the end of its last segment)."""
    out: dict[str, float] = {}
    for a in schedule:
        if a.end_s > out.get(a.job_id, -math.inf):
            out[a.job_id] = a.end_s
    return out


def evaluate(
    schedule: Schedule,
    workload: Workload,
    cluster: Cluster,
    objective: Objective,
    catalog: GpuCatalog | None = None,
) -> float:
    """The objective of `schedule` (see `Objective` for the definitions and units).

    Rejected jobs are left out of every sum; a job neither scheduled nor rejected is a
    `ValueError` (a solver bug). Energy with a GPU type the catalog lacks is a `UserError`.
    """
    done = completion_s(schedule)
    rejected = set(schedule.rejected)
    ids = workload.job_id.tolist()
    missing = [j for j in ids if j not in done and j not in rejected]
    if missing:
        raise ValueError(f"job {missing[0]!r} is neither scheduled nor rejected")
    if objective is Objective.makespan:
        return max(done.values(), default=0.0)
    if objective is Objective.weighted_completion:
        total = 0.0
        for j, r, w in zip(ids, workload.submit_s.tolist(), workload.weight.tolist(), strict=True):
            c = done.get(j)
            if c is not None:
                total += w * (c - r)
        return total
    if objective is Objective.weighted_tardiness:
        total = 0.0
        for j, d, w in zip(ids, workload.deadline_s.tolist(), workload.weight.tolist(), strict=True):
            c = done.get(j)
            if c is not None and not math.isnan(d) and c > d:
                total += w * (c - d)
        return total
    if objective is Objective.energy:
        info = cluster.gpu_index()
        power = {t: busy_power_w(catalog, t) for t in {info[g].gpu_type for a in schedule for g in a.gpu_ids}}
        joules = sum(power[info[g].gpu_type] * a.length_s for a in schedule for g in a.gpu_ids)
        return joules / J_PER_KWH
    raise ValueError(f"unknown objective {objective!r}")


__all__ = ["J_PER_KWH", "busy_power_w", "completion_s", "evaluate"]
