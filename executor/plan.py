"""From a schedule and its trace to the training work the executor hands to its workers.

Time: a trace second becomes `time_scale` wall seconds, counted from the earliest submit
time of the planned jobs (`origin_s`), so a 3-hour slice at scale 0.01 replays in ~108 s.

Work: a segment keeps `work_s` reference-GPU seconds of work (the schedule's `work_s`,
else its length). It is trained for `work_s x time_scale x rate` steps, where `rate` is
the profiled steps/s of the job's model on the reference device type (for a gang of k
devices the k-device rate when profiled, else the single-device rate, with a note). On a
device of another type the same steps take `1 / speed factor` as long, exactly what the
simulator predicts with a speed table made from the same profile, so the gap between
predicted and measured times is the model's error, not a unit mismatch.

Model: a job whose `model_name` names a family (or a known architecture: resnet -> cnn,
lstm -> lstm, ...) trains that family; any other job gets a seeded choice keyed by its id,
so the same seed gives the same plan whatever the job order.
"""

from __future__ import annotations

import math
import re
import zlib
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Protocol

import numpy as np

from executor.models import FAMILIES
from simulator.schedule import Schedule
from traces.errors import UserError
from traces.model import Workload

# Recorded architecture names (lower-cased, matched as whole words or prefixes) -> family.
_ALIASES: tuple[tuple[str, str], ...] = (
    (r"simple_?rnn|^rnn", "simple_rnn"),
    (r"lstm|seq2seq|deepspeech", "lstm"),
    (r"gru", "gru"),
    (r"gan|dcgan|cyclegan|stylegan", "gan"),
    (r"transfer|finetun|fine-tun|bert|vit", "transfer"),
    (r"resnet|vgg|inception|alexnet|mobilenet|efficientnet|cnn|conv|imagenet|cifar|mnist|yolo", "cnn"),
    (r"mlp|dense|dlrm|ncf|recommend|wide.?deep|ctr", "mlp"),
)


class RateTable(Protocol):
    """What planning needs of a profile table (`executor.profile.ProfileTable`)."""

    @property
    def types(self) -> tuple[str, ...]: ...

    def has(self, gpu_type: str, model: str, batch_size: int, num_devices: int = 1) -> bool: ...

    def rate(self, gpu_type: str, model: str, batch_size: int, num_devices: int = 1) -> float: ...


@dataclass(frozen=True, slots=True)
class SegmentTask:
    """One run segment of one job: train `steps` steps on `gpu_ids` from `start_s` (trace seconds)."""

    job_id: str
    segment: int
    start_s: float
    end_s: float
    gpu_ids: tuple[str, ...]
    work_s: float
    steps: int
    last: bool


@dataclass(frozen=True, slots=True)
class JobPlan:
    job_id: str
    submit_s: float
    family: str
    size: int
    batch_size: int
    num_devices: int
    steps_per_s: float
    segments: tuple[SegmentTask, ...]

    @property
    def predicted_start_s(self) -> float:
        return self.segments[0].start_s

    @property
    def predicted_end_s(self) -> float:
        return self.segments[-1].end_s

    @property
    def steps(self) -> int:
        return sum(s.steps for s in self.segments)


@dataclass(frozen=True, slots=True)
class ExecPlan:
    """Every job to run, the devices they use, and how trace time maps to wall time."""

    jobs: tuple[JobPlan, ...]
    gpu_ids: tuple[str, ...]
    time_scale: float
    origin_s: float
    reference_type: str | None
    notes: tuple[str, ...] = field(default_factory=tuple)

    def wall_s(self, trace_s: float) -> float:
        """Wall seconds after the replay's start at which trace time `trace_s` falls."""
        return (trace_s - self.origin_s) * self.time_scale

    def trace_s(self, wall_s: float) -> float:
        return self.origin_s + wall_s / self.time_scale

    @property
    def tasks(self) -> tuple[SegmentTask, ...]:
        """All segments, by predicted start (then job id, segment): each device's order."""
        return tuple(sorted((s for j in self.jobs for s in j.segments), key=lambda s: (s.start_s, s.job_id, s.segment)))

    @property
    def by_job(self) -> dict[str, JobPlan]:
        return {j.job_id: j for j in self.jobs}


def family_for(job_id: str, model_name: str | None, seed: int) -> str:
    """The model family a trace job trains: its recorded architecture when known, else a seeded choice."""
    if model_name:
        name = model_name.strip().lower()
        if name in FAMILIES:
            return name
        for pattern, family in _ALIASES:
            if re.search(pattern, name):
                return family
    rng = np.random.default_rng([seed, zlib.crc32(job_id.encode("utf-8"))])
    return FAMILIES[int(rng.integers(len(FAMILIES)))]


def make_plan(
    schedule: Schedule,
    workload: Workload,
    rates: RateTable,
    *,
    time_scale: float,
    gpu_types: Mapping[str, str] | None = None,
    reference_type: str | None = None,
    batch_size: int = 32,
    size: int = 1,
    seed: int = 0,
    overrides: Mapping[str, Mapping[str, object]] | None = None,
) -> ExecPlan:
    """Plan every scheduled job (rejected ones are not run).

    `gpu_types` maps a GPU id to its type (default: every device is the profile's only
    type). `overrides` maps a job id to {"model": family, "size": n, "batch_size": n}.
    """
    if not (isinstance(time_scale, (int, float)) and math.isfinite(time_scale) and time_scale > 0):
        raise UserError(f"--time-scale must be a number > 0, got {time_scale!r}")
    types = rates.types
    if not types:
        raise UserError("the profile table is empty: run `gpusched profile` first")
    notes: list[str] = []
    ref = _reference(types, reference_type, gpu_types, notes)
    by_id = {workload.job_id[i]: i for i in range(len(workload))}
    missing = [jid for jid in schedule.by_job() if jid not in by_id]
    if missing:
        raise UserError(
            f"{len(missing)} scheduled job(s) are not in the trace (first: {missing[0]}); "
            "pass the trace the schedule was made from with --trace"
        )
    unscheduled = len(workload) - len(schedule.by_job()) - len([j for j in schedule.rejected if j in by_id])
    if unscheduled > 0:
        notes.append(f"{unscheduled} trace job(s) are not in the schedule and are not run")
    if schedule.rejected:
        notes.append(f"{len(schedule.rejected)} job(s) the schedule rejects are not run")
    overrides = overrides or {}
    unknown = sorted(set(overrides) - set(schedule.by_job()))
    if unknown:
        raise UserError(f"the job overrides name {len(unknown)} job(s) not in the schedule (first: {unknown[0]})")
    fallback_gangs: set[tuple[str, int]] = set()
    jobs: list[JobPlan] = []
    gpu_ids: set[str] = set()
    for job_id, parts in schedule.by_job().items():
        i = by_id[job_id]
        over = overrides.get(job_id, {})
        family = str(over.get("model") or family_for(job_id, workload[i].model_name, seed))
        if family not in FAMILIES:
            raise UserError(f"job {job_id}: unknown model {family!r}; expected one of {', '.join(FAMILIES)}")
        job_size = _positive_int(over.get("size", size), f"job {job_id}: size")
        job_batch = _positive_int(over.get("batch_size", batch_size), f"job {job_id}: batch_size")
        num_devices = max(len(a.gpu_ids) for a in parts)
        rate = _rate(rates, ref, family, job_batch, num_devices, fallback_gangs)
        segments = []
        for k, a in enumerate(parts):
            work_s = a.end_s - a.start_s if a.work_s is None else a.work_s
            steps = max(1, round(work_s * time_scale * rate)) if work_s > 0 else 0
            segments.append(SegmentTask(job_id, k, a.start_s, a.end_s, a.gpu_ids, work_s, steps, k == len(parts) - 1))
            gpu_ids.update(a.gpu_ids)
        jobs.append(JobPlan(job_id, float(workload.submit_s[i]), family, job_size, job_batch, num_devices, rate,
                            tuple(segments)))
    if not jobs:
        raise UserError("the schedule runs no job")
    for family, k in sorted(fallback_gangs):
        notes.append(f"no {k}-device rate profiled for {family}: its {k}-GPU jobs use the single-device rate")
    origin_s = min(j.submit_s for j in jobs)
    jobs.sort(key=lambda j: (j.predicted_start_s, j.job_id))
    return ExecPlan(tuple(jobs), tuple(sorted(gpu_ids, key=_gpu_sort_key)), float(time_scale), origin_s, ref,
                    tuple(notes))


def _reference(types: tuple[str, ...], reference_type: str | None, gpu_types: Mapping[str, str] | None,
               notes: list[str]) -> str:
    if reference_type is not None:
        if reference_type not in types:
            raise UserError(f"the profile has no rows for reference type {reference_type}; it has {', '.join(types)}")
        return reference_type
    if len(types) == 1:
        cluster_types = sorted(set((gpu_types or {}).values()) - {types[0]})
        if cluster_types:
            notes.append(f"the schedule's {', '.join(cluster_types)} GPUs run on devices profiled as {types[0]}")
        return types[0]
    raise UserError(
        f"the profile has several device types ({', '.join(types)}): say which one the trace durations "
        "refer to with --reference-type"
    )


def _rate(rates: RateTable, ref: str, family: str, batch: int, k: int, fallback: set[tuple[str, int]]) -> float:
    if k > 1 and rates.has(ref, family, batch, k):
        return rates.rate(ref, family, batch, k)
    if not rates.has(ref, family, batch, 1):
        raise UserError(
            f"the profile has no rate for model {family} at batch size {batch} on {ref}: "
            f"run `gpusched profile --models {family} --batch-size {batch} --gpu-type {ref}`"
        )
    if k > 1:
        fallback.add((family, k))
    return rates.rate(ref, family, batch, 1)


def _positive_int(value: object, what: str) -> int:
    try:
        number = int(str(value))
    except ValueError:
        number = 0
    if number < 1:
        raise UserError(f"{what} must be a whole number >= 1, got {value!r}")
    return number


def _gpu_sort_key(gpu_id: str) -> tuple[str, int, str]:
    node, _, idx = gpu_id.rpartition(":")
    return (node, int(idx), "") if idx.isdigit() else (node, -1, idx)

