"""`cpsat-rolling`: the online counterpart of the offline CP-SAT schedule, as a simulator policy.

At a decision epoch (the engine asks while jobs wait and a GPU is free) the policy plans
the first `max_jobs` queued jobs in WSPT order (least GPU-seconds per unit of weight first,
so, like SJF, it can starve big jobs under sustained overload) with a small CP-SAT model and a short
`time_limit_s`, then commits only what the plan starts *now*; later epochs re-plan. The
model: per queued job one optional interval per node it may use (type, memory and GPU
count fit; run time = remaining work / the node type's speed factor, plus the restart
overhead for a requeued job), exactly one chosen; per node a cumulative constraint whose
capacity is the node's GPUs that are free or held by running jobs, with the running jobs
as fixed intervals until their expected end; minimise sum of weight x completion (the
weighted JCT of the planned jobs). Time is in integer ticks from now (durations rounded
up, so a plan never needs a GPU before it is free). GPUs held by a failed node are left
out until it is back.

When every window job fits on GPUs free now there is nothing to plan: they all start at
once (best fit). On a large cluster a plan considers only the `MAX_NODES` nodes with the
most free GPUs now (then the earliest to drain), to keep each model small.

Re-planning is lazy: the plan is followed (its due jobs started, `next_wakeup_s` set to its
next start) until one of the first `max_jobs` queued jobs is not in it (an arrival), a due
job cannot start on its node (a failure, or a start the plan did not foresee), or the
engine asks at a time the plan did not expect to change anything. When CP-SAT finds
nothing in time, the epoch falls back to FCFS with the run's placement (counted in
`notes`). Jobs larger than every node are started by that fallback too (spanning nodes
through the placement), never planned.

Registered in `simulator.policies.POLICIES` when this module is imported (the simulator
must not import solvers): `gpusched simulate` imports it; library users
`import solvers.rolling` first.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any, ClassVar

from simulator.policies import register_policy
from simulator.policies.base import ClusterView, Decision, JobState, RunContext, Start
from solvers.cpsat import cp_model

MAX_TICKS = 1_000_000  # horizon resolution: ticks per planning horizon at most
MAX_NODES = 32  # nodes a plan considers: the most free GPUs now, then the earliest to drain


class CpsatRollingPolicy:
    """Re-plan the first `max_jobs` queued jobs with CP-SAT; start what the plan starts now.

    `time_limit_s` is CP-SAT's deterministic time per epoch (its work units, about seconds
    on a typical core), so the same inputs give the same run; `workers` > 1 searches in
    parallel but is no longer reproducible.
    """

    key: ClassVar[str] = "cpsat-rolling"
    preemptive: ClassVar[bool] = False

    def __init__(self, max_jobs: int = 8, time_limit_s: float = 0.01, workers: int = 1) -> None:
        if isinstance(max_jobs, bool) or not isinstance(max_jobs, int) or max_jobs < 1:
            raise ValueError(f"max_jobs must be an integer >= 1, got {max_jobs!r}")
        if not (0 < float(time_limit_s) < math.inf):
            raise ValueError(f"time_limit_s must be a finite number > 0, got {time_limit_s!r}")
        if isinstance(workers, bool) or not isinstance(workers, int) or workers < 1:
            raise ValueError(f"workers must be an integer >= 1, got {workers!r}")
        self.max_jobs = max_jobs
        self.time_limit_s = float(time_limit_s)
        self.workers = workers
        self.notes: list[str] = []

    def bind(self, ctx: RunContext) -> None:
        self.ctx = ctx
        self._nodes = ctx.cluster.nodes
        self._node_of = {g: k for k, n in enumerate(self._nodes) for g in n.gpu_ids}
        self._max_node = max(n.num_gpus for n in self._nodes)
        self._plan: dict[str, tuple[float, int]] = {}  # job id -> (planned start, node)
        self._planned_at = -math.inf
        self.num_solves = 0
        self.num_fallbacks = 0
        self.num_optimal = 0

    def rank(self, job: JobState) -> tuple[Any, ...]:
        # The window is the queue's head in WSPT order (GPU-seconds per unit of weight): the
        # jobs that matter most for the weighted JCT. Ties: arrival order.
        return (job.remaining_work_s * job.job.num_gpus / job.job.weight,)

    # ----- deciding -------------------------------------------------------------------
    def decide(self, view: ClusterView) -> Sequence[Decision]:
        now = view.now_s
        window = []
        for state in view.queue():
            window.append(state)
            if len(window) >= self.max_jobs:
                break
        if not window:
            return ()
        big = [s for s in window if s.job.num_gpus > self._max_node]
        if big:  # cannot be planned on one node: start the oldest through the placement
            return self._fallback(view, big[:1])
        quick = self._all_fit_now(view, window)
        if quick is not None:  # no contention: starting every window job now is what a plan would do
            self._plan = {}
            return quick
        stale = any(s.job.job_id not in self._plan for s in window) or now != self._planned_at
        if stale and not self._due_startable(view, window, now):
            if not self._replan(view, window, now):
                self.num_fallbacks += 1
                return self._fallback(view, window)
        return self._start_due(view, window, now)

    def next_wakeup_s(self, view: ClusterView) -> float | None:
        now = view.now_s
        later = [t for t, _ in self._plan.values() if t > now]
        return min(later) if later else None

    def _all_fit_now(self, view: ClusterView, window: list[JobState]) -> list[Decision] | None:
        """Starts for every window job on GPUs free now (best fit: the eligible node with the
        fewest free GPUs that suffice), or None if some job would have to wait."""
        free_ids = {self._node_of[ids[0]]: list(ids) for ids in view.free_gpus().values()}
        out: list[Decision] = []
        for s in window:
            fits = [k for k, ids in free_ids.items() if len(ids) >= s.job.num_gpus and self._eligible(s, k)]
            if not fits:
                return None
            k = min(fits, key=lambda n: (len(free_ids[n]), n))
            take, free_ids[k] = free_ids[k][: s.job.num_gpus], free_ids[k][s.job.num_gpus:]
            out.append(Start(s.job.job_id, tuple(take)))
        return out

    # ----- the plan -------------------------------------------------------------------
    def _due_startable(self, view: ClusterView, window: list[JobState], now: float) -> bool:
        """Whether the current plan still holds: every window job is planned and every due one fits now."""
        if any(s.job.job_id not in self._plan for s in window):
            return False
        free = self._free_per_node(view)
        for s in window:
            t, node = self._plan[s.job.job_id]
            if t <= now:
                if free[node] < s.job.num_gpus:
                    return False
                free[node] -= s.job.num_gpus
        return True

    def _start_due(self, view: ClusterView, window: list[JobState], now: float) -> list[Decision]:
        free_ids = {node: list(ids) for node, ids in view.free_gpus().items()}
        out: list[Decision] = []
        for s in window:
            planned = self._plan.get(s.job.job_id)
            if planned is None or planned[0] > now:
                continue
            node_id = self._nodes[planned[1]].node_id
            ids = free_ids.get(node_id, [])
            if len(ids) < s.job.num_gpus:
                continue  # the next epoch re-plans
            take, free_ids[node_id] = ids[: s.job.num_gpus], ids[s.job.num_gpus:]
            out.append(Start(s.job.job_id, tuple(take)))
            del self._plan[s.job.job_id]
        return out

    def _fallback(self, view: ClusterView, window: list[JobState]) -> list[Decision]:
        """FCFS with the run's placement for this epoch (no plan)."""
        self._plan = {}
        head = window[0]
        ids = view.place(head.job)
        if ids is None:
            return []
        if not any("fallback" in n for n in self.notes):
            self.notes.append("cpsat-rolling fell back to FCFS with the run's placement at some epochs "
                              "(no plan in time, or a job larger than every node)")
        return [Start(head.job.job_id, ids)]

    def _free_per_node(self, view: ClusterView) -> list[int]:
        free = [0] * len(self._nodes)
        for ids in view.free_gpus().values():
            free[self._node_of[ids[0]]] = len(ids)
        return free

    def _run_time_s(self, state: JobState, node: int) -> float:
        ctx = self.ctx
        factor = ctx.speed.factor(self._nodes[node].gpu_type, state.job.model_name)
        run = state.remaining_work_s / factor
        if state.num_preemptions or state.num_failures:
            run += ctx.restart_overhead_s
        return run

    def _eligible(self, state: JobState, node: int) -> bool:
        n = self._nodes[node]
        job = state.job
        if job.num_gpus > n.num_gpus or (job.gpu_types and n.gpu_type not in job.gpu_types):
            return False
        return job.gpu_mem_gib is None or math.isnan(job.gpu_mem_gib) or job.gpu_mem_gib <= n.gpu_mem_gib

    def _replan(self, view: ClusterView, window: list[JobState], now: float) -> bool:
        """Solve the window; True and a new plan when CP-SAT found one."""
        self.num_solves += 1
        free = self._free_per_node(view)
        running: list[tuple[int, int, float]] = []  # (node, GPUs held there, expected end)
        for r in view.running():
            per: dict[int, int] = {}
            for g in r.gpu_ids:
                per[self._node_of[g]] = per.get(self._node_of[g], 0) + 1
            running += [(k, c, r.end_s) for k, c in per.items()]
        capacity = list(free)
        for node, count, _ in running:
            capacity[node] += count
        drain = [now] * len(self._nodes)  # when each node's running jobs are all done
        for node, _, run_end in running:
            drain[node] = max(drain[node], run_end)
        nodes = sorted(range(len(self._nodes)), key=lambda k: (-free[k], drain[k], k))[:MAX_NODES]
        options = [[(k, self._run_time_s(s, k)) for k in nodes if self._eligible(s, k)] for s in window]
        if any(not opts for opts in options):
            return False
        span_s = sum(max(d for _, d in opts) for opts in options) + max(
            (end - now for _, _, end in running), default=0.0)
        tick = max(1.0, span_s / MAX_TICKS)
        horizon = int(math.ceil(span_s / tick)) + 1

        model = cp_model.CpModel()
        per_node: list[list[tuple[Any, int]]] = [[] for _ in self._nodes]
        for node, count, run_end in running:
            length = max(1, int(math.ceil((run_end - now) / tick)))
            per_node[node].append((model.new_fixed_size_interval_var(0, length, "run"), count))
        starts: list[Any] = []
        chosen: list[list[tuple[Any, int]]] = []
        ends: list[Any] = []
        for i, (s, opts) in enumerate(zip(window, options, strict=True)):
            start = model.new_int_var(0, horizon, f"s{i}")
            end = model.new_int_var(0, 2 * horizon, f"e{i}")
            lits = []
            for k, d in opts:
                lit = model.new_bool_var(f"x{i}_{k}")
                length = max(1, int(math.ceil(d / tick)))
                per_node[k].append((model.new_optional_fixed_size_interval_var(start, length, lit, f"i{i}_{k}"),
                                    s.job.num_gpus))
                model.add(end == start + length).only_enforce_if(lit)
                lits.append((lit, k))
            model.add_exactly_one(lit for lit, _ in lits)
            starts.append(start)
            chosen.append(lits)
            ends.append(end)
        for k, items in enumerate(per_node):
            if items:
                model.add_cumulative([iv for iv, _ in items], [d for _, d in items], capacity[k])
        weights = [max(1, round(100 * s.job.weight)) for s in window]
        model.minimize(sum(w * e for w, e in zip(weights, ends, strict=True)))
        solver = cp_model.CpSolver()
        # Deterministic time (CP-SAT's work units, about seconds) keeps runs reproducible even
        # on a loaded machine, so no wall-clock limit (it would cut searches at random points).
        solver.parameters.max_deterministic_time = self.time_limit_s
        solver.parameters.num_workers = self.workers
        solver.parameters.random_seed = 0
        status = solver.solve(model)
        if status not in (cp_model.OPTIMAL, cp_model.FEASIBLE):
            return False
        if status == cp_model.OPTIMAL:
            self.num_optimal += 1
        plan: dict[str, tuple[float, int]] = {}
        for s, start, lits in zip(window, starts, chosen, strict=True):
            node = next(k for lit, k in lits if solver.boolean_value(lit))
            t = solver.value(start)
            plan[s.job.job_id] = (now if t == 0 else now + t * tick, node)
        self._plan = plan
        self._planned_at = now
        return True


register_policy(CpsatRollingPolicy)

__all__ = ["CpsatRollingPolicy"]
