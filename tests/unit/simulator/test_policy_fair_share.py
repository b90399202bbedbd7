"""Fair share: water-filling, tenant order, victim choice (pure), then exact timelines in the engine."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from simulator.cluster import Cluster
from simulator.policies import RunContext, make_policy
from simulator.policies.base import sim_jobs
from simulator.policies.fair_share import (
    NO_TENANT,
    SINGLE_TENANT,
    RunningSlice,
    choose_victims,
    max_min_shares,
    resolve_tenancy,
    start_order,
    tenant_names,
)
from simulator.run import SimConfig, SimResult, simulate, speed_fn
from simulator.speed import SpeedTable
from simulator.validate import check
from traces.errors import UserError
from traces.model import Job, Workload
from traces.readers.registry import read_trace


# ----- water-filling ----------------------------------------------------------------
def test_equal_split_when_everyone_wants_more() -> None:
    assert max_min_shares(8, {"a": 10, "b": 10}) == {"a": 4.0, "b": 4.0}


def test_small_demand_is_met_and_the_rest_is_split() -> None:
    # c asks for 1: it gets 1; a and b split the other 9 (4.5 each, both want more).
    assert max_min_shares(10, {"a": 6, "b": 9, "c": 1}) == {"a": 4.5, "b": 4.5, "c": 1.0}


def test_second_level_of_water_filling() -> None:
    # Equal split 12/3 = 4: a (2) is satisfied; 10 left for b, c: 5 each; b (3) satisfied; c gets 7.
    assert max_min_shares(12, {"a": 2, "b": 3, "c": 20}) == {"a": 2.0, "b": 3.0, "c": 7.0}


def test_under_demand_everyone_gets_their_demand_and_idle_tenants_zero() -> None:
    assert max_min_shares(8, {"a": 2, "b": 3, "idle": 0}) == {"a": 2.0, "b": 3.0, "idle": 0.0}


def test_fractional_shares() -> None:
    shares = max_min_shares(8, {"a": 5, "b": 5, "c": 5})
    assert shares["a"] == shares["b"] == shares["c"] == pytest.approx(8 / 3)


# ----- which tenant goes next ----------------------------------------------------------
def test_start_order_furthest_below_share_first() -> None:
    shares = {"a": 4.0, "b": 4.0, "c": 2.0}
    allocated = {"a": 4, "b": 1, "c": 0}
    heads = {"a": (0.0, "a9"), "b": (5.0, "b3"), "c": (7.0, "c1")}
    # b is 3 below, c 2 below, a 0 below.
    assert start_order(shares, allocated, heads) == ["b", "c", "a"]


def test_start_order_ties_go_to_the_oldest_head() -> None:
    shares = {"a": 1.0, "b": 1.0}
    heads = {"a": (3.0, "a1"), "b": (1.0, "b1")}
    assert start_order(shares, {}, heads) == ["b", "a"]
    assert start_order(shares, {}, {"a": (1.0, "a1"), "b": (1.0, "b1")}) == ["a", "b"]


# ----- tenancy ------------------------------------------------------------------------
def test_tenancy_fallbacks() -> None:
    assert resolve_tenancy("user", True, True) == ("user", None)
    assert resolve_tenancy("group", True, True) == ("group", None)
    field, note = resolve_tenancy("user", False, True)
    assert field == "group" and note is not None and "no users" in note
    field, note = resolve_tenancy("group", True, False)
    assert field == "user" and note is not None and "no groups" in note
    field, note = resolve_tenancy("user", False, False)
    assert field is None and note is not None and "one tenant" in note


def test_tenant_names() -> None:
    assert tenant_names(["u1", None, "u2"], 3) == ["u1", NO_TENANT, "u2"]
    assert tenant_names(None, 2) == [SINGLE_TENANT, SINGLE_TENANT]


# ----- preemption victims -----------------------------------------------------------
def newest_first(**running: list[RunningSlice]) -> Callable[[str], list[RunningSlice]]:
    by_tenant = {t: sorted(jobs, key=lambda j: (j.start_s, j.job_id), reverse=True) for t, jobs in running.items()}
    return lambda t: by_tenant.get(t, [])


def test_victim_is_the_latest_job_of_the_most_over_share_tenant() -> None:
    # 4 GPUs, a holds all 4 (share 2), b waits for 1 GPU (share 2).
    running = newest_first(a=[RunningSlice(0.0, "a1", 1), RunningSlice(3.0, "a3", 1), RunningSlice(1.0, "a2", 2)])
    victims = choose_victims({"a": 2.0, "b": 2.0}, {"a": 4, "b": 0}, running, "b", 1, 0, now_s=5.0)
    assert victims == ["a3"]


def test_victims_stop_where_the_victim_tenant_would_drop_below_share() -> None:
    running = newest_first(a=[RunningSlice(0.0, "a1", 1), RunningSlice(1.0, "a2", 1), RunningSlice(2.0, "a3", 1)])
    shares = {"a": 2.0, "b": 2.0}
    # b needs 2: a would have to drop to 1 < 2, so nothing is preempted at all.
    assert choose_victims(shares, {"a": 3, "b": 0}, running, "b", 2, 0, now_s=5.0) == []
    # With one GPU already free, preempting a3 is enough and a stays at its share.
    assert choose_victims(shares, {"a": 3, "b": 0}, running, "b", 2, 1, now_s=5.0) == ["a3"]


def test_no_preemption_for_a_tenant_at_its_share() -> None:
    running = newest_first(a=[RunningSlice(0.0, "a1", 3)])
    assert choose_victims({"a": 2.0, "b": 1.0}, {"a": 3, "b": 1}, running, "b", 1, 0, now_s=1.0) == []


def test_a_needy_tenant_may_end_above_its_share() -> None:
    # b is below its share (0 < 1.5); its head wants 2 GPUs; a (3 of share 1.5) cannot give 2
    # and stay at 1.5, but with one free GPU giving 1 keeps a at 2 >= 1.5.
    running = newest_first(a=[RunningSlice(0.0, "a1", 1), RunningSlice(0.5, "a2", 1), RunningSlice(0.7, "a3", 1)])
    shares = {"a": 1.5, "b": 1.5}
    assert choose_victims(shares, {"a": 3, "b": 0}, running, "b", 2, 0, now_s=1.0) == []
    assert choose_victims(shares, {"a": 3, "b": 0}, running, "b", 2, 1, now_s=1.0) == ["a3"]


def test_jobs_started_now_are_never_victims() -> None:
    running = newest_first(a=[RunningSlice(0.0, "a1", 1), RunningSlice(5.0, "a2", 1), RunningSlice(5.0, "a3", 1)])
    # a3 and a2 started at now: the latest eligible is a1.
    assert choose_victims({"a": 1.0, "b": 1.0}, {"a": 3, "b": 0}, running, "b", 1, 0, now_s=5.0) == ["a1"]


def test_victims_come_from_the_tenant_most_over_share_each_time() -> None:
    running = newest_first(
        a=[RunningSlice(0.0, "a1", 1), RunningSlice(1.0, "a2", 1), RunningSlice(2.0, "a3", 1)],
        b=[RunningSlice(0.0, "b1", 1), RunningSlice(4.0, "b2", 1)],
    )
    shares = {"a": 1.0, "b": 1.0, "c": 3.0}
    # a is 2 over, b 1 over: a3 goes; then both are 1 over and b's candidate (b2, started at 4)
    # is the later one; then only a is over.
    victims = choose_victims(shares, {"a": 3, "b": 2, "c": 0}, running, "c", 3, 0, now_s=9.0)
    assert victims == ["a3", "b2", "a2"]


# ----- in the engine: exact timelines ---------------------------------------------------
DATA = Path(__file__).resolve().parents[3] / "traces" / "data"
TWO_GPUS = Cluster.uniform(1, 2)


def run(workload: Workload, cluster: Cluster, policy: str, **options: Any) -> SimResult:
    config = SimConfig(policy, "pack", **options)
    result = simulate(workload, cluster, config)
    assert check(result.schedule, workload, cluster, speed=speed_fn(config.speed_table)) == []
    return result


def segments(result: SimResult) -> list[tuple[str, float, float]]:
    """(job, start, end) per run segment, by start then job."""
    seg = result.segments.to_pydict()
    return sorted(zip(seg["job_id"], seg["start_s"], seg["end_s"], strict=True), key=lambda s: (s[1], s[0]))


def flood(user_key: str = "user") -> Workload:
    """alice floods the queue at t=0 with six 10 s jobs; bob submits two at t=1."""
    jobs = [Job(f"a{i}", 0.0, 10.0, 1, **{user_key: "alice"}) for i in range(1, 7)]
    jobs += [Job(f"b{i}", 1.0, 10.0, 1, **{user_key: "bob"}) for i in (1, 2)]
    return Workload.from_jobs(jobs)


def test_fcfs_makes_the_second_user_wait_behind_the_flood() -> None:
    assert [s for s in segments(run(flood(), TWO_GPUS, "fcfs")) if s[0].startswith("b")] == [
        ("b1", 30.0, 40.0),
        ("b2", 30.0, 40.0),
    ]


def test_fair_share_gives_the_second_user_its_share() -> None:
    # From t=1 both users have demand > 1 GPU, so each share is 1 GPU. At t=10 both are 1
    # below share: alice's head is older, so a3 first, then bob's b1; the same at t=20.
    assert segments(run(flood(), TWO_GPUS, "fair-share")) == [
        ("a1", 0.0, 10.0),
        ("a2", 0.0, 10.0),
        ("a3", 10.0, 20.0),
        ("b1", 10.0, 20.0),
        ("a4", 20.0, 30.0),
        ("b2", 20.0, 30.0),
        ("a5", 30.0, 40.0),
        ("a6", 30.0, 40.0),
    ]


def test_fair_share_by_group_and_the_fallback_to_groups() -> None:
    by_user = segments(run(flood(), TWO_GPUS, "fair-share"))
    groups_only = flood("group")
    assert segments(run(groups_only, TWO_GPUS, "fair-share", policy_params=(("by", "group"),))) == by_user
    # The trace names no users: "user" (the default) falls back to groups, and says so.
    policy = make_policy("fair-share")
    policy.bind(_context(groups_only))
    assert policy.notes == ("fair share by user: the trace names no users, so tenants are groups",)  # type: ignore[attr-defined]
    assert segments(run(groups_only, TWO_GPUS, "fair-share")) == by_user


def test_one_tenant_is_strict_fcfs() -> None:
    # No users, no groups: one tenant, and its oldest job blocks the queue like fcfs.
    workload = Workload.from_jobs(
        [Job("a", 0.0, 10.0, 1), Job("b", 1.0, 5.0, 2), Job("c", 2.0, 1.0, 1), Job("d", 2.0, 3.0, 1)]
    )
    fair = run(workload, TWO_GPUS, "fair-share")
    assert segments(fair) == segments(run(workload, TWO_GPUS, "fcfs"))
    assert segments(fair)[:2] == [("a", 0.0, 10.0), ("b", 10.0, 15.0)]


def test_a_small_job_of_another_tenant_overtakes_a_blocked_large_one() -> None:
    # bob's 2-GPU job cannot start on the one free GPU; alice's 1-GPU job can (work-conserving).
    workload = Workload.from_jobs(
        [
            Job("a1", 0.0, 10.0, 1, user="alice"),
            Job("b1", 1.0, 5.0, 2, user="bob"),
            Job("a2", 2.0, 4.0, 1, user="alice"),
        ]
    )
    assert segments(run(workload, TWO_GPUS, "fair-share")) == [
        ("a1", 0.0, 10.0),
        ("a2", 2.0, 6.0),
        ("b1", 10.0, 15.0),
    ]


def test_preemptive_fair_share_preempts_the_latest_job_of_the_flooding_user() -> None:
    # At t=1 bob is below his 1-GPU share and nothing is free: alice (2 GPUs, share 1) loses
    # her most recent job, a2 (a1 and a2 both started at 0; a2 was started second), and
    # keeps 1 = her share. a2 loses nothing (no checkpoint interval) but pays the 2 s
    # restart overhead. At t=10 (a1 ends) alice is 1 below share, bob at it: a2 resumes
    # with 9 s left, ends at 10 + 2 + 9. At t=11 b1 ends: b2. At t=21 a2 and b2 end
    # together: bob has no demand left, so alice takes both GPUs.
    result = run(flood(), TWO_GPUS, "fair-share-preemptive", restart_overhead_s=2.0)
    assert segments(result) == [
        ("a1", 0.0, 10.0),
        ("a2", 0.0, 1.0),
        ("b1", 1.0, 11.0),
        ("a2", 10.0, 21.0),
        ("b2", 11.0, 21.0),
        ("a3", 21.0, 31.0),
        ("a4", 21.0, 31.0),
        ("a5", 31.0, 41.0),
        ("a6", 31.0, 41.0),
    ]
    preemptions = dict(zip(result.jobs["job_id"].to_pylist(), result.jobs["num_preemptions"].to_pylist(), strict=True))
    assert preemptions["a2"] == 1 and sum(preemptions.values()) == 1


def test_preemption_never_pushes_the_victim_tenant_below_its_share() -> None:
    # 3 GPUs: alice holds 2, bob 1 (shares 1.5 each). Bob's second job waits but preempting
    # alice would leave her at 1 < 1.5, so nothing is preempted.
    workload = Workload.from_jobs(
        [
            Job("a1", 0.0, 10.0, 1, user="alice"),
            Job("a2", 0.0, 10.0, 1, user="alice"),
            Job("b1", 0.0, 10.0, 1, user="bob"),
            Job("a3", 1.0, 10.0, 1, user="alice"),
            Job("b2", 1.0, 10.0, 1, user="bob"),
        ]
    )
    result = run(workload, Cluster.uniform(1, 3), "fair-share-preemptive")
    assert sum(result.jobs["num_preemptions"].to_pylist()) == 0
    # At t=10 all three GPUs free up; shares 1.5 / 1.5: a3 (older head) and b2 start.
    assert segments(result)[3:] == [("a3", 10.0, 20.0), ("b2", 10.0, 20.0)]


def test_bad_tenant_field_is_a_user_error() -> None:
    with pytest.raises(UserError, match="by must be 'user' or 'group'"):
        make_policy("fair-share", by="project")


# ----- a real trace slice ---------------------------------------------------------------
@pytest.mark.parametrize("policy", ["fair-share", "fair-share-preemptive"])
def test_philly_slice_validates(policy: str) -> None:
    data = read_trace([DATA / "philly-dirlab-slice.csv"])
    workload = data.workload.take(np.arange(400, dtype=np.intp))
    cluster = Cluster.uniform(8, 8)
    result = run(workload, cluster, policy, restart_overhead_s=30.0, checkpoint_interval_s=600.0)
    assert len(result.schedule.by_job()) == len(workload)


def _context(workload: Workload) -> RunContext:
    jobs = sim_jobs(workload)
    return RunContext(
        workload=workload,
        cluster=TWO_GPUS,
        jobs=jobs,
        rng=np.random.default_rng(0),
        estimate_s=workload.duration_s,
        speed=SpeedTable.reference(),
    )
