"""Themis finish-time fairness (Mahajan et al., NSDI '20), simplified to a non-preemptive greedy offer.

A job's finish-time fairness is rho = T_shared / T_independent: T_independent is its
estimated run time alone on the GPUs it asks for (`estimate_s`), T_shared its elapsed
time since submission plus its estimated remaining time at its current allocation
(for a waiting job: as if it started now). rho > 1 means the shared cluster is
slowing the job down; Themis serves the worst-off (largest rho) jobs first.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any, ClassVar

import numpy as np
import numpy.typing as npt

from simulator.policies.base import ClusterView, Decision, JobState, RunContext, Start
from simulator.policies.membership import Membership

# A floor for estimates so that a zero estimate cannot divide by zero (1 ms of work).
MIN_ESTIMATE_S = 1e-3


def finish_time_fairness(
    now_s: float,
    submit_s: npt.NDArray[np.float64],
    estimate_s: npt.NDArray[np.float64],
    done_s: npt.NDArray[np.float64],
) -> npt.NDArray[np.float64]:
    """rho per job: `((now - submit) + max(estimate - done, 0)) / estimate`.

    `done_s` is the work a job has done and kept (reference-GPU seconds, as
    `JobState.work_done_s`). For a running job rho stays constant while it runs (its
    remaining time shrinks as fast as its elapsed time grows) until it outlives its
    estimate; for a waiting job it grows by 1 / estimate per second, so short jobs grow
    more urgent faster.
    """
    est = np.maximum(estimate_s, MIN_ESTIMATE_S)
    remaining = np.maximum(est - done_s, 0.0)
    return ((now_s - submit_s) + remaining) / est


def num_bidders(num_active: int, fairness_knob: float) -> int:
    """How many of the worst-off active jobs bid: ceil(f * active), at least one when any is active."""
    if num_active == 0:
        return 0
    return max(1, min(num_active, math.ceil(fairness_knob * num_active - 1e-9)))


def offer_order(
    rho_queued: npt.NDArray[np.float64],
    fifo_queued: npt.NDArray[np.int64],
    rho_running: npt.NDArray[np.float64],
    fifo_running: npt.NDArray[np.int64],
    fairness_knob: float,
    eligible: npt.NDArray[np.bool_] | None = None,
) -> npt.NDArray[np.intp]:
    """Indices into the queued arrays in the order free GPUs are offered.

    The bidders are the `num_bidders` active jobs (running and queued together) with the
    largest rho, ties by FIFO position; running bidders already hold their GPUs, so only
    the queued ones take part. They are offered GPUs worst rho first (our greedy stand-in
    for the paper's partial-allocation auction); whatever they cannot use is leftover,
    offered to the other queued jobs in FIFO order (the paper hands leftovers to
    non-bidders too). `fifo_*` are unique FIFO positions (submission order, ties by id).
    With `eligible` (a mask over the queued jobs), only those are listed; the bidder cut
    still counts every active job. O(n) for the cut plus a sort of the listed jobs.
    """
    num_queued = len(rho_queued)
    rho = np.concatenate((rho_queued, rho_running))
    fifo = np.concatenate((fifo_queued, fifo_running))
    n = len(rho)
    k = num_bidders(n, fairness_knob)
    if k < n:
        kth = np.partition(rho, n - k)[n - k]  # the k-th largest rho
        bid = rho > kth
        ties = np.flatnonzero(rho == kth)
        bid[ties[np.argsort(fifo[ties], kind="stable")][: k - int(np.count_nonzero(bid))]] = True
    else:
        bid = np.ones(n, dtype=bool)
    bid_q = bid[:num_queued]
    listed = np.ones(num_queued, dtype=bool) if eligible is None else eligible
    bidders = np.flatnonzero(bid_q & listed)
    bidders = bidders[np.lexsort((fifo_queued[bidders], -rho_queued[bidders]))]
    rest = np.flatnonzero(~bid_q & listed)
    rest = rest[np.argsort(fifo_queued[rest], kind="stable")]
    return np.concatenate((bidders, rest)).astype(np.intp)


class _RowSet:
    """A set of workload rows with O(1) add and remove and a NumPy view for vectorised math."""

    def __init__(self, capacity: int) -> None:
        self._rows = np.empty(max(capacity, 1), dtype=np.int64)
        self._pos: dict[int, int] = {}

    def __len__(self) -> int:
        return len(self._pos)

    def __contains__(self, row: int) -> bool:
        return row in self._pos

    def add(self, row: int) -> None:
        i = len(self._pos)
        self._rows[i] = row
        self._pos[row] = i

    def remove(self, row: int) -> None:
        i = self._pos.pop(row)
        last = len(self._pos)
        if i != last:
            moved = int(self._rows[last])
            self._rows[i] = moved
            self._pos[moved] = i

    @property
    def array(self) -> npt.NDArray[np.int64]:
        return self._rows[: len(self._pos)]


class ThemisPolicy:
    """Finish-time fairness, non-preemptive: free GPUs go to the worst-off jobs first.

    Simplifications of the paper, on purpose: (1) no auction: the bidders (the
    `fairness_knob` fraction of active jobs, running and waiting, with the largest rho)
    are offered free GPUs greedily, worst rho first, each taking the GPUs it asks for if
    the placement finds them; (2) leases last until the job completes, so nothing is ever
    preempted and a running job keeps its gang size (the paper re-auctions leases every
    round and lets apps grow and shrink); (3) GPUs the bidders cannot use are leftover,
    offered to the other waiting jobs in submission order, so the policy is
    work-conserving. rho uses the run's duration estimates (`estimate_s`) and
    reference-GPU time: speed factors and restart overheads are not in T_shared.

    Offers are made at every arrival and completion (the engine asks whenever a job waits
    and a GPU is free) and, while that holds, at every multiple of `round_s` (the paper's
    periodic auction; `round_s = 0` turns the ticks off). With leases that last until
    completion and a work-conserving offer, a job that fits is started at the event that
    makes it fit, so a tick finds nothing new to start and cannot change the schedule;
    the ticks keep the paper's round structure explicit (and cost at most one event per
    round while jobs wait beside idle GPUs that none of them can use).

    Cost: rho changes with time for every waiting job, so the order is inherently global:
    O((Q + R) log(Q + R)) NumPy work once per instant (Q waiting, R running; the order
    stays valid across the instant's starts because a job that starts keeps its rho),
    plus amortised O(1) bookkeeping per job event (`Membership`).
    """

    key: ClassVar[str] = "themis"
    preemptive: ClassVar[bool] = False

    def __init__(self, fairness_knob: float = 0.2, round_s: float = 600.0) -> None:
        f = float(fairness_knob)
        if not 0.0 < f <= 1.0:
            raise ValueError(f"fairness_knob must be in (0, 1], got {fairness_knob!r}")
        r = float(round_s)
        if not 0.0 <= r < math.inf:
            raise ValueError(f"round_s must be a finite number >= 0, got {round_s!r}")
        self.fairness_knob = f
        self.round_s = r

    def bind(self, ctx: RunContext) -> None:
        n = len(ctx.jobs)
        self._jobs = ctx.jobs
        self._members = Membership(ctx.jobs)
        self._submit_s = np.asarray(ctx.workload.submit_s, dtype=np.float64)
        self._estimate_s = np.asarray(ctx.estimate_s, dtype=np.float64)
        self._done_s = np.zeros(n)  # work kept when the job last entered the queue or started
        self._start_s = np.zeros(n)  # the current segment's start, for running jobs
        self._num_gpus = np.asarray(ctx.workload.num_gpus, dtype=np.int64)
        self._queued = _RowSet(n)
        self._running = _RowSet(n)
        self._order: list[int] = []
        self._cursor = 0
        self._order_now_s = math.nan

    def rank(self, job: JobState) -> tuple[Any, ...]:
        return ()

    def _sync(self, view: ClusterView) -> bool:
        """Apply the run's changes since the last call; True if there were any."""
        changes = self._members.sync(view)
        for row in changes.stopped:
            self._running.remove(row)
        for state in changes.entered:
            row = state.job.row
            self._done_s[row] = state.work_done_s
            self._queued.add(row)
        return bool(changes.stopped or changes.entered)

    def _offer_order(self, now_s: float, num_free_gpus: int) -> list[int]:
        """Waiting rows that could fit the free GPUs by count, in offer order."""
        q = self._queued.array
        r = self._running.array
        rho_q = finish_time_fairness(now_s, self._submit_s[q], self._estimate_s[q], self._done_s[q])
        done_r = self._done_s[r] + (now_s - self._start_s[r])
        rho_r = finish_time_fairness(now_s, self._submit_s[r], self._estimate_s[r], done_r)
        order = offer_order(rho_q, q, rho_r, r, self.fairness_knob, self._num_gpus[q] <= num_free_gpus)
        rows: list[int] = q[order].tolist()
        return rows

    def decide(self, view: ClusterView) -> Sequence[Decision]:
        changed = self._sync(view)
        free = view.num_free_gpus
        if not len(self._queued) or not free:
            return ()
        now = view.now_s
        if changed or now != self._order_now_s:
            self._order = self._offer_order(now, free)
            self._cursor = 0
            self._order_now_s = now
        # Within an instant free GPUs only shrink, so a job skipped here stays skipped.
        order, jobs = self._order, self._jobs
        size = len(order)
        while self._cursor < size:
            row = order[self._cursor]
            self._cursor += 1
            job = jobs[row]
            if job.num_gpus > free:
                continue
            gpu_ids = view.place(job)
            if gpu_ids is not None:
                self._members.started(row, now)
                self._queued.remove(row)
                self._running.add(row)
                self._start_s[row] = now
                return (Start(job.job_id, gpu_ids),)
        return ()

    def next_wakeup_s(self, view: ClusterView) -> float | None:
        if not self.round_s or not view.num_queued or not view.num_free_gpus:
            return None
        return (math.floor(view.now_s / self.round_s) + 1) * self.round_s
