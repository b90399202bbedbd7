"""The discrete-event engine: replays a workload on a cluster under a policy, a placement and options.

Built for speed on a SimPy `Environment` (the only module that imports simpy): there is
no process per job. Arrivals are one chain of timeouts, one per distinct submit time; a
run segment gets one bare timeout whose callback ends it (a preempted segment's timeout
still fires and is ignored); node failures, repairs and policy wakeups are timeouts too.
The policy is asked only after *every* event at an instant has been applied (the
callback that sees the next event later than now does the instant's work), so the
outcome does not depend on SimPy's event order within an instant. Queued jobs sit in a
heap of `(policy.rank(job), row)` entries, rows being in `(submit_s, job_id)` order, so
the head is O(1); entries of jobs that left the queue are dropped lazily.

Time and work (all seconds; work in reference-GPU seconds): a segment on GPUs of speed
factor f (the slowest type of the gang, per `SpeedTable.factor(type, model_name)`),
divided by `cross_node_slowdown` when it spans nodes, does work at rate `eff` per second
after `restart_overhead_s` of non-productive time (restart segments only). A segment
stopped early (preemption or node failure) keeps the work of its productive time rounded
down to a multiple of `checkpoint_interval_s` (None: keeps all of it); the rest is lost.
A segment's end is computed once, `start + overhead + remaining / eff`, so times are
exact sums, not accumulated clock steps.

Admission (optional): arrivals at an instant are offered to the admission control at the
end of the instant, after jobs deferred earlier, which are offered again after an
instant in which a job completed or a node came back, and whenever the cluster is idle.
A job deferred while nothing runs or waits is admitted (waiting cannot lower the load).
The arrival-rate estimate is the rate over the last `RATE_WINDOW` arrivals (the
workload's mean rate until two distinct arrival times are known).

Node failures (optional): each node alternates exponential up times (mean `node_mtbf_s`)
and down times (mean `node_mttr_s`), drawn from its own child of the "failures" stream,
so the failure times do not depend on the policy. A failure stops the node's jobs like a
preemption (reason "failed"; counted in `num_failures`, not `num_preemptions`) and takes
its GPUs away until the repair. The run ends when every job has ended or been rejected.

Waking up: besides the policy's `next_wakeup_s`, the engine wakes itself when the
placement held a job back on purpose (topology-aware consolidation waits) at the time the
job's wait runs out. Guards: a policy that leaves jobs waiting on an idle, healthy cluster
with nothing left to happen, or that preempts `1000 + 10 n` times in a row without any
stopped segment keeping work (a livelock: e.g. a LAS quantum shorter than the checkpoint
interval), gets a `PolicyError` instead of a hang.
"""

from __future__ import annotations

import gc
import itertools
import math
from collections import deque
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from heapq import heapify, heappop, heappush
from typing import TYPE_CHECKING, Any

import numpy as np
import numpy.typing as npt
import simpy
from simpy.events import NORMAL

from simulator.cluster import Cluster, FreeGpus
from simulator.metrics import SEGMENT_REASONS
from simulator.placement import Placement, consolidation_wait_s
from simulator.policies.base import (
    ClusterView,
    JobState,
    OrderedPolicy,
    Policy,
    PolicyError,
    Preempt,
    Reject,
    RunContext,
    SimJob,
    Start,
    sim_jobs,
)
from simulator.speed import SpeedTable
from traces.model import Workload

if TYPE_CHECKING:
    from simulator.admission import Admission

_FUTURE, _QUEUED, _RUNNING, _DONE, _REJECTED, _DEFERRED = 0, 1, 2, 3, 4, 5
_STATE_NAMES = ("not yet submitted", "queued", "running", "finished", "rejected", "deferred by admission")
FINISHED, PREEMPTED, FAILED = (SEGMENT_REASONS.index(r) for r in ("finished", "preempted", "failed"))
RATE_WINDOW = 100
_NAN = math.nan
_new = tuple.__new__  # NamedTuple construction without its Python-level __new__
_new_object = object.__new__


class PauseRun(Exception):  # noqa: N818 (a control-flow signal, not an error)
    """Raised by a policy's `decide` to hand the decision to the caller stepping the engine
    (`Engine.advance`/`Engine.resume`); never escapes those two."""


class _Tick(simpy.Event):
    """A timeout built without `Timeout.__init__` and scheduled with the public
    `Environment.schedule`: the two timeouts per job (arrival instant, segment end) are most
    of SimPy's share of a run, and this saves two Python calls each."""


def _tick(env: simpy.Environment, delay: float, value: Any, callback: Callable[[simpy.Event], None]) -> None:
    """`env.timeout(delay, value).callbacks.append(callback)`, cheaper."""
    ev = _new_object(_Tick)
    ev.env = env
    ev.callbacks = [callback]
    ev._ok = True
    ev._value = value
    env.schedule(ev, NORMAL, delay)


@dataclass(frozen=True, slots=True)
class EngineOptions:
    """Everything about a run besides the workload, cluster, policy and placement."""

    cross_node_slowdown: float = 1.0
    restart_overhead_s: float = 0.0
    checkpoint_interval_s: float | None = None
    speed: SpeedTable | None = None  # None: every type at reference speed
    node_mtbf_s: float | None = None  # None: nodes never fail
    node_mttr_s: float = 3600.0
    failures_rng: np.random.Generator | None = None  # required with node_mtbf_s
    admission: Admission | None = None  # None: every job is admitted at arrival
    estimate_s: npt.NDArray[np.float64] | None = None  # None: the actual durations
    estimate_kind: str = "actual"  # where estimate_s comes from (`simulator.estimates.ESTIMATE_KINDS`)
    policy_rng: np.random.Generator | None = None
    # Called as progress(jobs submitted so far, total) about every 1/200 of the arrivals and
    # once at the end; None costs nothing. (Arrivals, not completions: checking them adds
    # one comparison per arrival instant, nothing per completion.)
    progress: Callable[[int, int], None] | None = None
    # Called as on_end(row, now_s) when a job completes (for rewards paid as jobs end, in
    # `simulator.rl.env`); None costs one test per completion.
    on_end: Callable[[int, float], None] | None = None


@dataclass(frozen=True, slots=True)
class EngineOutput:
    """Per-job outcome (indexed by workload row) and every run segment (sorted by row, then start).

    `first_start_s`/`end_s` are NaN for rejected jobs; `wait_s` is all the time a job
    spent not running between submission and end (queued, deferred, requeued).
    `seg_gpus` holds global GPU indices (`gpu_ids` order).
    """

    first_start_s: npt.NDArray[np.float64]
    end_s: npt.NDArray[np.float64]
    wait_s: npt.NDArray[np.float64]
    rejected: npt.NDArray[np.bool_]
    num_preemptions: npt.NDArray[np.int64]
    num_failures: npt.NDArray[np.int64]
    spanned: npt.NDArray[np.bool_]  # some segment ran across nodes
    seg_row: npt.NDArray[np.int64]
    seg_start_s: npt.NDArray[np.float64]
    seg_end_s: npt.NDArray[np.float64]
    seg_work_s: npt.NDArray[np.float64]
    seg_reason: npt.NDArray[np.int8]  # index into SEGMENT_REASONS
    seg_gpus: tuple[tuple[int, ...], ...]
    # (node index, down at, back at), by down time; a node still down when the run ends is
    # "back" at the engine's final clock, so the outage is counted rather than dropped.
    downtime: tuple[tuple[int, float, float], ...]
    num_node_failures: int
    num_events: int
    gpu_ids: tuple[str, ...]


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
    """A delay d with `now + d == t` in floating point, so events land on exact times.

    `t - now` is exact when t <= 2 now (Sterbenz); otherwise a step or two of one ulp fixes
    it. Rarely no d gives exactly t (round-half-even skips it); then the event lands on the
    next representable time after t, one ulp late, which is never early.
    """
    d = t - now
    for _ in range(64):
        s = now + d
        if s == t:
            return d
        d = math.nextafter(d, math.inf if s < t else -math.inf)
    d = t - now
    while now + d < t:
        d = math.nextafter(d, math.inf)
    while d > 0 and now + math.nextafter(d, -math.inf) >= t:
        d = math.nextafter(d, -math.inf)
    return d


class _View(ClusterView):
    """The engine's `ClusterView`: reads the engine's state, changes nothing."""

    __slots__ = ("_e", "now_s")

    def __init__(self, engine: Engine) -> None:
        self._e = engine
        self.now_s = 0.0

    @property
    def num_queued(self) -> int:
        return self._e._num_queued

    @property
    def num_running(self) -> int:
        return len(self._e._running)

    @property
    def num_free_gpus(self) -> int:
        return self._e._free.num_free

    def head(self) -> JobState | None:
        e = self._e
        if not e._num_queued:
            return None
        heap, state, entry = e._heap, e._state, e._entry
        while True:
            top = heap[0]
            row = top[1]
            if state[row] == _QUEUED and entry[row] is top:
                rem = e._rem[row]
                return _new(
                    JobState,
                    (
                        e._jobs[row],
                        e._waited[row] + (self.now_s - e._enq[row]),
                        e._att[row],
                        rem,
                        e._duration[row] - rem,
                        e._estimate[row],
                        e._npre[row],
                        e._nfail[row],
                        _NAN,
                        _NAN,
                        (),
                    ),
                )
            heappop(heap)

    def queue(self) -> Iterator[JobState]:
        """Heap entries in rank order without popping: a frontier heap over the heap's tree."""
        e = self._e
        now = self.now_s
        heap, state, entry = e._heap, e._state, e._entry
        if len(heap) > 2 * e._num_queued + 64:  # mostly stale entries: drop them (amortised O(1) per entry)
            heap[:] = [top for top in heap if state[top[1]] == _QUEUED and entry[top[1]] is top]
            heapify(heap)
        size = len(heap)
        frontier = [(heap[0], 0)] if size else []
        while frontier:
            top, i = heappop(frontier)
            row = top[1]
            if state[row] == _QUEUED and entry[row] is top:
                yield e._queued_state(row, now)
            for c in (2 * i + 1, 2 * i + 2):
                if c < size:
                    heappush(frontier, (heap[c], c))

    def running(self) -> tuple[JobState, ...]:
        e = self._e
        out = [e._running_state(r, self.now_s) for r in e._running]
        out.sort(key=lambda s: (s.start_s, s.job.job_id))
        return tuple(out)

    def job(self, job_id: str) -> JobState | None:
        e = self._e
        row = e._row_of.get(job_id)
        if row is None:
            return None
        st = e._state[row]
        if st == _QUEUED:
            return e._queued_state(row, self.now_s)
        if st == _RUNNING:
            return e._running_state(row, self.now_s)
        return None

    def has_ended(self, job_id: str) -> bool:
        e = self._e
        row = e._row_of.get(job_id)
        return row is not None and e._state[row] in (_DONE, _REJECTED)

    def free_gpus(self) -> dict[str, tuple[str, ...]]:
        return self._e._free.free_by_node()

    def is_free(self, gpu_id: str) -> bool:
        return self._e._free.is_free(gpu_id)

    def place(self, job: SimJob, freeing: Sequence[str] = ()) -> tuple[str, ...] | None:
        e = self._e
        row = job.row
        now = self.now_s
        waited = e._waited[row]
        if e._state[row] == _QUEUED:
            waited += now - e._enq[row]
        if not freeing:
            ids = e._place_fn(job, e._free, waited_s=waited)
        else:
            ids = e._place_freeing(job, freeing, waited)
        if ids is None and waited < e._consolidation_s:
            wake = now + (e._consolidation_s - waited)
            if wake < e._place_wake:
                e._place_wake = wake
        return ids


class Engine:
    """One simulation run: build it, then `run()` once."""

    def __init__(
        self,
        workload: Workload,
        cluster: Cluster,
        policy: Policy,
        placement: Placement,
        options: EngineOptions | None = None,
    ) -> None:
        with gc_paused():  # one pause for the whole set-up: each resume may cost a full collection
            self._setup(workload, cluster, policy, placement, options or EngineOptions())

    def _setup(
        self, workload: Workload, cluster: Cluster, policy: Policy, placement: Placement, opts: EngineOptions
    ) -> None:
        n = len(workload)
        self._policy = policy
        self._key = policy.key
        self._preemptive = bool(policy.preemptive)
        self._placement = placement
        self._place_fn = placement.place
        self._consolidation_s = consolidation_wait_s(placement)
        self._n = n
        self._cluster = cluster
        self._jobs: list[SimJob] = sim_jobs(workload)
        self._row_of: dict[str, int] = dict(zip([j.job_id for j in self._jobs], range(n), strict=True))
        self._submit: list[float] = workload.submit_s.tolist()
        self._duration: list[float] = workload.duration_s.tolist()
        self._gpus_of: list[int] = workload.num_gpus.tolist()
        est = opts.estimate_s if opts.estimate_s is not None else workload.duration_s
        self._estimate: list[float] = np.asarray(est, dtype=np.float64).tolist()
        self._free = FreeGpus(cluster)
        self._all_pools = self._free.eligible_pools((), None)
        # Options.
        self._slowdown = float(opts.cross_node_slowdown)
        self._overhead = float(opts.restart_overhead_s)
        self._checkpoint = opts.checkpoint_interval_s
        self._admission = opts.admission
        self._on_end = opts.on_end
        self._speed_rows = self._speed_matrix(workload, cluster, opts.speed)
        # Per-job state.
        self._state = bytearray(n)
        self._rem: list[float] = list(self._duration)
        self._att: list[float] = [0.0] * n
        self._waited: list[float] = [0.0] * n
        self._enq: list[float] = list(self._submit)  # when the job last entered the queue (or deferral)
        self._npre: list[int] = [0] * n
        self._nfail: list[int] = [0] * n
        self._seg_s: list[float] = [_NAN] * n
        self._seg_p: list[float] = [_NAN] * n
        self._seg_eff: list[float] = [1.0] * n
        self._end: list[float] = [_NAN] * n
        self._gpus: list[tuple[int, ...]] = [()] * n
        self._ev: list[Any] = [None] * n
        self._spanned = bytearray(n)
        # Interrupted segments (finished ones are read off the per-job lists at the end).
        self._iseg: list[tuple[int, float, float, float, int, tuple[int, ...]]] = []
        # Queue, running set, counters.
        self._heap: list[tuple[Any, int]] = []
        self._num_queued = 0
        self._demand = 0
        self._next_row = 0
        self._num_arrival_times = int(np.count_nonzero(np.diff(workload.submit_s))) + 1 if n else 0
        self._running: dict[int, None] = {}
        self._num_done = 0
        self._futile = 0  # policy preemptions in a row that kept no work (a livelock guard)
        self._futile_limit = 1000 + 10 * n
        self._num_events = 0
        self._dirty = False
        self._wakeup_at: float | None = None
        self._place_wake = math.inf
        # Admission.
        self._pending: list[int] = []
        self._deferred: deque[int] = deque()
        self._recheck_deferred = False
        self._arrivals: deque[float] = deque(maxlen=RATE_WINDOW)
        self._admitted_gpu_s = 0.0
        self._num_admitted = 0
        span = float(workload.submit_s[-1] - workload.submit_s[0]) if n else 0.0
        self._mean_rate = (n - 1) / span if span > 0 else _NAN
        self._mean_gpu_s = float(np.mean(workload.duration_s * workload.num_gpus)) if n else _NAN
        # Failures.
        self._mtbf = opts.node_mtbf_s
        self._mttr = float(opts.node_mttr_s)
        self._node_gpus: list[tuple[int, ...]] = []
        self._down_since: list[float] = []
        self._downtime: list[tuple[int, float, float]] = []
        self._num_down = 0
        self._num_node_failures = 0
        self._node_rngs: list[np.random.Generator] = []
        if self._mtbf is not None:
            if opts.failures_rng is None:
                raise ValueError("node failures need a failures_rng")
            self._node_rngs = opts.failures_rng.spawn(len(cluster.nodes))
            node_of = self._free.node_of
            per: list[list[int]] = [[] for _ in cluster.nodes]
            for g in range(cluster.num_gpus):
                per[node_of[g]].append(g)
            self._node_gpus = [tuple(p) for p in per]
            self._down_since = [_NAN] * len(cluster.nodes)
        self._progress = opts.progress
        self._progress_step = max(1, n // 200)
        self._progress_at = self._progress_step if self._progress is not None else n + 1
        self._env = simpy.Environment()
        # Callbacks bound once: SimPy gets the same object each time.
        self._arrival_cb = self._on_arrival_queue if self._admission is None else self._on_arrival_admit
        # Without preemption or failures no segment ends early, so completions need no stale check.
        self._stops = self._preemptive or self._mtbf is not None
        self._complete_cb = self._on_complete if self._stops else self._on_complete_simple
        self._count_done = self._admission is not None or self._mtbf is not None
        self._wakeup_cb = self._on_wakeup
        self._view = _View(self)
        self._rank = policy.rank
        self._decide_fn = policy.decide
        # A policy that keeps `OrderedPolicy.decide` gets it inlined (see `_start_in_order`).
        self._inline_ordered = getattr(type(policy), "decide", None) is OrderedPolicy.decide
        # `OrderedPolicy.next_wakeup_s` never asks for a wakeup: not calling it saves a call per instant.
        inherited = getattr(type(policy), "next_wakeup_s", None) is OrderedPolicy.next_wakeup_s
        self._wakeup_fn = None if inherited else policy.next_wakeup_s
        policy.bind(
            RunContext(
                workload=workload,
                cluster=cluster,
                jobs=self._jobs,
                rng=opts.policy_rng if opts.policy_rng is not None else np.random.default_rng(0),
                estimate_s=np.asarray(self._estimate, dtype=np.float64),
                speed=opts.speed if opts.speed is not None else SpeedTable.reference(),
                restart_overhead_s=self._overhead,
                checkpoint_interval_s=self._checkpoint,
                estimate_kind=opts.estimate_kind,
            )
        )
        # Every arrival's queue entry, ranked once here (`rank` is a pure function of the state).
        rank, jobs, dur, est = self._rank, self._jobs, self._duration, self._estimate
        zero, none = itertools.repeat(0.0), itertools.repeat(0)
        states = map(
            _new,
            itertools.repeat(JobState),
            zip(jobs, zero, zero, dur, zero, est, none, none, itertools.repeat(_NAN), itertools.repeat(_NAN),
                itertools.repeat(())),
        )
        self._rank0: list[Any] = list(map(rank, states))
        # The live heap entry `(rank, row)` of each queued row: an entry in the heap is current
        # only if it is this one (entries of jobs that left the queue are dropped lazily).
        self._entry: list[tuple[Any, int] | None] = [None] * n

    @staticmethod
    def _speed_matrix(workload: Workload, cluster: Cluster, speed: SpeedTable | None) -> list[list[float]] | None:
        """Per job row, the speed factor per GPU (global index); None when all are 1.0."""
        if speed is None:
            return None
        types = [g.gpu_type for g in cluster.gpus()]
        distinct = sorted(set(types))
        models = [None, *workload.model_name.categories]
        table = {(t, m): float(speed.factor(t, m)) for t in distinct for m in models}
        if all(v == 1.0 for v in table.values()):
            return None
        per_model = [[table[(t, m)] for t in types] for m in models]
        codes = (workload.model_name.codes + 1).tolist()
        return [per_model[c] for c in codes]

    # ----- what the view reads ------------------------------------------
    def _queued_state(self, row: int, now: float) -> JobState:
        rem = self._rem[row]
        return _new(
            JobState,
            (
                self._jobs[row],
                self._waited[row] + (now - self._enq[row]),
                self._att[row],
                rem,
                self._duration[row] - rem,
                self._estimate[row],
                self._npre[row],
                self._nfail[row],
                _NAN,
                _NAN,
                (),
            ),
        )

    def _running_state(self, row: int, now: float) -> JobState:
        s, p, eff = self._seg_s[row], self._seg_p[row], self._seg_eff[row]
        rem = self._rem[row]
        done = (now - p) * eff if now > p else 0.0
        left = rem - done if done < rem else 0.0
        ids = self._free.gpu_ids
        return _new(
            JobState,
            (
                self._jobs[row],
                self._waited[row],
                self._att[row] + (now - s) * self._gpus_of[row],
                left,
                self._duration[row] - left,
                self._estimate[row],
                self._npre[row],
                self._nfail[row],
                s,
                self._end[row],
                tuple(ids[g] for g in self._gpus[row]),
            ),
        )

    def _place_freeing(self, job: SimJob, freeing: Sequence[str], waited: float) -> tuple[str, ...] | None:
        """The placement's answer with the GPUs of the `freeing` jobs released for the question."""
        rows: list[int] = []
        for job_id in freeing:
            r = self._row_of.get(job_id, -1)
            if r < 0 or self._state[r] != _RUNNING or r in rows:
                raise PolicyError(self._key, f"place(..., freeing=...) names {job_id!r}, which is not running")
            rows.append(r)
        free = self._free
        gpu_ids = free.gpu_ids
        for r in rows:
            free.release(self._gpus[r])
        try:
            return self._place_fn(job, free, waited_s=waited)
        finally:
            for r in rows:
                free.take([gpu_ids[g] for g in self._gpus[r]], self._all_pools)

    # ----- the run ------------------------------------------------------
    def run(self) -> EngineOutput:
        with gc_paused():
            self.begin()
            if self.advance():
                raise PolicyError(self._key, "decide raised PauseRun, but this run is not stepped (use Engine.advance)")
            return self.finish()

    # ----- step-wise control ----------------------------------------------
    # A caller that wants to take the decisions itself (the Gymnasium environment in
    # `simulator.rl.env`) calls `begin()`, then `advance()`; its policy raises `PauseRun`
    # from `decide` when it needs an answer, which stops the run at that instant with every
    # event of the instant applied; `resume()` asks the policy again at the same instant
    # (the caller has handed it the answer) and runs on to the next pause. `finish()` then
    # returns the same output `run()` would have.
    def begin(self) -> None:
        """Schedule the arrivals (and node failures); nothing happens until `advance()`."""
        env = self._env
        if self._n:
            env.timeout(_delay_to(0.0, self._submit[0])).callbacks.append(self._arrival_cb)
        if self._mtbf is not None and self._n:
            fail_cb = self._on_failure
            for node, rng in enumerate(self._node_rngs):
                env.timeout(float(rng.exponential(self._mtbf)), node).callbacks.append(fail_cb)
            self._all_done = env.event()

    def advance(self) -> bool:
        """Run until the policy pauses (True) or the run is over (False)."""
        env = self._env
        try:
            if self._mtbf is not None and self._n:
                try:
                    env.run(until=self._all_done)
                except RuntimeError as exc:
                    if "until" not in str(exc):
                        raise
            else:
                env.run()
        except PauseRun:
            return True
        return False

    def resume(self) -> bool:
        """Ask the paused policy again at the paused instant, then `advance()`."""
        try:
            self._decide_instant(self._env.now)
        except PauseRun:
            return True
        return self.advance()

    @property
    def now_s(self) -> float:
        """The simulated clock (the paused instant while paused)."""
        return float(self._env.now)

    def finish(self) -> EngineOutput:
        """The run's output, once `advance()` or `resume()` said it is over; the engine is spent after."""
        stuck = [r for r in range(self._n) if self._state[r] not in (_DONE, _REJECTED)]
        if stuck:
            raise self._stuck_error(stuck)
        if self._progress is not None:
            self._progress(self._n, self._n)
        out = self._output()
        # One run per engine: drop its state now. The engine, its view and its bound
        # callbacks reference each other, so without this a 1M-job run's hundreds of MiB
        # would wait for the cyclic collector (paused while the caller builds tables).
        self.__dict__.clear()
        return out

    def _stuck_error(self, rows: list[int]) -> PolicyError:
        return PolicyError(
            self._key,
            f"{len(rows)} jobs never started (first: {self._jobs[rows[0]].job_id}); "
            "the policy started nothing while they waited on an idle cluster",
        )

    def _output(self) -> EngineOutput:
        n = self._n
        state = self._state
        rejected = np.frombuffer(bytes(state), dtype=np.uint8) == _REJECTED
        done_rows = [r for r in range(n) if state[r] == _DONE]
        iseg = self._iseg
        rows = [s[0] for s in iseg] + done_rows
        seg_s = self._seg_s
        starts = [s[1] for s in iseg] + [seg_s[r] for r in done_rows]
        end = self._end
        ends = [s[2] for s in iseg] + [end[r] for r in done_rows]
        rem = self._rem
        works = [s[3] for s in iseg] + [rem[r] for r in done_rows]
        reasons = [s[4] for s in iseg] + [FINISHED] * len(done_rows)
        gpus = self._gpus
        seg_gpus = [s[5] for s in iseg] + [gpus[r] for r in done_rows]
        row_arr = np.asarray(rows, dtype=np.int64)
        start_arr = np.asarray(starts, dtype=np.float64)
        order = np.lexsort((start_arr, row_arr)) if iseg else np.arange(len(rows))
        end_arr = np.asarray(end, dtype=np.float64)
        first = np.full(n, _NAN)
        if rows:
            sorted_rows = row_arr[order]
            uniq, idx = np.unique(sorted_rows, return_index=True)
            first[uniq] = start_arr[order][idx]
        wait = np.where(rejected, _NAN, np.asarray(self._waited, dtype=np.float64))
        return EngineOutput(
            first_start_s=first,
            end_s=end_arr,
            wait_s=wait,
            rejected=rejected,
            num_preemptions=np.asarray(self._npre, dtype=np.int64),
            num_failures=np.asarray(self._nfail, dtype=np.int64),
            spanned=np.frombuffer(bytes(self._spanned), dtype=np.uint8).astype(bool),
            seg_row=row_arr[order],
            seg_start_s=start_arr[order],
            seg_end_s=np.asarray(ends, dtype=np.float64)[order],
            seg_work_s=np.asarray(works, dtype=np.float64)[order],
            seg_reason=np.asarray(reasons, dtype=np.int8)[order],
            seg_gpus=tuple(seg_gpus[i] for i in order.tolist()),
            downtime=tuple(sorted(self._downtime + self._open_downtime(), key=lambda d: (d[1], d[0]))),
            num_node_failures=self._num_node_failures,
            # One event per distinct submit time and per segment (its timeout), plus the rest.
            num_events=self._num_arrival_times + len(rows) + self._num_events,
            gpu_ids=self._free.gpu_ids,
        )

    def _open_downtime(self) -> list[tuple[int, float, float]]:
        """Outages of nodes still down at the end, closed at the final clock: the run stops
        at the last job's end, before their repairs fire."""
        if not self._num_down:
            return []
        now = float(self._env.now)
        return [(node, since, now) for node, since in enumerate(self._down_since) if not math.isnan(since)]

    # ----- events -------------------------------------------------------
    def _next_arrivals(self, now: float) -> int:
        """Rows submitted at `now` are `[self._next_row, returned)`; schedules the next arrival."""
        submit = self._submit
        n = self._n
        i = self._next_row + 1
        while i < n and submit[i] <= now:
            i += 1
        if i < n:
            nxt = submit[i]
            delay = nxt - now
            if now + delay != nxt:
                delay = _delay_to(now, nxt)
            self._env.timeout(delay).callbacks.append(self._arrival_cb)
        return i

    def _on_arrival_queue(self, _event: simpy.Event) -> None:
        """Arrivals without admission control: straight into the queue with their precomputed rank."""
        env = self._env
        now = env.now
        submit, heap, state, ranks, entry = self._submit, self._heap, self._state, self._rank0, self._entry
        first = self._next_row
        n = self._n
        i = first + 1
        entry[first] = e = (ranks[first], first)
        heappush(heap, e)
        state[first] = _QUEUED
        demand = self._gpus_of[first]
        while i < n and submit[i] <= now:
            entry[i] = e = (ranks[i], i)
            heappush(heap, e)
            state[i] = _QUEUED
            demand += self._gpus_of[i]
            i += 1
        self._demand += demand
        self._num_queued += i - first
        self._next_row = i
        if i >= self._progress_at:
            self._report_progress(i)
        if i < n:
            nxt = submit[i]
            delay = nxt - now
            if now + delay != nxt:
                delay = _delay_to(now, nxt)
            _tick(env, delay, None, self._arrival_cb)
        self._dirty = True
        if env.peek() != now and (self._free.num_free or self._preemptive):
            self._end_instant(now)

    def _on_arrival_admit(self, _event: simpy.Event) -> None:
        """Arrivals with admission control: offered to it at the end of the instant."""
        env = self._env
        now = env.now
        first = self._next_row
        i = self._next_arrivals(now)
        self._next_row = i
        if i >= self._progress_at:
            self._report_progress(i)
        for _ in range(first, i):
            self._arrivals.append(now)
        self._pending.extend(range(first, i))
        self._dirty = True
        if env.peek() != now:
            self._end_instant(now)

    def _report_progress(self, submitted: int) -> None:
        self._progress_at = submitted + self._progress_step
        assert self._progress is not None
        self._progress(submitted, self._n)

    def _on_complete(self, event: simpy.Event) -> None:
        """A segment's timeout: the job is done, unless the segment was stopped early (a stale event)."""
        row: int = event.value
        if self._ev[row] is event:
            self._ev[row] = None
            self._futile = 0
            self._on_complete_simple(event)
            return
        # Stale, but it may be the instant's last event: the instant's work happens here then.
        env = self._env
        now = env.now
        if env.peek() != now and (self._num_queued or self._admission) and (
            self._free.num_free or self._preemptive or self._admission
        ):
            self._end_instant(now)

    def _on_complete_simple(self, event: simpy.Event) -> None:
        """`_on_complete` for runs where nothing stops a segment early, so no event is stale."""
        row: int = event.value
        self._state[row] = _DONE
        del self._running[row]
        self._free.release(self._gpus[row])
        self._dirty = True
        if self._count_done:
            self._done_one()
        if self._on_end is not None:
            self._on_end(row, self._env.now)
        env = self._env
        now = env.now
        if env.peek() != now and (self._num_queued or self._admission) and (
            self._free.num_free or self._preemptive or self._admission
        ):
            self._end_instant(now)

    def _done_one(self) -> None:
        self._num_done += 1
        self._recheck_deferred = True
        if self._num_done == self._n and self._mtbf is not None:
            self._all_done.succeed()

    def _on_wakeup(self, _event: simpy.Event) -> None:
        self._num_events += 1
        env = self._env
        now = env.now
        if now == self._wakeup_at:
            self._wakeup_at = None
            self._dirty = True
        if env.peek() != now and (self._num_queued or self._admission) and (
            self._free.num_free or self._preemptive or self._admission
        ):
            self._end_instant(now)

    def _on_failure(self, event: simpy.Event) -> None:
        self._num_events += 1
        node: int = event.value
        env = self._env
        now = env.now
        node_of = self._free.node_of
        hit = [r for r in self._running if any(node_of[g] == node for g in self._gpus[r])]
        for r in hit:
            if self._end[r] <= now:  # it ends at this very instant: let it finish
                self._finish(r)
            else:
                self._stop(r, now, FAILED)
        free = self._free
        free.take([free.gpu_ids[g] for g in self._node_gpus[node]], self._all_pools)
        self._down_since[node] = now
        self._num_down += 1
        self._num_node_failures += 1
        env.timeout(float(self._node_rngs[node].exponential(self._mttr)), node).callbacks.append(self._on_repair)
        self._dirty = True
        if env.peek() != now and (self._num_queued or self._admission) and (
            self._free.num_free or self._preemptive or self._admission
        ):
            self._end_instant(now)

    def _on_repair(self, event: simpy.Event) -> None:
        self._num_events += 1
        node: int = event.value
        env = self._env
        now = env.now
        self._free.release(self._node_gpus[node])
        self._downtime.append((node, self._down_since[node], now))
        self._down_since[node] = _NAN
        self._num_down -= 1
        self._recheck_deferred = True
        mtbf = self._mtbf
        assert mtbf is not None
        env.timeout(float(self._node_rngs[node].exponential(mtbf)), node).callbacks.append(self._on_failure)
        self._dirty = True
        if env.peek() != now and (self._num_queued or self._admission) and (
            self._free.num_free or self._preemptive or self._admission
        ):
            self._end_instant(now)

    # ----- state changes ------------------------------------------------
    def _finish(self, row: int) -> None:
        """The current segment of `row` ends at this instant (a node fails as it ends): the job is done."""
        self._state[row] = _DONE
        self._ev[row] = None
        del self._running[row]
        self._free.release(self._gpus[row])
        self._dirty = True
        self._done_one()
        if self._on_end is not None:
            self._on_end(row, self._env.now)

    def _enqueue(self, row: int, now: float) -> None:
        """Put `row` in the queue: its precomputed rank on first admission, else a fresh one."""
        if self._npre[row] or self._nfail[row]:
            e = (self._rank(self._queued_state(row, now)), row)
        else:
            e = (self._rank0[row], row)
        heappush(self._heap, e)
        self._entry[row] = e
        self._state[row] = _QUEUED
        self._num_queued += 1
        self._demand += self._gpus_of[row]

    def _stop(self, row: int, now: float, reason: int) -> None:
        """End the current segment of `row` early, keep the checkpointed work, requeue the job."""
        s, p, eff = self._seg_s[row], self._seg_p[row], self._seg_eff[row]
        productive = now - p if now > p else 0.0
        if self._checkpoint is not None:
            productive = math.floor(productive / self._checkpoint) * self._checkpoint
        work = productive * eff if eff != 1.0 else productive
        rem = self._rem[row]
        if work > rem:
            work = rem
        gpus = self._gpus[row]
        self._iseg.append((row, s, now, work, reason, gpus))
        self._rem[row] = rem - work
        self._att[row] += (now - s) * self._gpus_of[row]
        self._free.release(gpus)
        del self._running[row]
        self._ev[row] = None
        if reason == PREEMPTED:
            self._npre[row] += 1
        else:
            self._nfail[row] += 1
        self._enq[row] = now
        self._enqueue(row, now)
        self._dirty = True

    def _start(self, job_id: str, gpu_ids: tuple[str, ...], now: float) -> None:
        """Apply one Start after checking it is legal; `PolicyError` otherwise."""
        row = self._row_of.get(job_id, -1)
        if row < 0 or self._state[row] != _QUEUED or len(gpu_ids) != self._gpus_of[row]:
            raise self._illegal(job_id, gpu_ids)
        self._start_row(row, gpu_ids, now)

    def _start_row(self, row: int, gpu_ids: tuple[str, ...], now: float) -> None:
        """Start queued job `row` on `gpu_ids` (`num_gpus` of them); `PolicyError` if they are not
        free or not allowed."""
        state = self._state
        job = self._jobs[row]
        free = self._free
        try:
            pools = (
                self._all_pools
                if not job.gpu_types and job.gpu_mem_gib is None
                else free.eligible_pools(job.gpu_types, job.gpu_mem_gib)
            )
            gpus = free.take(gpu_ids, pools)
        except ValueError as exc:
            raise PolicyError(self._key, f"job {job.job_id}: {exc}") from None
        rem = self._rem[row]
        run = rem
        eff = 1.0
        if self._speed_rows is not None:
            factors = self._speed_rows[row]
            eff = min(factors[g] for g in gpus)
        if len(gpus) > 1 and len(free.nodes_of(gpus)) > 1:
            self._spanned[row] = 1
            eff /= self._slowdown
        if eff != 1.0:
            run = rem / eff
        over = 0.0
        if self._overhead and (self._npre[row] or self._nfail[row]):
            over = self._overhead
            run += over
        end = now + run
        if end <= now:  # a sliver of work too small to move the clock: one ulp, so end > start
            end = math.nextafter(now, math.inf)
            run = _delay_to(now, end)
        state[row] = _RUNNING
        self._entry[row] = None  # its heap entry is stale now (and can be freed once popped)
        self._num_queued -= 1
        self._demand -= job.num_gpus
        self._running[row] = None
        self._waited[row] += now - self._enq[row]
        self._seg_s[row] = now
        self._seg_p[row] = now + over if over else now
        self._seg_eff[row] = eff
        self._end[row] = end  # the same sum SimPy makes for the timeout below
        self._gpus[row] = gpus
        ev = _new_object(_Tick)  # `_tick`, inlined: this and the arrival are the hot timeouts
        ev.env = env = self._env
        ev.callbacks = [self._complete_cb]
        ev._ok = True
        ev._value = row
        env.schedule(ev, NORMAL, run)
        if self._stops:
            self._ev[row] = ev

    def _preempt(self, job_id: str, now: float) -> None:
        row = self._row_of.get(job_id, -1)
        if not self._preemptive:
            raise PolicyError(self._key, f"preempts job {job_id} but declares preemptive = False")
        if row < 0:
            raise PolicyError(self._key, f"decision names job {job_id!r}, which is not in the workload")
        if self._state[row] != _RUNNING:
            raise PolicyError(self._key, f"preempts job {job_id}, which is not running (it is "
                                         f"{_STATE_NAMES[self._state[row]]})")
        if self._seg_s[row] >= now:
            raise PolicyError(self._key, f"preempts job {job_id} at the instant it started ({now!r} s)")
        rem = self._rem[row]
        self._stop(row, now, PREEMPTED)
        if self._rem[row] < rem:
            self._futile = 0
            return
        self._futile += 1
        if self._futile > self._futile_limit:
            raise PolicyError(
                self._key,
                f"livelock: {self._futile} preemptions in a row kept no work (every stopped segment lost all "
                f"its work to restart_overhead_s = {self._overhead:g} and checkpoint_interval_s = "
                f"{self._checkpoint}); the policy preempts jobs sooner than they can make progress",
            )

    def _reject(self, job_id: str, now: float) -> None:
        """Apply a Reject: a queued job leaves the queue for good."""
        row = self._row_of.get(job_id, -1)
        if row < 0:
            raise PolicyError(self._key, f"decision names job {job_id!r}, which is not in the workload")
        if self._state[row] != _QUEUED:
            raise PolicyError(self._key, f"rejects job {job_id}, which is not queued (it is "
                                         f"{_STATE_NAMES[self._state[row]]})")
        self._state[row] = _REJECTED
        self._entry[row] = None
        self._num_queued -= 1
        self._demand -= self._gpus_of[row]
        self._waited[row] += now - self._enq[row]
        self._dirty = True
        self._num_done += 1
        if self._num_done == self._n and self._mtbf is not None:
            self._all_done.succeed()

    def _illegal(self, job_id: str, gpu_ids: tuple[str, ...]) -> PolicyError:
        key = self._key
        row = self._row_of.get(job_id)
        if row is None:
            return PolicyError(key, f"decision names job {job_id!r}, which is not in the workload")
        if self._state[row] != _QUEUED:
            return PolicyError(key, f"job {job_id} is not queued (it is {_STATE_NAMES[self._state[row]]})")
        need = self._jobs[row].num_gpus
        return PolicyError(key, f"job {job_id} needs {need} GPUs but the decision gives {len(gpu_ids)}")

    # ----- the end of an instant ------------------------------------------
    def _end_instant(self, now: float) -> None:
        """Everything at `now` has been applied: admit arrivals, then ask the policy until it has
        nothing more to do, then ask when to wake it."""
        if not self._dirty:
            return
        self._dirty = False
        if self._admission is not None:
            self._admit(now)
        self._decide_instant(now)

    def _decide_instant(self, now: float) -> None:
        """The policy's part of the end of an instant (a paused run resumes here, admission done)."""
        free = self._free
        preemptive = self._preemptive
        if not (self._num_queued and (free.num_free or preemptive)):
            return
        view = self._view
        view.now_s = now
        self._place_wake = math.inf
        if self._inline_ordered:
            self._start_in_order(now)
        else:
            self._ask_policy(view, now)
        if not self._num_queued:
            self._wakeup_at = None
            return
        wake = self._wakeup_fn(view) if self._wakeup_fn is not None else None
        if self._place_wake < math.inf and (wake is None or self._place_wake < wake):
            wake = self._place_wake
        if wake is not None and wake > now:
            if wake != self._wakeup_at:
                self._wakeup_at = wake
                self._env.timeout(_delay_to(now, wake)).callbacks.append(self._wakeup_cb)
        else:
            self._wakeup_at = None
            if not self._running and not self._num_down and self._next_row >= self._n:
                raise self._stuck_error([r for r in range(self._n) if self._state[r] == _QUEUED])

    def _ask_policy(self, view: _View, now: float) -> None:
        """Apply the policy's decisions until it returns none (or nothing more can happen)."""
        decide = self._decide_fn
        free = self._free
        preemptive = self._preemptive
        while True:
            decisions = decide(view)
            if not decisions:
                return
            for d in decisions:
                t = type(d)
                if t is Start:
                    self._start(d[0], d[1], now)
                elif t is Preempt:
                    self._preempt(d[0], now)
                elif t is Reject:
                    self._reject(d[0], now)
                else:
                    raise PolicyError(self._key, f"decide returned {d!r}; expected Start, Preempt or Reject")
            if not (self._num_queued and (free.num_free or preemptive)):
                return

    def _start_in_order(self, now: float) -> None:
        """`OrderedPolicy.decide`, inlined: start heads in rank order while the placement finds GPUs.

        Used when the policy inherits that `decide` unchanged; it makes exactly the same
        decisions without building views, job states or decision objects (a third of the
        cost of a FCFS run).
        """
        free = self._free
        heap, state, entry, jobs = self._heap, self._state, self._entry, self._jobs
        place, waited, enq = self._place_fn, self._waited, self._enq
        while self._num_queued and free.num_free:
            while True:
                top = heap[0]
                row = top[1]
                if state[row] == _QUEUED and entry[row] is top:
                    break
                heappop(heap)
            w = waited[row] + (now - enq[row])
            ids = place(jobs[row], free, waited_s=w)
            if ids is None:
                if w < self._consolidation_s:
                    self._place_wake = now + (self._consolidation_s - w)
                return
            if len(ids) != self._gpus_of[row]:
                raise self._illegal(jobs[row].job_id, ids)
            self._start_row(row, ids, now)

    def _admit(self, now: float) -> None:
        """Offer deferred jobs (if something may have changed), then this instant's arrivals."""
        from simulator.admission import Verdict

        deferred = self._deferred
        if deferred and (self._recheck_deferred or not self._running):
            while deferred:
                row = deferred[0]
                v = self._verdict(row, now)
                if v is Verdict.defer and (self._running or self._num_queued):
                    break
                deferred.popleft()
                self._apply_verdict(row, v, now, Verdict)
        self._recheck_deferred = False
        pending = self._pending
        self._pending = []
        for row in pending:
            v = self._verdict(row, now)
            if v is Verdict.defer and (deferred or self._running or self._num_queued):
                self._state[row] = _DEFERRED
                deferred.append(row)
            else:
                self._apply_verdict(row, v, now, Verdict)

    def _apply_verdict(self, row: int, v: Any, now: float, verdicts: Any) -> None:
        if v is verdicts.reject:
            self._state[row] = _REJECTED
            self._num_done += 1
            if self._num_done == self._n and self._mtbf is not None:
                self._all_done.succeed()
            return
        # accept (or a defer on an idle cluster, which is admitted)
        self._num_admitted += 1
        self._admitted_gpu_s += self._duration[row] * self._gpus_of[row]
        self._enqueue(row, now)

    def _verdict(self, row: int, now: float) -> Any:
        from simulator.admission import AdmissionState, Verdict

        times = self._arrivals
        rate = self._mean_rate
        if len(times) >= 2 and now > times[0]:
            rate = (len(times) - 1) / (now - times[0])
        mean = self._admitted_gpu_s / self._num_admitted if self._num_admitted else self._mean_gpu_s
        state = AdmissionState(
            now_s=now,
            total_gpus=self._cluster.num_gpus,
            free_gpus=self._free.num_free,
            queued_gpu_demand=self._demand,
            num_queued=self._num_queued,
            num_running=len(self._running),
            arrival_rate_per_s=rate,
            mean_service_gpu_s=mean,
        )
        assert self._admission is not None
        v = self._admission.verdict(self._jobs[row], state)
        if not isinstance(v, Verdict):
            raise RuntimeError(f"admission {self._admission.key!r} returned {v!r}; expected a Verdict")
        return v
