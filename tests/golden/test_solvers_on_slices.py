"""Every solver on real trace slices: a valid schedule, bound <= objective, and a timed replay in
the simulator that starts every job when and where the solver said."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from simulator.cluster import Cluster
from simulator.run import SimConfig, simulate
from simulator.validate import check, summarize
from solvers import SOLVERS, make_solver
from solvers.base import SolveOptions
from solvers.objective import evaluate
from traces.model import Workload
from traces.readers.registry import read_trace

DATA = Path(__file__).resolve().parents[2] / "traces" / "data"
JOBS = 60
CLUSTER = Cluster.uniform(2, 8)  # 16 GPUs: the slices' first 60 jobs queue on it


def _slice(name: str) -> Workload:
    wl = read_trace([DATA / name]).workload
    return wl.take(np.flatnonzero(wl.num_gpus <= 8)[:JOBS])


SLICES = {name: _slice(name) for name in ("itp-cluster05.csv", "philly-pollux-slice.csv", "philly-dirlab-slice.csv")}


@pytest.mark.parametrize("solver", sorted(SOLVERS))
@pytest.mark.parametrize("name", sorted(SLICES))
def test_solver_on_a_real_slice_is_valid_and_replays_exactly(name: str, solver: str) -> None:
    workload = SLICES[name]
    options = SolveOptions(time_limit_s=3.0, max_iterations=300, deterministic=True, workers=1)
    result = make_solver(solver).solve(workload, CLUSTER, options)
    violations = check(result.schedule, workload, CLUSTER)
    assert violations == [], summarize(violations)
    assert result.objective == pytest.approx(evaluate(result.schedule, workload, CLUSTER, options.objective))
    assert result.bound is not None and result.bound <= result.objective * (1 + 1e-9)
    assert result.gap is not None and 0.0 <= result.gap <= 1.0

    replay = simulate(workload, CLUSTER, SimConfig("schedule", policy_params={"schedule": result.schedule,
                                                                              "mode": "timed"}))
    planned = {a.job_id: (a.start_s, a.gpu_ids) for a in result.schedule}
    ran = {a.job_id: (a.start_s, a.gpu_ids) for a in replay.schedule}
    assert ran == planned
