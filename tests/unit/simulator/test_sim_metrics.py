"""Result tables: definitions of the summary metrics, the timeline and its resampling."""

from __future__ import annotations

import math

import numpy as np
import pytest

from simulator.metrics import (
    JOBS_SCHEMA,
    MAX_TIMELINE_POINTS,
    SUMMARY_SCHEMA,
    TIMELINE_METRICS,
    TIMELINE_SCHEMA,
    RunLabels,
    jain_index,
    jobs_table,
    resample_steps,
    state_samples,
    summary_table,
    summary_values,
    timeline_table,
)
from traces.model import Categorical, Job, Workload

LABELS = RunLabels("r1", "fcfs", "pack", 3)


def test_jain_index() -> None:
    assert jain_index([2.0, 2.0, 2.0]) == pytest.approx(1.0)
    assert jain_index([1.0, 0.0]) == pytest.approx(0.5)
    assert jain_index([1.0, 3.0]) == pytest.approx(16 / 20)
    assert math.isnan(jain_index([]))


def test_state_samples_after_each_instant() -> None:
    # Job 0 runs [0, 4); job 1 (2 GPUs) runs [1, 2) then, requeued, [3, 4); job 2 runs [4, 5).
    submit = np.array([0.0, 1.0, 1.0])
    job_end = np.array([4.0, 4.0, 5.0])
    seg_start = np.array([0.0, 1.0, 3.0, 4.0])
    seg_end = np.array([4.0, 2.0, 4.0, 5.0])
    seg_gpus = np.array([1, 2, 2, 1])
    t, m = state_samples(submit, job_end, seg_start, seg_end, seg_gpus, [(2.5, 3.5, 8)])
    assert t.tolist() == [0.0, 1.0, 2.0, 2.5, 3.0, 3.5, 4.0, 5.0]
    assert m["busy_gpus"].tolist() == [1, 3, 1, 1, 3, 3, 1, 0]
    assert m["running_jobs"].tolist() == [1, 2, 1, 1, 2, 2, 1, 0]
    assert m["queued_jobs"].tolist() == [0, 1, 2, 2, 1, 1, 0, 0]
    assert m["down_gpus"].tolist() == [0, 0, 0, 8, 8, 0, 0, 0]
    _, plain = state_samples(submit, job_end, seg_start, seg_end, seg_gpus)
    assert list(plain) == list(TIMELINE_METRICS)


def test_resampling_keeps_the_step_function_values() -> None:
    t = np.arange(10_000, dtype=np.float64)
    v = (np.arange(10_000) // 7).astype(np.int64)
    grid, (vals,) = resample_steps(t, [v], 100)
    assert len(grid) == 100 and grid[0] == 0.0 and grid[-1] == 9999.0
    np.testing.assert_array_equal(vals, (np.floor(grid) // 7).astype(np.int64))
    same, (kept,) = resample_steps(t[:50], [v[:50]], 100)
    assert same.tolist() == t[:50].tolist() and kept.tolist() == v[:50].tolist()


def workload(n: int, **cats: Categorical) -> Workload:
    return Workload.from_columns(
        job_id=[f"j{i}" for i in range(n)],
        submit_s=np.arange(n, dtype=np.float64),
        duration_s=np.ones(n),
        num_gpus=np.ones(n, dtype=np.int32),
        **cats,
    )


def test_timeline_is_long_form_and_capped() -> None:
    wl = workload(5000)
    start = wl.submit_s + 0.5
    ones = np.ones(len(wl), dtype=np.int64)
    t, m = state_samples(wl.submit_s, start + 1.0, start, start + 1.0, ones)
    table = timeline_table("r1", t, m)
    assert table.schema == TIMELINE_SCHEMA
    assert table.num_rows == 3 * MAX_TIMELINE_POINTS
    assert table.column("metric").to_pylist()[:6] == list(TIMELINE_METRICS) * 2
    t2, m2 = state_samples(wl.submit_s[:2], start[:2] + 1.0, start[:2], start[:2] + 1.0, ones[:2])
    small = timeline_table("r1", t2, m2)
    assert small.to_pylist()[:6] == [
        {"run_id": "r1", "t_s": 0.0, "metric": "busy_gpus", "value": 0.0},
        {"run_id": "r1", "t_s": 0.0, "metric": "queued_jobs", "value": 1.0},
        {"run_id": "r1", "t_s": 0.0, "metric": "running_jobs", "value": 0.0},
        {"run_id": "r1", "t_s": 0.5, "metric": "busy_gpus", "value": 1.0},
        {"run_id": "r1", "t_s": 0.5, "metric": "queued_jobs", "value": 0.0},
        {"run_id": "r1", "t_s": 0.5, "metric": "running_jobs", "value": 1.0},
    ]


def test_summary_values_and_fairness_by_user_or_group() -> None:
    users = Categorical.from_values(["u0", "u0", "u1", None])
    wl = workload(4, user=users, group=Categorical.from_values(["g", "g", "g", "g"]))
    start = wl.submit_s + np.array([0.0, 1.0, 0.0, 0.0])
    end = start + 1.0
    values = summary_values(wl, start, end, busy_gpu_s=4.0, num_gpus=2)
    assert values["num_jobs"] == 4
    assert values["mean_wait_s"] == pytest.approx(0.25)
    assert values["mean_slowdown"] == pytest.approx((1 + 2 + 1 + 1) / 4)
    assert values["makespan_s"] == 4.0
    assert values["gpu_utilisation"] == pytest.approx(4.0 / (2 * 4.0))
    # Users u0 (mean slowdown 1.5) and u1 (1.0); the job without a user is left out.
    assert values["jain_slowdown_by_user"] == pytest.approx(2.5**2 / (2 * (1.5**2 + 1.0)))
    assert values["jain_slowdown_by_group"] == 1.0  # one group
    only_groups = summary_values(workload(4, group=users), start, end, 4.0, 2)
    assert only_groups["jain_slowdown_by_group"] == values["jain_slowdown_by_user"]
    assert math.isnan(only_groups["jain_slowdown_by_user"])
    assert all(math.isnan(v) for k, v in summary_values(workload(4), start, end, 4.0, 2).items() if k.startswith("jain"))
    table = summary_table(LABELS, values)
    assert table.schema == SUMMARY_SCHEMA
    assert table.to_pylist()[0] == {"run_id": "r1", "policy": "fcfs", "placement": "pack", "seed": 3,
                                    "metric": "num_jobs", "value": 4.0}


def test_jobs_table_schema_and_status() -> None:
    wl = Workload.from_jobs([Job("a", 0.0, 2.0, 1), Job("b", 0.0, 2.0, 2)])
    table = jobs_table(LABELS, wl, np.array([0.0, 1.0]), np.array([2.0, 3.0]), ["V100", "V100"])
    assert table.schema == JOBS_SCHEMA
    assert table.column("status").to_pylist() == ["completed", "completed"]
    assert table.column("slowdown").to_pylist() == [1.0, 1.5]
    assert table.column("wait_s").to_pylist() == [0.0, 1.0]


def test_rejected_jobs_are_counted_but_not_measured() -> None:
    wl = workload(3)
    nan = math.nan
    start = np.array([0.0, nan, 3.0])
    end = np.array([2.0, nan, 4.0])
    rejected = np.array([False, True, False])
    values = summary_values(wl, start, end, busy_gpu_s=3.0, num_gpus=1, rejected=rejected, wait_s=np.array([0.0, nan, 1.0]),
                            num_preemptions=2, num_failure_restarts=1, num_node_failures=1)
    assert (values["num_jobs"], values["num_completed"], values["num_rejected"]) == (3, 2, 1)
    assert values["mean_jct_s"] == pytest.approx((2 + 2) / 2)
    assert values["mean_wait_s"] == pytest.approx(0.5)
    assert values["makespan_s"] == 4.0
    assert (values["num_preemptions"], values["num_failure_restarts"], values["num_node_failures"]) == (2, 1, 1)
    table = jobs_table(LABELS, wl, start, end, ["V100", None, "V100"], rejected=rejected,
                       gpu_ids=["n0:0", None, "n0:0"])
    assert table.column("status").to_pylist() == ["completed", "rejected", "completed"]
    assert table.column("gpu_ids").to_pylist() == ["n0:0", None, "n0:0"]


def test_bounded_slowdown_uses_a_ten_second_floor() -> None:
    wl = Workload.from_jobs([Job("short", 0.0, 1.0, 1), Job("long", 0.0, 100.0, 1)])
    start = np.array([0.0, 4.0])  # rows in (submit, job_id) order: long, short
    end = start + wl.duration_s
    values = summary_values(wl, start, end, busy_gpu_s=101.0, num_gpus=2)
    # short: JCT 5 s, bounded by 10 s -> max(1, 0.5) = 1; long: JCT 100 / 100 = 1.
    assert values["mean_bounded_slowdown"] == 1.0
    assert values["mean_slowdown"] == pytest.approx((5.0 + 1.0) / 2)
