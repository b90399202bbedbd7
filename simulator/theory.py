"""Queueing-theory values the simulator is checked against: Erlang C and the M/M/c queue.

An M/M/c queue (Poisson arrivals at rate `lam`, exponential service at rate `mu` per
server, `c` servers, FCFS) is exactly a single-node cluster of `c` GPUs running
single-GPU jobs under `fcfs`, so these closed forms are ground truth for the engine.
Erlang C uses the Erlang B recursion, which is stable for millions of servers (the
textbook factorial form overflows near c = 170).

Also here: the smallest M/M/c meeting a wait target (capacity planning) and Cobham's
mean waits for non-preemptive priority classes, in M/G/1 and in M/M/c with one service
rate, and the M/G/1 mean sojourns under preemptive-resume priority. Unstable M/M/c
inputs (lam >= c mu) give inf (or probability 1), so sweeps over load need no special
case; the priority formulas raise ValueError instead, because no class-by-class answer
of that form exists there. Rates are per second, times in seconds.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass


def _check_servers(c: int) -> None:
    if isinstance(c, bool) or int(c) != c or c < 1:
        raise ValueError(f"the number of servers must be an integer >= 1, got {c!r}")


def erlang_b(c: int, a: float) -> float:
    """Blocking probability of M/M/c/c with offered load `a` = lam/mu Erlangs."""
    _check_servers(c)
    if not math.isfinite(a) or a < 0:
        raise ValueError(f"offered load must be finite and >= 0, got {a!r}")
    b = 1.0
    for k in range(1, int(c) + 1):
        b = a * b / (k + a * b)
    return b


def erlang_c(c: int, a: float) -> float:
    """Probability that an arrival waits in M/M/c with offered load `a` = lam/mu Erlangs.

    1.0 when `a >= c` (the queue is unstable: in the long run every arrival waits).
    """
    _check_servers(c)
    if not math.isfinite(a) or a < 0:
        raise ValueError(f"offered load must be finite and >= 0, got {a!r}")
    if a >= c:
        return 1.0
    b = erlang_b(c, a)
    return c * b / (c - a * (1.0 - b))


def _rates(lam: float, mu: float, c: int) -> None:
    _check_servers(c)
    if not (math.isfinite(lam) and lam >= 0):
        raise ValueError(f"arrival rate must be finite and >= 0, got {lam!r}")
    if not (math.isfinite(mu) and mu > 0):
        raise ValueError(f"service rate must be finite and > 0, got {mu!r}")


def mmc_mean_wait_s(lam: float, mu: float, c: int) -> float:
    """Mean time in queue (before service) of M/M/c: C(c, lam/mu) / (c mu - lam); inf if unstable."""
    _rates(lam, mu, c)
    if lam >= c * mu:
        return math.inf
    return erlang_c(c, lam / mu) / (c * mu - lam)


def mmc_wait_quantile_s(p: float, lam: float, mu: float, c: int) -> float:
    """The p-quantile of the M/M/c waiting time.

    P(W > t) = C e^{-(c mu - lam) t}, with an atom of mass 1 - C at zero, so the quantile
    is 0 for p <= 1 - C and ln(C / (1 - p)) / (c mu - lam) above.
    """
    _rates(lam, mu, c)
    if not 0 <= p < 1:
        raise ValueError(f"the quantile level must be in [0, 1), got {p!r}")
    if lam >= c * mu:
        return math.inf
    wait_prob = erlang_c(c, lam / mu)
    if p <= 1 - wait_prob:
        return 0.0
    return math.log(wait_prob / (1 - p)) / (c * mu - lam)


def mmc_utilisation(lam: float, mu: float, c: int) -> float:
    """Per-server load `lam / (c mu)`: the long-run busy fraction of each server when below 1.

    Values >= 1 are returned as they are; they mean the queue is unstable.
    """
    _rates(lam, mu, c)
    return lam / (c * mu)


def mmc_wait_probability(lam: float, mu: float, c: int) -> float:
    """P(an arrival waits) in M/M/c: Erlang C at offered load lam/mu; 1.0 if unstable."""
    _rates(lam, mu, c)
    return erlang_c(c, lam / mu)


def mmc_mean_sojourn_s(lam: float, mu: float, c: int) -> float:
    """Mean time in system (wait plus service) of M/M/c: W_q + 1/mu; inf if unstable."""
    return mmc_mean_wait_s(lam, mu, c) + 1.0 / mu


def mmc_mean_queue_len(lam: float, mu: float, c: int) -> float:
    """Time-average number waiting (not in service) in M/M/c: lam W_q by Little's law; inf if unstable."""
    wait = mmc_mean_wait_s(lam, mu, c)
    return math.inf if math.isinf(wait) else lam * wait


def mmc_wait_tail_prob(t_s: float, lam: float, mu: float, c: int) -> float:
    """P(W > t_s) in M/M/c: C e^{-(c mu - lam) t_s} for t_s >= 0; 1.0 if unstable."""
    _rates(lam, mu, c)
    if not (math.isfinite(t_s) and t_s >= 0):
        raise ValueError(f"a waiting time must be finite and >= 0, got {t_s!r}")
    if lam >= c * mu:
        return 1.0
    return erlang_c(c, lam / mu) * math.exp(-(c * mu - lam) * t_s)


def mmc_min_servers(
    lam: float,
    mu: float,
    target_mean_wait_s: float | None = None,
    target_wait_quantile: tuple[float, float] | None = None,
    *,
    max_servers: int = 1_000_000,
) -> int:
    """Smallest server count whose M/M/c queue meets every given target (capacity planning).

    `target_mean_wait_s`: mean wait <= this (> 0, since any load > 0 makes some job wait).
    `target_wait_quantile = (p, t_s)`: P(W <= t_s) >= p, i.e. the p-quantile of the wait is
    at most `t_s` (`t_s = 0` asks that a fraction p of jobs never wait). Servers are added
    one at a time with the Erlang B recursion carried along, so the search costs O(answer).
    Raises ValueError when no target is given or no count up to `max_servers` meets them.
    """
    _rates(lam, mu, 1)
    if target_mean_wait_s is None and target_wait_quantile is None:
        raise ValueError("give a target: a mean wait, a wait quantile, or both")
    if target_mean_wait_s is not None and not (math.isfinite(target_mean_wait_s) and target_mean_wait_s > 0):
        raise ValueError(f"the target mean wait must be finite and > 0 seconds, got {target_mean_wait_s!r}")
    if target_wait_quantile is not None:
        p, t_s = target_wait_quantile
        if not 0 < p < 1:
            raise ValueError(f"the target quantile level must be in (0, 1), got {p!r}")
        if not (math.isfinite(t_s) and t_s >= 0):
            raise ValueError(f"the target quantile wait must be finite and >= 0 seconds, got {t_s!r}")
    _check_servers(max_servers)
    a = lam / mu
    b = 1.0  # Erlang B with 0 servers
    for c in range(1, int(max_servers) + 1):
        b = a * b / (c + a * b)
        if a >= c:
            continue
        wait_prob = c * b / (c - a * (1.0 - b))
        if target_mean_wait_s is not None and wait_prob / (c * mu - lam) > target_mean_wait_s:
            continue
        if target_wait_quantile is not None:
            p, t_s = target_wait_quantile
            if wait_prob * math.exp(-(c * mu - lam) * t_s) > 1 - p:
                continue
        return c
    raise ValueError(f"no server count up to {max_servers} meets the target at offered load {a:.6g} Erlangs")


@dataclass(frozen=True, slots=True)
class PriorityClass:
    """One class of an M/G/1 priority queue: Poisson arrivals and a service-time distribution
    given by its first two moments (E[S] in s, E[S^2] in s^2)."""

    arrival_rate_per_s: float
    mean_service_s: float
    second_moment_service_s2: float

    def __post_init__(self) -> None:
        lam, mean, second = self.arrival_rate_per_s, self.mean_service_s, self.second_moment_service_s2
        if not (math.isfinite(lam) and lam >= 0):
            raise ValueError(f"a class arrival rate must be finite and >= 0, got {lam!r}")
        if not (math.isfinite(mean) and mean > 0):
            raise ValueError(f"a class mean service time must be finite and > 0, got {mean!r}")
        # Jensen: E[S^2] >= E[S]^2, with equality only for a constant service time.
        if not (math.isfinite(second) and second >= mean * mean * (1 - 1e-12)):
            raise ValueError(
                f"a class second moment of service must be finite and >= mean^2 = {mean * mean!r}, got {second!r}"
            )

    @staticmethod
    def from_scv(arrival_rate_per_s: float, mean_service_s: float, scv: float = 1.0) -> PriorityClass:
        """From the squared coefficient of variation Var[S]/E[S]^2 (1 exponential, 0 constant)."""
        if not (math.isfinite(scv) and scv >= 0):
            raise ValueError(f"a squared coefficient of variation must be finite and >= 0, got {scv!r}")
        return PriorityClass(arrival_rate_per_s, mean_service_s, (1.0 + scv) * mean_service_s**2)

    @property
    def load(self) -> float:
        return self.arrival_rate_per_s * self.mean_service_s


def _cumulative_loads(loads: Sequence[float]) -> list[float]:
    total = 0.0
    sigmas = []
    for rho in loads:
        total += rho
        sigmas.append(total)
    if total >= 1:
        raise ValueError(
            f"the total load is {total:.6g} >= 1, so the lowest classes wait without bound "
            "(the priority formulas hold only below 1)"
        )
    return sigmas


def _cobham(w0: float, sigmas: Sequence[float]) -> tuple[float, ...]:
    below = [0.0, *sigmas[:-1]]
    return tuple(w0 / ((1 - lo) * (1 - hi)) for lo, hi in zip(below, sigmas, strict=True))


def mg1_priority_mean_waits_s(classes: Sequence[PriorityClass]) -> tuple[float, ...]:
    """Mean wait in queue per class of M/G/1 with non-preemptive priority (Cobham 1954).

    `classes` run from highest priority to lowest; FCFS within a class. With
    W0 = sum_i lam_i E[S_i^2] / 2 (mean residual work of the job in service) and
    sigma_k = rho_1 + ... + rho_k, class k waits W0 / ((1 - sigma_{k-1}) (1 - sigma_k)).
    A class with arrival rate 0 gets the wait a single arrival of it would see.
    Raises ValueError when the total load is >= 1: then W0 itself is not the formula's
    (the server never idles and the lowest classes are only partly served).
    """
    if not classes:
        raise ValueError("give at least one priority class")
    sigmas = _cumulative_loads([k.load for k in classes])
    w0 = sum(k.arrival_rate_per_s * k.second_moment_service_s2 for k in classes) / 2.0
    return _cobham(w0, sigmas)


def mg1_preemptive_priority_mean_sojourns_s(classes: Sequence[PriorityClass]) -> tuple[float, ...]:
    """Mean time in system per class of M/G/1 with preemptive-resume priority.

    `classes` run from highest priority to lowest; FCFS within a class, and a preempted
    job resumes where it stopped (no work lost, no restart cost). Class k sees only the
    classes above it and itself, so with sigma_k = rho_1 + ... + rho_k

        T_k = E[S_k] / (1 - sigma_{k-1}) + (sum_{i<=k} lam_i E[S_i^2] / 2) / ((1 - sigma_{k-1}) (1 - sigma_k)):

    its own service stretched by higher arrivals during it, plus the work found in
    classes 1..k and the higher work that arrives while that drains (Harchol-Balter,
    Performance Modeling and Design of Computer Systems, 2013, ch. 32 "preemptive
    priority"; Kleinrock, Queueing Systems Vol. II, 1976, ch. 3). Raises ValueError
    when the total load is >= 1, as `mg1_priority_mean_waits_s` does.
    """
    if not classes:
        raise ValueError("give at least one priority class")
    sigmas = _cumulative_loads([k.load for k in classes])
    out = []
    residual = 0.0  # sum over classes 1..k of lam_i E[S_i^2] / 2
    below = 0.0  # sigma_{k-1}
    for k, sigma in zip(classes, sigmas, strict=True):
        residual += k.arrival_rate_per_s * k.second_moment_service_s2 / 2.0
        out.append(k.mean_service_s / (1 - below) + residual / ((1 - below) * (1 - sigma)))
        below = sigma
    return tuple(out)


def mmc_priority_mean_waits_s(arrival_rates_per_s: Sequence[float], mu: float, c: int) -> tuple[float, ...]:
    """Mean wait in queue per class of M/M/c with non-preemptive priority, every class served at rate `mu`.

    Rates run from highest priority to lowest. Cobham's M/M/c result: the same form as
    M/G/1 with W0 = C(c, lam/mu) / (c mu) (the mean wait until some server frees, over
    all arrivals) and sigma_k = (lam_1 + ... + lam_k) / (c mu). Valid only when all
    classes share one exponential service rate. Raises ValueError when lam >= c mu.
    """
    if not arrival_rates_per_s:
        raise ValueError("give at least one priority class")
    for lam_k in arrival_rates_per_s:
        if not (math.isfinite(lam_k) and lam_k >= 0):
            raise ValueError(f"a class arrival rate must be finite and >= 0, got {lam_k!r}")
    lam = math.fsum(arrival_rates_per_s)
    _rates(lam, mu, c)
    sigmas = _cumulative_loads([lam_k / (c * mu) for lam_k in arrival_rates_per_s])
    w0 = erlang_c(c, lam / mu) / (c * mu)
    return _cobham(w0, sigmas)
