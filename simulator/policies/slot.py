"""The decision rule shared by the RL environment and trained agents: pick one of K waiting jobs, or wait.

`SlotPolicy` is an ordinary simulator policy (non-preemptive). At each decision point the
engine offers, it shows `queue_slots` (K) waiting jobs: the `oldest_slots` longest-waiting
ones (submission order) and, in the other slots, the jobs with the shortest duration
estimates among the rest (shortest first). Only the oldest would let an agent reorder
nothing but the head of a long queue (on a whole trace the queue holds hundreds of jobs);
only the shortest would hide the jobs that starve. It works out which shown jobs fit on
the free GPUs now (via the run's placement) and asks `choose(obs, mask)` which to start
(or to wait, the last action). Only real choices are asked: with no legal start it
waits, with exactly one legal action it takes it. Waiting is legal while a job runs or
arrivals remain (otherwise nothing would ever happen again). An illegal answer becomes
wait when waiting is legal, else the first legal start, so a random or untrained
chooser still produces a valid schedule.

The shortest jobs come from the policy's own heap of (estimate, row) over the jobs that
have arrived: finished jobs leave it for good, running ones are stepped over (a job
requeued after a node failure is still in it), so a decision costs O((K + running) log n).

Subclasses: the environment's chooser (pauses the engine and returns the action the
`step` caller gave) and `simulator.rl.policy.RlPolicy` (a trained network).
"""

from __future__ import annotations

import abc
import itertools
import math
from collections.abc import Sequence
from heapq import heappop, heappush
from typing import Any, ClassVar

import numpy as np
import numpy.typing as npt

from simulator.policies.base import ClusterView, Decision, JobState, RunContext, Start
from simulator.rl.observe import Encoder, ObsSpec


def median_duration_s(durations: npt.NDArray[np.float64]) -> float:
    """The default time scale: the median positive duration (1 s if there is none)."""
    pos = durations[durations > 0]
    return float(np.median(pos)) if len(pos) else 1.0


class SlotPolicy(abc.ABC):
    """Start one of the first K waiting jobs (submission order) or wait; `choose` decides."""

    key: ClassVar[str] = "slot"
    preemptive: ClassVar[bool] = False

    def __init__(self, spec: ObsSpec | None = None, queue_slots: int = 16, time_scale_s: float | None = None) -> None:
        self._spec = spec
        self._queue_slots = int(queue_slots)
        self._time_scale_s = time_scale_s
        self.num_decisions = 0  # times `choose` was asked
        self.num_forced = 0  # decisions taken without asking (one legal action)
        # What the last `decide` showed, and what the next one must show again: a chooser that
        # pauses the engine (`simulator.rl.env`) is asked again at the same instant, and must see
        # the same jobs and GPUs (a random placement would draw other GPUs on a second look).
        self._shown: tuple[list[JobState], list[tuple[str, ...] | None], npt.NDArray[np.bool_]] | None = None
        self._replay: tuple[list[JobState], list[tuple[str, ...] | None], npt.NDArray[np.bool_]] | None = None

    def bind(self, ctx: RunContext) -> None:
        self.ctx = ctx
        spec = self._spec
        if spec is None:
            scale = self._time_scale_s or median_duration_s(ctx.workload.duration_s)
            spec = ObsSpec.for_cluster(ctx.cluster, self._queue_slots, scale)
        self.spec = spec
        self.encoder = Encoder(spec, ctx.cluster)
        self._last_submit_s = float(ctx.workload.submit_s[-1]) if len(ctx.workload) else -math.inf
        self._submit = [j.submit_s for j in ctx.jobs]
        self._estimate = ctx.estimate_s.tolist()
        self._cursor = 0  # rows before it have arrived (and are in `_shortest` unless finished)
        self._shortest: list[tuple[float, int]] = []

    def rank(self, job: JobState) -> tuple[Any, ...]:
        return ()

    def next_wakeup_s(self, view: ClusterView) -> float | None:
        return None

    @abc.abstractmethod
    def choose(self, obs: npt.NDArray[np.float32], mask: npt.NDArray[np.bool_]) -> int:
        """The action for this observation: a slot index < K with `mask` True, or K to wait."""

    def observe(
        self, view: ClusterView
    ) -> tuple[list[JobState], list[tuple[str, ...] | None], npt.NDArray[np.bool_]]:
        """The first K waiting jobs, the GPUs each would get now (None: does not fit), the action mask."""
        k = self.spec.queue_slots
        cands = list(itertools.islice(view.queue(), self.spec.oldest_slots))
        if len(cands) == self.spec.oldest_slots and view.num_queued > len(cands):
            cands += self._shortest_queued(view, k - len(cands), {c.job.row for c in cands})
        gpus = [view.place(c.job) for c in cands]
        mask = np.zeros(k + 1, dtype=np.bool_)
        for i, g in enumerate(gpus):
            mask[i] = g is not None
        mask[k] = view.num_running > 0 or self._last_submit_s > view.now_s
        return cands, gpus, mask

    def _shortest_queued(self, view: ClusterView, count: int, skip: set[int]) -> list[JobState]:
        """Up to `count` queued jobs not in `skip`, shortest estimate first (ties: earlier row)."""
        heap, submit, estimate, jobs = self._shortest, self._submit, self._estimate, self.ctx.jobs
        i, n, now = self._cursor, len(submit), view.now_s
        while i < n and submit[i] <= now:
            heappush(heap, (estimate[i], i))
            i += 1
        self._cursor = i
        out: list[JobState] = []
        kept: list[tuple[float, int]] = []
        while heap and len(out) < count:
            entry = heappop(heap)
            job_id = jobs[entry[1]].job_id
            state = view.job(job_id)
            if state is None and view.has_ended(job_id):  # done or rejected: gone for good
                continue
            kept.append(entry)  # deferred by admission control, running, or waiting
            if state is None:
                continue
            if not state.running and entry[1] not in skip:
                out.append(state)
        for entry in kept:
            heappush(heap, entry)
        return out

    def encode(
        self, view: ClusterView, cands: Sequence[JobState], gpus: Sequence[tuple[str, ...] | None]
    ) -> npt.NDArray[np.float32]:
        return self.encoder.encode(
            [c.waited_s for c in cands],
            [c.job.num_gpus for c in cands],
            [c.estimate_s for c in cands],
            [g is not None for g in gpus],
            view.free_gpus(),
            view.num_queued,
            view.num_free_gpus,
            view.num_running,
        )

    def decide(self, view: ClusterView) -> Sequence[Decision]:
        if self._replay is not None:  # asked again at a paused instant: the very same choice (`choose`)
            cands, gpus, mask = self._replay
            self._replay = None
        else:
            cands, gpus, mask = self.observe(view)
        self._shown = (cands, gpus, mask)
        k = self.spec.queue_slots
        if not mask[:k].any():
            return ()
        legal = np.flatnonzero(mask)
        if len(legal) == 1:
            action = int(legal[0])
            self.num_forced += 1
        else:
            obs = self.encode(view, cands, gpus)
            self.num_decisions += 1
            action = int(self.choose(obs, mask))
            if not (0 <= action <= k and mask[action]):
                action = k if mask[k] else int(legal[0])
        if action == k:
            return ()
        chosen = gpus[action]
        assert chosen is not None
        return (Start(cands[action].job.job_id, chosen),)
