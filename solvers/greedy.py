"""Greedy list scheduling: decode a handful of classic priority rules, keep the best.

Each rule is a plain function from the instance to an order of workload rows; the list
scheduler (`solvers.listsched`) turns every order into a schedule (earliest finish,
best-fit node) and the rule whose schedule scores best under `options.objective` wins.
WSPT (Smith's rule, weight / (run time x GPUs)) is the classic one for weighted
completion time; FCFS, SPT, LPT, largest-first and EDD cover the other objectives and
instance shapes. Run times are on each job's fastest eligible node (seconds). Ties
always fall back to workload order, i.e. (submit_s, job_id). The SA and GA solvers
start from the winner (`best_rule`), and the result helpers here are shared with them.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from typing import ClassVar

import numpy as np
import numpy.typing as npt

from simulator.schedule import Schedule
from solvers.base import Objective, Progress, SolveOptions, SolveResult, SolveStatus, relative_gap
from solvers.bounds import best_bound
from solvers.listsched import ListScheduler, order_of
from solvers.objective import evaluate
from traces.cluster import Cluster
from traces.model import Workload

MIN_BOUND_S = 1.0
Order = npt.NDArray[np.intp]
Rule = Callable[[Workload, ListScheduler], Order]


def _by(*keys: npt.NDArray[np.float64]) -> Order:
    """Rows sorted by `keys` (first key most significant), ties in workload order."""
    n = len(keys[0])
    return np.lexsort((np.arange(n), *reversed(keys))).astype(np.intp)


def _fcfs(wl: Workload, ls: ListScheduler) -> Order:
    return np.arange(len(wl), dtype=np.intp)


def _wspt(wl: Workload, ls: ListScheduler) -> Order:
    return _by(-wl.weight / (ls.min_duration_s * wl.num_gpus))


def _wspt_time(wl: Workload, ls: ListScheduler) -> Order:
    """Smith's ratio ignoring the gang size: long small jobs go before short wide ones."""
    return _by(-wl.weight / ls.min_duration_s)


def _spt(wl: Workload, ls: ListScheduler) -> Order:
    return _by(ls.min_duration_s)


def _smallest_area(wl: Workload, ls: ListScheduler) -> Order:
    return _by(ls.min_duration_s * wl.num_gpus)


def _lpt(wl: Workload, ls: ListScheduler) -> Order:
    return _by(-ls.min_duration_s)


def _largest_first(wl: Workload, ls: ListScheduler) -> Order:
    return _by(-wl.num_gpus.astype(np.float64), -ls.min_duration_s)


def _earliest_finish(wl: Workload, ls: ListScheduler) -> Order:
    """By release + run time: the earliest each job could possibly finish."""
    return _by(wl.submit_s + ls.min_duration_s)


def _edd(wl: Workload, ls: ListScheduler) -> Order:
    """Earliest deadline first (jobs without one last, by WSPT)."""
    due = np.where(np.isnan(wl.deadline_s), np.inf, wl.deadline_s)
    return _by(due, -wl.weight / (ls.min_duration_s * wl.num_gpus))


RULES: dict[str, Rule] = {
    "wspt": _wspt,
    "wspt-time": _wspt_time,
    "fcfs": _fcfs,
    "spt": _spt,
    "smallest-area": _smallest_area,
    "lpt": _lpt,
    "largest-first": _largest_first,
    "earliest-finish": _earliest_finish,
    "edd": _edd,
}


@dataclass(frozen=True, slots=True)
class RuleOutcome:
    """One rule's order and the objective of its decoded schedule."""

    rule: str
    order: tuple[int, ...]
    value: float


def rule_outcomes(scheduler: ListScheduler, objective: Objective) -> list[RuleOutcome]:
    """Every rule's order and objective, best first (ties: `RULES` order), plus the order of
    `options.hint` (rule "hint") when a warm-start schedule is given."""
    wl = scheduler.workload
    orders = [(name, tuple(rule(wl, scheduler).tolist())) for name, rule in RULES.items()]
    if scheduler.options.hint is not None:
        orders.append(("hint", order_of(scheduler.options.hint, wl)))
    out = []
    for name, order in orders:
        out.append(RuleOutcome(name, order, scheduler.order_value(order, objective)))
    out.sort(key=lambda o: o.value)  # stable: ties keep RULES order
    return out


def best_rule(scheduler: ListScheduler, objective: Objective) -> RuleOutcome:
    """The rule whose schedule scores best under `objective`."""
    return rule_outcomes(scheduler, objective)[0]


def finish(
    solver: str,
    scheduler: ListScheduler,
    candidates: Sequence[tuple[Sequence[int], str]],
    options: SolveOptions,
    started_s: float,
    notes: Sequence[str] = (),
) -> SolveResult:
    """Decode each (order, method) candidate, keep the best by `evaluate`, and report it
    against the best lower bound known (`solvers.bounds.best_bound`).

    A search's best order is passed together with the greedy start, so float noise in a
    search's own bookkeeping can never make its answer worse than the greedy one. The
    bound's LP gets what is left of `options.time_limit_s`, but at least `MIN_BOUND_S`.
    """
    best: tuple[float, Schedule, str] | None = None
    for order, method in candidates:
        schedule = scheduler.decode(order)
        value = evaluate(schedule, scheduler.workload, scheduler.cluster, options.objective, options.gpu_catalog)
        if best is None or value < best[0]:
            best = (value, schedule, method)
    assert best is not None, "finish needs at least one candidate"
    value, schedule, method = best
    left_s = options.time_limit_s - (time.perf_counter() - started_s)
    wl, cluster = scheduler.workload, scheduler.cluster
    bound = best_bound(wl, cluster, replace(options, time_limit_s=max(MIN_BOUND_S, left_s)))
    gap = relative_gap(value, bound)
    status = SolveStatus.optimal if bound is not None and gap is not None and gap <= 1e-9 else SolveStatus.feasible
    wall_s = time.perf_counter() - started_s
    if options.progress is not None:
        options.progress(Progress(solver, wall_s, value, bound))
    return SolveResult(solver, schedule, status, value, bound, gap, wall_s, method, tuple(notes))


class SearchBudget:
    """The iteration and time limits of an iterative search (SA, GA).

    `fraction(it)` is how far the search is (0 to 1): by iterations when
    `options.max_iterations` is set, so a seeded run is reproducible, else by time.
    """

    def __init__(self, options: SolveOptions, started_s: float) -> None:
        self.max_iterations = options.max_iterations
        self.started_s = started_s
        self.limit_s = options.time_limit_s
        self.deadline_s = started_s + options.time_limit_s

    def done(self, it: int) -> bool:
        if self.max_iterations is not None and it >= self.max_iterations:
            return True
        return time.perf_counter() >= self.deadline_s

    def fraction(self, it: int) -> float:
        if self.max_iterations is not None:
            return it / self.max_iterations
        return min(1.0, (time.perf_counter() - self.started_s) / self.limit_s)


def _fmt(value: float) -> str:
    return f"{value:.6g}" if math.isfinite(value) else str(value)


class GreedySolver:
    """Best of the priority rules in `RULES`, each decoded by the list scheduler."""

    key: ClassVar[str] = "greedy"

    def solve(self, workload: Workload, cluster: Cluster, options: SolveOptions) -> SolveResult:
        t0 = time.perf_counter()
        scheduler = ListScheduler(workload, cluster, options)
        outcomes = rule_outcomes(scheduler, options.objective)
        top = outcomes[0]
        note = "rule objectives: " + ", ".join(f"{o.rule} {_fmt(o.value)}" for o in outcomes)
        method = f"greedy list scheduling, rule {top.rule} (best of {len(outcomes)} rules)"
        return finish(self.key, scheduler, [(top.order, method)], options, t0, [note])


__all__ = [
    "MIN_BOUND_S",
    "RULES",
    "GreedySolver",
    "RuleOutcome",
    "SearchBudget",
    "best_rule",
    "finish",
    "rule_outcomes",
]
