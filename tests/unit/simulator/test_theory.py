"""Erlang B/C, M/M/c and Cobham priority waits against hand-computed textbook values.

Formulas as in Kleinrock, Queueing Systems Vol. I (1975), ch. 3 (M/M/1, M/M/m) and
Harchol-Balter, Performance Modeling and Design of Computer Systems (2013) (M/M/k: P_Q,
E[T_Q] = P_Q / (k mu - lam)); priorities as in Cobham, "Priority assignment in waiting
line problems", Operations Research 2(1), 1954, and Kleinrock's conservation law
(Vol. II, 1976). Every expected number below is worked by hand in a comment.
"""

from __future__ import annotations

import math

import pytest

from simulator.theory import (
    PriorityClass,
    erlang_b,
    erlang_c,
    mg1_priority_mean_waits_s,
    mmc_mean_queue_len,
    mmc_mean_sojourn_s,
    mmc_mean_wait_s,
    mmc_min_servers,
    mmc_priority_mean_waits_s,
    mmc_utilisation,
    mmc_wait_probability,
    mmc_wait_quantile_s,
    mmc_wait_tail_prob,
)


def erlang_c_factorial(c: int, a: float) -> float:
    """The textbook closed form, fine for small c."""
    top = a**c / math.factorial(c) * c / (c - a)
    return top / (sum(a**k / math.factorial(k) for k in range(c)) + top)


def test_textbook_values() -> None:
    assert erlang_b(1, 1.0) == pytest.approx(0.5)
    assert erlang_b(2, 1.0) == pytest.approx(0.2)
    assert erlang_c(2, 1.0) == pytest.approx(1 / 3)  # M/M/2 at rho = 0.5
    assert erlang_c(3, 2.0) == pytest.approx(4 / 9)
    for rho in (0.1, 0.5, 0.9):
        assert erlang_c(1, rho) == pytest.approx(rho)  # M/M/1: P(wait) = rho


@pytest.mark.parametrize("c", [1, 2, 4, 8, 16, 40])
@pytest.mark.parametrize("load", [0.05, 0.5, 0.7, 0.95])
def test_recursion_matches_the_factorial_formula(c: int, load: float) -> None:
    assert erlang_c(c, load * c) == pytest.approx(erlang_c_factorial(c, load * c), rel=1e-12)


def test_large_clusters_do_not_overflow() -> None:
    value = erlang_c(5000, 4900.0)
    assert 0 < value < 1
    assert erlang_c(5000, 4999.0) > value


def test_mean_wait() -> None:
    assert mmc_mean_wait_s(0.5, 1.0, 1) == pytest.approx(1.0)  # M/M/1: rho / (mu - lam)
    assert mmc_mean_wait_s(1.0, 1.0, 2) == pytest.approx(1 / 3)  # M/M/2: rho^2 / (mu (1 - rho^2))
    assert mmc_mean_wait_s(0.0, 1.0, 3) == 0.0


def test_wait_quantiles() -> None:
    # M/M/1, lam = 0.5, mu = 1: P(W > t) = 0.5 exp(-0.5 t).
    assert mmc_wait_quantile_s(0.4, 0.5, 1.0, 1) == 0.0  # half the jobs never wait
    assert mmc_wait_quantile_s(0.5, 0.5, 1.0, 1) == 0.0
    assert mmc_wait_quantile_s(0.75, 0.5, 1.0, 1) == pytest.approx(2 * math.log(2))
    t95 = mmc_wait_quantile_s(0.95, 2.8, 1.0, 4)
    assert erlang_c(4, 2.8) * math.exp(-(4 - 2.8) * t95) == pytest.approx(0.05)


def test_unstable_and_invalid_inputs() -> None:
    assert erlang_c(4, 4.0) == 1.0
    assert mmc_mean_wait_s(4.0, 1.0, 4) == math.inf
    assert mmc_wait_quantile_s(0.5, 5.0, 1.0, 4) == math.inf
    with pytest.raises(ValueError, match="servers"):
        erlang_c(0, 1.0)
    with pytest.raises(ValueError, match="offered load"):
        erlang_c(2, -1.0)
    with pytest.raises(ValueError, match="service rate"):
        mmc_mean_wait_s(1.0, 0.0, 2)
    with pytest.raises(ValueError, match="quantile"):
        mmc_wait_quantile_s(1.0, 1.0, 1.0, 2)


def test_mm1_textbook_values() -> None:
    # M/M/1, lam = 0.5, mu = 1 (rho = 0.5): W_q = rho / (mu - lam) = 1, T = 1 / (mu - lam) = 2,
    # L_q = rho^2 / (1 - rho) = 0.5, P(wait) = rho.
    assert mmc_utilisation(0.5, 1.0, 1) == pytest.approx(0.5)
    assert mmc_wait_probability(0.5, 1.0, 1) == pytest.approx(0.5)
    assert mmc_mean_sojourn_s(0.5, 1.0, 1) == pytest.approx(2.0)
    assert mmc_mean_queue_len(0.5, 1.0, 1) == pytest.approx(0.5)
    # rho = 0.8, mu = 1/600 s: W_q = 0.8 * 600 / 0.2 = 2400 s, L_q = 0.64 / 0.2 = 3.2.
    assert mmc_mean_wait_s(0.8 / 600, 1 / 600, 1) == pytest.approx(2400.0)
    assert mmc_mean_queue_len(0.8 / 600, 1 / 600, 1) == pytest.approx(3.2)


def test_mm3_worked_by_hand() -> None:
    # M/M/3, lam = 2, mu = 1 (a = 2 Erlangs, rho = 2/3):
    # P0 = 1 / (1 + 2 + 2 + (8/6) * 3/(3-2)) = 1/9; P(wait) = (8/6) * 3 * P0 = 4/9;
    # W_q = (4/9) / (3 - 2) = 4/9; L_q = lam W_q = 8/9; T = W_q + 1 = 13/9.
    assert mmc_utilisation(2.0, 1.0, 3) == pytest.approx(2 / 3)
    assert mmc_wait_probability(2.0, 1.0, 3) == pytest.approx(4 / 9)
    assert mmc_mean_wait_s(2.0, 1.0, 3) == pytest.approx(4 / 9)
    assert mmc_mean_queue_len(2.0, 1.0, 3) == pytest.approx(8 / 9)
    assert mmc_mean_sojourn_s(2.0, 1.0, 3) == pytest.approx(13 / 9)
    # P(W > t) = (4/9) e^{-t}; the median wait is 0 (5/9 never wait), the 90th percentile
    # solves (4/9) e^{-t} = 0.1: t = ln(40/9).
    assert mmc_wait_tail_prob(0.0, 2.0, 1.0, 3) == pytest.approx(4 / 9)
    assert mmc_wait_tail_prob(1.0, 2.0, 1.0, 3) == pytest.approx(4 / 9 / math.e)
    assert mmc_wait_quantile_s(0.5, 2.0, 1.0, 3) == 0.0
    assert mmc_wait_quantile_s(5 / 9, 2.0, 1.0, 3) == pytest.approx(0.0, abs=1e-12)  # the no-wait mass, to rounding
    assert mmc_wait_quantile_s(0.9, 2.0, 1.0, 3) == pytest.approx(math.log(40 / 9))


@pytest.mark.parametrize("c, load", [(1, 0.3), (4, 0.7), (16, 0.9), (200, 0.95)])
def test_quantile_inverts_the_tail(c: int, load: float) -> None:
    lam, mu = load * c / 600, 1 / 600
    no_wait = 1 - mmc_wait_probability(lam, mu, c)
    for p in (0.0, no_wait / 2, 0.5, 0.9, 0.99, 0.999):
        t = mmc_wait_quantile_s(p, lam, mu, c)
        if p <= no_wait:
            assert t == 0.0
        else:
            assert mmc_wait_tail_prob(t, lam, mu, c) == pytest.approx(1 - p, rel=1e-9)


def test_large_clusters_are_finite_and_ordered() -> None:
    # 10,000 servers at rho = 0.99: no overflow, and more load never means less waiting.
    waits = [mmc_mean_wait_s(r * 10_000, 1.0, 10_000) for r in (0.9, 0.99, 0.999)]
    assert all(math.isfinite(w) and w > 0 for w in waits)
    assert waits == sorted(waits)
    assert 0 < mmc_mean_queue_len(0.999 * 10_000, 1.0, 10_000) < math.inf


def test_unstable_mmc_gives_inf() -> None:
    assert mmc_utilisation(8.0, 1.0, 4) == pytest.approx(2.0)
    assert mmc_wait_probability(4.0, 1.0, 4) == 1.0
    assert mmc_mean_sojourn_s(4.0, 1.0, 4) == math.inf
    assert mmc_mean_queue_len(5.0, 1.0, 4) == math.inf
    assert mmc_wait_tail_prob(100.0, 5.0, 1.0, 4) == 1.0
    with pytest.raises(ValueError, match="waiting time"):
        mmc_wait_tail_prob(-1.0, 1.0, 1.0, 2)
    with pytest.raises(ValueError, match="arrival rate"):
        mmc_mean_wait_s(math.nan, 1.0, 2)


def test_min_servers_mean_wait_target() -> None:
    # a = 2 Erlangs, mu = 1: W_q(3) = 4/9, W_q(4) = (4/23) / 2 = 2/23 (C(4, 2) = 4/23).
    assert erlang_c(4, 2.0) == pytest.approx(4 / 23)
    assert mmc_min_servers(2.0, 1.0, target_mean_wait_s=0.5) == 3
    assert mmc_min_servers(2.0, 1.0, target_mean_wait_s=0.4) == 4
    assert mmc_min_servers(2.0, 1.0, target_mean_wait_s=2 / 23 * (1 + 1e-9)) == 4
    assert mmc_min_servers(0.0, 1.0, target_mean_wait_s=1e-9) == 1


def test_min_servers_quantile_target() -> None:
    # a = 2: P(W > 0) is 4/9 with 3 servers and 4/23 with 4, so "80% never wait" needs 4.
    assert mmc_min_servers(2.0, 1.0, target_wait_quantile=(0.5, 0.0)) == 3
    assert mmc_min_servers(2.0, 1.0, target_wait_quantile=(0.8, 0.0)) == 4
    # With 3 servers P(W > 1) = (4/9)/e = 0.1635, so p95 within 1 s needs more than 3.
    c = mmc_min_servers(2.0, 1.0, target_wait_quantile=(0.95, 1.0))
    assert c == 4 and mmc_wait_tail_prob(1.0, 2.0, 1.0, 4) <= 0.05


@pytest.mark.parametrize("a", [0.3, 7.5, 95.0, 2_000.0])
def test_min_servers_is_the_smallest(a: float) -> None:
    mu = 1 / 3600
    lam = a * mu
    for target in (60.0, 600.0):
        c = mmc_min_servers(lam, mu, target_mean_wait_s=target)
        assert mmc_mean_wait_s(lam, mu, c) <= target
        assert c == 1 or mmc_mean_wait_s(lam, mu, c - 1) > target
    c = mmc_min_servers(lam, mu, target_mean_wait_s=600.0, target_wait_quantile=(0.99, 60.0))
    assert mmc_mean_wait_s(lam, mu, c) <= 600.0 and mmc_wait_quantile_s(0.99, lam, mu, c) <= 60.0
    assert c == 1 or mmc_mean_wait_s(lam, mu, c - 1) > 600.0 or mmc_wait_quantile_s(0.99, lam, mu, c - 1) > 60.0


def test_min_servers_rejects_bad_targets() -> None:
    with pytest.raises(ValueError, match="give a target"):
        mmc_min_servers(1.0, 1.0)
    with pytest.raises(ValueError, match="mean wait"):
        mmc_min_servers(1.0, 1.0, target_mean_wait_s=0.0)
    with pytest.raises(ValueError, match="quantile level"):
        mmc_min_servers(1.0, 1.0, target_wait_quantile=(1.0, 5.0))
    with pytest.raises(ValueError, match="quantile wait"):
        mmc_min_servers(1.0, 1.0, target_wait_quantile=(0.9, -1.0))
    with pytest.raises(ValueError, match="no server count up to 10"):
        mmc_min_servers(50.0, 1.0, target_mean_wait_s=1.0, max_servers=10)


def test_cobham_two_exponential_classes() -> None:
    # M/M/1 classes, mu = 1 (E[S^2] = 2): lam_1 = 0.2, lam_2 = 0.4 (rho = 0.6).
    # W0 = (0.2 * 2 + 0.4 * 2) / 2 = 0.6; W_1 = 0.6 / (1 * 0.8) = 0.75;
    # W_2 = 0.6 / (0.8 * 0.4) = 1.875. Their lam-weighted mean is 1.5 = FCFS rho/(mu - lam).
    classes = [PriorityClass.from_scv(0.2, 1.0), PriorityClass.from_scv(0.4, 1.0)]
    assert classes[0].second_moment_service_s2 == pytest.approx(2.0)
    w = mg1_priority_mean_waits_s(classes)
    assert w == pytest.approx((0.75, 1.875))
    assert (0.2 * w[0] + 0.4 * w[1]) / 0.6 == pytest.approx(mmc_mean_wait_s(0.6, 1.0, 1))


def test_cobham_deterministic_and_mixed_classes() -> None:
    # Class 1: M/D/1 part, lam = 0.1, S = 2 s (E[S^2] = 4, rho = 0.2);
    # class 2: lam = 0.05, E[S] = 4, SCV 3 (E[S^2] = 4 * 16 = 64, rho = 0.2).
    # W0 = (0.1 * 4 + 0.05 * 64) / 2 = 1.8; W_1 = 1.8 / 0.8 = 2.25; W_2 = 1.8 / (0.8 * 0.6) = 3.75.
    w = mg1_priority_mean_waits_s([PriorityClass.from_scv(0.1, 2.0, 0.0), PriorityClass.from_scv(0.05, 4.0, 3.0)])
    assert w == pytest.approx((2.25, 3.75))


def test_one_class_is_pollaczek_khinchine() -> None:
    # M/G/1 FCFS: W_q = lam E[S^2] / (2 (1 - rho)); lam = 0.5, E[S] = 1, E[S^2] = 3 -> 1.5.
    assert mg1_priority_mean_waits_s([PriorityClass(0.5, 1.0, 3.0)]) == pytest.approx((1.5,))


@pytest.mark.parametrize("rates", [(0.1, 0.2, 0.2), (0.45, 0.05), (0.0, 0.3, 0.0, 0.2)])
def test_kleinrock_conservation_law(rates: tuple[float, ...]) -> None:
    # sum_k rho_k W_k = rho W0 / (1 - rho) for any work-conserving non-preemptive order.
    classes = [PriorityClass.from_scv(lam, 1.0 + 0.25 * k, 0.5 * k) for k, lam in enumerate(rates)]
    w = mg1_priority_mean_waits_s(classes)
    rho = sum(k.load for k in classes)
    w0 = sum(k.arrival_rate_per_s * k.second_moment_service_s2 for k in classes) / 2
    assert sum(k.load * wk for k, wk in zip(classes, w, strict=True)) == pytest.approx(rho * w0 / (1 - rho))
    assert list(w) == sorted(w)  # lower priority never waits less


def test_mmc_priority() -> None:
    # One server: the M/G/1 answer with exponential classes.
    assert mmc_priority_mean_waits_s([0.2, 0.4], 1.0, 1) == pytest.approx((0.75, 1.875))
    # M/M/3, mu = 1, lam = (1, 1): C(3, 2) = 4/9, W0 = (4/9) / 3 = 4/27; sigma = (1/3, 2/3);
    # W_1 = (4/27) / (2/3) = 2/9; W_2 = (4/27) / ((2/3)(1/3)) = 2/3. Mean over jobs: 4/9 = FCFS.
    w = mmc_priority_mean_waits_s([1.0, 1.0], 1.0, 3)
    assert w == pytest.approx((2 / 9, 2 / 3))
    assert sum(w) / 2 == pytest.approx(mmc_mean_wait_s(2.0, 1.0, 3))
    rates = [3.0, 20.0, 1.0, 50.0]
    w = mmc_priority_mean_waits_s(rates, 1.0, 80)
    assert sum(r * x for r, x in zip(rates, w, strict=True)) / sum(rates) == pytest.approx(mmc_mean_wait_s(74.0, 1.0, 80))


def test_priority_rejects_bad_classes() -> None:
    with pytest.raises(ValueError, match="total load is 1.2"):
        mg1_priority_mean_waits_s([PriorityClass.from_scv(0.6, 1.0), PriorityClass.from_scv(0.6, 1.0)])
    with pytest.raises(ValueError, match="total load is 1 "):
        mmc_priority_mean_waits_s([2.0, 2.0], 1.0, 4)
    with pytest.raises(ValueError, match="at least one"):
        mg1_priority_mean_waits_s([])
    with pytest.raises(ValueError, match="second moment"):
        PriorityClass(0.1, 2.0, 3.0)  # E[S^2] < E[S]^2 = 4 is impossible
    with pytest.raises(ValueError, match="mean service"):
        PriorityClass.from_scv(0.1, 0.0)
    with pytest.raises(ValueError, match="coefficient of variation"):
        PriorityClass.from_scv(0.1, 1.0, -1.0)
    with pytest.raises(ValueError, match="arrival rate"):
        mmc_priority_mean_waits_s([0.1, -0.1], 1.0, 2)
