"""Duration estimates: what a scheduler believes a job's duration is (reference-GPU seconds).

`SimConfig.estimates` (`gpusched simulate --durations`) names the source:

* `actual` (the default): the true `duration_s`, an oracle.
* `noisy:<sigma>`: the true duration times a lognormal error exp(N(0, sigma^2)), median
  unbiased, drawn from the run's "estimates" stream, one draw per workload row in row
  order, so a job's estimate depends only on the seed and its row.
* `predicted:<MODEL>`: a duration model file (`gpusched predict train`): each job's
  prediction from what was known when it was submitted, computed causally from the
  simulated workload itself (`simulator.predict`); no randomness.

Policies see the estimate as `JobState.estimate_s` and the source's kind as
`RunContext.estimate_kind`. Under any source but `actual`, sjf ranks by the estimate,
srtf by the estimated remaining work and qssf by estimated GPU-time; easy-backfill
always reserves by estimates (`uses_estimates`).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np
import numpy.typing as npt

from traces.errors import UserError
from traces.model import Workload

if TYPE_CHECKING:
    from simulator.policies.base import JobState, RunContext

ESTIMATE_KINDS: tuple[str, ...] = ("actual", "noisy", "predicted")


@dataclass(frozen=True, slots=True)
class EstimateSpec:
    """A parsed estimate source: `kind` in ESTIMATE_KINDS, `sigma` for `noisy`, `path` for `predicted`."""

    kind: str
    sigma: float = 0.0
    path: str = ""

    @staticmethod
    def parse(text: str) -> EstimateSpec:
        """`actual`, `noisy:<sigma>` (sigma >= 0) or `predicted:<model file>`; `UserError` otherwise.

        Only the syntax is checked here; the model file is read by `duration_estimates`.
        """
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
        if kind == "predicted" and arg.strip():
            return EstimateSpec("predicted", path=arg.strip())
        raise UserError(f"estimates: expected 'actual' or 'noisy:<sigma>' with sigma >= 0 or 'predicted:<model "
                        f"file>' but found {text!r}")


def duration_estimates(workload: Workload, spec: EstimateSpec, rng: np.random.Generator) -> npt.NDArray[np.float64]:
    """The estimate of each workload row's duration under `spec` (`rng`: the run's "estimates" stream)."""
    duration = workload.duration_s.astype(np.float64)
    if spec.kind == "actual":
        return duration.copy()
    if spec.kind == "predicted":
        from simulator.predict.model import load_model

        return load_model(spec.path).predict(workload)
    return duration * np.exp(rng.normal(0.0, spec.sigma, len(duration)))


def estimated_remaining_s(state: JobState) -> float:
    """Reference-GPU seconds of work a job has left by its estimate (never below zero)."""
    return max(state.estimate_s - state.work_done_s, 0.0)


def uses_estimates(ctx: RunContext) -> bool:
    """Whether a run's policies see estimates rather than the actual durations.

    True for a run whose `estimate_kind` is not "actual"; also for a context whose kind was
    left at its default but whose `estimate_s` differs from the actual durations (an engine
    driven directly with `EngineOptions(estimate_s=...)`). Equal values under "actual" rank
    the same either way; the actual durations are then used to keep results bit-identical.
    """
    if ctx.estimate_kind != "actual":
        return True
    return not np.array_equal(ctx.estimate_s, ctx.workload.duration_s)


__all__ = ["ESTIMATE_KINDS", "EstimateSpec", "duration_estimates", "estimated_remaining_s", "uses_estimates"]
