"""Entry point: `simulate(workload, cluster, SimConfig(...)) -> SimResult`.

Checks the inputs (every job must fit the cluster at all), runs the engine and builds the
schedule and the result tables. Scheduling is in whole GPUs: a job with `gpu_frac < 1`
gets its GPU to itself (the result notes count such jobs). A job placed across nodes
runs `cross_node_slowdown` times its `duration_s` (1.0, the default, = no penalty); its
schedule segment records the job's `duration_s` as `work_s`, so validators see the work.
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass

import numpy as np
import pyarrow as pa

from simulator.cluster import Cluster, check_fits
from simulator.engine import Engine, EngineOutput, gc_paused
from simulator.metrics import RunLabels, jobs_table, summary_table, summary_values, timeline_table
from simulator.placement import PLACEMENTS, make_placement
from simulator.policies import POLICIES, make_policy
from simulator.rng import stream
from simulator.schedule import Assignment, Schedule
from traces.errors import UserError
from traces.model import Workload


@dataclass(frozen=True, slots=True)
class SimConfig:
    """One run's settings; `run_id` defaults to `<policy>-<placement>-s<seed>`."""

    policy: str = "fcfs"
    placement: str = "pack"
    seed: int = 0
    cross_node_slowdown: float = 1.0
    run_id: str = ""

    def __post_init__(self) -> None:
        if self.policy not in POLICIES:
            raise UserError(f"unknown policy {self.policy!r}; known policies: {', '.join(sorted(POLICIES))}")
        if self.placement not in PLACEMENTS:
            raise UserError(
                f"unknown placement {self.placement!r}; known placements: {', '.join(sorted(PLACEMENTS))}"
            )
        if isinstance(self.seed, bool) or not isinstance(self.seed, (int, np.integer)) or self.seed < 0:
            raise UserError(f"a seed must be an integer >= 0, got {self.seed!r}")
        slow = self.cross_node_slowdown
        if isinstance(slow, bool) or not isinstance(slow, (int, float)) or not math.isfinite(slow) or slow < 1:
            raise UserError(f"cross_node_slowdown must be a finite number >= 1, got {slow!r}")
        if not self.run_id:
            object.__setattr__(self, "run_id", f"{self.policy}-{self.placement}-s{self.seed}")


@dataclass(frozen=True, slots=True)
class SimResult:
    """Everything a run produced. `wall_s` covers the whole `simulate` call."""

    config: SimConfig
    schedule: Schedule
    jobs: pa.Table
    summary: pa.Table
    timeline: pa.Table
    notes: tuple[str, ...]
    wall_s: float
    num_events: int


def simulate(workload: Workload, cluster: Cluster, config: SimConfig) -> SimResult:
    """Replay `workload` on `cluster` under `config`'s policy and placement."""
    t0 = time.perf_counter()
    if len(workload) == 0:
        raise UserError("the workload has no jobs to simulate")
    check_fits(workload, cluster)
    engine = Engine(
        workload, cluster, make_policy(config.policy),
        make_placement(config.placement, rng=stream(int(config.seed), "placement")),
        config.cross_node_slowdown,
    )
    out = engine.run()
    with gc_paused():
        schedule = _schedule(workload, out)
        gpu_type = _gpu_types(cluster, out)
        busy_gpu_s = float(np.sum((out.end_s - out.start_s) * workload.num_gpus))
        labels = RunLabels(config.run_id, config.policy, config.placement, int(config.seed))
        jobs = jobs_table(labels, workload, out.start_s, out.end_s, gpu_type)
        values = summary_values(workload, out.start_s, out.end_s, busy_gpu_s, cluster.num_gpus)
        summary = summary_table(labels, values)
        timeline = timeline_table(config.run_id, workload, out.start_s, out.end_s)
    return SimResult(
        config=config,
        schedule=schedule,
        jobs=jobs,
        summary=summary,
        timeline=timeline,
        notes=_notes(workload, out, config),
        wall_s=time.perf_counter() - t0,
        num_events=out.num_events,
    )


def _schedule(workload: Workload, out: EngineOutput) -> Schedule:
    """One assignment per job, sorted as `Schedule.of` sorts (start, then the unique job id)."""
    ids = out.gpu_ids
    job_ids = workload.job_id
    order = np.lexsort((job_ids.astype(str), out.start_s)).tolist()
    start, end, dur = out.start_s.tolist(), out.end_s.tolist(), workload.duration_s.tolist()
    spanned = out.spanned.tolist()
    assignments = tuple(
        Assignment(
            str(job_ids[r]),
            start[r],
            end[r],
            tuple(ids[g] for g in out.gpus[r]),
            dur[r] if spanned[r] and end[r] - start[r] != dur[r] else None,
        )
        for r in order
    )
    return Schedule(assignments)


def _gpu_types(cluster: Cluster, out: EngineOutput) -> list[str]:
    """The GPU type each job ran on ("A100+V100" when it spanned nodes of several types)."""
    types = cluster.gpu_types
    if len(types) == 1:
        return [types[0]] * len(out.gpus)
    type_of = [g.gpu_type for g in cluster.gpus()]
    return ["+".join(sorted({type_of[g] for g in gpus})) for gpus in out.gpus]


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
    return tuple(notes)
