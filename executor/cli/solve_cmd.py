"""`gpusched solve`: an offline schedule for a whole trace, its quality against a lower bound."""

from __future__ import annotations

import math
import time
from pathlib import Path
from typing import Annotated, Any

import typer

from executor.cli.common import (
    ClusterFileOpt,
    CrossNodeSlowdownOpt,
    GpuCatalogOpt,
    GpuMemOpt,
    GpusPerNodeOpt,
    GpuTypeOpt,
    NodesOpt,
    SeedOpt,
    SpeedTableOpt,
    TraceArg,
    TraceFormatOpt,
    check_out_dir,
    info,
    load_trace,
    print_report_lines,
    resolve_cluster,
    speed_table_for,
    trace_name,
    user_errors,
)
from traces.errors import UserError


def _fmt(value: float | None, unit: str = "") -> str:
    if value is None or not math.isfinite(value):
        return "n/a"
    return f"{value:,.6g}{unit}"


class _ProgressLines:
    """Incumbent and bound on stderr, at most one line a second (and every improvement after a pause)."""

    def __init__(self) -> None:
        self._last = -math.inf

    def __call__(self, p: Any) -> None:
        now = time.perf_counter()
        if now - self._last < 1.0:
            return
        self._last = now
        info(f"  {p.solver}: {p.wall_s:7.1f} s  objective {_fmt(p.objective)}  bound {_fmt(p.bound)}")


@user_errors
def solve(
    trace: TraceArg = None,
    trace_format: TraceFormatOpt = None,
    cluster: ClusterFileOpt = None,
    nodes: NodesOpt = None,
    gpus_per_node: GpusPerNodeOpt = 8,
    gpu_type: GpuTypeOpt = "V100",
    gpu_mem_gib: GpuMemOpt = 32.0,
    solver: Annotated[
        str, typer.Option("--solver", help="Solver (registry key): cpsat, greedy, lp, sa, ga.")
    ] = "cpsat",
    objective: Annotated[
        str, typer.Option("--objective", help="What to minimise: weighted-completion (sum of weight x JCT), "
                          "makespan, weighted-tardiness (past each job's deadline), energy (busy GPU kWh).")
    ] = "weighted-completion",
    time_limit_s: Annotated[
        float, typer.Option("--time-limit-s", help="Wall-clock limit of the search (CP-SAT, SA, GA).")
    ] = 60.0,
    tick_s: Annotated[
        float | None,
        typer.Option("--tick-s", help="CP-SAT's time unit in seconds (default: derived from the data).",
                     show_default=False),
    ] = None,
    workers: Annotated[int, typer.Option("--workers", help="CP-SAT search workers.")] = 2,
    max_iterations: Annotated[
        int | None,
        typer.Option("--max-iterations", help="Iteration limit of SA / GA (default: the time limit only).",
                     show_default=False),
    ] = None,
    allow_span: Annotated[
        bool, typer.Option("--allow-span/--no-span", help="Let a gang job span nodes (at --cross-node-slowdown).")
    ] = False,
    cross_node_slowdown: CrossNodeSlowdownOpt = 1.0,
    speed_table: SpeedTableOpt = None,
    gpu_catalog: GpuCatalogOpt = None,
    seed: SeedOpt = 0,
    out: Annotated[Path, typer.Option("--out", "-o", help="Directory for schedule.csv and solve.json.")] = Path(
        "gpusched-solve"
    ),
) -> None:
    """Compute an offline schedule for a trace and report how far it can be from optimal.

    Writes schedule.csv (one row per job: job_id, start_s, end_s, gpu_ids as node:gpu joined by ';')
    and solve.json (solver, status, objective, bound, gap, wall time, method). The bound is the best
    lower bound known for the instance, so the gap is honest even where CP-SAT's own bound is weak.
    Replay the schedule in the simulator with `gpusched simulate --policy schedule --schedule FILE`.

    Examples:

      gpusched solve --solver greedy

      gpusched solve trace.csv --nodes 8 --gpus-per-node 8 --solver cpsat --time-limit-s 60 --out plan/

      gpusched solve trace.csv --nodes 8 --solver sa --max-iterations 20000 --objective makespan

      gpusched simulate trace.csv --nodes 8 --policy schedule --schedule plan/schedule.csv
    """
    from simulator.cluster import check_fits
    from simulator.gpu_catalog import GpuCatalog, load_gpu_catalog
    from simulator.results import write_json
    from simulator.run import speed_fn
    from simulator.schedule_io import write_schedule
    from simulator.validate import check, summarize
    from solvers import SOLVERS, make_solver
    from solvers.base import Objective, SolveOptions

    if solver not in SOLVERS:
        raise UserError(f"--solver: expected one of {', '.join(SOLVERS)} but found {solver!r}")
    try:
        goal = Objective(objective)
    except ValueError:
        raise UserError(
            f"--objective: expected one of {', '.join(o.value for o in Objective)} but found {objective!r}"
        ) from None
    for flag, value in (("--time-limit-s", time_limit_s), ("--tick-s", tick_s)):
        if value is not None and not (value > 0 and math.isfinite(value)):
            raise UserError(f"{flag}: expected a number > 0 but found {value!r}")
    if workers < 1:
        raise UserError(f"--workers: expected an integer >= 1 but found {workers}")
    if max_iterations is not None and max_iterations < 1:
        raise UserError(f"--max-iterations: expected an integer >= 1 but found {max_iterations}")
    if not cross_node_slowdown >= 1.0:
        raise UserError(f"--cross-node-slowdown: expected a number >= 1 but found {cross_node_slowdown!r}")
    out = check_out_dir(out, "solve", refuse=("sweep", "capacity"))
    catalog = load_gpu_catalog(gpu_catalog) if gpu_catalog is not None else GpuCatalog.default()
    given = resolve_cluster(cluster, nodes, gpus_per_node, gpu_type, gpu_mem_gib) if cluster or nodes else None
    data = load_trace(trace, trace_format)
    print_report_lines(data.report.lines())
    cl = given or resolve_cluster(None, None, gpus_per_node, gpu_type, gpu_mem_gib, data.cluster)
    check_fits(data.workload, cl, source=trace_name(trace))
    table = speed_table_for(speed_table, cl.gpu_types, data.workload, catalog)
    info(f"cluster: {cl.describe()}; solver {solver}, objective {goal.value}, time limit {time_limit_s:g} s")
    options = SolveOptions(
        objective=goal,
        time_limit_s=time_limit_s,
        tick_s=tick_s,
        workers=workers,
        seed=seed,
        allow_span=allow_span,
        cross_node_slowdown=cross_node_slowdown,
        speed=table,
        gpu_catalog=catalog,
        max_iterations=max_iterations,
        progress=_ProgressLines(),
    )
    result = make_solver(solver).solve(data.workload, cl, options)
    violations = check(result.schedule, data.workload, cl, speed=speed_fn(table))
    if violations:
        # A solver produced an invalid schedule: a bug, not a user error.
        raise RuntimeError(f"solver {solver!r} produced an invalid schedule:\n" + summarize(violations))
    write_schedule(result.schedule, out / "schedule.csv", form="segments")
    write_json(
        {
            "solver": result.solver,
            "status": result.status.value,
            "objective_name": goal.value,
            "objective": result.objective,
            "bound": result.bound,
            "gap": result.gap,
            "proven_optimal": result.proven_optimal,
            "wall_s": result.wall_s,
            "method": result.method,
            "notes": list(result.notes),
            "trace": [str(p) for p in (trace or [])] or ["sample: traces/data/itp-cluster05.csv"],
            "trace_rows_read": data.report.rows_read,
            "trace_rows_skipped": {r.reason: r.count for r in data.report.reasons},
            "num_jobs": len(data.workload),
            "cluster": cl.describe(),
            "options": {
                "time_limit_s": time_limit_s,
                "tick_s": tick_s,
                "workers": workers,
                "seed": seed,
                "max_iterations": max_iterations,
                "allow_span": allow_span,
                "cross_node_slowdown": cross_node_slowdown,
                "speed_table": str(speed_table) if speed_table is not None else None,
                "gpu_catalog": str(gpu_catalog) if gpu_catalog is not None else None,
            },
            "validation": "0 violations",
        },
        out / "solve.json",
    )
    for note in result.notes:
        info(f"note: {note}")
    unit = {"energy": " kWh"}.get(goal.value, " s")
    gap = "n/a" if result.gap is None else f"{100 * result.gap:.2f} %"
    rows = [
        ("solver", f"{result.solver} ({result.method})"),
        ("status", result.status.value + (" (proven optimal)" if result.proven_optimal else "")),
        ("objective", f"{_fmt(result.objective, unit)} ({goal.value})"),
        ("lower bound", _fmt(result.bound, unit)),
        ("gap", gap),
        ("wall time", f"{result.wall_s:.2f} s"),
    ]
    width = max(len(k) for k, _ in rows)
    for k, v in rows:
        typer.echo(f"{k:<{width}}  {v}")
    info(f"schedule validated (0 violations); written to {out}/schedule.csv and {out}/solve.json")
