"""The `schedule` policy end to end: exact replays of FCFS, hand-made orders followed exactly, bad files."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from simulator.policies import make_policy
from simulator.run import SimConfig, SimResult, simulate
from simulator.schedule import Assignment as A
from simulator.schedule import Schedule
from simulator.schedule_io import write_schedule
from simulator.validate import check
from traces.cluster import Cluster
from traces.errors import TraceError, UserError
from traces.model import Job, Workload
from traces.readers.registry import read_trace

TWO_GPUS = Cluster.uniform(1, 2)
THREE_JOBS = Workload.from_jobs([Job("a", 0.0, 4.0, 1), Job("b", 1.0, 3.0, 1), Job("c", 1.0, 1.0, 1)])
HOL = Workload.from_jobs([Job("a", 0.0, 10.0, 1), Job("b", 1.0, 5.0, 2), Job("c", 2.0, 1.0, 1)])
Timeline = dict[str, tuple[float, float, tuple[str, ...]]]


def timeline(result: SimResult) -> Timeline:
    return {a.job_id: (a.start_s, a.end_s, a.gpu_ids) for a in result.schedule}


def replay(workload: Workload, cluster: Cluster, schedule: Path | Schedule, mode: str = "order",
           **options: Any) -> SimResult:
    params = {"schedule": schedule if isinstance(schedule, Schedule) else str(schedule), "mode": mode}
    result = simulate(workload, cluster, SimConfig("schedule", policy_params=params, **options))
    assert check(result.schedule, workload, cluster) == []
    return result


def test_jobs_the_file_rejects_are_rejected_and_never_hold_back_the_order() -> None:
    # b is refused by the file; it arrives at 1 while a holds one GPU of two, so it is
    # rejected at once and c (submitted with it) starts at 1 on n0:1.
    sched = Schedule.of([A("a", 0.0, 4.0, ("n0:0",)), A("c", 1.0, 2.0, ("n0:1",))], rejected=["b"])
    result = replay(THREE_JOBS, TWO_GPUS, sched)
    assert timeline(result) == {"a": (0.0, 4.0, ("n0:0",)), "c": (1.0, 2.0, ("n0:1",))}
    assert result.schedule.rejected == ("b",)
    status = dict(zip(result.jobs.column("job_id").to_pylist(), result.jobs.column("status").to_pylist(), strict=True))
    assert status == {"a": "completed", "b": "rejected", "c": "completed"}


def test_a_rejected_job_arriving_at_a_full_cluster_waits_for_a_free_gpu_then_goes() -> None:
    # Both GPUs busy when b arrives: the policy is asked once a GPU frees (at 2), rejects b
    # there and starts d on the freed GPU in the same instant.
    wl = Workload.from_jobs([Job("a", 0.0, 2.0, 1), Job("c", 0.0, 5.0, 1), Job("b", 1.0, 1.0, 1),
                             Job("d", 1.5, 1.0, 1)])
    sched = Schedule.of([A("a", 0.0, 2.0, ("n0:0",)), A("c", 0.0, 5.0, ("n0:1",)), A("d", 2.0, 3.0, ("n0:0",))],
                        rejected=["b"])
    result = replay(wl, TWO_GPUS, sched)
    assert timeline(result)["d"] == (2.0, 3.0, ("n0:0",))
    assert result.schedule.rejected == ("b",)


# ----- replaying FCFS reproduces it exactly ------------------------------------------
@pytest.mark.parametrize("mode", ["order", "timed"])
@pytest.mark.parametrize("workload", [THREE_JOBS, HOL], ids=["three-jobs", "head-of-line"])
def test_replaying_fcfs_on_tiny_cases_is_exact(tmp_path: Path, workload: Workload, mode: str) -> None:
    fcfs = simulate(workload, TWO_GPUS, SimConfig("fcfs"))
    path = write_schedule(fcfs.schedule, tmp_path / "fcfs.csv")
    assert timeline(replay(workload, TWO_GPUS, path, mode)) == timeline(fcfs)


def test_replay_of_fcfs_three_jobs_by_hand(tmp_path: Path) -> None:
    path = write_schedule(simulate(THREE_JOBS, TWO_GPUS, SimConfig("fcfs")).schedule, tmp_path / "s.csv")
    assert timeline(replay(THREE_JOBS, TWO_GPUS, path)) == {
        "a": (0.0, 4.0, ("n0:0",)),
        "b": (1.0, 4.0, ("n0:1",)),
        "c": (4.0, 5.0, ("n0:0",)),
    }


@pytest.fixture(scope="module")
def philly() -> Workload:
    return read_trace([Path("traces/data/philly-dirlab-slice.csv")]).workload


@pytest.mark.parametrize("mode", ["order", "timed"])
def test_replaying_fcfs_on_the_philly_slice_is_exact(tmp_path: Path, philly: Workload, mode: str) -> None:
    cluster = Cluster.uniform(4, 8)
    fcfs = simulate(philly, cluster, SimConfig("fcfs"))
    path = write_schedule(fcfs.schedule, tmp_path / "fcfs.csv")
    result = replay(philly, cluster, path, mode)
    assert result.schedule == fcfs.schedule  # every start, end and GPU id, exactly
    assert result.jobs.column("start_s").to_pylist() == fcfs.jobs.column("start_s").to_pylist()


def test_timed_replay_of_sjf_on_the_philly_slice_is_exact(tmp_path: Path, philly: Workload) -> None:
    # SJF starts jobs at one instant in its own order, not the file's; timed mode pins each start.
    cluster = Cluster.uniform(4, 8)
    sjf = simulate(philly, cluster, SimConfig("sjf"))
    path = write_schedule(sjf.schedule, tmp_path / "sjf.csv")
    assert replay(philly, cluster, path, "timed").schedule == sjf.schedule


# ----- hand-made schedules are followed exactly --------------------------------------
def test_a_reordered_schedule_is_followed(tmp_path: Path) -> None:
    # The file lets c (1 GPU) go before b (2 GPUs), and puts a on the second GPU.
    sched = Schedule.of([A("a", 0.0, 10.0, ("n0:1",)), A("c", 2.0, 3.0, ("n0:0",)),
                         A("b", 10.0, 15.0, ("n0:1", "n0:0"))])
    path = write_schedule(sched, tmp_path / "s.csv")
    expected = {
        "a": (0.0, 10.0, ("n0:1",)),
        "c": (2.0, 3.0, ("n0:0",)),
        "b": (10.0, 15.0, ("n0:1", "n0:0")),
    }
    assert timeline(replay(HOL, TWO_GPUS, path, "order")) == expected
    assert timeline(replay(HOL, TWO_GPUS, path, "timed")) == expected


def test_order_mode_starts_early_and_timed_mode_waits_for_the_file_time() -> None:
    # The file idles n0:0 until 5 for c; order mode starts c as soon as it arrives.
    sched = Schedule.of([A("a", 0.0, 10.0, ("n0:1",)), A("c", 5.0, 6.0, ("n0:0",)),
                         A("b", 10.0, 15.0, ("n0:0", "n0:1"))])
    assert timeline(replay(HOL, TWO_GPUS, sched, "order"))["c"] == (2.0, 3.0, ("n0:0",))
    assert timeline(replay(HOL, TWO_GPUS, sched, "timed")) == {
        "a": (0.0, 10.0, ("n0:1",)),
        "c": (5.0, 6.0, ("n0:0",)),
        "b": (10.0, 15.0, ("n0:0", "n0:1")),
    }


def test_the_order_is_strict_a_blocked_job_holds_back_later_ones() -> None:
    # b is first in the file but needs both GPUs: c, whose GPU is free from 2 on, waits behind it.
    sched = Schedule.of([A("a", 0.0, 10.0, ("n0:0",)), A("b", 1.0, 6.0, ("n0:0", "n0:1")),
                         A("c", 2.0, 3.0, ("n0:1",))])
    assert timeline(replay(HOL, TWO_GPUS, sched, "order")) == {
        "a": (0.0, 10.0, ("n0:0",)),
        "b": (10.0, 15.0, ("n0:0", "n0:1")),
        "c": (15.0, 16.0, ("n0:1",)),
    }


def test_a_job_waits_for_its_own_gpus_even_when_others_are_free() -> None:
    cluster = Cluster.uniform(1, 3)
    sched = Schedule.of([A("a", 0.0, 4.0, ("n0:2",)), A("b", 4.0, 7.0, ("n0:2",)), A("c", 7.0, 8.0, ("n0:2",))])
    assert timeline(replay(THREE_JOBS, cluster, sched)) == {
        "a": (0.0, 4.0, ("n0:2",)),
        "b": (4.0, 7.0, ("n0:2",)),
        "c": (7.0, 8.0, ("n0:2",)),
    }


def test_later_segments_are_not_replayed() -> None:
    # A preemptive schedule: a runs 0-2, then 5-7. The replay runs a once, from 0 to 4.
    sched = Schedule.of([A("a", 0.0, 2.0, ("n0:0",)), A("a", 5.0, 7.0, ("n0:1",)),
                         A("b", 2.0, 5.0, ("n0:0",)), A("c", 2.0, 3.0, ("n0:1",))])
    assert timeline(replay(THREE_JOBS, TWO_GPUS, sched)) == {
        "a": (0.0, 4.0, ("n0:0",)),
        "b": (4.0, 7.0, ("n0:0",)),  # the file starts b and c at 2, b first (submitted first, then id)
        "c": (4.0, 5.0, ("n0:1",)),  # so c waits behind b, which waits for a's GPU
    }


# ----- bad files and parameters: one-line errors before the run ----------------------
def test_bad_schedule_is_a_user_error_before_the_run(tmp_path: Path) -> None:
    path = tmp_path / "s.csv"
    path.write_text("job_id,status,segment,start_s,end_s,work_s,gpu_id\na,run,0,0,4,,n0:0\nb,run,0,1,4,,n0:7\n")
    with pytest.raises(TraceError) as info:
        replay(THREE_JOBS, TWO_GPUS, path)
    assert str(info.value) == (
        f"{path}:2: field 'gpu_id': job 'b': GPU not in the cluster; "
        "expected a GPU id of the cluster (n0:0 .. n0:1) but found 'n0:7'"
    )
    path.write_text("job_id,status,segment,start_s,end_s,work_s,gpu_id\na,run,0,0,4,,n0:0\nc,run,0,1,4,,n0:1\n")
    with pytest.raises(UserError) as info2:
        replay(THREE_JOBS, TWO_GPUS, path)
    assert str(info2.value) == (
        f"{path}: workload job 'b' is not in the schedule; expected a run row or a rejected row for every job"
    )


def test_malformed_or_missing_file_is_reported_when_the_policy_is_made(tmp_path: Path) -> None:
    path = tmp_path / "s.csv"
    path.write_text("job_id,status,segment,start_s,end_s,work_s,gpu_id\na,run,0,zero,4,,n0:0\n")
    with pytest.raises(TraceError) as info:
        make_policy("schedule", schedule=str(path))
    assert str(info.value) == f"{path}:1: field 'start_s': expected a finite number of seconds but found 'zero'"
    with pytest.raises(UserError, match="no-such.csv"):
        make_policy("schedule", schedule=str(tmp_path / "no-such.csv"))


def test_bad_mode_and_missing_schedule_parameter() -> None:
    with pytest.raises(UserError) as info:
        make_policy("schedule", schedule=Schedule(()), mode="soon")
    assert str(info.value) == "policy 'schedule': mode must be one of order, timed, got 'soon'"
    with pytest.raises(UserError) as info2:
        make_policy("schedule")
    assert "schedule" in str(info2.value)
