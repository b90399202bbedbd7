"""`gpusched report`: figures and one self-contained report.html from gpusched output folders."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from executor.cli.common import check_out_dir, info, user_errors
from traces.errors import UserError

DirsArg = Annotated[
    list[Path],
    typer.Argument(
        help="Output folders of `gpusched simulate`, `solve`, `execute`, `compare`, `sweep` or `capacity` "
        "(the kind of each is told by its files).",
        show_default=False,
        metavar="DIR...",
    ),
]


@user_errors
def report(
    dirs: DirsArg,
    out: Annotated[
        Path | None,
        typer.Option("--out", "-o", help="Folder for report.html and the PNGs [default: DIR, when one folder is "
                     "given].", show_default=False),
    ] = None,
    max_gantt_jobs: Annotated[
        int, typer.Option("--max-gantt-jobs", help="Draw Gantt charts only for runs with at most this many jobs.")
    ] = 200,
) -> None:
    """Draw a run's (or several runs') figures and write one report.html that needs nothing else to open.

    From simulate and execute runs: JCT and wait CDFs, wait by job size, utilisation and queue over
    time, a Gantt chart of GPUs (runs of at most --max-gantt-jobs jobs), planned vs measured for an
    execute run. From a solve output: its quality against the bound and its Gantt chart. From a
    compare output: predicted-vs-measured scatter and Gantt. From a sweep: heat maps (e.g. p95 wait
    over cluster x load per policy), cost against p95 wait with the Pareto front, CDFs per policy.
    From a capacity answer: theory and simulation side by side, the wait of every simulated size.
    Several folders go into one report, their runs side by side. Images are embedded as data: URIs,
    so report.html can be mailed or archived on its own.

    Examples:

      gpusched simulate --out run && gpusched report run

      gpusched report fcfs-run sjf-run las-run --out cmp-report

      gpusched report sweep-out --max-gantt-jobs 0
    """
    from executor.report import REPORT_FILE, build_report, detect_kind

    if not dirs:
        raise UserError("expected one or more gpusched output folders")
    if max_gantt_jobs < 0:
        raise UserError(f"--max-gantt-jobs: expected an integer >= 0 but found {max_gantt_jobs}")
    if out is None:
        if len(dirs) > 1:
            raise UserError(f"{len(dirs)} folders given; say where the report goes with --out DIR")
        out = dirs[0]
    for d in dirs:  # an unknown folder fails before the output folder is made
        detect_kind(d)
    out = check_out_dir(out)
    result = build_report(dirs, out, max_gantt_jobs=max_gantt_jobs)
    info(f"{len(result.images)} figure(s) from {len(dirs)} folder(s) ({', '.join(result.kinds)}); "
         f"written to {out}/{REPORT_FILE}")
    typer.echo(str(result.html))


__all__ = ["report"]
