"""`gpusched predict ...`: train a job duration predictor on a trace's past and score it on its future.

A thin shell over `simulator.predict`: `train` reads a trace, fits the model on the first
part of it by submission time, prints the held-out metrics of the model next to the
per-user median baseline and the global median, and writes the model file; `eval` scores
a model file on a trace's held-out part (or every job) the same way. The model file is
what `gpusched simulate --durations predicted:MODEL` uses.
"""

from __future__ import annotations

import enum
import math
from collections.abc import Mapping
from pathlib import Path
from typing import Annotated, Any

import numpy as np
import typer

from executor.cli.common import (
    TraceArg,
    TraceFormatOpt,
    info,
    load_trace,
    print_report_lines,
    trace_name,
    user_errors,
)
from traces.errors import UserError

app = typer.Typer(
    help="Predict job durations from what is known at submission: train a model on a trace's past (`train`) "
    "and score it on its future (`eval`).",
    no_args_is_help=True,
    context_settings={"help_option_names": ["-h", "--help"]},
)

# Why the features are honest, and what they assume (printed with every table).
HISTORY_NOTE = ("features use only jobs finished by each submission, a job counting as finished at submit + "
                "duration (traces record no start times, so the earliest it can have ended); hour and weekday "
                "are taken from the trace's own epoch")


class ModelKind(enum.StrEnum):
    gbm = "gbm"
    median = "median"


TestFractionOpt = Annotated[
    float | None,
    typer.Option("--test-fraction", help="The last fraction of the jobs by submit time held out for testing "
                 "(never trained on); default: 0.2 for train, the model's for eval.", show_default=False),
]


def _h(seconds: float) -> str:
    if math.isnan(seconds):
        return "-"
    return f"{seconds / 3600:.2f} h" if seconds >= 3600 else f"{seconds:.0f} s"


def _print_metrics(metrics: Mapping[str, Any]) -> None:
    """One row per predictor: MAE, median |ln ratio| (and the factor it means), fraction within 2x."""
    typer.echo(f"{'predictor':<14} {'jobs':>7} {'MAE':>10} {'median |ln(pred/actual)|':>26} {'within 2x':>10}")
    for name, m in metrics.items():
        r = m.median_abs_log_ratio
        ratio = "-" if math.isnan(r) else f"{r:.3f} (x{math.exp(r):.2f})"
        within = "-" if math.isnan(m.within_2x) else f"{100 * m.within_2x:.1f} %"
        typer.echo(f"{name:<14} {m.rows:>7} {_h(m.mae_s):>10} {ratio:>26} {within:>10}")


def _held_out_line(rows: int, total: int, first_submit_s: float | None, span_from_s: float) -> str:
    if first_submit_s is None:
        return f"every job ({rows})"
    day = (first_submit_s - span_from_s) / 86400
    return f"the last {rows} of {total} jobs, submitted from day {day:.1f} of the trace on"


@app.command("train")
@user_errors
def train_cmd(
    out: Annotated[Path, typer.Option("--out", "-o", help="Model file to write (JSON).", show_default=False)],
    trace: TraceArg = None,
    trace_format: TraceFormatOpt = None,
    model: Annotated[
        ModelKind, typer.Option("--model", help="gbm = LightGBM on ln(duration), boosted from the baseline; "
                                "median = the baseline alone (the user's rolling median).")
    ] = ModelKind.gbm,
    test_fraction: TestFractionOpt = None,
    window: Annotated[
        int, typer.Option("--window", help="Finished jobs per rolling median (user, group, cluster).")
    ] = 20,
    seed: Annotated[int, typer.Option("--seed", help="LightGBM's seed; same seed and trace, same model file.")] = 0,
) -> None:
    """Train a duration model on the first part of a trace and print its metrics on the rest.

    The held-out jobs (the last --test-fraction by submit time) are never trained on; their
    features see the trace's past, never its future. The model's metrics are printed next to
    the per-user rolling median (the baseline) and the global median.

    Examples:

      gpusched predict train ../shared/traces/philly-dirlab-15k/philly_data_training.csv --out philly-model.json

      gpusched predict train trace.csv --model median --test-fraction 0.3 --out median.json

      gpusched simulate trace.csv --policy sjf --durations predicted:philly-model.json
    """
    from simulator.predict import train
    from simulator.predict.metrics import check_test_fraction
    from simulator.predict.model import MAX_WINDOW

    if out.is_dir():
        raise UserError(f"{out}: is a folder; --out names the model file to write (e.g. {out / 'model.json'})")
    fraction = check_test_fraction(0.2 if test_fraction is None else test_fraction)
    if not 1 <= window <= MAX_WINDOW:
        raise UserError(f"--window must be an integer in [1, {MAX_WINDOW}], got {window}")
    if seed < 0:
        raise UserError(f"--seed must be an integer >= 0, got {seed}")
    data = load_trace(trace, trace_format)
    print_report_lines(data.report.lines())
    name = trace_name(trace)
    result = train(data.workload, kind=model.value, test_fraction=fraction, seed=seed, window=window, trace=name)
    try:
        out.parent.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise UserError(f"{out.parent}: cannot create the folder for the model file ({exc.strerror})") from None
    result.model.save(out)
    rounds = result.model.training.get("num_rounds")
    info(f"trained {model.value} on {result.train_rows} jobs of {name} in {result.wall_s:.2f} s"
         + (f" ({rounds} boosting rounds)" if rounds else "") + f"; model written to {out}")
    if result.test_rows == 0:
        info("no held-out jobs (--test-fraction 0): nothing to score")
        return
    wl = data.workload
    info(f"held out: {_held_out_line(result.test_rows, len(wl), result.split_submit_s, float(wl.submit_s[0]))}; "
         f"{HISTORY_NOTE}")
    _history_notes(wl)
    if result.split_submit_s is not None:
        n = result.train_rows
        running = int(np.sum(wl.submit_s[:n] + wl.duration_s[:n] > result.split_submit_s))
        if running:
            info(f"note: {running} of the {n} training jobs were still running at the split (submit + duration "
                 "after the first held-out submission); their recorded durations were fitted, as a predictor "
                 "retrained later would learn them (fitting only finished jobs skews the model short)")
    _print_metrics(result.metrics)


def _history_notes(wl: Any) -> None:
    """Say when the trace gives the models little to go on (no users, no groups)."""
    users = sum(1 for u in wl.user.values() if u is not None)
    groups = len({g for g in wl.group.values() if g is not None})
    if users == 0:
        info("note: the trace names no users" + (", and only one group" if groups <= 1 else "")
             + ": the models see only "
             + ("the cluster's recent durations" if groups <= 1 else "their group's and the cluster's recent durations")
             + " and the job's size and submit time; compare them with the global median below")


class EvalFormat(enum.StrEnum):
    csv = "csv"
    json = "json"


@app.command("eval")
@user_errors
def eval_cmd(
    model: Annotated[Path, typer.Option("--model", help="A model file from `gpusched predict train`.",
                                        show_default=False)],
    trace: TraceArg = None,
    trace_format: TraceFormatOpt = None,
    test_fraction: TestFractionOpt = None,
    all_rows: Annotated[
        bool, typer.Option("--all", help="Score every job of the trace, not just the held-out part.")
    ] = False,
    out: Annotated[
        Path | None, typer.Option("--out", "-o", help="Also write the metrics to this file (.csv or .json).",
                                  show_default=False)
    ] = None,
) -> None:
    """Score a duration model (and the baselines) on a trace's held-out part, or on every job with --all.

    The held-out part is the last --test-fraction of the jobs by submit time (default: the
    fraction the model was trained with), so on the training trace it is exactly the part
    the model never saw. Every job's features use only the trace's past.

    Examples:

      gpusched predict eval ../shared/traces/philly-dirlab-15k/philly_data_training.csv --model philly-model.json

      gpusched predict eval other-trace.csv --model philly-model.json --all --out metrics.json
    """
    from simulator.predict import evaluate, load_model
    from simulator.predict.metrics import check_test_fraction, split_index

    if all_rows and test_fraction is not None:
        raise UserError("give --all or --test-fraction, not both")
    if test_fraction is not None:
        check_test_fraction(test_fraction)
    fmt = _out_format(out) if out is not None else None
    loaded = load_model(model)
    data = load_trace(trace, trace_format)
    print_report_lines(data.report.lines())
    result = evaluate(loaded, data.workload, test_fraction=test_fraction, all_rows=all_rows)
    wl = data.workload
    trained_on = loaded.training.get("trace") or "?"
    info(f"model {model}: {loaded.kind}, trained on {trained_on}")
    info(f"scored: {_held_out_line(result.rows, len(wl), result.split_submit_s, float(wl.submit_s[0]))}; "
         f"{HISTORY_NOTE}")
    _history_notes(wl)
    trained_rows, trained_fraction = loaded.training.get("rows"), loaded.training.get("test_fraction")
    if trained_on == trace_name(trace) and trained_rows == len(wl) and isinstance(trained_fraction, (int, float)):
        overlap = split_index(len(wl), float(trained_fraction)) - result.first_row
        if overlap > 0:
            info(f"note: {overlap} of the {result.rows} scored jobs are in the part of this trace the model was "
                 "trained on: those scores are in-sample")
    _print_metrics(result.metrics)
    if out is not None and fmt is not None:
        _write_metrics(result, out, fmt, model=str(model), trace=trace_name(trace), kind=loaded.kind)
        info(f"metrics written to {out}")


def _out_format(path: Path) -> EvalFormat:
    suffix = path.suffix.lower().lstrip(".")
    if suffix not in EvalFormat.__members__:
        raise UserError(f"{path}: --out must end in .csv or .json, found {path.suffix or 'no suffix'}")
    if path.is_dir():
        raise UserError(f"{path}: is a folder; --out names the metrics file to write")
    return EvalFormat(suffix)


def _write_metrics(result: Any, path: Path, fmt: EvalFormat, *, model: str, trace: str, kind: str) -> None:
    import pyarrow as pa

    from simulator.results import write_json, write_table

    try:
        path.parent.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise UserError(f"{path.parent}: cannot create the folder for the metrics file ({exc.strerror})") from None
    rows = [{"predictor": name, **m.to_dict()} for name, m in result.metrics.items()]
    if fmt == EvalFormat.csv:
        write_table(pa.Table.from_pylist(rows), path, "csv")
        return

    def clean(v: Any) -> Any:
        return None if isinstance(v, float) and math.isnan(v) else v

    write_json({"trace": trace, "model": model, "kind": kind, "rows": result.rows, "first_row": result.first_row,
                "split_submit_s": result.split_submit_s,
                "metrics": {r["predictor"]: {k: clean(v) for k, v in r.items() if k != "predictor"} for r in rows}},
               path)


__all__ = ["app", "eval_cmd", "train_cmd"]
