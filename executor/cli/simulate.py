"""`gpusched simulate`: replay a trace on a modelled GPU cluster under a policy and report what happens."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Annotated, Any

import typer

from executor.cli.common import (
    ClusterFileOpt,
    FormatOpt,
    GpuMemOpt,
    GpusPerNodeOpt,
    GpuTypeOpt,
    NodesOpt,
    OutFormat,
    SeedOpt,
    TraceArg,
    TraceFormatOpt,
    check_out_dir,
    info,
    load_trace,
    print_report_lines,
    resolve_cluster,
    trace_name,
    user_errors,
)
from traces.errors import UserError


@user_errors
def simulate(
    trace: TraceArg = None,
    trace_format: TraceFormatOpt = None,
    cluster: ClusterFileOpt = None,
    nodes: NodesOpt = None,
    gpus_per_node: GpusPerNodeOpt = 8,
    gpu_type: GpuTypeOpt = "V100",
    gpu_mem_gib: GpuMemOpt = 32.0,
    policy: Annotated[str, typer.Option("--policy", help="Queueing policy (registry key): fcfs, sjf.")] = "fcfs",
    placement: Annotated[
        str, typer.Option("--placement", help="Placement: pack, spread, best-fit, random (seeded), topology.")
    ] = "pack",
    cross_node_slowdown: Annotated[
        float, typer.Option("--cross-node-slowdown", help="Run-time factor for a gang job spread over several nodes.")
    ] = 1.0,
    seed: SeedOpt = 0,
    out: Annotated[Path, typer.Option("--out", "-o", help="Directory for the result tables.")] = Path("gpusched-out"),
    fmt: FormatOpt = OutFormat.csv,
) -> None:
    """Replay a trace through the simulator and write jobs, summary, timeline and schedule tables.

    With no arguments it runs the sample trace that ships with gpusched (Microsoft ITP cluster05,
    3.6k jobs) on 2 nodes x 8 V100 GPUs under FCFS and writes ./gpusched-out/.

    Examples:

      gpusched simulate

      gpusched simulate ../shared/traces/philly-pollux/philly.csv --nodes 80 --gpus-per-node 8 --policy sjf

      gpusched simulate trace.parquet --cluster cluster.toml --out results/ --format parquet
    """
    from simulator.cluster import check_fits
    from simulator.placement import PLACEMENTS
    from simulator.policies import POLICIES
    from simulator.results import write_json, write_results
    from simulator.run import SimConfig
    from simulator.run import simulate as run_simulation
    from simulator.validate import check, summarize

    if policy not in POLICIES:
        raise UserError(f"--policy: expected one of {', '.join(POLICIES)} but found {policy!r}")
    if placement not in PLACEMENTS:
        raise UserError(f"--placement: expected one of {', '.join(PLACEMENTS)} but found {placement!r}")
    if not cross_node_slowdown >= 1.0:
        raise UserError(f"--cross-node-slowdown: expected a factor >= 1 but found {cross_node_slowdown}")
    out = check_out_dir(out)
    t0 = time.perf_counter()
    # A cluster given by the user is checked before the (possibly long) trace read.
    given = resolve_cluster(cluster, nodes, gpus_per_node, gpu_type, gpu_mem_gib) if cluster or nodes else None
    data = load_trace(trace, trace_format)
    print_report_lines(data.report.lines())
    cl = given or resolve_cluster(None, None, gpus_per_node, gpu_type, gpu_mem_gib, data.cluster)
    info(f"cluster: {cl.describe()}; policy {policy}, placement {placement}, seed {seed}")
    check_fits(data.workload, cl, source=trace_name(trace))
    config = SimConfig(policy=policy, placement=placement, seed=seed, cross_node_slowdown=cross_node_slowdown)
    result = run_simulation(data.workload, cl, config)
    violations = check(result.schedule, data.workload, cl)
    if violations:
        # The engine produced an invalid schedule: a bug, not a user error.
        raise RuntimeError("the simulator produced an invalid schedule:\n" + summarize(violations))
    write_results(result, out, fmt.value)
    run_info = {
        "trace": [str(p) for p in (trace or [])] or ["sample: traces/data/itp-cluster05.csv"],
        "run_id": result.config.run_id,
        "trace_rows_read": data.report.rows_read,
        "trace_rows_skipped": {r.reason: r.count for r in data.report.reasons},
        "cluster": cl.describe(),
        "config": {"policy": policy, "placement": placement, "seed": seed, "cross_node_slowdown": cross_node_slowdown},
        "notes": list(result.notes),
        "validation": "0 violations",
    }
    write_json(run_info, out / "run.json")
    info(f"simulated {len(data.workload)} jobs in {time.perf_counter() - t0:.2f} s")
    _print_summary(result, out)


def _print_summary(result: Any, out: Path) -> None:
    table = result.summary
    summary = dict(zip(table.column("metric").to_pylist(), table.column("value").to_pylist(), strict=True))
    rows = [
        ("jobs", f"{summary['num_jobs']:.0f}"),
        ("mean JCT", _h(summary["mean_jct_s"])),
        ("p95 JCT", _h(summary["p95_jct_s"])),
        ("mean wait", _h(summary["mean_wait_s"])),
        ("p95 wait", _h(summary["p95_wait_s"])),
        ("mean slowdown", f"{summary['mean_slowdown']:.2f}"),
        ("GPU utilisation", f"{100 * summary['gpu_utilisation']:.1f} %"),
        ("makespan", _h(summary["makespan_s"])),
    ]
    for k, v in rows:
        typer.echo(f"{k:16} {v}")
    for note in result.notes:  # type: ignore[attr-defined]
        info(f"note: {note}")
    info(f"schedule validated (0 violations); tables written to {out}/")


def _h(seconds: float) -> str:
    return f"{seconds / 3600:.2f} h ({seconds:.0f} s)"


__all__ = ["simulate"]
