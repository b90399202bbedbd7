"""Lower bounds: hand-computed values on tiny instances, and never above a real schedule.

Validity is checked against every schedule we can make: list schedules of the WSPT, FCFS
and random orders, the simulator's FCFS run, and on instances of up to five jobs the best
of all orders (brute force over `ListScheduler.decode`, whose schedules are all feasible).
"""

from __future__ import annotations

import dataclasses
import itertools
import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from strategies import SPEED_TABLE, clusters, fitting_jobs

from simulator.gpu_catalog import GpuCatalog
from simulator.run import SimConfig, simulate
from simulator.speed import SpeedTable
from solvers.base import Objective, SolveOptions
from solvers.bounds import best_bound, bound_report, solve_relaxation, trivial_bound
from solvers.listsched import ListScheduler, check_solvable
from solvers.objective import J_PER_KWH, evaluate
from traces.cluster import Cluster, Node
from traces.errors import UserError
from traces.model import Job, Workload

TABLE = SpeedTable("V100", {t: f for t, f in SPEED_TABLE.items() if t != "V100"})
BOUNDED = [Objective.weighted_completion, Objective.makespan, Objective.weighted_tardiness, Objective.energy]


def opts(objective: Objective = Objective.weighted_completion, **kw: object) -> SolveOptions:
    return SolveOptions(objective=objective, **kw)  # type: ignore[arg-type]


def below(bound: float | None, value: float) -> bool:
    return bound is not None and bound <= value * (1 + 1e-9) + 1e-9


# ----- hand-computed values --------------------------------------------------------------


def test_one_job_every_objective() -> None:
    wl = Workload.from_jobs([Job("a", 100.0, 10.0, 2, weight=3.0, deadline_s=104.0)])
    cluster = Cluster.uniform(1, 4)
    assert trivial_bound(wl, cluster, opts()) == 30.0  # w x p: JCT, not w x C
    assert best_bound(wl, cluster, opts()) == pytest.approx(30.0, rel=1e-6)
    assert trivial_bound(wl, cluster, opts(Objective.makespan)) == 110.0
    assert trivial_bound(wl, cluster, opts(Objective.weighted_tardiness)) == 18.0  # 3 x (110 - 104)
    busy_w = GpuCatalog.default().get("V100").busy_w  # type: ignore[union-attr]
    assert trivial_bound(wl, cluster, opts(Objective.energy)) == pytest.approx(2 * 10.0 * busy_w / J_PER_KWH)
    for objective in BOUNDED:
        assert best_bound(wl, cluster, opts(objective)) == pytest.approx(trivial_bound(wl, cluster, opts(objective)),
                                                                          rel=1e-6, abs=1e-9)


def test_two_jobs_on_one_gpu_fluid_bound_is_the_optimum() -> None:
    # SPT is optimal: C = 1 and 3, sum 4. Trivial: 1 + 2 = 3. Preemptive WSPT on one GPU:
    # mean busy times 0.5 and 2, plus half the run times 1.5: 4.
    wl = Workload.from_jobs([Job("a", 0.0, 1.0, 1), Job("b", 0.0, 2.0, 1)])
    report = bound_report(wl, Cluster.uniform(1, 1), opts())
    assert report.trivial == 3.0
    assert report.fluid == pytest.approx(4.0)
    assert report.best == pytest.approx(4.0, rel=1e-6)
    assert report.best <= 4.0


def test_lp_beats_fluid_and_trivial_when_rate_limits_matter() -> None:
    # Three 1-GPU jobs of 10 s at time 0 on 2 GPUs: optimum 10 + 10 + 20 = 40. Trivial 30;
    # the fast machine (speed 2) finishes them at 5, 10, 15: mean busy 2.5, 7.5, 12.5 plus
    # 3 x 5 = 37.5. The LP keeps each job at one GPU.
    wl = Workload.from_jobs([Job(f"j{i}", 0.0, 10.0, 1) for i in range(3)])
    report = bound_report(wl, Cluster.uniform(1, 2), opts())
    assert report.trivial == 30.0
    assert report.fluid == pytest.approx(37.5)
    assert report.lp is not None
    assert 37.5 < report.lp.bound <= 40.0
    assert report.best == report.lp.bound


def test_makespan_area_bound_and_weighted_jct_of_late_releases() -> None:
    # Three 1-GPU jobs of 1 s on 2 GPUs: the area bound 3 / 2 beats max r + p = 1.
    wl = Workload.from_jobs([Job(f"j{i}", 5.0, 1.0, 1) for i in range(3)])
    cluster = Cluster.uniform(1, 2)
    assert trivial_bound(wl, cluster, opts(Objective.makespan)) == 6.5
    assert 6.5 <= best_bound(wl, cluster, opts(Objective.makespan)) <= 7.0  # type: ignore[operator]
    # Released at 5, the weighted JCT bound does not count the 5 s before release.
    assert trivial_bound(wl, cluster, opts()) == 3.0


def test_speed_factors_types_and_memory_pick_the_fastest_eligible_pool() -> None:
    cluster = Cluster((Node("v", "V100", 4, 16.0), Node("a", "A100", 4, 80.0), Node("p", "P100", 4, 16.0)))
    wl = Workload.from_jobs([
        Job("any", 0.0, 100.0, 1),  # A100 (factor 2): 50 s
        Job("no-a100", 0.0, 100.0, 1, gpu_types=("V100", "P100")),  # V100: 100 s
        Job("big-mem", 0.0, 100.0, 1, gpu_types=("V100", "P100"), gpu_mem_gib=20.0),
    ])
    options = opts(speed=TABLE)
    with pytest.raises(UserError, match="big-mem fits no node"):
        trivial_bound(wl, cluster, options)
    assert best_bound(wl, cluster, options) is None
    ok = wl.take([wl.index_of("any"), wl.index_of("no-a100")])
    assert trivial_bound(ok, cluster, options) == 150.0


def test_spanning_gang_bound_includes_the_slowdown() -> None:
    # 6 GPUs on two 4-GPU nodes: it must span, 1.5 x slower.
    wl = Workload.from_jobs([Job("wide", 0.0, 10.0, 6)])
    cluster = Cluster.uniform(2, 4)
    options = opts(allow_span=True, cross_node_slowdown=1.5)
    assert trivial_bound(wl, cluster, options) == 15.0
    schedule = ListScheduler(wl, cluster, options).decode([0])
    assert below(best_bound(wl, cluster, options), evaluate(schedule, wl, cluster, options.objective))


def test_tardiness_counts_only_jobs_with_deadlines() -> None:
    wl = Workload.from_jobs([
        Job("late", 0.0, 10.0, 1, weight=2.0, deadline_s=4.0),
        Job("free", 0.0, 50.0, 1, weight=9.0),
    ])
    assert trivial_bound(wl, Cluster.uniform(1, 2), opts(Objective.weighted_tardiness)) == 12.0


def test_energy_needs_a_power_figure() -> None:
    wl = Workload.from_jobs([Job("a", 0.0, 10.0, 1)])
    cluster = Cluster.uniform(1, 1, gpu_type="Mystery9000")
    with pytest.raises(UserError, match="no power figure for type 'Mystery9000'"):
        trivial_bound(wl, cluster, opts(Objective.energy))


def test_empty_workload_has_bound_zero() -> None:
    wl = Workload.from_jobs([])
    assert trivial_bound(wl, Cluster.uniform(1, 1), opts()) == 0.0
    assert best_bound(wl, Cluster.uniform(1, 1), opts()) == 0.0


def test_alpha_points_of_a_job_that_starts_at_once() -> None:
    wl = Workload.from_jobs([Job("a", 7.0, 10.0, 1)])
    lp = solve_relaxation(wl, Cluster.uniform(1, 1), opts())
    assert lp is not None
    assert lp.completion_s[0] == pytest.approx(17.0)
    assert lp.alpha_points(0.5)[0] == pytest.approx(12.0)
    assert lp.alpha_points(1.0)[0] == pytest.approx(17.0)
    with pytest.raises(ValueError, match="alpha must be in"):
        lp.alpha_points(0.0)
    assert solve_relaxation(wl, Cluster.uniform(1, 1), opts(Objective.energy)) is None


# ----- validity against real schedules --------------------------------------------------


@st.composite
def instances(draw: st.DrawFn, max_jobs: int = 10) -> tuple[Workload, Cluster, SolveOptions]:
    cluster = draw(clusters())
    num_jobs = draw(st.integers(1, max_jobs))
    jobs = [draw(fitting_jobs(cluster, f"j{i}")) for i in range(num_jobs)]
    # Busy instances: squeeze the releases so that jobs queue; weights and deadlines vary.
    squeeze = draw(st.sampled_from([1.0, 0.01, 0.0]))
    jobs = [dataclasses.replace(
        j, submit_s=j.submit_s * squeeze, weight=float(draw(st.integers(1, 5))),
        deadline_s=draw(st.none() | st.floats(0.0, 3000.0)),
    ) for j in jobs]
    workload = Workload.from_jobs(jobs)
    options = SolveOptions(
        objective=draw(st.sampled_from(BOUNDED)),
        speed=draw(st.sampled_from([SpeedTable.reference(), TABLE])),
        allow_span=draw(st.booleans()),
        cross_node_slowdown=draw(st.sampled_from([1.0, 1.5])),
    )
    try:
        check_solvable(workload, cluster, options)
    except UserError:
        options = dataclasses.replace(options, allow_span=True)  # enough GPUs of a type in all
    return workload, cluster, options


def _value(schedule: object, wl: Workload, cluster: Cluster, options: SolveOptions) -> float:
    return evaluate(schedule, wl, cluster, options.objective, options.gpu_catalog)  # type: ignore[arg-type]


@settings(max_examples=40)
@given(instances(), st.integers(0, 2**32 - 1))
def test_bound_never_exceeds_a_real_schedule(inst: tuple[Workload, Cluster, SolveOptions], seed: int) -> None:
    wl, cluster, options = inst
    report = bound_report(wl, cluster, options)
    bound = report.best
    assert bound >= report.trivial
    scheduler = ListScheduler(wl, cluster, options)
    n = len(wl)
    ratio = wl.weight / (scheduler.min_duration_s * wl.num_gpus)
    rng = np.random.default_rng(seed)
    orders = [np.lexsort((np.arange(n), -ratio)).tolist(), list(range(n))]
    orders += [rng.permutation(n).tolist() for _ in range(3)]
    for order in orders:
        value = _value(scheduler.decode(order), wl, cluster, options)
        assert below(bound, value), (order, bound, value, report)
    if not options.allow_span:
        config = SimConfig("fcfs", speed_table=options.speed, cross_node_slowdown=options.cross_node_slowdown)
        fcfs = simulate(wl, cluster, config).schedule
        assert below(bound, _value(fcfs, wl, cluster, options)), report


@settings(max_examples=30)
@given(instances(max_jobs=5))
def test_bound_never_exceeds_the_best_order(inst: tuple[Workload, Cluster, SolveOptions]) -> None:
    wl, cluster, options = inst
    scheduler = ListScheduler(wl, cluster, options)
    best = min(scheduler.order_value(list(p), options.objective) for p in itertools.permutations(range(len(wl))))
    bound = best_bound(wl, cluster, options)
    assert below(bound, best), (bound, best)


def test_bound_is_tight_on_a_brute_forced_busy_instance() -> None:
    # Five 1-GPU jobs on two GPUs, all at time 0: SPT is optimal (sum C = 1+2+4+6+9 = 22 for
    # run times 1,2,3,4,5 -> C = 1, 2, 4, 6, 9). The best bound must lie within 10 % of it.
    wl = Workload.from_jobs([Job(f"j{i}", 0.0, float(i + 1), 1) for i in range(5)])
    cluster = Cluster.uniform(1, 2)
    scheduler = ListScheduler(wl, cluster, opts())
    best = min(scheduler.order_value(list(p), Objective.weighted_completion) for p in itertools.permutations(range(5)))
    assert best == 22.0
    bound = best_bound(wl, cluster, opts())
    assert bound is not None and 0.9 * best <= bound <= best
    assert bound > trivial_bound(wl, cluster, opts()) == 15.0


def test_lp_bound_is_finite_on_a_trace_like_instance() -> None:
    rng = np.random.default_rng(0)
    n = 60
    wl = Workload.from_columns(
        job_id=[f"j{i}" for i in range(n)],
        submit_s=np.sort(rng.uniform(0, 3600, n)),
        duration_s=np.exp(rng.normal(7, 1.5, n)),
        num_gpus=rng.choice([1, 1, 1, 2, 4, 8], n),
    )
    cluster = Cluster.uniform(2, 8)
    report = bound_report(wl, cluster, opts())
    assert report.lp is not None and math.isfinite(report.lp.bound)
    greedy = ListScheduler(wl, cluster, opts())
    ratio = wl.weight / (greedy.min_duration_s * wl.num_gpus)
    value = greedy.order_value(np.lexsort((np.arange(n), -ratio)).tolist(), Objective.weighted_completion)
    assert report.trivial <= report.best <= value * (1 + 1e-9)
