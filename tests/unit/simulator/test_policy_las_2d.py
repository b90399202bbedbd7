"""2D-LAS (Tiresias): queue levels, demotion and promotion times (pure), then exact timelines."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pytest

import traces
from simulator.cluster import Cluster
from simulator.policies.las_2d import (
    DEFAULT_THRESHOLDS_GPU_S,
    Las2dPolicy,
    check_starvation_factor,
    check_thresholds,
    demotion_time_s,
    promotion_time_s,
    queue_level,
)
from simulator.run import SimConfig, SimResult, simulate
from simulator.validate import check
from traces.errors import UserError
from traces.model import Job, Workload
from traces.readers.registry import read_trace


# ----- pure rules ---------------------------------------------------------------------
def test_queue_level_moves_down_at_each_threshold_reached() -> None:
    thresholds = (100.0, 400.0)
    assert [queue_level(s, thresholds) for s in (0.0, 99.9, 100.0, 399.0, 400.0, 1e9)] == [0, 0, 1, 1, 2, 2]
    assert queue_level(3249.0, DEFAULT_THRESHOLDS_GPU_S) == 0
    assert queue_level(3250.0, DEFAULT_THRESHOLDS_GPU_S) == 1


def test_demotion_time_counts_gpu_time() -> None:
    # 4 GPUs from t=10 with 40 GPU-s already: 60 GPU-s left to 100 -> 15 s -> t=25.
    assert demotion_time_s(10.0, 40.0, 4, 0, (100.0, 400.0)) == 25.0
    # Next threshold from queue 1: 300 GPU-s at 4 GPUs = 75 s.
    assert demotion_time_s(25.0, 100.0, 4, 1, (100.0, 400.0)) == 100.0
    assert demotion_time_s(25.0, 500.0, 4, 2, (100.0, 400.0)) is None  # last queue
    assert demotion_time_s(25.0, 150.0, 4, 0, (100.0, 400.0)) == 25.0  # already past: now


def test_demotion_time_never_before_the_start_even_for_a_tiny_step() -> None:
    t = demotion_time_s(1e8, 100.0 - 1e-12, 1, 0, (100.0,))
    assert t is not None and t >= 1e8


def test_promotion_time_is_starvation_factor_times_the_run_time_after_the_first_run() -> None:
    # Ran 100 s from t=5, so by t it has waited t - 5 - 100; with factor 2 that is 200 at t=305.
    assert promotion_time_s(5.0, 100.0, 2.0) == 305.0
    assert promotion_time_s(5.0, 100.0, math.inf) is None
    assert promotion_time_s(5.0, 0.0, 2.0) is None  # never ran since the top queue


def test_parameter_checks() -> None:
    assert check_thresholds([10, 20]) == (10.0, 20.0)
    assert check_thresholds([]) == ()
    with pytest.raises(ValueError, match="strictly increasing"):
        check_thresholds([20.0, 10.0])
    with pytest.raises(ValueError, match="> 0"):
        check_thresholds([0.0])
    assert check_starvation_factor(math.inf) == math.inf
    with pytest.raises(ValueError, match="starvation_factor"):
        check_starvation_factor(-1.0)


# ----- exact timelines in the engine ---------------------------------------------------
def sim(workload: Workload, cluster: Cluster, **params: object) -> SimResult:
    result = simulate(workload, cluster, SimConfig("las-2d", policy_params=params))
    assert check(result.schedule, workload, cluster) == []
    return result


def segments(result: SimResult) -> dict[str, list[tuple[float, float]]]:
    out: dict[str, list[tuple[float, float]]] = {}
    for a in sorted(result.schedule, key=lambda a: (a.job_id, a.start_s)):
        out.setdefault(a.job_id, []).append((a.start_s, a.end_s))
    return out


# Two GPUs, two queues split at 100 GPU-s. a (2 GPUs, 200 s of work) reaches 100 GPU-s at
# t=50 and drops to queue 1, where b (queue 0, waiting since 20) preempts it.
DEMOTE_PROMOTE = Workload.from_jobs(
    [Job("a", 0.0, 200.0, 2), Job("b", 20.0, 30.0, 1), Job("c", 60.0, 60.0, 1), Job("d", 110.0, 10.0, 2)]
)


def test_demotion_then_promotion_at_exact_times() -> None:
    # t=50: a demoted (queue 1 since 50); b preempts it and runs 50-80 on n0/0.
    # t=60: c (queue 0) takes the other GPU, 60-120. a needs both GPUs: it waits.
    # a first ran at 0 and has run 50 s since it entered queue 0, so with factor 1 it is
    # promoted when it has waited 50 s more than that: at 0 + (1 + 1) * 50 = 100.
    # t=110: d arrives in queue 0 behind a (queue 0 since 100): at 120 a runs first.
    # a's queue service restarts at its promotion: 100 GPU-s more at 2 GPUs -> demoted at
    # 170, where d (queue 0) preempts it; d runs 170-180, a finishes its last 100 s at 280.
    result = sim(DEMOTE_PROMOTE, Cluster.uniform(1, 2), thresholds_gpu_s=(100.0,), starvation_factor=1.0)
    assert segments(result) == {
        "a": [(0.0, 50.0), (120.0, 170.0), (180.0, 280.0)],
        "b": [(50.0, 80.0)],
        "c": [(60.0, 120.0)],
        "d": [(170.0, 180.0)],
    }
    preemptions = dict(zip(result.jobs.column("job_id").to_pylist(), result.jobs.column("num_preemptions").to_pylist(), strict=True))
    assert preemptions == {"a": 2, "b": 0, "c": 0, "d": 0}


def test_without_promotion_the_demoted_job_waits_behind_queue_0() -> None:
    # Same jobs, starvation prevention off: at 120 d (queue 0) goes before a (queue 1).
    result = sim(DEMOTE_PROMOTE, Cluster.uniform(1, 2), thresholds_gpu_s=(100.0,), starvation_factor=math.inf)
    assert segments(result) == {
        "a": [(0.0, 50.0), (130.0, 280.0)],
        "b": [(50.0, 80.0)],
        "c": [(60.0, 120.0)],
        "d": [(120.0, 130.0)],
    }


def test_victims_come_from_the_lowest_queue_first() -> None:
    # Three queues split at 10 and 40 GPU-s; one GPU each. a: queue 1 at 10, queue 2 at 40.
    # b (from 20): queue 1 at 30, queue 2 at 60. At 50 c (queue 0) arrives: a is in the
    # lowest queue (2), b in queue 1, so a is preempted. c ends at 55; a resumes then
    # (b, in a higher queue, keeps running) and b never stops.
    jobs = [Job("a", 0.0, 100.0, 1), Job("b", 20.0, 100.0, 1), Job("c", 50.0, 5.0, 1)]
    result = sim(Workload.from_jobs(jobs), Cluster.uniform(1, 2), thresholds_gpu_s=(10.0, 40.0))
    assert segments(result) == {
        "a": [(0.0, 50.0), (55.0, 105.0)],
        "b": [(20.0, 120.0)],
        "c": [(50.0, 55.0)],
    }


def test_within_a_queue_the_latest_arrival_is_preempted_first() -> None:
    # Both a and b are in queue 1 when c arrives at 50: a since 10, b since 30 -> b goes.
    jobs = [Job("a", 0.0, 100.0, 1), Job("b", 20.0, 100.0, 1), Job("c", 50.0, 5.0, 1)]
    result = sim(Workload.from_jobs(jobs), Cluster.uniform(1, 2), thresholds_gpu_s=(10.0,))
    assert segments(result) == {
        "a": [(0.0, 100.0)],
        "b": [(20.0, 50.0), (55.0, 125.0)],
        "c": [(50.0, 55.0)],
    }


def test_a_job_that_does_not_fit_is_skipped_not_blocking() -> None:
    # a holds 1 of 2 GPUs (queue 0 until 1000 GPU-s); b needs 2 and cannot preempt a job
    # of its own queue, so c, behind it, takes the free GPU (Tiresias starts what fits).
    jobs = [Job("a", 0.0, 100.0, 1), Job("b", 1.0, 10.0, 2), Job("c", 2.0, 10.0, 1)]
    result = sim(Workload.from_jobs(jobs), Cluster.uniform(1, 2), thresholds_gpu_s=(1000.0,))
    assert segments(result) == {"a": [(0.0, 100.0)], "b": [(100.0, 110.0)], "c": [(2.0, 12.0)]}


def test_wide_jobs_age_faster() -> None:
    # Service is GPU-time: a 4-GPU job reaches 100 GPU-s after 25 s, a 1-GPU job after 100 s.
    # At 30 e (queue 0, 4 GPUs) arrives: w (4 GPUs) is in queue 1 since 25 and is
    # preempted; n (1 GPU, queue 0 until 100) keeps its GPU.
    jobs = [Job("w", 0.0, 50.0, 4), Job("n", 0.0, 200.0, 1), Job("e", 30.0, 10.0, 4)]
    result = sim(Workload.from_jobs(jobs), Cluster.uniform(1, 5), thresholds_gpu_s=(100.0,))
    assert segments(result) == {
        "e": [(30.0, 40.0)],
        "n": [(0.0, 200.0)],
        "w": [(0.0, 30.0), (40.0, 60.0)],
    }


def test_real_trace_slice_validates() -> None:
    # 300 Philly jobs at offered load 0.84 (32 x 8 GPUs) and 1.7 (16 x 8): both preempt.
    data = read_trace([Path(traces.__file__).parent / "data" / "philly-dirlab-slice.csv"])
    workload = data.workload.take(np.arange(300))
    for cluster in (Cluster.uniform(32, 8), Cluster.uniform(16, 8)):
        for params in ({}, {"thresholds_gpu_s": (3600.0, 36000.0), "starvation_factor": 2.0}):
            result = simulate(workload, cluster, SimConfig("las-2d", policy_params=params))
            assert check(result.schedule, workload, cluster) == []
            assert sum(result.jobs.column("num_preemptions").to_pylist()) > 0


def test_bad_parameters_are_user_errors() -> None:
    with pytest.raises(UserError, match="strictly increasing"):
        SimConfig("las-2d", policy_params={"thresholds_gpu_s": (100.0, 50.0)})
    with pytest.raises(UserError, match="starvation_factor"):
        SimConfig("las-2d", policy_params={"starvation_factor": -1.0})
    with pytest.raises(UserError, match="max_scan"):
        SimConfig("las-2d", policy_params={"max_scan": 0})
    assert Las2dPolicy(thresholds_gpu_s="100, 400").thresholds_gpu_s == (100.0, 400.0)  # type: ignore[arg-type]
