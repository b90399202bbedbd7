"""`gpusched traces ...`: look at, check, convert and generate workloads."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated, Any

import numpy as np
import typer

from executor.cli.common import (
    ClusterFileOpt,
    GpuMemOpt,
    GpusPerNodeOpt,
    GpuTypeOpt,
    NodesOpt,
    TraceArg,
    TraceFormatOpt,
    info,
    load_trace,
    print_report_lines,
    resolve_cluster,
    trace_name,
    user_errors,
)
from traces.errors import UserError

app = typer.Typer(
    help="Inspect, validate, convert and synthesise workloads.",
    no_args_is_help=True,
    context_settings={"help_option_names": ["-h", "--help"]},
)


def _fmt_s(seconds: float) -> str:
    if not np.isfinite(seconds):
        return "-"
    for unit, size in (("d", 86400.0), ("h", 3600.0), ("min", 60.0)):
        if seconds >= size:
            return f"{seconds / size:.1f} {unit}"
    return f"{seconds:.0f} s"


def describe_workload(data: Any, cluster: Any) -> dict[str, Any]:
    """The numbers `traces inspect` shows, as plain data (also written with --json)."""
    wl = data.workload
    n = len(wl)
    gpus, counts = np.unique(wl.num_gpus, return_counts=True)
    q = np.quantile(wl.duration_s, [0.0, 0.25, 0.5, 0.75, 0.9, 0.99, 1.0]) if n else np.zeros(7)
    statuses: dict[str, int] = {}
    for s in wl.status.values():
        statuses[s or "unknown"] = statuses.get(s or "unknown", 0) + 1
    return {
        "jobs": n,
        "first_submit_s": float(wl.submit_s[0]) if n else None,
        "span_s": wl.span_s,
        "gpu_count_histogram": {int(g): int(c) for g, c in zip(gpus, counts, strict=True)},
        "duration_quantiles_s": dict(
            zip(["min", "p25", "p50", "p75", "p90", "p99", "max"], map(float, q), strict=True)
        ),
        "total_gpu_hours": float(wl.gpu_s.sum() / 3600.0),
        "status": statuses,
        "users": len(wl.user.categories),
        "groups": len(wl.group.categories),
        "cluster": cluster.describe(),
        "cluster_gpus": cluster.num_gpus,
        "offered_load": wl.offered_load(cluster.num_gpus),
        "rows_read": data.report.rows_read,
        "rows_skipped": {r.reason: r.count for r in data.report.reasons},
    }


@app.command()
@user_errors
def inspect(
    trace: TraceArg = None,
    trace_format: TraceFormatOpt = None,
    cluster: ClusterFileOpt = None,
    nodes: NodesOpt = None,
    gpus_per_node: GpusPerNodeOpt = 8,
    gpu_type: GpuTypeOpt = "V100",
    gpu_mem_gib: GpuMemOpt = 32.0,
    as_json: Annotated[bool, typer.Option("--json", help="Print the numbers as JSON on stdout.")] = False,
) -> None:
    """Summarise a trace: jobs, time span, GPU counts, durations, skipped rows, offered load.

    Example: gpusched traces inspect ../shared/traces/philly-pollux/philly.csv --nodes 64
    """
    data = load_trace(trace, trace_format)
    cl = resolve_cluster(cluster, nodes, gpus_per_node, gpu_type, gpu_mem_gib, data.cluster)
    d = describe_workload(data, cl)
    if as_json:
        typer.echo(json.dumps(d, indent=2, sort_keys=True))
        return
    print_report_lines(data.report.lines())
    typer.echo(f"jobs:            {d['jobs']}")
    typer.echo(f"time span:       {_fmt_s(d['span_s'])} ({d['span_s']:.0f} s)")
    typer.echo(f"GPU-hours:       {d['total_gpu_hours']:.1f}")
    typer.echo("GPUs per job:    " + ", ".join(f"{g}: {c}" for g, c in d["gpu_count_histogram"].items()))
    typer.echo("duration:        " + ", ".join(f"{k} {_fmt_s(v)}" for k, v in d["duration_quantiles_s"].items()))
    typer.echo("status:          " + ", ".join(f"{k}: {v}" for k, v in sorted(d["status"].items())))
    if d["users"] or d["groups"]:
        typer.echo(f"users / groups:  {d['users']} / {d['groups']}")
    typer.echo(f"cluster:         {d['cluster']}")
    typer.echo(f"offered load:    {d['offered_load']:.2f} (GPU-seconds demanded per second of span / GPUs)")


@app.command()
@user_errors
def validate(
    trace: TraceArg = None,
    trace_format: TraceFormatOpt = None,
    cluster: ClusterFileOpt = None,
    nodes: NodesOpt = None,
    gpus_per_node: GpusPerNodeOpt = 8,
    gpu_type: GpuTypeOpt = "V100",
    gpu_mem_gib: GpuMemOpt = 32.0,
) -> None:
    """Check that a trace reads cleanly and that every job can run on the cluster (exit 2 if not).

    Example: gpusched traces validate my-trace.csv --nodes 4 --gpus-per-node 8
    """
    from simulator.cluster import check_fits

    data = load_trace(trace, trace_format)
    cl = resolve_cluster(cluster, nodes, gpus_per_node, gpu_type, gpu_mem_gib, data.cluster)
    print_report_lines(data.report.lines())
    check_fits(data.workload, cl, source=trace_name(trace))
    typer.echo(f"ok: {len(data.workload)} jobs, all fit on {cl.describe()}")


@app.command()
@user_errors
def convert(
    source: Annotated[list[Path], typer.Argument(help="Input trace file(s), any readable format.")],
    out: Annotated[Path, typer.Option("--out", "-o", help="Output file: .csv, .csv.gz or .parquet (native format).")],
    trace_format: TraceFormatOpt = None,
) -> None:
    """Convert any readable trace to gpusched's native CSV or Parquet format (lossless).

    Example: gpusched traces convert ../shared/traces/philly-pollux/philly.csv --out philly.parquet
    """
    from traces.readers.native import write_native

    data = load_trace(source, trace_format)
    print_report_lines(data.report.lines())
    write_native(data.workload, out)
    info(f"wrote {len(data.workload)} jobs to {out}")


@app.command()
def formats() -> None:
    """List the trace formats gpusched reads (use a key with --trace-format)."""
    from traces.readers.registry import READERS

    for key, cls in READERS.items():
        typer.echo(f"{key:16} {cls.description}")


@app.command()
@user_errors
def synth(
    out: Annotated[Path, typer.Option("--out", "-o", help="Output file: .csv, .csv.gz or .parquet (native format).")],
    spec_file: Annotated[
        Path | None,
        typer.Option(
            "--spec",
            help="TOML file with the spec (keys = the flag names with _); flags are then not allowed.",
            show_default=False,
        ),
    ] = None,
    num_jobs: Annotated[int, typer.Option("--num-jobs", help="Number of jobs.")] = 10_000,
    arrival: Annotated[str, typer.Option("--arrival", help="poisson or diurnal (sinusoidal daily rate).")] = "poisson",
    load: Annotated[
        float | None,
        typer.Option(
            "--load",
            help="Offered load against the cluster (GPU-s demanded per s / GPUs); default 0.7 unless --rate.",
            show_default=False,
        ),
    ] = None,
    rate: Annotated[
        float | None, typer.Option("--rate", help="Arrival rate in jobs/s (instead of --load).", show_default=False)
    ] = None,
    peak_to_trough: Annotated[float, typer.Option("--peak-to-trough", help="Diurnal peak/trough rate ratio.")] = 3.0,
    period_s: Annotated[float, typer.Option("--period-s", help="Diurnal period in seconds.")] = 86400.0,
    duration_dist: Annotated[
        str, typer.Option("--duration-dist", help="exponential, lognormal or resample.")
    ] = "exponential",
    mean_duration_s: Annotated[float, typer.Option("--mean-duration-s", help="Mean duration (exponential).")] = 3600.0,
    median_duration_s: Annotated[
        float, typer.Option("--median-duration-s", help="Median duration (lognormal).")
    ] = 1800.0,
    duration_sigma: Annotated[float, typer.Option("--duration-sigma", help="Log-space sigma (lognormal).")] = 1.5,
    gpus: Annotated[
        str, typer.Option("--gpus", help='GPU-count distribution "1:0.7,2:0.1,4:0.1,8:0.1", or "resample".')
    ] = "1:1",
    users: Annotated[
        int | None, typer.Option("--users", help="Number of users (Zipf-skewed).", show_default=False)
    ] = None,
    resample_from: Annotated[
        list[Path] | None,
        typer.Option(
            "--resample-from", help="Trace whose durations / GPU counts are resampled.", show_default=False
        ),
    ] = None,
    trace_format: TraceFormatOpt = None,
    cluster: ClusterFileOpt = None,
    nodes: NodesOpt = None,
    gpus_per_node: GpusPerNodeOpt = 8,
    gpu_type: GpuTypeOpt = "V100",
    gpu_mem_gib: GpuMemOpt = 32.0,
    seed: Annotated[int, typer.Option("--seed", help="Seed; same seed and flags, same workload.")] = 0,
) -> None:
    """Generate a seeded synthetic workload (Poisson or diurnal arrivals) in the native format.

    --load sets the arrival rate so the workload offers that load to the cluster given by
    --nodes/--gpus-per-node or --cluster (default 2 x 8 GPUs).

    Examples:

      gpusched traces synth --out mm8.parquet --num-jobs 100000 --load 0.8 --nodes 1 --gpus-per-node 8

      gpusched traces synth --out day.csv --arrival diurnal --duration-dist lognormal --gpus 1:0.7,2:0.2,8:0.1

      gpusched traces synth --out like-philly.csv --duration-dist resample --gpus resample --resample-from philly.csv
    """
    from traces.readers.native import write_native
    from traces.synth import SynthSpec, generate, parse_gpu_counts

    cl = resolve_cluster(cluster, nodes, gpus_per_node, gpu_type, gpu_mem_gib)
    if spec_file is not None:
        spec = SynthSpec.from_toml(spec_file)
    else:
        if rate is not None and load is not None:
            raise UserError("give either --load or --rate, not both")
        spec = SynthSpec(
            num_jobs=num_jobs,
            arrival=arrival,
            rate_per_s=rate,
            load=None if rate is not None else (0.7 if load is None else load),
            cluster_gpus=None if rate is not None else cl.num_gpus,
            peak_to_trough=peak_to_trough if arrival == "diurnal" else None,
            period_s=period_s,
            duration=duration_dist,
            mean_duration_s=mean_duration_s if duration_dist == "exponential" else None,
            median_duration_s=median_duration_s if duration_dist == "lognormal" else None,
            duration_sigma=duration_sigma if duration_dist == "lognormal" else None,
            gpu_counts=parse_gpu_counts(gpus),
            num_users=users,
        )
    source = load_trace(resample_from, trace_format).workload if resample_from else None
    workload = generate(spec, np.random.default_rng(seed), resample_from=source)
    write_native(workload, out)
    info(
        f"wrote {len(workload)} jobs to {out} (span {_fmt_s(workload.span_s)}, "
        f"offered load {workload.offered_load(cl.num_gpus):.2f} on {cl.describe()})"
    )


__all__ = ["app", "describe_workload"]
