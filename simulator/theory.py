"""Queueing-theory values the simulator is checked against: Erlang C and the M/M/c queue.

An M/M/c queue (Poisson arrivals at rate `lam`, exponential service at rate `mu` per
server, `c` servers, FCFS) is exactly a single-node cluster of `c` GPUs running
single-GPU jobs under `fcfs`, so these closed forms are ground truth for the engine.
Erlang C uses the Erlang B recursion, which is stable for thousands of servers (the
textbook factorial form overflows near c = 170).
"""

from __future__ import annotations

import math


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
