"""The `cpsat-rolling` simulator policy: hand timelines, validity, determinism, fallbacks."""

from __future__ import annotations

import numpy as np
import pytest

import solvers.rolling  # noqa: F401  (registers cpsat-rolling)
from simulator.cluster import Cluster, Node
from simulator.policies import POLICIES, make_policy
from simulator.run import SimConfig, SimResult, simulate
from simulator.validate import check
from solvers.rolling import CpsatRollingPolicy
from traces.errors import UserError
from traces.model import Job, Workload
from traces.readers.registry import read_trace


def run(jobs: list[Job], cluster: Cluster, **params: object) -> SimResult:
    workload = Workload.from_jobs(jobs)
    result = simulate(workload, cluster, SimConfig("cpsat-rolling", policy_params=params))
    assert check(result.schedule, workload, cluster) == []
    return result


def timeline(result: SimResult) -> dict[str, tuple[float, float, tuple[str, ...]]]:
    return {a.job_id: (a.start_s, a.end_s, a.gpu_ids) for a in result.schedule}


def test_it_is_registered_by_importing_solvers_rolling() -> None:
    assert POLICIES["cpsat-rolling"] is CpsatRollingPolicy


def test_the_plan_runs_the_short_job_first_when_both_wait() -> None:
    # One GPU. a runs 0-10; b (5 s) and c (1 s) arrive while it runs. Weighted completion
    # puts c first: c 10-11, b 11-16 (FCFS would give b 10-15, c 15-16).
    result = run([Job("a", 0.0, 10.0, 1), Job("b", 1.0, 5.0, 1), Job("c", 2.0, 1.0, 1)], Cluster.uniform(1, 1))
    assert timeline(result) == {"a": (0.0, 10.0, ("n0:0",)), "c": (10.0, 11.0, ("n0:0",)),
                                "b": (11.0, 16.0, ("n0:0",))}


def test_a_plan_can_hold_a_gpu_free_for_a_gang_that_is_worth_it() -> None:
    # Two GPUs; a (1 GPU) runs 0-4. At 1, a gang g (2 GPUs, 1 s, weight 10) and a long single
    # job s (100 s) wait. Starting s on the free GPU would delay g until 101; the plan keeps
    # the GPU idle, runs g at 4-5 and s after it.
    result = run([Job("a", 0.0, 4.0, 1), Job("g", 1.0, 1.0, 2, weight=10.0), Job("s", 1.0, 100.0, 1)],
                 Cluster.uniform(1, 2))
    t = timeline(result)
    assert t["g"][:2] == (4.0, 5.0)
    assert t["s"][0] >= 5.0


def test_uncontended_jobs_start_at_once_best_fit() -> None:
    cluster = Cluster((Node("big", "V100", 4, 32.0), Node("small", "V100", 2, 32.0)))
    result = run([Job("x", 0.0, 3.0, 2), Job("y", 0.0, 3.0, 4)], cluster)
    assert timeline(result) == {"x": (0.0, 3.0, ("small:0", "small:1")),
                                "y": (0.0, 3.0, ("big:0", "big:1", "big:2", "big:3"))}


def test_types_and_speeds_are_respected() -> None:
    cluster = Cluster((Node("v", "V100", 1, 32.0), Node("a", "A100", 1, 80.0)))
    result = run([Job("only-a100", 0.0, 2.0, 1, gpu_types=("A100",)), Job("big-mem", 0.0, 2.0, 1, gpu_mem_gib=64.0),
                  Job("any", 0.0, 2.0, 1)], cluster)
    t = timeline(result)
    assert t["only-a100"][2] == ("a:0",) and t["big-mem"][2] == ("a:0",) and t["any"][2] == ("v:0",)


def test_same_inputs_same_run_on_a_real_slice() -> None:
    wl = read_trace(["traces/data/philly-pollux-slice.csv"]).workload
    wl = wl.take(np.flatnonzero(wl.num_gpus <= 8)[:120])
    cluster = Cluster.uniform(2, 8)
    a = simulate(wl, cluster, SimConfig("cpsat-rolling"))
    b = simulate(wl, cluster, SimConfig("cpsat-rolling"))
    assert check(a.schedule, wl, cluster) == []
    assert a.jobs.equals(b.jobs)
    fcfs = simulate(wl, cluster, SimConfig("fcfs"))
    mean = {name: float(np.mean(r.jobs.column("jct_s").to_numpy())) for name, r in (("rolling", a), ("fcfs", fcfs))}
    assert mean["rolling"] < mean["fcfs"]  # on this overloaded slice, planning beats arrival order


def test_a_gang_larger_than_every_node_goes_through_the_placement() -> None:
    result = run([Job("wide", 0.0, 2.0, 3), Job("one", 0.0, 1.0, 1)], Cluster.uniform(2, 2))
    t = timeline(result)
    assert len(t["wide"][2]) == 3 and {g.split(":")[0] for g in t["wide"][2]} == {"n0", "n1"}
    assert any("fell back" in n for n in result.notes)


@pytest.mark.parametrize(
    "params,message",
    [
        ({"max_jobs": 0}, "max_jobs must be an integer >= 1"),
        ({"time_limit_s": 0.0}, "time_limit_s must be a finite number > 0"),
        ({"workers": 0}, "workers must be an integer >= 1"),
    ],
)
def test_bad_parameters(params: dict[str, object], message: str) -> None:
    with pytest.raises(UserError, match=message):
        make_policy("cpsat-rolling", **params)
