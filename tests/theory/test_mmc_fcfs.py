"""FCFS on one 4-GPU node with Poisson arrivals and exponential single-GPU jobs is M/M/4.

Two checks. Exact: every job's wait equals the textbook FCFS recursion for c identical
servers (start = max(submit, earliest server free time)). Statistical: at load 0.7 with
50k jobs the mean and 95th-percentile waits match Erlang C. Waits are strongly
autocorrelated, so one 50k-job run cannot pin the mean to 5% (its 99% confidence
half-width is 10-20% of the mean, depending on the seed); the run's own uncertainty is
estimated by batch means (20 batches, after a warm-up) and the check is
|simulated - theory| <= max(5% of theory, that half-width).
"""

from __future__ import annotations

from heapq import heappop, heappush

import numpy as np
import numpy.typing as npt
import pytest

from simulator.cluster import Cluster
from simulator.rng import Streams
from simulator.run import SimConfig, simulate
from simulator.theory import erlang_c, mmc_mean_wait_s, mmc_wait_quantile_s
from simulator.validate import check
from traces.model import Workload

C = 4
MEAN_S = 600.0
LOAD = 0.7
NUM_JOBS = 50_000
WARM_UP = 1_000
BATCHES = 20
T_99_19DF = 2.861  # two-sided 99% Student t quantile, 19 degrees of freedom
SEED = 2024


def mmc_workload() -> Workload:
    rng = Streams.from_seed(SEED)
    lam = LOAD * C / MEAN_S
    return Workload.from_columns(
        job_id=[f"j{i:05d}" for i in range(NUM_JOBS)],
        submit_s=np.cumsum(rng.arrivals.exponential(1 / lam, NUM_JOBS)),
        duration_s=rng.durations.exponential(MEAN_S, NUM_JOBS),
        num_gpus=np.ones(NUM_JOBS, dtype=np.int32),
    )


def batch_half_width(values: npt.NDArray[np.float64], stat: str) -> float:
    usable = len(values) // BATCHES * BATCHES
    batches = values[:usable].reshape(BATCHES, -1)
    per = batches.mean(axis=1) if stat == "mean" else np.percentile(batches, 95, axis=1)
    return float(T_99_19DF * per.std(ddof=1) / np.sqrt(BATCHES))


def reference_waits(workload: Workload, servers: int) -> npt.NDArray[np.float64]:
    """FCFS on identical servers, directly: each job takes the server that frees first."""
    free_at = [0.0] * servers
    waits = []
    for submit, duration in zip(workload.submit_s.tolist(), workload.duration_s.tolist(), strict=True):
        start = max(submit, heappop(free_at))
        heappush(free_at, start + duration)
        waits.append(start - submit)
    return np.array(waits)


@pytest.mark.slow
def test_fcfs_waits_match_erlang_c() -> None:
    workload = mmc_workload()
    cluster = Cluster.uniform(1, C)
    result = simulate(workload, cluster, SimConfig("fcfs", "pack", seed=SEED))
    assert check(result.schedule, workload, cluster) == []
    np.testing.assert_array_equal(result.jobs.column("wait_s").to_numpy(), reference_waits(workload, C))

    wait = result.jobs.column("wait_s").to_numpy()[WARM_UP:]
    lam, mu = LOAD * C / MEAN_S, 1 / MEAN_S
    mean_theory = mmc_mean_wait_s(lam, mu, C)
    p95_theory = mmc_wait_quantile_s(0.95, lam, mu, C)
    mean_sim, p95_sim = float(wait.mean()), float(np.percentile(wait, 95))
    mean_tol = max(0.05 * mean_theory, batch_half_width(wait, "mean"))
    p95_tol = max(0.05 * p95_theory, batch_half_width(wait, "p95"))
    assert abs(mean_sim - mean_theory) <= mean_tol, (mean_sim, mean_theory, mean_tol)
    assert abs(p95_sim - p95_theory) <= p95_tol, (p95_sim, p95_theory, p95_tol)
    # The probability of waiting at all is Erlang C itself.
    waited = float(np.mean(wait > 0))
    assert abs(waited - erlang_c(C, LOAD * C)) <= 0.02, waited

    summary = {r["metric"]: r["value"] for r in result.summary.to_pylist()}
    assert summary["gpu_utilisation"] == pytest.approx(LOAD, abs=0.02)
