"""The numbers behind the report's plots, kept apart from drawing so they can be checked directly.

Everything here is bounded in size whatever the run: a CDF is drawn from at most `MAX_CDF_POINTS`
points (the empirical CDF sampled at evenly spaced ranks, so a 100k-job run plots as fast as a
1k-job one, and the first and last values are always kept), pooled CDFs over many runs use a fixed
number of quantiles per run weighted by its job count, and timelines are resampled to at most
`MAX_TIMELINE_POINTS` steps.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from simulator.metrics import resample_steps, state_samples

FloatArray = npt.NDArray[np.float64]
IntArray = npt.NDArray[np.int64]
BoolArray = npt.NDArray[np.bool_]

MAX_CDF_POINTS = 2000
SKETCH_QUANTILES = 1000
MAX_TIMELINE_POINTS = 2000
# Job sizes in GPUs: (first, last) per bucket, powers of two as clusters are built.
SIZE_BUCKETS: tuple[tuple[int, float], ...] = ((1, 1), (2, 2), (3, 4), (5, 8), (9, 16), (17, 32), (33, 64),
                                               (65, math.inf))


@dataclass(frozen=True, slots=True)
class Cdf:
    """Points of an empirical CDF: P(value <= x[i]) = p[i]; `n` is the number of values behind it."""

    x: FloatArray
    p: FloatArray
    n: int


def ecdf(values: FloatArray, weights: FloatArray | None = None, *, max_points: int = MAX_CDF_POINTS) -> Cdf:
    """The empirical CDF of the finite values (weighted: each value counts its weight), at most
    `max_points` points, sampled at evenly spaced ranks with the first and last kept."""
    values = np.asarray(values, dtype=np.float64)
    w = np.ones(len(values)) if weights is None else np.asarray(weights, dtype=np.float64)
    keep = np.isfinite(values) & np.isfinite(w) & (w > 0)
    values, w = values[keep], w[keep]
    n = len(values) if weights is None else int(round(float(w.sum())))
    if len(values) == 0:
        return Cdf(np.empty(0), np.empty(0), 0)
    order = np.argsort(values, kind="stable")
    x = values[order]
    p = np.cumsum(w[order])
    p /= p[-1]
    if len(x) > max_points:
        idx = np.unique(np.linspace(0, len(x) - 1, max_points).round().astype(np.int64))
        x, p = x[idx], p[idx]
    return Cdf(x, p, n)


def quantile_sketch(values: FloatArray, k: int = SKETCH_QUANTILES) -> tuple[FloatArray, FloatArray]:
    """`k` quantiles of the finite values (or all of them when fewer) and the weight each stands for,
    so runs of different sizes pool into one CDF with each job counted once."""
    finite = np.sort(values[np.isfinite(values)])
    if len(finite) <= k:
        return finite, np.ones(len(finite))
    probs = (np.arange(k) + 0.5) / k
    return np.quantile(finite, probs), np.full(k, len(finite) / k)


@dataclass(frozen=True, slots=True)
class SizeStats:
    """Waits of the jobs of one size bucket (seconds)."""

    bucket: str
    n: int
    mean_s: float
    median_s: float
    p95_s: float


def bucket_label(first: int, last: float) -> str:
    if math.isinf(last):
        return f"{first}+"
    return str(first) if first == last else f"{first}-{int(last)}"


def wait_by_size(num_gpus: FloatArray, wait_s: FloatArray) -> list[SizeStats]:
    """Per GPU-count bucket with jobs: how many, mean, median and p95 wait (finite waits only)."""
    out: list[SizeStats] = []
    ok = np.isfinite(num_gpus) & np.isfinite(wait_s)
    g, w = num_gpus[ok], wait_s[ok]
    for first, last in SIZE_BUCKETS:
        sel = w[(g >= first) & (g <= last)]
        if len(sel) == 0:
            continue
        median, p95 = (float(v) for v in np.percentile(sel, [50, 95]))
        out.append(SizeStats(bucket_label(first, last), len(sel), float(np.mean(sel)), median, p95))
    return out


def pareto_front(x: FloatArray, y: FloatArray) -> BoolArray:
    """Points no other point beats on both (lower x and lower y, one strictly); NaN is never on it."""
    x = np.asarray(x, dtype=np.float64)
    y = np.asarray(y, dtype=np.float64)
    front = np.zeros(len(x), dtype=bool)
    ok = np.flatnonzero(np.isfinite(x) & np.isfinite(y))
    best_x, best_y = math.nan, math.inf
    for i in ok[np.lexsort((y[ok], x[ok]))]:
        if y[i] < best_y:
            front[i] = True
            best_x, best_y = float(x[i]), float(y[i])
        elif y[i] == best_y and x[i] == best_x:
            front[i] = True  # the same point twice: neither beats the other
    return front


@dataclass(frozen=True, slots=True)
class Timeline:
    """Step functions over time: each series holds its value just after t_s[i]."""

    t_s: FloatArray
    series: dict[str, FloatArray]
    total_gpus: int | None  # the cluster's GPUs, when the folder says; utilisation = busy_gpus / this


def timeline_from_segments(
    seg_start_s: FloatArray,
    seg_end_s: FloatArray,
    seg_gpus: IntArray,
    *,
    submit_s: FloatArray | None = None,
    job_end_s: FloatArray | None = None,
    total_gpus: int | None = None,
    max_points: int = MAX_TIMELINE_POINTS,
) -> Timeline:
    """Busy GPUs and running jobs from segments (queued jobs too when submit and end times are known),
    resampled to at most `max_points` steps; segments or jobs with unknown times are left out."""
    seg_ok = np.isfinite(seg_start_s) & np.isfinite(seg_end_s)
    with_queue = submit_s is not None and job_end_s is not None
    if submit_s is not None and job_end_s is not None:
        job_ok = np.isfinite(submit_s) & np.isfinite(job_end_s)
        submit, end = submit_s[job_ok], job_end_s[job_ok]
    else:
        submit = end = np.empty(0)
    t, samples = state_samples(submit, end, seg_start_s[seg_ok], seg_end_s[seg_ok], seg_gpus[seg_ok])
    names = ["busy_gpus", "running_jobs"] + (["queued_jobs"] if with_queue else [])
    if len(t) == 0:
        return Timeline(np.empty(0), {n: np.empty(0) for n in names}, total_gpus)
    grid, values = resample_steps(t, [samples[n] for n in names], max_points)
    return Timeline(grid, {n: v.astype(np.float64) for n, v in zip(names, values, strict=True)}, total_gpus)


def timeline_from_long(t_s: FloatArray, metric: Sequence[str], value: FloatArray, total_gpus: int | None, *,
                       max_points: int = MAX_TIMELINE_POINTS) -> Timeline:
    """A timeline table in long form (t_s, metric, value; a simulate run's) as one series per metric on
    the union of the sample times, each series holding its last value (NaN before its first sample)."""
    ok = np.isfinite(t_s)
    t_s, value = t_s[ok], value[ok]
    metric_arr = np.asarray(metric, dtype=object)[ok]
    t_out = np.unique(t_s)
    if len(t_out) > max_points:
        t_out = np.linspace(float(t_out[0]), float(t_out[-1]), max_points)
    series: dict[str, FloatArray] = {}
    for name in dict.fromkeys(metric_arr.tolist()):
        sel = metric_arr == name
        t, v = t_s[sel], value[sel]
        order = np.argsort(t, kind="stable")
        t, v = t[order], v[order]
        idx = np.searchsorted(t, t_out, side="right") - 1
        series[str(name)] = np.where(idx >= 0, v[np.maximum(idx, 0)], np.nan)
    return Timeline(t_out, series, total_gpus)


__all__ = [
    "MAX_CDF_POINTS",
    "MAX_TIMELINE_POINTS",
    "SIZE_BUCKETS",
    "Cdf",
    "SizeStats",
    "Timeline",
    "bucket_label",
    "ecdf",
    "pareto_front",
    "quantile_sketch",
    "timeline_from_long",
    "timeline_from_segments",
    "wait_by_size",
]
