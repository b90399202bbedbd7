"""Hand-made schedules, one per violation kind, with the exact kinds asserted."""

from __future__ import annotations

import math

import pytest

from simulator.schedule import Assignment as A
from simulator.schedule import Schedule
from simulator.validate import Violation, ViolationKind, check, summarize, validate
from traces.cluster import Cluster, Node
from traces.model import Job, Workload

K = ViolationKind
CLUSTER = Cluster((Node("n0", "V100", 4, 32.0), Node("n1", "A100", 2, 80.0)))
V0, V1, V2, V3 = "n0:0", "n0:1", "n0:2", "n0:3"
A0, A1 = "n1:0", "n1:1"


def wl(*jobs: Job) -> Workload:
    return Workload.from_jobs(jobs)


def kinds(violations: list[Violation]) -> list[ViolationKind]:
    return [v.kind for v in violations]


def run(assignments: list[A], workload: Workload, rejected: tuple[str, ...] = (), **kw: object) -> list[Violation]:
    return check(Schedule.of(assignments, rejected), workload, CLUSTER, **kw)  # type: ignore[arg-type]


def test_valid_preempted_multi_segment_gang_passes() -> None:
    w = wl(Job("g", 5.0, 100.0, 2), Job("x", 0.0, 30.0, 1))
    s = [
        A("g", 5.0, 45.0, (V0, V1)),  # 40 s of work
        A("x", 45.0, 75.0, (V0,)),  # preempts g on V0
        A("g", 75.0, 150.0, (A0, A1), work_s=60.0),  # resumed elsewhere, 15 s lost since checkpoint
    ]
    assert run(s, w) == []


def test_segment_given_as_several_assignments_with_equal_times_is_one_gang() -> None:
    w = wl(Job("g", 0.0, 10.0, 2))
    assert run([A("g", 0.0, 10.0, (V0,)), A("g", 0.0, 10.0, (V1,))], w) == []


def test_rejected_job_not_scheduled_is_fine() -> None:
    w = wl(Job("a", 0.0, 10.0, 1), Job("b", 0.0, 10.0, 1))
    assert run([A("a", 0.0, 10.0, (V0,))], w, rejected=("b",)) == []


def test_touching_intervals_on_one_gpu_are_fine() -> None:
    w = wl(Job("a", 0.0, 10.0, 1), Job("b", 0.0, 10.0, 1))
    assert run([A("a", 0.0, 10.0, (V0,)), A("b", 10.0, 20.0, (V0,))], w) == []


def test_two_half_gpu_jobs_share_one_gpu() -> None:
    w = wl(Job("a", 0.0, 10.0, 1, gpu_frac=0.5), Job("b", 0.0, 10.0, 1, gpu_frac=0.5))
    assert run([A("a", 0.0, 10.0, (V0,)), A("b", 0.0, 10.0, (V0,))], w) == []


def test_fractional_jobs_overcommitting_one_gpu() -> None:
    w = wl(Job("a", 0.0, 10.0, 1, gpu_frac=0.6), Job("b", 0.0, 10.0, 1, gpu_frac=0.5))
    v = run([A("a", 0.0, 10.0, (V0,)), A("b", 5.0, 15.0, (V0,))], w)
    assert kinds(v) == [K.GPU_OVERCOMMIT]
    assert (v[0].job_id, v[0].gpu_id, v[0].time_s) == ("b", V0, 5.0)
    assert "a, b" in v[0].message and "1.1" in v[0].message


def test_two_whole_jobs_overlapping_on_a_gpu_is_one_overcommit_episode() -> None:
    w = wl(Job("a", 0.0, 10.0, 1), Job("b", 0.0, 10.0, 1), Job("c", 0.0, 3.0, 1))
    v = run([A("a", 0.0, 10.0, (V0,)), A("b", 2.0, 12.0, (V0,)), A("c", 3.0, 6.0, (V0,))], w)
    assert kinds(v) == [K.GPU_OVERCOMMIT]
    assert v[0].time_s == 2.0


def test_unknown_job() -> None:
    w = wl(Job("a", 0.0, 10.0, 1))
    v = run([A("a", 0.0, 10.0, (V0,)), A("ghost", 0.0, 10.0, (V1,))], w)
    assert kinds(v) == [K.UNKNOWN_JOB]
    assert v[0].job_id == "ghost"


def test_unknown_rejected_job() -> None:
    w = wl(Job("a", 0.0, 10.0, 1))
    assert kinds(run([A("a", 0.0, 10.0, (V0,))], w, rejected=("ghost",))) == [K.UNKNOWN_JOB]


def test_missing_job() -> None:
    w = wl(Job("a", 0.0, 10.0, 1), Job("b", 0.0, 10.0, 1))
    v = run([A("a", 0.0, 10.0, (V0,))], w)
    assert kinds(v) == [K.MISSING_JOB]
    assert v[0].job_id == "b"


def test_rejected_and_run() -> None:
    w = wl(Job("a", 0.0, 10.0, 1))
    assert kinds(run([A("a", 0.0, 10.0, (V0,))], w, rejected=("a",))) == [K.REJECTED_AND_RUN]


def test_unknown_gpu() -> None:
    w = wl(Job("a", 0.0, 10.0, 1))
    v = run([A("a", 0.0, 10.0, ("n9:0",))], w)
    assert kinds(v) == [K.UNKNOWN_GPU]
    assert v[0].gpu_id == "n9:0"


@pytest.mark.parametrize(
    ("start", "end"), [(5.0, 5.0), (6.0, 5.0), (math.nan, 5.0), (0.0, math.inf), (-math.inf, 1.0)]
)
def test_bad_interval(start: float, end: float) -> None:
    w = wl(Job("a", 0.0, 10.0, 1))
    assert kinds(run([A("a", start, end, (V0,))], w)) == [K.BAD_INTERVAL]


def test_duplicate_gpu_in_one_assignment() -> None:
    w = wl(Job("a", 0.0, 10.0, 2))
    v = run([A("a", 0.0, 10.0, (V0, V1, V0))], w)
    assert kinds(v) == [K.DUPLICATE_GPU]
    assert v[0].gpu_id == V0


def test_before_submit_respects_tolerance() -> None:
    w = wl(Job("a", 100.0, 10.0, 1))
    assert kinds(run([A("a", 99.0, 109.0, (V0,))], w)) == [K.BEFORE_SUBMIT]
    assert run([A("a", 100.0 - 1e-7, 110.0 - 1e-7, (V0,))], w) == []


def test_gang_parts_starting_at_different_times() -> None:
    w = wl(Job("g", 0.0, 10.0, 2))
    v = run([A("g", 0.0, 10.0, (V0,)), A("g", 1.0, 11.0, (V1,))], w)
    assert kinds(v) == [K.GANG_SPLIT, K.GANG_SPLIT]


@pytest.mark.parametrize("gpus", [(V0,), (V0, V1, V2)])
def test_gang_with_too_few_or_too_many_gpus(gpus: tuple[str, ...]) -> None:
    w = wl(Job("g", 0.0, 10.0, 2))
    assert kinds(run([A("g", 0.0, 10.0, gpus)], w)) == [K.GANG_SPLIT]


def test_segment_without_gpus_is_a_gang_split() -> None:
    w = wl(Job("a", 0.0, 10.0, 1))
    assert kinds(run([A("a", 0.0, 10.0, ())], w)) == [K.GANG_SPLIT]


def test_run_twice_on_different_gpus() -> None:
    w = wl(Job("a", 0.0, 10.0, 1))
    v = run([A("a", 0.0, 5.0, (V0,)), A("a", 3.0, 8.0, (V1,))], w)
    assert kinds(v) == [K.RUN_TWICE]
    assert v[0].time_s == 3.0


def test_job_memory_larger_than_gpu() -> None:
    w = wl(Job("a", 0.0, 10.0, 1, gpu_mem_gib=40.0))
    v = run([A("a", 0.0, 10.0, (V0,))], w)
    assert kinds(v) == [K.MEMORY]
    assert v[0].gpu_id == V0
    assert run([A("a", 0.0, 10.0, (A0,))], w) == []


def test_shared_gpu_memory_exceeded() -> None:
    w = wl(Job("a", 0.0, 10.0, 1, gpu_frac=0.5, gpu_mem_gib=20.0),
           Job("b", 0.0, 10.0, 1, gpu_frac=0.25, gpu_mem_gib=20.0))
    v = run([A("a", 0.0, 10.0, (V0,)), A("b", 4.0, 14.0, (V0,))], w)
    assert kinds(v) == [K.MEMORY]
    assert (v[0].job_id, v[0].gpu_id, v[0].time_s) == ("b", V0, 4.0)
    assert run([A("a", 0.0, 10.0, (A0,)), A("b", 4.0, 14.0, (A0,))], w) == []


def test_gpu_type_not_allowed() -> None:
    w = wl(Job("a", 0.0, 10.0, 2, gpu_types=("A100",)))
    v = run([A("a", 0.0, 10.0, (V0, V1))], w)
    assert kinds(v) == [K.GPU_TYPE, K.GPU_TYPE]
    assert [x.gpu_id for x in v] == [V0, V1]
    assert run([A("a", 0.0, 10.0, (A0, A1))], w) == []


@pytest.mark.parametrize(
    "segments",
    [
        [A("a", 0.0, 9.0, (V0,))],  # too little work
        [A("a", 0.0, 10.0, (V0,), work_s=8.0)],  # work lost, never made up
        [A("a", 0.0, 10.0, (V0,)), A("a", 10.0, 12.0, (V0,))],  # too much work
    ],
)
def test_work_total_mismatch(segments: list[A]) -> None:
    w = wl(Job("a", 0.0, 10.0, 1))
    v = run(segments, w)
    assert kinds(v) == [K.WORK_MISMATCH]
    assert v[0].time_s is None


def test_segment_claims_more_work_than_its_length() -> None:
    w = wl(Job("a", 0.0, 10.0, 1))
    assert kinds(run([A("a", 0.0, 5.0, (V0,), work_s=10.0)], w)) == [K.WORK_MISMATCH]


@pytest.mark.parametrize("work", [-1.0, math.nan, math.inf])
def test_segment_work_not_a_finite_non_negative_number(work: float) -> None:
    w = wl(Job("a", 0.0, 10.0, 1))
    assert kinds(run([A("a", 0.0, 10.0, (V0,), work_s=work)], w)) == [K.WORK_MISMATCH]


def test_assignments_of_one_segment_disagree_on_work() -> None:
    w = wl(Job("g", 0.0, 10.0, 2))
    v = run([A("g", 0.0, 10.0, (V0,)), A("g", 0.0, 10.0, (V1,), work_s=5.0)], w)
    assert kinds(v) == [K.WORK_MISMATCH]


def _speed(job: Job, gpu_type: str) -> float:
    return {"V100": 1.0, "A100": 2.0}[gpu_type]


def test_speed_allows_faster_gpus_to_do_more_work() -> None:
    w = wl(Job("a", 0.0, 10.0, 1))
    s = [A("a", 0.0, 5.0, (A0,), work_s=10.0)]
    assert run(s, w, speed=_speed) == []
    assert kinds(run(s, w)) == [K.WORK_MISMATCH]


def test_speed_of_a_mixed_gang_is_its_slowest_gpu() -> None:
    w = wl(Job("g", 0.0, 10.0, 2))
    assert kinds(run([A("g", 0.0, 5.0, (A0, V0), work_s=10.0)], w, speed=_speed)) == [K.WORK_MISMATCH]
    assert run([A("g", 0.0, 5.0, (A0, A1), work_s=10.0)], w, speed=_speed) == []


def test_result_is_sorted_and_deterministic() -> None:
    w = wl(Job("b", 0.0, 10.0, 1), Job("a", 0.0, 10.0, 1), Job("c", 50.0, 10.0, 1))
    s = [A("b", 0.0, 10.0, (V0,)), A("a", 0.0, 10.0, (V0,)), A("c", 0.0, 10.0, ("zz:0",))]
    v = run(s, w)
    assert kinds(v) == [K.UNKNOWN_GPU, K.BEFORE_SUBMIT, K.GPU_OVERCOMMIT]
    assert v == run(list(reversed(s)), w)
    assert validate is check


def test_summarize_counts_and_messages() -> None:
    assert summarize([]) == "schedule is valid: no violations"
    w = wl(Job("a", 0.0, 10.0, 1), Job("b", 0.0, 10.0, 1), Job("c", 0.0, 10.0, 1))
    v = run([A("a", 0.0, 10.0, ("bad",))], w)
    text = summarize(v, max_messages=1)
    lines = text.splitlines()
    assert lines[0] == "3 violation(s): 2 missing_job, 1 unknown_gpu"
    assert lines[1] == "  missing_job: job b: neither scheduled nor rejected"
    assert lines[2] == "  ... and 2 more"
