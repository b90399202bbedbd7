"""The discrete-event engine: replays a workload on a cluster under a policy and a placement.

Built for speed on a SimPy `Environment` (the only module that imports simpy): there is
no process per job. Arrivals are one chain of timeouts, one per distinct submit time,
each enqueuing every job submitted then and scheduling the next; a started job gets one
bare timeout whose callback frees its GPUs. The policy is asked once per instant, after
*every* event at that instant has been applied (the callback that sees the next event
later than now runs the decision), so completions and arrivals at the same time are all
in before anything starts, and the outcome does not depend on SimPy's event order.
Queued jobs sit in a heap of their rank in the policy's static `queue_order`, so the
head is O(1); started jobs leave the heap lazily. All times come from the workload or
from `start + run time`, computed once, so a job's times are exact, not accumulated.
"""

from __future__ import annotations

import gc
import math
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from heapq import heappop, heappush

import numpy as np
import numpy.typing as npt
import simpy

from simulator.cluster import Cluster, FreeGpus
from simulator.placement import Placement
from simulator.policies.base import ClusterView, Decision, Policy, PolicyError, QueuedJob, RunningJob, SimJob, sim_jobs
from traces.model import Workload

_FUTURE, _QUEUED, _RUNNING, _DONE = 0, 1, 2, 3
_STATE_NAMES = ("not yet submitted", "queued", "running", "finished")


@dataclass(frozen=True, slots=True)
class EngineOutput:
    """Per-job outcome, indexed by workload row (the timeline is derived from these times)."""

    start_s: npt.NDArray[np.float64]
    end_s: npt.NDArray[np.float64]
    gpus: tuple[tuple[int, ...], ...]  # global GPU indices (`gpu_ids` order) per job
    spanned: npt.NDArray[np.bool_]  # ran across nodes (and so was slowed down)
    num_events: int  # SimPy events processed: one per distinct submit time, one per job end
    gpu_ids: tuple[str, ...]  # global GPU index -> GPU id


@contextmanager
def gc_paused() -> Iterator[None]:
    """Pause cyclic GC: a run makes millions of short-lived acyclic objects, and GC passes
    over them cost about a tenth of the run for nothing (reference counting frees them)."""
    was_enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if was_enabled:
            gc.enable()


def _delay_to(now: float, t: float) -> float:
    """A delay d with `now + d == t` exactly in floating point, so events land on exact times.

    `t - now` is exact when t <= 2 now (Sterbenz); otherwise a step or two of one ulp fixes it.
    """
    d = t - now
    for _ in range(64):
        s = now + d
        if s == t:
            return d
        d = math.nextafter(d, math.inf if s < t else -math.inf)
    raise RuntimeError(f"cannot schedule an event at exactly t={t!r} from {now!r}")


class Engine:
    """One simulation run. Implements `ViewSource` for the policy's `ClusterView`."""

    def __init__(
        self,
        workload: Workload,
        cluster: Cluster,
        policy: Policy,
        placement: Placement,
        cross_node_slowdown: float = 1.0,
    ) -> None:
        n = len(workload)
        self._policy = policy
        self._placement = placement
        self._slowdown = float(cross_node_slowdown)
        self._n = n
        with gc_paused():
            self._jobs: list[SimJob] = sim_jobs(workload)
            self._row_of: dict[str, int] = dict(zip([j.job_id for j in self._jobs], range(n), strict=True))
        self._submit: list[float] = workload.submit_s.tolist()
        self._num_submit_times = int(np.count_nonzero(np.diff(workload.submit_s))) + 1 if n else 0
        order = np.asarray(policy.queue_order(workload))
        if order.shape != (n,) or not np.array_equal(np.sort(order), np.arange(n)):
            raise PolicyError(policy.key, "queue_order must return a permutation of the workload's rows")
        rank = np.empty(n, dtype=np.int64)
        rank[order] = np.arange(n)
        self._order: list[int] = order.tolist()  # rank -> row
        self._rank: list[int] = rank.tolist()  # row -> rank
        self._state = bytearray(n)
        self._heap: list[int] = []  # ranks of queued jobs (plus started ones, removed lazily)
        self._num_queued = 0
        self._next_row = 0
        self._running: dict[int, None] = {}  # rows, in start order
        self._free = FreeGpus(cluster)
        self._start: list[float] = [math.nan] * n
        self._end: list[float] = [math.nan] * n
        self._gpus: list[tuple[int, ...]] = [()] * n
        self._spanned = bytearray(n)
        self._env = simpy.Environment()
        self._arrival_cb = self._on_arrival  # bound once: callbacks get the same object each time
        self._complete_cb = self._on_complete

    # ----- ViewSource ---------------------------------------------------
    @property
    def num_queued(self) -> int:
        return self._num_queued

    @property
    def num_free_gpus(self) -> int:
        return self._free.num_free

    def head(self, now_s: float) -> QueuedJob | None:
        # `_decide` drops started jobs off the heap top before each view, so heap[0] is queued.
        if not self._num_queued:
            return None
        row = self._order[self._heap[0]]
        return QueuedJob(self._jobs[row], now_s - self._submit[row])

    def queued(self, now_s: float) -> Iterator[QueuedJob]:
        """Heap entries in rank order without popping: a frontier heap over the heap's tree."""
        heap, state, order, jobs, submit = self._heap, self._state, self._order, self._jobs, self._submit
        size = len(heap)
        frontier = [(heap[0], 0)] if size else []
        while frontier:
            rank, i = heappop(frontier)
            row = order[rank]
            if state[row] == _QUEUED:
                yield QueuedJob(jobs[row], now_s - submit[row])
            for c in (2 * i + 1, 2 * i + 2):
                if c < size:
                    heappush(frontier, (heap[c], c))

    def running(self) -> tuple[RunningJob, ...]:
        ids = self._free.gpu_ids
        out = [
            RunningJob(self._jobs[r], self._start[r], self._end[r], tuple(ids[g] for g in self._gpus[r]))
            for r in self._running
        ]
        out.sort(key=lambda rj: (rj.start_s, rj.job.job_id))
        return tuple(out)

    def free_gpus(self) -> dict[str, tuple[str, ...]]:
        return self._free.free_by_node()

    def place(self, job: SimJob) -> tuple[str, ...] | None:
        return self._placement.place(job, self._free)

    # ----- the run ------------------------------------------------------
    def run(self) -> EngineOutput:
        env = self._env
        if self._n:
            env.timeout(_delay_to(0.0, self._submit[0])).callbacks.append(self._arrival_cb)
        with gc_paused():
            env.run()
        not_done = [r for r in range(self._n) if self._state[r] != _DONE]
        if not_done:
            raise PolicyError(
                self._policy.key,
                f"{len(not_done)} jobs never started (first: {self._jobs[not_done[0]].job_id}); "
                "the policy started nothing while they waited on an idle cluster",
            )
        return EngineOutput(
            start_s=np.array(self._start, dtype=np.float64),
            end_s=np.array(self._end, dtype=np.float64),
            gpus=tuple(self._gpus),
            spanned=np.frombuffer(bytes(self._spanned), dtype=np.uint8).astype(bool),
            num_events=self._num_submit_times + self._n,
            gpu_ids=self._free.gpu_ids,
        )

    def _on_arrival(self, _event: simpy.Event) -> None:
        env = self._env
        now = env.now
        submit, rank, heap, state = self._submit, self._rank, self._heap, self._state
        first = i = self._next_row
        n = self._n
        while i < n and submit[i] == now:
            heappush(heap, rank[i])
            state[i] = _QUEUED
            i += 1
        self._num_queued += i - first
        self._next_row = i
        if i < n:
            nxt = submit[i]
            delay = nxt - now
            if now + delay != nxt:
                delay = _delay_to(now, nxt)
            env.timeout(delay).callbacks.append(self._arrival_cb)
        if self._free.num_free and env.peek() != now:
            self._decide(now)

    def _on_complete(self, event: simpy.Event) -> None:
        row: int = event.value
        self._state[row] = _DONE
        del self._running[row]
        self._free.release(self._gpus[row])
        if self._num_queued:
            env = self._env
            now = env.now
            if env.peek() != now:
                self._decide(now)

    def _decide(self, now: float) -> None:
        """Ask the policy until it has nothing more to start (called with a job waiting and a GPU free)."""
        free = self._free
        heap, state, order = self._heap, self._state, self._order
        decide = self._policy.decide
        while self._num_queued and free.num_free:
            while state[order[heap[0]]] != _QUEUED:
                heappop(heap)
            decisions = decide(ClusterView(now, self))
            if not decisions:
                break
            for d in decisions:
                if type(d) is not Decision:
                    raise PolicyError(self._policy.key, f"decide returned {d!r}; expected Decision objects")
                self._start_job(d.job_id, d.gpu_ids, now)

    def _start_job(self, job_id: str, gpu_ids: tuple[str, ...], now: float) -> None:
        """Apply one decision after checking it is legal; `PolicyError` otherwise."""
        row = self._row_of.get(job_id, -1)
        state = self._state
        job = self._jobs[row]
        if row < 0 or state[row] != _QUEUED or len(gpu_ids) != job.num_gpus:
            raise self._illegal(job_id, gpu_ids)
        free = self._free
        try:
            gpus = free.take(gpu_ids, free.eligible_pools(job.gpu_types, job.gpu_mem_gib))
        except ValueError as exc:
            raise PolicyError(self._policy.key, f"job {job_id}: {exc}") from None
        run_s = job.duration_s
        if len(gpus) > 1 and len(free.nodes_of(gpus)) > 1:
            run_s *= self._slowdown
            self._spanned[row] = 1
        state[row] = _RUNNING
        self._num_queued -= 1
        self._running[row] = None
        self._start[row] = now
        self._end[row] = now + run_s  # the same sum SimPy makes for the timeout below
        self._gpus[row] = gpus
        self._env.timeout(run_s, row).callbacks.append(self._complete_cb)

    def _illegal(self, job_id: str, gpu_ids: tuple[str, ...]) -> PolicyError:
        key = self._policy.key
        row = self._row_of.get(job_id)
        if row is None:
            return PolicyError(key, f"decision names job {job_id!r}, which is not in the workload")
        if self._state[row] != _QUEUED:
            return PolicyError(key, f"job {job_id} is not queued (it is {_STATE_NAMES[self._state[row]]})")
        need = self._jobs[row].num_gpus
        return PolicyError(key, f"job {job_id} needs {need} GPUs but the decision gives {len(gpu_ids)}")
