"""Serial schedule generation: turn a priority order of jobs into a valid `Schedule`.

Every offline heuristic (greedy rules, SA, GA), the LP rounding and CP-SAT's warm start
decode job orders here, so the order is the only thing they search over. Each job in
turn goes to the eligible node where it *finishes* earliest (on nodes of equal speed,
where it starts earliest), at the earliest time >= its submit time at which `num_gpus`
of that node's GPUs are free for its whole run; ties go to the node left with the fewest
free GPUs (best fit), then to cluster order.

It is an *insertion* decoder: a job may fill a hole that earlier-placed jobs left on a
node, so every order decodes to an active schedule and some order decodes to an optimal
one for every objective that does not decrease when a job ends later. To stay fast, a
node's occupancy is kept as a step function of its free-GPU count (times and counts in
plain lists, `bisect` to find the release); concrete GPU ids are handed out afterwards,
node by node in start order. That is always possible because the count never exceeds the
node's size (greedy colouring is exact on interval graphs). A job searches its nodes in
cluster order and stops scanning a node once it could no longer beat the best node so far.

Scheduling is in whole GPUs: a job with `gpu_frac < 1` still gets its GPU to itself
(as in the simulator's placement). On GPU type T with speed factor f (`options.speed`)
a job runs `duration_s / f` seconds and its assignment says `work_s = duration_s`.
With `options.allow_span`, a gang larger than every eligible node takes GPUs on several
nodes (fewest nodes first: the ones with the most free GPUs over the window) and runs
`cross_node_slowdown` times slower, at the speed of the slowest type it uses.
Times are seconds.
"""

from __future__ import annotations

import heapq
import math
from bisect import bisect_left, bisect_right
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from simulator.gpu_catalog import GpuCatalog
from simulator.schedule import Assignment, Schedule
from solvers.base import Objective, SolveOptions
from solvers.objective import J_PER_KWH, busy_power_w, evaluate
from traces.cluster import Cluster
from traces.errors import UserError
from traces.model import Workload

_NEG_INF = -math.inf


def _allowed(gpu_types: tuple[str, ...], node_type: str) -> bool:
    return not gpu_types or node_type in gpu_types


def _mem_ok(job_mem_gib: float, node_mem_gib: float) -> bool:
    return math.isnan(job_mem_gib) or job_mem_gib <= node_mem_gib


def _fitting_nodes(workload: Workload, cluster: Cluster, row: int) -> list[int]:
    """Nodes whose GPU type is allowed and whose per-GPU memory is enough (any GPU count)."""
    code = int(workload.gpu_types.codes[row])
    types: tuple[str, ...] = () if code < 0 else tuple(workload.gpu_types.categories[code])
    mem = float(workload.gpu_mem_gib[row])
    return [i for i, nd in enumerate(cluster.nodes) if _allowed(types, nd.gpu_type) and _mem_ok(mem, nd.gpu_mem_gib)]


def _why_not(workload: Workload, cluster: Cluster, row: int, allow_span: bool) -> str | None:
    """Why job `row` fits no node (None when it fits one, or spans nodes under `allow_span`)."""
    need = int(workload.num_gpus[row])
    fitting = _fitting_nodes(workload, cluster, row)
    if any(cluster.nodes[i].num_gpus >= need for i in fitting):
        return None
    code = int(workload.gpu_types.codes[row])
    types: tuple[str, ...] = () if code < 0 else tuple(workload.gpu_types.categories[code])
    allowed = [nd for nd in cluster.nodes if _allowed(types, nd.gpu_type)]
    if not allowed:
        return f"it needs GPU type {' or '.join(types)} but the cluster has only {', '.join(cluster.gpu_types)}"
    if not fitting:
        biggest = max(nd.gpu_mem_gib for nd in allowed)
        mem = float(workload.gpu_mem_gib[row])
        return f"it needs {mem:g} GiB per GPU but the largest allowed GPU has {biggest:g} GiB"
    total = sum(cluster.nodes[i].num_gpus for i in fitting)
    if allow_span:
        if total >= need:
            return None
        return f"it needs {need} GPUs but the cluster has only {total} GPUs of an allowed type and memory"
    largest = max(cluster.nodes[i].num_gpus for i in fitting)
    return (f"it needs {need} GPUs on one node but the largest eligible node has {largest} "
            "(gangs may span nodes only when spanning is allowed)")


def check_solvable(workload: Workload, cluster: Cluster, options: SolveOptions) -> None:
    """Raise `UserError` naming the first job (submission order) that fits no node.

    A job fits a node of an allowed GPU type with enough per-GPU memory and at least
    `num_gpus` GPUs; with `options.allow_span` it is enough that such nodes (of any size)
    hold `num_gpus` GPUs together.
    """
    n = len(workload)
    if n == 0:
        return
    need = workload.num_gpus.astype(np.int64)
    # Fast path: one check per distinct (types, memory, GPU count) class.
    seen: dict[tuple[int, float, int], str | None] = {}
    codes = workload.gpu_types.codes.tolist()
    mems = workload.gpu_mem_gib.tolist()
    for row, (code, mem, k) in enumerate(zip(codes, mems, need.tolist(), strict=True)):
        key = (code, -1.0 if math.isnan(mem) else mem, k)
        if key not in seen:
            seen[key] = _why_not(workload, cluster, row, options.allow_span)
        why = seen[key]
        if why is not None:
            raise UserError(f"job {workload.job_id[row]} fits no node of this cluster: {why}")


def order_of(schedule: Schedule, workload: Workload) -> tuple[int, ...]:
    """Workload rows by their first start in `schedule` (ties and unscheduled jobs last, in
    workload order): the order whose decoding resembles `schedule`, for warm starts."""
    first: dict[str, float] = {}
    for a in schedule:
        if a.start_s < first.get(a.job_id, math.inf):
            first[a.job_id] = a.start_s
    ids = workload.job_id.tolist()
    return tuple(sorted(range(len(ids)), key=lambda r: (first.get(ids[r], math.inf), r)))


@dataclass(frozen=True, slots=True)
class Placement:
    """Where and when a decoded order runs each job, as arrays indexed by workload row.

    `node` is -1 for a job spanning nodes; its (node, GPU count) pairs are in `spans[row]`.
    """

    start_s: npt.NDArray[np.float64]
    end_s: npt.NDArray[np.float64]
    node: npt.NDArray[np.int64]
    spans: dict[int, tuple[tuple[int, int], ...]]


class ListScheduler:
    """Decodes job orders (workload rows, highest priority first) for one instance.

    Build once per solve (it precomputes eligibility and per-type run times) and call
    `decode` as often as needed; it keeps no state between calls.
    """

    def __init__(self, workload: Workload, cluster: Cluster, options: SolveOptions) -> None:
        check_solvable(workload, cluster, options)
        options.speed.check_types(cluster.gpu_types)
        self.workload = workload
        self.cluster = cluster
        self.options = options
        n = len(workload)
        self._n = n
        nodes = cluster.nodes
        self._node_size = [nd.num_gpus for nd in nodes]
        types = list(cluster.gpu_types)
        type_index = {t: i for i, t in enumerate(types)}
        self._node_type = [type_index[nd.gpu_type] for nd in nodes]
        self._submit: list[float] = workload.submit_s.tolist()
        self._duration: list[float] = workload.duration_s.tolist()
        self._need: list[int] = workload.num_gpus.tolist()

        # Speed factor per (model, type): models are few, so one row of factors per model.
        models = workload.model_name
        factor_rows: list[tuple[float, ...]] = []
        for code in range(-1, len(models.categories)):
            name = None if code < 0 else str(models.categories[code])
            factor_rows.append(tuple(options.speed.factor(t, name) for t in types))
        model_codes = models.codes.tolist()
        self._factors: list[tuple[float, ...]] = [factor_rows[c + 1] for c in model_codes]
        identity = all(f == 1.0 for row in factor_rows for f in row)
        # Run time per type: one shared tuple when every factor is 1.
        self._dur_by_type: list[tuple[float, ...]] = [
            (d,) * len(types) if identity else tuple(d / f for f in fs)
            for d, fs in zip(self._duration, self._factors, strict=True)
        ]

        # Eligible nodes per (types, memory, GPU count) class.
        classes: dict[tuple[int, float, int], tuple[tuple[int, ...], tuple[int, ...]]] = {}
        self._eligible: list[tuple[int, ...]] = []
        self._span_nodes: list[tuple[int, ...]] = []
        codes = workload.gpu_types.codes.tolist()
        mems = workload.gpu_mem_gib.tolist()
        for row in range(n):
            mem = mems[row]
            key = (codes[row], -1.0 if math.isnan(mem) else mem, self._need[row])
            found = classes.get(key)
            if found is None:
                fitting = _fitting_nodes(workload, cluster, row)
                whole = tuple(i for i in fitting if self._node_size[i] >= self._need[row])
                found = classes[key] = (whole, () if whole else tuple(fitting))
            self._eligible.append(found[0])
            self._span_nodes.append(found[1])
        self._catalog: GpuCatalog | None = options.gpu_catalog
        shortest = np.array(
            [min(self.duration_on(row, nd) for nd in self._eligible[row]) if self._eligible[row]
             else self._span_length(row, self._span_nodes[row]) for row in range(n)],
            dtype=np.float64,
        )
        shortest.setflags(write=False)
        self._min_duration = shortest

    # ----- queries ---------------------------------------------------------
    def eligible_nodes(self, row: int) -> tuple[int, ...]:
        """Node indices (cluster order) that can hold job `row` whole; for a job that must
        span nodes (`allow_span`), the nodes it may take GPUs on."""
        return self._eligible[row] or self._span_nodes[row]

    def duration_on(self, row: int, node: int) -> float:
        """Seconds job `row` runs on `node`'s GPU type (speed factor applied, no span slowdown)."""
        return self._dur_by_type[row][self._node_type[node]]

    def spans(self, row: int) -> bool:
        """Whether job `row` is larger than every eligible node and so must span nodes."""
        return not self._eligible[row]

    @property
    def min_duration_s(self) -> npt.NDArray[np.float64]:
        """Each job's run time on its fastest eligible node (span slowdown included), read-only."""
        return self._min_duration

    # ----- decoding --------------------------------------------------------
    def decode(self, order: Sequence[int]) -> Schedule:
        """The schedule for `order` (a permutation of the workload rows); every job placed."""
        return self.schedule_of(self.place(order))

    def decode_with_order_value(self, order: Sequence[int], objective: Objective) -> tuple[Schedule, float]:
        """The schedule for `order` and its objective (`solvers.objective.evaluate`)."""
        schedule = self.decode(order)
        return schedule, evaluate(schedule, self.workload, self.cluster, objective, self._catalog)

    def order_value(self, order: Sequence[int], objective: Objective) -> float:
        """The objective of `decode(order)` without building the `Schedule` (for searches).

        Equal to `evaluate` up to float summation order.
        """
        return self.value_of(self.place(order), objective)

    def place(self, order: Sequence[int]) -> Placement:
        """Start, end and node of every job for `order` (see the module docstring)."""
        n = self._n
        if len(order) != n:
            raise ValueError(f"an order must list all {n} workload rows once, got {len(order)} entries")
        seen = bytearray(n)
        # Per node: segment i = [times[i], times[i+1]) has free[i] GPUs free; the last
        # entry is a sentinel at +inf so that scans need no bounds checks.
        times: list[list[float]] = [[_NEG_INF, math.inf] for _ in self._node_size]
        free: list[list[int]] = [[m, m] for m in self._node_size]
        start = [0.0] * n
        end = [0.0] * n
        node_of = [-1] * n
        spans: dict[int, tuple[tuple[int, int], ...]] = {}
        submit, need, eligible = self._submit, self._need, self._eligible
        dur_by_type, node_type = self._dur_by_type, self._node_type
        inf = math.inf
        for row in order:
            if seen[row]:
                raise ValueError(f"row {row} appears twice in the order")
            seen[row] = 1
            r = submit[row]
            k = need[row]
            nodes = eligible[row]
            if not nodes:
                spans[row] = self._place_span(row, times, free, start, end)
                continue
            durs = dur_by_type[row]
            best_node = -1
            best_t = best_finish = inf
            best_left = 0
            for nd in nodes:
                d = durs[node_type[nd]]
                tn, fn = times[nd], free[nd]
                found = _earliest(tn, fn, r, k, d, best_finish - d)
                if found is None:
                    continue
                t, i = found
                finish = t + d
                left = fn[i] - k
                if finish < best_finish or (finish == best_finish and left < best_left):  # ties: cluster order
                    best_node, best_t, best_finish, best_left = nd, t, finish, left
            _occupy(times[best_node], free[best_node], best_t, best_finish, k)
            start[row] = best_t
            end[row] = best_finish
            node_of[row] = best_node
        return Placement(np.asarray(start), np.asarray(end), np.asarray(node_of, dtype=np.int64), spans)

    def _span_length(self, row: int, nodes: Sequence[int]) -> float:
        slowest = min(self._factors[row][self._node_type[nd]] for nd in nodes)
        return self._duration[row] / slowest * self.options.cross_node_slowdown

    def _place_span(
        self, row: int, times: list[list[float]], free: list[list[int]], start: list[float], end: list[float]
    ) -> tuple[tuple[int, int], ...]:
        """Place a gang across nodes at the earliest time enough GPUs are free on them together.

        The window is sized for the slowest eligible type; the run then takes the time of
        the slowest type it actually got, which is never longer, so the window still fits.
        """
        nodes = self._span_nodes[row]
        k = self._need[row]
        r = self._submit[row]
        window = self._span_length(row, nodes)
        candidates = sorted({r, *(t for nd in nodes for t in times[nd][:-1] if t > r)})
        for t in candidates:
            avail = [(_min_free(times[nd], free[nd], t, t + window), nd) for nd in nodes]
            if sum(a for a, _ in avail) < k:
                continue
            avail.sort(key=lambda x: (-x[0], x[1]))
            take: list[tuple[int, int]] = []
            left = k
            for a, nd in avail:
                if left == 0:
                    break
                c = min(a, left)
                if c > 0:
                    take.append((nd, c))
                    left -= c
            length = self._span_length(row, [nd for nd, _ in take])
            for nd, c in take:
                _occupy(times[nd], free[nd], t, t + length, c)
            start[row] = t
            end[row] = t + length
            return tuple(sorted(take))
        raise AssertionError("the last breakpoint leaves every GPU free")  # pragma: no cover

    def schedule_of(self, placement: Placement) -> Schedule:
        """Hand out concrete GPU ids node by node in start order and build the `Schedule`."""
        pieces: list[list[tuple[float, float, int, int]]] = [[] for _ in self._node_size]
        start = placement.start_s.tolist()
        end = placement.end_s.tolist()
        for row, nd in enumerate(placement.node.tolist()):
            if nd >= 0:
                pieces[nd].append((start[row], end[row], row, self._need[row]))
        for row, parts in placement.spans.items():
            for nd, c in parts:
                pieces[nd].append((start[row], end[row], row, c))
        gpus_of: dict[int, list[str]] = {}
        for nd, plist in enumerate(pieces):
            ids = self.cluster.nodes[nd].gpu_ids
            idle = list(range(self._node_size[nd]))
            busy: list[tuple[float, int, list[int]]] = []
            plist.sort()
            for s, e, row, c in plist:
                while busy and busy[0][0] <= s:
                    for g in heapq.heappop(busy)[2]:
                        heapq.heappush(idle, g)
                got = [heapq.heappop(idle) for _ in range(c)]
                heapq.heappush(busy, (e, row, got))
                gpus_of.setdefault(row, []).extend(ids[g] for g in sorted(got))
        job_ids = self.workload.job_id
        node = placement.node.tolist()
        out = []
        for row in range(self._n):
            nd = node[row]
            # At reference speed on one node the segment's length is its work.
            ref = nd >= 0 and self._factors[row][self._node_type[nd]] == 1.0
            work = None if ref else self._duration[row]
            out.append(Assignment(str(job_ids[row]), start[row], end[row], tuple(gpus_of[row]), work))
        return Schedule.of(out)

    # ----- objective ---------------------------------------------------------
    def value_of(self, placement: Placement, objective: Objective) -> float:
        """The objective of a placement, computed from its arrays (see `order_value`)."""
        wl = self.workload
        end = placement.end_s
        if objective is Objective.weighted_completion:
            return float(np.dot(wl.weight, end - wl.submit_s))
        if objective is Objective.makespan:
            return float(end.max()) if len(end) else 0.0
        if objective is Objective.weighted_tardiness:
            late = np.nan_to_num(end - wl.deadline_s, nan=0.0)
            return float(np.dot(wl.weight, np.maximum(late, 0.0)))
        if objective is Objective.energy:
            return self._energy_kwh(placement)
        raise ValueError(f"unknown objective {objective!r}")

    def _energy_kwh(self, placement: Placement) -> float:
        power = self._busy_w_by_node()
        length = (placement.end_s - placement.start_s).tolist()
        joules = 0.0
        for row, nd in enumerate(placement.node.tolist()):
            if nd >= 0:
                joules += length[row] * self._need[row] * power[nd]
        for row, parts in placement.spans.items():
            joules += length[row] * sum(c * power[nd] for nd, c in parts)
        return joules / J_PER_KWH

    def _busy_w_by_node(self) -> list[float]:
        return [busy_power_w(self._catalog, nd.gpu_type) for nd in self.cluster.nodes]


def _earliest(
    times: list[float], free: list[int], r: float, k: int, d: float, latest: float
) -> tuple[float, int] | None:
    """Earliest start t in [r, latest] with >= k GPUs free on [t, t + d), and the index of
    the profile segment holding t; None if there is none.

    `times[i]` starts segment i, which has `free[i]` GPUs free; the profile ends with a
    fully free sentinel at +inf, so a job that fits the node always ends the scan.
    """
    i = bisect_right(times, r) - 1
    t = r
    while t <= latest:
        stop = t + d
        j = i
        while free[j] >= k:
            j += 1
            if times[j] >= stop:
                return t, i
        i = j + 1  # segment j is too full: the next chance starts when it ends
        t = times[i]
    return None


def _min_free(times: list[float], free: list[int], t: float, stop: float) -> int:
    """Fewest free GPUs over [t, stop)."""
    i = bisect_right(times, t) - 1
    low = free[i]
    n = len(times)
    i += 1
    while i < n and times[i] < stop:
        low = min(low, free[i])
        i += 1
    return low


def _occupy(times: list[float], free: list[int], t: float, stop: float, k: int) -> None:
    """Take k GPUs on [t, stop): split the profile at both ends, lower the counts between."""
    i = bisect_left(times, t)
    if i == len(times) or times[i] != t:
        times.insert(i, t)
        free.insert(i, free[i - 1])
    j = bisect_left(times, stop, i)
    if j == len(times) or times[j] != stop:
        times.insert(j, stop)
        free.insert(j, free[j - 1])
    for x in range(i, j):
        free[x] -= k
    # Merge equal neighbours at both ends (the inside stays merged): a run of full
    # segments becomes one, so `_earliest` jumps over it in one step.
    if j < len(times) and free[j] == free[j - 1]:
        del times[j], free[j]
    if free[i] == free[i - 1]:
        del times[i], free[i]


__all__ = ["ListScheduler", "Placement", "check_solvable", "order_of"]
