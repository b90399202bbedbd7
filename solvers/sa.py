"""Simulated annealing over job orders, decoded by the list scheduler.

The state is a priority order (workload rows); a move swaps two jobs or moves one job to
another position, half the time nearby (within a tenth of the order) and half anywhere.
A worse order is accepted with probability exp(-relative worsening / temperature), and
the temperature cools geometrically from `T0_FRAC` to `T_END_FRAC` (relative to the
starting objective) over the iteration budget (`options.max_iterations`), or over the
time limit when no iteration budget is set. It starts from the best greedy rule and
never returns anything worse. With `max_iterations` bounding the run it is reproducible
for a given `options.seed`.
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass
from typing import ClassVar

import numpy as np

from solvers.base import Progress, SolveOptions, SolveResult
from solvers.greedy import RuleOutcome, SearchBudget, finish, rule_outcomes
from solvers.listsched import ListScheduler
from traces.cluster import Cluster
from traces.model import Workload

T0_FRAC = 0.005  # accept a 0.5% worse order with probability 1/e at the start
T_END_FRAC = 1e-6
_BATCH = 1024  # random numbers drawn at a time (the same stream whatever the run length)


@dataclass(frozen=True, slots=True)
class Annealed:
    best_order: list[int]
    best_value: float
    iterations: int
    accepted: int


def anneal(scheduler: ListScheduler, options: SolveOptions, start: RuleOutcome, started_s: float,
           solver: str = "sa") -> Annealed:
    """The annealing search from `start` within `options`' budget (also CP-SAT's warm start)."""
    objective = options.objective
    order = list(start.order)
    n = len(order)
    cur = best = start.value
    best_order = list(order)
    budget = SearchBudget(options, started_s)
    rng = np.random.default_rng(options.seed)
    scale = abs(start.value) or 1.0
    window = max(1, n // 10)
    it = accepted = 0
    draws = np.empty((0, 4))
    while n >= 2 and best > 0 and not budget.done(it):
        if it % _BATCH == 0:
            draws = rng.random((_BATCH, 4))
        move, pick_i, pick_j, accept_u = draws[it % _BATCH]
        i = int(pick_i * n)
        if pick_j < 0.5:  # nearby: an offset in [-window, window], never 0
            off = int((pick_j * 2) * (2 * window)) - window
            j = min(n - 1, max(0, i + (off if off < 0 else off + 1)))
        else:
            j = int((pick_j - 0.5) * 2 * n)
        if j == i:
            j = (i + 1) % n
        swap = move < 0.5
        if swap:
            order[i], order[j] = order[j], order[i]
        else:
            order.insert(j, order.pop(i))
        value = scheduler.order_value(order, objective)
        temp = T0_FRAC * (T_END_FRAC / T0_FRAC) ** budget.fraction(it)
        delta = (value - cur) / scale
        it += 1
        if delta <= 0 or accept_u < math.exp(-delta / temp):
            cur = value
            accepted += 1
            if value < best:
                best = value
                best_order = list(order)
                if options.progress is not None:
                    options.progress(Progress(solver, time.perf_counter() - started_s, best, None))
        elif swap:
            order[i], order[j] = order[j], order[i]
        else:
            order.insert(i, order.pop(j))
    return Annealed(best_order, best, it, accepted)


class SaSolver:
    """Simulated annealing from the best greedy order; `max_iterations` counts decodes."""

    key: ClassVar[str] = "sa"

    def solve(self, workload: Workload, cluster: Cluster, options: SolveOptions) -> SolveResult:
        t0 = time.perf_counter()
        scheduler = ListScheduler(workload, cluster, options)
        start = rule_outcomes(scheduler, options.objective)[0]
        run = anneal(scheduler, options, start, t0, self.key)
        method = f"simulated annealing over job orders, {run.iterations} iterations from greedy rule {start.rule}"
        note = f"greedy start {start.value:.6g}, accepted {run.accepted} of {run.iterations} moves"
        return finish(self.key, scheduler, [(run.best_order, method), (start.order, method)], options, t0,
                      [note])


__all__ = ["T0_FRAC", "T_END_FRAC", "Annealed", "SaSolver", "anneal"]
