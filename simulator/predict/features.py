"""Submit-time features of each job, computed causally from the workload's own history.

What a scheduler knows when job j is submitted: its user, group (VC), GPU count and GPU
fraction, the submission time, and the durations of jobs that have already *finished*.
Most traces record no start times, so a job i counts as finished at `submit_i +
duration_i`, the earliest it can have ended (it may really have waited in a queue and
ended later, so this knows a little early, never about the future): job i is in j's
history iff `submit_i + duration_i <= submit_j`. A job never sees its own duration
(durations are > 0), nor any job submitted after it.

Per job, from the same user's finished jobs: how many (`user_finished`), the median and
the geometric mean (the mean of the log) of the last `window` durations, the duration of
the one that finished last, and the time since the user's previous *submission* (a
submission is known at once: bursts of resubmissions are often quick failures). From the
same group's: count and rolling median; from everyone's: the rolling median of the last
`window` finished jobs (the cluster's recent mood). Hour of day and day of week come from
`submit_s` taken modulo 1 day and 1 week: traces start at an arbitrary epoch (often their
first job), so the phase is the trace's, not the wall clock's.

All in one vectorised pass: the completions and submissions of each key (user, group,
everyone) are merged in time order by one `lexsort` (a completion at the same instant
as a submission comes first: it has finished "by" then), so the whole computation is
O(n log n) plus O(n * window) for the rolling medians and means; a million jobs take seconds.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np
import numpy.typing as npt

from traces.model import Workload

DEFAULT_WINDOW = 20  # finished jobs per rolling median

# The features, in column order: `user` and `group` are categorical (names here; the model codes them).
CATEGORICAL_FEATURES: tuple[str, ...] = ("user", "group")
NUMERIC_FEATURES: tuple[str, ...] = (
    "num_gpus",
    "gpu_frac",
    "hour_of_day",
    "day_of_week",
    "user_finished",
    "user_median_s",
    "user_geomean_s",
    "user_last_s",
    "user_gap_s",
    "group_finished",
    "group_median_s",
    "recent_median_s",
)
FEATURES: tuple[str, ...] = CATEGORICAL_FEATURES + NUMERIC_FEATURES

_DAY_S = 86_400.0
_WEEK_S = 7 * _DAY_S
_BLOCK = 65_536  # windows per block of full-window reductions (bounds the temporary copy)


@dataclass(frozen=True, slots=True)
class History:
    """Rolling statistics of one key's finished jobs, as each job's submission sees them.

    `finished`: how many jobs of the same key had finished; `median_s`, `geomean_s`: the
    median and the geometric mean (exp of the mean of ln duration) of the last `window` of
    them; `last_s`: the duration of the one that finished last. NaN (and 0 finished) for
    jobs without a key or history.
    """

    finished: npt.NDArray[np.float64]
    median_s: npt.NDArray[np.float64]
    geomean_s: npt.NDArray[np.float64]
    last_s: npt.NDArray[np.float64]


def history(
    keys: npt.NDArray[np.int32],
    submit_s: npt.NDArray[np.float64],
    duration_s: npt.NDArray[np.float64],
    window: int = DEFAULT_WINDOW,
) -> History:
    """Per row, the finished history of rows with the same key (`keys < 0`: no key, no history)."""
    n = len(keys)
    finished = np.zeros(n, dtype=np.float64)
    median = np.full(n, np.nan)
    geomean = np.full(n, np.nan)
    last = np.full(n, np.nan)
    rows = np.flatnonzero(keys >= 0)
    if len(rows) == 0:
        return History(finished, median, geomean, last)
    m = len(rows)
    key = np.concatenate([keys[rows], keys[rows]]).astype(np.int64)
    time = np.concatenate([submit_s[rows] + duration_s[rows], submit_s[rows]])
    kind = np.concatenate([np.zeros(m, dtype=np.int8), np.ones(m, dtype=np.int8)])  # 0 = completion, 1 = submission
    row = np.concatenate([rows, rows])
    order = np.lexsort((row, kind, time, key))
    key, kind, row = key[order], kind[order], row[order]
    is_done = kind == 0
    done_before = np.cumsum(is_done) - is_done  # completions before each position, all keys
    first = np.flatnonzero(np.r_[True, key[1:] != key[:-1]])  # each key's first position
    group_of = np.cumsum(np.r_[True, key[1:] != key[:-1]]) - 1
    base = done_before[first][group_of]  # completions of earlier keys
    # The completions in merged order: grouped by key, in finishing order within a key.
    done_rows = row[is_done]
    values = duration_s[done_rows].astype(np.float64)
    logs = np.log(values)
    done_key = key[is_done]
    start = np.flatnonzero(np.r_[True, done_key[1:] != done_key[:-1]])
    start_of = start[np.cumsum(np.r_[True, done_key[1:] != done_key[:-1]]) - 1]
    length = np.minimum(np.arange(len(values)) - start_of + 1, window)  # window length ending at each completion
    med = _rolling(values, length, window, np.median)
    mlog = _rolling(logs, length, window, np.mean)
    # Each submission: the completion that finished last among its key's (if any).
    sub = ~is_done
    sub_rows = row[sub]
    count = (done_before - base)[sub]
    last_idx = done_before[sub] - 1
    has = count > 0
    finished[sub_rows] = count
    median[sub_rows[has]] = med[last_idx[has]]
    geomean[sub_rows[has]] = np.exp(mlog[last_idx[has]])
    last[sub_rows[has]] = values[last_idx[has]]
    return History(finished, median, geomean, last)


def _rolling(values: npt.NDArray[np.float64], length: npt.NDArray[np.int64], window: int,
             reduce: Callable[..., Any]) -> npt.NDArray[np.float64]:
    """`reduce(values[i - length[i] + 1 : i + 1])` for every i (lengths are at most `window`).

    Each window is reduced on its own (no running sums), so a value depends on exactly the
    entries of its window, bit for bit: later jobs cannot move it even by a rounding error.
    """
    out = np.empty(len(values))
    full = np.flatnonzero(length == window)
    if len(full):
        view = np.lib.stride_tricks.sliding_window_view(values, window)
        for lo in range(0, len(full), _BLOCK):
            chunk = full[lo:lo + _BLOCK]
            out[chunk] = reduce(view[chunk - window + 1], axis=1)
    for size in range(1, window):
        at = np.flatnonzero(length == size)
        if len(at):
            out[at] = reduce(values[at[:, None] - np.arange(size - 1, -1, -1)], axis=1)
    return out


def previous_gap_s(keys: npt.NDArray[np.int32], submit_s: npt.NDArray[np.float64]) -> npt.NDArray[np.float64]:
    """Seconds since the previous submission (row order) with the same key; NaN for the first or no key."""
    gap = np.full(len(keys), np.nan)
    rows = np.flatnonzero(keys >= 0)
    if len(rows) == 0:
        return gap
    order = rows[np.lexsort((rows, keys[rows]))]  # rows are already in submission order
    same = keys[order[1:]] == keys[order[:-1]]
    gap[order[1:][same]] = submit_s[order[1:][same]] - submit_s[order[:-1][same]]
    return gap


@dataclass(frozen=True, slots=True)
class Features:
    """The numeric features per workload row (`columns[name]`), and the user and group names.

    Categorical features stay as names here: `simulator.predict.model` maps them to the
    model's vocabulary codes (unseen names to "unknown").
    """

    columns: dict[str, npt.NDArray[np.float64]]
    user: list[str | None]
    group: list[str | None]
    window: int

    def __len__(self) -> int:
        return len(self.user)


def job_features(workload: Workload, window: int = DEFAULT_WINDOW) -> Features:
    """Every row's submit-time features (see the module docstring), from `workload`'s own history."""
    if window < 1:
        raise ValueError(f"window must be >= 1, got {window}")
    submit = workload.submit_s.astype(np.float64)
    duration = workload.duration_s.astype(np.float64)
    user_codes = workload.user.codes
    group_codes = workload.group.codes
    user = history(user_codes, submit, duration, window)
    group = history(group_codes, submit, duration, window)
    everyone = history(np.zeros(len(workload), dtype=np.int32), submit, duration, window)
    columns = {
        "num_gpus": workload.num_gpus.astype(np.float64),
        "gpu_frac": workload.gpu_frac.astype(np.float64),
        "hour_of_day": np.floor(np.mod(submit, _DAY_S) / 3600.0),
        "day_of_week": np.floor(np.mod(submit, _WEEK_S) / _DAY_S),
        "user_finished": user.finished,
        "user_median_s": user.median_s,
        "user_geomean_s": user.geomean_s,
        "user_last_s": user.last_s,
        "user_gap_s": previous_gap_s(user_codes, submit),
        "group_finished": group.finished,
        "group_median_s": group.median_s,
        "recent_median_s": everyone.median_s,
    }
    return Features(
        columns=columns,
        user=[None if v is None else str(v) for v in workload.user.values()],
        group=[None if v is None else str(v) for v in workload.group.values()],
        window=window,
    )


__all__ = [
    "CATEGORICAL_FEATURES",
    "DEFAULT_WINDOW",
    "FEATURES",
    "NUMERIC_FEATURES",
    "Features",
    "History",
    "history",
    "job_features",
    "previous_gap_s",
]
