"""Greedy rules, simulated annealing, the genetic algorithm and the solver registry."""

from __future__ import annotations

import numpy as np
import pytest

from simulator.validate import check, summarize
from solvers import SOLVERS, make_solver
from solvers.base import Objective, Progress, SolveOptions, SolveStatus
from solvers.ga import GaSolver, order_crossover
from solvers.greedy import RULES, GreedySolver
from solvers.objective import evaluate
from solvers.sa import SaSolver
from traces.cluster import Cluster
from traces.errors import UserError
from traces.model import Job, Workload


def random_instance(seed: int, num_jobs: int = 14) -> tuple[Workload, Cluster]:
    """A small busy instance where job order matters: gangs, mixed lengths and weights."""
    rng = np.random.default_rng(seed)
    jobs = [
        Job(
            job_id=f"j{i:02d}",
            submit_s=float(rng.integers(0, 40)),
            duration_s=float(rng.integers(1, 60)),
            num_gpus=int(rng.choice([1, 1, 2, 4])),
            weight=float(rng.integers(1, 5)),
        )
        for i in range(num_jobs)
    ]
    return Workload.from_jobs(jobs), Cluster.uniform(2, 4)


def test_registry_lists_the_heuristics_and_rejects_unknown_keys() -> None:
    assert {"greedy", "sa", "ga"} <= set(SOLVERS)
    for key, cls in SOLVERS.items():
        assert cls.key == key
        assert isinstance(make_solver(key), cls)
    with pytest.raises(UserError, match="unknown solver 'nope'; expected one of cpsat, greedy"):
        make_solver("nope")


def test_greedy_picks_wspt_when_weights_disagree_with_lengths() -> None:
    # One GPU. SPT and FCFS run the short light job first: 1*1 + 100*11 = 1101.
    # WSPT runs the heavy one first (ratio 10 vs 1): 100*10 + 1*11 = 1011.
    wl = Workload.from_jobs([
        Job("light", 0.0, 1.0, 1, weight=1.0),
        Job("heavy", 0.0, 10.0, 1, weight=100.0),
    ])
    result = GreedySolver().solve(wl, Cluster.uniform(1, 1), SolveOptions())
    assert result.objective == 1011.0
    assert "rule wspt" in result.method
    # Whatever bound `solvers.bounds` finds may never exceed a valid schedule's value.
    assert result.bound is not None and result.bound <= result.objective
    assert result.proven_optimal == (result.gap == 0.0)


def test_greedy_picks_edd_for_tardiness() -> None:
    # One GPU. Only earliest-deadline-first runs b before a: a [1, 11) would miss b's
    # deadline by 1 s under FCFS, SPT and WSPT; LPT and largest-first run c first (20 s late).
    wl = Workload.from_jobs([
        Job("a", 0.0, 1.0, 1, deadline_s=100.0),
        Job("b", 0.0, 10.0, 1, deadline_s=10.0),
        Job("c", 0.0, 20.0, 1, deadline_s=200.0),
    ])
    opts = SolveOptions(objective=Objective.weighted_tardiness)
    result = GreedySolver().solve(wl, Cluster.uniform(1, 1), opts)
    assert result.objective == 0.0
    assert "rule edd" in result.method
    assert "fcfs 1," in result.notes[0] and "lpt 20," in result.notes[0]


def test_rules_are_deterministic_orders_of_all_rows() -> None:
    wl, cluster = random_instance(0)
    from solvers.listsched import ListScheduler

    ls = ListScheduler(wl, cluster, SolveOptions())
    for name, rule in RULES.items():
        order = rule(wl, ls)
        assert sorted(order.tolist()) == list(range(len(wl))), name
        assert np.array_equal(order, rule(wl, ls)), name


@pytest.mark.parametrize("solver", [SaSolver, GaSolver])
@pytest.mark.parametrize("objective", [Objective.weighted_completion, Objective.makespan])
def test_search_never_worse_than_greedy_and_reproducible(solver: type, objective: Objective) -> None:
    wl, cluster = random_instance(3)
    opts = SolveOptions(objective=objective, max_iterations=150, seed=7, time_limit_s=60.0)
    greedy = GreedySolver().solve(wl, cluster, opts)
    first = solver().solve(wl, cluster, opts)
    second = solver().solve(wl, cluster, opts)
    assert first.objective <= greedy.objective
    assert first.schedule == second.schedule and first.objective == second.objective
    assert first.objective == evaluate(first.schedule, wl, cluster, objective)
    assert check(first.schedule, wl, cluster) == [], summarize(check(first.schedule, wl, cluster))
    assert first.status is SolveStatus.feasible


def test_annealing_improves_on_greedy_when_it_can() -> None:
    wl, cluster = random_instance(3)
    opts = SolveOptions(max_iterations=400, seed=0)
    greedy = GreedySolver().solve(wl, cluster, opts).objective
    sa = SaSolver().solve(wl, cluster, opts).objective
    ga = GaSolver().solve(wl, cluster, opts).objective
    assert sa < greedy and ga < greedy, (greedy, sa, ga)


def test_progress_reports_improvements_and_ends_with_the_answer() -> None:
    wl, cluster = random_instance(3)
    seen: list[Progress] = []
    result = SaSolver().solve(wl, cluster, SolveOptions(max_iterations=200, progress=seen.append))
    assert seen and all(p.solver == "sa" for p in seen)
    values = [p.objective for p in seen if p.objective is not None]
    assert values == sorted(values, reverse=True)
    assert seen[-1].objective == result.objective


def test_time_limit_stops_a_search_without_an_iteration_budget() -> None:
    wl, cluster = random_instance(1)
    result = GaSolver().solve(wl, cluster, SolveOptions(time_limit_s=0.2))
    assert result.wall_s < 5.0  # generous: only checks that the limit is honoured at all
    assert check(result.schedule, wl, cluster) == []


def test_order_crossover_keeps_the_slice_and_the_other_parents_order() -> None:
    child = order_crossover([0, 1, 2, 3, 4, 5], [5, 4, 3, 2, 1, 0], 2, 4)
    # Slice [2, 3] kept in place; the rest in the second parent's order from position 4,
    # wrapping: 1, 0, 5, 4 -> positions 4, 5, 0, 1.
    assert child == [5, 4, 2, 3, 1, 0]
    assert order_crossover([0, 1, 2], [2, 1, 0], 0, 3) == [0, 1, 2]
    assert order_crossover([0, 1, 2], [2, 1, 0], 1, 1) == [2, 1, 0]


@pytest.mark.parametrize("key", ["greedy", "sa", "ga"])
def test_unsolvable_job_is_a_user_error(key: str) -> None:
    wl = Workload.from_jobs([Job("ok", 0.0, 1.0, 1), Job("huge", 0.0, 1.0, 16)])
    with pytest.raises(UserError, match="job huge fits no node"):
        make_solver(key).solve(wl, Cluster.uniform(2, 8), SolveOptions(max_iterations=5))


@pytest.mark.parametrize("key", ["greedy", "sa", "ga"])
def test_single_job_and_empty_workloads(key: str) -> None:
    cluster = Cluster.uniform(1, 2)
    one = Workload.from_jobs([Job("only", 5.0, 3.0, 2)])
    result = make_solver(key).solve(one, cluster, SolveOptions(max_iterations=5))
    assert result.objective == 3.0 and [a.start_s for a in result.schedule] == [5.0]
    empty = make_solver(key).solve(Workload.from_jobs([]), cluster, SolveOptions(max_iterations=5))
    assert len(empty.schedule) == 0 and empty.objective == 0.0


def test_a_hint_schedule_is_tried_as_one_more_order() -> None:
    wl, cluster = random_instance(3)
    sa = SaSolver().solve(wl, cluster, SolveOptions(max_iterations=300))
    plain = GreedySolver().solve(wl, cluster, SolveOptions())
    hinted = GreedySolver().solve(wl, cluster, SolveOptions(hint=sa.schedule))
    assert "hint " in hinted.notes[0] and "hint " not in plain.notes[0]
    assert hinted.objective <= plain.objective
