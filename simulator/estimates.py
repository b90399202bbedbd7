"""Duration estimates: what a scheduler believes a job's duration is (reference-GPU seconds).

`SimConfig.estimates` names the source: `actual` (the true `duration_s`, the default) or
`noisy:<sigma>` (the true duration times a lognormal error exp(N(0, sigma^2)), median
unbiased, drawn from the run's "estimates" stream, one draw per workload row in row
order, so a job's estimate depends only on the seed and its row). Policies see the
estimate as `JobState.estimate_s`; only `sjf-estimate`-like policies use it.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from traces.errors import UserError
from traces.model import Workload

ESTIMATE_KINDS: tuple[str, ...] = ("actual", "noisy")


@dataclass(frozen=True, slots=True)
class EstimateSpec:
    """A parsed estimate source: `kind` in ESTIMATE_KINDS, `sigma` for `noisy`."""

    kind: str
    sigma: float = 0.0

    @staticmethod
    def parse(text: str) -> EstimateSpec:
        """`actual` or `noisy:<sigma>` (sigma >= 0); `UserError` otherwise."""
        kind, _, arg = text.strip().partition(":")
        if kind == "actual" and not arg:
            return EstimateSpec("actual")
        if kind == "noisy":
            try:
                sigma = float(arg)
            except ValueError:
                sigma = math.nan
            if math.isfinite(sigma) and sigma >= 0:
                return EstimateSpec("noisy", sigma)
        raise UserError(f"estimates: expected 'actual' or 'noisy:<sigma>' with sigma >= 0 but found {text!r}")


def duration_estimates(workload: Workload, spec: EstimateSpec, rng: np.random.Generator) -> npt.NDArray[np.float64]:
    """The estimate of each workload row's duration under `spec`."""
    duration = workload.duration_s.astype(np.float64)
    if spec.kind == "actual":
        return duration.copy()
    return duration * np.exp(rng.normal(0.0, spec.sigma, len(duration)))
