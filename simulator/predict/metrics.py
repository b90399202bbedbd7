"""How good a duration prediction is, and the chronological split it is judged on.

Three numbers, because job durations span seconds to weeks: the MAE in seconds (what a
reservation is off by, dominated by the long jobs), the median of |ln(pred / actual)|
(the typical factor off, 0.69 = 2x, insensitive to the tail) and the fraction of jobs
predicted within a factor of 2 (what a shortest-first order needs to be mostly right).

The split is by submission: the first `1 - test_fraction` of the jobs (sorted by submit
time, as a `Workload` is) train, the rest test. Never shuffled: a model must be judged on
jobs submitted after everything it learned from.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import numpy as np
import numpy.typing as npt

from traces.errors import UserError

LN2 = math.log(2.0)


@dataclass(frozen=True, slots=True)
class Metrics:
    """Prediction quality on `rows` jobs (see the module docstring)."""

    rows: int
    mae_s: float
    median_abs_log_ratio: float
    within_2x: float  # fraction in [0, 1]

    def to_dict(self) -> dict[str, Any]:
        return {"rows": self.rows, "mae_s": self.mae_s, "median_abs_log_ratio": self.median_abs_log_ratio,
                "within_2x": self.within_2x}

    @staticmethod
    def from_dict(doc: dict[str, Any]) -> Metrics:
        return Metrics(int(doc["rows"]), float(doc["mae_s"]), float(doc["median_abs_log_ratio"]),
                       float(doc["within_2x"]))


def score(predicted_s: npt.ArrayLike, actual_s: npt.ArrayLike) -> Metrics:
    """The three metrics of positive predictions against positive actual durations."""
    pred = np.asarray(predicted_s, dtype=np.float64)
    actual = np.asarray(actual_s, dtype=np.float64)
    if pred.shape != actual.shape:
        raise ValueError(f"{pred.shape} predictions for {actual.shape} durations")
    if len(pred) == 0:
        return Metrics(0, math.nan, math.nan, math.nan)
    log_ratio = np.abs(np.log(pred / actual))
    return Metrics(
        rows=len(pred),
        mae_s=float(np.mean(np.abs(pred - actual))),
        median_abs_log_ratio=float(np.median(log_ratio)),
        within_2x=float(np.mean(log_ratio <= LN2 + 1e-12)),
    )


def check_test_fraction(test_fraction: float) -> float:
    """`test_fraction` as a float in [0, 1); `UserError` otherwise."""
    value = float(test_fraction)
    if not (math.isfinite(value) and 0.0 <= value < 1.0):
        raise UserError(f"--test-fraction must be a number >= 0 and < 1, got {test_fraction!r}")
    return value


def split_index(num_rows: int, test_fraction: float) -> int:
    """How many of `num_rows` (in submission order) train: the last `ceil(test_fraction * num_rows)` test."""
    test = math.ceil(check_test_fraction(test_fraction) * num_rows - 1e-9)
    return num_rows - min(test, num_rows)


__all__ = ["LN2", "Metrics", "check_test_fraction", "score", "split_index"]
