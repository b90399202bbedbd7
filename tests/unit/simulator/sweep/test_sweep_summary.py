"""The tidy summary: Student-t intervals over seeds, checked by hand, and grouping of runs."""

from __future__ import annotations

import math

import pyarrow as pa
import pytest

from simulator.sweep import summary_table, t_interval


def test_three_seeds_give_the_hand_computed_t_interval() -> None:
    # mean 2, sample std 1, t(0.975, 2) = 4.302652729749462, half width = 4.3026527 / sqrt(3) = 2.4841377
    n, mean, std, low, high = t_interval([1.0, 2.0, 3.0])
    assert (n, mean, std) == (3, 2.0, 1.0)
    assert low == pytest.approx(2.0 - 2.484137713, abs=1e-8) and high == pytest.approx(2.0 + 2.484137713, abs=1e-8)
    # two seeds: t(0.975, 1) = 12.706204736, std = sqrt(2) for (10, 12), half width = 12.7062047 * sqrt(2)/sqrt(2)
    n, mean, std, low, high = t_interval([10.0, 12.0])
    assert (n, mean) == (2, 11.0) and std == pytest.approx(math.sqrt(2))
    assert high - mean == pytest.approx(12.706204736, abs=1e-8)


def test_one_value_has_no_interval_and_none_has_no_mean() -> None:
    assert t_interval([5.0])[:2] == (1, 5.0) and all(math.isnan(v) for v in t_interval([5.0])[2:])
    n, *rest = t_interval([math.nan])
    assert n == 0 and all(math.isnan(v) for v in rest)


def test_identical_seeds_give_a_zero_width_interval() -> None:
    assert t_interval([7.0, 7.0, 7.0])[2:] == (0.0, 7.0, 7.0)


def _runs(rows: list[tuple[str, int, str, float | None]]) -> pa.Table:
    return pa.table({
        "run_id": [f"r{i}" for i in range(len(rows))],
        "status": [r[2] for r in rows],
        "error": ["" for _ in rows],
        "cluster": [r[0] for r in rows],
        "num_gpus": pa.array([8 for _ in rows], pa.int64()),
        "gpu_type": ["V100" for _ in rows],
        "load_scale": [1.0 for _ in rows],
        "policy": ["fcfs" for _ in rows],
        "placement": ["pack" for _ in rows],
        "admission": ["accept-all" for _ in rows],
        "seed": pa.array([r[1] for r in rows], pa.int64()),
        "mean_wait_s": pa.array([r[3] for r in rows], pa.float64()),
    })


def test_groups_drop_the_seed_and_only_finished_runs_count() -> None:
    table = summary_table(_runs([("a", 0, "done", 1.0), ("a", 1, "done", 2.0), ("a", 2, "done", 3.0),
                                 ("b", 0, "done", 4.0), ("b", 1, "failed", None), ("c", 0, "failed", None)]))
    rows = table.to_pylist()
    assert [(r["cluster"], r["metric"], r["n"], r["mean"]) for r in rows][:2] == [("a", "mean_wait_s", 3, 2.0),
                                                                                ("b", "mean_wait_s", 1, 4.0)]
    assert rows[0]["ci95_high"] == pytest.approx(4.484137713) and math.isnan(rows[1]["std"])
    assert rows[2]["cluster"] == "c" and rows[2]["n"] == 0 and math.isnan(rows[2]["mean"])
    assert table.column_names == ["cluster", "num_gpus", "gpu_type", "load_scale", "policy", "placement", "admission",
                                  "metric", "n", "mean", "std", "ci95_low", "ci95_high"]
