"""A genetic algorithm over job orders, decoded by the list scheduler.

The population starts with every greedy rule's order and mutants of the best one. Each
generation keeps the `ELITES` best orders unchanged and breeds the rest: two parents by
tournament selection (`TOURNAMENT` entrants), order crossover (OX: a slice of the first
parent, the other jobs in the second parent's order), then a swap or insert mutation.
`options.max_iterations` counts decoded children, so SA and GA budgets compare; with it
bounding the run the result is reproducible for a given `options.seed`. It never returns
anything worse than the best greedy rule.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from typing import ClassVar

import numpy as np

from solvers.base import Progress, SolveOptions, SolveResult
from solvers.greedy import SearchBudget, finish, rule_outcomes
from solvers.listsched import ListScheduler
from traces.cluster import Cluster
from traces.model import Workload

POPULATION = 24
ELITES = 2
TOURNAMENT = 3
CROSSOVER_P = 0.9
MUTATION_P = 0.5


def order_crossover(first: Sequence[int], second: Sequence[int], a: int, b: int) -> list[int]:
    """OX: `first[a:b]` kept in place, the other positions (from b, wrapping) filled with
    the remaining jobs in the order they appear in `second` (from b, wrapping)."""
    n = len(first)
    kept = first[a:b]
    taken = set(kept)
    rest = [x for x in (*second[b:], *second[:b]) if x not in taken]
    tail = n - b
    return [*rest[tail:], *kept, *rest[:tail]]


def _mutate(order: list[int], rng: np.random.Generator) -> None:
    n = len(order)
    i, j = (int(x) for x in rng.integers(0, n, size=2))
    if i == j:
        j = (i + 1) % n
    if rng.random() < 0.5:
        order[i], order[j] = order[j], order[i]
    else:
        order.insert(j, order.pop(i))


class GaSolver:
    """A generational GA with elitism from the greedy rules' orders; `max_iterations` counts decodes."""

    key: ClassVar[str] = "ga"

    def solve(self, workload: Workload, cluster: Cluster, options: SolveOptions) -> SolveResult:
        t0 = time.perf_counter()
        scheduler = ListScheduler(workload, cluster, options)
        outcomes = rule_outcomes(scheduler, options.objective)
        start = outcomes[0]
        objective = options.objective
        n = len(workload)
        rng = np.random.default_rng(options.seed)
        budget = SearchBudget(options, t0)
        it = generations = 0

        pop: list[list[int]] = []
        values: list[float] = []
        seen: set[tuple[int, ...]] = set()
        for o in outcomes:
            if o.order not in seen:
                seen.add(o.order)
                pop.append(list(o.order))
                values.append(o.value)
        best = start.value
        best_order = list(start.order)

        def stop() -> bool:
            return n < 2 or best <= 0 or budget.done(it)

        def add(child: list[int], into_pop: list[list[int]], into_values: list[float]) -> None:
            nonlocal it, best, best_order
            value = scheduler.order_value(child, objective)
            it += 1
            into_pop.append(child)
            into_values.append(value)
            if value < best:
                best, best_order = value, list(child)
                if options.progress is not None:
                    options.progress(Progress(self.key, time.perf_counter() - t0, best, None))

        while len(pop) < POPULATION and not stop():
            child = list(start.order)
            for _ in range(1 + int(rng.integers(0, max(1, n // 20)))):
                _mutate(child, rng)
            add(child, pop, values)

        while not stop():
            generations += 1
            ranked = sorted(range(len(pop)), key=lambda k: (values[k], k))
            next_pop = [pop[k] for k in ranked[:ELITES]]
            next_values = [values[k] for k in ranked[:ELITES]]
            while len(next_pop) < POPULATION and not stop():
                p1 = min(int(k) for k in rng.integers(0, len(pop), size=TOURNAMENT))
                p2 = min(int(k) for k in rng.integers(0, len(pop), size=TOURNAMENT))
                # Tournament on ranks: the smallest sampled rank is the fittest entrant.
                a, b = sorted(int(x) for x in rng.integers(0, n + 1, size=2))
                if rng.random() < CROSSOVER_P:
                    child = order_crossover(pop[ranked[p1]], pop[ranked[p2]], a, b)
                else:
                    child = list(pop[ranked[p1]])
                if rng.random() < MUTATION_P:
                    _mutate(child, rng)
                add(child, next_pop, next_values)
            pop, values = next_pop, next_values

        method = f"genetic algorithm over job orders, {generations} generations ({it} decodes) from greedy rules"
        note = f"greedy start {start.value:.6g} (rule {start.rule})"
        return finish(self.key, scheduler, [(best_order, method), (start.order, method)], options, t0,
                      [note])


__all__ = ["CROSSOVER_P", "ELITES", "MUTATION_P", "POPULATION", "TOURNAMENT", "GaSolver", "order_crossover"]
