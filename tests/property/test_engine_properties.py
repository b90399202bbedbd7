"""Every registered policy x every registered placement, on random small workloads and clusters.

The registries are read at import, so a policy or placement added later is covered with no
change here. Each example draws a cluster (mixed GPU types and memory), jobs that fit it,
and run options: the checkpoint-restart cost model, per-type speeds, node failures and
admission control, each on or off. Properties: the independent validator finds nothing
(capacity, gangs, types, memory, submit times, work adding up to each job's duration
under the run's speeds); every job ends exactly once or is rejected (by admission only);
the same seed gives the same records. A policy that cannot run without parameters is
skipped here and tested in its own module, except the `schedule` replay, which is given
the schedule fcfs makes of the same instance (`replay_params`).
"""

from __future__ import annotations

import inspect
from dataclasses import replace
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from rl_agents import shared_untrained_agent
from strategies import clusters, fitting_jobs

import solvers.rolling  # noqa: F401  (registers cpsat-rolling, so it is covered too)
from simulator.placement import PLACEMENTS
from simulator.policies import POLICIES, policy_params
from simulator.run import SimConfig, simulate, speed_fn
from simulator.speed import SpeedTable
from simulator.validate import check, summarize
from traces.cluster import Cluster
from traces.model import Workload

SPEEDS = SpeedTable("V100", {"A100": 2.0, "P100": 0.5}, {("A100", "bert"): 3.0})


@st.composite
def instances(draw: st.DrawFn) -> tuple[Workload, Cluster, dict[str, Any]]:
    cluster = draw(clusters())
    n = draw(st.integers(1, 8))
    jobs = [draw(fitting_jobs(cluster, f"j{i}")) for i in range(n)]
    models = draw(st.lists(st.sampled_from([None, "bert", "gpt2"]), min_size=n, max_size=n))
    prios = draw(st.lists(st.integers(-2, 2), min_size=n, max_size=n))
    jobs = [replace(j, model_name=m, priority=p) for j, m, p in zip(jobs, models, prios, strict=True)]
    options: dict[str, Any] = {"seed": draw(st.integers(0, 3))}
    if draw(st.booleans()):
        options["restart_overhead_s"] = draw(st.sampled_from([0.0, 3.0, 25.0]))
        options["checkpoint_interval_s"] = draw(st.sampled_from([None, 10.0, 120.0]))
    if draw(st.booleans()):
        options["speed_table"] = SPEEDS
    if draw(st.booleans()):
        options["node_mtbf_s"] = draw(st.sampled_from([300.0, 3000.0]))
        options["node_mttr_s"] = draw(st.sampled_from([20.0, 400.0]))
    if draw(st.booleans()):
        options["admission"] = "load"
        options["admission_params"] = {"factor": draw(st.sampled_from([0.5, 1.0])),
                                       "action": draw(st.sampled_from(["defer", "reject"]))}
    if draw(st.booleans()):
        options["cross_node_slowdown"] = 1.5
    if draw(st.booleans()):
        options["estimates"] = "noisy:0.5"
    return Workload.from_jobs(jobs), cluster, options


def params_for(policy: str, placement: str) -> dict[str, Any]:
    """Small quanta and waits so that preemptions and placement waits happen in tiny runs."""
    extra: dict[str, Any] = {}
    if policy == "las":
        extra["policy_params"] = {"quantum_gpu_s": 60.0}
    if policy == "rl":  # an untrained agent: any choice it makes must still give a valid schedule
        extra["policy_params"] = {"agent": shared_untrained_agent()}
    if placement == "topology":
        extra["placement_params"] = {"max_consolidation_wait_s": 50.0}
    return extra


def replay_params(workload: Workload, cluster: Cluster, placement: str, options: dict[str, Any]) -> dict[str, Any]:
    """The `schedule` policy replays a schedule: the one fcfs makes of the same instance.

    Admission is left out of the fcfs run only (a replay cannot reject what the file
    rejects), so the replay meets jobs that admission defers or rejects. Odd seeds replay
    in timed mode.
    """
    plain = {k: v for k, v in options.items() if k not in ("admission", "admission_params")}
    fcfs = simulate(workload, cluster, SimConfig("fcfs", placement, **plain))
    return {"schedule": fcfs.schedule, "mode": "timed" if options["seed"] % 2 else "order"}


@pytest.mark.parametrize("placement", sorted(PLACEMENTS))
@pytest.mark.parametrize("policy", sorted(POLICIES))
@settings(max_examples=20)
@given(instance=instances())
def test_every_policy_and_placement_is_valid_and_deterministic(
    policy: str, placement: str, instance: tuple[Workload, Cluster, dict[str, Any]]
) -> None:
    if policy != "schedule" and any(v is inspect.Parameter.empty for v in policy_params(policy).values()):
        pytest.skip(f"policy {policy} has required parameters: tested in its own module")
    workload, cluster, options = instance
    options = {**options, **params_for(policy, placement)}
    if policy == "schedule":
        options["policy_params"] = replay_params(workload, cluster, placement, options)
    config = SimConfig(policy, placement, **options)
    result = simulate(workload, cluster, config)
    violations = check(result.schedule, workload, cluster, speed=speed_fn(config.speed_table))
    assert violations == [], summarize(violations)

    segments = result.segments.to_pylist()
    finished = [s["job_id"] for s in segments if s["reason"] == "finished"]
    rejected = set(result.schedule.rejected)
    assert sorted(finished + sorted(rejected)) == sorted(str(j) for j in workload.job_id)
    assert len(finished) == len(set(finished))
    if options.get("admission") is None:
        assert not rejected
    statuses = dict(zip(result.jobs.column("job_id").to_pylist(), result.jobs.column("status").to_pylist(),
                        strict=True))
    assert all((statuses[j] == "rejected") == (j in rejected) for j in statuses)

    again = simulate(workload, cluster, config)
    assert again.schedule == result.schedule
    for name in ("jobs", "segments", "timeline", "summary"):  # DataFrame.equals: NaN equals NaN
        assert getattr(again, name).to_pandas().equals(getattr(result, name).to_pandas()), name
