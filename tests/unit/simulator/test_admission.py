"""Admission controls: hand-computed verdicts for load and both wait-SLO predictions, and the registry."""

from __future__ import annotations

import math
from dataclasses import replace
from typing import Any

import pytest

from simulator.admission import (
    ADMISSIONS,
    AcceptAll,
    AdmissionState,
    LoadAdmission,
    Verdict,
    WaitSloAdmission,
    make_admission,
)
from simulator.policies.base import SimJob
from traces.errors import UserError

_BASE: dict[str, Any] = {
    "row": 0, "job_id": "j", "submit_s": 0.0, "duration_s": 50.0, "num_gpus": 1, "gpu_frac": 1.0,
    "gpu_mem_gib": None, "gpu_types": (), "user": None, "group": None, "priority": 0, "weight": 1.0,
    "deadline_s": None,
}


def job(num_gpus: int) -> SimJob:
    values = {**_BASE, "num_gpus": num_gpus}
    fields: dict[str, Any] = {f: values.get(f, SimJob._field_defaults.get(f)) for f in SimJob._fields}
    return SimJob(**fields)


# 8 GPUs, 4 free, nothing queued; jobs arrive at 0.06/s with 100 GPU-seconds of work each.
STATE = AdmissionState(
    now_s=1000.0, total_gpus=8, free_gpus=4, queued_gpu_demand=0, num_queued=0, num_running=2,
    arrival_rate_per_s=0.06, mean_service_gpu_s=100.0,
)


def test_accept_all() -> None:
    assert AcceptAll().verdict(job(64), replace(STATE, queued_gpu_demand=10**6, free_gpus=0)) is Verdict.accept


def test_load_turns_jobs_away_above_factor_times_capacity() -> None:
    load = LoadAdmission()  # factor 2 on 8 GPUs: up to 16 GPUs of demand may queue
    assert load.verdict(job(2), replace(STATE, queued_gpu_demand=14)) is Verdict.accept  # 16 is not above 16
    assert load.verdict(job(2), replace(STATE, queued_gpu_demand=15)) is Verdict.defer  # 17 is
    assert load.verdict(job(17), STATE) is Verdict.defer  # its own demand counts
    assert LoadAdmission(action="reject").verdict(job(2), replace(STATE, queued_gpu_demand=15)) is Verdict.reject
    half = LoadAdmission(factor=0.5)
    assert half.verdict(job(4), STATE) is Verdict.accept
    assert half.verdict(job(5), STATE) is Verdict.defer


def test_wait_slo_state_mode_uses_the_queue_the_job_finds() -> None:
    slo = WaitSloAdmission(slo_s=12.5)
    # Its 2 GPUs are free and nobody is ahead: it starts now.
    assert slo.predicted_wait_s(job(2), STATE) == 0.0
    # 1 GPU free for a 2-GPU job: one departure, mean 1/(c mu) = 100/8 = 12.5 s.
    short = replace(STATE, free_gpus=1)
    assert slo.predicted_wait_s(job(2), short) == 12.5
    assert slo.verdict(job(2), short) is Verdict.accept  # not above the SLO
    assert WaitSloAdmission(slo_s=12.0).verdict(job(2), short) is Verdict.reject
    # 3 queued ahead: 4 departures, 4 * 12.5 = 50 s; free GPUs do not help a job behind a queue.
    queued = replace(STATE, free_gpus=8, num_queued=3, queued_gpu_demand=20)
    assert slo.predicted_wait_s(job(1), queued) == 50.0
    assert WaitSloAdmission(slo_s=49.9).verdict(job(1), queued) is Verdict.reject
    assert WaitSloAdmission(slo_s=50.0).verdict(job(1), queued) is Verdict.accept
    # Overload does not matter to a job that starts at once.
    assert WaitSloAdmission(slo_s=0.0).verdict(job(1), replace(STATE, arrival_rate_per_s=10.0)) is Verdict.accept


def _erlang_c_by_factorials(c: int, a: float) -> float:
    top = a**c / math.factorial(c) * c / (c - a)
    return top / (sum(a**k / math.factorial(k) for k in range(c)) + top)


def test_wait_slo_stationary_mode_is_the_mmc_mean_wait() -> None:
    # c = 8, lam = 0.06/s, mu = 1/100 s: a = 6 Erlangs, C(8, 6) = 0.35698..., W = C / (0.08 - 0.06).
    want = _erlang_c_by_factorials(8, 6.0) / 0.02
    assert want == pytest.approx(17.849054, abs=1e-6)
    stationary = WaitSloAdmission(slo_s=17.8, mode="stationary")
    assert stationary.predicted_wait_s(job(1), STATE) == pytest.approx(want, rel=1e-12)
    assert stationary.verdict(job(1), STATE) is Verdict.reject
    assert WaitSloAdmission(slo_s=17.9, mode="stationary").verdict(job(1), STATE) is Verdict.accept
    # M/M/1 at rho = 0.5 with mean service 100 s: W = rho / (mu - lam) = 0.5 / 0.005 = 100 s.
    mm1 = AdmissionState(0.0, 1, 0, 0, 0, 1, 0.005, 100.0)
    assert WaitSloAdmission(slo_s=0.0, mode="stationary").predicted_wait_s(job(1), mm1) == pytest.approx(100.0)
    assert WaitSloAdmission(slo_s=99.0, mode="stationary").verdict(job(1), mm1) is Verdict.reject
    assert WaitSloAdmission(slo_s=100.0, mode="stationary").verdict(job(1), mm1) is Verdict.accept
    # rho = 0.08 * 100 / 8 = 1: unstable, the predicted wait is infinite.
    full = replace(STATE, arrival_rate_per_s=0.08)
    assert WaitSloAdmission(slo_s=1e12, mode="stationary").predicted_wait_s(job(1), full) == math.inf
    assert WaitSloAdmission(slo_s=1e12, mode="stationary").verdict(job(1), full) is Verdict.reject


@pytest.mark.parametrize("mode", ["state", "stationary"])
def test_wait_slo_accepts_while_nothing_is_known(mode: str) -> None:
    slo = WaitSloAdmission(slo_s=0.0, mode=mode)
    busy = replace(STATE, free_gpus=0, num_queued=5)
    for unknown in (replace(busy, mean_service_gpu_s=math.nan), replace(busy, mean_service_gpu_s=0.0)):
        assert math.isnan(slo.predicted_wait_s(job(1), unknown))
        assert slo.verdict(job(1), unknown) is Verdict.accept
    no_rate = replace(busy, arrival_rate_per_s=math.nan)
    assert slo.verdict(job(1), no_rate) is (Verdict.accept if mode == "stationary" else Verdict.reject)


def test_make_admission() -> None:
    assert sorted(ADMISSIONS) == ["accept-all", "load", "wait-slo"]
    assert isinstance(make_admission("accept-all"), AcceptAll)
    load = make_admission("load", factor="1.5", action="reject")
    assert isinstance(load, LoadAdmission) and (load.factor, load.action) == (1.5, Verdict.reject)
    slo = make_admission("wait-slo", slo_s=600, mode="stationary")
    assert isinstance(slo, WaitSloAdmission) and (slo.slo_s, slo.mode) == (600.0, "stationary")


@pytest.mark.parametrize(
    "key,params,message",
    [
        ("fifo", {}, "unknown admission 'fifo'; known admissions: accept-all, load, wait-slo"),
        ("accept-all", {"factor": 2}, "admission 'accept-all' has no parameter 'factor'; it takes no parameters"),
        ("load", {"slo_s": 2}, "admission 'load' has no parameter 'slo_s'; it takes factor, action"),
        ("load", {"factor": "lots"}, "admission 'load': factor must be a number, got 'lots'"),
        ("load", {"factor": True}, "admission 'load': factor must be a number, got True"),
        ("load", {"factor": 0}, "admission 'load': factor must be a number > 0, got 0.0"),
        ("load", {"factor": "inf"}, "admission 'load': factor must be a number > 0, got inf"),
        ("load", {"action": "drop"}, "admission 'load': action must be defer or reject, got 'drop'"),
        ("load", {"action": 1}, "admission 'load': action must be a string, got 1"),
        ("wait-slo", {}, "admission 'wait-slo' needs slo_s"),
        ("wait-slo", {"slo_s": -1}, "admission 'wait-slo': slo_s must be a number >= 0, got -1.0"),
        ("wait-slo", {"slo_s": 1, "mode": "erlang"}, "admission 'wait-slo': mode must be state or stationary"),
    ],
)
def test_make_admission_refuses_bad_input(key: str, params: dict[str, object], message: str) -> None:
    with pytest.raises(UserError) as err:
        make_admission(key, **params)
    assert str(err.value).startswith(message)
