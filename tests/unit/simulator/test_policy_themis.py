"""Themis: finish-time fairness, the bidder cut and the offer order (pure), then exact timelines."""

from __future__ import annotations

from pathlib import Path
from typing import Any, NamedTuple

import numpy as np
import pytest

from simulator.cluster import Cluster
from simulator.policies import make_policy
from simulator.policies.themis import finish_time_fairness, num_bidders, offer_order
from simulator.run import SimConfig, SimResult, simulate, speed_fn
from simulator.validate import check
from traces.errors import UserError
from traces.model import Job, Workload
from traces.readers.registry import read_trace


def f64(*values: float) -> np.ndarray:
    return np.array(values, dtype=np.float64)


def i64(*values: int) -> np.ndarray:
    return np.array(values, dtype=np.int64)


# ----- rho ----------------------------------------------------------------------------
def test_rho_of_waiting_jobs() -> None:
    # At t=50: a (submitted 0, needs 100) has rho (50+100)/100; b (30, 20) has (20+20)/20.
    rho = finish_time_fairness(50.0, f64(0.0, 30.0), f64(100.0, 20.0), f64(0.0, 0.0))
    assert rho.tolist() == [1.5, 2.0]


def test_rho_of_a_running_job_is_constant_while_it_runs() -> None:
    # Submitted at 0, started at 10, needs 40: at t=20 it has run 10 s, at t=45 35 s.
    early = finish_time_fairness(20.0, f64(0.0), f64(40.0), f64(10.0))
    late = finish_time_fairness(45.0, f64(0.0), f64(40.0), f64(35.0))
    assert early.tolist() == late.tolist() == [(10.0 + 40.0) / 40.0]


def test_rho_after_an_overrun_estimate_counts_only_elapsed_time() -> None:
    assert finish_time_fairness(60.0, f64(0.0), f64(20.0), f64(30.0)).tolist() == [3.0]


def test_rho_floors_a_zero_estimate() -> None:
    assert np.isfinite(finish_time_fairness(1.0, f64(0.0), f64(0.0), f64(0.0))).all()


# ----- bidders and offer order -----------------------------------------------------
@pytest.mark.parametrize(
    ("active", "knob", "expected"),
    [(0, 0.5, 0), (1, 0.01, 1), (10, 0.2, 2), (10, 0.25, 3), (10, 1.0, 10), (3, 1 / 3, 1)],
)
def test_num_bidders(active: int, knob: float, expected: int) -> None:
    assert num_bidders(active, knob) == expected


def test_everyone_bids_worst_rho_first_with_fifo_ties() -> None:
    order = offer_order(f64(1.0, 3.0, 2.0, 3.0), i64(0, 1, 2, 3), f64(), i64(), 1.0)
    assert order.tolist() == [1, 3, 2, 0]


def test_non_bidders_get_leftovers_in_fifo_order() -> None:
    # Five queued jobs, two bid (ceil(0.4 * 5)): the worst two, then the rest by FIFO position.
    rho = f64(1.0, 5.0, 2.0, 4.0, 3.0)
    fifo = i64(40, 10, 30, 20, 0)
    assert offer_order(rho, fifo, f64(), i64(), 0.4).tolist() == [1, 3, 4, 2, 0]


def test_running_jobs_take_bidder_places() -> None:
    # Four active jobs, two bid: the running job (rho 9) is one of them, so one queued job bids.
    order = offer_order(f64(1.0, 2.0, 3.0), i64(0, 1, 2), f64(9.0), i64(3), 0.5)
    assert order.tolist() == [2, 0, 1]


def test_the_bidder_cut_breaks_rho_ties_by_fifo_position() -> None:
    # Four queued jobs with rho 2 and one with 1; two bid: the two tied jobs first in FIFO order.
    rho = f64(2.0, 2.0, 1.0, 2.0, 2.0)
    fifo = i64(3, 1, 0, 4, 2)
    assert offer_order(rho, fifo, f64(), i64(), 0.4).tolist() == [1, 4, 2, 0, 3]


def test_only_eligible_jobs_are_listed_but_all_count_for_the_cut() -> None:
    rho = f64(1.0, 5.0, 2.0, 4.0, 3.0)
    fifo = i64(40, 10, 30, 20, 0)
    eligible = np.array([True, False, True, True, True])
    # Bidders are still jobs 1 and 3 (the worst two of five); job 1 is not listed.
    assert offer_order(rho, fifo, f64(), i64(), 0.4, eligible).tolist() == [3, 4, 2, 0]


def test_empty_queue() -> None:
    assert offer_order(f64(), i64(), f64(2.0), i64(0), 1.0).tolist() == []


# ----- in the engine: exact timelines ---------------------------------------------------
DATA = Path(__file__).resolve().parents[3] / "traces" / "data"


def run(workload: Workload, cluster: Cluster, **params: Any) -> SimResult:
    config = SimConfig("themis", "pack", policy_params=tuple(sorted(params.items())))
    result = simulate(workload, cluster, config)
    assert check(result.schedule, workload, cluster, speed=speed_fn(config.speed_table)) == []
    return result


def starts(result: SimResult) -> dict[str, tuple[float, float]]:
    return {a.job_id: (a.start_s, a.end_s) for a in result.schedule}


ONE_GPU = Cluster.uniform(1, 1)


def test_rho_prefers_the_short_job_that_waited_relatively_longer() -> None:
    # At t=50 (blocker done): x waited 50 of its 100 s (rho 1.5), y 20 of its 20 s (rho 2.0).
    workload = Workload.from_jobs([Job("a", 0.0, 50.0, 1), Job("x", 0.0, 100.0, 1), Job("y", 30.0, 20.0, 1)])
    assert starts(run(workload, ONE_GPU, fairness_knob=1.0)) == {
        "a": (0.0, 50.0),
        "y": (50.0, 70.0),
        "x": (70.0, 170.0),
    }


def test_rho_prefers_the_long_job_that_waited_relatively_longer() -> None:
    # y arrives at 45: at t=50 its rho is (5 + 20) / 20 = 1.25 < x's 1.5, so x goes first (not SJF).
    workload = Workload.from_jobs([Job("a", 0.0, 50.0, 1), Job("x", 0.0, 100.0, 1), Job("y", 45.0, 20.0, 1)])
    assert starts(run(workload, ONE_GPU, fairness_knob=1.0)) == {
        "a": (0.0, 50.0),
        "x": (50.0, 150.0),
        "y": (150.0, 170.0),
    }


KNOB = Workload.from_jobs(
    [
        Job("a1", 0.0, 50.0, 1),
        Job("a2", 0.0, 50.0, 1),
        Job("x", 0.0, 100.0, 1),  # rho at t=50: 1.5
        Job("y", 30.0, 20.0, 1),  # 2.0
        Job("w", 35.0, 10.0, 1),  # 2.5
    ]
)


def test_with_every_job_bidding_the_two_worst_off_start() -> None:
    assert starts(run(KNOB, Cluster.uniform(1, 2), fairness_knob=1.0)) == {
        "a1": (0.0, 50.0),
        "a2": (0.0, 50.0),
        "w": (50.0, 60.0),
        "y": (50.0, 70.0),
        "x": (60.0, 160.0),
    }


def test_non_bidders_get_the_leftover_in_submission_order() -> None:
    # One of the three active jobs bids (ceil(3 / 3)): w; the other free GPU is leftover and
    # goes to the oldest waiting job, x, not to y (whose rho is larger).
    assert starts(run(KNOB, Cluster.uniform(1, 2), fairness_knob=1 / 3)) == {
        "a1": (0.0, 50.0),
        "a2": (0.0, 50.0),
        "w": (50.0, 60.0),
        "x": (50.0, 150.0),
        "y": (60.0, 80.0),
    }


def test_a_running_worst_off_job_takes_the_only_bidder_place() -> None:
    # Default knob 0.2. At t=0 all rho are 1: a bids (FIFO tie), b gets the leftover GPU.
    workload = Workload.from_jobs(
        [
            Job("a", 0.0, 40.0, 1),
            Job("b", 0.0, 45.0, 1),
            Job("r", 0.0, 10.0, 1),
            Job("x", 0.0, 100.0, 1),
            Job("y", 30.0, 15.0, 1),
        ]
    )
    # t=40: a ends; rho: r (40 + 10) / 10 = 5, x 1.4, y (10 + 15) / 15 = 1.67, b (running) 1;
    # r is the one bidder (ceil(0.2 * 4) = 1) and starts. t=45: b ends; active are r (still
    # 5 while it runs), x (1.45) and y (2.0): the one bidder place is r's, so the free GPU
    # is leftover and goes to the oldest waiting job, x, although y's rho is larger.
    assert starts(run(workload, Cluster.uniform(1, 2))) == {
        "a": (0.0, 40.0),
        "b": (0.0, 45.0),
        "r": (40.0, 50.0),
        "x": (45.0, 145.0),
        "y": (50.0, 65.0),
    }


def test_round_ticks_only_while_jobs_wait_and_gpus_are_free() -> None:
    policy = make_policy("themis", round_s=600.0)
    assert policy.next_wakeup_s(_View(now_s=1234.0, num_queued=3, num_free_gpus=1)) == 1800.0
    assert policy.next_wakeup_s(_View(now_s=1800.0, num_queued=3, num_free_gpus=1)) == 2400.0
    assert policy.next_wakeup_s(_View(now_s=1234.0, num_queued=0, num_free_gpus=1)) is None
    assert policy.next_wakeup_s(_View(now_s=1234.0, num_queued=3, num_free_gpus=0)) is None
    assert make_policy("themis", round_s=0.0).next_wakeup_s(_View(1.0, 3, 1)) is None


@pytest.mark.parametrize(
    ("params", "message"), [({"fairness_knob": 0.0}, "fairness_knob"), ({"round_s": -1}, "round_s")]
)
def test_bad_parameters_are_user_errors(params: dict[str, float], message: str) -> None:
    with pytest.raises(UserError, match=message):
        make_policy("themis", **params)


@pytest.mark.parametrize("knob", [0.2, 1.0])
def test_philly_slice_validates(knob: float) -> None:
    data = read_trace([DATA / "philly-dirlab-slice.csv"])
    workload = data.workload.take(np.arange(400, dtype=np.intp))
    result = run(workload, Cluster.uniform(8, 8), fairness_knob=knob)
    assert len(result.schedule.by_job()) == len(workload)


class _View(NamedTuple):
    """The three fields `next_wakeup_s` reads."""

    now_s: float
    num_queued: int
    num_free_gpus: int
