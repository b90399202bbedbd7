"""Result tables: definitions of the summary metrics, the timeline and its resampling."""

from __future__ import annotations

import math

import numpy as np
import pytest

from simulator.metrics import (
    JOBS_SCHEMA,
    MAX_TIMELINE_POINTS,
    SUMMARY_SCHEMA,
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
    submit = np.array([0.0, 1.0, 1.0])
    start = np.array([0.0, 1.0, 4.0])
    end = np.array([4.0, 4.0, 5.0])
    t, queue, busy = state_samples(submit, start, end, np.array([1, 2, 1], dtype=np.int32))
    assert t.tolist() == [0.0, 1.0, 4.0, 5.0]
    assert queue.tolist() == [0, 1, 0, 0]
    assert busy.tolist() == [1, 3, 1, 0]


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
    table = timeline_table("r1", wl, start, start + 1.0)
    assert table.schema == TIMELINE_SCHEMA
    assert table.num_rows == 2 * MAX_TIMELINE_POINTS
    assert table.column("metric").to_pylist()[:4] == ["queue_length", "busy_gpus"] * 2
    small = timeline_table("r1", wl.take(np.arange(2)), start[:2], start[:2] + 1.0)
    assert small.to_pylist()[:4] == [
        {"run_id": "r1", "t_s": 0.0, "metric": "queue_length", "value": 1.0},
        {"run_id": "r1", "t_s": 0.0, "metric": "busy_gpus", "value": 0.0},
        {"run_id": "r1", "t_s": 0.5, "metric": "queue_length", "value": 0.0},
        {"run_id": "r1", "t_s": 0.5, "metric": "busy_gpus", "value": 1.0},
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
    assert "jain_slowdown_by_group" not in values
    only_groups = summary_values(workload(4, group=users), start, end, 4.0, 2)
    assert "jain_slowdown_by_group" in only_groups and "jain_slowdown_by_user" not in only_groups
    assert not any(k.startswith("jain") for k in summary_values(workload(4), start, end, 4.0, 2))
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
