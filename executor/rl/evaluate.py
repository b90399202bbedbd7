"""Held-out evaluation: the trained agent and classic policies on the same trace windows.

A window is `window_jobs` consecutive jobs of the trace from a start row, submit times
shifted to start at 0, exactly as `simulator.rl.env.SchedulingEnv` builds its episodes; each
policy replays each window on the real engine (the agent as the `rl` policy, greedy), with
the same placement, speeds and duration estimates. Metrics pool the jobs of all windows:
mean JCT, 95th-percentile wait, mean slowdown (JCT / duration); the per-window mean
slowdowns are kept too, to count the windows a policy wins.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from simulator.engine import Engine, EngineOptions
from simulator.placement import make_placement
from simulator.policies import Policy
from simulator.rng import Streams
from simulator.speed import SpeedTable
from traces.cluster import Cluster
from traces.errors import UserError
from traces.model import Workload

METRICS: tuple[str, ...] = ("mean_jct_s", "p95_wait_s", "mean_slowdown")


def window_rows(start_row: int, window_jobs: int) -> npt.NDArray[np.int64]:
    return np.arange(start_row, start_row + window_jobs, dtype=np.int64)


def window_workload(workload: Workload, start_row: int, window_jobs: int) -> Workload:
    """The window's jobs, submit times shifted so the first is at 0 (as the environment does)."""
    wl = workload.take(window_rows(start_row, window_jobs))
    return wl.shifted(-float(wl.submit_s[0]))


def split_rows(num_jobs: int, window_jobs: int, train_fraction: float) -> tuple[range, range]:
    """Start rows of training windows (inside the first `train_fraction` of the jobs) and of held-out
    windows (entirely after it); chronological, so no held-out job is seen in training."""
    if not 0 < train_fraction < 1:
        raise UserError(f"--train-fraction must be in (0, 1), got {train_fraction:g}")
    cut = int(round(num_jobs * train_fraction))
    train = range(0, cut - window_jobs + 1)
    held = range(cut, num_jobs - window_jobs + 1)
    if len(train) == 0:
        raise UserError(f"the training part ({cut} of {num_jobs} jobs) is shorter than one window of "
                        f"{window_jobs} jobs; lower --window-jobs or raise --train-fraction")
    return train, held


def spread_windows(rows: range, window_jobs: int, count: int) -> list[int]:
    """Up to `count` start rows of non-overlapping windows spread evenly over `rows`."""
    if len(rows) == 0 or count < 1:
        return []
    fit = (len(rows) - 1) // window_jobs + 1  # non-overlapping windows that fit
    k = min(count, fit)
    if k == 1:
        return [rows[0]]
    step = (len(rows) - 1) / (k - 1)
    return [rows[int(round(i * step))] for i in range(k)]


@dataclass(frozen=True, slots=True)
class PolicyScore:
    """One policy over a set of windows: pooled job metrics and each window's mean slowdown."""

    label: str
    mean_jct_s: float
    p95_wait_s: float
    mean_slowdown: float
    mean_makespan_s: float  # per window: last end - first submit, averaged over the windows
    window_slowdown: npt.NDArray[np.float64]
    num_jobs: int

    def metric(self, name: str) -> float:
        value: float = getattr(self, name)
        return value


def evaluate(
    workload: Workload,
    cluster: Cluster,
    start_rows: Sequence[int],
    window_jobs: int,
    policies: Mapping[str, Callable[[], Policy]],
    *,
    placement: str = "pack",
    speed_table: SpeedTable | None = None,
    estimates: npt.NDArray[np.float64] | None = None,
    seed: int = 0,
) -> dict[str, PolicyScore]:
    """Each policy (label -> factory of a fresh policy) on each window; label -> its score."""
    if not start_rows:
        raise UserError("no held-out windows to evaluate on (the trace is too short for the split and window)")
    scores: dict[str, PolicyScore] = {}
    for label, make in policies.items():
        jct: list[npt.NDArray[np.float64]] = []
        wait: list[npt.NDArray[np.float64]] = []
        slow: list[npt.NDArray[np.float64]] = []
        span: list[float] = []
        for start in start_rows:
            wl = window_workload(workload, int(start), window_jobs)
            est = None if estimates is None else estimates[window_rows(int(start), window_jobs)]
            streams = Streams.from_seed(seed)
            options = EngineOptions(speed=speed_table, estimate_s=est, policy_rng=streams.policy)
            out = Engine(wl, cluster, make(), make_placement(placement, streams.placement), options).run()
            j = out.end_s - wl.submit_s
            jct.append(j)
            wait.append(out.wait_s)
            slow.append(j / np.maximum(wl.duration_s, 1e-9))
            span.append(float(out.end_s.max() - wl.submit_s.min()))
        all_jct, all_slow = np.concatenate(jct), np.concatenate(slow)
        scores[label] = PolicyScore(
            label=label,
            mean_jct_s=float(all_jct.mean()),
            p95_wait_s=float(np.percentile(np.concatenate(wait), 95)),
            mean_slowdown=float(all_slow.mean()),
            mean_makespan_s=float(np.mean(span)),
            window_slowdown=np.array([s.mean() for s in slow]),
            num_jobs=int(all_jct.size),
        )
    return scores


__all__ = ["METRICS", "PolicyScore", "evaluate", "split_rows", "spread_windows", "window_rows", "window_workload"]
