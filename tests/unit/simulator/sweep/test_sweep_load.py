"""Load scaling: same jobs, arrivals compressed around the first one, offered load times the factor."""

from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from simulator.sweep import scale_load
from traces.errors import UserError
from traces.model import Job, Workload


def _workload() -> Workload:
    return Workload.from_jobs([
        Job("a", 100.0, 50.0, 2, deadline_s=400.0, user="u"),
        Job("b", 300.0, 10.0, 1),
        Job("c", 700.0, 20.0, 4, deadline_s=1000.0),
    ])


def test_arrivals_are_compressed_around_the_first_and_deadlines_keep_their_slack() -> None:
    wl = _workload()
    scaled = scale_load(wl, 2.0)
    assert scaled.submit_s.tolist() == [100.0, 200.0, 400.0]
    assert scaled.duration_s.tolist() == wl.duration_s.tolist()
    assert scaled.num_gpus.tolist() == wl.num_gpus.tolist() and scaled.job_id.tolist() == ["a", "b", "c"]
    assert scaled.deadline_s[0] == 400.0 - 100.0 + 100.0 and math.isnan(scaled.deadline_s[1])
    assert scaled.deadline_s[2] == 400.0 + 300.0 and scaled[0].user == "u"
    assert scaled.offered_load(4) == pytest.approx(2.0 * wl.offered_load(4))
    assert scale_load(wl, 1.0) is wl


@pytest.mark.parametrize("factor", [0, -1.0, math.nan, math.inf, True])
def test_a_factor_must_be_a_positive_finite_number(factor: float) -> None:
    with pytest.raises(UserError, match="load_scale must be a finite number > 0"):
        scale_load(_workload(), factor)


@given(st.lists(st.floats(0, 1e7, allow_nan=False), min_size=2, max_size=40),
       st.floats(0.01, 100, allow_nan=False))
def test_scaled_workloads_stay_sorted_by_submit_then_id(submits: list[float], factor: float) -> None:
    wl = Workload.from_jobs([Job(f"j{i:03d}", s, 1.0, 1) for i, s in enumerate(submits)])
    scaled = scale_load(wl, factor)
    keys = list(zip(scaled.submit_s.tolist(), scaled.job_id.tolist(), strict=True))
    assert keys == sorted(keys) and sorted(scaled.job_id.tolist()) == sorted(wl.job_id.tolist())
    assert np.all(np.diff(scaled.submit_s) >= 0)
