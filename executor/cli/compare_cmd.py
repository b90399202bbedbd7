"""`gpusched compare`: how far predicted job times (simulate, solve) are from measured ones (execute)."""

from __future__ import annotations

import math
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from executor.cli.common import FormatOpt, OutFormat, check_out_dir, info, user_errors
from traces.errors import UserError

if TYPE_CHECKING:
    from executor.compare import Comparison

RunsArg = Annotated[
    list[Path],
    typer.Argument(
        help="Pairs PREDICTED MEASURED. PREDICTED: a `gpusched simulate` or `gpusched solve` output folder, "
        "a jobs table (job_id,start_s,end_s[,submit_s]) or a schedule file; MEASURED: a `gpusched execute` "
        "output folder or its jobs.csv. Tables may be .csv, .csv.gz, .parquet or .json.",
        show_default=False,
        metavar="PREDICTED MEASURED",
    ),
]


def _pct(value: float) -> str:
    return "n/a" if not math.isfinite(value) else f"{100 * value:+.1f} %"


def _abs_pct(value: float) -> str:
    return "n/a" if not math.isfinite(value) else f"{100 * value:.1f} %"


def _secs(value: float) -> str:
    return "n/a" if not math.isfinite(value) else f"{value:,.6g}"


@user_errors
def compare(
    runs: RunsArg,
    out: Annotated[
        Path, typer.Option("--out", "-o", help="Directory for compare_jobs, compare_summary, compare.json and plots.")
    ] = Path("gpusched-compare"),
    fmt: FormatOpt = OutFormat.csv,
    plots: Annotated[
        bool, typer.Option("--plots/--no-plots", help="Draw scatter.png (JCT) and gantt.png.")
    ] = True,
    gantt_jobs: Annotated[
        int, typer.Option("--gantt-jobs", help="Most jobs per run drawn in gantt.png (the first by submit time).")
    ] = 100,
) -> None:
    """Compare predicted job times with measured ones, job by job, and summarise the error.

    Jobs are matched by job_id. JCT = end - submit in trace seconds (execute already divides wall
    times by its --time-scale); the error is measured - predicted, as a fraction of the prediction
    (positive: the job took longer than predicted). Only jobs that completed in the measured run
    enter the statistics (median, p95 and mean absolute JCT error, error of the mean JCT, makespan
    error, bias = median signed error); jobs on one side only and other statuses are counted and
    reported. A solve output has no submit times: the measured run's are used.

    Writes compare_jobs.<format> (one row per job), compare_summary.<format> (long form: label,
    metric, value), compare.json (summaries, missing job ids, notes), scatter.png and gantt.png.
    The label of a pair is the simulate policy, "solver:<name>" for a solve output, else the
    folder or file name.

    Examples:

      gpusched simulate trace.csv --nodes 2 --out pred

      gpusched execute pred/schedule.csv --time-scale 0.001 --out meas

      gpusched compare pred meas --out cmp

      gpusched compare pred meas plan meas-plan --out cmp --format parquet

      gpusched compare plan/schedule.csv meas/jobs.csv --no-plots
    """
    from executor.compare import compare as compare_runs
    from executor.compare import distinct_labels, load_measured, load_predicted, write_comparison

    if not runs or len(runs) % 2:
        raise UserError(
            f"expected pairs PREDICTED MEASURED but found {len(runs)} path(s); give an even number of paths"
        )
    if gantt_jobs < 1:
        raise UserError(f"--gantt-jobs: expected an integer >= 1 but found {gantt_jobs}")
    pairs = [(load_predicted(p), load_measured(m)) for p, m in zip(runs[::2], runs[1::2], strict=True)]
    labels = distinct_labels([p.label for p, _ in pairs])
    comparisons = [compare_runs(p, m, label=label) for (p, m), label in zip(pairs, labels, strict=True)]
    out = check_out_dir(out)
    paths = write_comparison(comparisons, out, fmt.value)
    written = [paths["jobs"].name, paths["summary"].name, paths["doc"].name]
    if plots:
        from executor.plots import gantt, scatter_jct

        written.append(scatter_jct(comparisons, out / "scatter.png").name)
        written.append(gantt(comparisons, out / "gantt.png", max_jobs=gantt_jobs).name)
    for c in comparisons:
        for note in c.notes:
            info(f"{c.label}: {note}")
    _print_summary(comparisons)
    info(f"written to {out}/: {', '.join(written)}")


def _print_summary(comparisons: Sequence[Comparison]) -> None:
    from rich.console import Console
    from rich.table import Table

    table = Table(title="Predicted vs measured JCT (error = measured - predicted, of predicted)")
    for name in ("label", "compared", "missing pred/meas", "median |err|", "p95 |err|", "bias",
                 "mean JCT pred (s)", "mean JCT meas (s)", "mean JCT err", "makespan err"):
        table.add_column(name, justify="left" if name == "label" else "right")
    for c in comparisons:
        s = c.summary
        table.add_row(
            c.label,
            f"{s.n_compared}/{s.n_jobs}",
            f"{s.n_missing_predicted}/{s.n_missing_measured}",
            _abs_pct(s.median_abs_jct_err_frac),
            _abs_pct(s.p95_abs_jct_err_frac),
            _pct(s.bias),
            _secs(s.mean_jct_predicted_s),
            _secs(s.mean_jct_measured_s),
            _pct(s.mean_jct_err_frac),
            _pct(s.makespan_err_frac),
        )
    console = Console()
    if not console.is_terminal:
        console = Console(width=160)  # piped or captured: do not squeeze the columns to 80
    console.print(table)
