"""A policy's own record of which jobs are queued and which it has running, kept incrementally.

Policies whose order depends on global state (fair share, finish-time fairness) cannot
use the engine's rank-ordered queue, and walking `view.queue()` or `view.running()` on
every decision is O(jobs). `Membership` instead follows the run with O(1) `view.job()`
look-ups: arrivals are found by walking the workload's rows in submission order up to
`now`, completions by a heap of expected segment ends, and the rare changes it cannot
predict (a node failure requeues a running job, admission control admits a deferred
one) by comparing its counts with the view's, which triggers an O(running + deferred)
reconcile. Only the policy starts jobs, so a queued job leaves the queue only through
the policy's own `started` call.
"""

from __future__ import annotations

from collections.abc import Sequence
from heapq import heappop, heappush
from typing import NamedTuple

from simulator.policies.base import ClusterView, JobState, SimJob


class Changes(NamedTuple):
    """What `sync` found since the last call: jobs that entered the queue and jobs that stopped running.

    A running job requeued by a node failure appears in both (stopped first).
    """

    entered: list[JobState]
    stopped: list[int]


class Membership:
    """Queued and running rows of one run, from the policy's side (rows are workload rows)."""

    def __init__(self, jobs: Sequence[SimJob]) -> None:
        self._jobs = jobs
        self._next_row = 0
        self.queued: set[int] = set()
        self.running: dict[int, float] = {}  # row -> segment start, in start order
        self._limbo: list[int] = []  # submitted but not queued: deferred or rejected by admission
        self._unsized: list[int] = []  # started since the last sync: expected end not yet known
        self._ends: list[tuple[float, int, float]] = []  # (expected end, row, segment start)

    def started(self, row: int, now_s: float) -> None:
        """The policy returned `Start` for queued `row` at `now_s`."""
        self.queued.discard(row)
        self.running[row] = now_s
        self._unsized.append(row)

    def preempted(self, row: int) -> None:
        """The policy returned `Preempt` for running `row`: it is queued again."""
        del self.running[row]
        self.queued.add(row)

    def sync(self, view: ClusterView) -> Changes:
        """Catch up with the view at its `now_s`; amortised O(1) per job event."""
        now = view.now_s
        changes = Changes([], [])
        jobs = self._jobs
        for row in self._unsized:
            state = view.job(jobs[row].job_id)
            if state is not None and state.running and state.start_s == self.running.get(row):
                heappush(self._ends, (state.end_s, row, state.start_s))
            elif row in self.running:
                self._check(view, row, changes)
        self._unsized.clear()
        n = len(jobs)
        while self._next_row < n and jobs[self._next_row].submit_s <= now:
            row = self._next_row
            self._next_row += 1
            state = view.job(jobs[row].job_id)
            if state is None:
                self._limbo.append(row)
            else:
                self.queued.add(row)
                changes.entered.append(state)
        ends = self._ends
        while ends and ends[0][0] <= now:
            _, row, start_s = heappop(ends)
            if self.running.get(row) == start_s:
                self._check(view, row, changes)
        if view.num_running != len(self.running):
            for row in list(self.running):
                self._check(view, row, changes)
        if view.num_queued != len(self.queued) and self._limbo:
            still: list[int] = []
            for row in self._limbo:
                state = view.job(jobs[row].job_id)
                if state is None:
                    still.append(row)
                else:
                    self.queued.add(row)
                    changes.entered.append(state)
            self._limbo = still
        return changes

    def _check(self, view: ClusterView, row: int, changes: Changes) -> None:
        """Drop `row` from the running set unless its recorded segment is still running."""
        state = view.job(self._jobs[row].job_id)
        if state is not None and state.running and state.start_s == self.running[row]:
            return
        del self.running[row]
        changes.stopped.append(row)
        if state is not None and not state.running:
            self.queued.add(row)
            changes.entered.append(state)
