"""The decision rule shared by the RL environment and trained agents: pick one of the first K waiting jobs, or wait.

`SlotPolicy` is an ordinary simulator policy (non-preemptive; the queue in submission
order). At each decision point the engine offers, it looks at the first `queue_slots`
waiting jobs, works out which of them fit on the free GPUs now (via the run's
placement), and asks `choose(obs, mask)` which to start (or to wait, the last action).
Only real choices are asked: with no legal start it waits, with exactly one legal action
it takes it. Waiting is legal while a job runs or arrivals remain (otherwise nothing
would ever happen again). An illegal answer becomes wait when waiting is legal, else the
first legal start, so a random or untrained chooser still produces a valid schedule.

Subclasses: the environment's chooser (pauses the engine and returns the action the
`step` caller gave) and `simulator.rl.policy.RlPolicy` (a trained network).
"""

from __future__ import annotations

import abc
import itertools
import math
from collections.abc import Sequence
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

    def bind(self, ctx: RunContext) -> None:
        self.ctx = ctx
        spec = self._spec
        if spec is None:
            scale = self._time_scale_s or median_duration_s(ctx.workload.duration_s)
            spec = ObsSpec.for_cluster(ctx.cluster, self._queue_slots, scale)
        self.spec = spec
        self.encoder = Encoder(spec, ctx.cluster)
        self._last_submit_s = float(ctx.workload.submit_s[-1]) if len(ctx.workload) else -math.inf

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
        cands = list(itertools.islice(view.queue(), k))
        gpus = [view.place(c.job) for c in cands]
        mask = np.zeros(k + 1, dtype=np.bool_)
        for i, g in enumerate(gpus):
            mask[i] = g is not None
        mask[k] = view.num_running > 0 or self._last_submit_s > view.now_s
        return cands, gpus, mask

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
        cands, gpus, mask = self.observe(view)
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
