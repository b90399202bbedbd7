"""Entry point: `simulate(workload, cluster, SimConfig(...)) -> SimResult`.

Checks the inputs (every job must fit the cluster at all; the speed table must know
every GPU type), splits the seed into named streams (`simulator.rng`: "placement",
"failures", "estimates", "policy"), runs the engine and builds the schedule and the
result tables. Scheduling is in whole GPUs: a job with `gpu_frac < 1` gets its GPU to
itself (the result notes count such jobs). Each schedule segment records the work it
kept as `work_s` (reference-GPU seconds) whenever that differs from its length (slower
or faster GPUs, a cross-node slowdown, restart overhead, lost work), so
`validate.check(..., speed=speed_fn(config.speed_table))` checks the work accounting.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pyarrow as pa

from simulator.cluster import Cluster, check_fits
from simulator.engine import Engine, EngineOptions, EngineOutput, gc_paused
from simulator.estimates import EstimateSpec, duration_estimates
from simulator.gpu_catalog import GpuCatalog
from simulator.metrics import (
    COST_BASES,
    JAIN_BY_GROUP,
    JAIN_BY_USER,
    RunLabels,
    Segments,
    energy_cost_values,
    gpu_power_states,
    jobs_table,
    segments_table,
    state_samples,
    summary_table,
    summary_values,
    timeline_table,
)
from simulator.placement import PLACEMENTS, make_placement
from simulator.policies import POLICIES, make_policy
from simulator.rng import Streams
from simulator.schedule import Assignment, Schedule
from simulator.speed import SpeedTable
from traces.errors import UserError
from traces.model import Job, Workload

Params = tuple[tuple[str, Any], ...]


def _params(value: Params | Mapping[str, Any]) -> Params:
    """Parameters as a sorted tuple of (name, value) pairs (a mapping is accepted too)."""
    items = value.items() if isinstance(value, Mapping) else value
    return tuple(sorted((str(k), v) for k, v in items))


def _number(name: str, value: object, *, minimum: float, allow_none: bool = False, strict: bool = False) -> None:
    if value is None and allow_none:
        return
    ok = isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)
    if not ok or value < minimum or (strict and value == minimum):  # type: ignore[operator]
        bound = f"> {minimum:g}" if strict else f">= {minimum:g}"
        raise UserError(f"{name} must be a finite number {bound}, got {value!r}")


@dataclass(frozen=True, slots=True)
class SimConfig:
    """One run's settings; `run_id` defaults to `<policy>-<placement>-s<seed>`.

    * `policy_params`, `placement_params`, `admission_params`: (name, value) pairs passed
      to the plug-in's constructor (a mapping is accepted and sorted).
    * `restart_overhead_s`: non-productive time at the start of every restart segment.
    * `checkpoint_interval_s`: on preemption or failure, work is kept only up to the last
      multiple of this interval of the segment's productive time (None: nothing is lost).
    * `speed_table`: per-type (and per-model) speed factors (default: all 1.0).
    * `node_mtbf_s`/`node_mttr_s`: mean up and down times of each node (None: no failures).
    * `admission`: admission control key (`simulator.admission.ADMISSIONS`).
    * `estimates`: "actual", "noisy:<sigma>" or "predicted:<model file>" (`simulator.estimates`):
      the durations policies believe; sjf, srtf, qssf and easy-backfill order by them.
    * `gpu_catalog`: power and price per GPU type for the energy and cost metrics
      (default: the shipped catalog, `simulator.gpu_catalog`).
    * `idle_power_off_s`: a GPU idle this long is switched off (draws nothing, is not
      billed) until its next job (None: idle GPUs stay on). See `simulator.metrics`.
    * `cost_basis`: "cloud" (`cost_usd` = on-demand price x powered-on GPU-hours) or
      "purchase" (every GPU's purchase price amortised over `amortise_years` for the run
      window, plus `electricity_usd_per_kwh` x energy).
    """

    policy: str = "fcfs"
    placement: str = "pack"
    seed: int = 0
    cross_node_slowdown: float = 1.0
    run_id: str = ""
    policy_params: Params = ()
    placement_params: Params = ()
    restart_overhead_s: float = 0.0
    checkpoint_interval_s: float | None = None
    speed_table: SpeedTable = field(default_factory=SpeedTable.reference)
    node_mtbf_s: float | None = None
    node_mttr_s: float = 3600.0
    admission: str = "accept-all"
    admission_params: Params = ()
    estimates: str = "actual"
    gpu_catalog: GpuCatalog = field(default_factory=GpuCatalog.default)
    idle_power_off_s: float | None = None
    cost_basis: str = "cloud"
    amortise_years: float = 3.0
    electricity_usd_per_kwh: float = 0.15

    def __post_init__(self) -> None:
        from simulator.admission import ADMISSIONS, make_admission

        for name in ("policy_params", "placement_params", "admission_params"):
            object.__setattr__(self, name, _params(getattr(self, name)))
        if self.policy not in POLICIES:
            raise UserError(f"unknown policy {self.policy!r}; known policies: {', '.join(sorted(POLICIES))}")
        if self.placement not in PLACEMENTS:
            raise UserError(
                f"unknown placement {self.placement!r}; known placements: {', '.join(sorted(PLACEMENTS))}"
            )
        if self.admission not in ADMISSIONS:
            raise UserError(
                f"unknown admission {self.admission!r}; known admissions: {', '.join(sorted(ADMISSIONS))}"
            )
        if isinstance(self.seed, bool) or not isinstance(self.seed, (int, np.integer)) or self.seed < 0:
            raise UserError(f"a seed must be an integer >= 0, got {self.seed!r}")
        _number("cross_node_slowdown", self.cross_node_slowdown, minimum=1.0)
        _number("restart_overhead_s", self.restart_overhead_s, minimum=0.0)
        _number("checkpoint_interval_s", self.checkpoint_interval_s, minimum=0.0, allow_none=True, strict=True)
        _number("node_mtbf_s", self.node_mtbf_s, minimum=0.0, allow_none=True, strict=True)
        _number("node_mttr_s", self.node_mttr_s, minimum=0.0, strict=True)
        if not isinstance(self.speed_table, SpeedTable):
            raise UserError(f"speed_table must be a SpeedTable, got {self.speed_table!r}")
        if not isinstance(self.gpu_catalog, GpuCatalog):
            raise UserError(f"gpu_catalog must be a GpuCatalog, got {self.gpu_catalog!r}")
        _number("idle_power_off_s", self.idle_power_off_s, minimum=0.0, allow_none=True)
        if self.cost_basis not in COST_BASES:
            raise UserError(f"cost_basis must be one of {', '.join(COST_BASES)}, got {self.cost_basis!r}")
        _number("amortise_years", self.amortise_years, minimum=0.0, strict=True)
        _number("electricity_usd_per_kwh", self.electricity_usd_per_kwh, minimum=0.0)
        EstimateSpec.parse(self.estimates)
        # Build each plug-in once so a bad parameter is reported now, not mid-run.
        make_policy(self.policy, **dict(self.policy_params))
        make_placement(self.placement, None, **dict(self.placement_params))
        make_admission(self.admission, **dict(self.admission_params))
        if not self.run_id:
            object.__setattr__(self, "run_id", f"{self.policy}-{self.placement}-s{self.seed}")


@dataclass(frozen=True, slots=True)
class SimResult:
    """Everything a run produced. `wall_s` covers the whole `simulate` call."""

    config: SimConfig
    schedule: Schedule
    jobs: pa.Table
    segments: pa.Table
    summary: pa.Table
    timeline: pa.Table
    notes: tuple[str, ...]
    wall_s: float
    num_events: int


def speed_fn(table: SpeedTable) -> Callable[[Job, str], float] | None:
    """The validator's `speed` argument for a run with this speed table (None: all 1.0)."""
    if table.reference_type is None:
        return None
    return lambda job, gpu_type: table.factor(gpu_type, job.model_name)


def simulate(
    workload: Workload,
    cluster: Cluster,
    config: SimConfig,
    progress: Callable[[int, int], None] | None = None,
) -> SimResult:
    """Replay `workload` on `cluster` under `config`; `progress(submitted, total)` is called as
    jobs arrive (for a progress bar; see `EngineOptions.progress`)."""
    from simulator.admission import make_admission

    t0 = time.perf_counter()
    if len(workload) == 0:
        raise UserError("the workload has no jobs to simulate")
    check_fits(workload, cluster)
    config.speed_table.check_types(cluster.gpu_types)
    streams = Streams.from_seed(int(config.seed))
    admission = (
        None
        if config.admission == "accept-all"
        else make_admission(config.admission, **dict(config.admission_params))
    )
    spec = EstimateSpec.parse(config.estimates)
    estimate_s = duration_estimates(workload, spec, streams.estimates)
    options = EngineOptions(
        cross_node_slowdown=float(config.cross_node_slowdown),
        restart_overhead_s=float(config.restart_overhead_s),
        checkpoint_interval_s=config.checkpoint_interval_s,
        speed=config.speed_table,
        node_mtbf_s=config.node_mtbf_s,
        node_mttr_s=float(config.node_mttr_s),
        failures_rng=streams.failures,
        admission=admission,
        estimate_s=estimate_s,
        estimate_kind=spec.kind,
        policy_rng=streams.policy,
        progress=progress,
    )
    policy = make_policy(config.policy, **dict(config.policy_params))
    engine = Engine(
        workload,
        cluster,
        policy,
        make_placement(config.placement, streams.placement, **dict(config.placement_params)),
        options,
    )
    out = engine.run()
    with gc_paused():
        ids = out.gpu_ids
        seg_ids = [ids[g[0]] if len(g) == 1 else ";".join([ids[x] for x in g]) for g in out.seg_gpus]
        segments = Segments(out.seg_row, out.seg_start_s, out.seg_end_s, out.seg_work_s, out.seg_reason, seg_ids)
        schedule = _schedule(workload, out)
        num_gpus = workload.num_gpus.astype(np.int64)
        seg_gpus = num_gpus[out.seg_row]
        busy_gpu_s = float(np.sum((out.seg_end_s - out.seg_start_s) * seg_gpus))
        labels = RunLabels(config.run_id, config.policy, config.placement, int(config.seed))
        first_ids = _first_segment_ids(len(workload), out.seg_row, seg_ids)
        jobs = jobs_table(
            labels,
            workload,
            out.first_start_s,
            out.end_s,
            _gpu_types(cluster, workload, out),
            wait_s=out.wait_s,
            rejected=out.rejected,
            num_preemptions=out.num_preemptions,
            num_failures=out.num_failures,
            gpu_ids=first_ids,
        )
        values = summary_values(
            workload,
            out.first_start_s,
            out.end_s,
            busy_gpu_s,
            cluster.num_gpus,
            wait_s=out.wait_s,
            rejected=out.rejected,
            num_preemptions=int(out.num_preemptions.sum()),
            num_failure_restarts=int(out.num_failures.sum()),
            num_node_failures=out.num_node_failures,
        )
        ran = ~out.rejected
        node_gpus = [nd.num_gpus for nd in cluster.nodes]
        # The energy window is the makespan's: first submit to last end of the jobs that ran.
        first_s = float(np.min(workload.submit_s[ran])) if ran.any() else math.nan
        last_s = float(np.max(out.end_s[ran])) if ran.any() else math.nan
        states = gpu_power_states(node_gpus, out.seg_start_s, out.seg_end_s, out.seg_gpus, out.downtime,
                                  first_s, last_s, config.idle_power_off_s)
        energy, energy_notes = energy_cost_values(
            [g.gpu_type for g in cluster.gpus()],
            states,
            config.gpu_catalog,
            cost_basis=config.cost_basis,
            amortise_years=float(config.amortise_years),
            electricity_usd_per_kwh=float(config.electricity_usd_per_kwh),
        )
        values.update(energy)
        down = [(d[1], d[2], node_gpus[d[0]]) for d in out.downtime]
        t_s, samples = state_samples(
            workload.submit_s[ran], out.end_s[ran], out.seg_start_s, out.seg_end_s, seg_gpus, down,
            with_down=config.node_mtbf_s is not None,
        )
        timeline = timeline_table(config.run_id, t_s, samples)
        seg_table = segments_table(config.run_id, workload, segments)
    return SimResult(
        config=config,
        schedule=schedule,
        jobs=jobs,
        segments=seg_table,
        summary=summary_table(labels, values),
        timeline=timeline,
        notes=(_notes(workload, out, config) + _estimate_notes(workload, spec, estimate_s) + _policy_notes(policy)
               + energy_notes + _metric_notes(workload)),
        wall_s=time.perf_counter() - t0,
        num_events=out.num_events,
    )


def _first_segment_ids(n: int, seg_row: np.ndarray, seg_ids: list[str]) -> list[str | None]:
    """The GPU ids of each job's first segment (segments are sorted by row, then start)."""
    out = np.full(n, None, dtype=object)
    if len(seg_row):
        rows, first = np.unique(seg_row, return_index=True)
        out[rows] = np.asarray(seg_ids, dtype=object)[first]
    result: list[str | None] = out.tolist()
    return result


def _schedule(workload: Workload, out: EngineOutput) -> Schedule:
    """One assignment per segment, sorted as `Schedule.of` sorts (start, then the unique job id)."""
    ids = out.gpu_ids
    job_ids = workload.job_id.astype(str)
    seg_row = out.seg_row
    order = np.lexsort((job_ids[seg_row], out.seg_start_s)).tolist()
    rows, start, end, work = seg_row.tolist(), out.seg_start_s.tolist(), out.seg_end_s.tolist(), out.seg_work_s.tolist()
    gpus = out.seg_gpus
    job_list = job_ids.tolist()
    assignments = tuple([
        Assignment(
            job_list[rows[i]],
            start[i],
            end[i],
            (ids[gpus[i][0]],) if len(gpus[i]) == 1 else tuple([ids[g] for g in gpus[i]]),
            None if end[i] - start[i] == work[i] else work[i],
        )
        for i in order
    ])
    rejected = tuple(sorted(job_ids[out.rejected].tolist()))
    return Schedule(assignments, rejected)


def _gpu_types(cluster: Cluster, workload: Workload, out: EngineOutput) -> list[str | None]:
    """The GPU type(s) each job ran on ("A100+V100" over several); None for rejected jobs."""
    n = len(workload)
    types = cluster.gpu_types
    if len(types) == 1:
        return [None if r else types[0] for r in out.rejected.tolist()]
    type_of = [g.gpu_type for g in cluster.gpus()]
    seen: list[set[str]] = [set() for _ in range(n)]
    for row, gpus in zip(out.seg_row.tolist(), out.seg_gpus, strict=True):
        seen[row].update(type_of[g] for g in gpus)
    return ["+".join(sorted(s)) if s else None for s in seen]


def _estimate_notes(workload: Workload, spec: EstimateSpec, estimate_s: np.ndarray) -> tuple[str, ...]:
    """How far predicted durations were from the actual ones in this run (what the policies saw)."""
    if spec.kind != "predicted":
        return ()
    log_ratio = np.abs(np.log(estimate_s / workload.duration_s))
    return (f"policies saw durations predicted by {spec.path}: median |ln(predicted/actual)| "
            f"{float(np.median(log_ratio)):.2f}, {100 * float(np.mean(log_ratio <= np.log(2.0))):.0f} % of jobs "
            f"within 2x; each prediction's history is the trace's (a job counts as finished at its submit + "
            f"duration), not this run's completions, so jobs that queue here are known a little early",)


def _policy_notes(policy: object) -> tuple[str, ...]:
    """What the policy has to say about the run (`notes`, optional: e.g. fair share's tenant fallback)."""
    notes = getattr(policy, "notes", ())
    return tuple(str(n) for n in notes) if notes else ()


def _metric_notes(workload: Workload) -> tuple[str, ...]:
    """Why the fairness metrics are null: no job has a user or group."""
    notes: list[str] = []
    missing = [(c, m) for c, m in (("user", JAIN_BY_USER), ("group", JAIN_BY_GROUP))
               if not np.any(getattr(workload, c).codes >= 0)]
    if missing:
        notes.append(f"no job has a {' or a '.join(c for c, _ in missing)}, so "
                     f"{' and '.join(m for _, m in missing)} {'are' if len(missing) > 1 else 'is'} null")
    return tuple(notes)


def _notes(workload: Workload, out: EngineOutput, config: SimConfig) -> tuple[str, ...]:
    notes: list[str] = []
    shared = int(np.count_nonzero(workload.gpu_frac < 1))
    if shared:
        notes.append(
            f"{shared} jobs ask for a fraction of a GPU (gpu_frac < 1); each was given whole GPUs "
            "(GPU sharing is not modelled)"
        )
    spanned = int(np.count_nonzero(out.spanned))
    if spanned:
        notes.append(
            f"{spanned} jobs ran across nodes; their run time was multiplied by "
            f"cross_node_slowdown = {config.cross_node_slowdown:g}"
        )
    rejected = int(np.count_nonzero(out.rejected))
    if rejected:
        notes.append(f"{rejected} jobs were rejected by admission control '{config.admission}'")
    if config.idle_power_off_s is not None:
        notes.append(f"a GPU idle for {config.idle_power_off_s:g} s was switched off until its next job; "
                     "switching it back on is taken as instant and free")
    return tuple(notes)
