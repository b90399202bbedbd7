"""One sweep run as a function of plain data: `run_one(config) -> RunOutput`.

Every backend (in process, a spawned process pool, Ray tasks) calls this same function
with a config from `simulator.sweep.grid.expand` and hands the `RunOutput` back to the
driver, which alone writes files. The output is plain too: the summary as a JSON-able
dict and the per-job and timeline tables as Arrow IPC stream bytes. A run that raises
(a cluster too small for a job, a policy parameter that only fails mid-run, a bug) is
not an exception here but an output with `error` set (type, one-line message,
traceback), so the sweep goes on. Each process keeps the last few workloads it read, so
a worker reads the trace once, not once per run.
"""

from __future__ import annotations

import time
import traceback
from collections import OrderedDict
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa

from simulator.rng import stream
from simulator.sweep.grid import canonical_json
from simulator.sweep.load import scale_load
from simulator.sweep.spec import catalog_speed_table, resolved_settings
from traces.cluster import Cluster, load_cluster_toml
from traces.model import Workload

_CACHE_SIZE = 4
_workloads: OrderedDict[str, Workload] = OrderedDict()


@dataclass(frozen=True, slots=True)
class RunOutput:
    """What one run produced. Done: `summary` (labels, `metrics` by name with NaN as None and
    counts as integers, `notes`, `wall_s`, `num_events`) and the two tables as Arrow IPC
    bytes. Failed: `error` = {"type", "message", "traceback"} and empty tables."""

    run_id: str
    summary: dict[str, Any] | None
    jobs_ipc: bytes
    timeline_ipc: bytes
    error: dict[str, str] | None
    wall_s: float

    @property
    def ok(self) -> bool:
        return self.error is None


def run_one(config: dict[str, Any]) -> RunOutput:
    """Simulate the run `config` describes (see `grid.expand`); never raises for a failed run."""
    t0 = time.perf_counter()
    run_id = str(config.get("run_id", ""))
    try:
        summary, jobs, timeline = _simulate(config)
    except Exception as exc:  # noqa: BLE001 - recorded in error.json; the sweep goes on
        error = {"type": type(exc).__name__, "message": one_line(exc), "traceback": traceback.format_exc()}
        return RunOutput(run_id, None, b"", b"", error, time.perf_counter() - t0)
    wall_s = time.perf_counter() - t0
    summary["wall_s"] = round(wall_s, 6)
    return RunOutput(run_id, summary, to_ipc(jobs), to_ipc(timeline), None, wall_s)


def _simulate(config: dict[str, Any]) -> tuple[dict[str, Any], pa.Table, pa.Table]:
    from simulator.results import summary_document
    from simulator.run import SimConfig, simulate

    workload = scale_load(load_workload(config["workload"], int(config["seed"])), float(config["load_scale"]))
    cluster = build_cluster(config["cluster"])
    settings = resolved_settings(config["settings"])
    speed_notes: tuple[str, ...] = ()
    if config["settings"].get("speed_table", {}).get("catalog"):
        settings["speed_table"], speed_notes = catalog_speed_table(
            config["settings"], cluster.gpu_types, workload.model_name.categories)
    sim = SimConfig(
        policy=config["policy"],
        placement=config["placement"],
        admission=config["admission"],
        seed=int(config["seed"]),
        run_id=config["run_id"],
        policy_params=config["policy_params"],
        placement_params=config["placement_params"],
        admission_params=config["admission_params"],
        **settings,
    )
    result = simulate(workload, cluster, sim)
    summary = summary_document(result.summary, result.wall_s)
    summary.pop("wall_s")
    summary["notes"] = [*speed_notes, *result.notes]
    summary["num_events"] = int(result.num_events)
    return summary, result.jobs, result.timeline


def build_cluster(plain: dict[str, Any]) -> Cluster:
    """The cluster of a run config's `cluster` entry."""
    if "path" in plain:
        return load_cluster_toml(plain["path"])
    return Cluster.uniform(int(plain["nodes"]), int(plain["gpus_per_node"]), plain["gpu_type"],
                           float(plain["gpu_mem_gib"]))


def load_workload(plain: dict[str, Any], seed: int) -> Workload:
    """The unscaled workload of a run config's `workload` entry (cached per process): the trace's
    first `max_jobs` jobs, or the synth spec drawn with the run's seed."""
    key = canonical_json({**plain, "seed": seed if plain["kind"] == "synth" else None})
    cached = _workloads.get(key)
    if cached is not None:
        _workloads.move_to_end(key)
        return cached
    workload = _read_workload(plain, seed)
    _workloads[key] = workload
    while len(_workloads) > _CACHE_SIZE:
        _workloads.popitem(last=False)
    return workload


def _read_workload(plain: dict[str, Any], seed: int) -> Workload:
    from traces.readers.registry import read_trace

    paths = [Path(p) for p in plain["paths"]]
    if plain["kind"] == "synth":
        from traces.synth import SynthSpec, generate

        spec = SynthSpec.from_toml(plain["synth_path"])
        source = read_trace(paths, plain["format"]).workload if paths else None
        # The "arrivals" stream of the run's seed: the workload is independent of the run's other streams.
        return generate(spec, stream(seed, "arrivals"), resample_from=source)
    workload = read_trace(paths, plain["format"]).workload
    max_jobs = plain.get("max_jobs")
    if max_jobs is not None and max_jobs < len(workload):
        workload = workload.take(np.arange(int(max_jobs)))
    return workload


def to_ipc(table: pa.Table) -> bytes:
    sink = pa.BufferOutputStream()
    with pa.ipc.new_stream(sink, table.schema) as writer:
        writer.write_table(table)
    return bytes(sink.getvalue().to_pybytes())


def from_ipc(data: bytes) -> pa.Table:
    with pa.ipc.open_stream(pa.py_buffer(data)) as reader:
        table: pa.Table = reader.read_all()
    return table


def one_line(exc: BaseException) -> str:
    """An exception as one line: its message, or its type when it has none."""
    return " ".join(str(exc).split()) or type(exc).__name__
