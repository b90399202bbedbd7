"""Capacity planning: hand-checked theory numbers, agreement with M/M/c and Erlang C on a
Poisson/exponential trace, the explained gap on a bursty gang trace, the bisection against
brute force, the probe cache, and one-line errors for bad inputs."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest

import simulator.capacity as capacity
from simulator.capacity import (
    CapacityNotMet,
    Probe,
    SearchSpace,
    WaitStat,
    WaitTarget,
    WorkloadStats,
    comparison_table,
    evaluate_size,
    probes_table,
    size_cluster,
    theory_min_gpus,
    theory_waits,
    workload_stats,
)
from simulator.run import SimConfig
from simulator.speed import SpeedTable
from simulator.sweep.load import scale_load
from simulator.theory import mmc_mean_wait_s, mmc_wait_quantile_s
from traces.errors import UserError
from traces.model import Categorical, Workload
from traces.synth import SynthSpec, generate

MEAN_S = 600.0


def tiny() -> Workload:
    # Gaps 100, 100, 200; GPU-seconds 100, 200, 600 (a 2-GPU gang), 50.
    return Workload.from_columns(
        job_id=["a", "b", "c", "d"],
        submit_s=[0.0, 100.0, 200.0, 400.0],
        duration_s=[100.0, 200.0, 300.0, 50.0],
        num_gpus=[1, 1, 2, 1],
        model_name=Categorical.from_values([None, "bert", None, None]),
    )


def poisson(num_jobs: int, load_gpus: float, seed: int) -> Workload:
    spec = SynthSpec(num_jobs=num_jobs, rate_per_s=load_gpus / MEAN_S, mean_duration_s=MEAN_S)
    return generate(spec, np.random.default_rng(seed))


def bursty_gangs(num_jobs: int = 1500) -> Workload:
    spec = SynthSpec(num_jobs=num_jobs, arrival="diurnal", peak_to_trough=20.0, load=0.6, cluster_gpus=32,
                     duration="lognormal", median_duration_s=900.0, duration_sigma=1.5,
                     gpu_counts=((1, 0.6), (2, 0.2), (4, 0.1), (8, 0.1)))
    return generate(spec, np.random.default_rng(5))


def stats_of(lam: float, mean_s: float, ca2: float = 1.0, cs2: float = 1.0) -> WorkloadStats:
    return WorkloadStats(gpu_type="V100", num_jobs=100, span_s=1.0, arrival_rate_per_s=lam, mean_service_gpu_s=mean_s,
                         offered_load_gpus=lam * mean_s, arrival_scv=ca2, service_scv=cs2, gang_share=0.0,
                         gang_gpu_s_share=0.0, max_job_gpus=1, num_fractional=0, peak_demand_gpus=10)


# ----- theory, by hand --------------------------------------------------------------------------
def test_workload_stats_by_hand() -> None:
    s = workload_stats(tiny(), "V100")
    assert s.num_jobs == 4 and s.span_s == 400.0
    assert s.arrival_rate_per_s == pytest.approx(3 / 400)  # 3 gaps over 400 s
    assert s.mean_service_gpu_s == pytest.approx(950 / 4)
    assert s.offered_load_gpus == pytest.approx(3 / 400 * 950 / 4)
    # Gaps 100, 100, 200: mean 400/3, variance 20000/9, SCV 1/8.
    assert s.arrival_scv == pytest.approx(1 / 8)
    service = np.array([100.0, 200.0, 600.0, 50.0])
    assert s.service_scv == pytest.approx(service.var() / service.mean() ** 2)
    assert (s.gang_share, s.gang_gpu_s_share) == (0.25, pytest.approx(600 / 950))
    assert s.max_job_gpus == 2 and s.num_fractional == 0
    # a [0,100) 1 GPU, b [100,300) 1, c [200,500) 2, d [400,450) 1: three GPUs at most.
    assert s.peak_demand_gpus == 3


def test_speed_table_scales_service_per_type_and_model() -> None:
    table = SpeedTable("V100", {"A100": 2.0}, {("A100", "bert"): 4.0})
    s = workload_stats(tiny(), "A100", table)
    assert s.mean_service_gpu_s == pytest.approx((100 / 2 + 200 / 4 + 600 / 2 + 50 / 2) / 4)
    assert s.arrival_rate_per_s == pytest.approx(3 / 400)


def test_theory_waits_mm3_by_hand() -> None:
    # M/M/3, lam = 2, mu = 1: P(wait) = 4/9, W_q = 4/9; ca^2 + cs^2 = 4 doubles the wait.
    t = theory_waits(stats_of(2.0, 1.0, ca2=1.0, cs2=3.0), 3)
    assert t.utilisation == pytest.approx(2 / 3)
    assert t.wait_probability == pytest.approx(4 / 9)
    assert t.mmc_mean_wait_s == pytest.approx(4 / 9)
    assert t.ac_mean_wait_s == pytest.approx(8 / 9)
    assert t.mmc_p95_wait_s == pytest.approx(math.log((4 / 9) / 0.05) / (3 - 2))
    assert t.ac_p95_wait_s == pytest.approx(2 * t.mmc_p95_wait_s)
    unstable = theory_waits(stats_of(2.0, 1.0), 2)
    assert math.isinf(unstable.mmc_mean_wait_s) and math.isinf(unstable.ac_p95_wait_s)


def test_theory_min_gpus_by_hand() -> None:
    s = stats_of(2.0, 1.0, ca2=1.0, cs2=3.0)
    # M/M/2 is unstable at 2 Erlangs; M/M/3 waits 4/9 <= 0.5 on average.
    assert theory_min_gpus(s, WaitTarget(WaitStat.mean, 0.5)) == 3
    # Allen-Cunneen doubles every wait: it needs M/M/c <= 0.25, i.e. the first c with that.
    ac = theory_min_gpus(s, WaitTarget(WaitStat.mean, 0.5), variability=s.variability)
    assert mmc_mean_wait_s(2.0, 1.0, ac) <= 0.25 < mmc_mean_wait_s(2.0, 1.0, ac - 1)
    # p95 <= 0: 95% of arrivals find a free server, P(wait) <= 0.05.
    c = theory_min_gpus(s, WaitTarget(WaitStat.p95, 0.0))
    assert mmc_wait_quantile_s(0.95, 2.0, 1.0, c) == 0.0 < mmc_wait_quantile_s(0.95, 2.0, 1.0, c - 1)
    # No variability at all: any stable size waits nothing.
    assert theory_min_gpus(stats_of(2.5, 1.0, 0.0, 0.0), WaitTarget(WaitStat.mean, 1.0), variability=0.0) == 3


# ----- simulation against M/M/c -----------------------------------------------------------------
@pytest.mark.parametrize("target", [WaitTarget(WaitStat.p95, 300.0), WaitTarget(WaitStat.mean, 60.0)])
def test_simulated_answer_agrees_with_mmc_on_poisson_exponential_jobs(target: WaitTarget) -> None:
    wl = poisson(15_000, 7.0, seed=7)
    r = size_cluster(wl, target, SearchSpace("V100", 1), seeds=(0,))
    assert r.mmc_gpus is not None
    assert abs(r.sim_gpus - r.mmc_gpus) <= 1  # one node-size step (1 GPU here)
    assert r.monotone
    assert r.stats.gang_share == 0
    assert any("gang jobs: none" in line for line in r.explanation)
    assert any("arrival SCV" in line and "close to 1" in line for line in r.explanation)
    answer = r.answer
    assert answer.meets and target.value(answer) <= target.wait_s
    below = r.probe(r.sim_nodes - 1)
    assert below is not None and below.meets is False  # n - 1 fails


def test_reverse_mode_matches_erlang_c_on_a_long_trace() -> None:
    wl = poisson(30_000, 3.0, seed=2)
    r = evaluate_size(wl, 4, SearchSpace("V100", 1), seeds=(0,))
    assert r.mode == "evaluate" and r.target is None and r.mmc_gpus is None
    theory = r.theory_at(4)
    # Theory is taken at the trace's own rate and mean service (load ~0.75 on 4 GPUs).
    assert theory.utilisation == pytest.approx(0.75, abs=0.02)
    assert r.answer.mean_wait_s == pytest.approx(theory.mmc_mean_wait_s, rel=0.10)
    assert r.answer.p95_wait_s == pytest.approx(theory.mmc_p95_wait_s, rel=0.10)
    assert r.answer.utilisation == pytest.approx(theory.utilisation, rel=0.05)


# ----- bursty gangs: the gap is explained -------------------------------------------------------
def test_bursty_gang_workload_gap_is_explained() -> None:
    r = size_cluster(bursty_gangs(), WaitTarget(WaitStat.p95, 1800.0), SearchSpace("V100", 8), seeds=(0, 1))
    s = r.stats
    assert s.gang_share > 0 and s.arrival_scv > 1 and s.service_scv > 1
    assert r.gap_gpus is not None and r.gap_gpus > 0 and r.gap_gpus == r.sim_gpus - r.mmc_gpus
    text = "\n".join(r.explanation)
    assert f"{100 * s.gang_share:.1f}% of jobs" in text
    assert f"arrival SCV {s.arrival_scv:.3g} > 1" in text
    assert f"service SCV {s.service_scv:.3g} > 1" in text
    assert "Allen-Cunneen scales every M/M/c wait" in text
    assert "monotonicity checked at the answer" in text
    assert "identical waits" in text  # fcfs/pack draws nothing random
    assert r.ac_gpus is not None and r.ac_gpus >= r.mmc_gpus
    assert all(isinstance(line, str) and "\n" not in line for line in r.explanation)


def test_bisection_matches_brute_force_and_doubles_up_from_theory(monkeypatch: pytest.MonkeyPatch) -> None:
    wl = bursty_gangs(600)
    target = WaitTarget(WaitStat.mean, 900.0)
    space = SearchSpace("V100", 4)
    calls: list[tuple[int, int]] = []
    real = capacity.simulate

    def counting(workload: Workload, cluster: object, config: SimConfig) -> object:
        calls.append((cluster.num_gpus, config.seed))  # type: ignore[attr-defined]
        return real(workload, cluster, config)  # type: ignore[arg-type]

    monkeypatch.setattr(capacity, "simulate", counting)
    r = size_cluster(wl, target, space, seeds=(0, 3))
    assert len(calls) == len(set(calls)) == 2 * len(r.probes)  # the cache: no size twice
    assert {seed for _, seed in calls} == {0, 3}
    assert r.mmc_nodes is not None
    guess = r.probe(r.mmc_nodes)
    assert guess is not None and guess.meets is False
    assert r.probe(2 * r.mmc_nodes) is not None  # the upper bound came from doubling
    monkeypatch.setattr(capacity, "simulate", real)
    brute = evaluate_each(wl, space, range(2, r.sim_nodes + 2))  # 2 nodes of 4 fit the 8-GPU jobs
    smallest = min(n for n, mean in brute.items() if mean <= target.wait_s)
    assert r.sim_nodes == smallest
    for p in r.probes:
        assert p.mean_wait_s == pytest.approx(brute.get(p.nodes, p.mean_wait_s))


def evaluate_each(wl: Workload, space: SearchSpace, nodes: range) -> dict[int, float]:
    out = {}
    for n in nodes:
        r = evaluate_size(wl, n * space.gpus_per_node, space, seeds=(0,))
        out[n] = r.answer.mean_wait_s
    return out


def test_answer_at_the_smallest_size_that_fits_the_largest_job() -> None:
    # Two 4-GPU jobs far apart: one node of 4 never makes anyone wait.
    wl = Workload.from_columns(job_id=["a", "b"], submit_s=[0.0, 1e6], duration_s=[10.0, 10.0], num_gpus=[4, 4])
    r = size_cluster(wl, WaitTarget(WaitStat.p95, 0.0), SearchSpace("V100", 2), seeds=(0,))
    assert (r.sim_nodes, r.sim_gpus) == (2, 4)
    assert r.probe(1) is None  # too small for the 4-GPU job: never simulated
    assert any("the largest job needs 4 GPUs, so no cluster below 2 nodes" in x for x in r.explanation)


def test_progress_reports_simulations_up_to_the_end() -> None:
    seen: list[tuple[int, int]] = []
    r = size_cluster(poisson(800, 3.0, seed=1), WaitTarget(WaitStat.mean, 120.0), SearchSpace("V100", 1),
                     seeds=(0, 1), progress=lambda d, t: seen.append((d, t)))
    done = [d for d, _ in seen]
    assert done == sorted(done)
    assert all(d <= t for d, t in seen)
    assert seen[-1] == (2 * len(r.probes), 2 * len(r.probes))


def test_load_scale_compresses_arrivals() -> None:
    wl = tiny()
    doubled = scale_load(wl, 2.0)
    assert doubled.submit_s.tolist() == [0.0, 50.0, 100.0, 200.0]
    assert workload_stats(doubled, "V100").offered_load_gpus == pytest.approx(
        2 * workload_stats(wl, "V100").offered_load_gpus)
    assert scale_load(wl, 1.0) is wl
    r = evaluate_size(poisson(500, 2.0, seed=3), 4, SearchSpace("V100", 2), seeds=(0,), load_scale=1.5)
    assert r.load_scale == 1.5 and any("load scale 1.5" in x for x in r.explanation)


def test_monotonicity_violation_is_detected() -> None:
    def p(nodes: int, meets: bool) -> Probe:
        return Probe(nodes, nodes, 0.0, 0.0, 0.0, (0.0,), (0.0,), 0.5, meets)

    assert capacity._monotone([p(1, False), p(2, True), p(3, True)])
    assert not capacity._monotone([p(1, False), p(2, True), p(3, False)])


# ----- outputs ----------------------------------------------------------------------------------
def test_tables_and_json_hold_both_answers() -> None:
    r = size_cluster(poisson(1000, 2.0, seed=4), WaitTarget(WaitStat.p95, 600.0), SearchSpace("V100", 2),
                     seeds=(0,))
    comp = {(row["quantity"], row["gpus"]): row for row in comparison_table(r).to_pylist()}
    assert comp[("gpus_needed", None)]["mmc"] == r.mmc_gpus
    assert comp[("gpus_needed", None)]["simulation"] == r.sim_gpus
    assert comp[("nodes_needed", None)]["simulation"] == r.sim_nodes
    assert comp[("p95_wait_s", r.sim_gpus)]["simulation"] == r.answer.p95_wait_s
    probes = probes_table(r).to_pylist()
    assert [row["nodes"] for row in probes] == sorted(p.nodes for p in r.probes)
    assert all(row["meets_target"] is (row["p95_wait_s"] <= 600.0) for row in probes)
    doc = json.loads(json.dumps(r.to_dict(), allow_nan=False))
    assert doc["mode"] == "size" and doc["target"] == {"stat": "p95", "wait_s": 600.0}
    assert doc["gap_gpus"] == r.sim_gpus - r.mmc_gpus
    assert doc["explanation"] == list(r.explanation)


def test_unstable_theory_is_inf_in_tables_and_null_in_json() -> None:
    wl = poisson(400, 3.0, seed=6)  # about 3 GPUs of load on 2 GPUs
    r = evaluate_size(wl, 2, SearchSpace("V100", 1), seeds=(0,))
    assert math.isinf(r.theory_at(2).mmc_mean_wait_s)
    assert any("grows without bound" in x for x in r.explanation)
    doc = json.loads(json.dumps(r.to_dict(), allow_nan=False))
    assert next(row for row in doc["comparison"] if row["quantity"] == "mean_wait_s")["mmc"] is None


# ----- bad inputs -------------------------------------------------------------------------------
@pytest.mark.parametrize("stat,wait", [("p95", -1.0), ("mean", 0.0), ("mean", -5.0), ("p95", math.inf),
                                       ("p95", math.nan)])
def test_bad_targets_are_one_line_errors(stat: str, wait: float) -> None:
    with pytest.raises(UserError, match=f"the {stat} wait target must be a finite number") as err:
        WaitTarget(WaitStat(stat), wait)
    assert "\n" not in str(err.value)


def test_unknown_gpu_type_for_the_speed_table() -> None:
    table = SpeedTable("V100", {"A100": 2.0})
    with pytest.raises(UserError, match="no factor for GPU type H100"):
        size_cluster(tiny(), WaitTarget(WaitStat.mean, 10.0), SearchSpace("H100", 2),
                     base=SimConfig(speed_table=table), seeds=(0,))


def test_cap_too_small_says_so_with_the_best_found() -> None:
    wl = Workload.from_columns(job_id=["a", "b", "c"], submit_s=[0.0, 0.0, 10.0], duration_s=[100.0] * 3,
                               num_gpus=[1, 1, 1])
    with pytest.raises(CapacityNotMet) as err:
        size_cluster(wl, WaitTarget(WaitStat.p95, 0.0), SearchSpace("V100", 1, max_nodes=2), seeds=(0,))
    msg = str(err.value)
    assert "no cluster of up to 2 nodes x 1 V100 GPUs (2 GPUs) meets p95 wait <= 0 s" in msg
    assert "the best found is 2 nodes (2 GPUs)" in msg and "\n" not in msg
    assert err.value.best.nodes == 2 and err.value.best.p95_wait_s > 0


@pytest.mark.parametrize("call,match", [
    (lambda: WaitTarget("p99", 1.0), "on p95 or mean"),
    (lambda: evaluate_size(tiny(), 3, SearchSpace("V100", 2)), "not a whole number of nodes of 2"),
    (lambda: evaluate_size(tiny(), 1, SearchSpace("V100", 1)), "cannot run the largest job"),
    (lambda: evaluate_size(tiny(), 0, SearchSpace("V100", 1)), "integer >= 1"),
    (lambda: evaluate_size(tiny(), 2, SearchSpace("V100", 1), seeds=()), "at least one seed"),
    (lambda: evaluate_size(tiny(), 2, SearchSpace("V100", 1), load_scale=0.0), "load_scale"),
    (lambda: SearchSpace("V100", 0), "GPUs per node"),
    (lambda: SearchSpace("V100", 1, max_nodes=0), "node cap"),
    (lambda: size_cluster(tiny(), WaitTarget(WaitStat.mean, 1.0), SearchSpace("V100", 1, max_nodes=1)),
     "below 2 node"),
    (lambda: workload_stats(tiny().take([0]), "V100"), "at least 2 jobs"),
])
def test_bad_inputs_are_one_line_user_errors(call: object, match: str) -> None:
    with pytest.raises(UserError, match=match) as err:
        call()  # type: ignore[operator]
    assert "\n" not in str(err.value)
