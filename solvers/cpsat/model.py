"""The CP-SAT offline scheduler: one start per job, an optional interval per eligible node, a cumulative per node.

Data -> ticks -> model -> solve -> schedule. Time inside the model is integer ticks of
`tick_s` seconds counted from the first submission (`TickGrid`). Releases and run times
round UP to ticks, so the model's schedule stays valid in seconds: a job ENDS at start +
its actual run time, never later than the tick-rounded end the model reserved.

Model (per job): a start variable; for each eligible node (GPU type allowed, memory fits,
enough GPUs) a presence literal and an optional fixed-size interval of the job's run time
on that node's type (speed factor applied), exactly one present; a cumulative per node
with demand `num_gpus` (a fractional job takes a whole GPU) and a redundant cumulative on
the whole cluster; start >= release. Deadlines are soft: they only enter the
weighted-tardiness objective, never as hard constraints.

Spanning gangs (`allow_span`), by the list scheduler's rule: only a job larger than every
eligible node spans; a job that fits one node keeps its one-node options only. A spanning
job has one mandatory interval and an integer GPU count d[j,k] in [0, GPUs of k] per
eligible node k, sum_k d[j,k] = num_gpus; d[j,k] is its (variable) demand in node k's
cumulative, num_gpus in the cluster's. Its length is `ListScheduler`'s window: the slowest
eligible type's run time x `cross_node_slowdown`. In seconds it then runs as long as the
list scheduler would on the nodes it got (the slowest type used, x the slowdown), never
longer, with `work_s = duration_s` as the list scheduler writes it. Where its eligible
nodes differ in speed, that length is conservative, so the model's optimum may exceed the
true one: CP-SAT's bound is then not used and optimality is not claimed from it.

Warm start: the greedy schedule (or `options.hint`), re-fitted onto the tick grid, is a
complete feasible hint, and its objective caps every job's end (a job that ends later
cannot be part of a better schedule). Identical nodes (type, size, memory and fixed
occupancy alike) are ordered: node k of a group holds a job only if node k-1 holds an
earlier one. The solved placements go back to seconds through `_compact`, which starts
each job as early as its node allows in the model's order, so no job ends later than in
the model and rounding up costs nothing in the end.

Scale: above `max_full_horizon_jobs` jobs (default 100) the whole-horizon model stops
paying (measured on resampled Philly jobs under contention, 8 x 8 GPUs, 20 s: the full
horizon improved greedy by 0.48 % at 100 jobs, 0.09 % at 150 and 0.02 % at 200; windows
by 0.28 %, 0.26 % and 0.29 %). Then the incumbent
(first the greedy hint) is improved window by window: `window_jobs` consecutive jobs in
its start order are re-solved with every other job fixed as occupied capacity, in two
passes (the second shifted by half a window). Fixing only the earlier windows and
ignoring the later jobs, in submit order, was tried first and came out 4-12 % worse
than greedy under contention: a window grabs capacity that later short jobs need. With
every other job fixed, the incumbent is a feasible hint for each window, so no window
makes the schedule worse. The result is never worse than the greedy schedule: if CP-SAT
finds nothing better, the greedy schedule is returned (method "greedy fallback").

The bound: CP-SAT's bound is on the tick model, whose longer run times may make its
optimum exceed the true one, so it is converted conservatively (`_Conversion`) and then
combined with `solvers.bounds.best_bound`; the status is optimal only when proven.
"""

from __future__ import annotations

import math
import time
from bisect import bisect_left, bisect_right
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from typing import Any, ClassVar

from simulator.schedule import Assignment, Schedule
from solvers.base import Objective, Progress, SolveOptions, SolveResult, SolveStatus, relative_gap
from solvers.bounds import best_bound, solve_relaxation, trivial_bound
from solvers.cpsat import cp_model
from solvers.cpsat.gpu_ids import assign_gpu_ids
from solvers.greedy import RuleOutcome, best_rule
from solvers.listsched import ListScheduler
from solvers.lp import candidate_orders
from solvers.objective import J_PER_KWH, busy_power_w, evaluate
from solvers.sa import anneal
from traces.cluster import Cluster
from traces.model import Workload

MAX_HORIZON_TICKS = 1_000_000  # a derived tick keeps the expected horizon within ~this many ticks
DURATION_PRECISION = 0.01  # ... and the shortest run time within ~1 % (whichever tick is coarser)
SNAP_S = 1e-7  # a time this close to a tick counts as on it (the validator tolerates 1e-6 s)
WEIGHT_RESOLUTION = 10_000  # non-integer weights: the largest becomes this many units
ENERGY_RESOLUTION = 1_000_000  # non-integer energies: the largest option becomes this many units
MAX_EXACT_ENERGY_J = 1e12  # integral joules up to this are used as they are


# ----- seconds <-> ticks -------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class TickGrid:
    """Integer time: tick k is the instant `t0_s + k * tick_s`."""

    t0_s: float
    tick_s: float

    def ticks_up(self, length_s: float) -> int:
        """The fewest ticks covering `length_s` (a length, or an offset from `t0_s`); a value
        within `SNAP_S` of a whole tick counts as that tick, so float noise does not add one."""
        x = length_s / self.tick_s
        k = round(x)
        return int(k) if abs(k - x) * self.tick_s <= SNAP_S else math.ceil(x)

    def on_grid(self, length_s: float) -> bool:
        x = length_s / self.tick_s
        return abs(round(x) - x) * self.tick_s <= SNAP_S

    def seconds(self, tick: int) -> float:
        return self.t0_s + tick * self.tick_s


def derive_tick_s(horizon_s: float, shortest_s: float) -> float:
    """The coarsest tick that keeps the shortest run time to ~`DURATION_PRECISION`, but never so
    fine that the horizon exceeds ~`MAX_HORIZON_TICKS` ticks; rounded down to 1, 2 or 5 x 10^k
    seconds so that the model's times read as round numbers."""
    raw = max(horizon_s / MAX_HORIZON_TICKS, shortest_s * DURATION_PRECISION)
    if not (math.isfinite(raw) and raw > 0):
        return 1.0
    base = 10.0 ** math.floor(math.log10(raw))
    for m in (5, 2, 1):
        if m * base <= raw * (1 + 1e-12):
            return m * base
    return base  # pragma: no cover  (m = 1 always fits)


# ----- the instance in ticks ---------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class _Option:
    """Job on one eligible node: run time in ticks (rounded up) and energy cost in objective units
    (for a spanning job: per GPU it takes on the node, and the length is the span's, equal on
    every node)."""

    node: int
    length: int
    cost: int


@dataclass(frozen=True, slots=True)
class _Job:
    row: int
    job_id: str
    release: int
    demand: int
    weight: int  # scaled down to an integer (floor: the model never overweights a job)
    due: int | None  # deadline tick (weighted tardiness only)
    options: tuple[_Option, ...]
    spans: bool = False  # larger than every eligible node: takes GPUs on several (`options`' nodes)

    @property
    def min_length(self) -> int:
        return min(o.length for o in self.options)

    def option(self, node: int) -> _Option | None:
        return next((o for o in self.options if o.node == node), None)


@dataclass(frozen=True, slots=True)
class _Placed:
    """A decided job: node and [start, end) in ticks; a spanning job has node -1 and its
    (node, GPU count) pairs, in node order, in `parts`."""

    row: int
    node: int
    start: int
    end: int
    parts: tuple[tuple[int, int], ...] = ()

    def pieces(self, demand: int) -> tuple[tuple[int, int], ...]:
        """(node, GPUs taken there) for every node the job uses."""
        return self.parts or ((self.node, demand),)


@dataclass(frozen=True, slots=True)
class _Instance:
    grid: TickGrid
    jobs: tuple[_Job, ...]  # by workload row
    capacity: tuple[int, ...]  # GPUs per node
    node_kind: tuple[tuple[str, int, float], ...]  # (GPU type, GPUs, GiB) per node
    objective: Objective
    weight_scale: float  # model weight = floor(weight * weight_scale)
    energy_unit_j: float  # model cost = floor(joules / energy_unit_j)
    lengths_exact: bool  # every run time lies on the grid
    ticks_exact: bool  # ... and every release (and deadline) too
    scale_exact: bool  # weights or energies scale to integers without loss
    spans_exact: bool  # every spanning job runs equally long on all its eligible nodes

    @property
    def exact(self) -> bool:
        """The model's optimum is the true one (energy does not depend on time, so not on ticks)."""
        return self.spans_exact and self.scale_exact and (self.ticks_exact or self.objective is Objective.energy)


def _discretize(
    workload: Workload, cluster: Cluster, options: SolveOptions, ls: ListScheduler, grid: TickGrid
) -> _Instance:
    objective = options.objective
    n = len(workload)
    submit = workload.submit_s.tolist()
    weight = workload.weight.tolist()
    deadline = workload.deadline_s.tolist()
    demand = workload.num_gpus.tolist()
    job_ids = [str(j) for j in workload.job_id.tolist()]

    w_int_exact = all(float(w).is_integer() for w in weight) and max(weight) <= 100 * WEIGHT_RESOLUTION
    weight_scale = 1.0 if w_int_exact else WEIGHT_RESOLUTION / max(weight)
    weights = [math.floor(w * weight_scale + 1e-9) for w in weight]
    w_exact = all(abs(w * weight_scale - wi) <= 1e-9 * max(1.0, wi) for w, wi in zip(weight, weights, strict=True))

    joules: list[list[float]] = [[] for _ in range(n)]
    totals_j: list[float] = []  # a spanning job's largest total (its options' costs are per GPU)
    if objective is Objective.energy:
        busy_w = [busy_power_w(options.gpu_catalog, node.gpu_type) for node in cluster.nodes]
        for row in range(n):
            if ls.spans(row):  # per GPU, over the span's length
                joules[row] = [busy_w[nd] * float(ls.min_duration_s[row]) for nd in ls.eligible_nodes(row)]
                totals_j.append(demand[row] * max(joules[row]))
            else:
                joules[row] = [demand[row] * busy_w[nd] * ls.duration_on(row, nd) for nd in ls.eligible_nodes(row)]
    flat_j = [e for es in joules for e in es]
    max_j = max(flat_j + totals_j, default=0.0)
    e_int = all(float(e).is_integer() for e in flat_j) and max_j <= MAX_EXACT_ENERGY_J
    energy_unit_j = 1.0 if e_int or max_j <= 0 else max_j / ENERGY_RESOLUTION

    lengths_exact = times_exact = spans_exact = True
    jobs = []
    for row in range(n):
        offset = submit[row] - grid.t0_s
        times_exact &= grid.on_grid(offset)
        opts = []
        spans = ls.spans(row)
        if spans:
            spans_exact &= len({ls.duration_on(row, nd) for nd in ls.eligible_nodes(row)}) == 1
        for k, nd in enumerate(ls.eligible_nodes(row)):
            # a spanning job: ListScheduler's window (slowest eligible type x cross_node_slowdown)
            run_s = float(ls.min_duration_s[row]) if spans else ls.duration_on(row, nd)
            lengths_exact &= grid.on_grid(run_s)
            cost = math.floor(joules[row][k] / energy_unit_j + 1e-9) if joules[row] else 0
            opts.append(_Option(nd, max(1, grid.ticks_up(run_s)), cost))
        due = None
        if objective is Objective.weighted_tardiness and not math.isnan(deadline[row]):
            due = grid.ticks_up(deadline[row] - grid.t0_s)
            times_exact &= grid.on_grid(deadline[row] - grid.t0_s)
        jobs.append(_Job(row, job_ids[row], grid.ticks_up(offset), demand[row], weights[row], due, tuple(opts),
                         spans))

    scale_exact = {
        Objective.weighted_completion: w_exact,
        Objective.weighted_tardiness: w_exact,
        Objective.makespan: True,
        Objective.energy: e_int,
    }[objective]
    return _Instance(
        grid=grid,
        jobs=tuple(jobs),
        capacity=tuple(nd.num_gpus for nd in cluster.nodes),
        node_kind=tuple((nd.gpu_type, nd.num_gpus, nd.gpu_mem_gib) for nd in cluster.nodes),
        objective=objective,
        weight_scale=weight_scale,
        energy_unit_j=energy_unit_j,
        lengths_exact=lengths_exact,
        ticks_exact=lengths_exact and times_exact,
        scale_exact=scale_exact,
        spans_exact=spans_exact,
    )


# ----- model units <-> the objective's units -----------------------------------------------------


@dataclass(frozen=True, slots=True)
class _Conversion:
    """The model's objective and bound in the objective's units (`Objective`).

    The bound needs a correction when the data are off the grid, because the tick model's
    rounded-up releases and run times can make its optimum exceed the true one. Take an
    optimal schedule in seconds. If every run time is on the grid, rounding each start up
    to a tick gives a schedule of the tick model (a job covers tick t after rounding iff it
    covered instant t before, so every cumulative still holds) in which each job ends less
    than 1 tick later. Otherwise list the jobs by start, position i = 0, 1, ...: shifting
    job i by 2i ticks and then rounding its start up gives one (jobs that overlap after
    the shift already overlapped before it) in which job i ends less than 2i + 2 ticks
    later. So CP-SAT's bound minus sum_i w_i x (that slack), with the largest weights at
    the last positions, is a valid bound (+1 tick per job for a deadline rounded to the
    grid). On the grid the slack is zero. Energy does not depend on time, and floor-scaled
    weights and costs only make the model's value smaller, so those need none.
    """

    inst: _Instance
    jobs: tuple[_Job, ...]
    const: float  # weighted completion: sum w (t0 - submit), seconds

    def _slack(self, weights: Sequence[int], extra: int) -> int:
        """Sum of w x the most a job can end later in the tick model (see the class docstring)."""
        if self.inst.ticks_exact:
            return 0
        if self.inst.lengths_exact:
            return sum(weights) * (1 + extra)
        n = len(self.jobs)
        return sum(w * (2 * (n - len(weights) + k) + 2 + extra) for k, w in enumerate(sorted(weights)))

    def value(self, model_value: float) -> float:
        i = self.inst
        if i.objective is Objective.weighted_completion:
            return i.grid.tick_s * model_value / i.weight_scale + self.const
        if i.objective is Objective.makespan:
            return i.grid.seconds(int(round(model_value)))
        if i.objective is Objective.weighted_tardiness:
            return i.grid.tick_s * model_value / i.weight_scale
        return model_value * i.energy_unit_j / J_PER_KWH

    def bound(self, model_bound: float) -> float:
        i = self.inst
        obj = i.objective
        if obj is Objective.energy:
            return max(0.0, model_bound * i.energy_unit_j / J_PER_KWH)
        if obj is Objective.makespan:
            slack = self._slack([1], 0)  # the last job's position is at most n - 1
            return i.grid.seconds(0) + i.grid.tick_s * max(0.0, model_bound - slack)
        if obj is Objective.weighted_completion:
            slack = self._slack([j.weight for j in self.jobs], 0)
            return i.grid.tick_s * (model_bound - slack) / i.weight_scale + self.const
        slack = self._slack([j.weight for j in self.jobs if j.due is not None], 1)
        return max(0.0, i.grid.tick_s * (model_bound - slack) / i.weight_scale)


def _conversion(inst: _Instance, workload: Workload) -> _Conversion:
    weight = workload.weight.tolist()
    submit = workload.submit_s.tolist()
    const = sum(w * (inst.grid.t0_s - r) for w, r in zip(weight, submit, strict=True))
    return _Conversion(inst, inst.jobs, const)


# ----- hints: greedy placements re-fitted onto the grid -----------------------------------------


class _Profile:
    """A node's free GPUs as a step function of time (segment i starts at `times[i]`): in ticks
    for hints, in seconds for `_compact`."""

    __slots__ = ("free", "times")

    def __init__(self, capacity: int) -> None:
        self.times: list[float] = [-math.inf]
        self.free: list[int] = [capacity]

    def copy(self) -> _Profile:
        out = _Profile(0)
        out.times, out.free = list(self.times), list(self.free)
        return out

    def earliest(self, release: float, need: int, length: float) -> float:
        """The first start >= release with `need` GPUs free for `length` ticks (the last
        segment is fully free, so a job that fits the node always ends the scan)."""
        times, free = self.times, self.free
        i = bisect_right(times, release) - 1
        t = release
        while True:
            stop = t + length
            j = i
            while free[j] >= need:
                j += 1
                if j == len(times) or times[j] >= stop:
                    return t
            i = j + 1  # segment j is too full: the next chance is when it ends
            t = times[i]

    def min_free(self, start: float, stop: float) -> int:
        """The fewest free GPUs over [start, stop)."""
        times, free = self.times, self.free
        i = bisect_right(times, start) - 1
        low = free[i]
        for k in range(i + 1, bisect_left(times, stop)):
            low = min(low, free[k])
        return low

    def occupy(self, start: float, stop: float, need: int) -> None:
        times, free = self.times, self.free
        for t in (start, stop):
            k = bisect_left(times, t)
            if k == len(times) or times[k] != t:
                times.insert(k, t)
                free.insert(k, free[k - 1])
        for k in range(bisect_left(times, start), bisect_left(times, stop)):
            free[k] -= need


def _common_earliest(profiles: Sequence[_Profile], needs: Sequence[int], release: float, length: float) -> float:
    """The first start >= release at which every profile has its need free for `length`: each
    node's earliest never skips a start that suits all, so the fixed point is the first one."""
    t = release
    moved = True
    while moved:
        moved = False
        for prof, need in zip(profiles, needs, strict=True):
            s = prof.earliest(t, need, length)
            if s > t:
                t, moved = s, True
    return t


def _profiles(inst: _Instance, placed: Sequence[_Placed]) -> list[_Profile]:
    out = [_Profile(c) for c in inst.capacity]
    for p in placed:
        for nd, c in p.pieces(inst.jobs[p.row].demand):
            out[nd].occupy(p.start, p.end, c)
    return out


@dataclass(frozen=True, slots=True)
class _Plan:
    """A reference placement to imitate: node (-1: spanning), start (seconds) and, for a
    spanning job, its (node, GPU count) pairs per workload row."""

    node: tuple[int, ...]
    start_s: tuple[float, ...]
    parts: tuple[tuple[tuple[int, int], ...], ...]


def _plan_of(schedule: Schedule, workload: Workload, cluster: Cluster, spans: Sequence[bool]) -> _Plan | None:
    """The node(s) and start of every job in `schedule`; None unless every job has exactly one
    segment, on one node or, for a job that must span (`spans`), on any nodes (a schedule this
    model could have produced)."""
    row_of = {str(j): i for i, j in enumerate(workload.job_id.tolist())}
    node_of = {nd.node_id: k for k, nd in enumerate(cluster.nodes)}
    n = len(workload)
    seen = [False] * n
    node = [-1] * n
    start = [0.0] * n
    parts: list[tuple[tuple[int, int], ...]] = [()] * n
    for a in schedule:
        row = row_of.get(a.job_id)
        if row is None or seen[row]:
            return None
        count: dict[int, int] = {}
        for g in a.gpu_ids:
            k = node_of.get(g.rpartition(":")[0])
            if k is None:
                return None
            count[k] = count.get(k, 0) + 1
        if spans[row] and count:
            parts[row] = tuple(sorted(count.items()))
        elif len(count) == 1 and not spans[row]:
            node[row] = next(iter(count))
        else:
            return None
        seen[row] = True
        start[row] = a.start_s
    if not all(seen):
        return None
    return _Plan(tuple(node), tuple(start), tuple(parts))


def _fit(inst: _Instance, rows: Sequence[int], plan: _Plan, profiles: list[_Profile], follow_starts: bool
         ) -> list[_Placed]:
    """Place `rows` in the plan's start order, each on its planned node at the earliest tick the
    profiles allow (from its planned start when `follow_starts`, else from its release)."""
    grid = inst.grid
    out = []
    for row in sorted(rows, key=lambda r: (plan.start_s[r], r)):
        job = inst.jobs[row]
        lb = job.release
        if follow_starts:
            lb = max(lb, math.floor((plan.start_s[row] - grid.t0_s) / grid.tick_s))
        if job.spans:
            placed = _fit_span(inst, job, lb, plan.parts[row], profiles)
            for nd, c in placed.parts:
                profiles[nd].occupy(placed.start, placed.end, c)
            out.append(placed)
            continue
        planned = job.option(plan.node[row])
        best: _Placed | None = None
        for o in (planned,) if planned is not None else job.options:
            t = int(profiles[o.node].earliest(lb, job.demand, o.length))
            if best is None or t + o.length < best.end:
                best = _Placed(row, o.node, t, t + o.length)
        assert best is not None
        profiles[best.node].occupy(best.start, best.end, job.demand)
        out.append(best)
    return out


def _fit_span(inst: _Instance, job: _Job, lb: int, planned: tuple[tuple[int, int], ...], profiles: list[_Profile]
              ) -> _Placed:
    """A spanning job at its earliest tick >= lb, on its planned nodes with the planned GPU counts
    or on any split (as the list scheduler does: the nodes with the most GPUs free over its run
    first), whichever starts first (the plan on a tie)."""
    length = job.options[0].length
    eligible = {o.node for o in job.options}
    found: list[_Placed] = []
    if (planned and sum(c for _, c in planned) == job.demand
            and all(nd in eligible and c <= inst.capacity[nd] for nd, c in planned)):
        t = int(_common_earliest([profiles[nd] for nd, _ in planned], [c for _, c in planned], lb, length))
        found.append(_Placed(job.row, -1, t, t + length, planned))
    # After the last breakpoint every eligible GPU is free, and they are enough (check_solvable).
    for t in sorted({lb, *(int(x) for o in job.options for x in profiles[o.node].times if x > lb)}):
        avail = sorted(((profiles[o.node].min_free(t, t + length), o.node) for o in job.options),
                       key=lambda x: (-x[0], x[1]))
        if sum(a for a, _ in avail) < job.demand:
            continue
        take: list[tuple[int, int]] = []
        left = job.demand
        for a, nd in avail:
            if left == 0:
                break
            if (c := min(a, left)) > 0:
                take.append((nd, c))
                left -= c
        found.append(_Placed(job.row, -1, t, t + length, tuple(sorted(take))))
        break
    return min(found, key=lambda p: p.start)


def _model_value(inst: _Instance, placed: Sequence[_Placed]) -> int:
    """The model's objective (integer units) of a set of placements of its jobs."""
    obj = inst.objective
    if obj is Objective.weighted_completion:
        return sum(inst.jobs[p.row].weight * p.end for p in placed)
    if obj is Objective.makespan:
        return max((p.end for p in placed), default=0)
    if obj is Objective.weighted_tardiness:
        total = 0
        for p in placed:
            job = inst.jobs[p.row]
            if job.due is not None:
                total += job.weight * max(0, p.end - job.due)
        return total
    total = 0
    for p in placed:
        job = inst.jobs[p.row]
        for nd, c in p.pieces(job.demand):
            o = job.option(nd)
            assert o is not None
            total += o.cost * c if job.spans else o.cost
    return total


def _best_fit(inst: _Instance, rows: Sequence[int], plan: _Plan, base: list[_Profile]) -> list[_Placed]:
    """The better (by the model's objective) of following the plan's starts and of placing each
    job as early as possible in the plan's order; `base` is left unchanged."""
    fits = [_fit(inst, rows, plan, [p.copy() for p in base], follow) for follow in (True, False)]
    return min(fits, key=lambda f: _model_value(inst, f))


# ----- the model ---------------------------------------------------------------------------------


@dataclass(slots=True)
class _Built:
    model: Any  # cp_model.CpModel
    jobs: tuple[_Job, ...]
    starts: dict[int, Any]  # row -> IntVar
    lits: dict[int, dict[int, Any]]  # row -> node -> presence literal (jobs with several options)
    gpus: dict[int, dict[int, Any]]  # row -> node -> GPUs taken there (spanning jobs)
    hint_value: int


def _identical_groups(inst: _Instance, jobs: Sequence[_Job], fixed: Sequence[_Placed]) -> list[list[int]]:
    """Groups (>= 2, node order) of interchangeable nodes: same kind and fixed occupancy, and
    every job eligible on all or none of them with the same run time and cost."""
    occupied: dict[int, list[tuple[int, int, int]]] = {}
    for p in fixed:
        for nd, c in p.pieces(inst.jobs[p.row].demand):
            occupied.setdefault(nd, []).append((p.start, p.end, c))
    by_key: dict[tuple[object, ...], list[int]] = {}
    for nd, kind in enumerate(inst.node_kind):
        by_key.setdefault((kind, tuple(sorted(occupied.get(nd, [])))), []).append(nd)
    groups = []
    for nodes in by_key.values():
        if len(nodes) < 2:
            continue
        ok = True
        for job in jobs:
            seen = {(o.length, o.cost) if (o := job.option(nd)) is not None else None for nd in nodes}
            ok &= len(seen) == 1
        if ok:
            groups.append(nodes)
    return groups


def _relabel(hint: list[_Placed], jobs: Sequence[_Job], groups: Sequence[list[int]]) -> list[_Placed]:
    """The same hint with each group's nodes renamed in order of their first one-node job (job
    order), as the symmetry-breaking constraints demand; identical nodes make it just as
    feasible (spanning jobs' GPU counts move with their nodes)."""
    by_row = {p.row: p for p in hint}
    rename: dict[int, int] = {}
    for nodes in groups:
        members = set(nodes)
        used = list(dict.fromkeys(by_row[j.row].node for j in jobs if by_row[j.row].node in members))
        order = used + [nd for nd in nodes if nd not in used]
        rename.update(zip(order, nodes, strict=True))
    return [replace(p, node=rename.get(p.node, p.node),
                    parts=tuple(sorted((rename.get(nd, nd), c) for nd, c in p.parts))) for p in hint]


def _build(inst: _Instance, jobs: Sequence[_Job], fixed: Sequence[_Placed], hint: list[_Placed]) -> _Built:
    """The CP-SAT model of `jobs` with `fixed` placements as occupied capacity, hinted with `hint`."""
    m = cp_model.CpModel()
    # Horizon: an optimal schedule for any of these objectives can be left-shifted until every
    # job starts at its release or when another job (or a fixed one) ends, so no job ends after
    # the latest release (or fixed end) plus all run times together.
    latest = max([j.release for j in jobs] + [p.end for p in fixed])
    horizon = max(latest + sum(max(o.length for o in j.options) for j in jobs), max(p.end for p in hint))
    hint_value = _model_value(inst, hint)
    ends_ub = _end_caps(inst, jobs, hint_value, horizon)
    first, last = min(j.release for j in jobs), max(ends_ub.values())
    fixed = [p for p in fixed if p.end > first and p.start < last]  # the others cannot meet these jobs
    groups = _identical_groups(inst, jobs, fixed)
    hint = _relabel(hint, jobs, groups)
    by_row = {p.row: p for p in hint}

    per_node: dict[int, tuple[list[Any], list[Any]]] = {nd: ([], []) for nd in range(len(inst.capacity))}
    whole: tuple[list[Any], list[int]] = ([], [])
    starts: dict[int, Any] = {}
    ends: dict[int, Any] = {}
    lits: dict[int, dict[int, Any]] = {}
    gpus: dict[int, dict[int, Any]] = {}
    for p in fixed:
        iv = m.new_fixed_size_interval_var(p.start, p.end - p.start, f"fixed[{inst.jobs[p.row].job_id}]")
        for nd, c in p.pieces(inst.jobs[p.row].demand):
            per_node[nd][0].append(iv)
            per_node[nd][1].append(c)
        whole[0].append(iv)
        whole[1].append(inst.jobs[p.row].demand)
    for job in jobs:
        jid, h = job.job_id, by_row[job.row]
        lengths = sorted({o.length for o in job.options})
        start = m.new_int_var(job.release, ends_ub[job.row] - lengths[0], f"start[{jid}]")
        m.add_hint(start, h.start)
        if len(lengths) == 1:
            end = start + lengths[0]
            size: Any = lengths[0]
        else:
            end = m.new_int_var(job.release + lengths[0], ends_ub[job.row], f"end[{jid}]")
            m.add_hint(end, h.end)
            size = m.new_int_var(lengths[0], lengths[-1], f"length[{jid}]")
            m.add_hint(size, h.end - h.start)
        if job.spans:
            # One mandatory interval; the GPUs it takes on each node are its demand there.
            iv = m.new_fixed_size_interval_var(start, lengths[0], f"run[{jid}]")
            hinted = dict(h.parts)
            gpus[job.row] = {}
            for o in job.options:
                d = m.new_int_var(0, min(job.demand, inst.capacity[o.node]), f"gpus[{jid},{o.node}]")
                m.add_hint(d, hinted.get(o.node, 0))
                per_node[o.node][0].append(iv)
                per_node[o.node][1].append(d)
                gpus[job.row][o.node] = d
            m.add(sum(gpus[job.row].values()) == job.demand)
        elif len(job.options) == 1:
            o = job.options[0]
            per_node[o.node][0].append(m.new_fixed_size_interval_var(start, o.length, f"run[{jid}]"))
            per_node[o.node][1].append(job.demand)
        else:
            lits[job.row] = {}
            for o in job.options:
                x = m.new_bool_var(f"on[{jid},{o.node}]")
                m.add_hint(x, int(h.node == o.node))
                iv = m.new_optional_fixed_size_interval_var(start, o.length, x, f"run[{jid},{o.node}]")
                per_node[o.node][0].append(iv)
                per_node[o.node][1].append(job.demand)
                if len(lengths) > 1:
                    m.add(size == o.length).only_enforce_if(x)
                lits[job.row][o.node] = x
            m.add_exactly_one(lits[job.row].values())
        whole[0].append(m.new_interval_var(start, size, end, f"job[{jid}]"))
        whole[1].append(job.demand)
        starts[job.row] = start
        ends[job.row] = end
    for nd, (intervals, demands) in per_node.items():
        if intervals:
            m.add_cumulative(intervals, demands, inst.capacity[nd])
    if len(inst.capacity) > 1:  # redundant: helps the relaxation see the cluster's total capacity
        m.add_cumulative(whole[0], whole[1], sum(inst.capacity))
    _break_symmetry(m, jobs, groups, lits, by_row)
    _set_objective(m, inst, jobs, ends, lits, gpus, by_row, horizon)
    return _Built(m, tuple(jobs), starts, lits, gpus, hint_value)


def _end_caps(inst: _Instance, jobs: Sequence[_Job], hint_value: int, horizon: int) -> dict[int, int]:
    """The latest end of each job in any schedule at least as good as the hint (capped at the horizon)."""
    caps = {j.row: horizon for j in jobs}
    obj = inst.objective
    if obj is Objective.makespan:
        return {r: min(c, hint_value) for r, c in caps.items()}
    if obj is Objective.weighted_completion:
        floor_total = sum(j.weight * (j.release + j.min_length) for j in jobs)
        for j in jobs:
            if j.weight > 0:
                others = floor_total - j.weight * (j.release + j.min_length)
                caps[j.row] = min(horizon, (hint_value - others) // j.weight)
    elif obj is Objective.weighted_tardiness:
        for j in jobs:
            if j.due is not None and j.weight > 0:
                caps[j.row] = min(horizon, j.due + hint_value // j.weight)
    return {j.row: max(caps[j.row], j.release + j.min_length) for j in jobs}


def _break_symmetry(
    m: Any, jobs: Sequence[_Job], groups: Sequence[list[int]], lits: dict[int, dict[int, Any]],
    hint: dict[int, _Placed],
) -> None:
    """Node k of a group of identical nodes holds job i only if node k-1 holds a job before i
    (any schedule can be relabelled so: name the nodes in order of their first job)."""
    for nodes in groups:
        members = [j for j in jobs if j.row in lits and nodes[0] in lits[j.row]]
        for k in range(1, len(nodes)):
            prev, cur = nodes[k - 1], nodes[k]
            used: Any = None  # "some job before this one is on `prev`"
            used_hint = False
            for i, job in enumerate(members):
                x = lits[job.row][cur]
                if used is None:
                    m.add(x == 0)
                else:
                    m.add_implication(x, used)
                if i == len(members) - 1:
                    break
                y = lits[job.row][prev]
                used_hint = used_hint or hint[job.row].node == prev
                if used is None:
                    used = y
                else:
                    u = m.new_bool_var(f"used_before[{prev},{i + 1}]")
                    m.add_max_equality(u, [used, y])
                    m.add_hint(u, int(used_hint))
                    used = u


def _set_objective(
    m: Any, inst: _Instance, jobs: Sequence[_Job], ends: dict[int, Any], lits: dict[int, dict[int, Any]],
    gpus: dict[int, dict[int, Any]], hint: dict[int, _Placed], horizon: int,
) -> None:
    obj = inst.objective
    if obj is Objective.weighted_completion:
        m.minimize(sum(j.weight * ends[j.row] for j in jobs))
    elif obj is Objective.makespan:
        last = m.new_int_var(0, horizon, "makespan")
        m.add_max_equality(last, [ends[j.row] for j in jobs])
        m.add_hint(last, max(hint[j.row].end for j in jobs))
        m.minimize(last)
    elif obj is Objective.weighted_tardiness:
        terms = []
        for j in jobs:
            if j.due is None:
                continue
            late = m.new_int_var(0, max(0, horizon - j.due), f"tardiness[{j.job_id}]")
            m.add(late >= ends[j.row] - j.due)
            m.add_hint(late, max(0, hint[j.row].end - j.due))
            terms.append(j.weight * late)
        m.minimize(sum(terms))
    else:
        terms = []
        for j in jobs:
            if j.row in gpus:  # per-GPU costs
                terms.extend(o.cost * gpus[j.row][o.node] for o in j.options)
            elif j.row in lits:
                terms.extend(o.cost * lits[j.row][o.node] for o in j.options)
            else:
                terms.append(j.options[0].cost)
        m.minimize(sum(terms))


# ----- solving -----------------------------------------------------------------------------------


class _Incumbents(cp_model.CpSolverSolutionCallback):
    """Reports each new incumbent (model units) to `on_solution(objective, bound)`."""

    def __init__(self, on_solution: Callable[[float, float], None]) -> None:
        super().__init__()
        self._on_solution = on_solution

    def on_solution_callback(self) -> None:
        self._on_solution(self.objective_value, self.best_objective_bound)


@dataclass(frozen=True, slots=True)
class _Outcome:
    placed: tuple[_Placed, ...] | None  # None: no solution within the limits
    optimal: bool  # CP-SAT proved the model optimal
    model_bound: float | None
    status_name: str


def _run(built: _Built, options: SolveOptions, limit_s: float,
         on_solution: Callable[[float, float], None] | None) -> _Outcome:
    solver = cp_model.CpSolver()
    p = solver.parameters
    p.random_seed = int(options.seed)
    if options.deterministic:
        # Reproducible: one worker, a deterministic-time limit; the wall clock only as a safety net.
        p.num_workers = 1
        p.max_deterministic_time = limit_s
        p.max_time_in_seconds = max(60.0, 10 * limit_s)
    else:
        p.num_workers = int(options.workers)
        p.max_time_in_seconds = limit_s
    status = solver.solve(built.model, _Incumbents(on_solution) if on_solution is not None else None)
    name = solver.status_name(status)
    if status not in (cp_model.OPTIMAL, cp_model.FEASIBLE):
        return _Outcome(None, False, None, name)
    placed = []
    for job in built.jobs:
        start = int(solver.value(built.starts[job.row]))
        if job.row in built.gpus:
            taken = sorted((nd, v) for nd, d in built.gpus[job.row].items() if (v := int(solver.value(d))) > 0)
            placed.append(_Placed(job.row, -1, start, start + job.options[0].length, tuple(taken)))
            continue
        if job.row in built.lits:
            node = next(nd for nd, x in built.lits[job.row].items() if solver.boolean_value(x))
        else:
            node = job.options[0].node
        o = job.option(node)
        assert o is not None
        placed.append(_Placed(job.row, node, start, start + o.length))
    return _Outcome(tuple(placed), status == cp_model.OPTIMAL, float(solver.best_objective_bound), name)


# ----- back to seconds ---------------------------------------------------------------------------


def _compact(inst: _Instance, placed: Sequence[_Placed], submit: Sequence[float], ls: ListScheduler
             ) -> list[tuple[_Placed, float, float]]:
    """Each job's [start, end) in seconds: in tick-start order, on its model node, at the earliest
    instant >= its submission with room for its actual run time.

    Never later than its tick: when a job's turn comes, every job placed before it started no
    later than its own tick and ends no later than its tick end, so inside [tick start, tick
    end) it holds no more GPUs than in the tick schedule. This wins back what rounding
    releases and run times up to ticks cost, so the result is at least as good as the model's.
    """
    profiles = [_Profile(c) for c in inst.capacity]
    out = []
    for p in sorted(placed, key=lambda p: (p.start, p.row)):
        pieces = p.pieces(inst.jobs[p.row].demand)
        if p.parts:  # spanning: as ListScheduler runs it, at the slowest type it got, slowed down
            run_s = max(ls.duration_on(p.row, nd) for nd, _ in pieces) * ls.options.cross_node_slowdown
        else:
            run_s = ls.duration_on(p.row, p.node)
        start_s = _common_earliest([profiles[nd] for nd, _ in pieces], [c for _, c in pieces], submit[p.row], run_s)
        for nd, c in pieces:
            profiles[nd].occupy(start_s, start_s + run_s, c)
        out.append((p, start_s, start_s + run_s))
    return out


def _schedule(inst: _Instance, placed: Sequence[_Placed], workload: Workload, cluster: Cluster,
              ls: ListScheduler) -> Schedule:
    """The model's placements in seconds (`_compact`) with concrete GPUs: on each node, the
    lowest-numbered ones free at each job's start (`assign_gpu_ids`); a spanning job gets its
    GPU count on each of its nodes, in node order, in one assignment."""
    duration = workload.duration_s.tolist()
    compacted = _compact(inst, placed, workload.submit_s.tolist(), ls)
    by_node: dict[int, list[tuple[int, float, float, int]]] = {}  # (index in compacted, start, end, GPUs)
    for i, (p, start_s, end_s) in enumerate(compacted):
        for nd, c in p.pieces(inst.jobs[p.row].demand):
            by_node.setdefault(nd, []).append((i, start_s, end_s, c))
    gpu_ids: list[list[str]] = [[] for _ in compacted]
    for nd in sorted(by_node):
        items = by_node[nd]
        ids = cluster.nodes[nd].gpu_ids
        got = assign_gpu_ids([s for _, s, _, _ in items], [e for _, _, e, _ in items], [c for *_, c in items],
                             inst.capacity[nd])
        for (i, *_), g in zip(items, got, strict=True):
            gpu_ids[i].extend(ids[x] for x in g)
    out = []
    for (p, start_s, end_s), got_ids in zip(compacted, gpu_ids, strict=True):
        if p.parts:  # ListScheduler's convention: a spanning segment claims the job's whole work
            work: float | None = duration[p.row]
        else:
            work = None if ls.duration_on(p.row, p.node) == duration[p.row] else duration[p.row]
        out.append(Assignment(inst.jobs[p.row].job_id, start_s, end_s, tuple(got_ids), work))
    return Schedule.of(out)


# ----- the solver --------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class CpsatSolver:
    """CP-SAT over the whole horizon up to `max_full_horizon_jobs` jobs, else by re-solving
    windows of `window_jobs` jobs of the incumbent's start order (see the module docstring)."""

    key: ClassVar[str] = "cpsat"
    max_full_horizon_jobs: int = 100
    window_jobs: int = 50
    # Share of the time limit spent annealing the greedy order before CP-SAT starts, so the
    # warm start is the best heuristic's schedule, not just greedy's (0: greedy only). In
    # deterministic mode the annealing runs `deterministic_anneal_iterations` decodes instead.
    anneal_share: float = 0.5
    deterministic_anneal_iterations: int = 2000

    def __post_init__(self) -> None:
        if self.max_full_horizon_jobs < 1 or self.window_jobs < 1:
            raise ValueError("max_full_horizon_jobs and window_jobs must be >= 1")
        if not 0.0 <= self.anneal_share < 1.0:
            raise ValueError("anneal_share must be in [0, 1)")

    def solve(self, workload: Workload, cluster: Cluster, options: SolveOptions) -> SolveResult:
        """Warm start (greedy, annealed), CP-SAT within `options.time_limit_s`, then the lower bound.

        The bound (`solvers.bounds.best_bound`, an LP on larger instances) is computed after the
        search and outside its time limit, so CP-SAT's time does not depend on the LP's size;
        `wall_s` includes both.
        """
        t_start = time.perf_counter()
        # Raises UserError for a job that fits no node (a gang larger than every node, unless allow_span).
        ls = ListScheduler(workload, cluster, options)
        spans = [ls.spans(r) for r in range(len(workload))]
        if len(workload) == 0:
            return SolveResult(self.key, Schedule(()), SolveStatus.optimal, 0.0, 0.0, 0.0,
                               time.perf_counter() - t_start, "empty workload")
        # GreedySolver's schedule (its best rule), without its bound: that comes once, at the end.
        rule = best_rule(ls, options.objective)
        greedy = ls.decode(rule.order)
        greedy_value = evaluate(greedy, workload, cluster, options.objective, options.gpu_catalog)
        warm_name = f"greedy rule {rule.rule}"
        # Nothing to warm up when greedy already meets the trivial bound (CP-SAT proves it at once).
        easy = greedy_value <= trivial_bound(workload, cluster, options) * (1 + 1e-12)
        if options.hint is None and not easy and len(workload) > 1:
            # The LP relaxation's alpha-point orders: on congested instances often the best heuristic.
            relaxation = solve_relaxation(workload, cluster, options, Objective.weighted_completion)
            for label, order in candidate_orders(relaxation, workload) if relaxation is not None else ():
                value = ls.order_value(order, options.objective)
                if value < rule.value:
                    rule = RuleOutcome(f"lp {label}", tuple(order), value)
            if rule.value < greedy_value:
                greedy = ls.decode(rule.order)
                greedy_value = evaluate(greedy, workload, cluster, options.objective, options.gpu_catalog)
                warm_name = f"LP relaxation order ({rule.rule})"
        if options.hint is None and self.anneal_share > 0 and len(workload) > 1 and not easy:
            budget = (replace(options, time_limit_s=1e9, max_iterations=self.deterministic_anneal_iterations)
                      if options.deterministic else
                      replace(options, time_limit_s=self.anneal_share * options.time_limit_s, max_iterations=None))
            run = anneal(ls, replace(budget, progress=None), rule, time.perf_counter())
            if run.best_value < greedy_value:
                greedy = ls.decode(run.best_order)
                greedy_value = evaluate(greedy, workload, cluster, options.objective, options.gpu_catalog)
                warm_name = f"annealed {warm_name}, {run.iterations} iterations"

        notes: list[str] = []
        plan = None
        if options.hint is not None:
            plan = _plan_of(options.hint, workload, cluster, spans)
            if plan is None:
                notes.append("the given hint is not one segment per job on one node (or several, for a job "
                             "that must span); warm-started from greedy")
        if plan is None:
            plan = _plan_of(greedy, workload, cluster, spans)
        assert plan is not None, "the greedy schedule has one segment per job, on one node unless it spans"

        t0_s = float(workload.submit_s.min())
        tick_s = options.tick_s or derive_tick_s(greedy.makespan_s - t0_s, float(ls.min_duration_s.min()))
        inst = _discretize(workload, cluster, options, ls, TickGrid(t0_s, tick_s))
        conv = _conversion(inst, workload)
        notes.append(f"tick {tick_s:g} s; data on the tick grid: {'yes' if inst.ticks_exact else 'no'}; "
                     f"warm start: {warm_name} ({greedy_value:.6g})")

        def report(objective: float | None, bound: float | None) -> None:
            if options.progress is not None:
                options.progress(Progress(self.key, time.perf_counter() - t_start, objective, bound))

        deadline = t_start + options.time_limit_s
        if len(workload) <= self.max_full_horizon_jobs:
            method = "cpsat full horizon"
            placed, cp_bound, optimal = self._full(inst, conv, plan, options, deadline, report, notes)
        else:
            placed, num_windows = self._windows(inst, plan, options, deadline, report, conv, notes)
            method = f"cpsat {num_windows} windows of {self.window_jobs} jobs"
            cp_bound, optimal = None, False
            notes.append("windowed: CP-SAT's bounds hold per window only; the bound is solvers.bounds'")

        schedule = _schedule(inst, placed, workload, cluster, ls)
        value = evaluate(schedule, workload, cluster, options.objective, options.gpu_catalog)
        if value > greedy_value * (1 + 1e-9):
            notes.append(f"CP-SAT's schedule ({value:.6g}) is worse than its warm start's ({greedy_value:.6g}); "
                         "kept the warm start")
            schedule, value, method, optimal = greedy, greedy_value, "greedy fallback", False

        t_bound = time.perf_counter()
        known = best_bound(workload, cluster, options)
        notes.append(f"best_bound took {time.perf_counter() - t_bound:.1f} s")
        if known is not None and known > value + 1e-6 * max(1.0, abs(value)):
            notes.append(f"ignored solvers.bounds' bound {known:.6g}: above this valid schedule's {value:.6g}")
            known = None
        bound = max((b for b in (cp_bound, known) if b is not None), default=None)
        if optimal and inst.exact:
            status = SolveStatus.optimal
            bound = value if bound is None else min(bound, value)
        elif bound is not None and value <= bound + 1e-9 * max(1.0, abs(value)):
            status = SolveStatus.optimal
        else:
            status = SolveStatus.feasible
            if optimal:
                notes.append("CP-SAT proved the tick model optimal, but rounding to ticks may hide a better "
                             "schedule, so it is reported feasible")
        wall = time.perf_counter() - t_start
        report(value, bound)
        return SolveResult(self.key, schedule, status, value, bound, relative_gap(value, bound), wall, method,
                           tuple(notes))

    def _full(
        self, inst: _Instance, conv: _Conversion, plan: _Plan, options: SolveOptions, deadline: float,
        report: Callable[[float | None, float | None], None], notes: list[str],
    ) -> tuple[list[_Placed], float | None, bool]:
        rows = list(range(len(inst.jobs)))
        hint = _best_fit(inst, rows, plan, _profiles(inst, []))
        built = _build(inst, inst.jobs, [], hint)
        report(conv.value(built.hint_value), None)
        limit_s = _limit_s(options, deadline, 1, 1)
        bound_ok = inst.spans_exact
        if not bound_ok:
            notes.append("spanning gangs are modelled at their slowest eligible type's speed, which may be "
                         "slower than the nodes they get: CP-SAT's bound and optimality proof are not used")
        on_solution = None
        if options.progress is not None:
            def on_solution(obj: float, bnd: float) -> None:
                report(conv.value(obj), conv.bound(bnd) if bound_ok else None)
        out = _run(built, options, limit_s, on_solution)
        if out.placed is None:
            notes.append(f"CP-SAT found no schedule in time ({out.status_name}); used the greedy hint")
            return hint, None, False
        assert out.model_bound is not None
        if not bound_ok:
            return list(out.placed), None, False
        return list(out.placed), conv.bound(out.model_bound), out.optimal

    def _windows(
        self, inst: _Instance, plan: _Plan, options: SolveOptions, deadline: float,
        report: Callable[[float | None, float | None], None], conv: _Conversion, notes: list[str],
    ) -> tuple[list[_Placed], int]:
        """Re-solve windows of `window_jobs` consecutive jobs of the incumbent's start order, every
        other job fixed, in two passes (the second shifted by half a window so that jobs at a
        border meet); the incumbent (first the greedy hint) is a feasible hint for each window,
        so no window makes the whole schedule worse. Returns the placements and the window count."""
        n, k = len(inst.jobs), self.window_jobs
        current = {p.row: p for p in _best_fit(inst, range(n), plan, _profiles(inst, []))}
        report(conv.value(_model_value(inst, list(current.values()))), None)
        offsets = (0, k // 2) if k > 1 else (0,)
        count = {off: len(range(off, n, k)) for off in offsets}
        total = sum(count.values())
        done = missed = 0
        for off in offsets:
            order = sorted(current, key=lambda r: (current[r].start, r))
            for a in range(off, n, k):
                rows = order[a:a + k]
                members = set(rows)
                hint = [current[r] for r in rows]
                others = [p for r, p in current.items() if r not in members]
                built = _build(inst, [inst.jobs[r] for r in rows], others, hint)
                out = _run(built, options, _limit_s(options, deadline, total - done, total), None)
                done += 1
                if out.placed is None:
                    missed += 1
                elif _model_value(inst, out.placed) <= built.hint_value:
                    current.update((p.row, p) for p in out.placed)
                if options.progress is not None:
                    report(conv.value(_model_value(inst, list(current.values()))), None)
        if missed:
            notes.append(f"CP-SAT found nothing in time in {missed} of {total} windows; kept the incumbent there")
        return list(current.values()), total


def _limit_s(options: SolveOptions, deadline: float, parts_left: int, parts: int) -> float:
    """CP-SAT's time for one of `parts` solves: the wall-clock time left shared among the solves
    left (at least a tenth of a fair share); in deterministic mode a fixed share, so that the
    result does not depend on the machine's speed."""
    share = options.time_limit_s / parts
    if options.deterministic:
        return share
    return max((deadline - time.perf_counter()) / parts_left, 0.1 * share)


__all__ = ["CpsatSolver", "TickGrid", "derive_tick_s"]
