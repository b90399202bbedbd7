"""The policy plug-in point: what a scheduling policy sees (`ClusterView`) and says (`Decision`).

A policy never touches the engine. At an instant when a job waits and a GPU is free, the
engine builds a read-only `ClusterView` and calls `policy.decide(view)`; it applies the
returned decisions in order (raising `PolicyError` for an illegal one) and, if there were
any, asks again with a fresh view, until the policy returns none. Returning one decision
per call is therefore enough; a policy that returns several must pick disjoint free GPUs.
A view is valid only during the call that received it.

The queue is listed in the policy's static `queue_order` (computed once per run over the
whole workload), so an ordered policy only ever looks at the head: no per-decision sort.
Placement (which GPUs) is a separate plug-in (`simulator.placement`); `view.place(job)`
asks the run's placement for the GPUs it would give a job now.
"""

from __future__ import annotations

import abc
import itertools
from collections.abc import Iterator, Mapping, Sequence
from typing import ClassVar, NamedTuple, Protocol, cast

import numpy as np
import numpy.typing as npt

from traces.model import Workload


class PolicyError(RuntimeError):
    """A policy returned an illegal decision (a bug in the policy, not in the user's input)."""

    def __init__(self, policy_key: str, reason: str) -> None:
        self.policy_key = policy_key
        self.reason = reason
        super().__init__(f"policy '{policy_key}': {reason}")


class SimJob(NamedTuple):
    """A job as the simulator sees it: built once per run (a NamedTuple: cheap for 1e6 jobs).

    `row` is the job's row in the run's `Workload`; `gpu_mem_gib` and `deadline_s` are
    None when unknown.
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
        strict=True,
    )
    # `SimJob._make` without its Python-level call per row: a third of the set-up time.
    return cast(list[SimJob], list(map(tuple.__new__, itertools.repeat(SimJob), columns)))


class QueuedJob(NamedTuple):
    """A waiting job and how long it has waited so far (since submission: nothing is requeued yet)."""

    job: SimJob
    waited_s: float


class RunningJob(NamedTuple):
    """A running job, when it started, when it will end (as the engine knows it) and where."""

    job: SimJob
    start_s: float
    end_s: float
    gpu_ids: tuple[str, ...]


class Decision(NamedTuple):
    """Start queued job `job_id` now on exactly these GPUs (one id per GPU it needs).

    A NamedTuple (immutable, and several times cheaper to build than a frozen
    dataclass): one is made per started job.
    """

    job_id: str
    gpu_ids: tuple[str, ...]


class ViewSource(Protocol):
    """What the engine exposes to a view (read-only queries; implemented by the engine)."""

    @property
    def num_queued(self) -> int: ...

    @property
    def num_free_gpus(self) -> int: ...

    def head(self, now_s: float) -> QueuedJob | None: ...

    def queued(self, now_s: float) -> Iterator[QueuedJob]: ...

    def running(self) -> tuple[RunningJob, ...]: ...

    def free_gpus(self) -> Mapping[str, tuple[str, ...]]: ...

    def place(self, job: SimJob) -> tuple[str, ...] | None: ...


class ClusterView:
    """The read-only state a policy decides on. Cheap to build: everything is computed on demand.

    Read-only by construction (no setters; a plain slotted class rather than a frozen
    dataclass because one is built per decision and frozen-dataclass construction costs
    more than the rest of a FCFS decision). `head()` and `num_queued` are O(1); `queue()`
    yields jobs in queue order lazily (looking at k jobs costs O(k log k)); `running()`
    and `free_gpus()` build their answer on call.
    """

    __slots__ = ("_now_s", "_source")

    def __init__(self, now_s: float, source: ViewSource) -> None:
        self._now_s = now_s
        self._source = source

    @property
    def now_s(self) -> float:
        return self._now_s

    @property
    def num_queued(self) -> int:
        return self._source.num_queued

    @property
    def num_free_gpus(self) -> int:
        return self._source.num_free_gpus

    def head(self) -> QueuedJob | None:
        """The first job in queue order, or None when nothing waits."""
        return self._source.head(self._now_s)

    def queue(self) -> Iterator[QueuedJob]:
        """Waiting jobs in queue order."""
        return self._source.queued(self._now_s)

    def running(self) -> tuple[RunningJob, ...]:
        """Running jobs in start order (ties by job id)."""
        return self._source.running()

    def free_gpus(self) -> Mapping[str, tuple[str, ...]]:
        """Free GPU ids per node id, for nodes with at least one free GPU, in cluster order."""
        return self._source.free_gpus()

    def place(self, job: SimJob) -> tuple[str, ...] | None:
        """The GPUs the run's placement would give `job` now, or None if it cannot start now."""
        return self._source.place(job)


class Policy(Protocol):
    """A scheduling policy. Instances are made per run (`POLICIES[key]()`) and may keep state."""

    key: ClassVar[str]

    def queue_order(self, workload: Workload) -> npt.NDArray[np.intp]:
        """Workload rows in the order the view lists waiting jobs (a permutation of all rows)."""
        ...

    def decide(self, view: ClusterView) -> Sequence[Decision]:
        """Jobs to start now (possibly none)."""
        ...


class HeadOfLinePolicy(abc.ABC):
    """Start jobs strictly in queue order: a head that cannot be placed blocks everyone behind it.

    This is the strict form on purpose; letting later jobs jump a blocked head is
    backfilling, which is a separate policy with its own rule for not delaying the head.
    Subclasses only define `key` and `queue_order`.
    """

    key: ClassVar[str]

    @abc.abstractmethod
    def queue_order(self, workload: Workload) -> npt.NDArray[np.intp]:
        """Workload rows in queue order."""

    def decide(self, view: ClusterView) -> Sequence[Decision]:
        head = view.head()
        if head is None:
            return ()
        gpu_ids = view.place(head.job)
        if gpu_ids is None:
            return ()
        return (Decision(head.job.job_id, gpu_ids),)
