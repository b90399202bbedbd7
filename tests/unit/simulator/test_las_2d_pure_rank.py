"""las-2d's `rank` is a pure function of the JobState, and the policy still sees every stop.

Before, `rank` also filed a requeued job back in the policy's queues (its only way to learn
of a preemption or a node failure). Now the policy remembers its own preemptions and finds
failures by counting running jobs, so calling `rank` any number of times changes nothing.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np
import pytest

from simulator.cluster import Cluster
from simulator.policies import POLICIES, ClusterView, Decision, JobState, SimJob
from simulator.policies.las_2d import Las2dPolicy
from simulator.run import SimConfig, SimResult, simulate
from simulator.validate import check
from traces.model import Job, Workload


def state(attained_gpu_s: float, *, num_preemptions: int = 0) -> JobState:
    job = SimJob(0, "a", 5.0, 1000.0, 2, 1.0, None, (), None, None, 0, 1.0, None)
    return JobState(job, 0.0, attained_gpu_s, 1000.0 - attained_gpu_s / 2, attained_gpu_s / 2, 1000.0,
                    num_preemptions, 0, math.nan, math.nan, ())


def test_rank_is_the_queue_of_the_attained_service() -> None:
    policy = Las2dPolicy(thresholds_gpu_s=(100.0, 400.0))
    assert [policy.rank(state(s)) for s in (0.0, 99.0, 100.0, 399.0, 400.0, 1e6)] == [
        (0,), (0,), (1,), (1,), (2,), (2,)
    ]
    # The same state gives the same key however often it is asked, before or after binding.
    assert {policy.rank(state(150.0, num_preemptions=1)) for _ in range(3)} == {(1,)}


class RankEverything(Las2dPolicy):
    """las-2d that also ranks every queued and running job at every decision."""

    def decide(self, view: ClusterView) -> Sequence[Decision]:
        for s in (*view.queue(), *view.running()):
            self.rank(s)
        return super().decide(view)


def segments(result: SimResult) -> list[tuple[str, float, float, tuple[str, ...]]]:
    return sorted((a.job_id, a.start_s, a.end_s, a.gpu_ids) for a in result.schedule)


def workload(n: int, seed: int) -> Workload:
    rng = np.random.default_rng(seed)
    return Workload.from_columns(
        job_id=[f"j{i:03d}" for i in range(n)],
        submit_s=np.cumsum(rng.exponential(100.0, n)),
        duration_s=rng.exponential(500.0, n),
        num_gpus=rng.choice(np.array([1, 1, 2, 4], dtype=np.int32), n),
    )


@pytest.mark.parametrize("failures", [False, True])
def test_extra_rank_calls_change_nothing(monkeypatch: pytest.MonkeyPatch, failures: bool) -> None:
    wl, cluster = workload(300, 11), Cluster.uniform(3, 4)
    options: dict[str, object] = {"node_mtbf_s": 5000.0, "node_mttr_s": 300.0} if failures else {}
    config = SimConfig("las-2d", policy_params={"thresholds_gpu_s": (200.0, 2000.0), "starvation_factor": 2.0},
                       seed=4, **options)  # type: ignore[arg-type]
    plain = simulate(wl, cluster, config)
    monkeypatch.setitem(POLICIES, "las-2d", RankEverything)
    noisy = simulate(wl, cluster, config)
    assert check(noisy.schedule, wl, cluster) == []
    assert sum(plain.jobs.column("num_preemptions").to_pylist()) > 0
    assert (sum(plain.jobs.column("num_failures").to_pylist()) > 0) == failures
    assert segments(noisy) == segments(plain)


def test_a_job_stopped_by_a_node_failure_is_requeued_at_once() -> None:
    # One queue and no promotion: on 1-GPU jobs las-2d is FCFS (a requeued job keeps its
    # place by submission in both), so under the same failures the schedules are equal.
    # A policy that missed the failures would restart those jobs late or never.
    rng = np.random.default_rng(5)
    n = 300
    wl = Workload.from_columns(
        job_id=[f"j{i:03d}" for i in range(n)],
        submit_s=np.cumsum(rng.exponential(100.0, n)),
        duration_s=rng.exponential(500.0, n),
        num_gpus=np.ones(n, dtype=np.int32),
    )
    cluster = Cluster.uniform(3, 2)
    failures = {"node_mtbf_s": 3000.0, "node_mttr_s": 300.0, "seed": 3}
    fcfs = simulate(wl, cluster, SimConfig("fcfs", **failures))  # type: ignore[arg-type]
    one_queue = {"thresholds_gpu_s": (), "starvation_factor": math.inf}
    las = simulate(wl, cluster, SimConfig("las-2d", policy_params=one_queue, **failures))  # type: ignore[arg-type]
    assert sum(fcfs.jobs.column("num_failures").to_pylist()) > 10
    assert segments(las) == segments(fcfs)


def test_preempted_jobs_come_back_in_their_queue() -> None:
    # Two GPUs, queues split at 100 GPU-s: a (2 GPUs) is demoted at 50 and preempted by b;
    # it is back in queue 1 (rank (1,) by its 100 GPU-s) and resumes when b ends at 80.
    jobs = [Job("a", 0.0, 200.0, 2), Job("b", 20.0, 30.0, 1)]
    result = simulate(Workload.from_jobs(jobs), Cluster.uniform(1, 2),
                      SimConfig("las-2d", policy_params={"thresholds_gpu_s": (100.0,)}))
    assert sorted((a.job_id, a.start_s, a.end_s) for a in result.schedule) == [
        ("a", 0.0, 50.0), ("a", 80.0, 230.0), ("b", 50.0, 80.0)
    ]
