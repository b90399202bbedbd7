"""The sweep's two tables: one row per run (runs.csv) and tidy means with CIs over seeds (summary.csv).

`runs_table`: run_id, status ("done", "failed", "pending"), error (the failed run's
one-line message), the config columns (`grid.CONFIG_COLUMNS`), then one column per summary
metric (empty for runs that did not finish). Counts are integers.

`summary_table`: one row per group x metric, where a group is the config columns minus
the seed: n (finished runs with a value), mean, std (sample, ddof = 1), ci95_low,
ci95_high = mean -/+ t(0.975, n - 1) * std / sqrt(n), a Student-t interval for the mean
over seeds; with n = 1 std and the interval are NaN (empty in the CSV), with n = 0 the
mean is too.

Wall-clock time is kept out of both tables (it is in each run's summary.json), so the
same spec gives byte-identical tables on any machine, backend or number of workers, and
after any number of resumes.
"""

from __future__ import annotations

import importlib
import math
from collections.abc import Sequence
from typing import Any

import numpy as np
import pyarrow as pa

from simulator.metrics import COUNT_METRICS, ENERGY_METRICS, JAIN_BY_GROUP, JAIN_BY_USER, SUMMARY_METRICS
from simulator.sweep.grid import CONFIG_COLUMNS, RunConfig
from simulator.sweep.store import SweepStore

GROUP_COLUMNS: tuple[str, ...] = tuple(c for c in CONFIG_COLUMNS if c != "seed")
_COLUMN_TYPES: dict[str, pa.DataType] = {
    "run_id": pa.string(),
    "status": pa.string(),
    "error": pa.string(),
    "cluster": pa.string(),
    "num_gpus": pa.int64(),
    "gpu_type": pa.string(),
    "load_scale": pa.float64(),
    "policy": pa.string(),
    "placement": pa.string(),
    "admission": pa.string(),
    "seed": pa.int64(),
}
# Metric columns in the simulator's summary order; metrics it does not list follow by name.
_METRIC_ORDER = {m: i for i, m in enumerate((*SUMMARY_METRICS, JAIN_BY_USER, JAIN_BY_GROUP, *ENERGY_METRICS))}


def runs_table(runs: Sequence[RunConfig], store: SweepStore) -> pa.Table:
    """One row per run, in run order, from the files under `store` (so a resumed sweep gives
    the same table as one that ran in one go)."""
    rows: list[dict[str, Any]] = []
    metrics: set[str] = set()
    for run in runs:
        state = store.state(run.run_id)
        row: dict[str, Any] = {"run_id": run.run_id, "status": state or "pending", "error": ""}
        row.update(run.columns())
        if state == "done":
            values = store.summary(run.run_id)["metrics"]
            metrics.update(values)
            row["metrics"] = values
        elif state == "failed":
            row["error"] = str(store.error(run.run_id).get("message", ""))
        rows.append(row)
    columns: dict[str, pa.Array] = {
        name: pa.array([r[name] for r in rows], type=typ) for name, typ in _COLUMN_TYPES.items()
    }
    for m in sorted(metrics, key=lambda m: (_METRIC_ORDER.get(m, len(_METRIC_ORDER)), m)):
        values = [r.get("metrics", {}).get(m) for r in rows]
        if m in COUNT_METRICS:
            columns[m] = pa.array([None if v is None else int(v) for v in values], type=pa.int64())
        else:
            columns[m] = pa.array([None if v is None else float(v) for v in values], type=pa.float64())
    return pa.table(columns)


def metric_names(runs: pa.Table) -> list[str]:
    """The metric columns of a runs table."""
    return [c for c in runs.column_names if c not in _COLUMN_TYPES]


def summary_table(runs: pa.Table) -> pa.Table:
    """Tidy mean, std and Student-t 95% interval over seeds per group and metric (finished runs only)."""
    data = runs.to_pydict()
    status = data["status"]
    groups: dict[tuple[Any, ...], list[int]] = {}
    for i in range(runs.num_rows):
        groups.setdefault(tuple(data[c][i] for c in GROUP_COLUMNS), []).append(i)
    out: dict[str, list[Any]] = {c: [] for c in (*GROUP_COLUMNS, "metric", "n", "mean", "std", "ci95_low",
                                                 "ci95_high")}
    for key, rows in groups.items():
        for m in metric_names(runs):
            values = [float(data[m][i]) for i in rows if status[i] == "done" and data[m][i] is not None]
            n, mean, std, low, high = t_interval(values)
            for c, v in zip(GROUP_COLUMNS, key, strict=True):
                out[c].append(v)
            out["metric"].append(m)
            out["n"].append(n)
            for name, v in (("mean", mean), ("std", std), ("ci95_low", low), ("ci95_high", high)):
                out[name].append(v)
    types = {**{c: _COLUMN_TYPES[c] for c in GROUP_COLUMNS}, "metric": pa.string(), "n": pa.int64(),
             **dict.fromkeys(("mean", "std", "ci95_low", "ci95_high"), pa.float64())}
    return pa.table({c: pa.array(v, type=types[c]) for c, v in out.items()})


def t_interval(values: Sequence[float], level: float = 0.95) -> tuple[int, float, float, float, float]:
    """(n, mean, sample std, low, high): the Student-t confidence interval for the mean."""
    student_t = importlib.import_module("scipy.stats").t  # imported when needed; scipy ships no type stubs

    arr = np.asarray([v for v in values if not math.isnan(v)], dtype=np.float64)
    n = len(arr)
    if n == 0:
        return 0, math.nan, math.nan, math.nan, math.nan
    mean = float(np.mean(arr))
    if n == 1:
        return 1, mean, math.nan, math.nan, math.nan
    std = float(np.std(arr, ddof=1))
    half = float(student_t.ppf(0.5 + level / 2, n - 1)) * std / math.sqrt(n)
    return n, mean, std, mean - half, mean + half
