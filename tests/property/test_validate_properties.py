"""Random valid schedules pass the validator; one mutation of each kind is reported as that kind.

Valid schedules come from a greedy list scheduler in `strategies.py` (test scaffolding):
random clusters of mixed GPU types and memory, gangs, fractional jobs, preempted jobs with
lost work, rejected jobs and per-type speeds.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable

from hypothesis import assume, given
from hypothesis import strategies as st
from strategies import ScheduledInstance, scheduled_instances

from simulator.schedule import Assignment, Schedule
from simulator.validate import ViolationKind, check, summarize
from traces.model import Job, Workload

K = ViolationKind


def violations(inst: ScheduledInstance, schedule: Schedule | None = None,
               workload: Workload | None = None) -> list[ViolationKind]:
    schedule = inst.schedule if schedule is None else schedule  # an empty Schedule is falsy
    workload = inst.workload if workload is None else workload
    v = check(schedule, workload, inst.cluster, speed=inst.speed)
    return [x.kind for x in v]


def jobs_by_id(inst: ScheduledInstance) -> dict[str, Job]:
    return {j.job_id: j for j in inst.workload}


def replace_job(workload: Workload, job_id: str, **changes: object) -> Workload:
    return Workload.from_jobs(dataclasses.replace(j, **changes) if j.job_id == job_id else j for j in workload)


def pick(data: st.DataObject, items: list[Assignment], where: Callable[[Assignment], bool] = lambda a: True
         ) -> tuple[int, Assignment]:
    idx = [i for i, a in enumerate(items) if where(a)]
    assume(idx)
    i = data.draw(st.sampled_from(idx))
    return i, items[i]


def swap(items: list[Assignment], i: int, *new: Assignment) -> list[Assignment]:
    return items[:i] + list(new) + items[i + 1:]


@given(scheduled_instances())
def test_valid_schedules_pass(inst: ScheduledInstance) -> None:
    v = check(inst.schedule, inst.workload, inst.cluster, speed=inst.speed)
    assert v == [], summarize(v)


@given(scheduled_instances(), st.data())
def test_start_before_submit(inst: ScheduledInstance, data: st.DataObject) -> None:
    items = list(inst.schedule)
    i, a = pick(data, items)
    submit = jobs_by_id(inst)[a.job_id].submit_s
    early = Assignment(a.job_id, submit - 1.0, submit - 1.0 + a.length_s, a.gpu_ids, a.work_s)
    assert K.BEFORE_SUBMIT in violations(inst, Schedule.of(swap(items, i, early), inst.schedule.rejected))


@given(scheduled_instances(), st.data())
def test_job_duplicated_onto_an_overlapping_time_on_the_same_gpu(inst: ScheduledInstance, data: st.DataObject) -> None:
    items = list(inst.schedule)
    jobs = jobs_by_id(inst)
    _, a = pick(data, items, lambda a: jobs[a.job_id].gpu_frac > 0.5)
    copy = Assignment(a.job_id, a.start_s + a.length_s / 2, a.end_s + a.length_s / 2, a.gpu_ids, a.work_s)
    kinds = violations(inst, Schedule.of([*items, copy], inst.schedule.rejected))
    assert K.GPU_OVERCOMMIT in kinds
    assert K.RUN_TWICE in kinds


@given(scheduled_instances(), st.data())
def test_one_gpu_of_a_gang_moved_to_a_later_start(inst: ScheduledInstance, data: st.DataObject) -> None:
    items = list(inst.schedule)
    i, a = pick(data, items, lambda a: len(a.gpu_ids) >= 2)
    shift = data.draw(st.floats(0.001, 100.0))
    head = Assignment(a.job_id, a.start_s, a.end_s, a.gpu_ids[:-1], a.work_s)
    tail = Assignment(a.job_id, a.start_s + shift, a.end_s + shift, a.gpu_ids[-1:], a.work_s)
    assert K.GANG_SPLIT in violations(inst, Schedule.of(swap(items, i, head, tail), inst.schedule.rejected))


@given(scheduled_instances(), st.data())
def test_work_shrunk(inst: ScheduledInstance, data: st.DataObject) -> None:
    items = list(inst.schedule)
    i, a = pick(data, items)
    factor = data.draw(st.floats(0.0, 0.9))
    less = Assignment(a.job_id, a.start_s, a.end_s, a.gpu_ids, a.effective_work_s * factor)
    assert K.WORK_MISMATCH in violations(inst, Schedule.of(swap(items, i, less), inst.schedule.rejected))


@given(scheduled_instances(), st.data())
def test_segment_claims_more_work_than_it_can_do(inst: ScheduledInstance, data: st.DataObject) -> None:
    items = list(inst.schedule)
    i, a = pick(data, items)
    more = Assignment(a.job_id, a.start_s, a.end_s, a.gpu_ids, a.length_s * 10.0)
    assert K.WORK_MISMATCH in violations(inst, Schedule.of(swap(items, i, more), inst.schedule.rejected))


@given(scheduled_instances(), st.data())
def test_wrong_gpu_type(inst: ScheduledInstance, data: st.DataObject) -> None:
    _, a = pick(data, list(inst.schedule))
    workload = replace_job(inst.workload, a.job_id, gpu_types=("NO-SUCH-TYPE",))
    assert K.GPU_TYPE in violations(inst, workload=workload)


@given(scheduled_instances(), st.data())
def test_memory_too_big_for_the_gpu(inst: ScheduledInstance, data: st.DataObject) -> None:
    _, a = pick(data, list(inst.schedule))
    biggest = max(g.gpu_mem_gib for g in inst.cluster.gpus())
    workload = replace_job(inst.workload, a.job_id, gpu_mem_gib=biggest + 1.0)
    assert K.MEMORY in violations(inst, workload=workload)


@given(scheduled_instances(), st.data())
def test_job_deleted(inst: ScheduledInstance, data: st.DataObject) -> None:
    items = list(inst.schedule)
    _, a = pick(data, items)
    kept = [x for x in items if x.job_id != a.job_id]
    assert K.MISSING_JOB in violations(inst, Schedule.of(kept, inst.schedule.rejected))


@given(scheduled_instances(), st.data())
def test_rejected_job_forgotten(inst: ScheduledInstance, data: st.DataObject) -> None:
    assume(inst.schedule.rejected)
    gone = data.draw(st.sampled_from(inst.schedule.rejected))
    rest = [r for r in inst.schedule.rejected if r != gone]
    assert K.MISSING_JOB in violations(inst, Schedule.of(inst.schedule, rest))


@given(scheduled_instances(), st.data())
def test_scheduled_job_also_rejected(inst: ScheduledInstance, data: st.DataObject) -> None:
    _, a = pick(data, list(inst.schedule))
    bad = Schedule.of(inst.schedule, [*inst.schedule.rejected, a.job_id])
    assert K.REJECTED_AND_RUN in violations(inst, bad)


@given(scheduled_instances(), st.data())
def test_unknown_gpu_added(inst: ScheduledInstance, data: st.DataObject) -> None:
    items = list(inst.schedule)
    i, a = pick(data, items)
    moved = Assignment(a.job_id, a.start_s, a.end_s, (*a.gpu_ids[:-1], "nowhere:0"), a.work_s)
    assert K.UNKNOWN_GPU in violations(inst, Schedule.of(swap(items, i, moved), inst.schedule.rejected))


@given(scheduled_instances())
def test_unknown_job_added(inst: ScheduledInstance) -> None:
    ghost = "ghost-" + "-".join(sorted(jobs_by_id(inst)))
    gpu = inst.cluster.gpus()[0].gpu_id
    bad = Schedule.of([*inst.schedule, Assignment(ghost, 0.0, 1.0, (gpu,))], inst.schedule.rejected)
    assert K.UNKNOWN_JOB in violations(inst, bad)


@given(scheduled_instances(), st.data())
def test_bad_interval(inst: ScheduledInstance, data: st.DataObject) -> None:
    items = list(inst.schedule)
    i, a = pick(data, items)
    end = data.draw(st.sampled_from([a.start_s, a.start_s - 1.0, float("nan")]))
    bad = Assignment(a.job_id, a.start_s, end, a.gpu_ids, a.work_s)
    assert K.BAD_INTERVAL in violations(inst, Schedule.of(swap(items, i, bad), inst.schedule.rejected))


@given(scheduled_instances(), st.data())
def test_duplicate_gpu(inst: ScheduledInstance, data: st.DataObject) -> None:
    items = list(inst.schedule)
    i, a = pick(data, items, lambda a: bool(a.gpu_ids))
    dup = Assignment(a.job_id, a.start_s, a.end_s, (*a.gpu_ids, a.gpu_ids[0]), a.work_s)
    assert K.DUPLICATE_GPU in violations(inst, Schedule.of(swap(items, i, dup), inst.schedule.rejected))


@given(scheduled_instances(), st.data())
def test_job_run_twice_after_everything_else(inst: ScheduledInstance, data: st.DataObject) -> None:
    items = list(inst.schedule)
    _, a = pick(data, items)
    later = max(x.end_s for x in items) + 1.0
    # Two extra overlapping segments after every other job: only the job's own segments clash.
    first = Assignment(a.job_id, later, later + 10.0, a.gpu_ids, 0.0)
    second = Assignment(a.job_id, later + 5.0, later + 15.0, a.gpu_ids, 0.0)
    kinds = violations(inst, Schedule.of([*items, first, second], inst.schedule.rejected))
    assert K.RUN_TWICE in kinds


@given(scheduled_instances())
def test_result_does_not_depend_on_assignment_order(inst: ScheduledInstance) -> None:
    items = list(inst.schedule)
    assume(items)
    bad = [Assignment(a.job_id, a.start_s - 1e3, a.end_s, a.gpu_ids, a.work_s) for a in items]
    forward = check(Schedule(tuple(bad), inst.schedule.rejected), inst.workload, inst.cluster, speed=inst.speed)
    backward = check(Schedule(tuple(reversed(bad)), inst.schedule.rejected), inst.workload, inst.cluster,
                     speed=inst.speed)
    assert forward == backward
    assert forward
