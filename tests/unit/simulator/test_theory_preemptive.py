"""M/G/1 preemptive-resume priority sojourns against hand-computed values.

T_k = E[S_k] / (1 - sigma_{k-1}) + (sum_{i<=k} lam_i E[S_i^2] / 2) / ((1 - sigma_{k-1}) (1 - sigma_k))
(Harchol-Balter 2013, ch. 32). Every expected number is worked by hand in a comment.
"""

from __future__ import annotations

import pytest

from simulator.theory import (
    PriorityClass,
    mg1_preemptive_priority_mean_sojourns_s,
    mg1_priority_mean_waits_s,
    mmc_mean_sojourn_s,
)


def test_two_exponential_classes() -> None:
    # mu = 1 (E[S^2] = 2), lam = (0.2, 0.4): sigma = (0.2, 0.6).
    # T_1 = 1 + (0.2 * 2 / 2) / 0.8 = 1.25, the M/M/1 sojourn 1 / (1 - 0.2) of class 1 alone;
    # T_2 = 1 / 0.8 + (0.6 * 2 / 2) / (0.8 * 0.4) = 1.25 + 1.875 = 3.125.
    # All jobs together: (0.2 * 1.25 + 0.4 * 3.125) / 0.6 = 2.5 = M/M/1's 1 / (1 - 0.6).
    t = mg1_preemptive_priority_mean_sojourns_s([PriorityClass.from_scv(0.2, 1.0), PriorityClass.from_scv(0.4, 1.0)])
    assert t == pytest.approx((1.25, 3.125))
    assert (0.2 * t[0] + 0.4 * t[1]) / 0.6 == pytest.approx(mmc_mean_sojourn_s(0.6, 1.0, 1))


def test_deterministic_and_mixed_classes() -> None:
    # Class 1: lam = 0.1, S = 2 s exactly (E[S^2] = 4, rho = 0.2); class 2: lam = 0.05,
    # E[S] = 4, SCV 3 (E[S^2] = 64, rho = 0.2).
    # T_1 = 2 + (0.1 * 4 / 2) / 0.8 = 2.25 (M/D/1: 0.25 s of wait plus 2 s of service);
    # T_2 = 4 / 0.8 + (0.2 + 0.05 * 64 / 2) / (0.8 * 0.6) = 5 + 1.8 / 0.48 = 8.75.
    classes = [PriorityClass.from_scv(0.1, 2.0, 0.0), PriorityClass.from_scv(0.05, 4.0, 3.0)]
    assert mg1_preemptive_priority_mean_sojourns_s(classes) == pytest.approx((2.25, 8.75))
    # Non-preemptive (Cobham) for comparison: W = (2.25, 3.75), so T = (4.25, 7.75): preemption
    # helps the top class (it never waits behind a long low job) and costs the bottom one.
    waits = mg1_priority_mean_waits_s(classes)
    assert tuple(w + c.mean_service_s for w, c in zip(waits, classes, strict=True)) == pytest.approx((4.25, 7.75))


def test_one_class_is_mg1_fcfs() -> None:
    # Pollaczek-Khinchine: lam = 0.5, E[S] = 1, E[S^2] = 3: W = 0.5 * 3 / (2 * 0.5) = 1.5, T = 2.5.
    assert mg1_preemptive_priority_mean_sojourns_s([PriorityClass(0.5, 1.0, 3.0)]) == pytest.approx((2.5,))


def test_a_class_does_not_see_the_classes_below_it() -> None:
    top = PriorityClass.from_scv(0.3, 1.0, 2.0)
    alone = mg1_preemptive_priority_mean_sojourns_s([top])
    with_others = mg1_preemptive_priority_mean_sojourns_s([top, PriorityClass.from_scv(0.1, 5.0, 0.5)])
    assert with_others[0] == alone[0]


def test_bad_inputs() -> None:
    with pytest.raises(ValueError, match="total load is 1.2"):
        mg1_preemptive_priority_mean_sojourns_s([PriorityClass.from_scv(0.6, 1.0), PriorityClass.from_scv(0.6, 1.0)])
    with pytest.raises(ValueError, match="at least one"):
        mg1_preemptive_priority_mean_sojourns_s([])
