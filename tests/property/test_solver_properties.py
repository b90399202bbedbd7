"""Every registered solver returns a valid schedule whose objective is `evaluate`'s.

Random small instances: mixed GPU types and memory, gangs, fractional jobs, per-type
speeds, spanning when a gang fits no single node, every objective. Iterating `SOLVERS`
covers solvers registered later too; budgets stay tiny so the file runs in seconds.
"""

from __future__ import annotations

import dataclasses

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from strategies import SPEED_TABLE, clusters, fitting_jobs

from simulator.run import speed_fn
from simulator.speed import SpeedTable
from simulator.validate import check, summarize
from solvers import SOLVERS, make_solver
from solvers.base import Objective, SolveOptions
from solvers.listsched import check_solvable
from solvers.objective import evaluate
from traces.cluster import Cluster
from traces.errors import UserError
from traces.model import Workload

TABLE = SpeedTable("V100", {t: f for t, f in SPEED_TABLE.items() if t != "V100"})


@st.composite
def instances(draw: st.DrawFn) -> tuple[Workload, Cluster, SolveOptions]:
    cluster = draw(clusters())
    num_jobs = draw(st.integers(1, 8))
    workload = Workload.from_jobs([draw(fitting_jobs(cluster, f"j{i}")) for i in range(num_jobs)])
    options = SolveOptions(
        objective=draw(st.sampled_from(list(Objective))),
        time_limit_s=5.0,
        max_iterations=draw(st.integers(1, 25)),
        seed=draw(st.integers(0, 3)),
        deterministic=True,
        workers=1,
        speed=draw(st.sampled_from([SpeedTable.reference(), TABLE])),
        allow_span=draw(st.booleans()),
        cross_node_slowdown=draw(st.sampled_from([1.0, 1.5])),
    )
    try:
        check_solvable(workload, cluster, options)
    except UserError:
        # `fitting_jobs` only promises enough GPUs of one type in the whole cluster.
        options = dataclasses.replace(options, allow_span=True)
    return workload, cluster, options


@pytest.mark.parametrize("key", list(SOLVERS))
@settings(max_examples=25)
@given(instances())
def test_every_solver_returns_a_valid_schedule(key: str, inst: tuple[Workload, Cluster, SolveOptions]) -> None:
    workload, cluster, options = inst
    result = make_solver(key).solve(workload, cluster, options)
    v = check(result.schedule, workload, cluster, speed=speed_fn(options.speed))
    assert v == [], summarize(v)
    assert result.solver == key
    assert not result.schedule.rejected
    assert len(result.schedule.by_job()) == len(workload)
    assert result.objective == pytest.approx(
        evaluate(result.schedule, workload, cluster, options.objective, options.gpu_catalog), rel=1e-9, abs=1e-9
    )
    if result.bound is not None:
        assert result.bound <= result.objective * (1 + 1e-9) + 1e-9
