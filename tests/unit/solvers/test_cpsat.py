"""CP-SAT solver: known optima on hand instances, every objective, valid schedules, the bound, windows.

Every solve runs in deterministic mode (one worker, a fixed seed, a deterministic-time
limit); tests assert objectives and validity, never a particular assignment among equals.
"""

from __future__ import annotations

import math

import numpy as np
import pytest

from simulator.gpu_catalog import GpuCatalog
from simulator.run import speed_fn
from simulator.schedule import Schedule
from simulator.speed import SpeedTable
from simulator.validate import check, summarize
from solvers.base import Objective, Progress, SolveOptions, SolveResult, SolveStatus
from solvers.cpsat.gpu_ids import assign_gpu_ids
from solvers.cpsat.model import CpsatSolver, TickGrid, derive_tick_s
from solvers.greedy import GreedySolver
from solvers.objective import J_PER_KWH
from traces.cluster import Cluster, Node
from traces.errors import UserError
from traces.model import Job, Workload
from traces.synth import DurationDist, SynthSpec, generate


def opts(**kw: object) -> SolveOptions:
    base: dict[str, object] = {"time_limit_s": 2.0, "deterministic": True, "seed": 0}
    base.update(kw)
    return SolveOptions(**base)  # type: ignore[arg-type]


def solve(wl: Workload, cluster: Cluster, options: SolveOptions | None = None) -> SolveResult:
    options = options or opts()
    result = CpsatSolver().solve(wl, cluster, options)
    violations = check(result.schedule, wl, cluster, speed=speed_fn(options.speed))
    assert violations == [], summarize(violations)
    assert result.bound is None or result.bound <= result.objective * (1 + 1e-9) + 1e-9
    return result


def starts(result: SolveResult) -> dict[str, float]:
    return {a.job_id: a.start_s for a in result.schedule}


def one_gpu() -> Cluster:
    return Cluster((Node("n0", "V100", 1, 32.0),))


# ----- concrete GPU ids ----------------------------------------------------------------------------


def test_gpu_ids_lowest_free_at_start_and_reused_at_the_end_tick() -> None:
    # a: 2 GPUs [0, 10); b: 1 GPU [0, 5); c starts when b ends and takes its GPU; d takes all four at 10
    got = assign_gpu_ids([0, 0, 5, 10], [10, 5, 10, 12], [2, 1, 1, 4], 4)
    assert got == [(0, 1), (2,), (2,), (0, 1, 2, 3)]


def test_gpu_ids_equal_starts_served_in_input_order() -> None:
    assert assign_gpu_ids([3, 3, 3], [4, 4, 4], [1, 2, 1], 4) == [(0,), (1, 2), (3,)]


def test_gpu_ids_over_capacity_is_an_error() -> None:
    with pytest.raises(ValueError, match="needs 2 GPU"):
        assign_gpu_ids([0, 1], [5, 6], [3, 2], 4)


# ----- ticks ---------------------------------------------------------------------------------------


def test_tick_is_one_two_or_five_times_a_power_of_ten() -> None:
    assert derive_tick_s(horizon_s=3.0e6, shortest_s=1.0) == 2.0  # horizon rule: 3 s, rounded down
    assert derive_tick_s(horizon_s=1000.0, shortest_s=60.0) == 0.5  # precision rule: 0.6 s
    assert derive_tick_s(horizon_s=0.0, shortest_s=0.0) == 1.0


def test_ticks_round_up_but_snap_float_noise() -> None:
    grid = TickGrid(t0_s=100.0, tick_s=0.1)
    assert grid.ticks_up(0.3) == 3  # 0.3 / 0.1 = 2.9999999999999996
    assert grid.ticks_up(0.31) == 4
    assert grid.on_grid(0.7) and not grid.on_grid(0.75)
    assert grid.seconds(5) == pytest.approx(100.5)


# ----- hand instances with known optima ------------------------------------------------------------


def test_three_jobs_one_gpu_in_wspt_order_proven_optimal() -> None:
    wl = Workload.from_jobs([
        Job("a", 0.0, 30.0, 1, weight=1.0),
        Job("b", 0.0, 20.0, 1, weight=3.0),
        Job("c", 0.0, 10.0, 1, weight=1.0),
    ])
    r = solve(wl, one_gpu())
    # Smith's rule: w/p = 1/30, 3/20, 1/10 -> b, c, a: 3*20 + 1*30 + 1*60
    assert r.objective == pytest.approx(150.0)
    s = starts(r)
    assert s["b"] < s["c"] < s["a"]
    assert r.status is SolveStatus.optimal and r.gap == pytest.approx(0.0, abs=1e-9)
    assert r.method == "cpsat full horizon"


def test_gang_waits_for_a_small_job_to_be_delayed() -> None:
    # a (2 GPUs, 50 s) is alone at t=0, but starting it delays the 4-GPU gang b by 50 s.
    cluster = Cluster((Node("n0", "V100", 4, 32.0),))
    wl = Workload.from_jobs([Job("a", 0.0, 50.0, 2), Job("b", 1.0, 10.0, 4)])
    r = solve(wl, cluster)
    assert r.objective == pytest.approx(10.0 + 61.0)  # b at 1 (JCT 10), a at 11 (JCT 61)
    b = r.schedule.by_job()["b"][0]
    assert b.start_s == pytest.approx(1.0) and len(b.gpu_ids) == 4


def test_gpu_type_constraint() -> None:
    cluster = Cluster((Node("v", "V100", 1, 32.0), Node("a", "A100", 1, 80.0)))
    wl = Workload.from_jobs([
        Job("needs-a100", 0.0, 10.0, 1, gpu_types=("A100",)),
        Job("big-mem", 0.0, 10.0, 1, gpu_mem_gib=40.0),
        Job("any", 0.0, 10.0, 1),
    ])
    r = solve(wl, cluster)
    by_job = r.schedule.by_job()
    assert by_job["needs-a100"][0].gpu_ids == ("a:0",)
    assert by_job["big-mem"][0].gpu_ids == ("a:0",)
    assert by_job["any"][0].gpu_ids == ("v:0",)
    assert r.objective == pytest.approx(10 + 20 + 10)


def test_speed_factor_picks_the_fast_gpu_twice() -> None:
    cluster = Cluster((Node("v", "V100", 1, 32.0), Node("a", "A100", 1, 80.0)))
    table = SpeedTable("V100", {"A100": 2.0})
    wl = Workload.from_jobs([Job(f"j{i}", 0.0, 100.0, 1) for i in range(3)])
    r = solve(wl, cluster, opts(speed=table))
    # two on the A100 (50 s each: JCT 50 and 100) and one on the V100 (100)
    assert r.objective == pytest.approx(250.0)
    on_a100 = [a for a in r.schedule if a.gpu_ids == ("a:0",)]
    assert len(on_a100) == 2 and all(a.work_s == 100.0 and a.length_s == pytest.approx(50.0) for a in on_a100)


def test_identical_nodes_spt_proven_optimal_with_symmetry_breaking() -> None:
    wl = Workload.from_jobs([Job(f"j{d}", 0.0, float(d), 1) for d in (4, 3, 2, 1)])
    r = solve(wl, Cluster.uniform(2, 1))
    assert r.objective == pytest.approx(1 + 2 + 4 + 6)  # SPT on two machines: 1, 3 | 2, 4
    assert r.status is SolveStatus.optimal


def test_fractional_job_takes_a_whole_gpu() -> None:
    wl = Workload.from_jobs([Job("half", 0.0, 10.0, 1, gpu_frac=0.5), Job("other", 0.0, 10.0, 1, gpu_frac=0.5)])
    r = solve(wl, one_gpu())
    assert r.objective == pytest.approx(30.0)  # one after the other


# ----- every objective -----------------------------------------------------------------------------


def test_makespan_two_gpus_lpt() -> None:
    cluster = Cluster((Node("n0", "V100", 2, 32.0),))
    wl = Workload.from_jobs([Job(j, 0.0, d, 1) for j, d in (("a", 30.0), ("b", 20.0), ("c", 10.0))])
    r = solve(wl, cluster, opts(objective=Objective.makespan))
    assert r.objective == pytest.approx(30.0)
    assert r.status is SolveStatus.optimal


def test_weighted_tardiness_meets_both_deadlines() -> None:
    wl = Workload.from_jobs([
        Job("late-ok", 0.0, 10.0, 1, deadline_s=30.0),
        Job("urgent", 0.0, 10.0, 1, deadline_s=10.0, weight=1.0),
        Job("no-deadline", 0.0, 5.0, 1),
    ])
    r = solve(wl, one_gpu(), opts(objective=Objective.weighted_tardiness))
    assert r.objective == pytest.approx(0.0)
    assert starts(r)["urgent"] == pytest.approx(0.0)
    assert r.status is SolveStatus.optimal


def test_weighted_tardiness_trades_the_cheaper_delay() -> None:
    wl = Workload.from_jobs([
        Job("a", 0.0, 10.0, 1, deadline_s=10.0, weight=1.0),
        Job("b", 0.0, 10.0, 1, deadline_s=10.0, weight=5.0),
    ])
    r = solve(wl, one_gpu(), opts(objective=Objective.weighted_tardiness))
    assert r.objective == pytest.approx(10.0)  # a waits: 1 x 10 s late
    assert starts(r)["b"] == pytest.approx(0.0)


def test_energy_puts_every_job_on_the_efficient_gpu() -> None:
    # A100 at 2x speed: 400 W x 50 s = 20 kJ per job, V100: 300 W x 100 s = 30 kJ
    cluster = Cluster((Node("v", "V100", 1, 32.0), Node("a", "A100", 1, 80.0)))
    wl = Workload.from_jobs([Job(f"j{i}", 0.0, 100.0, 1) for i in range(3)])
    catalog = GpuCatalog.default()
    assert catalog.get("A100").busy_w == 400 and catalog.get("V100").busy_w == 300  # type: ignore[union-attr]
    r = solve(wl, cluster, opts(objective=Objective.energy, speed=SpeedTable("V100", {"A100": 2.0})))
    assert r.objective == pytest.approx(3 * 400 * 50 / J_PER_KWH)
    assert all(a.gpu_ids == ("a:0",) for a in r.schedule)
    assert r.status is SolveStatus.optimal


def test_energy_with_a_type_missing_from_the_catalog_is_a_user_error() -> None:
    cluster = Cluster((Node("x", "MYSTERY", 1, 32.0),))
    wl = Workload.from_jobs([Job("a", 0.0, 10.0, 1)])
    with pytest.raises(UserError, match="MYSTERY"):
        CpsatSolver().solve(wl, cluster, opts(objective=Objective.energy))


# ----- rounding to ticks and the bound -------------------------------------------------------------


def test_coarse_ticks_still_give_the_exact_optimum_and_a_valid_bound() -> None:
    # Off-grid data with a 1 s tick: the model rounds up, the schedule is compacted back.
    wl = Workload.from_jobs([
        Job("a", 0.1, 10.3, 1),
        Job("b", 0.1, 20.6, 1),
        Job("c", 0.1, 5.2, 1),
    ])
    r = solve(wl, one_gpu(), opts(tick_s=1.0))
    assert r.objective == pytest.approx(5.2 + 15.5 + 36.1)  # SPT from 0.1
    assert r.bound is not None and r.bound <= r.objective
    assert r.status is SolveStatus.optimal or any("tick model optimal" in n for n in r.notes)


@pytest.mark.parametrize("objective", list(Objective))
def test_random_instances_valid_and_never_worse_than_greedy(objective: Objective) -> None:
    cluster = Cluster((Node("n0", "V100", 4, 32.0), Node("n1", "V100", 4, 32.0), Node("n2", "A100", 2, 80.0)))
    table = SpeedTable("V100", {"A100": 1.5})
    for seed in (1, 2):
        rng = np.random.default_rng(seed)
        wl = generate(SynthSpec(num_jobs=14, rate_per_s=0.05, duration=DurationDist.lognormal,
                                median_duration_s=60.0, duration_sigma=1.0,
                                gpu_counts=((1, 0.5), (2, 0.3), (4, 0.2))), rng)
        deadlines = wl.submit_s + 2 * wl.duration_s
        wl = Workload.from_columns(job_id=wl.job_id, submit_s=wl.submit_s, duration_s=wl.duration_s,
                                   num_gpus=wl.num_gpus, weight=rng.integers(1, 4, len(wl)), deadline_s=deadlines)
        options = opts(objective=objective, speed=table, time_limit_s=1.0)
        r = solve(wl, cluster, options)
        g = GreedySolver().solve(wl, cluster, options)
        assert r.objective <= g.objective * (1 + 1e-9)
        assert r.solver == "cpsat" and math.isfinite(r.objective)


def test_same_seed_same_result() -> None:
    wl = generate(SynthSpec(num_jobs=12, rate_per_s=0.1, mean_duration_s=40.0, gpu_counts=((1, 0.7), (2, 0.3))),
                  np.random.default_rng(3))
    cluster = Cluster.uniform(2, 2)
    a, b = (CpsatSolver().solve(wl, cluster, opts(time_limit_s=0.5)) for _ in range(2))
    assert a.objective == b.objective and a.schedule == b.schedule


# ----- warm start, progress, fallback paths --------------------------------------------------------


def test_progress_reports_incumbents_and_a_final_line() -> None:
    seen: list[Progress] = []
    wl = Workload.from_jobs([Job(f"j{i}", float(i), 10.0 + i, 1 + i % 2) for i in range(6)])
    r = solve(wl, Cluster.uniform(1, 2), opts(progress=seen.append))
    assert seen and all(p.solver == "cpsat" for p in seen)
    assert seen[-1].objective == r.objective and seen[-1].bound == r.bound
    assert all(p.objective is not None for p in seen)


def test_a_given_hint_is_used_and_a_useless_one_noted() -> None:
    wl = Workload.from_jobs([Job("a", 0.0, 10.0, 1), Job("b", 0.0, 20.0, 1)])
    bad_hint = Schedule(())
    r = solve(wl, one_gpu(), opts(hint=bad_hint))
    assert any("hint" in n for n in r.notes)
    good = solve(wl, one_gpu(), opts(hint=r.schedule))
    assert good.objective == pytest.approx(40.0) and not any("given hint" in n for n in good.notes)


def test_windows_on_150_jobs_stay_valid_and_no_worse_than_greedy() -> None:
    wl = generate(SynthSpec(num_jobs=150, rate_per_s=0.2, duration=DurationDist.lognormal, median_duration_s=60.0,
                            duration_sigma=1.2, gpu_counts=((1, 0.6), (2, 0.2), (4, 0.15), (8, 0.05))),
                  np.random.default_rng(7))
    cluster = Cluster.uniform(3, 8)
    options = opts(time_limit_s=1.2)
    r = solve(wl, cluster, options)
    assert r.method.startswith("cpsat ") and "windows of" in r.method
    assert r.objective <= GreedySolver().solve(wl, cluster, options).objective * (1 + 1e-9)


# ----- gangs spanning nodes (allow_span) ----------------------------------------------------------


def nodes_of(result: SolveResult, job_id: str) -> dict[str, int]:
    """GPUs the job holds per node."""
    out: dict[str, int] = {}
    for g in result.schedule.by_job()[job_id][0].gpu_ids:
        node = g.rpartition(":")[0]
        out[node] = out.get(node, 0) + 1
    return out


def test_twelve_gpu_gang_spans_two_eight_gpu_nodes_after_a_short_job() -> None:
    # a (8 GPUs, 10 s) and big (12 GPUs, 100 s x 1.5 across nodes) cannot overlap on 16 GPUs:
    # a, then big: 10 + (10 + 150) = 170; big first would give 150 + 160 = 310.
    wl = Workload.from_jobs([Job("a", 0.0, 10.0, 8), Job("big", 0.0, 100.0, 12)])
    r = solve(wl, Cluster.uniform(2, 8), opts(allow_span=True, cross_node_slowdown=1.5))
    assert r.objective == pytest.approx(170.0)
    assert r.status is SolveStatus.optimal
    big = r.schedule.by_job()["big"][0]
    assert big.start_s == pytest.approx(10.0) and big.length_s == pytest.approx(150.0)
    assert big.work_s == 100.0  # the list scheduler's convention for a spanning segment
    assert sorted(nodes_of(r, "big").values()) == [4, 8]
    assert len(nodes_of(r, "a")) == 1


def test_spanning_gang_takes_the_split_that_leaves_room_for_ordinary_jobs() -> None:
    # s and t (4 GPUs, 100 s) and big (12 GPUs, 10 s) at 0 on 2 x 8: big with 8 + 4 GPUs next
    # to s, t after big: 10 + 100 + 110 = 220 (s and t first would give 100 + 100 + 110 = 310).
    wl = Workload.from_jobs([Job("s", 0.0, 100.0, 4), Job("t", 0.0, 100.0, 4), Job("big", 0.0, 10.0, 12)])
    r = solve(wl, Cluster.uniform(2, 8), opts(allow_span=True))
    assert r.objective == pytest.approx(220.0)
    assert r.status is SolveStatus.optimal
    assert starts(r)["big"] == pytest.approx(0.0)
    assert sorted(nodes_of(r, "big").values()) == [4, 8]
    again = solve(wl, Cluster.uniform(2, 8), opts(allow_span=True, hint=r.schedule))
    assert again.objective == pytest.approx(220.0) and not any("given hint" in n for n in again.notes)


def test_gang_that_fits_one_node_never_spans() -> None:
    # b (8 GPUs) could start at 0 on 4 + 4 free GPUs if it spanned; it fits one node, so it waits.
    wl = Workload.from_jobs([Job("x", 0.0, 50.0, 4), Job("y", 0.0, 50.0, 4), Job("b", 0.0, 10.0, 8)])
    r = solve(wl, Cluster.uniform(2, 8), opts(allow_span=True))
    assert all(len(nodes_of(r, j)) == 1 for j in ("x", "y", "b"))
    assert r.objective == pytest.approx(50 + 50 + 10)  # x and y share a node, b runs on the other


def test_spanning_over_types_of_different_speed_stays_valid_without_claiming_the_bound() -> None:
    cluster = Cluster((Node("v", "V100", 8, 32.0), Node("a", "A100", 8, 80.0), Node("b", "A100", 8, 80.0)))
    wl = Workload.from_jobs([Job("big", 0.0, 100.0, 12), Job("small", 5.0, 20.0, 2), Job("mid", 0.0, 30.0, 8)])
    options = opts(allow_span=True, cross_node_slowdown=1.2, speed=SpeedTable("V100", {"A100": 2.0}))
    r = solve(wl, cluster, options)
    assert r.objective <= GreedySolver().solve(wl, cluster, options).objective * (1 + 1e-9)
    assert any("slowest eligible type" in n for n in r.notes)


def test_spanning_energy_counts_every_gpu_it_takes() -> None:
    wl = Workload.from_jobs([Job("big", 0.0, 100.0, 12)])
    r = solve(wl, Cluster.uniform(2, 8), opts(allow_span=True, cross_node_slowdown=1.5, objective=Objective.energy))
    busy_w = GpuCatalog.default().get("V100").busy_w  # type: ignore[union-attr]
    assert r.objective == pytest.approx(12 * busy_w * 150.0 / J_PER_KWH)
    assert r.status is SolveStatus.optimal


def test_windows_keep_spanning_gangs_fixed_across_nodes() -> None:
    wl = generate(SynthSpec(num_jobs=60, rate_per_s=0.2, duration=DurationDist.lognormal, median_duration_s=60.0,
                            duration_sigma=1.0, gpu_counts=((1, 0.5), (2, 0.2), (4, 0.15), (12, 0.15))),
                  np.random.default_rng(11))
    cluster = Cluster.uniform(3, 8)
    options = opts(time_limit_s=1.0, allow_span=True, cross_node_slowdown=1.5)
    r = CpsatSolver(max_full_horizon_jobs=20, window_jobs=15).solve(wl, cluster, options)
    assert check(r.schedule, wl, cluster, speed=speed_fn(options.speed)) == []
    assert "windows of" in r.method
    assert r.objective <= GreedySolver().solve(wl, cluster, options).objective * (1 + 1e-9)
    assert any(len(nodes_of(r, str(j))) > 1 for j in wl.job_id[wl.num_gpus == 12])


# ----- user errors ---------------------------------------------------------------------------------


def test_job_fitting_no_node_is_a_user_error_naming_it() -> None:
    wl = Workload.from_jobs([Job("ok", 0.0, 1.0, 1), Job("huge", 0.0, 1.0, 16)])
    with pytest.raises(UserError, match="job huge"):
        CpsatSolver().solve(wl, Cluster.uniform(2, 8), opts())


def test_gang_larger_than_every_node_needs_allow_span() -> None:
    wl = Workload.from_jobs([Job("huge", 0.0, 1.0, 16)])
    with pytest.raises(UserError, match="job huge .*only when spanning is allowed"):
        CpsatSolver().solve(wl, Cluster.uniform(2, 8), opts())


def test_empty_workload() -> None:
    wl = Workload.from_jobs([])
    r = CpsatSolver().solve(wl, one_gpu(), opts())
    assert len(r.schedule) == 0 and r.objective == 0.0 and r.status is SolveStatus.optimal
