"""FCFS on one node of c GPUs with Poisson arrivals and exponential single-GPU jobs is M/M/c:
the simulated mean wait and P(wait) match Erlang C at c = 1, 4, 16 and loads 0.5, 0.8 (0.9 too at c = 16).

How close is close enough comes from the sample itself. Each case runs K = 8 independent
seeds; every run drops a warm-up prefix (the queue starts empty) and gives one estimate.
Waits are strongly autocorrelated, so the K run estimates are the independent samples,
and the check is

    |mean of the K estimates - theory| <= t_{0.995, K-1} * s / sqrt(K) + 1% of theory

with s their sample standard deviation (a two-sided 99% Student t interval) and 1% an
allowance for what is left of the empty-start bias after the warm-up. The warm-up (2,000
jobs) is several relaxation times even at c = 16, load 0.9 (about 1 / (c mu (1 - sqrt(rho))^2)
= 24 mean service times, ~350 arrivals), so the leftover bias is far below 1%.

For a fixed total of jobs, the interval's half-width scales with the t quantile, so more,
shorter runs are sharper: 8 runs of n jobs beat 4 runs of 2n (t = 3.50 vs 5.84). The number
of jobs per run is set per case from the per-run spread (measured over 40 seeds of a plain
FCFS recursion at 100k jobs: relative s.d. of the mean wait 1.8% at c=1/0.5, 4.4% at c=1/0.8,
4.1% at c=4/0.5, 5.6% at c=4/0.8, 21% at c=16/0.5, 9% at c=16/0.8, 11% at c=16/0.9; low
loads on many servers wait rarely, in bursts, so they are the noisiest). To show the check
has teeth, each case also asserts that the interval is narrower than `max_half_width` of
theory (a 99% interval that wide still catches, e.g., a missing or doubled server).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import numpy.typing as npt
import pytest

from simulator.cluster import Cluster
from simulator.run import SimConfig, simulate
from simulator.theory import mmc_mean_wait_s, mmc_wait_probability
from traces.synth import SynthSpec, generate

MEAN_S = 600.0
SEEDS = 8
T_99 = 3.499  # two-sided 99% Student t quantile, SEEDS - 1 = 7 degrees of freedom
WARM_UP = 2_000
BIAS_ALLOWANCE = 0.01  # of theory
WAITED_S = 1e-6  # a job "waited" when its wait exceeds this (start == submit otherwise)
BASE_SEED = 20_240_807


@dataclass(frozen=True, slots=True)
class Case:
    servers: int
    load: float
    jobs_per_seed: int
    max_half_width: float  # of theory, mean wait; P(wait) intervals are narrower

    @property
    def lam(self) -> float:
        return self.load * self.servers / MEAN_S


CASES = [
    Case(1, 0.5, 25_000, 0.08),
    Case(1, 0.8, 50_000, 0.12),
    Case(4, 0.5, 25_000, 0.15),
    Case(4, 0.8, 50_000, 0.15),
    Case(16, 0.5, 50_000, 0.50),
    Case(16, 0.8, 50_000, 0.25),
    Case(16, 0.9, 50_000, 0.30),
]


@dataclass(frozen=True, slots=True)
class Estimate:
    """The across-seed mean of one statistic, its 99% half-width, and the theory value."""

    mean: float
    half_width: float
    theory: float

    @property
    def rel_error(self) -> float:
        return (self.mean - self.theory) / self.theory

    @property
    def tolerance(self) -> float:
        return self.half_width + BIAS_ALLOWANCE * self.theory


def estimate(per_seed: npt.NDArray[np.float64], theory: float) -> Estimate:
    return Estimate(float(per_seed.mean()), float(T_99 * per_seed.std(ddof=1) / np.sqrt(len(per_seed))), theory)


def simulated_waits(case: Case, k: int) -> npt.NDArray[np.float64]:
    """Waits of run k in arrival order, warm-up dropped."""
    spec = SynthSpec(num_jobs=case.jobs_per_seed, rate_per_s=case.lam, mean_duration_s=MEAN_S)
    workload = generate(spec, np.random.default_rng([BASE_SEED, case.servers, round(case.load * 100), k]))
    result = simulate(workload, Cluster.uniform(1, case.servers), SimConfig(policy="fcfs"))
    submit = result.jobs.column("submit_s").to_numpy()
    wait = result.jobs.column("wait_s").to_numpy()
    return wait[np.argsort(submit, kind="stable")][WARM_UP:]


def run_case(case: Case) -> tuple[Estimate, Estimate]:
    """(mean wait, P(wait)) against Erlang C, over SEEDS independent runs."""
    mu = 1 / MEAN_S
    means, waited = np.empty(SEEDS), np.empty(SEEDS)
    for k in range(SEEDS):
        wait = simulated_waits(case, k)
        means[k] = wait.mean()
        waited[k] = np.mean(wait > WAITED_S)
    return (
        estimate(means, mmc_mean_wait_s(case.lam, mu, case.servers)),
        estimate(waited, mmc_wait_probability(case.lam, mu, case.servers)),
    )


@pytest.mark.slow
@pytest.mark.parametrize("case", CASES, ids=lambda c: f"c{c.servers}-load{c.load}")
def test_fcfs_matches_erlang_c(case: Case) -> None:
    mean_wait, p_wait = run_case(case)
    for name, est in (("mean wait", mean_wait), ("P(wait)", p_wait)):
        assert abs(est.mean - est.theory) <= est.tolerance, (
            f"{name}: simulated {est.mean:.6g} vs Erlang C {est.theory:.6g} "
            f"({est.rel_error:+.2%}; allowed +-{est.tolerance / est.theory:.2%})"
        )
        assert est.half_width <= case.max_half_width * est.theory, (
            f"{name}: the 99% interval (+-{est.half_width / est.theory:.2%}) is too wide to test anything"
        )
