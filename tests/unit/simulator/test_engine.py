"""The engine on hand-computed cases: exact start/end times and GPU ids, the result tables, the policy
contract (illegal decisions, views, wakeups). Preemption, failures, speeds and admission: test_engine_v2.py."""

from __future__ import annotations

import inspect
import json
import re
from collections.abc import Sequence
from pathlib import Path
from typing import Any, ClassVar

import numpy as np
import pytest
from rl_agents import shared_untrained_agent

from simulator.cluster import Cluster, Node
from simulator.engine import Engine
from simulator.placement import PLACEMENTS, PackPlacement
from simulator.policies import (
    POLICIES,
    ClusterView,
    Decision,
    FcfsPolicy,
    JobState,
    PolicyError,
    Preempt,
    Reject,
    RunContext,
    Start,
    policy_params,
)
from simulator.results import write_results
from simulator.rng import Streams
from simulator.run import SimConfig, SimResult, simulate, speed_fn
from simulator.validate import check
from traces.errors import UserError
from traces.model import Categorical, Job, JobStatus, Workload


def wl(*jobs: Job) -> Workload:
    return Workload.from_jobs(jobs)


def sim(
    workload: Workload,
    cluster: Cluster,
    policy: str = "fcfs",
    placement: str = "pack",
    slowdown: float = 1.0,
    **options: Any,
) -> SimResult:
    config = SimConfig(policy, placement, cross_node_slowdown=slowdown, **options)
    result = simulate(workload, cluster, config)
    assert check(result.schedule, workload, cluster, speed=speed_fn(config.speed_table)) == []
    return result


def timeline(result: SimResult) -> dict[str, tuple[float, float, tuple[str, ...]]]:
    return {a.job_id: (a.start_s, a.end_s, a.gpu_ids) for a in result.schedule}


TWO_GPUS = Cluster.uniform(1, 2)
TWO_BY_FOUR = Cluster.uniform(2, 4)


# ----- exact timelines --------------------------------------------------------------
THREE_JOBS = wl(Job("a", 0.0, 4.0, 1), Job("b", 1.0, 3.0, 1), Job("c", 1.0, 1.0, 1))


def test_fcfs_three_jobs_on_two_gpus() -> None:
    # b and c arrive together; b is first in submission order (job id), c waits for a GPU.
    assert timeline(sim(THREE_JOBS, TWO_GPUS, "fcfs")) == {
        "a": (0.0, 4.0, ("n0:0",)),
        "b": (1.0, 4.0, ("n0:1",)),
        "c": (4.0, 5.0, ("n0:0",)),  # a and b both end at 4; the lowest free GPU is taken
    }


def test_sjf_three_jobs_on_two_gpus() -> None:
    assert timeline(sim(THREE_JOBS, TWO_GPUS, "sjf")) == {
        "a": (0.0, 4.0, ("n0:0",)),
        "c": (1.0, 2.0, ("n0:1",)),  # shorter than b, so it goes first
        "b": (2.0, 5.0, ("n0:1",)),
    }


HOL = wl(Job("a", 0.0, 10.0, 1), Job("b", 1.0, 5.0, 2), Job("c", 2.0, 1.0, 1))


def test_fcfs_head_of_line_blocking() -> None:
    # b needs both GPUs; c would fit on the free GPU at t=2 but must wait behind b.
    assert timeline(sim(HOL, TWO_GPUS, "fcfs")) == {
        "a": (0.0, 10.0, ("n0:0",)),
        "b": (10.0, 15.0, ("n0:0", "n0:1")),
        "c": (15.0, 16.0, ("n0:0",)),
    }


def test_sjf_puts_the_short_job_first_then_blocks_on_the_big_one() -> None:
    assert timeline(sim(HOL, TWO_GPUS, "sjf")) == {
        "a": (0.0, 10.0, ("n0:0",)),
        "c": (2.0, 3.0, ("n0:1",)),
        "b": (10.0, 15.0, ("n0:0", "n0:1")),
    }


def test_a_completion_frees_its_gpu_for_an_arrival_at_the_same_instant() -> None:
    jobs = wl(Job("a", 0.0, 5.0, 1), Job("b", 5.0, 1.0, 1))
    assert timeline(sim(jobs, Cluster.uniform(1, 1))) == {"a": (0.0, 5.0, ("n0:0",)), "b": (5.0, 6.0, ("n0:0",))}


def test_simultaneous_arrivals_start_in_job_id_order() -> None:
    jobs = wl(Job("z", 0.0, 1.0, 1), Job("m", 0.0, 1.0, 1), Job("a", 0.0, 1.0, 1))
    assert timeline(sim(jobs, Cluster.uniform(1, 1))) == {
        "a": (0.0, 1.0, ("n0:0",)),
        "m": (1.0, 2.0, ("n0:0",)),
        "z": (2.0, 3.0, ("n0:0",)),
    }


def test_times_are_exact_sums_not_accumulated_clock_steps() -> None:
    jobs = wl(Job("a", 0.1, 0.2, 1), Job("b", 0.3, 0.7, 1), Job("c", 0.30000000000000004, 1e-9, 1))
    got = timeline(sim(jobs, Cluster.uniform(1, 1)))
    assert got["a"][:2] == (0.1, 0.1 + 0.2)
    assert got["b"][:2] == (0.1 + 0.2, 0.1 + 0.2 + 0.7)  # a ends at 0.30000000000000004 > 0.3
    assert got["c"][:2] == (got["b"][1], got["b"][1] + 1e-9)


# ----- placement ---------------------------------------------------------------------
PLACE = wl(Job("a", 0.0, 100.0, 2), Job("b", 1.0, 100.0, 1), Job("c", 2.0, 100.0, 2))


def test_pack_consolidates_on_the_fullest_node_that_fits() -> None:
    assert timeline(sim(PLACE, TWO_BY_FOUR, placement="pack")) == {
        "a": (0.0, 100.0, ("n0:0", "n0:1")),  # tie between empty nodes: cluster order
        "b": (1.0, 101.0, ("n0:2",)),  # n0 (2 free) is fuller than n1 (4 free)
        "c": (2.0, 102.0, ("n1:0", "n1:1")),  # n0 has only one free GPU left
    }


def test_spread_takes_the_node_with_the_most_free_gpus() -> None:
    assert timeline(sim(PLACE, TWO_BY_FOUR, placement="spread")) == {
        "a": (0.0, 100.0, ("n0:0", "n0:1")),
        "b": (1.0, 101.0, ("n1:0",)),
        "c": (2.0, 102.0, ("n1:1", "n1:2")),  # n1 has 3 free, n0 has 2
    }


SPAN = wl(Job("a", 0.0, 10.0, 1), Job("b", 1.0, 4.0, 3))


def test_cross_node_span_runs_slower_by_the_factor() -> None:
    result = sim(SPAN, Cluster.uniform(2, 2), slowdown=1.5)
    # No node has 3 free GPUs: pack spans fullest first (n0 has 1 free, n1 has 2).
    assert timeline(result)["b"] == (1.0, 1.0 + 4.0 * 1.5, ("n0:1", "n1:0", "n1:1"))
    (seg,) = result.schedule.by_job()["b"]
    assert seg.work_s == 4.0  # the job's work, done in 6 s
    assert any("1 jobs ran across nodes" in n and "1.5" in n for n in result.notes)
    row = result.jobs.to_pylist()[1]
    assert (row["job_id"], row["jct_s"], row["slowdown"]) == ("b", 6.0, 1.5)


def test_spread_spans_emptiest_first() -> None:
    assert timeline(sim(SPAN, Cluster.uniform(2, 2), placement="spread", slowdown=2.0))["b"] == (
        1.0,
        9.0,
        ("n1:0", "n1:1", "n0:1"),
    )


def test_a_job_on_one_node_is_not_slowed_down() -> None:
    result = sim(wl(Job("a", 0.0, 4.0, 2)), Cluster.uniform(2, 2), slowdown=3.0)
    assert timeline(result)["a"] == (0.0, 4.0, ("n0:0", "n0:1"))
    assert not [n for n in result.notes if "across nodes" in n]


MIXED = Cluster(
    (
        Node("v0", "V100", 2, 32.0),
        Node("a0", "A100", 2, 80.0),
    )
)


def test_gpu_type_and_memory_constraints_are_honoured() -> None:
    jobs = wl(
        Job("x", 0.0, 10.0, 1, gpu_types=("A100",)),
        Job("y", 0.0, 10.0, 1, gpu_mem_gib=40.0),
        Job("z", 0.0, 10.0, 1),
        Job("w", 1.0, 1.0, 1, gpu_types=("A100",)),  # a V100 is free, but it must wait for an A100
    )
    result = sim(jobs, MIXED)
    assert timeline(result) == {
        "x": (0.0, 10.0, ("a0:0",)),
        "y": (0.0, 10.0, ("a0:1",)),
        "z": (0.0, 10.0, ("v0:0",)),
        "w": (10.0, 11.0, ("a0:0",)),
    }
    assert result.jobs.column("gpu_type").to_pylist() == ["A100", "A100", "V100", "A100"]


def test_a_span_over_two_gpu_types_names_both() -> None:
    result = sim(wl(Job("big", 0.0, 2.0, 4)), MIXED)
    assert result.jobs.column("gpu_type").to_pylist() == ["A100+V100"]


# ----- jobs that can never run ---------------------------------------------------------
@pytest.mark.parametrize(
    "job,message",
    [
        (Job("huge", 0.0, 1.0, 5), "job huge can never run on this cluster: it needs 5 GPUs but the cluster has only 4 GPUs"),
        (
            Job("h100", 0.0, 1.0, 1, gpu_types=("H100",)),
            "job h100 can never run on this cluster: it needs GPU type H100 but the cluster has only V100",
        ),
        (
            Job("fat", 0.0, 1.0, 1, gpu_mem_gib=64.0),
            "job fat can never run on this cluster: it needs 64 GiB per GPU but the largest allowed GPU has 32 GiB",
        ),
    ],
)
def test_a_job_that_can_never_fit_is_a_user_error(job: Job, message: str) -> None:
    jobs = wl(Job("ok", 0.0, 1.0, 1), job)
    with pytest.raises(UserError) as info:
        simulate(jobs, Cluster.uniform(1, 4), SimConfig())
    assert str(info.value) == message


def test_never_fits_counts_the_other_bad_jobs_and_respects_types() -> None:
    jobs = wl(Job("a", 0.0, 1.0, 3, gpu_types=("A100",)), Job("b", 1.0, 1.0, 3, gpu_types=("A100",)))
    with pytest.raises(UserError, match=r"^job a can never run on this cluster: it needs 3 GPUs but the cluster "
                                        r"has only 2 GPUs of an allowed type and memory \(1 more jobs cannot run"):
        simulate(jobs, MIXED, SimConfig())


def test_bad_config_and_empty_workload_are_user_errors() -> None:
    known_policies = re.escape(", ".join(sorted(POLICIES)))
    with pytest.raises(UserError, match=f"unknown policy 'nope'; known policies: {known_policies}$"):
        SimConfig(policy="nope")
    known_placements = re.escape(", ".join(sorted(PLACEMENTS)))
    with pytest.raises(UserError, match=f"unknown placement 'x'; known placements: {known_placements}$"):
        SimConfig(placement="x")
    with pytest.raises(UserError, match="policy 'las' has no parameter 'quantum_s'; its parameters: min_run_s, quantum_gpu_s"):
        SimConfig(policy="las", policy_params={"quantum_s": 1.0})
    with pytest.raises(UserError, match="quantum_gpu_s must be a finite number >= 0"):
        SimConfig(policy="las", policy_params={"quantum_gpu_s": -1.0})
    with pytest.raises(UserError, match="checkpoint_interval_s must be a finite number > 0"):
        SimConfig(checkpoint_interval_s=0.0)
    with pytest.raises(UserError, match="estimates: expected 'actual' or 'noisy:<sigma>'"):
        SimConfig(estimates="noisy:-1")
    with pytest.raises(UserError, match="admission 'wait-slo' needs slo_s"):
        SimConfig(admission="wait-slo")
    with pytest.raises(UserError, match="cross_node_slowdown"):
        SimConfig(cross_node_slowdown=0.5)
    with pytest.raises(UserError, match="no jobs"):
        simulate(Workload.from_jobs([]), TWO_GPUS, SimConfig())


# ----- results: tables, notes, determinism ---------------------------------------------
def test_result_tables_of_a_small_run() -> None:
    result = sim(THREE_JOBS, TWO_GPUS, "fcfs")
    assert result.config.run_id == "fcfs-pack-s0"
    rows = {r["job_id"]: r for r in result.jobs.to_pylist()}
    assert rows["c"] == {
        "run_id": "fcfs-pack-s0", "policy": "fcfs", "placement": "pack", "seed": 0, "job_id": "c",
        "submit_s": 1.0, "start_s": 4.0, "end_s": 5.0, "wait_s": 3.0, "jct_s": 4.0, "num_gpus": 1,
        "gpu_type": "V100", "status": "completed", "num_preemptions": 0, "num_failures": 0, "gpu_ids": "n0:0",
        "slowdown": 4.0,
    }  # fmt: skip
    assert result.segments.to_pylist()[2] == {
        "run_id": "fcfs-pack-s0", "job_id": "c", "segment": 0, "start_s": 4.0, "end_s": 5.0, "work_s": 1.0,
        "gpu_ids": "n0:0", "reason": "finished",
    }  # fmt: skip
    summary = {r["metric"]: r["value"] for r in result.summary.to_pylist()}
    assert summary["num_jobs"] == 3
    assert summary["mean_jct_s"] == pytest.approx((4 + 3 + 4) / 3)
    assert summary["makespan_s"] == 5.0
    assert summary["gpu_utilisation"] == pytest.approx((4 + 3 + 1) / (2 * 5))
    assert summary["throughput_jobs_per_h"] == pytest.approx(3 / (5 / 3600))
    assert result.num_events == 2 + 3  # two distinct submit times, three ends
    assert result.wall_s > 0
    assert summary["num_completed"] == 3 and summary["num_rejected"] == 0 and summary["num_preemptions"] == 0
    timeline = result.timeline.to_pylist()
    assert {r["metric"] for r in timeline} == {"busy_gpus", "queued_jobs", "running_jobs"}
    at_1 = {r["metric"]: r["value"] for r in timeline if r["t_s"] == 1.0}
    assert at_1 == {"busy_gpus": 2.0, "queued_jobs": 1.0, "running_jobs": 2.0}


def test_recorded_failed_status_is_kept_and_fractional_jobs_are_noted() -> None:
    jobs = wl(
        Job("a", 0.0, 1.0, 1, gpu_frac=0.25, status=JobStatus.failed),
        Job("b", 0.0, 1.0, 1, gpu_frac=0.5),
        Job("c", 0.0, 1.0, 1),
    )
    result = sim(jobs, TWO_GPUS)
    assert result.jobs.column("status").to_pylist() == ["failed", "completed", "completed"]
    # Fractional jobs still take whole GPUs: c must wait although a and b use 3/4 of a GPU.
    assert timeline(result)["c"][:2] == (1.0, 2.0)
    assert result.notes[:1] == (
        "2 jobs ask for a fraction of a GPU (gpu_frac < 1); each was given whole GPUs (GPU sharing is not modelled)",
    )


def random_workload(seed: int, n: int = 300) -> Workload:
    rng = Streams.from_seed(seed)
    submit = np.cumsum(rng.arrivals.exponential(30.0, n))
    submit[5:9] = submit[4]  # a few simultaneous arrivals
    duration = rng.durations.exponential(200.0, n) + 1.0
    gpus = rng.tiebreak.choice([1, 1, 1, 2, 4, 6], n).astype(np.int32)
    types = Categorical.from_values(
        [("A100",) if i % 7 == 0 else () for i in range(n)], none_values=((),)
    )
    return Workload.from_columns(
        job_id=[f"r{i:04d}" for i in range(n)],
        submit_s=submit,
        duration_s=duration,
        num_gpus=gpus,
        gpu_types=types,
        gpu_mem_gib=np.where(np.arange(n) % 11 == 0, 40.0, np.nan),
        user=Categorical.from_values([f"u{i % 5}" for i in range(n)]),
    )


RANDOM_CLUSTER = Cluster(
    (
        Node("v0", "V100", 4, 32.0),
        Node("v1", "V100", 4, 32.0),
        Node("a0", "A100", 4, 80.0),
        Node("a1", "A100", 2, 80.0),
    )
)


def runnable_alone(policy: str) -> bool:
    """Policies that run with default parameters (`schedule` replay needs a schedule file)."""
    return all(v is not inspect.Parameter.empty for v in policy_params(policy).values())


@pytest.mark.parametrize("policy", sorted(POLICIES))
@pytest.mark.parametrize("placement", sorted(PLACEMENTS))
def test_every_policy_and_placement_gives_a_valid_schedule(policy: str, placement: str) -> None:
    if not runnable_alone(policy) and policy != "schedule":
        pytest.skip(f"policy {policy} has required parameters (tested in its own module)")
    workload = random_workload(3)
    options: dict[str, Any] = {}
    if policy == "rl":  # a trained agent's choices; an untrained one must give valid schedules too
        options["policy_params"] = {"agent": shared_untrained_agent()}
    if policy == "schedule":  # it replays a schedule file: the one fcfs makes here
        options["policy_params"] = {"schedule": sim(workload, RANDOM_CLUSTER, "fcfs", placement, 1.25).schedule}
    result = sim(workload, RANDOM_CLUSTER, policy, placement, slowdown=1.25, **options)
    assert len(result.schedule.by_job()) == len(workload)
    summary = {r["metric"]: r["value"] for r in result.summary.to_pylist()}
    assert 0 < summary["gpu_utilisation"] <= 1
    assert 0 < summary["jain_slowdown_by_user"] <= 1
    jobs = result.jobs.to_pylist()
    assert all(r["start_s"] >= r["submit_s"] and r["slowdown"] >= 1 - 1e-12 for r in jobs)


def test_fcfs_starts_jobs_in_submission_order() -> None:
    workload = random_workload(4)
    starts = sim(workload, RANDOM_CLUSTER, "fcfs").jobs.column("start_s").to_numpy()
    assert np.all(np.diff(starts) >= 0)  # rows are in submission order


@pytest.mark.parametrize("fmt", ["csv", "parquet", "json"])
def test_same_seed_gives_byte_identical_files(tmp_path: Path, fmt: str) -> None:
    outputs = []
    config = SimConfig("las", "random", seed=7, policy_params={"quantum_gpu_s": 500.0}, restart_overhead_s=5.0,
                       checkpoint_interval_s=60.0, node_mtbf_s=20_000.0, node_mttr_s=500.0, estimates="noisy:0.5")
    for attempt in ("first", "second"):
        result = simulate(random_workload(7), RANDOM_CLUSTER, config)
        paths = write_results(result, tmp_path / attempt, fmt)
        files = {name: p.read_bytes() for name, p in paths.items() if name not in ("summary_json", "summary")}
        doc = json.loads(paths["summary_json"].read_text())
        doc.pop("wall_s")  # the only value that differs between identical runs
        files["summary_json"] = json.dumps(doc).encode()
        if fmt != "json":
            files["summary"] = paths["summary"].read_bytes()
        outputs.append(files)
    assert sorted(outputs[0]) == sorted(["jobs", "schedule", "segments", "summary_json", "timeline"]
                                        + (["summary"] if fmt != "json" else []))
    assert outputs[0] == outputs[1]


# ----- the policy contract ------------------------------------------------------------
class Scripted:
    """Returns fixed decisions at its first call, then nothing."""

    key: ClassVar[str] = "scripted"
    preemptive: ClassVar[bool] = False

    def __init__(self, decisions: Sequence[Decision], preemptive: bool = False) -> None:
        self.decisions = list(decisions)
        self.calls = 0
        self.preemptive = preemptive  # type: ignore[misc]

    def bind(self, ctx: RunContext) -> None:
        self.ctx = ctx

    def rank(self, job: JobState) -> tuple[Any, ...]:
        return ()

    def decide(self, view: ClusterView) -> Sequence[Decision]:
        self.calls += 1
        return self.decisions if self.calls == 1 else ()

    def next_wakeup_s(self, view: ClusterView) -> float | None:
        return None


def run_engine(policy: object, workload: Workload, cluster: Cluster = TWO_GPUS) -> None:
    Engine(workload, cluster, policy, PackPlacement()).run()  # type: ignore[arg-type]


@pytest.mark.parametrize(
    "decisions,reason",
    [
        ([Start("a", ("n0:0",)), Start("b", ("n0:0",))], "job b: GPU n0:0 is not free"),
        ([Start("a", ("n0:0",)), Start("a", ("n0:1",))], "job a is not queued (it is running)"),
        ([Start("c", ("n0:0",))], "job c is not queued (it is not yet submitted)"),
        ([Start("nope", ("n0:0",))], "decision names job 'nope', which is not in the workload"),
        ([Start("a", ("n0:0", "n0:1"))], "job a needs 1 GPUs but the decision gives 2"),
        ([Start("a", ("n9:0",))], "job a: GPU 'n9:0' is not in the cluster"),
        ([Preempt("a")], "preempts job a but declares preemptive = False"),
        ([("a", ("n0:0",))], "decide returned ('a', ('n0:0',)); expected Start, Preempt or Reject"),
    ],
)
def test_illegal_decisions_raise_policy_error(decisions: list[Decision], reason: str) -> None:
    jobs = wl(Job("a", 0.0, 1.0, 1), Job("b", 0.0, 1.0, 1), Job("c", 5.0, 1.0, 1))
    with pytest.raises(PolicyError) as info:
        run_engine(Scripted(decisions), jobs)
    assert info.value.policy_key == "scripted"
    assert str(info.value) == f"policy 'scripted': {reason}"


@pytest.mark.parametrize(
    "decisions,reason",
    [
        ([Start("a", ("n0:0",)), Preempt("a")], "preempts job a at the instant it started (0.0 s)"),
        ([Preempt("b")], "preempts job b, which is not running (it is queued)"),
        ([Preempt("zz")], "decision names job 'zz', which is not in the workload"),
        ([Start("a", ("n0:0",)), Reject("a")], "rejects job a, which is not queued (it is running)"),
        ([Reject("zz")], "decision names job 'zz', which is not in the workload"),
    ],
)
def test_illegal_preemptions_raise_policy_error(decisions: list[Decision], reason: str) -> None:
    jobs = wl(Job("a", 0.0, 1.0, 1), Job("b", 0.0, 1.0, 1))
    with pytest.raises(PolicyError) as info:
        run_engine(Scripted(decisions, preemptive=True), jobs)
    assert str(info.value) == f"policy 'scripted': {reason}"


def test_a_decision_on_a_disallowed_gpu_type_is_a_policy_error() -> None:
    jobs = wl(Job("a", 0.0, 1.0, 1, gpu_types=("A100",)))
    with pytest.raises(PolicyError, match="GPU v0:0 .V100, 32 GiB. does not meet the job's GPU type/memory needs"):
        run_engine(Scripted([Start("a", ("v0:0",))]), jobs, MIXED)


def test_a_policy_that_never_starts_a_job_is_reported() -> None:
    with pytest.raises(PolicyError, match=r"2 jobs never started \(first: b\)"):
        run_engine(Scripted([Start("a", ("n0:0",))]), wl(Job("a", 0.0, 1.0, 1), Job("b", 0.0, 1.0, 1),
                                                          Job("c", 0.5, 1.0, 1)))


class Waiter(Scripted):
    """Starts the head only from t = 5 on, asking to be woken then."""

    key: ClassVar[str] = "waiter"

    def __init__(self) -> None:
        super().__init__(())
        self.asked: list[float] = []

    def decide(self, view: ClusterView) -> Sequence[Decision]:
        self.asked.append(view.now_s)
        head = view.head()
        if head is None or view.now_s < 5.0:
            return ()
        gpus = view.place(head.job)
        return () if gpus is None else (Start(head.job.job_id, gpus),)

    def next_wakeup_s(self, view: ClusterView) -> float | None:
        return 5.0


def test_a_wakeup_asks_the_policy_again_when_nothing_else_happens() -> None:
    policy = Waiter()
    result = Engine(wl(Job("a", 0.0, 1.0, 1), Job("b", 1.0, 1.0, 1)), TWO_GPUS, policy, PackPlacement()).run()
    assert result.first_start_s.tolist() == [5.0, 5.0]
    assert policy.asked == [0.0, 1.0, 5.0, 5.0]  # woken at 5: starts a, is asked again, starts b


def test_rank_sees_the_arrival_state_and_bind_the_run() -> None:
    seen: list[JobState] = []

    class Ranker(FcfsPolicy):
        key: ClassVar[str] = "ranker"

        def rank(self, job: JobState) -> tuple[Any, ...]:
            seen.append(job)
            return (-job.job.duration_s,)  # longest first

    policy = Ranker()
    jobs = wl(Job("busy", 0.0, 10.0, 1), Job("q1", 1.0, 2.0, 1), Job("q2", 1.0, 3.0, 1))
    Engine(jobs, Cluster.uniform(1, 1), policy, PackPlacement()).run()
    assert [s.job.job_id for s in seen] == ["busy", "q1", "q2"]
    assert all(s.waited_s == 0 and s.attained_gpu_s == 0 and s.gpu_ids == () and not s.running for s in seen)
    assert [s.remaining_work_s for s in seen] == [10.0, 2.0, 3.0]
    assert policy.ctx.workload is jobs and policy.ctx.estimate_s.tolist() == [10.0, 2.0, 3.0]


class GenericFcfs(FcfsPolicy):
    """FCFS through the generic decide loop (the engine inlines an unchanged OrderedPolicy.decide)."""

    key: ClassVar[str] = "generic-fcfs"

    def decide(self, view: ClusterView) -> Sequence[Decision]:
        return super().decide(view)


@pytest.mark.parametrize("placement", sorted(PLACEMENTS))
def test_the_inlined_ordered_decide_makes_the_same_decisions(placement: str) -> None:
    from simulator.placement import make_placement
    from simulator.rng import stream

    workload = random_workload(11)
    outs = [
        Engine(workload, RANDOM_CLUSTER, p, make_placement(placement, stream(0, "placement"))).run()
        for p in (FcfsPolicy(), GenericFcfs())
    ]
    np.testing.assert_array_equal(outs[0].first_start_s, outs[1].first_start_s)
    assert outs[0].seg_gpus == outs[1].seg_gpus


class Recorder(FcfsPolicy):
    """FCFS that snapshots everything its views show."""

    key: ClassVar[str] = "recorder"

    def __init__(self) -> None:
        self.seen: list[dict[str, object]] = []

    def decide(self, view: ClusterView) -> Sequence[Decision]:
        head = view.head()
        self.seen.append(
            {
                "now": view.now_s,
                "queue": [(q.job.job_id, q.waited_s) for q in view.queue()],
                "head": None if head is None else head.job.job_id,
                "num_queued": view.num_queued,
                "num_running": view.num_running,
                "running": [(r.job.job_id, r.start_s, r.end_s, r.gpu_ids, r.attained_gpu_s, r.remaining_work_s)
                            for r in view.running()],
                "free": dict(view.free_gpus()),
                "num_free": view.num_free_gpus,
            }
        )
        return super().decide(view)


def test_the_view_shows_queue_running_jobs_and_free_gpus() -> None:
    jobs = wl(
        Job("a", 0.0, 10.0, 3),
        Job("b", 2.0, 5.0, 4),
        Job("c", 3.0, 1.0, 1),
        Job("d", 3.0, 1.0, 1),
    )
    policy = Recorder()
    Engine(jobs, TWO_BY_FOUR, policy, PackPlacement()).run()
    at_3 = [s for s in policy.seen if s["now"] == 3.0]
    assert at_3[0] == {
        # b (4 GPUs) took n1; a holds n0/0-2; the head c goes on n0:3, then d waits for a GPU.
        "now": 3.0,
        "queue": [("c", 0.0), ("d", 0.0)],
        "head": "c",
        "num_queued": 2,
        "num_running": 2,
        "running": [("a", 0.0, 10.0, ("n0:0", "n0:1", "n0:2"), 9.0, 7.0),
                    ("b", 2.0, 7.0, ("n1:0", "n1:1", "n1:2", "n1:3"), 4.0, 4.0)],
        "free": {"n0": ("n0:3",)},
        "num_free": 1,
    }
    at_4 = [s for s in policy.seen if s["now"] == 4.0]
    assert at_4[0]["queue"] == [("d", 1.0)]


def test_the_view_lists_the_queue_in_sjf_order() -> None:
    class SjfRecorder(Recorder):
        key: ClassVar[str] = "sjf-recorder"

        def rank(self, job: JobState) -> tuple[Any, ...]:
            return POLICIES["sjf"]().rank(job)

    durations = [9.0, 3.0, 7.0, 1.0, 5.0, 3.0, 8.0]
    jobs = wl(Job("busy", 0.0, 100.0, 1), *(Job(f"q{i}", 1.0, d, 1) for i, d in enumerate(durations)))
    policy = SjfRecorder()
    Engine(jobs, Cluster.uniform(1, 1), policy, PackPlacement()).run()
    first = next(s for s in policy.seen if s["now"] == 100.0)
    assert [j for j, _ in first["queue"]] == ["q3", "q1", "q5", "q4", "q2", "q6", "q0"]  # type: ignore[attr-defined]
