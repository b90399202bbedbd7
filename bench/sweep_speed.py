"""Sweep speed: one 100-run sweep over a 10k-job trace, in this process vs a local pool vs Ray local.

Usage: python bench/sweep_speed.py [--quick] [--workers 2] [--no-ray]

The trace: the shipped ITP sample's (duration, GPUs) rows resampled jointly to 10,000 jobs
with Poisson arrivals at load 0.8 on 4 x 8 GPUs, written to a temporary native Parquet file.
The grid: clusters of 3, 4, 5, 6 and 8 nodes x 8 V100 x load scale 0.75 and 1.0 x fcfs and
sjf x 5 seeds (node failures every 30 days on average, so seeds differ) = 100 runs. The same
spec runs through `simulator.sweep.run_sweep` three times into fresh folders: on the
sequential backend (every run in this process), on the local process pool with `--workers`
spawned workers, and on Ray tasks in a local runtime with `--workers` CPUs. Wall time is the
whole `run_sweep` call, as a user waits for it: worker start-up (spawn and imports, or Ray's
start) included. It prints runs/minute per backend and the speed-up over sequential, and
checks that the three runs.csv files are byte-identical. `--quick` runs 8 runs over 1,000 jobs
(a smoke run). Exit status 1 when a backend failed, a run failed or the tables differ.
"""

from __future__ import annotations

import argparse
import os
import platform
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parent.parent
SAMPLE = REPO / "traces" / "data" / "itp-cluster05.csv"
SEED = 0
LOAD, REF_GPUS = 0.8, 32


@dataclass(frozen=True, slots=True)
class Size:
    jobs: int
    nodes: tuple[int, ...]
    load_scales: tuple[float, ...]
    policies: tuple[str, ...]
    seeds: int

    @property
    def runs(self) -> int:
        return len(self.nodes) * len(self.load_scales) * len(self.policies) * self.seeds


FULL = Size(jobs=10_000, nodes=(3, 4, 5, 6, 8), load_scales=(0.75, 1.0), policies=("fcfs", "sjf"), seeds=5)
QUICK = Size(jobs=1_000, nodes=(4, 8), load_scales=(1.0,), policies=("fcfs", "sjf"), seeds=2)


@dataclass(frozen=True, slots=True)
class Row:
    backend: str
    workers: int
    wall_s: float | None
    done: int
    failed: int
    note: str


def build_trace(num_jobs: int, out: Path) -> str:
    """Resample the sample's rows to `num_jobs` Poisson arrivals at load 0.8 on 32 GPUs; write native Parquet."""
    import numpy as np

    from traces.readers.native import write_native
    from traces.readers.registry import read_trace
    from traces.synth import RESAMPLE, DurationDist, SynthSpec, generate

    src = read_trace([SAMPLE]).workload
    synth = SynthSpec(num_jobs=num_jobs, load=LOAD, cluster_gpus=REF_GPUS, duration=DurationDist.resample,
                      gpu_counts=RESAMPLE)
    workload = generate(synth, np.random.default_rng(SEED), resample_from=src)
    write_native(workload, out)
    return (f"trace: {num_jobs:,} jobs resampled from {len(src):,} rows of {SAMPLE.name} (load {LOAD} on "
            f"{REF_GPUS} GPUs, span {workload.span_s / 86400:.1f} days, up to {int(workload.num_gpus.max())} GPUs/job)")


def spec_text(trace: Path, size: Size) -> str:
    return f"""[workload]
trace = "{trace}"
[grid]
cluster = [{{nodes = {list(size.nodes)}, gpus_per_node = 8, gpu_type = "V100"}}]
load_scale = {list(size.load_scales)}
policy = {list(size.policies)}
seeds = {size.seeds}
[settings]
node_mtbf_s = 2592000
checkpoint_interval_s = 1800
"""


def timed(name: str, workers: int, run: Callable[[], Any], note: str = "") -> Row:
    print(f"running {name} ...", file=sys.stderr, flush=True)
    t0 = time.perf_counter()
    try:
        outcome = run()
    except Exception as exc:  # noqa: BLE001 - reported in the table
        return Row(name, workers, None, 0, 0, f"FAILED: {type(exc).__name__}: {' '.join(str(exc).split())}")
    return Row(name, workers, time.perf_counter() - t0, outcome.done, outcome.failed, note)


def print_table(rows: list[Row], total: int) -> None:
    base = rows[0].wall_s if rows and rows[0].backend == "sequential" else None
    print(f"{'backend':<12} {'workers':>7} {'runs':>5} {'wall s':>8} {'runs/min':>9} {'speed-up':>9}  note")
    for r in rows:
        wall = f"{r.wall_s:.1f}" if r.wall_s is not None else "-"
        rate = f"{r.done / r.wall_s * 60:.1f}" if r.wall_s else "-"
        speed = f"{base / r.wall_s:.2f}x" if base and r.wall_s else "-"
        runs = f"{r.done}" if not r.failed else f"{r.done}+{r.failed}F"
        print(f"{r.backend:<12} {r.workers:>7} {runs:>5} {wall:>8} {rate:>9} {speed:>9}  {r.note}".rstrip(),
              flush=True)
    print(f"({total} runs per backend; wall time includes starting the workers)")


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="8 runs over 1,000 jobs (smoke run)")
    parser.add_argument("--workers", type=int, default=2, help="pool workers and Ray CPUs (default 2)")
    parser.add_argument("--no-ray", action="store_true", help="skip the Ray backend")
    args = parser.parse_args(argv)
    size = QUICK if args.quick else FULL

    from simulator.sweep import PoolBackend, SequentialBackend, load_spec, run_sweep

    print(f"{time.strftime('%Y-%m-%d %H:%M:%S %z')}; python {platform.python_version()}, {os.cpu_count()} CPUs, "
          f"affinity {len(os.sched_getaffinity(0)) if hasattr(os, 'sched_getaffinity') else '?'}")
    rows: list[Row] = []
    with tempfile.TemporaryDirectory(prefix="sweep-bench-") as tmp:
        work = Path(tmp)
        print(build_trace(size.jobs, work / "trace.parquet"), flush=True)
        (work / "spec.toml").write_text(spec_text(work / "trace.parquet", size))
        spec = load_spec(work / "spec.toml")
        print(f"grid: {len(size.nodes)} clusters x {len(size.load_scales)} load scales x {len(size.policies)} "
              f"policies x {size.seeds} seeds = {spec.num_runs} runs", flush=True)
        rows.append(timed("sequential", 1, lambda: run_sweep(spec, work / "seq", SequentialBackend())))
        rows.append(timed("local pool", args.workers,
                          lambda: run_sweep(spec, work / "pool", PoolBackend(args.workers)), "spawned processes"))
        if args.no_ray:
            rows.append(Row("ray local", args.workers, None, 0, 0, "skipped (--no-ray)"))
        else:
            rows.append(ray_row(spec, work / "ray", args.workers))
        print_table(rows, spec.num_runs)
        outputs = [work / d / "runs.csv" for d in ("seq", "pool", "ray") if (work / d / "runs.csv").is_file()]
        same = len({p.read_bytes() for p in outputs}) == 1
        print(f"runs.csv byte-identical across {len(outputs)} backends: {'yes' if same else 'NO'}")
    ok = same and all(r.failed == 0 and (r.wall_s is not None or "skipped" in r.note) for r in rows)
    return 0 if ok else 1


def ray_row(spec: Any, out: Path, workers: int) -> Row:
    try:
        import ray  # noqa: F401
    except ImportError:
        return Row("ray local", workers, None, 0, 0, 'not available (pip install "gpusched[ray]")')
    from executor.sweep_ray import RaySweepBackend
    from simulator.sweep import run_sweep

    return timed("ray local", workers, lambda: run_sweep(spec, out, RaySweepBackend("local", num_cpus=workers)),
                 "Ray tasks on a runtime started on 127.0.0.1")


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
