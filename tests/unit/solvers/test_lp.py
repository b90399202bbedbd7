"""The LP heuristic: valid schedules, honest bounds and gaps, alpha-point orders."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from strategies import SPEED_TABLE, clusters, fitting_jobs

from simulator.run import speed_fn
from simulator.speed import SpeedTable
from simulator.validate import check, summarize
from solvers.base import Objective, Progress, SolveOptions, SolveStatus, relative_gap
from solvers.bounds import best_bound, solve_relaxation
from solvers.listsched import check_solvable
from solvers.lp import ALPHAS, METHOD, LpSolver, candidate_orders
from solvers.objective import evaluate
from traces.cluster import Cluster
from traces.errors import UserError
from traces.model import Job, Workload

TABLE = SpeedTable("V100", {t: f for t, f in SPEED_TABLE.items() if t != "V100"})


def test_three_jobs_on_two_gpus_reports_the_lp_and_a_valid_schedule() -> None:
    wl = Workload.from_jobs([Job(f"j{i}", 0.0, 10.0, 1) for i in range(3)])
    cluster = Cluster.uniform(1, 2)
    seen: list[Progress] = []
    result = LpSolver().solve(wl, cluster, SolveOptions(progress=seen.append))
    assert check(result.schedule, wl, cluster) == []
    assert result.solver == "lp"
    assert result.method == METHOD
    assert result.objective == 40.0  # 10 + 10 + 20: optimal
    assert result.objective == evaluate(result.schedule, wl, cluster, Objective.weighted_completion)
    assert result.bound == best_bound(wl, cluster, SolveOptions())
    assert result.bound is not None and 37.5 < result.bound <= 40.0
    assert result.gap == relative_gap(result.objective, result.bound)
    assert result.status is SolveStatus.feasible  # the LP bound is below 40: not proven
    assert any(n.startswith("LP relaxation (weighted completion): value ") for n in result.notes)
    assert any(n.startswith("bounds on weighted-completion: trivial 30, fluid 37.5, LP ") for n in result.notes)
    assert [p.objective for p in seen] == [40.0]


def test_proven_optimal_when_the_bound_is_met() -> None:
    # Two jobs on two GPUs: both start at release, the trivial bound is the optimum.
    wl = Workload.from_jobs([Job("a", 0.0, 5.0, 1), Job("b", 3.0, 7.0, 1)])
    result = LpSolver().solve(wl, Cluster.uniform(1, 2), SolveOptions())
    assert result.objective == 12.0
    assert result.status is SolveStatus.optimal and result.proven_optimal
    assert result.gap == 0.0


def test_heavy_job_first_under_weights() -> None:
    # One GPU: WSPT runs the heavy job first (100 x 10 + 1 x 11 = 1011); the LP agrees.
    wl = Workload.from_jobs([Job("light", 0.0, 1.0, 1, weight=1.0), Job("heavy", 0.0, 10.0, 1, weight=100.0)])
    result = LpSolver().solve(wl, Cluster.uniform(1, 1), SolveOptions())
    assert result.objective == 1011.0
    assert result.bound is not None and result.bound <= 1011.0


def test_candidate_orders_cover_every_alpha_and_the_completion_times() -> None:
    wl = Workload.from_jobs([Job("late", 50.0, 1.0, 1), Job("early", 0.0, 1.0, 1)])
    relaxation = solve_relaxation(wl, Cluster.uniform(1, 1), SolveOptions())
    assert relaxation is not None
    labels = [label for label, _ in candidate_orders(relaxation, wl)]
    assert labels == [f"alpha {a:g}" for a in ALPHAS] + ["LP completion"]
    for _, order in candidate_orders(relaxation, wl):
        assert [str(wl.job_id[r]) for r in order] == ["early", "late"]


def test_unfit_job_is_a_user_error() -> None:
    wl = Workload.from_jobs([Job("huge", 0.0, 1.0, 16)])
    with pytest.raises(UserError, match="job huge fits no node"):
        LpSolver().solve(wl, Cluster.uniform(2, 8), SolveOptions())


def test_empty_workload() -> None:
    result = LpSolver().solve(Workload.from_jobs([]), Cluster.uniform(1, 1), SolveOptions())
    assert result.objective == 0.0 and result.schedule.assignments == ()


@st.composite
def instances(draw: st.DrawFn) -> tuple[Workload, Cluster, SolveOptions]:
    cluster = draw(clusters())
    jobs = [draw(fitting_jobs(cluster, f"j{i}")) for i in range(draw(st.integers(1, 8)))]
    squeeze = draw(st.sampled_from([1.0, 0.0]))
    jobs = [dataclasses.replace(j, submit_s=j.submit_s * squeeze, deadline_s=draw(st.none() | st.floats(0, 3000)))
            for j in jobs]
    workload = Workload.from_jobs(jobs)
    options = SolveOptions(
        objective=draw(st.sampled_from(list(Objective))),
        speed=draw(st.sampled_from([SpeedTable.reference(), TABLE])),
        allow_span=draw(st.booleans()),
        cross_node_slowdown=draw(st.sampled_from([1.0, 1.5])),
    )
    try:
        check_solvable(workload, cluster, options)
    except UserError:
        options = dataclasses.replace(options, allow_span=True)
    return workload, cluster, options


@settings(max_examples=30)
@given(instances())
def test_lp_schedules_are_valid_and_above_the_bound(inst: tuple[Workload, Cluster, SolveOptions]) -> None:
    wl, cluster, options = inst
    result = LpSolver().solve(wl, cluster, options)
    v = check(result.schedule, wl, cluster, speed=speed_fn(options.speed))
    assert v == [], summarize(v)
    assert result.objective == pytest.approx(
        evaluate(result.schedule, wl, cluster, options.objective, options.gpu_catalog), rel=1e-9, abs=1e-9)
    assert result.bound is not None
    assert result.bound <= result.objective * (1 + 1e-9) + 1e-9
    relaxation = solve_relaxation(wl, cluster, options, Objective.weighted_completion)
    assert relaxation is not None
    points = [relaxation.alpha_points(a) for a in ALPHAS]
    assert all(np.all(a <= b + 1e-9) for a, b in zip(points, points[1:], strict=False))
    assert np.all(points[0] >= wl.submit_s - 1e-9)
