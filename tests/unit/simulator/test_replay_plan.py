"""The `schedule` policy's plan: ordering, the exact one-line errors for bad files, and the start rule."""

from __future__ import annotations

from pathlib import Path

import pytest

from simulator.policies.replay_plan import ReplayPlan, build_plan, first_segments, ready_positions, wakeup_s
from simulator.schedule import Assignment as A
from simulator.schedule import Schedule
from simulator.schedule_io import read_schedule, write_schedule
from traces.cluster import Cluster, Node
from traces.errors import TraceError, UserError
from traces.model import Job, Workload

HEADER = "job_id,status,segment,start_s,end_s,work_s,gpu_id\n"
CLUSTER = Cluster.uniform(1, 2)  # n0:0, n0:1
WL = Workload.from_jobs([Job("a", 0.0, 4.0, 1), Job("b", 1.0, 3.0, 2), Job("c", 1.0, 1.0, 1)])


def plan_of(tmp_path: Path, body: str, workload: Workload = WL, cluster: Cluster = CLUSTER) -> ReplayPlan:
    path = tmp_path / "s.csv"
    path.write_text(HEADER + body, encoding="utf-8")
    return build_plan(read_schedule(path), workload, cluster, path)


def error_of(tmp_path: Path, body: str, workload: Workload = WL, cluster: Cluster = CLUSTER) -> str:
    with pytest.raises(UserError) as info:
        plan_of(tmp_path, body, workload, cluster)
    return str(info.value).replace(str(tmp_path), "D")


GOOD = """a,run,0,0.0,4.0,,n0:0
b,run,0,4.0,7.0,,n0:0
b,run,0,4.0,7.0,,n0:1
c,run,0,7.0,8.0,,n0:1
"""


# ----- building the plan ------------------------------------------------------------
def test_plan_follows_file_start_order_with_first_segment_gpus(tmp_path: Path) -> None:
    plan = plan_of(tmp_path, GOOD)
    assert plan.job_ids == ("a", "b", "c")
    assert plan.rows == (0, 1, 2)
    assert plan.start_s == (0.0, 4.0, 7.0)
    assert plan.gpu_ids == (("n0:0",), ("n0:0", "n0:1"), ("n0:1",))
    assert plan.source == str(tmp_path / "s.csv")
    assert plan.position_of_rows(3) == [0, 1, 2]


def test_equal_start_times_keep_submission_order_not_id_order() -> None:
    # "z" was submitted first; both start at 5: z goes first although "a" < "z".
    wl = Workload.from_jobs([Job("z", 0.0, 1.0, 1), Job("a", 1.0, 1.0, 1)])
    sched = Schedule.of([A("a", 5.0, 6.0, ("n0:1",)), A("z", 5.0, 6.0, ("n0:0",))])
    plan = build_plan(sched, wl, CLUSTER)
    assert plan.job_ids == ("z", "a")
    assert plan.source == "<schedule>"


def test_a_rejected_job_is_kept_out_of_the_order(tmp_path: Path) -> None:
    body = GOOD.replace("b,run,0,4.0,7.0,,n0:0\nb,run,0,4.0,7.0,,n0:1\n", "b,rejected,,,,,\n")
    plan = plan_of(tmp_path, body)
    assert plan.job_ids == ("a", "c")
    assert plan.rejected_rows == frozenset({1})
    assert plan.position_of_rows(3) == [0, -1, 1]


def test_only_the_first_segment_counts() -> None:
    sched = Schedule.of(
        [
            A("a", 0.0, 2.0, ("n0:1",), work_s=2.0),
            A("a", 5.0, 7.0, ("n0:0",), work_s=2.0),
            A("c", 3.0, 4.0, ("n0:0",)),
            A("b", 9.0, 12.0, ("n0:0",), work_s=3.0),  # a gang written as two rows of one segment
            A("b", 9.0, 12.0, ("n0:1",)),
        ]
    )
    assert first_segments(sched) == {"a": (0.0, ("n0:1",)), "c": (3.0, ("n0:0",)), "b": (9.0, ("n0:0", "n0:1"))}
    assert build_plan(sched, WL, CLUSTER).job_ids == ("a", "c", "b")


@pytest.mark.parametrize("suffix", [".json", ".parquet"])
def test_errors_name_the_row_in_every_format(tmp_path: Path, suffix: str) -> None:
    path = write_schedule(Schedule.of([A("a", 0.0, 4.0, ("n0:0",)), A("b", 4.0, 7.0, ("n0:0", "n9:1"))]),
                          tmp_path / f"s{suffix}")
    with pytest.raises(TraceError) as info:
        build_plan(read_schedule(path), WL, CLUSTER, path)
    assert str(info.value) == (
        f"{path}:3: field 'gpu_id': job 'b': GPU not in the cluster; expected a GPU id of the cluster "
        "(n0:0 .. n0:1) but found 'n9:1'"
    )


# ----- bad schedules: exact one-line messages ----------------------------------------
def test_unknown_gpu_names_file_row_and_field(tmp_path: Path) -> None:
    body = GOOD.replace("c,run,0,7.0,8.0,,n0:1", "c,run,0,7.0,8.0,,n1:0")
    assert error_of(tmp_path, body) == (
        "D/s.csv:4: field 'gpu_id': job 'c': GPU not in the cluster; "
        "expected a GPU id of the cluster (n0:0 .. n0:1) but found 'n1:0'"
    )


def test_unknown_gpu_in_a_later_segment_is_reported_too(tmp_path: Path) -> None:
    body = GOOD + "a,run,1,9.0,10.0,,gpu7\n"
    assert error_of(tmp_path, body) == (
        "D/s.csv:5: field 'gpu_id': job 'a': GPU not in the cluster; "
        "expected a GPU id of the cluster (n0:0 .. n0:1) but found 'gpu7'"
    )


def test_missing_job_is_named(tmp_path: Path) -> None:
    body = "a,run,0,0.0,4.0,,n0:0\n"
    assert error_of(tmp_path, body) == (
        "D/s.csv: workload job 'b' (and 1 more) is not in the schedule; expected a run row or a rejected row for every job"
    )
    body = GOOD.replace("c,run,0,7.0,8.0,,n0:1\n", "")
    assert error_of(tmp_path, body) == (
        "D/s.csv: workload job 'c' is not in the schedule; expected a run row or a rejected row for every job"
    )


def test_job_not_in_the_workload(tmp_path: Path) -> None:
    assert error_of(tmp_path, GOOD + "zz,rejected,,,,,\n") == (
        "D/s.csv:5: field 'job_id': job 'zz' is not in the workload"
    )
    assert error_of(tmp_path, "q,run,0,0,1,,n0:0\n" + GOOD) == (
        "D/s.csv:1: field 'job_id': job 'q' is not in the workload"
    )


def test_rejected_and_run(tmp_path: Path) -> None:
    assert error_of(tmp_path, GOOD + "b,rejected,,,,,\n") == (
        "D/s.csv:5: field 'status': job 'b' is listed as rejected and also has run rows"
    )


def test_gpu_count_differs_from_num_gpus(tmp_path: Path) -> None:
    body = GOOD.replace("b,run,0,4.0,7.0,,n0:1\n", "")
    assert error_of(tmp_path, body) == (
        "D/s.csv:2: field 'gpu_id': job 'b' needs 2 GPU(s) but its first segment (start_s 4) lists 1"
    )


def test_gpu_listed_twice(tmp_path: Path) -> None:
    body = GOOD.replace("b,run,0,4.0,7.0,,n0:1", "b,run,0,4.0,7.0,,n0:0")
    assert error_of(tmp_path, body) == (
        "D/s.csv:3: field 'gpu_id': job 'b': GPU 'n0:0' appears twice in its first segment"
    )


def test_gpu_type_and_memory_are_checked(tmp_path: Path) -> None:
    cluster = Cluster((Node("v", "V100", 1, 16.0), Node("a", "A100", 1, 80.0)))
    wl = Workload.from_jobs([Job("x", 0.0, 1.0, 1, gpu_types=("A100",)), Job("y", 0.0, 1.0, 1, gpu_mem_gib=40.0)])
    assert error_of(tmp_path, "x,run,0,0,1,,v:0\ny,run,0,0,1,,a:0\n", wl, cluster) == (
        "D/s.csv:1: field 'gpu_id': job 'x' allows only GPU type(s) A100 but GPU 'v:0' is a V100"
    )
    assert error_of(tmp_path, "x,run,0,0,1,,a:0\ny,run,0,1,2,,v:0\n", wl, cluster) == (
        "D/s.csv:2: field 'gpu_id': job 'y' needs 40 GiB per GPU but GPU 'v:0' has 16 GiB"
    )


def test_in_memory_schedule_errors_name_no_row() -> None:
    with pytest.raises(TraceError) as info:
        build_plan(Schedule.of([A("a", 0.0, 1.0, ("x",))], rejected=["b", "c"]), WL, CLUSTER)
    assert str(info.value) == (
        "<schedule>: field 'gpu_id': job 'a': GPU not in the cluster; "
        "expected a GPU id of the cluster (n0:0 .. n0:1) but found 'x'"
    )


# ----- the start rule ----------------------------------------------------------------
PLAN = ReplayPlan(
    source="<schedule>",
    rows=(0, 1, 2, 3),
    job_ids=("a", "b", "c", "d"),
    start_s=(0.0, 2.0, 2.0, 9.0),
    gpu_ids=(("g0",), ("g1",), ("g0", "g2"), ("g1",)),
    submit_s=(0.0, 0.0, 1.0, 5.0),
)


def ready(next_pos: int, waiting: list[int], now_s: float, free: set[str], timed: bool = False) -> tuple[list[int], int]:
    return ready_positions(next_pos, iter(waiting), now_s, PLAN, free.__contains__, len(free), timed)


def test_starts_consecutive_positions_while_they_fit() -> None:
    # c needs g0, which a takes in this very batch: c and everything after it wait.
    assert ready(0, [0, 1, 2, 3], 5.0, {"g0", "g1", "g2"}) == ([0, 1], 2)
    assert ready(2, [2, 3], 5.0, {"g0", "g2"}) == ([2], 3)  # d's g1 is busy


def test_a_job_not_yet_arrived_holds_back_later_ones() -> None:
    # At t=0.5, c (submitted at 1) has not arrived: d may not pass it.
    assert ready(2, [3], 0.5, {"g0", "g1", "g2"}) == ([], 2)


def test_a_job_that_arrived_but_is_not_queued_is_skipped() -> None:
    # At t=6, c (submitted at 1) is not queued: admission deferred or rejected it.
    assert ready(2, [3], 6.0, {"g0", "g1", "g2"}) == ([3], 4)
    assert ready(2, [], 6.0, {"g0"}) == ([], 4)  # skipping needs no queued job behind it


def test_timed_mode_waits_for_the_file_start_time() -> None:
    free = {"g0", "g1", "g2"}
    assert ready(1, [1, 2], 1.5, free, timed=True) == ([], 1)
    assert ready(1, [1, 2, 3], 2.0, free, timed=True) == ([1, 2], 3)  # d is due at 9
    assert ready(1, [1, 2, 3], 9.0, free, timed=True) == ([1, 2], 3)  # g1 taken by b
    assert wakeup_s(1, 1.5, PLAN, timed=True) == 2.0
    assert wakeup_s(1, 2.0, PLAN, timed=True) is None
    assert wakeup_s(1, 0.0, PLAN, timed=False) is None
    assert wakeup_s(4, 0.0, PLAN, timed=True) is None


def test_a_requeued_job_restarts_on_its_gpus_without_blocking() -> None:
    # a (position 0) is back in the queue; its GPU g0 is busy, so it waits and d goes on.
    assert ready(3, [0, 3], 9.0, {"g1"}) == ([3], 4)
    assert ready(3, [0, 3], 9.0, {"g0", "g1"}) == ([0, 3], 4)
    assert ready(4, [0], 9.0, {"g2"}) == ([], 4)


def test_the_free_count_bounds_a_gang() -> None:
    # is_free says yes to everything but only one GPU is free: the 2-GPU c cannot start.
    starts = ready_positions(2, iter([2]), 5.0, PLAN, lambda g: True, 1, timed=False)
    assert starts == ([], 2)
