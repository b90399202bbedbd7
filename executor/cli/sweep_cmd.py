"""`gpusched sweep`: run a grid of simulations (clusters x load x policy x ... x seeds) and summarise it."""

from __future__ import annotations

import enum
import math
import time
from pathlib import Path
from typing import Annotated, Any

import typer

from executor.cli.common import check_out_dir, info, user_errors
from traces.errors import UserError

PLUGIN_MODULES = ("solvers.rolling",)  # registers the cpsat-rolling policy in every worker
MAX_SCREEN_ROWS = 30
MAX_ERRORS_SHOWN = 5


class TableFormat(enum.StrEnum):
    parquet = "parquet"
    csv = "csv"


@user_errors
def sweep(
    spec: Annotated[Path, typer.Argument(help="Sweep spec (TOML): [workload], [grid], [settings], "
                                         "[policy_params.<key>]; see examples/capacity-study.toml.",
                                         show_default=False)],
    out: Annotated[Path, typer.Option("--out", "-o", help="Output folder (created; rerun on it to resume).",
                                      show_default=False)],
    jobs: Annotated[
        int | None,
        typer.Option("--jobs", "-j", help="Runs at once on this machine (default: its CPU count; 1 runs them in "
                     "this process). With --ray local: the CPUs the Ray runtime gets.", show_default=False),
    ] = None,
    ray: Annotated[
        str | None,
        typer.Option("--ray", help="Run on Ray: 'local' starts a runtime on 127.0.0.1 (no dashboard), an ADDRESS "
                     "(host:port) joins an existing cluster.", show_default=False),
    ] = None,
    retry_failed: Annotated[
        bool, typer.Option("--retry-failed/--no-retry-failed", help="Rerun runs that failed in an earlier sweep "
                           "on this folder (finished runs are always kept).")
    ] = True,
    progress: Annotated[
        bool | None,
        typer.Option("--progress/--no-progress", help="Progress bar on stderr: runs done / failed / remaining and "
                     "ETA (default: on when stderr is a terminal)."),
    ] = None,
    fmt: Annotated[
        TableFormat, typer.Option("--format", help="Format of each run's jobs and timeline tables (runs.csv and "
                                  "summary.csv are always CSV).")
    ] = TableFormat.parquet,
    report: Annotated[
        bool, typer.Option("--report/--no-report", help="Write OUT/report.html and its PNGs at the end (heat maps, "
                           "cost vs p95 wait, JCT and wait CDFs; the same as `gpusched report OUT`).")
    ] = True,
) -> None:
    """Run every combination of a spec's grid through the simulator, in parallel, resumably.

    Each run goes to OUT/runs/<run_id>/ (config.json, summary.json, jobs, timeline; or error.json
    when it failed); at the end OUT/runs.csv has one row per run, OUT/summary.csv the mean and
    95% confidence interval over seeds of every metric, and OUT/report.html the plots. A rerun
    on the same OUT skips finished runs, so an interrupted sweep (even kill -9) resumes where it
    stopped. Failed runs do not stop the
    sweep: their count and error files are listed at the end (the exit status stays 0).

    Examples:

      gpusched sweep examples/capacity-study.toml --out study/

      gpusched sweep spec.toml --out study/ --jobs 8

      gpusched sweep spec.toml --out study/ --ray local

      gpusched sweep spec.toml --out study/ --ray 10.0.0.5:6379
    """
    import importlib

    from executor.cli.progress import DelayedProgress
    from simulator.sweep import expand, load_spec, make_local_backend, run_sweep

    for name in PLUGIN_MODULES:  # before the spec is checked against the policy registry
        importlib.import_module(name)
    parsed = load_spec(spec)
    if ray is not None:  # Ray installed and the address reachable, before any output folder is made
        from executor.ray_pool import import_ray
        from executor.sweep_ray import check_ray_address

        import_ray()
        check_ray_address(ray)
    out = check_out_dir(out, "sweep")
    _say_if_another_spec(out, {c.run_id for c in expand(parsed)})
    backend: Any
    if ray is not None:
        from executor.sweep_ray import RaySweepBackend

        if jobs is not None and jobs < 1:
            raise UserError(f"--jobs must be >= 1, got {jobs}")
        backend = RaySweepBackend(ray, num_cpus=jobs, plugin_modules=PLUGIN_MODULES)
    else:
        backend = make_local_backend(jobs, PLUGIN_MODULES)
    info(f"sweep: {parsed.num_runs} runs ({_axes(parsed)}) on {backend.describe()}")
    speed = parsed.settings.get("speed_table")
    if isinstance(speed, dict) and speed.get("catalog"):
        info("speeds: the GPU catalog's speed model per model family x GPU type, relative to V100"
             + (" (measured where the profile has them)" if "profile" in speed else "")
             + "; [settings] speed_table = FILE uses your own table")
    with DelayedProgress("sweep", progress, unit="runs") as bar:
        outcome = run_sweep(parsed, out, backend, _Eta(bar), retry_failed=retry_failed, table_format=fmt.value)
    _print_outcome(outcome, backend.describe())
    if report and outcome.done:
        from executor.report import build_report

        built = build_report([out], out)
        info(f"report: {built.html} ({len(built.images)} figures)")


def _say_if_another_spec(out: Path, run_ids: set[str]) -> None:
    """A folder of an earlier sweep with another grid: its runs stay in runs/ (a rerun of that spec
    finds them), but runs.csv and summary.csv will list this spec's runs only; say so."""
    import json

    doc = out / "sweep.json"
    if not doc.is_file():
        return
    try:
        before = set(json.loads(doc.read_text(encoding="utf-8")).get("run_ids", []))
    except (OSError, ValueError, AttributeError):
        return
    others = before - run_ids
    if others:
        info(f"{out} holds a sweep of another spec: {len(others)} of its runs are not in this grid; they stay in "
             f"runs/ but runs.csv, summary.csv and the report will show this spec's {len(run_ids)} runs only")


class _Eta:
    """The driver's progress callback: done / failed / remaining and an ETA from this call's pace
    (runs finished in an earlier call do not count towards the pace)."""

    def __init__(self, bar: Any) -> None:
        self.bar = bar
        self.t0 = time.perf_counter()
        self.start: int | None = None

    def __call__(self, done: int, failed: int, total: int) -> None:
        finished = done + failed
        if self.start is None:
            self.start = finished
        remaining = total - finished
        ran = finished - self.start
        elapsed = time.perf_counter() - self.t0
        eta = _duration(elapsed / ran * remaining) if ran and remaining else ("-" if remaining else "0s")
        self.bar(finished, total, f"{failed} failed, {remaining} remaining, ETA {eta}")


def _axes(spec: Any) -> str:
    """The axes with more than one value, e.g. "4 clusters x 2 load scales x 3 seeds"."""
    parts = [(len(spec.clusters), "clusters"), (len(spec.load_scales), "load scales"), (len(spec.policies), "policies"),
             (len(spec.placements), "placements"), (len(spec.admissions), "admissions"), (len(spec.seeds), "seeds")]
    return " x ".join(f"{n} {what}" for n, what in parts if n > 1) or "a single run"


def _print_outcome(outcome: Any, where: str) -> None:
    rate = outcome.ran / outcome.wall_s * 60 if outcome.wall_s > 0 and outcome.ran else math.nan
    pace = f", {rate:.1f} runs/min" if outcome.ran else ""
    typer.echo(f"{outcome.total} runs on {outcome.num_jobs} jobs: {outcome.done} done, {outcome.failed} failed "
               f"({outcome.ran} ran now on {where}, {outcome.before} finished before) in "
               f"{_duration(outcome.wall_s)}{pace}")
    typer.echo("")
    for line in summary_lines(outcome.summary, outcome.table if outcome.failed else None):
        typer.echo(line)
    typer.echo("")
    if outcome.failed:
        typer.echo(f"{outcome.failed} runs failed; each has its error (type, message, traceback) in "
                   f"{outcome.out_dir}/runs/<run_id>/error.json (status 'failed' in runs.csv):")
        from simulator.sweep.store import SweepStore

        store = SweepStore(outcome.out_dir)
        for run_id in outcome.failed_ids[:MAX_ERRORS_SHOWN]:
            error = store.error(run_id)
            typer.echo(f"  {outcome.out_dir}/runs/{run_id}/error.json: {error.get('type')}: {error.get('message')}")
        if outcome.failed > MAX_ERRORS_SHOWN:
            typer.echo(f"  ... and {outcome.failed - MAX_ERRORS_SHOWN} more")
    typer.echo(f"tables: {outcome.runs_path} (one row per run), {outcome.summary_path} (mean and 95% CI over seeds); "
               f"runs: {outcome.out_dir}/runs/<run_id>/")


# Metrics on the screen: (metric, header, scale, format); all of them are in summary.csv.
_SCREEN = (
    ("p95_wait_s", "p95 wait h", 1 / 3600, "{:.2f}"),
    ("mean_jct_s", "mean JCT h", 1 / 3600, "{:.2f}"),
    ("gpu_utilisation", "util %", 100.0, "{:.1f}"),
    ("energy_kwh", "energy kWh", 1.0, "{:,.0f}"),
    ("cost_usd", "cost $", 1.0, "{:,.0f}"),
)


def summary_lines(summary: Any, runs: Any = None) -> list[str]:
    """The summary table on one screen: a row per group (the varying config columns), the mean over
    seeds of a few metrics, with +- the 95% CI half-width when there are several seeds; with the
    runs table, a column of finished / all runs per group."""
    from simulator.sweep.summary import GROUP_COLUMNS

    rows = summary.to_pylist()
    if not rows:
        return ["(no finished runs)"]
    varying = [c for c in GROUP_COLUMNS if c not in ("num_gpus", "gpu_type")
               and len({r[c] for r in rows}) > 1] or ["cluster"]
    metrics = [s for s in _SCREEN if any(r["metric"] == s[0] for r in rows)]
    groups: dict[tuple[Any, ...], dict[str, dict[str, Any]]] = {}
    for r in rows:
        groups.setdefault(tuple(r[c] for c in varying), {})[r["metric"]] = r
    finished: dict[tuple[Any, ...], list[int]] = {}
    for r in runs.to_pylist() if runs is not None else []:
        count = finished.setdefault(tuple(r[c] for c in varying), [0, 0])
        count[0] += r["status"] == "done"
        count[1] += 1
    table = [[*(c.replace("_", " ") for c in varying), *(["runs ok"] if finished else []), *(m[1] for m in metrics)]]
    for key, by_metric in list(groups.items())[:MAX_SCREEN_ROWS]:
        cells = [f"{v:g}" if isinstance(v, float) else str(v) for v in key]
        if finished:
            cells.append("{}/{}".format(*finished.get(key, [0, 0])))
        for name, _, scale, form in metrics:
            cells.append(_cell(by_metric.get(name), scale, form))
        table.append(cells)
    widths = [max(len(row[i]) for row in table) for i in range(len(table[0]))]
    lines = ["  ".join(cell.ljust(w) if i < len(varying) else cell.rjust(w) for i, (cell, w)
                       in enumerate(zip(row, widths, strict=True))).rstrip() for row in table]
    seeds = max((r["n"] for r in rows), default=0)
    lines.insert(0, f"mean over seeds (n = {seeds}{', +- 95% CI half-width' if seeds > 1 else ''}):")
    if len(groups) > MAX_SCREEN_ROWS:
        lines.append(f"... {len(groups) - MAX_SCREEN_ROWS} more groups in summary.csv")
    return lines


def _cell(row: dict[str, Any] | None, scale: float, form: str) -> str:
    if row is None or row["mean"] is None or math.isnan(row["mean"]):
        return "n/a"
    text = form.format(row["mean"] * scale)
    high = row["ci95_high"]
    if high is not None and not math.isnan(high):
        text += " +- " + form.format((high - row["mean"]) * scale)
    return text


def _duration(seconds: float) -> str:
    s = int(round(seconds))
    if s < 60:
        return f"{seconds:.1f}s" if seconds < 10 else f"{s}s"
    if s < 3600:
        return f"{s // 60}m{s % 60:02d}s"
    return f"{s // 3600}h{s % 3600 // 60:02d}m"


app = typer.Typer(add_completion=False, pretty_exceptions_show_locals=False)
app.command("sweep")(sweep)


__all__ = ["app", "summary_lines", "sweep"]

if __name__ == "__main__":
    app()
