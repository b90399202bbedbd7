"""Replay a fixed schedule (a solver's answer, or any run's `schedule.csv`): exact GPUs, the file's start order.

Semantics. For each job the file's first segment gives its GPU ids and its start time;
jobs are replayed in the order of those start times (ties: submission order, see
`replay_plan`). A job starts, on exactly its listed GPUs, as soon as
(a) it has arrived, (b) all those GPUs are free and (c) every job before it in the order
has started (mode `order`, the default); mode `timed` adds (d) not before its start time
in the file. The order is strict: a job waiting for its GPUs holds back all later ones,
even if their GPUs are free, so the replay keeps the file's order under any perturbation
(another cluster speed, failures, restart costs). Replaying a run's own schedule with the
same cluster and options (no failures, no admission control) reproduces every start and
GPU exactly: in both modes for fcfs, whose start order is the file's order, and in
`timed` mode for any run whose jobs each ran in one segment (sjf, priority, backfilling,
a solver's schedule that idles GPUs on purpose). In `order` mode such a run may come out
earlier: a job the original held back behind a job the file starts at the same instant
but orders after it (ties go to submission order) does not wait for it.

Later segments of a job (a preemptive solver's resumptions) are not replayed: a started
job runs to completion unless the run stops it (a node failure); a job sent back to the
queue restarts on its own GPUs as soon as they are free again, without holding back the
order. A job the run's admission control defers or rejects does not hold back the order
either (once admitted later, it is treated like a requeued job). The file is checked
before the run (`replay_plan.build_plan`): a workload job the file does not mention, a
job or GPU id the workload or cluster lacks, a workload job the file neither runs nor
rejects, and a first segment whose GPU count differs from the job's `num_gpus` all raise
a one-line `UserError` naming the file (and row and field where one row is at fault).
A job the file lists as rejected (a solver refusing it) is rejected by the replay when it
is first considered: on arrival, or when a GPU frees if it arrives at a full cluster
(non-preemptive policies are asked only while a GPU is free); it never holds back the order.

Cost per decision: O(1) per GPU checked (`view.is_free`) while the next job is blocked.
Times are in seconds.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any, ClassVar

from simulator.policies.base import ClusterView, Decision, JobState, Reject, RunContext, Start
from simulator.policies.replay_plan import ReplayPlan, build_plan, ready_positions, wakeup_s
from simulator.schedule import Schedule
from simulator.schedule_io import read_schedule

MODES: tuple[str, ...] = ("order", "timed")


class SchedulePolicy:
    """Start jobs on the schedule's GPUs in the schedule's order (`mode` 'order' or 'timed').

    `schedule` is a schedule file (read here, so a malformed file is reported before the
    run) or a `Schedule` already in memory.
    """

    key: ClassVar[str] = "schedule"
    preemptive: ClassVar[bool] = False

    def __init__(self, schedule: str | Path | Schedule, mode: str = "order") -> None:
        if mode not in MODES:
            raise ValueError(f"mode must be one of {', '.join(MODES)}, got {mode!r}")
        if isinstance(schedule, Schedule):
            self._schedule, self._path = schedule, None
        else:
            self._path = Path(schedule)
            self._schedule = read_schedule(self._path)
        self.timed = mode == "timed"
        self.mode = mode

    @property
    def schedule(self) -> Schedule:
        return self._schedule

    def bind(self, ctx: RunContext) -> None:
        self.plan: ReplayPlan = build_plan(self._schedule, ctx.workload, ctx.cluster, self._path)
        self._pos = self.plan.position_of_rows(len(ctx.workload))
        self._next = 0  # every plan position below it has started (or was skipped)
        self._holder: dict[str, str] = {}  # GPU id -> the job this policy last started on it

    def rank(self, job: JobState) -> tuple[Any, ...]:
        return (self._pos[job.job.row],)

    def decide(self, view: ClusterView) -> Sequence[Decision]:
        pos = self._pos
        head = view.head()  # also drops started jobs off the queue's top, so the walk below is short
        if head is None:
            return ()
        if pos[head.job.row] < 0:  # rejected rows rank first: refuse them before anything starts
            out: list[Decision] = []
            for state in view.queue():
                if pos[state.job.row] >= 0:
                    break
                out.append(Reject(state.job.job_id))
            return out

        def is_free(gpu: str) -> bool:
            return not self._held(view, gpu) and view.is_free(gpu)

        waiting = (pos[state.job.row] for state in view.queue())
        starts, self._next = ready_positions(
            self._next, waiting, view.now_s, self.plan, is_free, view.num_free_gpus, self.timed
        )
        plan, holder = self.plan, self._holder
        started: list[Decision] = []
        for p in starts:
            jid, gpus = plan.job_ids[p], plan.gpu_ids[p]
            for g in gpus:
                holder[g] = jid
            started.append(Start(jid, gpus))
        return started

    def next_wakeup_s(self, view: ClusterView) -> float | None:
        return wakeup_s(self._next, view.now_s, self.plan, self.timed)

    def _held(self, view: ClusterView, gpu: str) -> bool:
        """Whether a job this policy started on `gpu` still runs there (a cheap busy test)."""
        jid = self._holder.get(gpu)
        if jid is None:
            return False
        state = view.job(jid)
        return state is not None and gpu in state.gpu_ids


__all__ = ["MODES", "SchedulePolicy"]
