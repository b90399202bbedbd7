"""Erlang B/C and M/M/c waiting times against textbook values and the factorial formula."""

from __future__ import annotations

import math

import pytest

from simulator.theory import erlang_b, erlang_c, mmc_mean_wait_s, mmc_wait_quantile_s


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
