"""EASY backfilling: the reservation and the backfill test (pure), then exact timelines in the engine."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pytest

import traces
from simulator.cluster import Cluster, Node
from simulator.engine import Engine, EngineOptions
from simulator.placement import PackPlacement
from simulator.policies.easy_backfill import EasyBackfillPolicy, Reservation, backfill_use, reservation
from simulator.run import SimConfig, simulate
from simulator.speed import SpeedTable
from simulator.validate import check
from traces.errors import UserError
from traces.model import Job, Workload
from traces.readers.registry import read_trace


# ----- the head's reservation (pure) --------------------------------------------------
def test_shadow_is_the_estimated_end_that_frees_enough_gpus() -> None:
    # 1 free; running jobs free 2 GPUs at 50 and 3 at 30 (by estimates); the head needs 4.
    # At 30: 1 + 3 = 4 >= 4, so shadow 30 and no extra GPUs.
    assert reservation(10.0, 1, 4, [(50.0, 2), (30.0, 3)]) == Reservation(30.0, 0)
    # Needing 5: at 30 only 4, at 50 6 -> shadow 50, extra 1.
    assert reservation(10.0, 1, 5, [(50.0, 2), (30.0, 3)]) == Reservation(50.0, 1)


def test_an_overdue_job_counts_as_ending_now() -> None:
    # The job estimated to end at 20 still runs at 40: its GPUs count as freed at 40.
    assert reservation(40.0, 0, 2, [(20.0, 2), (100.0, 2)]) == Reservation(40.0, 0)


def test_enough_free_already_means_shadow_now() -> None:
    assert reservation(7.0, 5, 3, [(50.0, 2)]) == Reservation(7.0, 2)


def test_no_reservation_when_the_running_jobs_never_free_enough() -> None:
    assert reservation(0.0, 1, 8, [(10.0, 2)]) == Reservation(math.inf, 0)


# ----- may a later job jump the head? (pure) -----------------------------------------
def test_a_job_ending_by_the_shadow_time_costs_nothing() -> None:
    res = Reservation(100.0, 0)
    assert backfill_use(40.0, 60.0, 4, res) == 0  # ends exactly at the shadow time
    assert backfill_use(40.0, 60.5, 4, res) is None  # would still hold the head's GPUs


def test_a_long_job_may_only_take_the_extra_gpus() -> None:
    res = Reservation(100.0, 2)
    assert backfill_use(40.0, 500.0, 2, res) == 2
    assert backfill_use(40.0, 500.0, 3, res) is None


def test_gpus_the_head_cannot_use_never_delay_it() -> None:
    assert backfill_use(40.0, 1e9, 0, Reservation(100.0, 0)) == 0


# ----- exact timelines in the engine ---------------------------------------------------
def sim(workload: Workload, cluster: Cluster, **params: object) -> dict[str, tuple[float, float]]:
    result = simulate(workload, cluster, SimConfig("easy-backfill", policy_params=params))
    assert check(result.schedule, workload, cluster) == []
    return {a.job_id: (a.start_s, a.end_s) for a in result.schedule}


def sim_estimates(workload: Workload, cluster: Cluster, estimate_s: list[float]) -> dict[str, tuple[float, float]]:
    """Run with given duration estimates (the engine directly: `SimConfig` only draws noisy ones)."""
    opts = EngineOptions(estimate_s=np.array(estimate_s))
    out = Engine(workload, cluster, EasyBackfillPolicy(), PackPlacement(), opts).run()
    assert np.all(out.num_preemptions == 0)
    ids = workload.job_id
    return {str(ids[r]): (s, e) for r, s, e in zip(out.seg_row.tolist(), out.seg_start_s.tolist(), out.seg_end_s.tolist(), strict=True)}


# Four GPUs. a holds 2 until 100; b (head from t=1) needs all 4: shadow time 100, no extra GPUs.
BACKFILL = Workload.from_jobs(
    [
        Job("a", 0.0, 100.0, 2),
        Job("b", 1.0, 50.0, 4),
        Job("c", 2.0, 90.0, 2),  # ends at 92 <= 100: backfilled at 2
        Job("d", 95.0, 10.0, 1),  # would end at 105 > 100 on a GPU b needs: waits behind b
        Job("e", 96.0, 4.0, 1),  # ends at 100: backfilled at 96
    ]
)


def test_short_jobs_backfill_and_a_job_that_would_delay_the_head_does_not() -> None:
    assert sim(BACKFILL, Cluster.uniform(1, 4)) == {
        "a": (0.0, 100.0),
        "b": (100.0, 150.0),  # exactly at its shadow time: nothing delayed it
        "c": (2.0, 92.0),
        "d": (150.0, 160.0),
        "e": (96.0, 100.0),
    }


def test_fcfs_would_not_backfill_at_all() -> None:
    result = simulate(BACKFILL, Cluster.uniform(1, 4), SimConfig("fcfs"))
    starts = {a.job_id: a.start_s for a in result.schedule}
    assert starts == {"a": 0.0, "b": 100.0, "c": 150.0, "d": 150.0, "e": 150.0}  # c, d, e wait for b


def test_scan_cap_stops_at_the_first_jobs_behind_the_head() -> None:
    # With max_backfill_scan=1 the scan at 96 looks at d only (rejected), never at e.
    timeline = sim(BACKFILL, Cluster.uniform(1, 4), max_backfill_scan=1)
    assert timeline["c"] == (2.0, 92.0)
    assert timeline["e"] == (150.0, 154.0)


def test_a_long_job_may_take_the_extra_gpus() -> None:
    # a holds 3 of 4 GPUs until 100; b needs 2: at 100 there are 4 free, so 2 are extra.
    # c (1 GPU, 500 s) runs far past 100 but takes one extra GPU: backfilled at 2.
    # d (1 GPU, 500 s) at 3: nothing is free any more.
    jobs = [Job("a", 0.0, 100.0, 3), Job("b", 1.0, 10.0, 2), Job("c", 2.0, 500.0, 1), Job("d", 3.0, 500.0, 1)]
    assert sim(Workload.from_jobs(jobs), Cluster.uniform(1, 4)) == {
        "a": (0.0, 100.0),
        "b": (100.0, 110.0),
        "c": (2.0, 502.0),
        "d": (100.0, 600.0),
    }


def test_a_wrong_estimate_moves_the_reservation_and_kills_nothing() -> None:
    # Two GPUs. a is estimated at 50 s but runs 100. b (head, 2 GPUs) gets shadow time 50.
    # c (estimate 40) ends by 42 <= 50: backfilled at 2. d (estimate 5) at 45 ends by 50:
    # backfilled. At 55 a is past its estimate: it is expected to run as long again as it has
    # (believed end 55 + 55 = 110), so the shadow time is 110 and e (10 s, ends by 65) is
    # backfilled at 55. a really ends at 100 (not killed), b runs 100-110 as reserved.
    jobs = [
        Job("a", 0.0, 100.0, 1),
        Job("b", 1.0, 10.0, 2),
        Job("c", 2.0, 40.0, 1),
        Job("d", 45.0, 5.0, 1),
        Job("e", 55.0, 10.0, 1),
    ]
    assert sim_estimates(Workload.from_jobs(jobs), Cluster.uniform(1, 2), [50.0, 10.0, 40.0, 5.0, 10.0]) == {
        "a": (0.0, 100.0),
        "b": (100.0, 110.0),
        "c": (2.0, 42.0),
        "d": (45.0, 50.0),
        "e": (55.0, 65.0),
    }


def test_gpus_the_head_cannot_use_are_free_to_backfill() -> None:
    # n0: 2 V100s, n1: 2 K80s. a holds both V100s until 100; b (head) needs 2 V100s.
    # c needs 2 K80s for 1000 s: a naive count (2 free = b's need, no extra) would hold it
    # back, but none of its GPUs is one b can use.
    cluster = Cluster((Node("n0", "V100", 2, 32.0), Node("n1", "K80", 2, 12.0)))
    jobs = [
        Job("a", 0.0, 100.0, 2, gpu_types=("V100",)),
        Job("b", 1.0, 10.0, 2, gpu_types=("V100",)),
        Job("c", 2.0, 1000.0, 2, gpu_types=("K80",)),
    ]
    speed = SpeedTable("V100", {"K80": 1.0})
    result = simulate(Workload.from_jobs(jobs), cluster, SimConfig("easy-backfill", speed_table=speed))
    assert {a.job_id: (a.start_s, a.end_s) for a in result.schedule} == {
        "a": (0.0, 100.0),
        "b": (100.0, 110.0),
        "c": (2.0, 1002.0),
    }


def test_real_trace_slice_validates_and_backfilling_helps() -> None:
    data = read_trace([Path(traces.__file__).parent / "data" / "philly-dirlab-slice.csv"])
    workload = data.workload
    cluster = Cluster.uniform(16, 8)  # offered load about 3: long queues
    easy = simulate(workload, cluster, SimConfig("easy-backfill"))
    assert check(easy.schedule, workload, cluster) == []
    fcfs = simulate(workload, cluster, SimConfig("fcfs"))
    easy_wait = np.mean(easy.jobs.column("wait_s").to_numpy())
    fcfs_wait = np.mean(fcfs.jobs.column("wait_s").to_numpy())
    assert easy_wait < fcfs_wait
    noisy = simulate(workload, cluster, SimConfig("easy-backfill", estimates="noisy:1.0"))
    assert check(noisy.schedule, workload, cluster) == []


def test_bad_scan_cap_is_a_user_error() -> None:
    with pytest.raises(UserError, match="max_backfill_scan"):
        SimConfig("easy-backfill", policy_params={"max_backfill_scan": 0})
