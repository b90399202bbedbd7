"""EASY backfilling (Lifka 1995; Mu'alem & Feitelson 2001): FCFS with one reservation.

Jobs start in FCFS order. When the head cannot start, it gets a reservation: the *shadow
time*, the earliest time enough GPUs it may use are free if running jobs end when their
duration *estimates* say, and the *extra* GPUs, those free at the shadow time beyond the
head's need. A later job may start now if it fits and either ends (by its estimate) by the
shadow time or takes no more than the extra GPUs; it then never delays the head, as long
as estimates hold. Estimates may be wrong: a running job past its estimated end counts as
ending now, so the reservation is simply recomputed at the next decision; nothing is
killed. Times in seconds.
"""

from __future__ import annotations

import math
from bisect import insort
from collections.abc import Iterable, Sequence
from heapq import heappop, heappush
from typing import Any, ClassVar, NamedTuple

from simulator.estimates import estimated_remaining_s
from simulator.policies.base import ClusterView, Decision, JobState, RunContext, Start


class Reservation(NamedTuple):
    """The head's reservation: when it can start by estimates, and the GPUs to spare then."""

    shadow_s: float  # inf: the running jobs never free enough GPUs (no reservation binds)
    extra_gpus: int


def reservation(now_s: float, num_free: int, need: int, releases: Iterable[tuple[float, int]]) -> Reservation:
    """The head's reservation from the free GPUs it may use and the running jobs' estimated ends.

    `releases` holds `(estimated_end_s, gpus)` per running job, counting only GPUs the
    head may use; an end already past counts as now. With `num_free >= need` already (a
    placement that still said no), the shadow time is now.
    """
    avail = num_free
    if avail >= need:
        return Reservation(now_s, avail - need)
    for end_s, gpus in sorted((max(end_s, now_s), gpus) for end_s, gpus in releases):
        avail += gpus
        if avail >= need:
            return Reservation(end_s, avail - need)
    return Reservation(math.inf, 0)


def backfill_use(now_s: float, estimate_s: float, gpus_of_head: int, res: Reservation) -> int | None:
    """How many extra GPUs backfilling this job uses up (0 or more), or None if it may not start.

    `gpus_of_head` counts the GPUs it would take that the head may use. A job that ends
    (by its estimate) by the shadow time costs the reservation nothing, however many GPUs
    it takes; otherwise it may only take the extra ones.
    """
    if gpus_of_head == 0 or now_s + estimate_s <= res.shadow_s:
        return 0
    if gpus_of_head <= res.extra_gpus:
        return gpus_of_head
    return None


def _believed_end_s(info: _Run, now_s: float) -> float:
    """When the policy expects a running job to end: its estimated end, or, once the job has
    outlived its estimate, as long again as its segment has run (an estimate that was too
    short is doubled rather than trusted: durations are heavy-tailed, so the longer a job has
    run the longer it is likely to go on; treating it as ending "now" would put every
    reservation at now and stop all backfilling under imperfect estimates)."""
    end = info.est_end_s
    return end if end > now_s else now_s + (now_s - info.start_s)


_WAITING, _RUNNING, _DONE = 0, 1, 2


class _Run:
    """A job the policy started: its segment, GPUs and estimated end (NaN until looked up)."""

    __slots__ = ("start_s", "gpu_ids", "ratio", "end_s", "est_end_s")

    def __init__(self, start_s: float, gpu_ids: tuple[str, ...], ratio: float) -> None:
        self.start_s = start_s
        self.gpu_ids = gpu_ids
        self.ratio = ratio  # estimated / actual remaining work at the start
        self.end_s = math.nan
        self.est_end_s = math.nan


class EasyBackfillPolicy:
    """FCFS with EASY backfilling on the run's duration estimates; never preempts.

    `max_backfill_scan` (>= 1, default 1000) caps how many waiting jobs behind a blocked
    head one decision looks at: scanning the queue behind the head is inherent to
    backfilling, and the cap bounds a decision on long queues (jobs further back wait
    for a later decision). The policy keeps its own FCFS mirror of the queue (arrivals
    by a cursor over the workload's submission order, requeued jobs when `rank` sees
    them), so skipping a job that needs more GPUs than are free costs a list step, not
    a `JobState`. The reservation is computed once per instant and head, from the
    policy's own table of the jobs it started (O(running log running)), and updated as
    jobs backfill; each backfilled job costs one scan from the head.

    GPUs are counted per head: only GPUs the head may use (its GPU types and memory)
    enter its reservation, and a backfilled job's GPUs the head may not use never delay
    it. A running job's estimated end is its segment's start plus the segment's run time
    scaled by estimated over actual remaining work: the speed the engine runs it at
    (GPU type, spanning nodes, restart overhead) applied to the estimate; the actual
    duration enters only through that speed, and with `estimates="actual"` it is the
    actual end. A job still running past its estimated end is expected to run as long
    again as its segment has (`_believed_end_s`). A job that might backfill is timed on the speed factor of its slowest
    GPU (the policy does not see the cross-node slowdown, so for a job spread over nodes
    the check trusts the estimate a little more than it should).
    """

    key: ClassVar[str] = "easy-backfill"
    preemptive: ClassVar[bool] = False

    def __init__(self, max_backfill_scan: int = 1000) -> None:
        if isinstance(max_backfill_scan, bool) or not isinstance(max_backfill_scan, int) or max_backfill_scan < 1:
            raise ValueError(f"max_backfill_scan must be an integer >= 1, got {max_backfill_scan!r}")
        self.max_backfill_scan = max_backfill_scan

    def bind(self, ctx: RunContext) -> None:
        self.ctx = ctx
        n = len(ctx.jobs)
        self._submit = [j.submit_s for j in ctx.jobs]
        self._state = bytearray(n)  # _WAITING (or not arrived), _RUNNING, _DONE
        self._seq = [0] * n  # bumped when a job is requeued, so its old mirror entry goes stale
        self._queue: list[tuple[int, int]] = []  # (row, seq), FCFS = row order; stale entries skipped
        self._num_stale = 0
        self._cursor = 0  # rows before it have arrived
        self._run: dict[int, _Run] = {}
        self._unsynced: list[int] = []  # started; actual end not looked up yet
        self._ends: list[tuple[float, int, float]] = []  # (actual end, row, segment start)
        self._gpu_info = {g.gpu_id: (g.gpu_type, g.gpu_mem_gib) for g in ctx.cluster.gpus()}
        self._eligible: dict[tuple[tuple[str, ...], float | None], frozenset[str]] = {}
        self._res_key: tuple[float, int] | None = None  # (now, head row) the cached reservation is for
        self._res = Reservation(math.inf, 0)
        self._rejected: set[int] = set()  # rows that cannot backfill at this instant and head
        self._fastest: dict[str | None, float] = {}  # model -> speed factor of the cluster's fastest type

    def rank(self, job: JobState) -> tuple[Any, ...]:
        """FCFS: every job ranks the same, so the engine's tie-break (submit_s, job_id) is the order."""
        row = job.job.row
        if self._state[row] == _RUNNING:  # requeued after a node failure: back to its place
            self._state[row] = _WAITING
            self._seq[row] += 1
            insort(self._queue, (row, self._seq[row]))
            del self._run[row]
        return ()

    def next_wakeup_s(self, view: ClusterView) -> float | None:
        return None

    def decide(self, view: ClusterView) -> Sequence[Decision]:
        now = view.now_s
        self._catch_up(view, now)
        head = view.head()
        if head is None:
            return ()
        gpu_ids = view.place(head.job)
        if gpu_ids is not None:
            return (self._start(head, gpu_ids, now),)
        head_row = head.job.row
        if self._res_key != (now, head_row):
            self._res_key = (now, head_row)
            self._res = self._reservation(view, head)
            self._rejected.clear()
        head_gpus = self._eligible_for(head.job.gpu_types, head.job.gpu_mem_gib)
        # With a head that may use any GPU, a job taking more than the extra GPUs must end
        # by the shadow time even on the fastest GPU; one that never ran is checked on its
        # estimate before anything is built or placed.
        any_gpu = len(head_gpus) == len(self._gpu_info)
        res = self._res
        free = view.num_free_gpus
        jobs, state, seq, rejected = self.ctx.jobs, self._state, self._seq, self._rejected
        estimate, fastest = self.ctx.estimate_s, self._fastest
        scanned = 0
        for row, s in self._queue:
            if state[row] or seq[row] != s or row == head_row:
                continue
            scanned += 1
            if scanned > self.max_backfill_scan:
                break
            job = jobs[row]
            need = job.num_gpus
            if need > free or row in rejected:
                continue
            if any_gpu and need > res.extra_gpus and not s:
                factor = fastest.get(job.model_name)
                if factor is None:
                    factor = fastest[job.model_name] = self._fastest_factor(job.model_name)
                if now + estimate[row] / factor > res.shadow_s:
                    rejected.add(row)
                    continue
            candidate = view.job(job.job_id)
            if candidate is None or candidate.running:  # not admitted (yet)
                continue
            gpu_ids = view.place(job)
            if gpu_ids is not None:
                taken = sum(1 for g in gpu_ids if g in head_gpus)
                use = backfill_use(now, self._estimated_run_s(candidate, gpu_ids), taken, self._res)
                if use is not None:
                    self._res = self._res._replace(extra_gpus=self._res.extra_gpus - use)
                    return (self._start(candidate, gpu_ids, now),)
            rejected.add(row)
        return ()

    def _start(self, state: JobState, gpu_ids: tuple[str, ...], now: float) -> Start:
        row = state.job.row
        actual = state.remaining_work_s
        estimated = estimated_remaining_s(state)
        ratio = 1.0 if estimated == actual else estimated / actual if actual > 0 else 0.0
        self._state[row] = _RUNNING
        self._num_stale += 1
        self._run[row] = _Run(now, gpu_ids, ratio)
        self._unsynced.append(row)
        return Start(state.job.job_id, gpu_ids)

    def _catch_up(self, view: ClusterView, now: float) -> None:
        """Arrivals up to `now` into the mirror, the ends of jobs just started, completions up to `now`."""
        submit, queue, seq = self._submit, self._queue, self._seq
        i, n = self._cursor, len(submit)
        while i < n and submit[i] <= now:
            queue.append((i, seq[i]))  # arrivals come in row order, after every row already here
            i += 1
        self._cursor = i
        if self._num_stale > len(queue) // 2 + 64:
            state = self._state
            queue[:] = [(r, s) for r, s in queue if not state[r] and seq[r] == s]
            self._num_stale = 0
        jobs, run = self.ctx.jobs, self._run
        for row in self._unsynced:
            info = run.get(row)
            if info is None:
                continue
            st = view.job(jobs[row].job_id)
            if st is None or st.start_s != info.start_s:  # started and ended since the last look
                self._finished(row)
                continue
            info.end_s = st.end_s
            r = info.ratio
            info.est_end_s = st.end_s if r == 1.0 else info.start_s + (st.end_s - info.start_s) * r
            heappush(self._ends, (st.end_s, row, info.start_s))
        self._unsynced.clear()
        ends = self._ends
        while ends and ends[0][0] <= now:
            _, row, start_s = heappop(ends)
            info = run.get(row)
            if info is not None and info.start_s == start_s:
                self._finished(row)

    def _finished(self, row: int) -> None:
        self._state[row] = _DONE
        del self._run[row]

    def _estimated_run_s(self, state: JobState, gpu_ids: tuple[str, ...]) -> float:
        """How long a queued job would run on these GPUs by its estimate (a gang runs at its slowest GPU)."""
        work_s = estimated_remaining_s(state)
        speed, model = self.ctx.speed, state.job.model_name
        factor = min(speed.factor(self._gpu_info[g][0], model) for g in gpu_ids)
        return work_s if factor == 1.0 else work_s / factor

    def _fastest_factor(self, model: str | None) -> float:
        speed = self.ctx.speed
        return max(speed.factor(t, model) for t in {t for t, _ in self._gpu_info.values()})

    def _reservation(self, view: ClusterView, head: JobState) -> Reservation:
        """The head's reservation over the GPUs it may use, from the running jobs' estimated ends."""
        job = head.job
        now = view.now_s
        if not job.gpu_types and job.gpu_mem_gib is None:
            num_free = view.num_free_gpus
            releases = [(_believed_end_s(info, now), len(info.gpu_ids)) for info in self._run.values()]
        else:
            eligible = self._eligible_for(job.gpu_types, job.gpu_mem_gib)
            num_free = sum(1 for ids in view.free_gpus().values() for g in ids if g in eligible)
            releases = []
            for info in self._run.values():
                gpus = sum(1 for g in info.gpu_ids if g in eligible)
                if gpus:
                    releases.append((_believed_end_s(info, now), gpus))
        return reservation(now, num_free, job.num_gpus, releases)

    def _eligible_for(self, gpu_types: tuple[str, ...], gpu_mem_gib: float | None) -> frozenset[str]:
        """Ids of the GPUs a job with these needs may run on (cached per distinct need)."""
        key = (gpu_types, gpu_mem_gib)
        ids = self._eligible.get(key)
        if ids is None:
            ids = frozenset(
                g
                for g, (t, mem) in self._gpu_info.items()
                if (not gpu_types or t in gpu_types) and (gpu_mem_gib is None or gpu_mem_gib <= mem)
            )
            self._eligible[key] = ids
        return ids
