"""The LP heuristic: solve the start-time LP relaxation, order jobs by its alpha-points, decode.

The relaxation is the one `solvers.bounds` solves for its bound 3 (an interval-indexed
relaxation of the job-to-pool-and-start-time assignment, GLOP), always with the
weighted-completion objective: its fractional schedule is what orders the jobs, whatever
`options.objective` is. A job's alpha-point is the time by which the LP has done the
fraction alpha of it (Hall, Schulz, Shmoys & Wein 1997; Schulz & Skutella 1997 on
rounding by alpha-points); jobs go to the list scheduler (`solvers.listsched`) in the
order of their alpha-points, for a few alphas and for the LP completion times, and the
best decoded schedule under `options.objective` wins. The reported bound is the best one
known for `options.objective` (`solvers.bounds.best_bound`). Times are seconds.
"""

from __future__ import annotations

import math
import time
from typing import ClassVar

import numpy as np
import numpy.typing as npt

from solvers.base import Objective, Progress, SolveOptions, SolveResult, SolveStatus, relative_gap
from solvers.bounds import LpRelaxation, bound_report, solve_relaxation
from solvers.listsched import ListScheduler
from solvers.objective import evaluate
from traces.cluster import Cluster
from traces.model import Workload

ALPHAS = (0.25, 0.5, 0.75, 1.0)
OPTIMAL_REL_TOL = 1e-9  # objective within this of the bound: proven optimal
METHOD = "lp relaxation + alpha-point order"


def _order(key: npt.NDArray[np.float64], workload: Workload) -> list[int]:
    """Rows by `key`, ties by submit time, then workload order."""
    n = len(workload)
    order: list[int] = np.lexsort((np.arange(n), workload.submit_s, key)).tolist()
    return order


def candidate_orders(relaxation: LpRelaxation, workload: Workload) -> list[tuple[str, list[int]]]:
    """(label, order) for each alpha in `ALPHAS` and for the LP completion times."""
    out = [(f"alpha {a:g}", _order(relaxation.alpha_points(a), workload)) for a in ALPHAS]
    out.append(("LP completion", _order(relaxation.completion_s, workload)))
    return out


def _fmt(value: float) -> str:
    return f"{value:.6g}" if math.isfinite(value) else str(value)


class LpSolver:
    """List scheduling in the order of the LP relaxation's alpha-points (module docstring)."""

    key: ClassVar[str] = "lp"

    def solve(self, workload: Workload, cluster: Cluster, options: SolveOptions) -> SolveResult:
        t0 = time.perf_counter()
        scheduler = ListScheduler(workload, cluster, options)  # UserError for a job that fits no node
        report = bound_report(workload, cluster, options)
        relaxation = report.lp
        if relaxation is None or relaxation.objective is not Objective.weighted_completion:
            relaxation = solve_relaxation(workload, cluster, options, Objective.weighted_completion)
        notes = [f"bounds on {options.objective.value}: trivial {_fmt(report.trivial)}"
                 + ("" if report.fluid is None else f", fluid {_fmt(report.fluid)}")
                 + ("" if report.lp is None else f", LP {_fmt(report.lp.bound)}")]
        if relaxation is None:
            # GLOP stopped without an optimum (or nothing to schedule): the earliest each job
            # could finish is the order the LP tends to.
            candidates = [("earliest possible finish (no LP solution)",
                           _order(workload.submit_s + scheduler.min_duration_s, workload))]
            method = "earliest-finish order (the LP relaxation was not solved)"
        else:
            candidates = candidate_orders(relaxation, workload)
            method = METHOD
            notes.append(
                f"LP relaxation (weighted completion): value {_fmt(relaxation.value)} s, "
                f"{relaxation.num_intervals} intervals, {relaxation.num_columns} columns, "
                f"{relaxation.num_rows} rows, {relaxation.wall_s:.2f} s"
            )
        scored = [(scheduler.order_value(order, options.objective), i) for i, (_, order) in enumerate(candidates)]
        best_value, best_index = min(scored)
        label, order = candidates[best_index]
        notes.append(f"order: {label} (objectives: "
                     + ", ".join(f"{candidates[i][0]} {_fmt(v)}" for v, i in scored) + ")")

        schedule = scheduler.decode(order)
        value = evaluate(schedule, workload, cluster, options.objective, options.gpu_catalog)
        bound = report.best
        gap = relative_gap(value, bound)
        optimal = gap is not None and gap <= OPTIMAL_REL_TOL
        wall_s = time.perf_counter() - t0
        if options.progress is not None:
            options.progress(Progress(self.key, wall_s, value, bound))
        return SolveResult(
            solver=self.key,
            schedule=schedule,
            status=SolveStatus.optimal if optimal else SolveStatus.feasible,
            objective=value,
            bound=bound,
            gap=gap,
            wall_s=wall_s,
            method=method,
            notes=tuple(notes),
        )


__all__ = ["ALPHAS", "METHOD", "LpSolver", "candidate_orders"]
