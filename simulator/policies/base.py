"""The policy plug-in point (protocol v2): what a policy sees (`ClusterView`, `JobState`) and says.

A policy is a class registered under `key` in `simulator.policies.POLICIES`, made fresh
for each run. Its whole contract:

* `key: ClassVar[str]` and `preemptive: ClassVar[bool]`.
* `bind(ctx: RunContext) -> None`: called once per run, before any other call: the
  workload, the cluster, the run's `SimJob`s, a seeded generator for the policy (stream
  "policy"), the per-row duration estimates (`estimate_s`, reference-GPU seconds) and
  the speed table.
* `rank(job: JobState) -> tuple`: the job's place in the queue, for the state it enters
  the queue with (on arrival, after a preemption or a failure); smaller goes first, ties
  go to the earlier submission (`submit_s`, then `job_id`). It must be a pure function
  of the `JobState`: the engine ranks every arrival (waited, attained and done all 0)
  once at set-up, and requeued jobs when they re-enter. While a job waits its attained
  service and remaining work do not change, so such a key is exact for fcfs, sjf, srtf,
  priority and las. A policy whose order depends on global state (fair
  share, finish-time fairness) ranks by anything and walks `view.queue()` instead.
* `decide(view: ClusterView) -> Sequence[Decision]`: after *every* event of an instant
  (arrivals, completions, node failures and repairs, wakeups) has been applied, the
  engine calls `decide` while a job waits and a GPU is free (or, for a preemptive
  policy, while a job waits at all), applying the returned decisions in order and asking
  again until it returns none. A decision is `Start(job_id, gpu_ids)` (a queued job, on
  exactly `num_gpus` free GPUs that meet its type and memory needs) or `Preempt(job_id)`
  (preemptive policies only: stop a running job now; it loses the work since its last
  checkpoint and goes back to the queue) or `Reject(job_id)` (a queued job never runs;
  it ends as `rejected`, like a job refused by admission control). An illegal decision raises
  `PolicyError(policy_key, reason)`; so does preempting a job that started at this very
  instant (which would be a zero-length segment and can only be a ping-pong).
* `next_wakeup_s(view) -> float | None`: called after each round of `decide`; a time at
  which the policy wants to be asked again even if no event happens (e.g. a LAS job
  crossing a quantum threshold). None, or a time not after now, asks for nothing; each
  answer replaces the previous request.

A view is valid only during the call that received it. `head()`, `num_queued`,
`num_running`, `job()` and `is_free()` are O(1); `queue()` yields jobs in rank order lazily (k jobs
cost O(k log k)); `running()` and `free_gpus()` build their answer on call (O(running)),
so preemptive policies that need running jobs in some order on every decision keep
their own `RunningIndex`. Placement is a separate plug-in (`simulator.placement`);
`view.place(job)` asks it for GPUs, optionally as if some running jobs were stopped.

Optional: a `notes` attribute (a sequence of strings) read after the run; each note is
reported with the results (e.g. fair share falling back from users to groups).

Two base classes cover the common cases: `OrderedPolicy` (strict rank order; a subclass
writes only `key` and `rank`, and the engine runs its unchanged `decide` inline, without
view or decision objects) and `PreemptiveOrderedPolicy` (the same, plus preempting the
running jobs its `victims` names, worst first, when the head does not fit). Adding a
policy: one module with the class, one line in `POLICIES`; constructor keyword arguments
are its parameters (`SimConfig.policy_params`, `--policy-param NAME=VALUE`).
"""

from __future__ import annotations

import abc
import itertools
from collections.abc import Callable, Hashable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from heapq import heapify, heappop, heappush
from typing import TYPE_CHECKING, Any, ClassVar, NamedTuple, Protocol, TypeAlias, cast

import numpy as np
import numpy.typing as npt

from traces.cluster import Cluster
from traces.model import Workload

if TYPE_CHECKING:
    from simulator.speed import SpeedTable


class PolicyError(RuntimeError):
    """A policy returned an illegal decision (a bug in the policy, not in the user's input)."""

    def __init__(self, policy_key: str, reason: str) -> None:
        self.policy_key = policy_key
        self.reason = reason
        super().__init__(f"policy '{policy_key}': {reason}")


class SimJob(NamedTuple):
    """A job as the simulator sees it: built once per run (a NamedTuple: cheap for 1e6 jobs).

    `row` is the job's row in the run's `Workload`; `gpu_mem_gib`, `deadline_s` and
    `model_name` are None when unknown; `duration_s` is reference-GPU seconds of work.
    """

    row: int
    job_id: str
    submit_s: float
    duration_s: float
    num_gpus: int
    gpu_frac: float
    gpu_mem_gib: float | None
    gpu_types: tuple[str, ...]
    user: str | None
    group: str | None
    priority: int
    weight: float
    deadline_s: float | None
    model_name: str | None = None


def sim_jobs(workload: Workload) -> list[SimJob]:
    """One `SimJob` per workload row, in row order (column-wise, no per-row `Job` objects)."""
    n = len(workload)

    def opt(values: npt.NDArray[np.float64]) -> list[float | None]:
        missing = np.isnan(values)
        if missing.all():
            return [None] * n
        out = values.astype(object)
        out[missing] = None
        result: list[float | None] = out.tolist()
        return result

    types = [t or () for t in workload.gpu_types.values()]
    columns = zip(
        range(n),
        [str(j) for j in workload.job_id.tolist()],
        workload.submit_s.tolist(),
        workload.duration_s.tolist(),
        workload.num_gpus.tolist(),
        workload.gpu_frac.tolist(),
        opt(workload.gpu_mem_gib),
        types,
        workload.user.values(),
        workload.group.values(),
        workload.priority.tolist(),
        workload.weight.tolist(),
        opt(workload.deadline_s),
        workload.model_name.values(),
        strict=True,
    )
    # `SimJob._make` without its Python-level call per row: a third of the set-up time.
    return cast(list[SimJob], list(map(tuple.__new__, itertools.repeat(SimJob), columns)))


class JobState(NamedTuple):
    """A queued or running job and its progress, as of the view's `now_s`.

    * `waited_s`: total time queued (or deferred by admission) so far.
    * `attained_gpu_s`: GPU-seconds held so far (wall time on GPUs x `num_gpus`,
      restart overhead included), over all segments.
    * `remaining_work_s`: reference-GPU seconds of work left (for a running job: if it
      keeps running; a preemption may lose some). An oracle: only policies defined on
      actual durations (sjf, srtf) may use it.
    * `work_done_s`: reference-GPU seconds of work done and kept (`duration - remaining`),
      which a real scheduler does know.
    * `estimate_s`: the run's estimate of the job's total duration (`SimConfig.estimates`).
    * `start_s`, `end_s`, `gpu_ids`: the current segment's start, its expected end (if
      nothing stops it) and GPUs; NaN, NaN, () for a queued job.
    """

    job: SimJob
    waited_s: float
    attained_gpu_s: float
    remaining_work_s: float
    work_done_s: float
    estimate_s: float
    num_preemptions: int
    num_failures: int
    start_s: float
    end_s: float
    gpu_ids: tuple[str, ...]

    @property
    def running(self) -> bool:
        return bool(self.gpu_ids)


class Start(NamedTuple):
    """Start queued job `job_id` now on exactly these GPUs (one id per GPU it needs)."""

    job_id: str
    gpu_ids: tuple[str, ...]


class Preempt(NamedTuple):
    """Stop running job `job_id` now; it goes back to the queue (preemptive policies only)."""

    job_id: str


class Reject(NamedTuple):
    """Drop queued job `job_id` for good: it ends with status `rejected` and never runs
    (a solver's schedule may refuse jobs it cannot fit before their deadlines)."""

    job_id: str


Decision: TypeAlias = Start | Preempt | Reject


@dataclass(frozen=True, slots=True)
class RunContext:
    """What a policy may know about a run, given once by `bind` (all read-only)."""

    workload: Workload
    cluster: Cluster
    jobs: Sequence[SimJob]  # by workload row
    rng: np.random.Generator  # the run's "policy" stream
    estimate_s: npt.NDArray[np.float64]  # duration estimate per workload row
    speed: SpeedTable
    # The run's checkpoint-restart cost model: a preempted segment keeps only the work done
    # after `restart_overhead_s`, rounded down to a multiple of `checkpoint_interval_s`.
    restart_overhead_s: float = 0.0
    checkpoint_interval_s: float | None = None
    # Where `estimate_s` comes from (`simulator.estimates.ESTIMATE_KINDS`): under anything but
    # "actual", sjf and srtf rank by the estimates instead of the true durations (`uses_estimates`).
    estimate_kind: str = "actual"

    @property
    def min_useful_run_s(self) -> float:
        """The shortest segment that keeps some work when it is stopped (preempting a
        younger one wastes all of it; a policy that keeps doing so livelocks)."""
        return self.restart_overhead_s + (self.checkpoint_interval_s or 0.0)


class ClusterView(abc.ABC):
    """The read-only state a policy decides on; everything is computed on demand.

    Implemented by the engine (one view per run whose clock moves; valid only during the
    call that received it). `now_s`, `num_queued`, `num_running`, `num_free_gpus`,
    `head()` and `job()` are O(1).
    """

    __slots__ = ()

    @property
    @abc.abstractmethod
    def now_s(self) -> float:
        """The current simulated time (seconds)."""

    @property
    @abc.abstractmethod
    def num_queued(self) -> int:
        """Jobs waiting in the queue (not counting jobs deferred by admission control)."""

    @property
    @abc.abstractmethod
    def num_running(self) -> int:
        """Jobs running now."""

    @property
    @abc.abstractmethod
    def num_free_gpus(self) -> int:
        """Free GPUs now (GPUs of failed nodes are neither free nor busy)."""

    @abc.abstractmethod
    def head(self) -> JobState | None:
        """The first job in rank order, or None when nothing waits."""

    @abc.abstractmethod
    def queue(self) -> Iterator[JobState]:
        """Waiting jobs in rank order (lazily: looking at k jobs costs O(k log k))."""

    @abc.abstractmethod
    def running(self) -> tuple[JobState, ...]:
        """Running jobs by segment start (ties by job id); O(running jobs) per call."""

    @abc.abstractmethod
    def job(self, job_id: str) -> JobState | None:
        """The job's state if it is queued or running, else None."""

    @abc.abstractmethod
    def has_ended(self, job_id: str) -> bool:
        """Whether the job is over (done or rejected); False while it waits, runs, is deferred by
        admission control or has not arrived. O(1)."""

    @abc.abstractmethod
    def free_gpus(self) -> Mapping[str, tuple[str, ...]]:
        """Free GPU ids per node id, for nodes with at least one free GPU, in cluster order."""

    @abc.abstractmethod
    def is_free(self, gpu_id: str) -> bool:
        """Whether this GPU is free now (O(1); False for an id the cluster lacks)."""

    @abc.abstractmethod
    def place(self, job: SimJob, freeing: Sequence[str] = ()) -> tuple[str, ...] | None:
        """The GPUs the run's placement would give `job` now, or None if it cannot start.

        With `freeing` (ids of running jobs), the answer is as if those jobs had just been
        preempted: return `[Preempt(j) for j in freeing] + [Start(job_id, answer)]`.
        """


class Policy(Protocol):
    """A scheduling policy (see the module docstring for when each method is called)."""

    key: ClassVar[str]
    preemptive: ClassVar[bool]

    def bind(self, ctx: RunContext) -> None: ...

    def rank(self, job: JobState) -> tuple[Any, ...]: ...

    def decide(self, view: ClusterView) -> Sequence[Decision]: ...

    def next_wakeup_s(self, view: ClusterView) -> float | None: ...


class OrderedPolicy(abc.ABC):
    """Start jobs strictly in rank order: a head that cannot be placed blocks everyone behind it.

    This is the strict form on purpose; letting later jobs jump a blocked head is
    backfilling, a separate policy with its own rule for not delaying the head.
    Subclasses define `key` and `rank`.
    """

    key: ClassVar[str]
    preemptive: ClassVar[bool] = False

    def bind(self, ctx: RunContext) -> None:
        self.ctx = ctx

    @abc.abstractmethod
    def rank(self, job: JobState) -> tuple[Any, ...]:
        """Queue key (smaller first); ties go to the earlier submission."""

    def decide(self, view: ClusterView) -> Sequence[Decision]:
        head = view.head()
        if head is None:
            return ()
        gpu_ids = view.place(head.job)
        if gpu_ids is None:
            return ()
        return (Start(head.job.job_id, gpu_ids),)

    def next_wakeup_s(self, view: ClusterView) -> float | None:
        return None


class RunningIndex:
    """Running jobs in a preemptive policy's victim order (worst first), kept incrementally.

    `view.running()` costs O(running jobs) per call; a preemptive policy asks "who is the
    worst running job?" at almost every instant, so it keeps this index instead. The
    policy calls `add(job_id)` for each job it starts; the next query looks the job up
    (its segment is known by then) and files it under `group(state)` with
    `static_key(state)`, which must order the group's jobs the same way at every later
    time (e.g. the expected end for "longest remaining time first"). Queries merge the
    groups by `current_key(state)` on the current states (default: `static_key`), which
    lets a key that moves with time at a per-group rate (attained service of gangs of
    g GPUs grows at g per second) stay exact. Jobs that stopped drop out lazily.
    """

    def __init__(
        self,
        static_key: Callable[[JobState], Any],
        group: Callable[[JobState], Hashable] | None = None,
        current_key: Callable[[JobState], Any] | None = None,
    ) -> None:
        self._static_key = static_key
        self._group = group
        self._current_key = current_key or static_key
        self._pending: list[str] = []
        self._heaps: dict[Hashable, list[tuple[Any, int, str, float]]] = {}
        self._seq = 0

    def add(self, job_id: str) -> None:
        """Track a job the policy has just started."""
        self._pending.append(job_id)

    def _valid(self, view: ClusterView, entry: tuple[Any, int, str, float]) -> JobState | None:
        state = view.job(entry[2])
        return state if state is not None and state.start_s == entry[3] else None

    def _sync(self, view: ClusterView) -> None:
        # A job started, stopped and restarted between two queries is pending twice: file it once.
        for job_id in dict.fromkeys(self._pending):
            state = view.job(job_id)
            if state is None or not state.running:
                continue
            key = self._group(state) if self._group is not None else None
            heap = self._heaps.setdefault(key, [])
            heappush(heap, (self._static_key(state), self._seq, job_id, state.start_s))
            self._seq += 1
        self._pending.clear()
        live = view.num_running
        for key in sorted(self._heaps, key=repr):
            heap = self._heaps[key]
            while heap and self._valid(view, heap[0]) is None:
                heappop(heap)
            if len(heap) > 2 * live + 64:  # compact: stopped jobs that never reach the top
                heap[:] = [e for e in heap if self._valid(view, e) is not None]
                heapify(heap)

    def _walk(self, view: ClusterView, heap: list[tuple[Any, int, str, float]]) -> Iterator[JobState]:
        """A group's valid entries in key order without popping (a frontier over the heap tree)."""
        frontier = [(heap[0], 0)] if heap else []
        size = len(heap)
        while frontier:
            entry, i = heappop(frontier)
            state = self._valid(view, entry)
            if state is not None:
                yield state
            for c in (2 * i + 1, 2 * i + 2):
                if c < size:
                    heappush(frontier, (heap[c], c))

    def worst_first(self, view: ClusterView) -> Iterator[JobState]:
        """Running jobs the policy started, worst (first to preempt) first."""
        self._sync(view)
        groups = [self._walk(view, heap) for _, heap in sorted(self._heaps.items(), key=lambda kv: repr(kv[0]))]
        if len(groups) == 1:
            yield from groups[0]
            return
        merge: list[tuple[Any, int, JobState]] = []
        for i, walk in enumerate(groups):
            first = next(walk, None)
            if first is not None:
                merge.append((self._current_key(first), i, first))
        heapify(merge)
        while merge:
            _, i, state = heappop(merge)
            yield state
            nxt = next(groups[i], None)
            if nxt is not None:
                heappush(merge, (self._current_key(nxt), i, nxt))

    def group_heads(self, view: ClusterView) -> Iterator[tuple[Hashable, Iterator[JobState]]]:
        """Each group's jobs in static-key order (for wakeup computations), groups in a fixed order."""
        self._sync(view)
        for key in sorted(self._heaps, key=repr):
            yield key, self._walk(view, self._heaps[key])


class PreemptiveOrderedPolicy(OrderedPolicy):
    """Strict rank order, and a head that does not fit preempts running jobs that rank worse.

    Subclasses define `rank` and `victims(view, head)`: running jobs the head may
    preempt, worst first. Victims are taken in that order until the head fits
    (`view.place(head, freeing=...)`); then victims whose GPUs the chosen placement does
    not use are spared, if the head still fits without them. If even all victims do not
    make room, nothing is preempted and the head keeps waiting (and blocks the queue).
    """

    preemptive: ClassVar[bool] = True

    def bind(self, ctx: RunContext) -> None:
        super().bind(ctx)
        self.index = self.make_index()

    @abc.abstractmethod
    def make_index(self) -> RunningIndex:
        """The index of running jobs this policy keeps (see `RunningIndex`)."""

    @abc.abstractmethod
    def victims(self, view: ClusterView, head: JobState) -> Iterator[JobState]:
        """Running jobs `head` may preempt, worst first."""

    def decide(self, view: ClusterView) -> Sequence[Decision]:
        head = view.head()
        if head is None:
            return ()
        job = head.job
        gpu_ids = view.place(job) if view.num_free_gpus else None
        if gpu_ids is not None:
            self.index.add(job.job_id)
            return (Start(job.job_id, gpu_ids),)
        chosen: list[JobState] = []
        have = view.num_free_gpus
        now = view.now_s
        for victim in self.victims(view, head):
            if victim.start_s >= now:  # started at this instant: preempting it is illegal
                continue
            chosen.append(victim)
            have += victim.job.num_gpus
            if have < job.num_gpus:
                continue
            ids = [v.job.job_id for v in chosen]
            gpu_ids = view.place(job, ids)
            if gpu_ids is None:
                continue
            used = set(gpu_ids)
            needed = [v.job.job_id for v in chosen if used.intersection(v.gpu_ids)]
            if len(needed) < len(ids):
                fewer = view.place(job, needed)
                if fewer is not None:
                    ids, gpu_ids = needed, fewer
            self.index.add(job.job_id)
            return (*(Preempt(j) for j in ids), Start(job.job_id, gpu_ids))
        return ()
