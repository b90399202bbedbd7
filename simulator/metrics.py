"""Result tables of a run, as tidy Arrow tables whose schemas are declared here, once.

* `jobs`: one row per job (`JOBS_SCHEMA`); `start_s` is the first start, `gpu_type` the
  type(s) it ran on ("A100+V100" over several types), `gpu_ids` the GPUs of its first
  segment joined by ";", `status` completed / failed / killed (as the trace recorded) or
  rejected (by admission control; no times then).
* `segments`: one row per run segment (`SEGMENTS_SCHEMA`), with the work it kept
  (`work_s`, reference-GPU seconds) and why it ended (`SEGMENT_REASONS`).
* `summary`: long form, one row per metric (`SUMMARY_SCHEMA`), so runs of several
  policies concatenate into one table.
* `timeline`: long form `(run_id, t_s, metric, value)` of `TIMELINE_METRICS` just after
  each event instant (submit, segment start or end, job end, node down or up),
  resampled onto a uniform time grid when longer than `MAX_TIMELINE_POINTS` per metric
  (the step function's value at each grid time, so peaks between grid times can be missed).

Definitions, over the jobs that ran (rejected ones are only counted): wait = time not
running between submit and end (queued, deferred, requeued); JCT = end - submit;
slowdown = JCT / duration_s; bounded slowdown = max(1, JCT / max(duration_s,
BOUNDED_SLOWDOWN_S)) with a 10 s threshold (Feitelson), so very short jobs do not
dominate; makespan = last end - first submit; GPU utilisation = busy GPU-seconds /
(cluster GPUs x makespan), failed nodes counted as capacity; throughput = jobs /
makespan in hours. Fairness: `jain_slowdown_by_user` is Jain's index (`jain_index`) of
the users' mean slowdowns (each user with a job that ran counts once; jobs without a
user are left out), 1.0 with a single user and NaN when no job has a user;
`jain_slowdown_by_group` is the same over groups.

Energy and cost (`gpu_power_states`, `energy_cost_values`, `ENERGY_METRICS`) cover the run
window, first submit to last end (the makespan), for every GPU of the cluster: a GPU draws
its type's busy power while any job runs on it (the union of its segments, so a GPU shared
by jobs at once is busy once), nothing while its node is down, and its idle power for the
rest of the window - except that with an idle power-off timeout T, each idle gap (a
stretch of the window with the GPU neither busy nor down; the leading and trailing ones
too) longer than T is idle for only T and then switched off: it draws nothing and is not
billed until its next job (switching back on is taken as instant and free).
`gpu_on_hours` = GPU-hours of the window not switched off (a down node's hours included:
capacity paid for either way). On the cloud price: `cost_busy_usd` prices the busy
GPU-hours, `cost_provisioned_usd` the powered-on GPU-hours. `cost_usd` is the run's cost
on the chosen basis: "cloud" = `cost_provisioned_usd`; "purchase" = every GPU's purchase
price amortised linearly over `amortise_years` (of 365 x 24 h) for the whole window, plus
the electricity of `energy_kwh`. Power and prices come from a `GpuCatalog`; with any GPU
type missing from it, the energy and cost metrics are NaN, and so are those whose price
(cloud or purchase) some type lacks; each case comes with a note.
Counts (`COUNT_METRICS`) are whole numbers held as floats in the long-form table.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt
import pyarrow as pa

from simulator.gpu_catalog import GpuCatalog
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
        ("num_failures", pa.int64()),
        ("gpu_ids", pa.string()),
        ("slowdown", pa.float64()),
    ]
)
SEGMENTS_SCHEMA = pa.schema(
    [
        ("run_id", pa.string()),
        ("job_id", pa.string()),
        ("segment", pa.int64()),
        ("start_s", pa.float64()),
        ("end_s", pa.float64()),
        ("work_s", pa.float64()),
        ("gpu_ids", pa.string()),
        ("reason", pa.string()),
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
    "num_completed",
    "num_failed",
    "num_killed",
    "num_rejected",
    "mean_jct_s",
    "median_jct_s",
    "p95_jct_s",
    "p99_jct_s",
    "mean_wait_s",
    "median_wait_s",
    "p95_wait_s",
    "p99_wait_s",
    "mean_slowdown",
    "mean_bounded_slowdown",
    "p95_bounded_slowdown",
    "makespan_s",
    "gpu_utilisation",
    "throughput_jobs_per_h",
    "num_preemptions",
    "num_failure_restarts",
    "num_node_failures",
)
JAIN_BY_USER = "jain_slowdown_by_user"
JAIN_BY_GROUP = "jain_slowdown_by_group"
ENERGY_METRICS: tuple[str, ...] = (
    "energy_kwh",
    "energy_busy_kwh",
    "energy_idle_kwh",
    "cost_busy_usd",
    "cost_provisioned_usd",
    "cost_usd",
)
GPU_ON_HOURS = "gpu_on_hours"
CLOUD_COSTS: tuple[str, ...] = ("cost_busy_usd", "cost_provisioned_usd")
COST_BASES: tuple[str, ...] = ("cloud", "purchase")
HOURS_PER_YEAR = 365 * 24
COUNT_METRICS: tuple[str, ...] = (
    "num_jobs",
    "num_completed",
    "num_failed",
    "num_killed",
    "num_rejected",
    "num_preemptions",
    "num_failure_restarts",
    "num_node_failures",
)
BOUNDED_SLOWDOWN_S = 10.0
STATUSES: tuple[str, ...] = ("completed", "failed", "killed", "rejected")
SEGMENT_REASONS: tuple[str, ...] = ("finished", "preempted", "failed")
TIMELINE_METRICS: tuple[str, ...] = ("busy_gpus", "queued_jobs", "running_jobs")
DOWN_GPUS = "down_gpus"  # added to the timeline when nodes can fail
MAX_TIMELINE_POINTS = 2000


@dataclass(frozen=True, slots=True)
class RunLabels:
    """The columns that identify a run in every table."""

    run_id: str
    policy: str
    placement: str
    seed: int


@dataclass(frozen=True, slots=True)
class Segments:
    """A run's segments as columns, sorted by job row then start; `gpu_ids` joined by ";"."""

    row: npt.NDArray[np.int64]
    start_s: npt.NDArray[np.float64]
    end_s: npt.NDArray[np.float64]
    work_s: npt.NDArray[np.float64]
    reason: npt.NDArray[np.int8]  # index into SEGMENT_REASONS
    gpu_ids: Sequence[str]


def _labels(labels: RunLabels, n: int, names: Sequence[str]) -> dict[str, pa.Array]:
    values = {"run_id": labels.run_id, "policy": labels.policy, "placement": labels.placement, "seed": labels.seed}
    return {k: pa.repeat(pa.scalar(values[k], type=JOBS_SCHEMA.field(k).type), n) for k in names}


def job_statuses(workload: Workload, rejected: npt.NDArray[np.bool_] | None = None) -> list[str]:
    """Per row: "rejected", else the trace's failed/killed, else "completed"."""
    n = len(workload)
    statuses = workload.status
    status_names = [
        JobStatus.completed.value if c in (None, JobStatus.unknown.value) else c for c in statuses.categories
    ]
    codes = statuses.codes
    out = np.full(n, JobStatus.completed.value, dtype=object)
    if status_names:
        out = np.where(codes < 0, JobStatus.completed.value, np.array(status_names, dtype=object)[codes])
    if rejected is not None:
        out = np.where(rejected, "rejected", out)
    result: list[str] = out.tolist()
    return result


def jobs_table(
    labels: RunLabels,
    workload: Workload,
    start_s: npt.NDArray[np.float64],
    end_s: npt.NDArray[np.float64],
    gpu_type: Sequence[str | None],
    *,
    wait_s: npt.NDArray[np.float64] | None = None,
    rejected: npt.NDArray[np.bool_] | None = None,
    num_preemptions: npt.NDArray[np.int64] | None = None,
    num_failures: npt.NDArray[np.int64] | None = None,
    gpu_ids: Sequence[str | None] | None = None,
) -> pa.Table:
    """One row per job in workload order (`wait_s` defaults to start - submit)."""
    n = len(workload)
    submit = workload.submit_s
    jct = end_s - submit
    zeros = np.zeros(n, dtype=np.int64)
    cols = {
        **_labels(labels, n, ("run_id", "policy", "placement", "seed")),
        "job_id": pa.array(workload.job_id.tolist(), pa.string()),
        "submit_s": pa.array(submit),
        "start_s": pa.array(start_s),
        "end_s": pa.array(end_s),
        "wait_s": pa.array(start_s - submit if wait_s is None else wait_s),
        "jct_s": pa.array(jct),
        "num_gpus": pa.array(workload.num_gpus.astype(np.int64)),
        "gpu_type": pa.array(list(gpu_type), pa.string()),
        "status": pa.array(job_statuses(workload, rejected), pa.string()),
        "num_preemptions": pa.array(zeros if num_preemptions is None else num_preemptions.astype(np.int64)),
        "num_failures": pa.array(zeros if num_failures is None else num_failures.astype(np.int64)),
        "gpu_ids": pa.array([None] * n if gpu_ids is None else list(gpu_ids), pa.string()),
        "slowdown": pa.array(jct / workload.duration_s),
    }
    return pa.Table.from_pydict(cols, schema=JOBS_SCHEMA)


def segments_table(run_id: str, workload: Workload, segments: Segments) -> pa.Table:
    """One row per segment, numbered from 0 within each job."""
    rows = segments.row
    m = len(rows)
    first = np.zeros(m, dtype=np.int64)
    if m:
        starts_job = np.concatenate([[True], rows[1:] != rows[:-1]])
        first = np.maximum.accumulate(np.where(starts_job, np.arange(m), 0))
    ids = workload.job_id[rows].tolist() if m else []
    return pa.Table.from_pydict(
        {
            "run_id": pa.repeat(pa.scalar(run_id, pa.string()), m),
            "job_id": pa.array([str(j) for j in ids], pa.string()),
            "segment": pa.array(np.arange(m, dtype=np.int64) - first),
            "start_s": pa.array(segments.start_s),
            "end_s": pa.array(segments.end_s),
            "work_s": pa.array(segments.work_s),
            "gpu_ids": pa.array(list(segments.gpu_ids), pa.string()),
            "reason": pa.array(np.array(SEGMENT_REASONS, dtype=object)[segments.reason].tolist(), pa.string()),
        },
        schema=SEGMENTS_SCHEMA,
    )


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
    *,
    wait_s: npt.NDArray[np.float64] | None = None,
    rejected: npt.NDArray[np.bool_] | None = None,
    num_preemptions: int = 0,
    num_failure_restarts: int = 0,
    num_node_failures: int = 0,
) -> dict[str, float]:
    """The summary metrics by name: `SUMMARY_METRICS` in order, then the two Jain indices."""
    n = len(workload)
    statuses = job_statuses(workload, rejected)
    out: dict[str, float] = {"num_jobs": float(n)}
    for status in STATUSES:
        out[f"num_{status}"] = float(statuses.count(status))
    ran = np.ones(n, dtype=bool) if rejected is None else ~rejected
    if not ran.any():
        out.update({m: math.nan for m in SUMMARY_METRICS if m not in out})
        out.update(num_preemptions=float(num_preemptions), num_failure_restarts=float(num_failure_restarts),
                   num_node_failures=float(num_node_failures), **{JAIN_BY_USER: math.nan, JAIN_BY_GROUP: math.nan})
        return out
    submit = workload.submit_s[ran]
    duration = workload.duration_s[ran]
    jct = end_s[ran] - submit
    wait = (start_s - workload.submit_s if wait_s is None else wait_s)[ran]
    slowdown = jct / duration
    bounded = np.maximum(1.0, jct / np.maximum(duration, BOUNDED_SLOWDOWN_S))
    span = float(np.max(end_s[ran]) - np.min(submit))
    out["mean_jct_s"] = float(np.mean(jct))
    out["median_jct_s"] = float(np.median(jct))
    out["p95_jct_s"] = float(np.percentile(jct, 95))
    out["p99_jct_s"] = float(np.percentile(jct, 99))
    out["mean_wait_s"] = float(np.mean(wait))
    out["median_wait_s"] = float(np.median(wait))
    out["p95_wait_s"] = float(np.percentile(wait, 95))
    out["p99_wait_s"] = float(np.percentile(wait, 99))
    out["mean_slowdown"] = float(np.mean(slowdown))
    out["mean_bounded_slowdown"] = float(np.mean(bounded))
    out["p95_bounded_slowdown"] = float(np.percentile(bounded, 95))
    out["makespan_s"] = span
    out["gpu_utilisation"] = busy_gpu_s / (num_gpus * span) if span > 0 else math.nan
    out["throughput_jobs_per_h"] = int(ran.sum()) / (span / 3600.0) if span > 0 else math.nan
    out["num_preemptions"] = float(num_preemptions)
    out["num_failure_restarts"] = float(num_failure_restarts)
    out["num_node_failures"] = float(num_node_failures)
    for codes, name in ((workload.user.codes, JAIN_BY_USER), (workload.group.codes, JAIN_BY_GROUP)):
        out[name] = jain_index(_per_key_mean(codes[ran], slowdown))
    return out


def gpu_busy_s(
    num_gpus: int,
    seg_start_s: npt.NDArray[np.float64],
    seg_end_s: npt.NDArray[np.float64],
    seg_gpus: Sequence[Sequence[int]],
) -> npt.NDArray[np.float64]:
    """Per GPU (global index), the length of the union of the segments that ran on it.

    A sweep over +1 (start) / -1 (end) events sorted by (GPU, time): each GPU's events
    sum to zero, so one running sum over all of them counts the jobs on each GPU, and
    the time between consecutive events of a GPU counts as busy when that count is > 0.
    """
    counts = np.fromiter((len(g) for g in seg_gpus), dtype=np.int64, count=len(seg_gpus))
    gpu = np.fromiter((x for g in seg_gpus for x in g), dtype=np.int64, count=int(counts.sum()))
    if not len(gpu):
        return np.zeros(num_gpus)
    g = np.concatenate([gpu, gpu])
    t = np.concatenate([np.repeat(seg_start_s, counts), np.repeat(seg_end_s, counts)])
    delta = np.concatenate([np.ones(len(gpu), np.int64), -np.ones(len(gpu), np.int64)])
    order = np.lexsort((-delta, t, g))  # starts before ends at equal times: the count never dips below 0
    g, t, running = g[order], t[order], np.cumsum(delta[order])
    busy = (running[:-1] > 0) & (g[1:] == g[:-1])
    return np.bincount(g[:-1][busy], weights=(t[1:] - t[:-1])[busy], minlength=num_gpus).astype(np.float64)


def gpu_down_s(
    node_num_gpus: Sequence[int], downtime: Sequence[tuple[int, float, float]], t0_s: float, t1_s: float
) -> npt.NDArray[np.float64]:
    """Per GPU (node order), the time within [t0_s, t1_s] its node was down; `downtime`
    holds (node index, down at, back at)."""
    per_node = np.zeros(len(node_num_gpus))
    for node, down_s, up_s in downtime:
        per_node[node] += max(0.0, min(up_s, t1_s) - max(down_s, t0_s))
    return np.repeat(per_node, np.asarray(node_num_gpus, dtype=np.int64))


@dataclass(frozen=True, slots=True)
class GpuPowerStates:
    """Per GPU (global index), seconds of the run window spent busy, idle and powered on,
    idle and switched off, and down (its node failed); they add up to `window_s`."""

    window_s: float
    busy_s: npt.NDArray[np.float64]
    idle_s: npt.NDArray[np.float64]
    off_s: npt.NDArray[np.float64]
    down_s: npt.NDArray[np.float64]

    @property
    def on_s(self) -> npt.NDArray[np.float64]:
        """Seconds not switched off (busy, idle or down): what the cloud basis bills."""
        return self.window_s - self.off_s


def idle_gaps(
    gpu: npt.NDArray[np.int64],
    start_s: npt.NDArray[np.float64],
    end_s: npt.NDArray[np.float64],
    num_gpus: int,
    t0_s: float,
    t1_s: float,
) -> tuple[npt.NDArray[np.int64], npt.NDArray[np.float64]]:
    """The gaps of [t0_s, t1_s] that no interval (gpu, start, end) covers, per GPU: (gpu, length).

    Intervals are clipped to the window and merged per GPU; a GPU with none has one gap,
    the whole window. The running end of each GPU's merged block is a cumulative max over
    integer keys (GPU x (number of distinct ends + 1) + rank of the end), so no float
    offset blurs the times.
    """
    s = np.clip(start_s, t0_s, t1_s)
    e = np.clip(end_s, t0_s, t1_s)
    keep = e > s
    g, s, e = gpu[keep].astype(np.int64), s[keep], e[keep]
    order = np.lexsort((s, g))
    g, s, e = g[order], s[order], e[order]
    ends = np.unique(e)
    stride = len(ends) + 1
    running = np.maximum.accumulate(g * stride + np.searchsorted(ends, e)) if len(g) else np.empty(0, np.int64)
    reach = ends[running - g * stride] if len(g) else np.empty(0)  # the GPU's busy-until after each interval
    first = np.ones(len(g), dtype=bool)
    first[1:] = g[1:] != g[:-1]
    last = np.ones(len(g), dtype=bool)
    last[:-1] = g[1:] != g[:-1]
    before = np.where(first, t0_s, np.concatenate([[t0_s], reach[:-1]]))  # busy-until before each interval
    inner = s - before
    touched = np.zeros(num_gpus, dtype=bool)
    touched[g] = True
    untouched = np.flatnonzero(~touched)
    gap_gpu = np.concatenate([g[inner > 0], g[last], untouched]).astype(np.int64)
    gap_s = np.concatenate([inner[inner > 0], t1_s - reach[last], np.full(len(untouched), t1_s - t0_s)])
    positive = gap_s > 0
    return gap_gpu[positive], gap_s[positive]


def gpu_power_states(
    node_num_gpus: Sequence[int],
    seg_start_s: npt.NDArray[np.float64],
    seg_end_s: npt.NDArray[np.float64],
    seg_gpus: Sequence[Sequence[int]],
    downtime: Sequence[tuple[int, float, float]],
    t0_s: float,
    t1_s: float,
    idle_power_off_s: float | None = None,
) -> GpuPowerStates:
    """Per GPU, busy / idle / switched-off / down seconds over the window [t0_s, t1_s] (NaN
    window: all NaN). `downtime` holds (node index, down at, back at); each idle gap longer
    than `idle_power_off_s` (None: never) counts that long as idle, the rest as off."""
    num_gpus = int(sum(node_num_gpus))
    if not (math.isfinite(t0_s) and math.isfinite(t1_s)):
        nan = np.full(num_gpus, math.nan)
        return GpuPowerStates(math.nan, nan, nan, nan, nan)
    busy = gpu_busy_s(num_gpus, seg_start_s, seg_end_s, seg_gpus)
    down = gpu_down_s(node_num_gpus, downtime, t0_s, t1_s)
    counts = np.fromiter((len(x) for x in seg_gpus), dtype=np.int64, count=len(seg_gpus))
    seg_gpu = np.fromiter((x for gs in seg_gpus for x in gs), dtype=np.int64, count=int(counts.sum()))
    first_gpu = np.concatenate([[0], np.cumsum(np.asarray(node_num_gpus, dtype=np.int64))])
    down_node = np.asarray([d[0] for d in downtime], dtype=np.int64)
    per_node = np.asarray(node_num_gpus, dtype=np.int64)[down_node]
    down_gpu = (np.repeat(first_gpu[down_node], per_node)
                + np.arange(int(per_node.sum())) - np.repeat(np.cumsum(per_node) - per_node, per_node))
    gap_gpu, gap_s = idle_gaps(
        np.concatenate([seg_gpu, down_gpu]),
        np.concatenate([np.repeat(seg_start_s, counts), np.repeat([d[1] for d in downtime], per_node)]),
        np.concatenate([np.repeat(seg_end_s, counts), np.repeat([d[2] for d in downtime], per_node)]),
        num_gpus, t0_s, t1_s,
    )
    powered = gap_s if idle_power_off_s is None else np.minimum(gap_s, idle_power_off_s)
    idle = np.bincount(gap_gpu, weights=powered, minlength=num_gpus).astype(np.float64)
    off = np.bincount(gap_gpu, weights=gap_s - powered, minlength=num_gpus).astype(np.float64)
    return GpuPowerStates(t1_s - t0_s, busy, idle, off, down)


def energy_cost_values(
    gpu_types: Sequence[str],
    states: GpuPowerStates,
    catalog: GpuCatalog,
    *,
    cost_basis: str = "cloud",
    amortise_years: float = 3.0,
    electricity_usd_per_kwh: float = 0.15,
) -> tuple[dict[str, float], tuple[str, ...]]:
    """`ENERGY_METRICS` and `gpu_on_hours` for GPUs of these types (one entry per GPU) in
    these power states; and a note for each kind of missing catalog data (its metrics NaN)."""
    if cost_basis not in COST_BASES:
        raise ValueError(f"cost_basis must be one of {', '.join(COST_BASES)}, got {cost_basis!r}")
    types = tuple(dict.fromkeys(gpu_types))
    specs = {t: spec for t in types if (spec := catalog.get(t)) is not None}
    values = dict.fromkeys(ENERGY_METRICS, math.nan)
    values[GPU_ON_HOURS] = float(np.sum(states.on_s)) / 3600.0 if len(gpu_types) else math.nan
    unknown = tuple(t for t in types if t not in specs)
    if unknown:
        return values, (
            f"the GPU catalog has no power or price for GPU type {', '.join(unknown)}; "
            f"{', '.join(ENERGY_METRICS)} are null (give them in a GPU catalog file)",
        )
    if not math.isfinite(states.window_s) or not len(gpu_types):
        return values, ()
    busy_w = np.array([specs[t].busy_w for t in gpu_types])
    idle_w = np.array([specs[t].idle_w for t in gpu_types])
    busy_kwh = float(np.sum(states.busy_s * busy_w)) / 3.6e6
    idle_kwh = float(np.sum(states.idle_s * idle_w)) / 3.6e6
    values.update(energy_kwh=busy_kwh + idle_kwh, energy_busy_kwh=busy_kwh, energy_idle_kwh=idle_kwh)
    notes: list[str] = []
    no_price = [t for t in types if specs[t].price_per_gpu_h is None]
    if no_price:
        cloud = cost_basis == "cloud"
        nulls = ", ".join([*CLOUD_COSTS, *(["cost_usd"] if cloud else [])])
        notes.append(f"the GPU catalog has no cloud price (price_per_gpu_h) for GPU type {', '.join(no_price)}; "
                     f"{nulls} are null (give it in a GPU catalog file{', or use cost basis purchase' * cloud})")
    else:
        price = np.array([specs[t].price_per_gpu_h for t in gpu_types], dtype=np.float64)
        values["cost_busy_usd"] = float(np.sum(states.busy_s * price)) / 3600.0
        values["cost_provisioned_usd"] = float(np.sum(states.on_s * price)) / 3600.0
        if cost_basis == "cloud":
            values["cost_usd"] = values["cost_provisioned_usd"]
    if cost_basis == "purchase":
        no_purchase = [t for t in types if specs[t].purchase_usd is None]
        if no_purchase:
            notes.append(f"the GPU catalog has no purchase price (purchase_usd) for GPU type "
                         f"{', '.join(no_purchase)}; cost_usd is null (give it in a GPU catalog file)")
        else:
            purchase = float(sum(specs[t].purchase_usd or 0.0 for t in gpu_types))
            amortised = purchase * states.window_s / (amortise_years * HOURS_PER_YEAR * 3600.0)
            values["cost_usd"] = amortised + electricity_usd_per_kwh * values["energy_kwh"]
    return values, tuple(notes)


def summary_table(labels: RunLabels, values: Mapping[str, float]) -> pa.Table:
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


def _count_at(t: npt.NDArray[np.float64], times: npt.NDArray[np.float64],
              weights: npt.NDArray[np.int64] | None = None) -> npt.NDArray[np.int64]:
    """Sum of `weights` (1 each by default) over `times` <= each t."""
    order = np.argsort(times, kind="stable")
    idx = np.searchsorted(times[order], t, side="right")
    if weights is None:
        return idx.astype(np.int64)
    return np.concatenate([[0], np.cumsum(weights[order])]).astype(np.int64)[idx]


def state_samples(
    submit_s: npt.NDArray[np.float64],
    job_end_s: npt.NDArray[np.float64],
    seg_start_s: npt.NDArray[np.float64],
    seg_end_s: npt.NDArray[np.float64],
    seg_gpus: npt.NDArray[np.int64],
    down: Sequence[tuple[float, float, int]] = (),
    *,
    with_down: bool = False,
) -> tuple[npt.NDArray[np.float64], dict[str, npt.NDArray[np.int64]]]:
    """Busy GPUs, queued and running jobs (and down GPUs, `with_down`) just after each instant.

    Derived from the records rather than the engine's inner loop: at time t a job is in
    the system when submit <= t < end (rejected jobs are left out by the caller), running
    when one of its segments has start <= t < end, and queued when in the system but not
    running. `down` holds (down at, back at, GPUs) per node outage.
    """
    down_start = np.asarray([d[0] for d in down], dtype=np.float64)
    down_end = np.asarray([d[1] for d in down], dtype=np.float64)
    down_gpus = np.asarray([d[2] for d in down], dtype=np.int64)
    t = np.unique(np.concatenate([submit_s, job_end_s, seg_start_s, seg_end_s, down_start, down_end]))
    in_system = _count_at(t, submit_s) - _count_at(t, job_end_s)
    running = _count_at(t, seg_start_s) - _count_at(t, seg_end_s)
    g = seg_gpus.astype(np.int64)
    out = {
        "busy_gpus": _count_at(t, seg_start_s, g) - _count_at(t, seg_end_s, g),
        "queued_jobs": in_system - running,
        "running_jobs": running,
    }
    if with_down or len(down):
        out[DOWN_GPUS] = _count_at(t, down_start, down_gpus) - _count_at(t, down_end, down_gpus)
    return t, out


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
    t_s: npt.NDArray[np.float64],
    metrics: Mapping[str, npt.NDArray[np.int64]],
    max_points: int = MAX_TIMELINE_POINTS,
) -> pa.Table:
    """The sampled metrics over time, long form, time-major (metrics in the mapping's order)."""
    names = list(metrics)
    t, vals = resample_steps(t_s, [metrics[m] for m in names], max_points)
    m = len(names)
    return pa.Table.from_pydict(
        {
            "run_id": pa.repeat(pa.scalar(run_id, pa.string()), m * len(t)),
            "t_s": pa.array(np.repeat(t, m)),
            "metric": pa.array(names * len(t), pa.string()),
            "value": pa.array(np.column_stack(vals).astype(np.float64).ravel() if m else np.empty(0)),
        },
        schema=TIMELINE_SCHEMA,
    )
