"""Lower bounds on every objective, so that a solver's gap means something.

CP-SAT's own bound stalls at the trivial one from ~50 jobs; this module computes bounds
that hold for every schedule in which each job runs once, in one segment, never before
its release: the solvers' schedules and the simulator's non-preemptive ones, whose gangs
may also span nodes. Units are the objective's (seconds, or kWh for energy). Weighted
completion is `sum w_j (C_j - r_j)` (`Objective`), so bounds on `sum w_j C_j` are
reported less the constant `sum w_j r_j`.

Notation: `r_j` release (submit) time, `d_j` reference-GPU duration, `g_j` GPUs and `s_j`
the GPUs it occupies (`g_j * gpu_frac`: the solvers give a sharing job a whole GPU, but
the validator allows sharing, so areas use `s_j`). Nodes of equal (type, memory, size)
form a *pool* q of `G_q` GPUs. Job j may run on pool q when the type is allowed and the
memory fits; where q's nodes are too small for the gang it spans them, at least
`cross_node_slowdown` times slower under `allow_span` (and no slower otherwise, as the
simulator's default). Its least run time there is `p_jq = d_j / f_q` (f: `options.speed`,
the slowdown included), `p_j = min_q p_jq`, its least GPU area `a_j = s_j p_j`, and `M_j`
is the mean of its busy time, so `C_j >= M_j + p_j / 2`.

Three bounds; `best_bound` takes the largest:

1. Trivial (`trivial_bound`): every job on its fastest pool at its release:
   `sum w_j p_j`; makespan `max(max_j r_j + p_j, min_j r_j + sum_j a_j / G)`; weighted
   tardiness `sum w_j max(0, r_j + p_j - deadline_j)`; energy `sum_j min_q g_j p_jq busy_w(q)`.
2. Fluid (one fast machine; valid for preemptive schedules too). Run job j at the rate
   `a_j / (busy time) <= s_j` GPUs over its busy time: within any set U of pools, the jobs
   that can only use U never exceed `G_U` GPUs, so they form a preemptive schedule on one
   machine of speed `G_U` with sizes `a_j` and unchanged mean busy times. Makespan: that
   machine ends no earlier than processing everything as early as possible. Weighted
   completion: `sum_{j in S} a_j M_j >= f(S)` for every set S (f: the same sum when S alone
   runs as early as possible), and the dual solution on the chain of WSPT prefix sets shows
   that preemptive WSPT (largest `w_j / a_j` first, with release dates) gives a lower bound
   on `sum w_j M_j` (Goemans 1997, "Improved approximation algorithms for scheduling with
   release dates", SODA; Eastman, Even & Isaacs 1964 for identical machines without
   release dates). Jobs outside U keep `M_j >= r_j + p_j / 2`.
3. An interval-indexed start-time LP (Dyer & Wolsey 1990; Hall, Schulz, Shmoys & Wein 1997,
   "Scheduling to minimize average completion time", Math. OR 22), solved with GLOP. The
   time axis is cut into leaves at the releases, the `r_j + p_j`, the starts and ends of
   two list schedules and a uniform grid; a segment tree groups them. `y_jqu` is the
   fraction of job j that starts on pool q within tree node u = `[lo, hi)`
   (`lo >= r_j`); each job's start nodes partition `[r_j, end of grid)`, finer near its
   release (at most `START_REL` of the wait so far or `START_ABS` of its run time), and a
   capacity-free tail starts after the grid. A real schedule sets one y to 1 and obeys:
   (a) `sum y = 1`; (b) `C_j >= sum y (lo + p_jq)`; (c) rate: a job started in
   `[lo, hi)` is busy on all of `[hi, lo + p_jq)`, so on every leaf the GPUs surely busy
   (accumulated top-down over the nodes covering that range, pro rata on the partial
   leaf) stay <= `G_q`; (d) volume: its whole run lies in `[lo, hi + p_jq)`, so the GPU
   seconds of the runs that lie inside a tree node stay <= `G_q` x its length
   (accumulated bottom-up). The LP optimum of `sum w_j C_j`, of the makespan or of
   `sum w_j max(0, C_j - deadline_j)` is therefore a lower bound; a gang relaxes to
   `s_j` fluid GPUs on its pool (all pools pooled when a gang could straddle two). Geometric
   intervals from the first release (as in Hall et al.) lose `eps * t` of absolute time,
   which swamps JCTs on multi-day traces; the per-job resolution above does not. GLOP's
   value is lowered by `LP_SAFETY` (relative) to absorb its feasibility tolerance.

Any grid and start partition give a valid bound, only a weaker or stronger one, so the LP
size is capped (`MAX_INTERVALS`; the resolution coarsens beyond 500 jobs). The LP's
fractional schedule also orders jobs for the LP heuristic (`solvers.lp`, alpha-points).
Bounds 1 and 3 do not hold for preemptive (multi-segment) schedules; rejected jobs drop
out of `evaluate`'s sums, so no bound covers schedules that reject jobs.
"""

from __future__ import annotations

import heapq
import math
import time
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np
import numpy.typing as npt

from solvers.base import Objective, SolveOptions
from solvers.listsched import ListScheduler, check_solvable
from solvers.objective import J_PER_KWH, busy_power_w
from traces.cluster import Cluster
from traces.errors import UserError
from traces.model import Workload

if TYPE_CHECKING:
    from solvers.cpsat import pywraplp

FloatArray = npt.NDArray[np.float64]

MAX_INTERVALS = 1024  # grid intervals (the tail not counted)
UNIFORM_POINTS = 256  # evenly spaced grid points up to the horizon
START_REL = 0.2  # a start node is at most this fraction of the job's wait so far ...
START_ABS = 0.2  # ... or of its (or a median job's, if shorter) run time, whichever is longer
# (both x jobs / RESOLUTION_JOBS above that many jobs)
RESOLUTION_JOBS = 500
MIN_LEAF = 1e-6  # relative to the horizon: closer grid points are merged
LP_TIME_LIMIT_S = 30.0  # GLOP stops here; a stopped LP gives no bound
LP_SAFETY = 1e-6  # relative: the LP value is lowered this much before it is used as a bound


@dataclass(frozen=True, slots=True)
class _Pool:
    gpu_type: str
    num_gpus: int  # all GPUs of the pool's nodes


@dataclass(frozen=True, slots=True)
class _Jobs:
    """Per-row data the bounds need; `eligible[j]` and `run_s[j]` are aligned per pool."""

    submit_s: FloatArray
    weight: FloatArray
    deadline_s: FloatArray  # NaN: none
    share: FloatArray  # GPUs occupied (num_gpus x gpu_frac)
    num_gpus: FloatArray
    pools: tuple[_Pool, ...]
    eligible: tuple[tuple[int, ...], ...]
    run_s: tuple[tuple[float, ...], ...]
    min_run_s: FloatArray
    may_straddle: bool  # some gang could take GPUs of two pools at once

    def area(self, row: int, pools: frozenset[int] | None = None) -> float:
        """Least GPU-seconds of job `row` (on `pools` only, when given)."""
        runs = [p for q, p in zip(self.eligible[row], self.run_s[row], strict=True) if pools is None or q in pools]
        return float(self.share[row]) * min(runs)


def _jobs(workload: Workload, cluster: Cluster, options: SolveOptions) -> _Jobs:
    """Pools and per-job eligibility and run times; the instance must be solvable."""
    keys: dict[tuple[str, float, int], int] = {}
    sizes: list[int] = []
    for nd in cluster.nodes:
        q = keys.setdefault((nd.gpu_type, nd.gpu_mem_gib, nd.num_gpus), len(keys))
        if q == len(sizes):
            sizes.append(0)
        sizes[q] += nd.num_gpus
    pool_keys = list(keys)
    pools = tuple(_Pool(t, total) for (t, _, _), total in zip(pool_keys, sizes, strict=True))
    type_codes = workload.gpu_types.codes.tolist()
    model_codes = workload.model_name.codes.tolist()
    mems = workload.gpu_mem_gib.tolist()
    need = workload.num_gpus.tolist()
    durations = workload.duration_s.tolist()
    classes: dict[tuple[int, int, float, int], tuple[tuple[int, ...], tuple[float, ...]]] = {}
    slowdown = options.cross_node_slowdown if options.allow_span else 1.0
    eligible: list[tuple[int, ...]] = []
    factors: list[tuple[float, ...]] = []
    for row in range(len(workload)):
        mem = mems[row]
        key = (type_codes[row], model_codes[row], -1.0 if math.isnan(mem) else mem, need[row])
        found = classes.get(key)
        if found is None:
            code, model_code = type_codes[row], model_codes[row]
            allowed: tuple[str, ...] = () if code < 0 else tuple(workload.gpu_types.categories[code])
            model = None if model_code < 0 else str(workload.model_name.categories[model_code])
            fitting = [q for q, (t, m, _) in enumerate(pool_keys)
                       if (not allowed or t in allowed) and (math.isnan(mem) or mem <= m)]
            # Any fitting pool: the simulator spans gangs across nodes even where the solvers
            # may not, and on a pool of smaller nodes a gang must span (slower under allow_span).
            found = (tuple(fitting), tuple(
                options.speed.factor(pool_keys[q][0], model) / (1.0 if pool_keys[q][2] >= need[row] else slowdown)
                for q in fitting
            ))
            classes[key] = found
        eligible.append(found[0])
        factors.append(found[1])
    run_s = tuple(tuple(d / f for f in fs) for d, fs in zip(durations, factors, strict=True))
    return _Jobs(
        submit_s=workload.submit_s.astype(np.float64),
        weight=workload.weight.astype(np.float64),
        deadline_s=workload.deadline_s.astype(np.float64),
        share=(workload.num_gpus * workload.gpu_frac).astype(np.float64),
        num_gpus=workload.num_gpus.astype(np.float64),
        pools=pools,
        eligible=tuple(eligible),
        run_s=run_s,
        min_run_s=np.array([min(r) for r in run_s], dtype=np.float64),
        may_straddle=any(g > 1 and len(e) > 1 for g, e in zip(need, eligible, strict=True)),
    )


def _pool_sets(jobs: _Jobs) -> list[frozenset[int]]:
    """The pool sets worth a fluid bound: each job's eligible set, and all pools."""
    sets = dict.fromkeys(frozenset(e) for e in jobs.eligible)
    sets[frozenset(range(len(jobs.pools)))] = None
    return list(sets)


def _members(jobs: _Jobs, pools: frozenset[int]) -> list[int]:
    return [j for j, e in enumerate(jobs.eligible) if pools.issuperset(e)]


def _capacity(jobs: _Jobs, pools: frozenset[int]) -> int:
    return sum(jobs.pools[q].num_gpus for q in pools)


# ----- trivial ------------------------------------------------------------------


def trivial_bound(workload: Workload, cluster: Cluster, options: SolveOptions) -> float:
    """The per-job bound for `options.objective` (module docstring, bound 1).

    `UserError` for a job that fits no node, and for energy when the GPU catalog lacks a
    power figure for an eligible type (as `evaluate` would).
    """
    check_solvable(workload, cluster, options)
    options.speed.check_types(cluster.gpu_types)
    if len(workload) == 0:
        return 0.0
    return _trivial(_jobs(workload, cluster, options), options)


def _trivial(jobs: _Jobs, options: SolveOptions) -> float:
    objective = options.objective
    r, w, p = jobs.submit_s, jobs.weight, jobs.min_run_s
    if objective is Objective.weighted_completion:
        return float(np.dot(w, p))
    if objective is Objective.makespan:
        area = sum(jobs.area(j) for j in range(len(r)))
        return max(float(np.max(r + p)), float(np.min(r)) + area / _capacity(jobs, frozenset(range(len(jobs.pools)))))
    if objective is Objective.weighted_tardiness:
        late = np.nan_to_num(r + p - jobs.deadline_s, nan=0.0)
        return float(np.dot(w, np.maximum(late, 0.0)))
    if objective is Objective.energy:
        busy_w = [busy_power_w(options.gpu_catalog, pool.gpu_type) for pool in jobs.pools]
        joules: float = sum(
            g * min(p_q * busy_w[q] for q, p_q in zip(e, runs, strict=True))
            for g, e, runs in zip(jobs.num_gpus.tolist(), jobs.eligible, jobs.run_s, strict=True)
        )
        return joules / J_PER_KWH
    raise ValueError(f"unknown objective {objective!r}")


# ----- fluid (single fast machine) -----------------------------------------------------


def _fluid_makespan(jobs: _Jobs) -> float:
    """The latest, over pool sets U, time by which U's jobs could be done at rate `G_U`."""
    best = -math.inf
    for pools in _pool_sets(jobs):
        members = sorted(_members(jobs, pools), key=lambda j: jobs.submit_s[j])
        capacity = _capacity(jobs, pools)
        t = -math.inf
        for j in members:
            t = max(t, float(jobs.submit_s[j])) + jobs.area(j, pools) / capacity
        best = max(best, t)
    return best


def _wspt_mean_busy(jobs: _Jobs, members: list[int], pools: frozenset[int]) -> float:
    """`sum w_j M_j` of preemptive WSPT on one machine of speed `G_U` (Goemans 1997)."""
    capacity = float(_capacity(jobs, pools))
    r = jobs.submit_s
    origin = float(np.min(r[members]))  # times relative to it, for precision
    area = {j: jobs.area(j, pools) for j in members}
    arrivals = sorted(members, key=lambda j: (r[j], j))
    left = dict(area)
    ready: list[tuple[float, int]] = []
    total = 0.0
    t = 0.0
    i = 0
    while i < len(arrivals) or ready:
        if not ready:
            t = max(t, float(r[arrivals[i]]) - origin)
        while i < len(arrivals) and float(r[arrivals[i]]) - origin <= t:
            j = arrivals[i]
            heapq.heappush(ready, (-float(jobs.weight[j]) / area[j], j))
            i += 1
        j = ready[0][1]
        next_release = float(r[arrivals[i]]) - origin if i < len(arrivals) else math.inf
        finish = t + left[j] / capacity
        end = min(finish, next_release)
        # This piece's share of j's mean busy time: (area done / a_j) x its mid-point.
        total += float(jobs.weight[j]) * (end - t) * capacity / area[j] * (end + t) / 2
        if finish <= next_release:
            heapq.heappop(ready)
        else:
            left[j] -= (end - t) * capacity
        t = end
    return total + origin * float(np.sum(jobs.weight[members]))


def _fluid_completion(jobs: _Jobs) -> float:
    """Bound 2 for weighted completion (JCT form): the best over pool sets."""
    w, r, p = jobs.weight, jobs.submit_s, jobs.min_run_s
    half = float(np.dot(w, p)) / 2
    per_job = w * (r + p / 2)  # M_j >= r_j + p_j / 2 for the jobs outside U
    best = -math.inf
    for pools in _pool_sets(jobs):
        members = _members(jobs, pools)
        outside = np.ones(len(r), dtype=bool)
        outside[members] = False
        mean_busy = _wspt_mean_busy(jobs, members, pools) + float(np.sum(per_job[outside]))
        best = max(best, mean_busy + half - float(np.dot(w, r)))
    return best


# ----- the interval-indexed LP ------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class LpRelaxation:
    """The LP's optimum (bound 3) and its fractional schedule.

    `value`: the LP optimum in the objective's units; `bound`: `value` lowered by
    `LP_SAFETY`, safe to use as a lower bound. `completion_s`: each row's LP completion
    time. The fractional schedule is kept as pieces (row, start, fraction of the job that
    starts then, its run time there), for `alpha_points`. `num_intervals`: grid leaves.
    """

    objective: Objective
    value: float
    bound: float
    completion_s: FloatArray
    piece_row: npt.NDArray[np.int64]
    piece_start_s: FloatArray
    piece_frac: FloatArray
    piece_run_s: FloatArray
    num_intervals: int
    num_columns: int
    num_rows: int
    wall_s: float

    def alpha_points(self, alpha: float) -> FloatArray:
        """Per row, the earliest time by which the LP has done fraction `alpha` of the job
        (each fractional start running its whole run time; Hall et al.'s alpha-points)."""
        if not 0 < alpha <= 1:
            raise ValueError(f"alpha must be in (0, 1], got {alpha!r}")
        out = self.completion_s.copy()
        order = np.argsort(self.piece_row, kind="stable")
        rows = self.piece_row[order]
        bounds = np.searchsorted(rows, np.arange(len(out) + 1))
        for row in range(len(out)):
            sel = order[bounds[row]:bounds[row + 1]]
            start, run, frac = self.piece_start_s[sel], self.piece_run_s[sel], self.piece_frac[sel]
            times = np.unique(np.concatenate([start, start + run]))
            done = np.array([np.dot(frac, np.clip((t - start) / run, 0.0, 1.0)) for t in times])
            k = int(np.searchsorted(done, alpha * (1 - 1e-9)))
            if k == 0:
                out[row] = times[0]
            elif k < len(times):
                t0, t1, d0, d1 = times[k - 1], times[k], done[k - 1], done[k]
                out[row] = t0 + (t1 - t0) * (alpha - d0) / (d1 - d0) if d1 > d0 else t1
        return out


def _grid(jobs: _Jobs, origin: float, unit: float, events_s: FloatArray) -> FloatArray:
    """Grid points (scaled time): releases, release + least run time, `events_s` (a list
    schedule's starts and ends) and a uniform grid up to the last of them."""
    r = (jobs.submit_s - origin) / unit
    events = (events_s - origin) / unit
    horizon = max(float(np.max(events)), float(np.max(r + jobs.min_run_s / unit)))
    pts = np.concatenate([r, r + jobs.min_run_s / unit, events, np.linspace(0.0, horizon, UNIFORM_POINTS)])
    pts = np.unique(pts[(pts >= 0) & (pts <= horizon)])
    pts = pts[np.concatenate([[True], np.diff(pts) > MIN_LEAF * max(horizon, 1.0)])]
    if len(pts) > MAX_INTERVALS + 1:
        pts = pts[np.unique(np.round(np.linspace(0, len(pts) - 1, MAX_INTERVALS + 1)).astype(np.int64))]
    grid: FloatArray = pts
    return grid


def _list_events(workload: Workload, cluster: Cluster, options: SolveOptions) -> FloatArray:
    """Starts and ends of two list schedules (WSPT and FCFS orders): where the grid needs points."""
    scheduler = ListScheduler(workload, cluster, options)
    n = len(workload)
    ratio = workload.weight / (scheduler.min_duration_s * workload.num_gpus)
    orders = [np.lexsort((np.arange(n), -ratio)), np.arange(n)]
    placed = [scheduler.place(order.tolist()) for order in orders]
    return np.concatenate([x for pl in placed for x in (pl.start_s, pl.end_s)])


def solve_relaxation(
    workload: Workload, cluster: Cluster, options: SolveOptions, objective: Objective | None = None
) -> LpRelaxation | None:
    """Solve the interval-indexed LP (module docstring, bound 3) for `objective` (default:
    `options.objective`); None for energy (time does not enter it), an empty workload, or
    when GLOP stops without an optimum. `UserError` for a job that fits no node."""
    objective = options.objective if objective is None else objective
    check_solvable(workload, cluster, options)
    options.speed.check_types(cluster.gpu_types)
    if objective is Objective.energy or len(workload) == 0:
        return None
    jobs = _jobs(workload, cluster, options)
    events = _list_events(workload, cluster, options)
    return _solve_lp(jobs, objective, options.time_limit_s, events)


def _glop() -> Any:
    """OR-Tools' `pywraplp`, imported on first use through the OR-Tools door (`solvers.cpsat`
    refuses to load OR-Tools after TensorFlow, which would crash it)."""
    from solvers.cpsat import pywraplp

    return pywraplp


@dataclass(frozen=True, slots=True)
class _Tree:
    """A segment tree over the grid's intervals (leaves): node i covers leaves [first[i], stop[i])."""

    first: list[int]
    stop: list[int]
    children: list[tuple[int, int] | None]
    parent: list[int]  # -1 for the root

    @staticmethod
    def over(num_leaves: int) -> _Tree:
        first, stop, parent = [0], [num_leaves], [-1]
        children: list[tuple[int, int] | None] = [None]
        todo = [0]
        while todo:
            i = todo.pop()
            if stop[i] - first[i] > 1:
                mid = (first[i] + stop[i]) // 2
                kids = []
                for a, b in ((first[i], mid), (mid, stop[i])):
                    kids.append(len(first))
                    first.append(a)
                    stop.append(b)
                    children.append(None)
                    parent.append(i)
                    todo.append(kids[-1])
                children[i] = (kids[0], kids[1])
        return _Tree(first, stop, children, parent)

    def cover(self, a: int, b: int) -> list[int]:
        """The fewest nodes partitioning leaves [a, b), in time order."""
        out: list[int] = []
        todo = [0]
        while todo:
            i = todo.pop()
            if self.stop[i] <= a or self.first[i] >= b:
                continue
            kids = self.children[i]
            if (a <= self.first[i] and self.stop[i] <= b) or kids is None:
                out.append(i)
            else:
                todo.extend((kids[1], kids[0]))  # left child first
        return out


def _starts(
    tree: _Tree, leaf_node: list[int], pts: FloatArray, k0: int, release: float, rel: float, min_len: float
) -> list[int]:
    """Start nodes of a job released in leaf k0, in time order: at each point the largest tree
    node no longer than `max(rel x the wait so far, min_len)`, so start times are resolved
    relative to the job's own wait and size."""
    out = []
    a = k0
    while a < len(leaf_node):
        node = leaf_node[a]
        limit = max(rel * (float(pts[a]) - release), min_len)
        while True:
            up = tree.parent[node]
            if up < 0 or tree.first[up] != a or float(pts[tree.stop[up]] - pts[a]) > limit:
                break
            node = up
        out.append(node)
        a = tree.stop[node]
    return out


def _smallest_node(tree: _Tree, leaf_node: list[int], a: int, b: int) -> int:
    """The smallest tree node holding leaves [a, b)."""
    node = leaf_node[a]
    while tree.stop[node] < b:
        node = tree.parent[node]
    return node


def _solve_lp(jobs: _Jobs, objective: Objective, time_limit_s: float, events_s: FloatArray) -> LpRelaxation | None:
    t0 = time.perf_counter()
    lp = _glop()
    n = len(jobs.submit_s)
    origin = float(np.min(jobs.submit_s))
    unit = max(float(np.mean(jobs.min_run_s)), 1e-9)  # scaled times keep GLOP's numbers near 1
    r = (jobs.submit_s - origin) / unit
    eligible: list[tuple[int, ...]]
    runs: list[tuple[float, ...]]
    if jobs.may_straddle:  # a gang may take GPUs of several pools: pool them all (a relaxation)
        capacities = [float(sum(pool.num_gpus for pool in jobs.pools))]
        eligible = [(0,)] * n
        runs = [(float(pj) / unit,) for pj in jobs.min_run_s]
    else:
        capacities = [float(pool.num_gpus) for pool in jobs.pools]
        eligible = list(jobs.eligible)
        runs = [tuple(x / unit for x in rs) for rs in jobs.run_s]
    pts = _grid(jobs, origin, unit, events_s)
    num_leaves = len(pts) - 1
    tree = _Tree.over(num_leaves)
    coarse = max(1.0, n / RESOLUTION_JOBS)
    # Start times resolve to START_ABS of a job's run time, but no coarser than of a typical
    # job's: a long job's imprecise start could otherwise hide whole short jobs beside it.
    typical = float(np.median([min(rs) for rs in runs]))
    leaf_node = [0] * num_leaves
    for i, kids in enumerate(tree.children):
        if kids is None:
            leaf_node[tree.first[i]] = i

    solver = lp.Solver.CreateSolver("GLOP")
    inf = solver.infinity()
    # Capacity, top-down: acc[q][i] = GPUs surely busy on pool q over all of node i, i.e. the
    # rates placed on i and on its ancestors; every leaf keeps it <= the pool's GPUs.
    acc = [[solver.NumVar(0.0, inf, "") if kids is not None else None for kids in tree.children]
           for _ in capacities]
    node_rows = []
    for q, cap in enumerate(capacities):
        rows_q = []
        for i, par in enumerate(tree.parent):
            if tree.children[i] is None:
                row = solver.Constraint(-inf, cap)  # a leaf: what is busy on it fits
            else:
                row = solver.Constraint(0.0, 0.0)
            if tree.children[i] is None:
                if par >= 0:
                    row.SetCoefficient(acc[q][par], 1.0)
            else:
                row.SetCoefficient(acc[q][i], 1.0)
                if par >= 0:
                    row.SetCoefficient(acc[q][par], -1.0)
            rows_q.append(row)
        node_rows.append(rows_q)
    sign = [-1.0 if kids is not None else 1.0 for kids in tree.children]  # direct rates: into acc, or the leaf
    # Volume, bottom-up: vol[q][i] = GPU-seconds of runs that lie wholly inside node i, at
    # most its length times the pool's GPUs.
    volume_rows = []
    for cap in capacities:
        vol = [solver.NumVar(0.0, cap * float(pts[b] - pts[a]), "") for a, b in zip(tree.first, tree.stop, strict=True)]
        rows_q = []
        for i, kids in enumerate(tree.children):
            row = solver.Constraint(0.0, 0.0)
            row.SetCoefficient(vol[i], 1.0)
            if kids is not None:
                row.SetCoefficient(vol[kids[0]], -1.0)
                row.SetCoefficient(vol[kids[1]], -1.0)
            rows_q.append(row)
        volume_rows.append(rows_q)

    completion_terms: list[list[tuple[pywraplp.Variable, float]]] = []
    pieces: list[tuple[int, float, float, pywraplp.Variable]] = []  # row, start, run, y
    first = np.searchsorted(pts, r, side="right") - 1
    for j in range(n):
        rj = float(r[j])
        share = float(jobs.share[j])
        assign = solver.Constraint(1.0, 1.0)
        terms = []
        k0 = int(first[j])
        min_len = coarse * START_ABS * min(min(runs[j]), typical)
        for node in _starts(tree, leaf_node, pts, k0, rj, coarse * START_REL, min_len):
            a, b = tree.first[node], tree.stop[node]
            lo = max(float(pts[a]), rj)
            hi = float(pts[b])
            for q, run in zip(eligible[j], runs[j], strict=True):
                y = solver.NumVar(0.0, 1.0, "")
                assign.SetCoefficient(y, 1.0)
                terms.append((y, lo + run))
                pieces.append((j, lo, run, y))
                # Its whole run lies in [lo, hi + run): the volume of the smallest node holding it.
                last = int(np.searchsorted(pts, hi + run, side="left"))  # leaves [a, last) hold it
                if last <= num_leaves:
                    u = _smallest_node(tree, leaf_node, a, last)
                    volume_rows[q][u].SetCoefficient(y, -share * run)
                end = lo + run  # surely busy on [hi, end) whatever the start in [lo, hi)
                if end <= hi:
                    continue
                e = int(np.searchsorted(pts, end, side="right")) - 1  # the leaf holding `end`
                for u in tree.cover(b, min(e, num_leaves)):
                    node_rows[q][u].SetCoefficient(y, sign[u] * share)
                frac = (end - float(pts[e])) / float(pts[e + 1] - pts[e]) if e < num_leaves else 0.0
                if frac > 1e-9:
                    leaf = leaf_node[e]
                    node_rows[q][leaf].SetCoefficient(y, share * frac)
        # Past the grid: no capacity.
        tail = solver.NumVar(0.0, 1.0, "")
        assign.SetCoefficient(tail, 1.0)
        terms.append((tail, float(pts[-1]) + min(runs[j])))
        pieces.append((j, float(pts[-1]), min(runs[j]), tail))
        completion_terms.append(terms)

    w = jobs.weight
    objective_fn = solver.Objective()
    if objective is Objective.weighted_completion:
        for j, terms in enumerate(completion_terms):
            for y, c in terms:
                objective_fn.SetCoefficient(y, float(w[j]) * c)
        offset = float(np.dot(w, r))
        scale = float(np.sum(w))
    elif objective is Objective.makespan:
        cmax = solver.NumVar(0.0, inf, "cmax")
        for terms in completion_terms:
            row = solver.Constraint(0.0, inf)
            row.SetCoefficient(cmax, 1.0)
            for y, c in terms:
                row.SetCoefficient(y, -c)
        objective_fn.SetCoefficient(cmax, 1.0)
        offset = -origin / unit
        scale = 1.0
    elif objective is Objective.weighted_tardiness:
        for j in np.flatnonzero(~np.isnan(jobs.deadline_s)).tolist():
            late = solver.NumVar(0.0, inf, "")
            row = solver.Constraint(-(float(jobs.deadline_s[j]) - origin) / unit, inf)
            row.SetCoefficient(late, 1.0)
            for y, c in completion_terms[j]:
                row.SetCoefficient(y, -c)
            objective_fn.SetCoefficient(late, float(w[j]))
        offset = 0.0
        scale = float(np.sum(w))
    else:
        raise ValueError(f"no LP for objective {objective!r}")
    objective_fn.SetMinimization()
    solver.SetTimeLimit(int(1000 * min(time_limit_s, LP_TIME_LIMIT_S)))
    status = solver.Solve()
    if status == lp.Solver.ABNORMAL:  # GLOP's scaling trips on some degenerate grids; retry once without
        solver.SetSolverSpecificParametersAsString("use_scaling: false")
        status = solver.Solve()
    if status != lp.Solver.OPTIMAL:
        return None
    value = unit * (objective_fn.Value() - offset)
    bound = value - LP_SAFETY * (abs(value) + unit * scale)

    completion_s = np.array([origin + unit * sum(y.solution_value() * c for y, c in terms)
                             for terms in completion_terms], dtype=np.float64)
    kept = [(j, lo, run, y.solution_value()) for j, lo, run, y in pieces]
    kept = [k for k in kept if k[3] > 1e-12]
    return LpRelaxation(
        objective=objective,
        value=value,
        bound=bound,
        completion_s=completion_s,
        piece_row=np.array([k[0] for k in kept], dtype=np.int64),
        piece_start_s=origin + unit * np.array([k[1] for k in kept], dtype=np.float64),
        piece_run_s=unit * np.array([k[2] for k in kept], dtype=np.float64),
        piece_frac=np.array([k[3] for k in kept], dtype=np.float64),
        num_intervals=num_leaves,
        num_columns=solver.NumVariables(),
        num_rows=solver.NumConstraints(),
        wall_s=time.perf_counter() - t0,
    )


# ----- the best of them --------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class BoundReport:
    """Every bound computed for one instance and objective; `best` is the largest.
    `fluid` is None where bound 2 does not apply (tardiness, energy); `lp` is None where the
    LP was not solved (energy, or GLOP stopped)."""

    objective: Objective
    trivial: float
    fluid: float | None
    lp: LpRelaxation | None

    @property
    def best(self) -> float:
        candidates = [self.trivial, self.fluid, None if self.lp is None else self.lp.bound]
        return max(c for c in candidates if c is not None)


def bound_report(workload: Workload, cluster: Cluster, options: SolveOptions, *, use_lp: bool = True) -> BoundReport:
    """Bounds 1-3 for `options.objective` (`use_lp=False`: skip the LP). `UserError` as
    `trivial_bound`."""
    check_solvable(workload, cluster, options)
    options.speed.check_types(cluster.gpu_types)
    objective = options.objective
    if len(workload) == 0:
        return BoundReport(objective, 0.0, None, None)
    jobs = _jobs(workload, cluster, options)
    trivial = _trivial(jobs, options)
    fluid: float | None = None
    if objective is Objective.weighted_completion:
        fluid = _fluid_completion(jobs)
    elif objective is Objective.makespan:
        fluid = _fluid_makespan(jobs)
    lp = None
    if use_lp and objective is not Objective.energy:
        events = _list_events(workload, cluster, options)
        lp = _solve_lp(jobs, objective, options.time_limit_s, events)
    return BoundReport(objective, trivial, fluid, lp)


def best_bound(workload: Workload, cluster: Cluster, options: SolveOptions) -> float | None:
    """The largest valid lower bound known on `options.objective` for any schedule that runs
    every job; None when no such schedule exists (a job fits no node)."""
    try:
        check_solvable(workload, cluster, options)
    except UserError:
        return None
    return bound_report(workload, cluster, options).best


__all__ = [
    "LP_SAFETY",
    "BoundReport",
    "LpRelaxation",
    "best_bound",
    "bound_report",
    "solve_relaxation",
    "trivial_bound",
]
