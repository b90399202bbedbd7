"""qssf (Helios): non-preemptive, ranks by estimated GPU-time, strict like fcfs."""

from __future__ import annotations

import numpy as np

from simulator.cluster import Cluster
from simulator.engine import Engine, EngineOptions
from simulator.placement import PackPlacement
from simulator.policies import POLICIES, make_policy
from simulator.policies.qssf import QssfPolicy
from simulator.run import SimConfig, simulate
from simulator.validate import check
from traces.model import Job, Workload

FOUR = Cluster.uniform(1, 4)


def starts(workload: Workload, estimate_s: list[float] | None = None) -> dict[str, float]:
    opts = EngineOptions(estimate_s=None if estimate_s is None else np.array(estimate_s))
    out = Engine(workload, FOUR, make_policy("qssf"), PackPlacement(), opts).run()
    assert np.all(out.num_preemptions == 0)
    return {str(workload.job_id[r]): s for r, s in zip(out.seg_row.tolist(), out.seg_start_s.tolist(), strict=True)}


# busy holds all 4 GPUs until 100; then the queue is served by GPU-time:
# a: 4 GPUs x 10 s = 40, b: 1 x 30 = 30, c: 2 x 10 = 20, d: 1 x 50 = 50.
QUEUE = Workload.from_jobs([Job("busy", 0.0, 100.0, 4), Job("a", 1.0, 10.0, 4), Job("b", 2.0, 30.0, 1),
                            Job("c", 3.0, 10.0, 2), Job("d", 4.0, 50.0, 1)])


def test_qssf_is_registered_and_never_preempts() -> None:
    assert POLICIES["qssf"] is QssfPolicy and not QssfPolicy.preemptive


def test_the_queue_is_served_by_gpu_time_and_a_head_that_does_not_fit_blocks() -> None:
    # At 100: c (20) and b (30) start on 3 GPUs; a (40) needs 4 and blocks d (50) although d would fit.
    # c ends at 110, b at 130: a starts at 130, then d at 140.
    assert starts(QUEUE) == {"busy": 0.0, "c": 100.0, "b": 100.0, "a": 130.0, "d": 140.0}


def test_the_order_follows_the_estimates_not_the_true_durations() -> None:
    # Estimates: a 4 x 1 = 4, b 1 x 100 = 100, c 2 x 100 = 200, d 1 x 1 = 1 -> d, a, b, c.
    got = starts(QUEUE, [100.0, 1.0, 100.0, 100.0, 1.0])
    assert got == {"busy": 0.0, "d": 100.0, "a": 150.0, "b": 160.0, "c": 160.0}


def test_with_actual_durations_qssf_is_sjf_on_single_gpu_jobs() -> None:
    rng = np.random.default_rng(0)
    n = 80
    wl = Workload.from_columns(job_id=[f"j{i:02d}" for i in range(n)], submit_s=np.sort(rng.uniform(0, 2000, n)),
                               duration_s=rng.exponential(100, n) + 1, num_gpus=np.ones(n, dtype=np.int32))
    qssf = simulate(wl, FOUR, SimConfig("qssf"))
    assert check(qssf.schedule, wl, FOUR) == []
    assert qssf.schedule == simulate(wl, FOUR, SimConfig("sjf")).schedule
