"""Priority classes on one GPU match M/G/1 theory: Cobham's non-preemptive waits (`priority`)
and the preemptive-resume sojourns (`priority-preemptive`).

One node with one GPU, single-GPU jobs, Poisson arrivals split into classes by
`Job.priority` (larger is more important), total load 0.75. Service is exponential with
a different mean per class, or mixed: a deterministic class over a lognormal one (SCV
1.72) for Cobham, deterministic / exponential / deterministic for preemption. So the
checks use each class's own E[S] and E[S^2], not an M/M/1 shortcut (an all-exponential
model is 17% off in `cobham-mixed2`). `priority-preemptive` with no checkpoint interval
and no restart overhead loses no work when it preempts: that is preemptive resume.

The statistic is each job's delay, end - submit - duration: the wait in queue without
preemption, the sojourn minus the job's own service with it (theory: T_k - E[S_k]).
Subtracting the job's own duration removes that sampling noise and leaves what the
scheduler controls.

How close is close enough follows test_mmc_loads.py. Each case runs K = 16 independent
seeds; a run drops 1,000 arrivals at the start (the queue starts empty) and 1,000 at the
end (no later arrivals overtake the last jobs, so they would wait less than in steady
state) and gives one mean delay per class. The K run means are the independent samples,
and per class

    |mean of the K estimates - theory| <= t * s / sqrt(K) + 1% of theory

with s their sample standard deviation. The four cases check 11 classes, so t is the
two-sided 99.9% Student t quantile (15 degrees of freedom): by Bonferroni's bound the
file as a whole has about a 1% chance of a false alarm. The 1% allowance covers what is
left of the start and end effects. At load 0.75 the queue relaxes in about
1 / (1 - sqrt(0.75))^2 = 56 mean service times, some 40 arrivals (60 with the heavier
lognormal), so 1,000 arrivals is over 15 relaxation times; and 1,000 arrivals span about
7e5 s, against class mean delays of at most 5e3 s.

Jobs per seed are set per case from the per-run spread, measured over 32 other seeds
(relative s.d. of a run's class means, top class first): cobham-exp3 at 30k jobs 2.9,
3.0, 8.0%; cobham-mixed2 at 30k 6.3, 9.3%; preemptive-exp3 at 12k 7.5, 7.2, 12.3%;
preemptive-mixed3 at 12k 5.5, 8.9, 8.9%. To show the check has teeth, each class also
asserts that its interval is narrower than `max_half_width` of theory, set at about 1.6
times the expected half-width (a 16-seed s.d. exceeds the true one by 1.43x with 1%
probability). Those bounds still tell the theory from the likely mistakes: FCFS (Cobham
cases: top class +180..240%, bottom -30..40%), a dropped (1 - sigma_{k-1}) factor (mid
-15%, bottom -30..40%), an exponential model of the lognormal class (-17% for both
classes of cobham-mixed2; its top class catches it), non-preemptive service in the
preemptive cases (top +1,300..1,600%, mid +69..147%) and a preempted job's service not
stretched by higher arrivals (mid -22..24%).
"""

from __future__ import annotations

import math
import zlib
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt
import pytest

from simulator.cluster import Cluster
from simulator.run import SimConfig, simulate
from simulator.theory import PriorityClass, mg1_preemptive_priority_mean_sojourns_s, mg1_priority_mean_waits_s
from traces.model import Workload

SEEDS = 16
T_999 = 4.073  # two-sided 99.9% Student t quantile, SEEDS - 1 = 15 degrees of freedom
WARM_UP = 1_000
COOL_DOWN = 1_000
BIAS_ALLOWANCE = 0.01  # of theory
BASE_SEED = 20_250_301


@dataclass(frozen=True, slots=True)
class ClassSpec:
    """One priority class: its `Job.priority`, its share of the load and its service distribution."""

    priority: int
    load: float
    mean_s: float
    dist: str = "exponential"  # or "deterministic", "lognormal"
    sigma: float = 0.0  # of the lognormal's underlying normal

    @property
    def rate_per_s(self) -> float:
        return self.load / self.mean_s

    @property
    def second_moment_s2(self) -> float:
        factor = {"exponential": 2.0, "deterministic": 1.0, "lognormal": math.exp(self.sigma**2)}[self.dist]
        return factor * self.mean_s**2

    def theory_class(self) -> PriorityClass:
        return PriorityClass(self.rate_per_s, self.mean_s, self.second_moment_s2)

    def draw_s(self, rng: np.random.Generator, n: int) -> npt.NDArray[np.float64]:
        if self.dist == "exponential":
            return rng.exponential(self.mean_s, n)
        if self.dist == "deterministic":
            return np.full(n, self.mean_s)
        median_s = self.mean_s * math.exp(-(self.sigma**2) / 2)
        return rng.lognormal(math.log(median_s), self.sigma, n)


@dataclass(frozen=True, slots=True)
class Case:
    name: str
    policy: str
    classes: tuple[ClassSpec, ...]  # highest priority first
    jobs_per_seed: int
    max_half_width: tuple[float, ...]  # per class, of theory

    def theory_delay_s(self) -> tuple[float, ...]:
        """Mean delay per class: Cobham's wait, or the preemptive-resume sojourn minus E[S_k]."""
        classes = [c.theory_class() for c in self.classes]
        if self.policy == "priority":
            return mg1_priority_mean_waits_s(classes)
        sojourns = mg1_preemptive_priority_mean_sojourns_s(classes)
        return tuple(t - c.mean_s for t, c in zip(sojourns, self.classes, strict=True))


EXP3 = (ClassSpec(2, 0.15, 300.0), ClassSpec(1, 0.25, 600.0), ClassSpec(0, 0.35, 1200.0))
MIXED2 = (ClassSpec(1, 0.30, 300.0, "deterministic"), ClassSpec(0, 0.45, 900.0, "lognormal", 1.0))
MIXED3 = (
    ClassSpec(2, 0.15, 300.0, "deterministic"),
    ClassSpec(1, 0.25, 600.0),
    ClassSpec(0, 0.35, 1200.0, "deterministic"),
)

CASES = [
    Case("cobham-exp3", "priority", EXP3, 30_000, (0.05, 0.05, 0.13)),
    Case("cobham-mixed2", "priority", MIXED2, 30_000, (0.14, 0.16)),
    Case("preemptive-exp3", "priority-preemptive", EXP3, 12_000, (0.13, 0.12, 0.21)),
    Case("preemptive-mixed3", "priority-preemptive", MIXED3, 12_000, (0.09, 0.15, 0.15)),
]


def workload(case: Case, k: int) -> tuple[Workload, npt.NDArray[np.intp], npt.NDArray[np.float64]]:
    """Run k's jobs (one Poisson stream, each job's class drawn by rate), and each job's class
    and duration by arrival index (job "j000123" is arrival 123)."""
    rng = np.random.default_rng([BASE_SEED, zlib.crc32(case.name.encode()), k])
    n = case.jobs_per_seed
    rates = np.array([c.rate_per_s for c in case.classes])
    submit_s = np.cumsum(rng.exponential(1 / rates.sum(), n))
    cls = rng.choice(len(rates), n, p=rates / rates.sum())
    duration_s = np.empty(n)
    for i, spec in enumerate(case.classes):
        pick = cls == i
        duration_s[pick] = spec.draw_s(rng, int(pick.sum()))
    wl = Workload.from_columns(
        job_id=[f"j{i:06d}" for i in range(n)],
        submit_s=submit_s,
        duration_s=duration_s,
        num_gpus=np.ones(n, dtype=np.int32),
        priority=np.array([c.priority for c in case.classes], dtype=np.int32)[cls],
    )
    return wl, cls, duration_s


def class_delays_s(case: Case, k: int) -> npt.NDArray[np.float64]:
    """Run k's mean delay (end - submit - duration) per class, warm-up and cool-down dropped."""
    wl, cls, duration_s = workload(case, k)
    jobs = simulate(wl, Cluster.uniform(1, 1), SimConfig(policy=case.policy)).jobs
    arrival = np.array([int(j[1:]) for j in jobs.column("job_id").to_pylist()])  # "j000123" -> 123
    delay = np.empty(case.jobs_per_seed)
    delay[arrival] = jobs.column("end_s").to_numpy() - jobs.column("submit_s").to_numpy() - duration_s[arrival]
    keep = slice(WARM_UP, case.jobs_per_seed - COOL_DOWN)
    return np.array([delay[keep][cls[keep] == i].mean() for i in range(len(case.classes))])


@pytest.mark.slow
@pytest.mark.parametrize("case", CASES, ids=lambda c: c.name)
def test_priority_classes_match_mg1_theory(case: Case) -> None:
    per_seed = np.array([class_delays_s(case, k) for k in range(SEEDS)])  # SEEDS x classes
    means = per_seed.mean(axis=0)
    half_widths = T_999 * per_seed.std(axis=0, ddof=1) / math.sqrt(SEEDS)
    for i, (theory, mean, hw, max_hw) in enumerate(
        zip(case.theory_delay_s(), means, half_widths, case.max_half_width, strict=True)
    ):
        tolerance = hw + BIAS_ALLOWANCE * theory
        assert abs(mean - theory) <= tolerance, (
            f"class {i} (priority {case.classes[i].priority}): simulated mean delay {mean:.6g} s vs "
            f"theory {theory:.6g} s ({(mean - theory) / theory:+.2%}; allowed +-{tolerance / theory:.2%})"
        )
        assert hw <= max_hw * theory, (
            f"class {i}: the 99.9% interval (+-{hw / theory:.2%}) is too wide to test anything"
        )
