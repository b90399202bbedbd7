"""Result tables of a run, as tidy Arrow tables whose schemas are declared here, once.

* `jobs`: one row per job (`JOBS_SCHEMA`); `gpu_type` is the type it ran on ("A100+V100"
  for a job spread over nodes of two types).
* `summary`: long form, one row per metric (`SUMMARY_SCHEMA`, names in `SUMMARY_METRICS`),
  so runs of several policies concatenate into one table.
* `timeline`: long form `(run_id, t_s, metric, value)` of the queue length and busy GPUs
  just after each event instant (submit, start or end of a job), resampled onto a
  uniform time grid when longer than `MAX_TIMELINE_POINTS` per metric (the step
  function's value at each grid time, so peaks between grid times can be missed).

Definitions: wait = start - submit; JCT = end - submit; slowdown = JCT / duration_s;
makespan = last end - first submit; GPU utilisation = busy GPU-seconds / (cluster GPUs x
makespan); throughput = jobs / makespan in hours. The Jain index is taken over the mean
slowdown of each user (jobs without a user left out), or of each group when no job has a
user, and is omitted when neither is known.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt
import pyarrow as pa

from traces.model import JobStatus, Workload

JOBS_SCHEMA = pa.schema(
    [
        ("run_id", pa.string()),
        ("policy", pa.string()),
        ("placement", pa.string()),
        ("seed", pa.int64()),
        ("job_id", pa.string()),
        ("submit_s", pa.float64()),
        ("start_s", pa.float64()),
        ("end_s", pa.float64()),
        ("wait_s", pa.float64()),
        ("jct_s", pa.float64()),
        ("num_gpus", pa.int64()),
        ("gpu_type", pa.string()),
        ("status", pa.string()),
        ("num_preemptions", pa.int64()),
        ("slowdown", pa.float64()),
    ]
)
SUMMARY_SCHEMA = pa.schema(
    [
        ("run_id", pa.string()),
        ("policy", pa.string()),
        ("placement", pa.string()),
        ("seed", pa.int64()),
        ("metric", pa.string()),
        ("value", pa.float64()),
    ]
)
TIMELINE_SCHEMA = pa.schema(
    [("run_id", pa.string()), ("t_s", pa.float64()), ("metric", pa.string()), ("value", pa.float64())]
)
SUMMARY_METRICS: tuple[str, ...] = (
    "num_jobs",
    "mean_jct_s",
    "median_jct_s",
    "p95_jct_s",
    "p99_jct_s",
    "mean_wait_s",
    "p95_wait_s",
    "mean_slowdown",
    "makespan_s",
    "gpu_utilisation",
    "throughput_jobs_per_h",
)
JAIN_BY_USER = "jain_slowdown_by_user"
JAIN_BY_GROUP = "jain_slowdown_by_group"
TIMELINE_METRICS: tuple[str, ...] = ("queue_length", "busy_gpus")
MAX_TIMELINE_POINTS = 2000


@dataclass(frozen=True, slots=True)
class RunLabels:
    """The columns that identify a run in every table."""

    run_id: str
    policy: str
    placement: str
    seed: int


def _labels(labels: RunLabels, n: int, names: Sequence[str]) -> dict[str, pa.Array]:
    values = {"run_id": labels.run_id, "policy": labels.policy, "placement": labels.placement, "seed": labels.seed}
    return {k: pa.repeat(pa.scalar(values[k], type=JOBS_SCHEMA.field(k).type), n) for k in names}


def jobs_table(
    labels: RunLabels,
    workload: Workload,
    start_s: npt.NDArray[np.float64],
    end_s: npt.NDArray[np.float64],
    gpu_type: Sequence[str],
    num_preemptions: npt.NDArray[np.int64] | None = None,
) -> pa.Table:
    """One row per job in workload order; `status` is the trace's failed/killed, else completed."""
    n = len(workload)
    submit = workload.submit_s
    jct = end_s - submit
    statuses = workload.status
    status_names = [
        JobStatus.completed.value if c in (None, JobStatus.unknown.value) else c for c in statuses.categories
    ]
    codes = statuses.codes
    status = (
        [JobStatus.completed.value] * n
        if not status_names
        else np.where(codes < 0, JobStatus.completed.value, np.array(status_names, dtype=object)[codes]).tolist()
    )
    cols = {
        **_labels(labels, n, ("run_id", "policy", "placement", "seed")),
        "job_id": pa.array(workload.job_id.tolist(), pa.string()),
        "submit_s": pa.array(submit),
        "start_s": pa.array(start_s),
        "end_s": pa.array(end_s),
        "wait_s": pa.array(start_s - submit),
        "jct_s": pa.array(jct),
        "num_gpus": pa.array(workload.num_gpus.astype(np.int64)),
        "gpu_type": pa.array(list(gpu_type), pa.string()),
        "status": pa.array(status, pa.string()),
        "num_preemptions": pa.array(
            np.zeros(n, dtype=np.int64) if num_preemptions is None else num_preemptions.astype(np.int64)
        ),
        "slowdown": pa.array(jct / workload.duration_s),
    }
    return pa.Table.from_pydict(cols, schema=JOBS_SCHEMA)


def jain_index(values: npt.ArrayLike) -> float:
    """Jain's fairness index (sum x)^2 / (n sum x^2): 1 when all equal, 1/n when one takes all."""
    x = np.asarray(values, dtype=np.float64)
    if not len(x):
        return math.nan
    denom = len(x) * float(np.sum(x * x))
    return float(np.sum(x)) ** 2 / denom if denom > 0 else math.nan


def _per_key_mean(codes: npt.NDArray[np.int32], values: npt.NDArray[np.float64]) -> npt.NDArray[np.float64]:
    keep = codes >= 0
    c, v = codes[keep], values[keep]
    if not len(c):
        return np.empty(0)
    sums = np.bincount(c, weights=v)
    counts = np.bincount(c)
    present = counts > 0
    return np.asarray(sums[present] / counts[present], dtype=np.float64)


def summary_values(
    workload: Workload,
    start_s: npt.NDArray[np.float64],
    end_s: npt.NDArray[np.float64],
    busy_gpu_s: float,
    num_gpus: int,
) -> dict[str, float]:
    """The summary metrics by name, in `SUMMARY_METRICS` order plus a Jain index if known."""
    n = len(workload)
    out: dict[str, float] = {"num_jobs": float(n)}
    if n == 0:
        out.update({m: math.nan for m in SUMMARY_METRICS[1:]})
        return out
    submit = workload.submit_s
    jct = end_s - submit
    wait = start_s - submit
    slowdown = jct / workload.duration_s
    span = float(np.max(end_s) - np.min(submit))
    out["mean_jct_s"] = float(np.mean(jct))
    out["median_jct_s"] = float(np.median(jct))
    out["p95_jct_s"] = float(np.percentile(jct, 95))
    out["p99_jct_s"] = float(np.percentile(jct, 99))
    out["mean_wait_s"] = float(np.mean(wait))
    out["p95_wait_s"] = float(np.percentile(wait, 95))
    out["mean_slowdown"] = float(np.mean(slowdown))
    out["makespan_s"] = span
    out["gpu_utilisation"] = busy_gpu_s / (num_gpus * span) if span > 0 else math.nan
    out["throughput_jobs_per_h"] = n / (span / 3600.0) if span > 0 else math.nan
    for codes, name in ((workload.user.codes, JAIN_BY_USER), (workload.group.codes, JAIN_BY_GROUP)):
        means = _per_key_mean(codes, slowdown)
        if len(means):
            out[name] = jain_index(means)
            break
    return out


def summary_table(labels: RunLabels, values: dict[str, float]) -> pa.Table:
    """Long form of `summary_values`."""
    n = len(values)
    return pa.Table.from_pydict(
        {
            **_labels(labels, n, ("run_id", "policy", "placement", "seed")),
            "metric": pa.array(list(values), pa.string()),
            "value": pa.array(list(values.values()), pa.float64()),
        },
        schema=SUMMARY_SCHEMA,
    )


def state_samples(
    submit_s: npt.NDArray[np.float64],
    start_s: npt.NDArray[np.float64],
    end_s: npt.NDArray[np.float64],
    num_gpus: npt.NDArray[np.int32],
) -> tuple[npt.NDArray[np.float64], npt.NDArray[np.int64], npt.NDArray[np.int64]]:
    """Queue length and busy GPUs just after each event instant (submit, start or end).

    Derived from the job times rather than recorded in the engine's inner loop: at time t
    the queue holds jobs with submit <= t < start, and the busy GPUs are those of jobs
    with start <= t < end.
    """
    t = np.unique(np.concatenate([submit_s, start_s, end_s]))
    g = num_gpus.astype(np.int64)
    by_start = np.argsort(start_s, kind="stable")
    by_end = np.argsort(end_s, kind="stable")
    started = np.searchsorted(start_s[by_start], t, side="right")
    submitted = np.searchsorted(np.sort(submit_s), t, side="right")
    ended = np.searchsorted(end_s[by_end], t, side="right")
    gpus_started = np.concatenate([[0], np.cumsum(g[by_start])])[started]
    gpus_ended = np.concatenate([[0], np.cumsum(g[by_end])])[ended]
    return t, (submitted - started).astype(np.int64), (gpus_started - gpus_ended).astype(np.int64)


def resample_steps(
    t_s: npt.NDArray[np.float64], values: Sequence[npt.NDArray[np.int64]], max_points: int
) -> tuple[npt.NDArray[np.float64], list[npt.NDArray[np.int64]]]:
    """Step functions sampled at `t_s` (ascending), resampled on <= max_points uniform times."""
    if len(t_s) <= max_points:
        return t_s, list(values)
    grid = np.linspace(float(t_s[0]), float(t_s[-1]), max_points)
    idx = np.searchsorted(t_s, grid, side="right") - 1
    return grid, [v[idx] for v in values]


def timeline_table(
    run_id: str,
    workload: Workload,
    start_s: npt.NDArray[np.float64],
    end_s: npt.NDArray[np.float64],
    max_points: int = MAX_TIMELINE_POINTS,
) -> pa.Table:
    """Queue length and busy GPUs over time, long form, time-major."""
    t_s, queue_length, busy_gpus = state_samples(workload.submit_s, start_s, end_s, workload.num_gpus)
    t, (q, b) = resample_steps(t_s, (queue_length, busy_gpus), max_points)
    m = len(TIMELINE_METRICS)
    return pa.Table.from_pydict(
        {
            "run_id": pa.repeat(pa.scalar(run_id, pa.string()), m * len(t)),
            "t_s": pa.array(np.repeat(t, m)),
            "metric": pa.array(list(TIMELINE_METRICS) * len(t), pa.string()),
            "value": pa.array(np.column_stack([q, b]).astype(np.float64).ravel()),
        },
        schema=TIMELINE_SCHEMA,
    )
