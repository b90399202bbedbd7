"""Tiresias-style two-dimensional least-attained-service (2D-LAS; Gu et al., NSDI '19).

A job's attained service is measured in GPU-time (GPUs x seconds held), so a wide job
ages as fast as its width. Service is discretised into K queues by K-1 thresholds
(GPU-seconds): a job enters the top queue (0) and is demoted one queue each time its
service *since it last entered the top queue* crosses the next threshold (the policy
asks to be woken at that exact time). Within a queue jobs are FIFO by the time they
arrived in that queue; a higher queue preempts a lower one. Starvation prevention
(Tiresias' PROMOTEKNOB): a job waiting in a lower queue goes back to the top queue, its
queue service reset, once the time it has waited since it first ran after entering the
top queue reaches `starvation_factor` times the time it ran since then. That is the rule
of Tiresias' simulator (`dlas_sim_jobs`: its waiting counter starts at the first run and
only a promotion resets it); for a job that ran once and then waits it is "waited more
than factor x its last run". With promotion on, a job much longer than the threshold
cycles through the queues while others wait: about one preemption per threshold's worth
of service. Times in seconds, service in GPU-seconds.
"""

from __future__ import annotations

import math
from bisect import bisect_right, insort
from collections.abc import Iterator, Sequence
from heapq import heapify, heappop, heappush
from typing import Any, ClassVar

from simulator.policies.base import ClusterView, Decision, JobState, Preempt, RunContext, Start

# Tiresias' simulator (SymbioticLab/Tiresias, simulator/jobs.py) uses two queues split at
# queue_limit[0] = 3250 GPU-seconds for its `dlas-gpu` scheduler.
DEFAULT_THRESHOLDS_GPU_S: tuple[float, ...] = (3250.0,)
# Tiresias' simulator sweeps the promotion knob over 0.5 .. 1000 (`dlas-gpu-<knob>`); its
# plain `dlas-gpu` has none. 8 is a middle value of that sweep: starvation prevention on,
# firing only for jobs that have waited many times longer than they ran. inf turns it off.
DEFAULT_STARVATION_FACTOR: float = 8.0


def check_thresholds(thresholds_gpu_s: Sequence[float]) -> tuple[float, ...]:
    """The thresholds as a tuple; ValueError unless finite, > 0 and strictly increasing."""
    out = tuple(float(t) for t in thresholds_gpu_s)
    for i, t in enumerate(out):
        if not math.isfinite(t) or t <= 0:
            raise ValueError(f"queue thresholds must be finite and > 0 GPU-seconds, got {t!r}")
        if i and t <= out[i - 1]:
            raise ValueError(f"queue thresholds must be strictly increasing, got {list(out)}")
    return out


def check_starvation_factor(factor: float) -> float:
    """The factor as a float (inf: never promote); ValueError unless a number >= 0."""
    f = float(factor)
    if not f >= 0:
        raise ValueError(f"starvation_factor must be a number >= 0 (inf: never promote), got {factor!r}")
    return f


def queue_level(service_gpu_s: float, thresholds_gpu_s: Sequence[float]) -> int:
    """The queue (0 = top) for this much service since the top queue: one down per threshold reached."""
    return bisect_right(thresholds_gpu_s, service_gpu_s)


def demotion_time_s(
    start_s: float, service_gpu_s: float, num_gpus: int, level: int, thresholds_gpu_s: Sequence[float]
) -> float | None:
    """When a job running from `start_s` with this queue service reaches the next threshold.

    None in the last queue. Never earlier than `start_s` (service already past the
    threshold, or a step too small to represent, demotes at `start_s`).
    """
    if level >= len(thresholds_gpu_s):
        return None
    left_gpu_s = thresholds_gpu_s[level] - service_gpu_s
    if left_gpu_s <= 0:
        return start_s
    return max(start_s, start_s + left_gpu_s / num_gpus)


def promotion_time_s(first_run_s: float, run_s: float, starvation_factor: float) -> float | None:
    """When a job waiting in a lower queue is promoted back to the top queue (None: never).

    `first_run_s` is when it first ran after it last entered the top queue and `run_s` how
    long it has run since. It has then waited `t - first_run_s - run_s` by time t, which
    reaches `starvation_factor * run_s` at `first_run_s + (1 + factor) * run_s`.
    """
    if math.isinf(starvation_factor) or not run_s > 0:
        return None
    return first_run_s + (1.0 + starvation_factor) * run_s


_NEW, _STARTED, _DONE = 0, 1, 2  # per row: never started, has a `_Track`, finished


class _Track:
    """What the policy remembers about a job it has started."""

    __slots__ = (
        "num_gpus",
        "level",
        "entry_s",
        "base_gpu_s",
        "attained_gpu_s",
        "first_run_s",
        "seq",
        "running",
        "seg_start_s",
        "gpu_ids",
    )

    def __init__(self, num_gpus: int, submit_s: float) -> None:
        self.num_gpus = num_gpus
        self.level = 0
        self.entry_s = submit_s  # when it arrived in its current queue (the FIFO key)
        self.base_gpu_s = 0.0  # attained service when it last entered the top queue
        self.attained_gpu_s = 0.0  # attained service when it last stopped
        self.first_run_s = math.nan  # first start since it last entered the top queue
        self.seq = 1  # bumped on every change; entries made under another seq are stale
        self.running = False
        self.seg_start_s = math.nan
        self.gpu_ids: tuple[str, ...] = ()


def _in_order(heap: list[tuple[float, int, int]]) -> Iterator[tuple[float, int, int]]:
    """A heap's entries in sorted order without popping (a frontier over the heap's tree)."""
    size = len(heap)
    frontier = [(heap[0], 0)] if size else []
    while frontier:
        entry, i = heappop(frontier)
        yield entry
        for c in (2 * i + 1, 2 * i + 2):
            if c < size:
                heappush(frontier, (heap[c], c))


class Las2dPolicy:
    """Tiresias' discretised 2D-LAS with promotion; see the module docstring for the rules.

    Parameters: `thresholds_gpu_s` (K-1 strictly increasing GPU-second thresholds for K
    queues, default one at 3250; a string "3250,7200" is accepted), `starvation_factor`
    (>= 0, default 8; inf never promotes) and `max_scan` (how many waiting jobs one
    decision looks at, >= 1, default 1000).

    Jobs start greedily in priority order, skipping those that do not fit (as Tiresias
    does), and a job that does not fit preempts running jobs of lower queues, the
    latest arrival in the lowest queue first, when that makes room for it.

    Everything is incremental. The policy keeps its own queues: a sorted list per queue
    of `(arrival in queue, row, seq)` (arrivals come in by a cursor over the submission
    order, requeued jobs at its next look after they stop, promoted ones when they are
    due), stale entries skipped and compacted away; demotion, promotion and expected end
    times sit in heaps; GPUs held are counted per queue. It learns of stops without
    `rank` (which is pure): its own preemptions are remembered when decided, and a node
    failure shows as the engine running fewer jobs than the policy started, the one case
    in which it looks over its started jobs. A decision looks at waiting jobs only
    until nothing behind can start (no free GPU and no lower-queue job to preempt) or
    `max_scan` jobs, and skipping one that cannot fit is a list step; it looks at
    running jobs only to pick victims.
    """

    key: ClassVar[str] = "las-2d"
    preemptive: ClassVar[bool] = True

    def __init__(
        self,
        thresholds_gpu_s: tuple[float, ...] = DEFAULT_THRESHOLDS_GPU_S,
        starvation_factor: float = DEFAULT_STARVATION_FACTOR,
        max_scan: int = 1000,
    ) -> None:
        if isinstance(thresholds_gpu_s, str):
            try:
                thresholds_gpu_s = tuple(float(t) for t in thresholds_gpu_s.split(",") if t.strip())
            except ValueError:
                raise ValueError(
                    f"thresholds_gpu_s: expected comma-separated GPU-seconds but found {thresholds_gpu_s!r}"
                ) from None
        self.thresholds_gpu_s = check_thresholds(thresholds_gpu_s)
        self.starvation_factor = check_starvation_factor(starvation_factor)
        if isinstance(max_scan, bool) or not isinstance(max_scan, int) or max_scan < 1:
            raise ValueError(f"max_scan must be an integer >= 1, got {max_scan!r}")
        self.max_scan = max_scan

    def bind(self, ctx: RunContext) -> None:
        self.ctx = ctx
        n = len(ctx.jobs)
        levels = len(self.thresholds_gpu_s) + 1
        self._submit = [j.submit_s for j in ctx.jobs]
        self._cursor = 0  # rows before it have arrived
        self._status = bytearray(n)  # _NEW, _STARTED, _DONE
        self._tracks: dict[int, _Track] = {}  # row -> track, for started jobs not yet finished
        self._queues: list[list[tuple[float, int, int]]] = [[] for _ in range(levels)]  # (entry_s, row, seq)
        self._num_stale = 0  # queue entries made stale since the last compaction
        self._run: list[list[tuple[float, int, int]]] = [[] for _ in range(levels)]  # (-entry_s, -row, seq)
        self._gpus_at = [0] * levels  # GPUs held by running jobs, per queue (exact)
        self._demote: list[tuple[float, int, int]] = []  # (crossing_s, row, seq)
        self._promote: list[tuple[float, int, int]] = []  # (promotion_s, row, seq)
        self._ends: list[tuple[float, int, float]] = []  # (expected end, row, segment start)
        self._unsynced: list[int] = []  # started; expected end not looked up yet
        self._preempted: list[int] = []  # preempted by the last decision; requeued at the next look
        self._num_running = 0  # jobs the policy started that still run, as far as it knows

    # ----- the queues -----------------------------------------------------------
    def rank(self, job: JobState) -> tuple[Any, ...]:
        """`(queue for the total attained service,)`: a pure function of the state, as the protocol asks.

        Only the engine's view of the queue uses it; `decide` walks the policy's own queues,
        which also know promotions (a promoted job's queue service starts again from 0)
        and when each job entered its queue (the FIFO key), neither of which a `JobState`
        holds. The two orders agree for jobs that never ran (queue 0, by submission) and
        for requeued jobs that were never promoted, up to the FIFO key within a queue.
        """
        return (queue_level(job.attained_gpu_s, self.thresholds_gpu_s),)

    def _stopped(self, row: int, tr: _Track, state: JobState) -> None:
        """A job the policy started is back in the queue (preempted, or its node failed): it is
        filed in its queue again, and in a lower queue it becomes due for promotion."""
        tr.running = False
        tr.seq += 1
        tr.attained_gpu_s = state.attained_gpu_s
        self._gpus_at[tr.level] -= tr.num_gpus
        self._num_running -= 1
        insort(self._queues[tr.level], (tr.entry_s, row, tr.seq))
        if tr.level:
            run_s = (state.attained_gpu_s - tr.base_gpu_s) / tr.num_gpus
            due = promotion_time_s(tr.first_run_s, run_s, self.starvation_factor)
            if due is not None:
                heappush(self._promote, (due, row, tr.seq))

    def _find_stopped(self, view: ClusterView) -> None:
        """Requeue the jobs the engine stopped on its own (node failures).

        O(started, unfinished jobs), but called only when the engine runs fewer jobs than
        the policy believes it started, i.e. after a failure.
        """
        jobs = self.ctx.jobs
        for row, tr in list(self._tracks.items()):
            if not tr.running:
                continue
            state = view.job(jobs[row].job_id)
            if state is None:
                self._finished(row, tr)
            elif not state.running:
                self._stopped(row, tr, state)

    def _waiting(self) -> Iterator[tuple[int, int]]:
        """`(queue, row)` of waiting jobs in priority order (jobs not admitted yet included)."""
        status, tracks = self._status, self._tracks
        for level, queue in enumerate(self._queues):
            k = 0  # stale entries at the front (jobs started from the head): dropped now, not walked again
            for _, row, seq in queue:
                if seq == 0:
                    if status[row] == _NEW:
                        break
                else:
                    tr = tracks.get(row)
                    if tr is not None and tr.seq == seq and not tr.running:
                        break
                k += 1
            if k:
                del queue[:k]
                self._num_stale = max(0, self._num_stale - k)
            for _, row, seq in queue:
                if seq == 0:
                    if status[row] == _NEW:
                        yield level, row
                else:
                    tr = tracks.get(row)
                    if tr is not None and tr.seq == seq and not tr.running:
                        yield level, row

    # ----- decisions --------------------------------------------------------------
    def decide(self, view: ClusterView) -> Sequence[Decision]:
        now = view.now_s
        self._catch_up(view, now)
        free = view.num_free_gpus
        gpus_at = self._gpus_at
        below = [0] * len(gpus_at)  # below[q]: GPUs held by running jobs of the queues after q
        for q in range(len(below) - 2, -1, -1):
            below[q] = below[q + 1] + gpus_at[q + 1]
        jobs = self.ctx.jobs
        scanned = 0
        for level, row in self._waiting():
            job = jobs[row]
            need = job.num_gpus
            if need <= free:
                gpu_ids = view.place(job)
                if gpu_ids is not None:
                    state = view.job(job.job_id)
                    if state is not None and not state.running:
                        self._started(row, now, gpu_ids)
                        return (Start(job.job_id, gpu_ids),)
            if below[level] and need <= free + below[level]:
                plan = self._preempt_for(view, row, level, now)
                if plan:
                    return plan
            elif not free and not below[level]:
                break  # nobody behind (same or lower queue) can start or preempt
            scanned += 1
            if scanned >= self.max_scan:
                break
        return ()

    def _preempt_for(self, view: ClusterView, row: int, level: int, now: float) -> Sequence[Decision]:
        """Preempt lower-queue jobs, worst first, until the job fits; () if even all do not make room."""
        jobs, tracks = self.ctx.jobs, self._tracks
        job = jobs[row]
        state = view.job(job.job_id)
        if state is None or state.running:  # not admitted (yet)
            return ()
        have = view.num_free_gpus
        chosen: list[int] = []
        for victim in self._victims(level, now):
            chosen.append(victim)
            have += tracks[victim].num_gpus
            if have < job.num_gpus:
                continue
            gpu_ids = view.place(job, [jobs[v].job_id for v in chosen])
            if gpu_ids is None:
                continue
            used = set(gpu_ids)
            needed = [v for v in chosen if used.intersection(tracks[v].gpu_ids)]
            if len(needed) < len(chosen):
                fewer = view.place(job, [jobs[v].job_id for v in needed])
                if fewer is not None:
                    chosen, gpu_ids = needed, fewer
            self._started(row, now, gpu_ids)
            self._preempted.extend(chosen)
            return (*(Preempt(jobs[v].job_id) for v in chosen), Start(job.job_id, gpu_ids))
        return ()

    def _victims(self, level: int, now: float) -> Iterator[int]:
        """Rows of running jobs of the queues after `level`: lowest queue first, latest arrival in it first.

        Jobs that started at this instant are left out (preempting them is illegal).
        """
        tracks = self._tracks
        for q in range(len(self._run) - 1, level, -1):
            heap = self._run[q]
            while heap and not self._valid_running(heap[0]):
                heappop(heap)
            if len(heap) > 2 * len(tracks) + 64:  # compact: stale entries that never reach the top
                heap[:] = [e for e in heap if self._valid_running(e)]
                heapify(heap)
            for entry in _in_order(heap):
                tr = tracks.get(-entry[1])
                if tr is not None and tr.running and tr.seq == entry[2] and tr.seg_start_s < now:
                    yield -entry[1]

    def _valid_running(self, entry: tuple[float, int, int]) -> bool:
        tr = self._tracks.get(-entry[1])
        return tr is not None and tr.running and tr.seq == entry[2]

    def _started(self, row: int, now: float, gpu_ids: tuple[str, ...]) -> None:
        tr = self._tracks.get(row)
        if tr is None:
            job = self.ctx.jobs[row]
            tr = self._tracks[row] = _Track(job.num_gpus, job.submit_s)
            self._status[row] = _STARTED
        else:
            tr.seq += 1
        self._num_stale += 1
        tr.running = True
        self._num_running += 1
        tr.seg_start_s = now
        tr.gpu_ids = gpu_ids
        if math.isnan(tr.first_run_s):
            tr.first_run_s = now
        self._gpus_at[tr.level] += tr.num_gpus
        heappush(self._run[tr.level], (-tr.entry_s, -row, tr.seq))
        service_gpu_s = tr.attained_gpu_s - tr.base_gpu_s
        cross = demotion_time_s(now, service_gpu_s, tr.num_gpus, tr.level, self.thresholds_gpu_s)
        if cross is not None:
            heappush(self._demote, (cross, row, tr.seq))
        self._unsynced.append(row)

    # ----- time passing -----------------------------------------------------------
    def _catch_up(self, view: ClusterView, now: float) -> None:
        """Apply what happened up to `now`: arrivals, completions, then demotions and promotions
        at their exact times."""
        submit, top = self._submit, self._queues[0]
        i, n = self._cursor, len(submit)
        while i < n and submit[i] <= now:
            insort(top, (submit[i], i, 0))
            i += 1
        self._cursor = i
        tracks, jobs = self._tracks, self.ctx.jobs
        for row in self._preempted:
            tr = tracks.get(row)
            state = view.job(jobs[row].job_id)
            if tr is not None and tr.running and state is not None and not state.running:
                self._stopped(row, tr, state)
        self._preempted.clear()
        for row in self._unsynced:
            tr = tracks.get(row)
            if tr is None or not tr.running:
                continue
            state = view.job(jobs[row].job_id)
            if state is None:
                self._finished(row, tr)  # started and ended since the last look
            elif not state.running:
                self._stopped(row, tr, state)  # started and stopped by a failure since the last look
            else:
                heappush(self._ends, (state.end_s, row, tr.seg_start_s))
        self._unsynced.clear()
        ends = self._ends
        while ends and ends[0][0] <= now:
            _, row, seg_start_s = heappop(ends)
            tr = tracks.get(row)
            if tr is not None and tr.running and tr.seg_start_s == seg_start_s:
                self._finished(row, tr)
        if self._num_running != view.num_running:
            self._find_stopped(view)
        demote, thresholds = self._demote, self.thresholds_gpu_s
        while demote and demote[0][0] <= now:
            cross, row, seq = heappop(demote)
            tr = tracks.get(row)
            if tr is None or not tr.running or tr.seq != seq:
                continue
            self._gpus_at[tr.level] -= tr.num_gpus
            tr.level += 1
            tr.entry_s = cross
            tr.seq += 1
            self._gpus_at[tr.level] += tr.num_gpus
            heappush(self._run[tr.level], (-cross, -row, tr.seq))
            # The service at the crossing is the threshold itself: the next crossing follows exactly.
            nxt = demotion_time_s(cross, thresholds[tr.level - 1], tr.num_gpus, tr.level, thresholds)
            if nxt is not None:
                heappush(demote, (nxt, row, tr.seq))
        promote = self._promote
        while promote and promote[0][0] <= now:
            due, row, seq = heappop(promote)
            tr = tracks.get(row)
            if tr is None or tr.running or tr.seq != seq:
                continue
            self._num_stale += 1
            tr.level = 0
            tr.entry_s = due
            tr.base_gpu_s = tr.attained_gpu_s
            tr.first_run_s = math.nan
            tr.seq += 1
            insort(top, (due, row, tr.seq))
        if self._num_stale > 64 and self._num_stale > sum(map(len, self._queues)) // 2:
            self._compact()

    def _compact(self) -> None:
        """Drop stale entries from the queues (kept sorted)."""
        status, tracks = self._status, self._tracks
        for queue in self._queues:
            queue[:] = [
                e
                for e in queue
                if (
                    status[e[1]] == _NEW
                    if e[2] == 0
                    else (t := tracks.get(e[1])) is not None and t.seq == e[2] and not t.running
                )
            ]
        self._num_stale = 0

    def _finished(self, row: int, tr: _Track) -> None:
        self._gpus_at[tr.level] -= tr.num_gpus
        self._num_running -= 1
        self._status[row] = _DONE
        del self._tracks[row]

    def next_wakeup_s(self, view: ClusterView) -> float | None:
        """The next demotion of a running job or promotion of a waiting one."""
        self._catch_up(view, view.now_s)
        tracks = self._tracks
        best = math.inf
        demote, promote = self._demote, self._promote
        while demote and not ((t := tracks.get(demote[0][1])) is not None and t.running and t.seq == demote[0][2]):
            heappop(demote)
        if demote:
            best = demote[0][0]
        while promote and not (
            (t := tracks.get(promote[0][1])) is not None and not t.running and t.seq == promote[0][2]
        ):
            heappop(promote)
        if promote:
            best = min(best, promote[0][0])
        return None if math.isinf(best) else best
