"""Admission control plug-in: whether an arriving job joins the queue, is turned away, or waits outside.

At each arrival the engine builds an `AdmissionState` (the cluster as the job finds it,
before the job joins) and asks `admission.verdict(job, state)`. `Verdict.accept` queues
the job, `Verdict.reject` ends it with status rejected, `Verdict.defer` holds it outside
the queue for the engine to offer again later. Policies live in `ADMISSIONS`; build one
per run with `make_admission(key, **params)`.

Keys: `accept-all`; `load` (`factor` = 2, `action` = defer): turn jobs away while the
queued GPU demand is more than `factor` times the cluster; `wait-slo` (`slo_s`, required;
`mode` = state): reject a job whose predicted wait from an M/M/c model of the cluster
exceeds `slo_s`.
"""

from __future__ import annotations

import enum
import math
from dataclasses import dataclass
from typing import ClassVar, Protocol

from simulator.policies.base import SimJob
from simulator.theory import mmc_mean_wait_s
from traces.errors import UserError


class Verdict(enum.Enum):
    accept = "accept"
    reject = "reject"
    defer = "defer"


@dataclass(frozen=True, slots=True)
class AdmissionState:
    """The cluster as an arriving job finds it (the job itself not yet counted anywhere).

    `queued_gpu_demand` is the sum of `num_gpus` over queued jobs. `arrival_rate_per_s`
    is the engine's estimate of the job arrival rate and `mean_service_gpu_s` of the mean
    work per job in GPU-seconds (`num_gpus * duration_s` on the reference type); either
    may be NaN or 0 while nothing is known yet.
    """

    now_s: float
    total_gpus: int
    free_gpus: int
    queued_gpu_demand: int
    num_queued: int
    num_running: int
    arrival_rate_per_s: float
    mean_service_gpu_s: float


class Admission(Protocol):
    """Decides each arrival; instances are made per run and may keep state."""

    key: ClassVar[str]

    def verdict(self, job: SimJob, state: AdmissionState) -> Verdict:
        """What to do with `job`, arriving now into `state`."""
        ...


class AcceptAll:
    """Every job joins the queue (no admission control)."""

    key: ClassVar[str] = "accept-all"
    params: ClassVar[tuple[str, ...]] = ()

    def verdict(self, job: SimJob, state: AdmissionState) -> Verdict:
        return Verdict.accept


class LoadAdmission:
    """Turn a job away when the queue would then ask for more than `factor` times the cluster.

    The test is `queued_gpu_demand + job.num_gpus > factor * total_gpus`; `action` is what
    happens then: `defer` (hold it and offer it again later) or `reject`.
    """

    key: ClassVar[str] = "load"
    params: ClassVar[tuple[str, ...]] = ("factor", "action")

    def __init__(self, factor: float = 2.0, action: str = "defer") -> None:
        if not (math.isfinite(factor) and factor > 0):
            raise UserError(f"admission 'load': factor must be a number > 0, got {factor!r}")
        if action not in ("defer", "reject"):
            raise UserError(f"admission 'load': action must be defer or reject, got {action!r}")
        self.factor = float(factor)
        self.action = Verdict(action)

    def verdict(self, job: SimJob, state: AdmissionState) -> Verdict:
        if state.queued_gpu_demand + job.num_gpus > self.factor * state.total_gpus:
            return self.action
        return Verdict.accept


class WaitSloAdmission:
    """Reject a job whose predicted wait exceeds `slo_s`, the wait predicted by an M/M/c model.

    The model (the GPU-level M/M/c): the c = `total_gpus` GPUs are the servers, each job is
    one customer whose service time is its work in GPU-seconds (mean `mean_service_gpu_s`,
    so mu = 1 / mean_service_gpu_s), and jobs arrive at lam = `arrival_rate_per_s`. The
    offered load lam / mu is then the mean number of busy GPUs and rho = lam / (c mu) the
    cluster's utilisation, both exact; for single-GPU jobs the model is exactly the cluster
    under fcfs. It ignores that a gang needs all its GPUs at once, so for multi-GPU jobs it
    underestimates waits caused by fragmentation.

    Two predictions (`mode`):

    * `state` (default): the mean wait given what the job finds, which is what decides its
      wait under FCFS (later arrivals queue behind it). In M/M/c, an arrival that finds
      all servers busy and q customers waiting starts after q + 1 departures, each an
      exponential time of rate c mu, so E[W | q] = (q + 1) / (c mu) (the conditional wait
      behind the M/M/c waiting-time law; Gross, Shortle, Thompson & Harris, *Fundamentals
      of Queueing Theory*, 4th ed., section 2.3). Here that is
      `(num_queued + 1) * mean_service_gpu_s / total_gpus`, and 0 when nothing is queued
      and the job's GPUs are free. It needs no arrival rate, and it does not reject a job
      that would start at once even during an overload burst.
    * `stationary`: the long-run mean wait of M/M/c, Erlang C / (c mu - lam)
      (`simulator.theory.mmc_mean_wait_s`), infinite when rho >= 1, so an overloaded
      cluster rejects every job. It ignores the current queue (adding the current queue
      to it would count the queue twice: the Erlang C mean already averages over the
      queues arrivals find).

    With no estimate yet (`mean_service_gpu_s` not > 0, or, in `stationary` mode,
    `arrival_rate_per_s` unknown) nothing can be predicted and the job is accepted.
    A job is rejected only when the prediction is strictly above `slo_s`.
    """

    key: ClassVar[str] = "wait-slo"
    params: ClassVar[tuple[str, ...]] = ("slo_s", "mode")

    def __init__(self, slo_s: float, mode: str = "state") -> None:
        if not (math.isfinite(slo_s) and slo_s >= 0):
            raise UserError(f"admission 'wait-slo': slo_s must be a number >= 0, got {slo_s!r}")
        if mode not in ("state", "stationary"):
            raise UserError(f"admission 'wait-slo': mode must be state or stationary, got {mode!r}")
        self.slo_s = float(slo_s)
        self.mode = mode

    def predicted_wait_s(self, job: SimJob, state: AdmissionState) -> float:
        """The mean wait the model predicts for `job` arriving into `state` (NaN: no estimate)."""
        service = state.mean_service_gpu_s
        if not (math.isfinite(service) and service > 0):
            return math.nan
        c = state.total_gpus
        if self.mode == "state":
            if state.num_queued == 0 and state.free_gpus >= job.num_gpus:
                return 0.0
            return (state.num_queued + 1) * service / c
        lam = state.arrival_rate_per_s
        if not (math.isfinite(lam) and lam >= 0):
            return math.nan
        return mmc_mean_wait_s(lam, 1.0 / service, c)

    def verdict(self, job: SimJob, state: AdmissionState) -> Verdict:
        if self.predicted_wait_s(job, state) > self.slo_s:  # NaN compares False: accept
            return Verdict.reject
        return Verdict.accept


ADMISSIONS: dict[str, type[Admission]] = {cls.key: cls for cls in (AcceptAll, LoadAdmission, WaitSloAdmission)}

_PARAMS: dict[str, dict[str, type]] = {
    "accept-all": {},
    "load": {"factor": float, "action": str},
    "wait-slo": {"slo_s": float, "mode": str},
}


def _convert(key: str, name: str, kind: type, value: object) -> float | str:
    """A parameter from code or from the command line (numbers may come as strings)."""
    if kind is str:
        if not isinstance(value, str):
            raise UserError(f"admission {key!r}: {name} must be a string, got {value!r}")
        return value
    if isinstance(value, bool) or not isinstance(value, (int, float, str)):
        raise UserError(f"admission {key!r}: {name} must be a number, got {value!r}")
    try:
        return float(value)
    except ValueError:
        raise UserError(f"admission {key!r}: {name} must be a number, got {value!r}") from None


def make_admission(key: str, **params: object) -> Admission:
    """A fresh admission control for one run; `UserError` for an unknown key, parameter or value."""
    cls = ADMISSIONS.get(key)
    if cls is None:
        raise UserError(f"unknown admission {key!r}; known admissions: {', '.join(sorted(ADMISSIONS))}")
    kinds = _PARAMS[key]
    unknown = sorted(set(params) - set(kinds))
    if unknown:
        takes = f"takes {', '.join(kinds)}" if kinds else "takes no parameters"
        raise UserError(f"admission {key!r} has no parameter {unknown[0]!r}; it {takes}")
    values = {name: _convert(key, name, kinds[name], value) for name, value in params.items()}
    if cls is WaitSloAdmission and "slo_s" not in values:
        raise UserError("admission 'wait-slo' needs slo_s, the longest acceptable predicted wait in seconds")
    if cls is LoadAdmission:
        return LoadAdmission(**values)  # type: ignore[arg-type]
    if cls is WaitSloAdmission:
        return WaitSloAdmission(**values)  # type: ignore[arg-type]
    return AcceptAll()
