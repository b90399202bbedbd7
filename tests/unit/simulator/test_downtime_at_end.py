"""A node still down when the run ends: its outage is recorded up to the end and counted
(no power while down, billed as on, down GPUs in the timeline) instead of read as idle."""

from __future__ import annotations

import numpy as np
import pytest

from simulator.cluster import Cluster
from simulator.engine import Engine, EngineOptions, EngineOutput
from simulator.gpu_catalog import GpuCatalog, GpuSpec
from simulator.metrics import DOWN_GPUS
from simulator.placement import PackPlacement
from simulator.policies import make_policy
from simulator.run import SimConfig, SimResult, simulate
from traces.model import Job, Workload

CATALOG = GpuCatalog((GpuSpec("X", busy_w=300, idle_w=50, price_per_gpu_h=2.0),))
# Two one-GPU nodes; one job of 10,000 s. Repairs take ~1e7 s on average, so a node that
# fails during the run is still down at its end (the run stops when the last job ends).
CLUSTER = Cluster.uniform(2, 1, gpu_type="X")
ONE_JOB = Workload.from_jobs([Job("a", 0.0, 10_000.0, 1)])
END_S = 10_000.0
MTBF_S, MTTR_S = 20_000.0, 1e7


def summary(result: SimResult) -> dict[str, float]:
    t = result.summary
    return dict(zip(t.column("metric").to_pylist(), t.column("value").to_pylist(), strict=True))


def down_steps(result: SimResult) -> list[tuple[float, float]]:
    t = result.timeline.filter(result.timeline.column("metric").to_numpy(zero_copy_only=False) == DOWN_GPUS)
    return list(zip(t.column("t_s").to_pylist(), t.column("value").to_pylist(), strict=True))


def run(seed: int, idle_power_off_s: float | None = None) -> SimResult:
    config = SimConfig(gpu_catalog=CATALOG, node_mtbf_s=MTBF_S, node_mttr_s=MTTR_S, seed=seed,
                       idle_power_off_s=idle_power_off_s)
    return simulate(ONE_JOB, CLUSTER, config)


def one_failure_seed(job_node_fails: bool) -> tuple[int, float]:
    """The first seed whose run ends at 10,000 s after exactly one failure, of the job's node
    (the job then moves to the other) or of the idle one; and that failure's time."""
    for seed in range(200):
        result = run(seed)
        s = summary(result)
        if s["num_node_failures"] != 1 or s["makespan_s"] != END_S:
            continue
        segments = list(result.schedule)
        if job_node_fails and len(segments) == 2:
            return seed, segments[0].end_s
        if not job_node_fails and len(segments) == 1:
            steps = [t for t, v in down_steps(result) if v == 1.0]
            return seed, steps[0]
    raise AssertionError("no seed in range(200) gives one failure")


@pytest.mark.parametrize("job_node_fails", [False, True], ids=["idle-node-fails", "job-node-fails"])
def test_node_down_at_the_end_draws_nothing_and_is_billed(job_node_fails: bool) -> None:
    seed, fail_s = one_failure_seed(job_node_fails)
    assert 0.0 < fail_s < END_S
    down_s = END_S - fail_s
    # The failed node is down [fail_s, 10,000]; the other is idle [0, fail_s) (job-node case:
    # before the job moves to it) and busy the rest. The job is busy 10,000 s in all.
    s = summary(run(seed))
    assert s["energy_busy_kwh"] == pytest.approx(END_S * 300 / 3.6e6)
    assert s["energy_idle_kwh"] == pytest.approx(fail_s * 50 / 3.6e6)  # nothing for the down GPU
    assert s["gpu_on_hours"] == pytest.approx(2 * END_S / 3600)  # down hours billed: both GPUs, whole window
    assert s["cost_provisioned_usd"] == pytest.approx(2 * END_S / 3600 * 2.0)
    # Idle GPUs switched off at once: the idle [0, fail_s) is off, the down time still billed.
    s_off = summary(run(seed, idle_power_off_s=0.0))
    assert s_off["energy_idle_kwh"] == 0.0
    # On: the job's 10,000 busy s, plus the failed node's down_s (idle-node case; in the
    # job-node case its fail_s busy + down_s down make 10,000 and the other GPU's busy part is
    # 10,000 - fail_s = down_s): 10,000 + down_s GPU-seconds either way.
    assert s_off["gpu_on_hours"] == pytest.approx((END_S + down_s) / 3600)
    assert s_off["cost_provisioned_usd"] == pytest.approx((END_S + down_s) / 3600 * 2.0)


@pytest.mark.parametrize("job_node_fails", [False, True], ids=["idle-node-fails", "job-node-fails"])
def test_timeline_shows_the_node_down_until_the_end(job_node_fails: bool) -> None:
    seed, fail_s = one_failure_seed(job_node_fails)
    assert down_steps(run(seed)) == [(0.0, 0.0), (fail_s, 1.0), (END_S, 0.0)]


def engine_run(workload: Workload, cluster: Cluster, seed: int, mtbf_s: float, mttr_s: float) -> EngineOutput:
    options = EngineOptions(node_mtbf_s=mtbf_s, node_mttr_s=mttr_s, failures_rng=np.random.default_rng(seed))
    return Engine(workload, cluster, make_policy("fcfs"), PackPlacement(), options).run()


def test_engine_closes_an_open_outage_at_its_final_clock() -> None:
    for seed in range(200):
        out = engine_run(ONE_JOB, CLUSTER, seed, MTBF_S, MTTR_S)
        if out.num_node_failures == 1 and float(np.max(out.end_s)) == END_S:
            break
    else:
        raise AssertionError("no seed in range(200) gives one failure")
    ((node, down_s, up_s),) = out.downtime
    assert node in (0, 1) and 0.0 < down_s < END_S and up_s == END_S


def test_every_failure_gives_one_outage_and_outages_of_a_node_never_overlap() -> None:
    # Failures and repairs as frequent as jobs: some nodes are repaired during the run, and
    # across the seeds some are still down at its end.
    rng = np.random.default_rng(1)
    n = 60
    workload = Workload.from_columns(
        job_id=[str(i) for i in range(n)], submit_s=np.sort(rng.uniform(0, 3e4, n)),
        duration_s=rng.uniform(100, 5000, n), num_gpus=np.ones(n),
    )
    cluster = Cluster.uniform(4, 2)
    open_at_end = 0
    for seed in range(8):
        out = engine_run(workload, cluster, seed, 1e4, 1e4)
        end_s = float(np.max(out.end_s))
        assert len(out.downtime) == out.num_node_failures
        for node in range(len(cluster.nodes)):
            spans = sorted((d[1], d[2]) for d in out.downtime if d[0] == node)
            assert all(a <= b for a, b in spans)
            assert all(prev[1] <= nxt[0] for prev, nxt in zip(spans, spans[1:], strict=False))
            assert all(b <= end_s for _, b in spans)
        open_at_end += sum(d[2] == end_s for d in out.downtime)
    assert open_at_end > 0


def test_no_failures_no_outages() -> None:
    out = Engine(ONE_JOB, CLUSTER, make_policy("fcfs"), PackPlacement()).run()
    assert out.downtime == () and out.num_node_failures == 0
