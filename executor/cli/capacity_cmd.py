"""`gpusched capacity`: how many GPUs a trace needs for a wait target, by theory and by simulation.

A thin shell over `simulator.capacity`: parse and check the flags, read the trace, run the
search with a progress bar over the simulations, print one table with both answers side
by side and the reasons they differ, and optionally write capacity.csv, probes.csv and
capacity.json.
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Annotated, Any

import typer

from executor.cli.common import (
    GpuCatalogOpt,
    GpuMemOpt,
    GpusPerNodeOpt,
    SpeedTableOpt,
    TraceArg,
    TraceFormatOpt,
    check_out_dir,
    info,
    load_trace,
    print_report_lines,
    speed_table_for,
    trace_name,
    user_errors,
)
from traces.errors import UserError

CAPACITY_CSV = "capacity.csv"
PROBES_CSV = "probes.csv"
CAPACITY_JSON = "capacity.json"


def _target(p95_wait_s: float | None, mean_wait_s: float | None, gpus: int | None) -> tuple[Any, int | None]:
    """Exactly one of the three; a wait target as `WaitTarget`, or the GPU count for reverse mode."""
    from simulator.capacity import WaitStat, WaitTarget

    given = [flag for flag, v in (("--p95-wait-s", p95_wait_s), ("--mean-wait-s", mean_wait_s), ("--gpus", gpus))
             if v is not None]
    if len(given) != 1:
        found = f"; got {' and '.join(given)}" if given else ""
        raise UserError(f"give exactly one of --p95-wait-s SECONDS, --mean-wait-s SECONDS (size the cluster) or "
                        f"--gpus N (the waits on N GPUs){found}")
    if gpus is not None:
        if gpus < 1:
            raise UserError(f"--gpus must be an integer >= 1, got {gpus}")
        return None, gpus
    if p95_wait_s is not None:
        if not (math.isfinite(p95_wait_s) and p95_wait_s >= 0):
            raise UserError(f"--p95-wait-s must be a finite number of seconds >= 0, got {p95_wait_s:g}")
        return WaitTarget(WaitStat.p95, p95_wait_s), None
    assert mean_wait_s is not None
    if not (math.isfinite(mean_wait_s) and mean_wait_s > 0):
        raise UserError(f"--mean-wait-s must be a finite number of seconds > 0, got {mean_wait_s:g}")
    return WaitTarget(WaitStat.mean, mean_wait_s), None


@user_errors
def capacity(
    gpu_type: Annotated[
        str, typer.Option("--gpu-type", help="GPU type of every node (with --speed-table: the type's speed factor "
                          "scales every job's run time).", show_default=False)
    ],
    trace: TraceArg = None,
    trace_format: TraceFormatOpt = None,
    p95_wait_s: Annotated[
        float | None, typer.Option("--p95-wait-s", help="Target: 95% of jobs wait at most this many seconds.",
                                   show_default=False)
    ] = None,
    mean_wait_s: Annotated[
        float | None, typer.Option("--mean-wait-s", help="Target: the mean wait is at most this many seconds.",
                                   show_default=False)
    ] = None,
    gpus: Annotated[
        int | None, typer.Option("--gpus", help="Reverse mode: the mean and p95 waits on this many GPUs (a multiple "
                                 "of --gpus-per-node).", show_default=False)
    ] = None,
    gpus_per_node: GpusPerNodeOpt = 8,
    gpu_mem_gib: GpuMemOpt = 32.0,
    policy: Annotated[str, typer.Option("--policy", help="Queueing policy of the simulated runs.")] = "fcfs",
    placement: Annotated[str, typer.Option("--placement", help="Placement of the simulated runs.")] = "pack",
    seeds: Annotated[
        int, typer.Option("--seeds", help="Seeds 0..N-1 per simulated size: the mean wait is the mean over seeds, "
                          "the p95 is over all seeds' waits pooled.")
    ] = 3,
    load_scale: Annotated[
        float, typer.Option("--load-scale", help="Compress the arrivals by this factor (offered load x factor).")
    ] = 1.0,
    max_jobs: Annotated[
        int | None, typer.Option("--max-jobs", help="Use only the first N jobs by submit time.", show_default=False)
    ] = None,
    max_nodes: Annotated[
        int | None,
        typer.Option("--max-nodes", help="Largest cluster to simulate (default: the zero-wait size, where every job "
                     "can start on arrival).", show_default=False),
    ] = None,
    speed_table: SpeedTableOpt = None,
    gpu_catalog: GpuCatalogOpt = None,
    out: Annotated[
        Path | None, typer.Option("--out", "-o", help="Directory for capacity.csv, probes.csv and capacity.json.",
                                  show_default=False)
    ] = None,
    progress: Annotated[
        bool | None,
        typer.Option("--progress/--no-progress", help="Progress bar over the simulations on stderr for searches "
                     "over a second (default: on when stderr is a terminal)."),
    ] = None,
) -> None:
    """How many GPUs a trace needs for a wait target, by queueing theory and by simulation.

    The smallest whole-node cluster meeting the target by M/M/c and Allen-Cunneen theory next to a
    bisection with the simulator, with the gap between them explained. With --gpus N: the waits on
    N GPUs.

    Theory sees the trace as M/M/c: c = GPUs, arrivals per second, and mean GPU-seconds per job as the
    service time (a k-GPU job counts as one server busy k times as long). The simulator replays the trace
    on NODES x GPUS-PER-NODE GPUs of --gpu-type for each size it tries.

    Examples:

      gpusched capacity --gpu-type V100 --p95-wait-s 3600

      gpusched capacity trace.csv --gpu-type A100 --mean-wait-s 600 --gpus-per-node 4 --speed-table speeds.toml

      gpusched capacity --gpu-type V100 --gpus 32 --seeds 5 --out capacity-out/
    """
    import solvers.rolling  # noqa: F401  (registers the cpsat-rolling policy)
    from executor.cli.progress import DelayedProgress
    from simulator.capacity import (
        SearchSpace,
        evaluate_size,
        size_cluster,
    )
    from simulator.gpu_catalog import GpuCatalog, load_gpu_catalog
    from simulator.gpu_speed import catalog_speed_profile
    from simulator.run import SimConfig

    target, n_gpus = _target(p95_wait_s, mean_wait_s, gpus)
    if seeds < 1:
        raise UserError(f"--seeds must be an integer >= 1, got {seeds}")
    if not (math.isfinite(load_scale) and load_scale > 0):
        raise UserError(f"--load-scale must be a finite number > 0, got {load_scale:g}")
    if max_jobs is not None and max_jobs < 2:
        raise UserError(f"--max-jobs must be an integer >= 2, got {max_jobs}")
    if not (math.isfinite(gpu_mem_gib) and gpu_mem_gib > 0):
        raise UserError(f"--gpu-mem-gib must be a finite number > 0, got {gpu_mem_gib:g}")
    space = SearchSpace(gpu_type, gpus_per_node, gpu_mem_gib, max_nodes)
    use_catalog_speed, _ = catalog_speed_profile(speed_table)
    if speed_table is not None and not use_catalog_speed:  # a bad file or type: before the trace is read
        speed_table_for(speed_table, [gpu_type], None, None)
    if out is not None:
        out = check_out_dir(out, "capacity")
    data = load_trace(trace, trace_format)
    print_report_lines(data.report.lines())
    workload = data.workload
    if max_jobs is not None and max_jobs < len(workload):
        workload = workload.take(list(range(max_jobs)))
        info(f"using the first {max_jobs} of {len(data.workload)} jobs (--max-jobs)")
    catalog = load_gpu_catalog(gpu_catalog) if gpu_catalog is not None else GpuCatalog.default()
    table = speed_table_for(speed_table, [gpu_type], workload, catalog)
    base = SimConfig(policy=policy, placement=placement, speed_table=table, gpu_catalog=catalog)
    what = f"{target.label}" if target is not None else f"the waits on {n_gpus} GPUs"
    info(f"capacity for {what}: {trace_name(trace)}, {len(workload)} jobs, nodes of {gpus_per_node} x {gpu_type}, "
         f"{policy}/{placement}, {seeds} seed(s)")
    seed_list = tuple(range(seeds))
    with DelayedProgress("capacity", progress, unit="simulations") as bar:
        if target is None:
            assert n_gpus is not None
            result = evaluate_size(workload, n_gpus, space, base=base, seeds=seed_list, load_scale=load_scale,
                                   progress=bar)
        else:
            result = size_cluster(workload, target, space, base=base, seeds=seed_list, load_scale=load_scale,
                                  progress=bar)
    _print_table(result)
    for line in result.explanation:
        typer.echo(f"- {line}")
    if out is not None:
        _write(result, out, trace)
        from executor.report import build_report

        built = build_report([out], out)
        info(f"capacity.csv, probes.csv, capacity.json and {built.html.name} ({len(built.images)} figures) "
             f"written to {out}/")


def _write(result: Any, out: Path, trace: list[Path] | None) -> None:
    from simulator.capacity import comparison_table, probes_table
    from simulator.results import write_json, write_table

    write_table(comparison_table(result), out / CAPACITY_CSV, "csv")
    write_table(probes_table(result), out / PROBES_CSV, "csv")
    doc = result.to_dict()
    doc["trace"] = [str(p) for p in (trace or [])] or ["sample: traces/data/itp-cluster05.csv"]
    write_json(doc, out / CAPACITY_JSON)


def _dur(value: float | None) -> str:
    if value is None or math.isnan(value):
        return "-"
    if math.isinf(value):
        return "inf"
    if value < 3600:
        return f"{value:,.0f} s"
    return f"{value / 3600:,.2f} h"


def _count(value: float | None) -> str:
    return "-" if value is None else f"{value:.0f}"


def _pct(value: float | None) -> str:
    return "-" if value is None or math.isnan(value) else f"{100 * value:.1f} %"


_LABELS = {"mean_wait_s": "mean wait", "p95_wait_s": "p95 wait", "utilisation": "utilisation"}


def _print_table(result: Any) -> None:
    from rich.console import Console
    from rich.table import Table

    rows = result_rows(result)
    typer.echo(_title(result))
    table = Table()
    for name in ("", "M/M/c", "Allen-Cunneen", "simulation"):
        table.add_column(name, justify="left" if not name else "right")
    for row in rows:
        table.add_row(*row)
    console = Console()
    if not console.is_terminal:  # a pipe or a log: no terminal width to respect, so do not wrap cells
        console = Console(width=120)
    console.print(table)


def _title(result: Any) -> str:
    s = result.stats
    head = (f"{result.target.label}" if result.target is not None
            else f"waits on {result.sim_gpus} GPUs")
    return (f"capacity: {head}; {s.num_jobs} jobs, {s.offered_load_gpus:.3g} GPUs offered load, nodes of "
            f"{result.space.gpus_per_node} x {result.space.gpu_type}, {result.policy}/{result.placement}, "
            f"{len(result.seeds)} seed(s)")


def result_rows(result: Any) -> list[tuple[str, str, str, str]]:
    """The printed table's rows: label, M/M/c, Allen-Cunneen, simulation."""
    from simulator.capacity import comparison_table

    out: list[tuple[str, str, str, str]] = []
    g = result.space.gpus_per_node
    for row in comparison_table(result).to_pylist():
        q = row["quantity"]
        if q == "gpus_needed":
            label, fmt = "GPUs needed", _count
        elif q == "nodes_needed":
            label, fmt = f"nodes needed (x {g})", _count
        else:
            label = f"{_LABELS[q]} on {row['gpus']} GPUs{_where(result, row['gpus'])}"
            fmt = _pct if q == "utilisation" else _dur
        out.append((label, fmt(row["mmc"]), fmt(row["allen_cunneen"]), fmt(row["simulation"])))
    return out


def _where(result: Any, gpus: int) -> str:
    if result.target is None:
        return ""
    tags = []
    if result.mmc_nodes is not None and gpus == result.mmc_nodes * result.space.gpus_per_node:
        tags.append("theory's size")
    if gpus == result.sim_gpus:
        tags.append("simulated answer")
    return f" ({', '.join(tags)})" if tags else ""


__all__ = ["capacity"]
