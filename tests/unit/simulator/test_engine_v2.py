"""Engine v2 on hand-computed timelines: preemptive policies, checkpoint loss and restart overhead,
GPU speeds and migration, node failures, admission control, duration estimates, placement waits."""

from __future__ import annotations

import math
from typing import Any, ClassVar

import numpy as np
import pytest

from simulator.admission import AdmissionState, Verdict
from simulator.cluster import Cluster, Node
from simulator.engine import Engine, EngineOptions
from simulator.estimates import EstimateSpec, duration_estimates
from simulator.placement import PackPlacement
from simulator.policies import make_policy
from simulator.policies.base import SimJob
from simulator.rng import Streams
from simulator.run import SimConfig, SimResult, simulate, speed_fn
from simulator.speed import SpeedTable
from simulator.validate import check
from traces.errors import UserError
from traces.model import Categorical, Job, JobStatus, Workload

Seg = tuple[str, float, float, float, str, str]


def run(jobs: list[Job], cluster: Cluster, policy: str = "fcfs", **options: Any) -> SimResult:
    workload = Workload.from_jobs(jobs)
    config = SimConfig(policy, options.pop("placement", "pack"), **options)
    result = simulate(workload, cluster, config)
    assert check(result.schedule, workload, cluster, speed=speed_fn(config.speed_table)) == []
    return result


def segments(result: SimResult) -> list[Seg]:
    """(job, start, end, work, GPUs, reason) per segment, by job then start."""
    return [
        (r["job_id"], r["start_s"], r["end_s"], r["work_s"], r["gpu_ids"], r["reason"])
        for r in result.segments.to_pylist()
    ]


def jobs_by_id(result: SimResult) -> dict[str, dict[str, Any]]:
    return {r["job_id"]: r for r in result.jobs.to_pylist()}


ONE = Cluster.uniform(1, 1)
TWO = Cluster.uniform(1, 2)


# ----- preemptive policies ---------------------------------------------------------------
def test_srtf_preempts_the_longer_remaining_job() -> None:
    result = run([Job("a", 0.0, 10.0, 1), Job("b", 2.0, 3.0, 1)], ONE, "srtf")
    assert segments(result) == [
        ("a", 0.0, 2.0, 2.0, "n0:0", "preempted"),  # b (3 s) beats a's 8 s left
        ("a", 5.0, 13.0, 8.0, "n0:0", "finished"),
        ("b", 2.0, 5.0, 3.0, "n0:0", "finished"),
    ]
    assert jobs_by_id(result)["a"]["num_preemptions"] == 1


def test_srtf_gang_preempts_longest_remaining_first_and_only_as_many_as_needed() -> None:
    # At t=1 c (2 s, 2 GPUs) needs both GPUs: a (9 s left) and b (7 s left) both go.
    result = run([Job("a", 0.0, 10.0, 1), Job("b", 0.0, 8.0, 1), Job("c", 1.0, 2.0, 2)], TWO, "srtf")
    assert segments(result) == [
        ("a", 0.0, 1.0, 1.0, "n0:1", "preempted"),
        ("a", 3.0, 12.0, 9.0, "n0:1", "finished"),
        ("b", 0.0, 1.0, 1.0, "n0:0", "preempted"),  # b is shorter, so it started first, on n0:0
        ("b", 3.0, 10.0, 7.0, "n0:0", "finished"),
        ("c", 1.0, 3.0, 2.0, "n0:0;n0:1", "finished"),
    ]
    # A 1-GPU newcomer preempts only the longest job.
    result = run([Job("a", 0.0, 10.0, 1), Job("b", 0.0, 8.0, 1), Job("c", 1.0, 2.0, 1)], TWO, "srtf")
    assert [(j, s, e) for j, s, e, *_ in segments(result)] == [
        ("a", 0.0, 1.0), ("a", 3.0, 12.0), ("b", 0.0, 8.0), ("c", 1.0, 3.0),
    ]  # fmt: skip


PRIORITY_JOBS = [Job("a", 0.0, 10.0, 1), Job("b", 1.0, 5.0, 1), Job("c", 2.0, 5.0, 1, priority=9)]


def test_priority_non_preemptive_serves_the_higher_priority_next() -> None:
    assert [(j, s, e) for j, s, e, *_ in segments(run(PRIORITY_JOBS, ONE, "priority"))] == [
        ("a", 0.0, 10.0), ("b", 15.0, 20.0), ("c", 10.0, 15.0),
    ]  # fmt: skip


def test_priority_preemptive_preempts_only_lower_priorities() -> None:
    # b (same priority as a) never preempts a; c does, then a (older) goes before b.
    assert segments(run(PRIORITY_JOBS, ONE, "priority-preemptive")) == [
        ("a", 0.0, 2.0, 2.0, "n0:0", "preempted"),
        ("a", 7.0, 15.0, 8.0, "n0:0", "finished"),
        ("b", 15.0, 20.0, 5.0, "n0:0", "finished"),
        ("c", 2.0, 7.0, 5.0, "n0:0", "finished"),
    ]


def test_las_with_a_quantum_alternates_and_wakes_itself() -> None:
    # quantum 3 GPU-s: a runs until its service exceeds b's (0) by 3 at t=3 (no event then:
    # a wakeup); b then runs until 6 ahead of a's 3, at t=9; and so on.
    result = run([Job("a", 0.0, 10.0, 1), Job("b", 2.0, 10.0, 1)], ONE, "las", policy_params={"quantum_gpu_s": 3.0})
    assert [(j, s, e, w, why) for j, s, e, w, _, why in segments(result)] == [
        ("a", 0.0, 3.0, 3.0, "preempted"),
        ("a", 9.0, 15.0, 6.0, "preempted"),
        ("a", 19.0, 20.0, 1.0, "finished"),
        ("b", 3.0, 9.0, 6.0, "preempted"),
        ("b", 15.0, 19.0, 4.0, "finished"),
    ]
    assert jobs_by_id(result)["a"]["num_preemptions"] == 2


def test_las_default_quantum_leaves_short_jobs_alone() -> None:
    result = run([Job("a", 0.0, 500.0, 1), Job("b", 2.0, 10.0, 1)], ONE, "las")
    assert [(j, s, e) for j, s, e, *_ in segments(result)] == [("a", 0.0, 500.0), ("b", 500.0, 510.0)]


def test_las_prefers_the_least_attained_gang() -> None:
    # On 2 GPUs: big (2 GPUs) has 2 GPU-s per second; at t=2 it has 4 GPU-s, small arrives with 0.
    result = run([Job("big", 0.0, 10.0, 2), Job("small", 2.0, 1.0, 1)], TWO, "las",
                 policy_params={"quantum_gpu_s": 4.0})
    assert [(j, s, e, w) for j, s, e, w, *_ in segments(result)] == [
        ("big", 0.0, 2.0, 2.0), ("big", 3.0, 11.0, 8.0), ("small", 2.0, 3.0, 1.0),
    ]  # fmt: skip


# ----- checkpoint-restart cost model ------------------------------------------------------
def test_preemption_loses_work_since_the_last_checkpoint_and_pays_restart_overhead() -> None:
    result = run([Job("a", 0.0, 10.0, 1), Job("b", 2.0, 3.0, 1)], ONE, "srtf",
                 restart_overhead_s=1.0, checkpoint_interval_s=1.5)
    # a ran 2 s: checkpoints at 1.5 s, so 1.5 s of work is kept and 0.5 s lost. Its restart
    # at 5 spends 1 s restoring, then does the 8.5 s left: it ends at 14.5.
    assert segments(result) == [
        ("a", 0.0, 2.0, 1.5, "n0:0", "preempted"),
        ("a", 5.0, 14.5, 8.5, "n0:0", "finished"),
        ("b", 2.0, 5.0, 3.0, "n0:0", "finished"),
    ]
    a = jobs_by_id(result)["a"]
    assert (a["start_s"], a["end_s"], a["wait_s"], a["jct_s"], a["num_preemptions"]) == (0.0, 14.5, 3.0, 14.5, 1)
    works = {x.job_id: x.work_s for x in result.schedule if x.start_s == 0.0}
    assert works == {"a": 1.5}  # a segment that kept less than its length records its work
    summary = {r["metric"]: r["value"] for r in result.summary.to_pylist()}
    assert summary["num_preemptions"] == 1
    assert summary["gpu_utilisation"] == pytest.approx((2 + 9.5 + 3) / 14.5)


def test_a_preempted_trace_failure_keeps_its_recorded_status() -> None:
    result = run([Job("a", 0.0, 10.0, 1, status=JobStatus.killed), Job("b", 2.0, 3.0, 1)], ONE, "srtf")
    assert jobs_by_id(result)["a"]["status"] == "killed"
    assert jobs_by_id(result)["a"]["end_s"] == 13.0


# ----- heterogeneous GPUs ------------------------------------------------------------------
MIXED = Cluster((Node("v0", "V100", 1, 32.0), Node("a0", "A100", 1, 80.0)))


def test_speed_factors_per_type_and_model_and_the_slowest_gpu_of_a_gang() -> None:
    table = SpeedTable("V100", {"A100": 2.0}, {("A100", "resnet50"): 4.0})
    result = run(
        [
            Job("x", 0.0, 10.0, 1, gpu_types=("A100",)),
            Job("y", 0.0, 10.0, 1, gpu_types=("A100",), model_name="resnet50"),
            Job("z", 0.0, 10.0, 1, gpu_types=("V100",)),  # blocked behind y (strict FCFS)
            Job("w", 20.0, 6.0, 2),
        ],
        MIXED,
        speed_table=table,
        cross_node_slowdown=1.5,
    )
    assert segments(result) == [
        ("x", 0.0, 5.0, 10.0, "a0:0", "finished"),  # twice as fast
        ("y", 5.0, 7.5, 10.0, "a0:0", "finished"),  # resnet50 runs 4x on an A100
        ("z", 5.0, 15.0, 10.0, "v0:0", "finished"),
        ("w", 20.0, 29.0, 6.0, "v0:0;a0:0", "finished"),  # V100 speed, spans nodes: 6 * 1.5
    ]
    assert jobs_by_id(result)["w"]["gpu_type"] == "A100+V100"
    assert [a.work_s for a in result.schedule] == [10.0, 10.0, None, 6.0]


def test_a_preempted_job_migrates_to_another_type_with_its_remaining_work() -> None:
    table = SpeedTable("V100", {"A100": 2.0})
    result = run(
        [
            Job("filler", 0.0, 3.0, 1, gpu_types=("V100",)),
            Job("lo", 0.0, 10.0, 1),
            Job("hi", 2.0, 10.0, 1, priority=5, gpu_types=("A100",)),
        ],
        MIXED,
        "priority-preemptive",
        speed_table=table,
    )
    assert segments(result) == [
        ("filler", 0.0, 3.0, 3.0, "v0:0", "finished"),
        ("lo", 0.0, 2.0, 4.0, "a0:0", "preempted"),  # 2 s on an A100 = 4 s of work
        ("lo", 3.0, 9.0, 6.0, "v0:0", "finished"),  # the 6 s left, on the V100 that frees at 3
        ("hi", 2.0, 7.0, 10.0, "a0:0", "finished"),
    ]


# ----- node failures -------------------------------------------------------------------------
def test_a_node_failure_restarts_the_job_from_its_last_checkpoint() -> None:
    seed, mtbf, mttr, ci = 9, 60.0, 10.0, 20.0
    result = run([Job("a", 0.0, 100.0, 1)], ONE, seed=seed, node_mtbf_s=mtbf, node_mttr_s=mttr,
                 checkpoint_interval_s=ci)
    # The node's up and down times come from its own child of the "failures" stream.
    (rng,) = Streams.from_seed(seed).failures.spawn(1)
    expected: list[Seg] = []
    t, rem = 0.0, 100.0
    fail = float(rng.exponential(mtbf))
    while t + rem > fail:
        kept = math.floor((fail - t) / ci) * ci
        expected.append(("a", t, fail, kept, "n0:0", "failed"))
        rem -= kept
        t = fail + float(rng.exponential(mttr))
        fail = t + float(rng.exponential(mtbf))
    expected.append(("a", t, t + rem, rem, "n0:0", "finished"))
    assert [s[3] for s in expected] == [20.0, 0.0, 0.0, 60.0, 20.0]  # seed 9: four failures, some work lost
    assert segments(result) == expected  # exact: the same sums the engine makes
    a = jobs_by_id(result)["a"]
    assert (a["num_failures"], a["num_preemptions"]) == (len(expected) - 1, 0)
    summary = {r["metric"]: r["value"] for r in result.summary.to_pylist()}
    assert summary["num_failure_restarts"] == len(expected) - 1
    assert summary["num_node_failures"] >= len(expected) - 1
    down = [r for r in result.timeline.to_pylist() if r["metric"] == "down_gpus"]
    assert {r["value"] for r in down} == {0.0, 1.0}


@pytest.mark.parametrize("policy", ["fcfs", "las", "srtf"])
def test_random_failures_keep_the_schedule_valid_and_the_work_whole(policy: str) -> None:
    rng = np.random.default_rng(5)
    n = 60
    jobs = [
        Job(f"j{i:02d}", float(t), float(d), int(g))
        for i, (t, d, g) in enumerate(zip(np.cumsum(rng.exponential(20.0, n)), rng.exponential(300.0, n) + 1,
                                          rng.choice([1, 1, 2, 4], n), strict=True))
    ]
    result = run(jobs, Cluster.uniform(3, 4), policy, node_mtbf_s=2000.0, node_mttr_s=200.0,
                 checkpoint_interval_s=50.0, restart_overhead_s=10.0, seed=1)
    table = result.jobs.to_pylist()
    assert all(r["status"] == "completed" for r in table)
    assert sum(r["num_failures"] for r in table) > 0
    work: dict[str, float] = {}
    for seg in result.segments.to_pylist():
        work[seg["job_id"]] = work.get(seg["job_id"], 0.0) + seg["work_s"]
    assert work == pytest.approx({j.job_id: j.duration_s for j in jobs})


# ----- admission control ------------------------------------------------------------------------
BURST = [Job(f"j{i}", 0.0, 100.0, 2) for i in range(4)]


def test_load_admission_rejects_into_the_results() -> None:
    result = run(BURST, TWO, admission="load", admission_params={"factor": 1.0, "action": "reject"})
    assert result.jobs.column("status").to_pylist() == ["completed", "rejected", "rejected", "rejected"]
    assert result.schedule.rejected == ("j1", "j2", "j3")
    rejected = jobs_by_id(result)["j1"]
    assert math.isnan(rejected["start_s"]) and rejected["gpu_ids"] is None and rejected["num_preemptions"] == 0
    summary = {r["metric"]: r["value"] for r in result.summary.to_pylist()}
    assert (summary["num_completed"], summary["num_rejected"], summary["makespan_s"]) == (1, 3, 100.0)
    assert any("3 jobs were rejected by admission control 'load'" in n for n in result.notes)


def test_load_admission_defers_and_offers_again_when_a_job_completes() -> None:
    result = run(BURST, TWO, admission="load", admission_params={"factor": 1.0})
    assert [(j, s, e) for j, s, e, *_ in segments(result)] == [
        ("j0", 0.0, 100.0), ("j1", 100.0, 200.0), ("j2", 200.0, 300.0), ("j3", 300.0, 400.0),
    ]  # fmt: skip
    assert result.jobs.column("wait_s").to_pylist() == [0.0, 100.0, 200.0, 300.0]  # deferred time is wait


class RecordingAdmission:
    key: ClassVar[str] = "recording"

    def __init__(self) -> None:
        self.seen: list[tuple[str, AdmissionState]] = []

    def verdict(self, job: SimJob, state: AdmissionState) -> Verdict:
        self.seen.append((job.job_id, state))
        return Verdict.accept


def test_the_admission_state_an_arrival_finds() -> None:
    workload = Workload.from_jobs([Job("a", 0.0, 10.0, 1), Job("b", 2.0, 6.0, 1), Job("c", 8.0, 10.0, 1)])
    admission = RecordingAdmission()
    Engine(workload, ONE, make_policy("fcfs"), PackPlacement(), EngineOptions(admission=admission)).run()
    states = {job: (s.now_s, s.total_gpus, s.free_gpus, s.queued_gpu_demand, s.num_queued, s.num_running,
                    s.arrival_rate_per_s, s.mean_service_gpu_s) for job, s in admission.seen}
    assert states == {
        # Before two arrival times are known: the workload's mean rate (2 gaps over 8 s) and work.
        "a": (0.0, 1, 1, 0, 0, 0, 0.25, 26.0 / 3),
        "b": (2.0, 1, 0, 0, 0, 1, 0.5, 10.0),  # one gap of 2 s; a (10 GPU-s) admitted so far
        "c": (8.0, 1, 0, 1, 1, 1, 0.25, 8.0),  # two gaps over 8 s; a and b admitted
    }


# ----- duration estimates ------------------------------------------------------------------------
def test_sjf_estimate_orders_by_seeded_noisy_estimates() -> None:
    durations = [9.0, 3.0, 7.0, 1.0, 5.0, 4.0]
    jobs = [Job("busy", 0.0, 100.0, 1), *(Job(f"q{i}", 1.0, d, 1) for i, d in enumerate(durations))]
    workload = Workload.from_jobs(jobs)
    exact = run(jobs, ONE, "sjf-estimate")
    assert [j for j, *_ in sorted(segments(exact), key=lambda s: s[1])] == ["busy", "q3", "q1", "q5", "q4", "q2", "q0"]
    noisy = run(jobs, ONE, "sjf-estimate", estimates="noisy:1.0", seed=4)
    estimates = duration_estimates(workload, EstimateSpec.parse("noisy:1.0"), Streams.from_seed(4).estimates)
    assert not np.allclose(estimates, workload.duration_s)
    by_start = [j for j, *_ in sorted(segments(noisy), key=lambda s: s[1])]
    expected = ["busy"] + [str(workload.job_id[r]) for r in np.argsort(estimates[1:], kind="stable") + 1]
    assert by_start == expected
    again = run(jobs, ONE, "sjf-estimate", estimates="noisy:1.0", seed=4)
    assert segments(again) == segments(noisy)


def test_estimate_specs() -> None:
    assert EstimateSpec.parse("actual") == EstimateSpec("actual")
    assert EstimateSpec.parse(" noisy:0.25 ") == EstimateSpec("noisy", 0.25)
    workload = Workload.from_jobs([Job("a", 0.0, 2.0, 1)])
    assert duration_estimates(workload, EstimateSpec("actual"), Streams.from_seed(0).estimates).tolist() == [2.0]


# ----- placement waits --------------------------------------------------------------------------
def test_a_consolidation_wait_ends_with_a_wakeup() -> None:
    # d (2 GPUs) could span n0:1 + n1:0 from t=20, but topology placement holds it until it has
    # waited 30 s (t=31), when nothing else happens: the engine wakes itself up.
    result = run(
        [Job("a", 0.0, 100.0, 1), Job("b", 0.0, 20.0, 1), Job("c", 0.0, 10.0, 1), Job("e", 0.0, 100.0, 1),
         Job("d", 1.0, 5.0, 2)],
        Cluster.uniform(2, 2),
        placement="topology",
        placement_params={"max_consolidation_wait_s": 30.0},
        cross_node_slowdown=2.0,
    )
    assert segments(result)[-1] == ("d", 31.0, 41.0, 5.0, "n0:1;n1:0", "finished")


def test_users_and_groups_survive_preemption_for_fairness() -> None:
    workload = Workload.from_columns(
        job_id=["a", "b"], submit_s=np.array([0.0, 2.0]), duration_s=np.array([10.0, 3.0]),
        num_gpus=np.ones(2, dtype=np.int32), user=Categorical.from_values(["u1", "u2"]),
    )
    result = simulate(workload, ONE, SimConfig("srtf"))
    summary = {r["metric"]: r["value"] for r in result.summary.to_pylist()}
    # slowdowns: a 13/10, b 3/3
    assert summary["jain_slowdown_by_user"] == pytest.approx((1.3 + 1.0) ** 2 / (2 * (1.3**2 + 1.0)))


def test_las_spares_a_job_until_its_segment_keeps_work_so_a_short_quantum_cannot_livelock() -> None:
    # Quantum 60 GPU-s is 15 s of wall time for a 4-GPU gang, less than the 25 s restart
    # overhead + 10 s checkpoint interval: without sparing young segments, a and b would swap
    # forever, each losing all its work. Spared until 35 s into a segment, every preempted
    # segment keeps at least one checkpoint.
    four = Cluster.uniform(1, 4)
    result = run([Job("a", 0.0, 100.0, 4), Job("b", 0.0, 100.0, 4)], four, "las",
                 policy_params={"quantum_gpu_s": 60.0}, restart_overhead_s=25.0, checkpoint_interval_s=10.0)
    segs = segments(result)
    preempted = [s for s in segs if s[5] == "preempted"]
    assert preempted and all(work >= 10.0 for _, _, _, work, _, _ in preempted)
    assert all(end - start >= 35.0 for _, start, end, _, _, why in segs if why == "preempted")
    # The first segment: a starts at 0 (no overhead on a first start), b is past the
    # quantum at 15 but a is spared until 35, keeping 30 s of work (3 checkpoints).
    assert segs[0][:4] == ("a", 0.0, 35.0, 30.0)


def test_las_min_run_s_cuts_the_churn_of_wide_gangs() -> None:
    jobs = [Job("a", 0.0, 6000.0, 16), Job("b", 0.0, 6000.0, 16)]
    two_nodes = Cluster.uniform(2, 8)
    churn = run(jobs, two_nodes, "las")  # swaps every 2 x 600 / 16 = 75 s
    calm = run(jobs, two_nodes, "las", policy_params={"min_run_s": 1800.0})
    assert churn.segments.num_rows > 150
    assert calm.segments.num_rows <= 10
    assert all(r["end_s"] - r["start_s"] >= 1800.0 for r in calm.segments.to_pylist() if r["reason"] == "preempted")


def test_las_rejects_a_bad_min_run_s() -> None:
    with pytest.raises(UserError, match="min_run_s must be a finite number >= 0"):
        make_policy("las", min_run_s=-1.0)


def test_the_engine_stops_a_preemption_livelock_with_a_clear_policy_error() -> None:
    # min_run_s = 0 switches off las' sparing: the gangs swap every 15 s and lose everything.
    from simulator.policies import PolicyError

    with pytest.raises(PolicyError, match=r"policy 'las': livelock: \d+ preemptions in a row kept no work"):
        run([Job("a", 0.0, 100.0, 4), Job("b", 0.0, 100.0, 4)], Cluster.uniform(1, 4), "las",
            policy_params={"quantum_gpu_s": 60.0, "min_run_s": 0.0}, restart_overhead_s=25.0,
            checkpoint_interval_s=10.0)
