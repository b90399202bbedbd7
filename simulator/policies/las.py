"""Least attained service, preemptive, with a minimum quantum against ping-pong.

The queue is ordered by attained GPU-service (`attained_gpu_s`: GPU-seconds held so far,
fixed while a job waits), so new jobs go first. A head that does not fit preempts
running jobs whose attained service is at least `quantum_gpu_s` more than its own, most
attained first. Without the quantum two equal jobs would swap at every instant. A
running job's service grows at `num_gpus` per second, so the policy asks to be woken
(`next_wakeup_s`) when the next running job crosses the head's threshold.

A running job is also spared until its current segment has run `min_run_s` seconds (wall
clock). By default that is the run's `restart_overhead_s + checkpoint_interval_s`, the
shortest segment that keeps any work: with a quantum shorter than that (in wall time,
`quantum_gpu_s / num_gpus` for a gang), two jobs would otherwise swap forever, each
losing all its work at every swap. Because the quantum is in GPU-seconds, wide gangs
swap often (a 16-GPU job every 600 / 16 = 37.5 s by default): on traces of long, wide
jobs (Philly) raise `quantum_gpu_s` or `min_run_s`, or use `las-2d`, to cut the churn.

Running jobs are indexed per gang size: within one size, `attained - num_gpus * t` is
the same at every time t, so that order is fixed; the sizes are merged on the current
attained service. A job's crossing time `(threshold - c) / num_gpus` is computed the
same way when deciding and when asking for a wakeup, so the two always agree.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any, ClassVar

from simulator.policies.base import ClusterView, JobState, PreemptiveOrderedPolicy, RunContext, RunningIndex


class LasPolicy(PreemptiveOrderedPolicy):
    """Rank by `attained_gpu_s`, ties by submission; `quantum_gpu_s` >= 0 (default 600)."""

    key: ClassVar[str] = "las"

    def __init__(self, quantum_gpu_s: float = 600.0, min_run_s: float | None = None) -> None:
        q = float(quantum_gpu_s)
        if not q >= 0 or q == float("inf"):
            raise ValueError(f"quantum_gpu_s must be a finite number >= 0, got {quantum_gpu_s!r}")
        if min_run_s is not None and not (0 <= float(min_run_s) < float("inf")):
            raise ValueError(f"min_run_s must be a finite number >= 0, got {min_run_s!r}")
        self.quantum_gpu_s = q
        self.min_run_s = None if min_run_s is None else float(min_run_s)
        self._min_run_s = 0.0
        self._c: dict[tuple[str, float], float] = {}  # (job id, segment start) -> attained - g * t
        self._now = 0.0

    def bind(self, ctx: RunContext) -> None:
        super().bind(ctx)
        self._min_run_s = ctx.min_useful_run_s if self.min_run_s is None else self.min_run_s

    def rank(self, job: JobState) -> tuple[Any, ...]:
        return (job.attained_gpu_s,)

    def _static(self, s: JobState) -> tuple[Any, ...]:
        c = s.attained_gpu_s - s.job.num_gpus * self._now
        self._c[(s.job.job_id, s.start_s)] = c
        return (-c, s.job.job_id)

    def _current(self, s: JobState) -> tuple[Any, ...]:
        return (-(self._c[(s.job.job_id, s.start_s)] + s.job.num_gpus * self._now), s.job.job_id)

    def make_index(self) -> RunningIndex:
        return RunningIndex(self._static, group=lambda s: s.job.num_gpus, current_key=self._current)

    def _crossing_s(self, s: JobState, threshold: float) -> float:
        """When the running job's attained service reaches `threshold`."""
        return (threshold - self._c[(s.job.job_id, s.start_s)]) / s.job.num_gpus

    def victims(self, view: Any, head: JobState) -> Iterator[JobState]:
        now = self._now = view.now_s
        threshold = head.attained_gpu_s + self.quantum_gpu_s
        for state in self.index.worst_first(view):
            if self._crossing_s(state, threshold) > now:
                return  # this and every less attained job are within the quantum
            if state.start_s + self._min_run_s > now:
                continue  # past the quantum but too young to keep any work: spared for now
            yield state

    def decide(self, view: ClusterView) -> Any:
        self._now = view.now_s
        return super().decide(view)

    def next_wakeup_s(self, view: ClusterView) -> float | None:
        head = view.head()
        if head is None:
            return None
        now = self._now = view.now_s
        threshold = head.attained_gpu_s + self.quantum_gpu_s
        best: float | None = None
        for _, walk in self.index.group_heads(view):
            for state in walk:
                t = self._crossing_s(state, threshold)
                if t <= now:  # past the quantum, so spared only for its age: wake when it is old enough
                    t = state.start_s + self._min_run_s
                    if t > now:
                        best = t if best is None else min(best, t)
                    continue
                # The first job of the group within the quantum: the rest cross later (when
                # it is also too young then, this wakes a little early, which is harmless).
                best = t if best is None else min(best, t)
                break
        return best
