"""sjf and srtf on estimates: under `actual` they stay the oracles (bit for bit); under any other
source they rank by what a scheduler can know; `--durations predicted:MODEL` end to end."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from simulator.cluster import Cluster
from simulator.engine import Engine, EngineOptions
from simulator.estimates import EstimateSpec, duration_estimates, uses_estimates
from simulator.placement import PackPlacement
from simulator.policies import make_policy
from simulator.policies.base import RunContext
from simulator.predict import train
from simulator.rng import Streams
from simulator.run import SimConfig, simulate
from simulator.speed import SpeedTable
from simulator.validate import check
from traces.errors import UserError
from traces.model import Categorical, Job, Workload

ONE = Cluster.uniform(1, 1)


def engine_segments(workload: Workload, policy: str, estimate_s: list[float] | None = None,
                    cluster: Cluster = ONE) -> list[tuple[str, float, float]]:
    """(job, start, end) per segment of an engine run with these estimates (None: actual)."""
    opts = EngineOptions(estimate_s=None if estimate_s is None else np.array(estimate_s))
    out = Engine(workload, cluster, make_policy(policy), PackPlacement(), opts).run()
    ids = workload.job_id
    return sorted((str(ids[r]), s, e) for r, s, e in zip(out.seg_row.tolist(), out.seg_start_s.tolist(),
                                                           out.seg_end_s.tolist(), strict=True))


def ctx(workload: Workload, estimate_s: np.ndarray, kind: str = "actual") -> RunContext:
    return RunContext(workload, ONE, [], np.random.default_rng(0), estimate_s, SpeedTable.reference(),
                      estimate_kind=kind)


def test_a_run_uses_estimates_unless_they_are_the_actual_durations() -> None:
    wl = Workload.from_jobs([Job("a", 0.0, 5.0, 1), Job("b", 1.0, 2.0, 1)])
    assert not uses_estimates(ctx(wl, wl.duration_s.copy()))
    assert uses_estimates(ctx(wl, wl.duration_s.copy(), "noisy"))  # noisy:0 still declares estimates
    assert uses_estimates(ctx(wl, np.array([5.0, 3.0])))  # an engine given estimates directly, kind left default
    assert EstimateSpec.parse("predicted: model.json ") == EstimateSpec("predicted", path="model.json")
    with pytest.raises(UserError, match="or 'predicted:<model file>' but found 'predicted:'"):
        EstimateSpec.parse("predicted:")


QUEUE = [Job("busy", 0.0, 100.0, 1), *(Job(f"q{i}", 1.0, d, 1) for i, d in enumerate([9.0, 3.0, 7.0, 1.0]))]


def test_sjf_ranks_by_estimates_when_the_run_has_them_and_by_durations_otherwise() -> None:
    wl = Workload.from_jobs(QUEUE)
    order = [j for j, *_ in sorted(engine_segments(wl, "sjf"), key=lambda s: s[1])]
    assert order == ["busy", "q3", "q1", "q2", "q0"]
    # Estimates reverse the queue's order: sjf follows them (it did not before: it was always the oracle).
    est = [100.0, 1.0, 2.0, 3.0, 4.0]
    order = [j for j, *_ in sorted(engine_segments(wl, "sjf", est), key=lambda s: s[1])]
    assert order == ["busy", "q0", "q1", "q2", "q3"]
    assert engine_segments(wl, "sjf", est) == engine_segments(wl, "sjf-estimate", est)
    # Equal to the durations: the same schedule as the oracle.
    assert engine_segments(wl, "sjf", wl.duration_s.tolist()) == engine_segments(wl, "sjf")


def test_sjf_and_sjf_estimate_agree_under_noisy_estimates() -> None:
    rng = np.random.default_rng(3)
    n = 120
    wl = Workload.from_columns(job_id=[f"j{i:03d}" for i in range(n)], submit_s=np.sort(rng.uniform(0, 5000, n)),
                               duration_s=rng.exponential(300, n) + 1, num_gpus=rng.choice([1, 2], n).astype(np.int32))
    cluster = Cluster.uniform(1, 4)
    runs = {p: simulate(wl, cluster, SimConfig(p, estimates="noisy:1.0", seed=2)) for p in ("sjf", "sjf-estimate")}
    assert runs["sjf"].schedule == runs["sjf-estimate"].schedule
    oracle = simulate(wl, cluster, SimConfig("sjf", seed=2))
    assert oracle.schedule != runs["sjf"].schedule


def test_srtf_on_estimates_spares_a_job_estimated_to_end_soon() -> None:
    # a runs 10 s but is estimated at 2; b (3 s, estimated 5) arrives at 1. By estimates a ends at 2,
    # 1 s away, not longer than b's 5: a keeps its GPU. The oracle preempts a (9 s left > 3).
    wl = Workload.from_jobs([Job("a", 0.0, 10.0, 1), Job("b", 1.0, 3.0, 1)])
    assert engine_segments(wl, "srtf", [2.0, 5.0]) == [("a", 0.0, 10.0), ("b", 10.0, 13.0)]
    assert engine_segments(wl, "srtf") == [("a", 0.0, 1.0), ("a", 4.0, 13.0), ("b", 1.0, 4.0)]


def test_srtf_on_estimates_preempts_by_estimated_remaining_time() -> None:
    # a (10 s) is estimated at 20, b (3 s) at 1: at 1 a has 19 s left by its estimate > 1, so b preempts it.
    # Requeued, a ranks by 20 - 1 = 19 s of estimated work; c (2 s, estimated 30) arrives at 2 and waits
    # behind it although it is shorter: by estimates it is longer.
    wl = Workload.from_jobs([Job("a", 0.0, 10.0, 1), Job("b", 1.0, 3.0, 1), Job("c", 2.0, 2.0, 1)])
    assert engine_segments(wl, "srtf", [20.0, 1.0, 30.0]) == [
        ("a", 0.0, 1.0), ("a", 4.0, 13.0), ("b", 1.0, 4.0), ("c", 13.0, 15.0),
    ]  # fmt: skip


def test_srtf_on_estimates_with_speeds_overheads_and_failures_gives_valid_schedules() -> None:
    rng = np.random.default_rng(7)
    n = 150
    wl = Workload.from_columns(job_id=[f"j{i:03d}" for i in range(n)], submit_s=np.sort(rng.uniform(0, 3000, n)),
                               duration_s=rng.exponential(200, n) + 1,
                               num_gpus=rng.choice(np.array([1, 1, 2, 4], dtype=np.int32), n))
    cluster = Cluster.uniform(2, 4)
    for sigma in (0.5, 2.0):
        config = SimConfig("srtf", estimates=f"noisy:{sigma}", restart_overhead_s=5.0, checkpoint_interval_s=30.0,
                           node_mtbf_s=4000.0, node_mttr_s=200.0, seed=1)
        result = simulate(wl, cluster, config)
        assert check(result.schedule, wl, cluster) == []
        assert sum(result.jobs.column("num_preemptions").to_pylist()) > 0
        assert simulate(wl, cluster, config).schedule == result.schedule


def user_workload(n: int, seed: int) -> Workload:
    rng = np.random.default_rng(seed)
    users = rng.integers(0, 8, n).astype(np.int32)
    typical = np.exp(rng.uniform(3, 8, 8))
    return Workload.from_columns(job_id=[f"j{i:04d}" for i in range(n)], submit_s=np.sort(rng.uniform(0, 40000, n)),
                                 duration_s=typical[users] * np.exp(rng.normal(0, 0.3, n)),
                                 num_gpus=rng.choice(np.array([1, 2], dtype=np.int32), n),
                                 user=Categorical(users, tuple(f"u{i}" for i in range(8))))


@pytest.mark.parametrize("kind", ["gbm", "median"])
def test_predicted_durations_are_the_models_predictions_and_sjf_orders_by_them(tmp_path: Path, kind: str) -> None:
    wl = user_workload(300, 1)
    path = train(wl, kind=kind).model.save(tmp_path / "model.json")
    spec = EstimateSpec.parse(f"predicted:{path}")
    est = duration_estimates(wl, spec, Streams.from_seed(0).estimates)
    assert est.shape == (300,) and np.all(est > 0) and not np.array_equal(est, wl.duration_s)
    assert np.array_equal(duration_estimates(wl, spec, Streams.from_seed(9).estimates), est)  # no randomness
    got = engine_segments(wl, "sjf", est.tolist(), Cluster.uniform(1, 2))
    config = SimConfig("sjf", estimates=f"predicted:{path}")
    result = simulate(wl, Cluster.uniform(1, 2), config)
    assert sorted((a.job_id, a.start_s, a.end_s) for a in result.schedule) == got
    assert check(result.schedule, wl, Cluster.uniform(1, 2)) == []


def test_a_missing_model_file_fails_the_run_in_one_line(tmp_path: Path) -> None:
    wl = user_workload(10, 2)
    with pytest.raises(UserError, match="nope.json: no such model file"):
        simulate(wl, Cluster.uniform(1, 2), SimConfig("sjf", estimates=f"predicted:{tmp_path / 'nope.json'}"))
