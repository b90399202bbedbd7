"""Assemble the report: load every folder, draw its figures, write the PNGs and one report.html.

Sections, in order: the inputs; every simulate and execute run together (summary table, JCT and
wait CDFs, wait by job size, utilisation and queue over time, a Gantt chart of GPUs per run small
enough to read, planned-vs-measured for execute runs); then one section per solve, compare, sweep
and capacity folder, in the order given. Each section opens with what its figure shows and how to
read it. PNG names are derived from the section (`runs-cdf.png`, `3-sweep-heatmap-p95-wait-s.png`:
the number is the folder's position on the command line), so reruns overwrite rather than pile up.
"""

from __future__ import annotations

import dataclasses
import math
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa

from executor.compare import Comparison
from executor.report import fmt
from executor.report.figures import (
    Curve,
    Heatmap,
    TradeoffPanel,
    capacity_figure,
    cdf_figure,
    gpu_gantt_figure,
    heatmap_figure,
    timeline_figure,
    tradeoff_figure,
    wait_by_size_figure,
)
from executor.report.html import Block, Image, Notes, Paragraph, Section, Table, render, slug
from executor.report.loaders import (
    SUMMARY_STAT_COLUMNS,
    SWEEP_CONFIG_COLUMNS,
    SWEEP_DONE,
    CapacityFolder,
    CompareFolder,
    Folder,
    RunFolder,
    SolveFolder,
    SweepFolder,
    load_folder,
)
from executor.report.stats import ecdf, pareto_front, wait_by_size
from executor.report.tables import floats, strings
from simulator.atomic import write_bytes
from traces.errors import UserError

REPORT_FILE = "report.html"
DEFAULT_MAX_GANTT_JOBS = 200
MAX_TABLE_ROWS = 500
RUN_METRICS: tuple[str, ...] = ("gpu_utilisation", "energy_kwh", "cost_usd", "cost_provisioned_usd")
HEATMAP_METRICS: tuple[str, ...] = ("p95_wait_s", "mean_jct_s", "gpu_utilisation")
TRADEOFF_COSTS: tuple[str, ...] = ("cost_usd", "cost_provisioned_usd", "energy_kwh")
SWEEP_TABLE_METRICS: tuple[str, ...] = ("mean_wait_s", "p95_wait_s", "mean_jct_s", "gpu_utilisation", "cost_usd",
                                        "energy_kwh")
CLUSTER_COLUMNS: tuple[str, ...] = ("cluster", "cluster_label")


@dataclass(frozen=True, slots=True)
class ReportResult:
    """What was written: the page and every PNG next to it."""

    html: Path
    images: tuple[Path, ...]
    kinds: tuple[str, ...]  # each input folder's kind, in order


def build_report(dirs: Sequence[Path], out_dir: Path, *, max_gantt_jobs: int = DEFAULT_MAX_GANTT_JOBS) -> ReportResult:
    """Load the folders, draw, and write `out_dir/report.html` plus the PNGs; one-line `UserError` on bad input."""
    if not dirs:
        raise UserError("no folder given; expected one or more gpusched output folders")
    if max_gantt_jobs < 0:
        raise UserError(f"--max-gantt-jobs: expected an integer >= 0 but found {max_gantt_jobs}")
    folders = [load_folder(Path(d), max_gantt_jobs=max_gantt_jobs) for d in dirs]
    sections = [_inputs_section(dirs, folders)]
    runs = [f for f in folders if isinstance(f, RunFolder)]
    if runs:
        sections += _runs_sections(runs, _run_labels(runs), max_gantt_jobs, out_dir)
    for number, folder in enumerate(folders, start=1):
        if isinstance(folder, SolveFolder):
            sections += _solve_sections(number, folder, max_gantt_jobs)
        elif isinstance(folder, CompareFolder):
            sections += _compare_sections(number, folder, max_gantt_jobs, out_dir)
        elif isinstance(folder, SweepFolder):
            sections += _sweep_sections(number, folder)
        elif isinstance(folder, CapacityFolder):
            sections += _capacity_sections(number, folder)
    out_dir.mkdir(parents=True, exist_ok=True)
    sections = _unique_image_names(sections)
    images: list[Path] = []
    for s in sections:
        for b in s.blocks:
            if isinstance(b, Image):
                images.append(_write_atomic(out_dir / b.name, b.png))
    kinds = tuple(_kind(f) for f in folders)
    subtitle = f"from {len(folders)} folder(s): " + ", ".join(f"{d} ({k})" for d, k in zip(dirs, kinds, strict=True))
    page = render("gpusched report", subtitle, sections)
    html_path = out_dir / REPORT_FILE
    _write_atomic(html_path, page.encode("utf-8"))
    return ReportResult(html_path, tuple(images), kinds)


def _unique_image_names(sections: Sequence[Section]) -> list[Section]:
    """Labels that differ only in punctuation give the same file name: number the repeats."""
    seen: Counter[str] = Counter()
    out = []
    for s in sections:
        blocks: list[Block] = []
        for b in s.blocks:
            if isinstance(b, Image):
                seen[b.name] += 1
                if seen[b.name] > 1:
                    stem = b.name.removesuffix(".png")
                    b = dataclasses.replace(b, name=f"{stem}-{seen[b.name]}.png")
            blocks.append(b)
        out.append(dataclasses.replace(s, blocks=tuple(blocks)))
    return out


def _write_atomic(path: Path, data: bytes) -> Path:
    return write_bytes(data, path)


def _kind(folder: Folder) -> str:
    if isinstance(folder, RunFolder):
        return folder.kind.value
    return {SolveFolder: "solve", CompareFolder: "compare", SweepFolder: "sweep", CapacityFolder: "capacity"}[
        type(folder)]


def _inputs_section(dirs: Sequence[Path], folders: Sequence[Folder]) -> Section:
    rows = []
    for n, (d, f) in enumerate(zip(dirs, folders, strict=True), start=1):
        if isinstance(f, RunFolder):
            what = f"{len(f.jobs):,} jobs, label {f.label}"
        elif isinstance(f, SolveFolder):
            what = f"{f.num_jobs:,} jobs scheduled by {f.label}"
        elif isinstance(f, CompareFolder):
            what = f"{len(f.comparisons)} comparison(s): " + ", ".join(c.label for c in f.comparisons)
        elif isinstance(f, SweepFolder):
            counts = Counter(strings(f.runs, "status"))
            what = f"{f.runs.num_rows:,} runs: " + ", ".join(f"{c:,} {st}" for st, c in sorted(counts.items()))
        else:
            what = "capacity answer"
        rows.append((str(n), str(d), _kind(f), what))
    return Section("inputs", "Inputs", "The output folders this report was made from; the kind of each is told by "
                   "the files its command writes (run.json, solve.json, execute.json, compare.json, sweep.json, "
                   "capacity.json).", (Table("", ("#", "folder", "kind", "contents"), tuple(rows)),))


# ----- simulate and execute runs ----------------------------------------------------------------
def _run_labels(runs: Sequence[RunFolder]) -> list[str]:
    """Each run's label (its policy); runs sharing one are told apart by their folder names."""
    counts = Counter(r.label for r in runs)
    labels = [r.label if counts[r.label] == 1 else f"{r.label} ({r.path.name or r.path})" for r in runs]
    seen: Counter[str] = Counter()
    out = []
    for label in labels:
        seen[label] += 1
        out.append(label if seen[label] == 1 else f"{label} #{seen[label]}")
    return out


def _runs_sections(runs: Sequence[RunFolder], labels: Sequence[str], max_gantt_jobs: int,
                   out_dir: Path) -> list[Section]:
    sections = [Section("runs", "Runs", "Every simulate and execute run given, side by side (one colour per run in "
                        "every figure). Times are trace seconds; JCT = end - submit, wait = first start - submit.",
                        (_runs_table(runs, labels),))]
    jct = {label: ecdf(r.jobs.jct_s) for label, r in zip(labels, runs, strict=True)}
    wait = {label: ecdf(r.jobs.wait_s) for label, r in zip(labels, runs, strict=True)}
    left_out = [f"{label}: {len(r.jobs) - jct[label].n:,} job(s) without a JCT (rejected or unfinished) are not in "
                "the CDFs" for label, r in zip(labels, runs, strict=True) if len(r.jobs) > jct[label].n]
    sections.append(Section(
        "runs-cdf", "JCT and wait distributions",
        "Each line is one run: the fraction of its jobs (y) whose job completion time or wait is at most x. A line "
        "further up and to the left is better; where two lines cross, one run favours short jobs and the other long "
        "ones. Dotted lines mark the median and the 95th percentile: read across to where each line meets them. The "
        "x axis turns logarithmic when the values span more than a factor of 100 (symmetric-log when some are 0).",
        (Image("runs-cdf.png", cdf_figure([("JCT", jct), ("wait", wait)]), "CDFs of JCT and wait per run"),
         *((Notes(tuple(left_out)),) if left_out else ())), level=3))
    sizes = [(label, wait_by_size(r.jobs.num_gpus, r.jobs.wait_s)) for label, r in zip(labels, runs, strict=True)]
    size_rows = tuple((label, s.bucket, f"{s.n:,}", fmt.duration(s.mean_s), fmt.duration(s.median_s),
                       fmt.duration(s.p95_s)) for label, stats in sizes for s in stats)
    size_blocks: tuple[Block, ...] = (
        Image("runs-wait-by-size.png", wait_by_size_figure(sizes), "wait by job size per run"),
        Table("Wait by job size", ("run", "GPUs", "jobs", "mean wait", "median wait", "p95 wait"), size_rows),
    ) if size_rows else (Paragraph("No run says how many GPUs its jobs use; nothing to show."),)
    sections.append(Section(
        "runs-size", "Wait by job size",
        "Jobs grouped by the GPUs they ask for (1, 2, 3-4, 5-8, ...): the bar is the mean wait, the triangle the "
        "95th percentile. Large jobs waiting much longer than small ones is head-of-line blocking or "
        "fragmentation; a policy that evens the bars out treats sizes more fairly.", size_blocks, level=3))
    timelines = [(label, r.timeline) for label, r in zip(labels, runs, strict=True) if r.timeline is not None]
    if timelines:
        sections.append(Section(
            "runs-timeline", "Utilisation and queue over time",
            "Top: the share of the cluster's GPUs busy at each moment (busy GPUs where the cluster size is unknown). "
            "Bottom: jobs submitted but not yet running. A queue that keeps growing while utilisation stays high "
            "means the cluster is too small for the load; a queue with idle GPUs means jobs that cannot be placed "
            "(gang size, GPU type) or a policy holding them back.",
            (Image("runs-timeline.png", timeline_figure(timelines), "utilisation and queue over time"),), level=3))
    sections.append(_gantt_section("runs-gantt", [(label, r) for label, r in zip(labels, runs, strict=True)],
                                   max_gantt_jobs))
    for label, r in zip(labels, runs, strict=True):
        if r.comparison is None:
            continue
        name = f"runs-{slug(label)}"
        sections.append(Section(
            f"{name}-plan", f"{label}: planned vs measured",
            "The execute run against the plan it replayed. Scatter: each dot a job, measured JCT against the "
            "planned one; dots above the dashed y = x line took longer than planned. Gantt: per job the planned bar "
            "(blue) above the measured one (orange); hatched grey bars did not complete.",
            _comparison_blocks([r.comparison], name, max_gantt_jobs, out_dir), level=3))
    notes = [f"{label}: {n}" for label, r in zip(labels, runs, strict=True) for n in r.notes]
    if notes:
        sections.append(Section("runs-notes", "Run notes", "What the commands noted while running.",
                                (Notes(tuple(notes)),), level=3))
    return sections


def _runs_table(runs: Sequence[RunFolder], labels: Sequence[str]) -> Table:
    header = ("run", "kind", "folder", "jobs", "finished", "mean JCT", "p95 JCT", "mean wait", "p95 wait", "makespan",
              "GPU utilisation", "energy", "cost")
    rows = []
    for label, r in zip(labels, runs, strict=True):
        j = r.jobs
        jct = j.jct_s[np.isfinite(j.jct_s)]
        wait = j.wait_s[np.isfinite(j.wait_s)]
        ends = j.end_s[np.isfinite(j.end_s)]
        submits = j.submit_s[np.isfinite(j.submit_s)]
        span = float(ends.max() - submits.min()) if ends.size and submits.size else math.nan
        cost_key = "cost_usd" if "cost_usd" in r.metrics else "cost_provisioned_usd"
        rows.append((
            label, r.kind.value, str(r.path), f"{len(j):,}", f"{jct.size:,}",
            fmt.duration(float(jct.mean())) if jct.size else "n/a",
            fmt.duration(float(np.percentile(jct, 95))) if jct.size else "n/a",
            fmt.duration(float(wait.mean())) if wait.size else "n/a",
            fmt.duration(float(np.percentile(wait, 95))) if wait.size else "n/a",
            fmt.duration(span),
            fmt.metric("gpu_utilisation", r.metrics.get("gpu_utilisation")),
            fmt.metric("energy_kwh", r.metrics.get("energy_kwh")),
            fmt.metric(cost_key, r.metrics.get(cost_key)),
        ))
    return Table("Per run (finished = jobs with an end time; n/a: the folder does not say)", header, tuple(rows))


def _gantt_section(anchor: str, runs: Sequence[tuple[str, RunFolder | SolveFolder]], max_gantt_jobs: int) -> Section:
    blocks: list[Block] = []
    for label, r in runs:
        n = len(r.jobs) if isinstance(r, RunFolder) else r.num_jobs
        if n > max_gantt_jobs:
            blocks.append(Paragraph(f"{label}: Gantt chart left out: {n:,} jobs, more than --max-gantt-jobs "
                                    f"{max_gantt_jobs} (too many bars to read)."))
        elif r.bars is None:
            blocks.append(Paragraph(f"{label}: no segment table or schedule in {r.path}; no Gantt chart."))
        else:
            title = f"{label}: {len(r.bars.job_ids)} jobs on {len(r.bars.gpu_ids)} GPUs"
            blocks.append(Image(f"{anchor}-{slug(label)}.png", gpu_gantt_figure(r.bars, title),
                                f"Gantt chart of GPUs for {label}"))
    return Section(anchor, "GPU Gantt charts",
                   "One row per GPU, one bar per job segment on it, one colour per job (colours repeat after 20): a "
                   "gang job shows as bars stacked on several rows; gaps are idle GPUs. Drawn for runs of at most "
                   f"--max-gantt-jobs ({max_gantt_jobs}) jobs.", tuple(blocks), level=3)


def _comparison_blocks(comparisons: Sequence[Comparison], name: str, max_gantt_jobs: int,
                       out_dir: Path) -> tuple[Block, ...]:
    """executor.plots' scatter and Gantt (written where the report goes, then embedded)."""
    from executor.plots import gantt, scatter_jct

    out_dir.mkdir(parents=True, exist_ok=True)
    scatter_path = scatter_jct(comparisons, out_dir / f"{name}-scatter.png")
    blocks: list[Block] = [Image(scatter_path.name, scatter_path.read_bytes(), "measured vs predicted JCT")]
    if max_gantt_jobs >= 1:
        gantt_path = gantt(comparisons, out_dir / f"{name}-gantt.png", max_jobs=max_gantt_jobs)
        blocks.append(Image(gantt_path.name, gantt_path.read_bytes(), "predicted and measured job bars"))
    return tuple(blocks)


# ----- solve ------------------------------------------------------------------------------------
def _solve_sections(number: int, f: SolveFolder, max_gantt_jobs: int) -> list[Section]:
    doc = f.doc
    facts = [("solver", doc.get("solver")), ("status", doc.get("status")), ("objective", doc.get("objective_name")),
             ("objective value", doc.get("objective")), ("lower bound", doc.get("bound")),
             ("gap", fmt.metric("gap_frac", doc.get("gap"))), ("proven optimal", doc.get("proven_optimal")),
             ("wall time", fmt.metric("wall_s", doc.get("wall_s"))), ("method", doc.get("method")),
             ("jobs", f.num_jobs), ("rejected", f.num_rejected), ("cluster", doc.get("cluster"))]
    anchor = f"{number}-solve"
    blocks: list[Block] = [Table("", ("", "value"), tuple((k, fmt.cell(v)) for k, v in facts))]
    blocks.append(Image(f"{anchor}-timeline.png", timeline_figure([(f.label, f.timeline)]),
                        f"busy GPUs over time for {f.label}"))
    notes = doc.get("notes")
    if isinstance(notes, list) and notes:
        blocks.append(Notes(tuple(str(n) for n in notes)))
    return [
        Section(anchor, f"Solve: {f.label} ({f.path})",
                "An offline schedule of the whole trace. The gap is (objective - bound) / objective against the best "
                "lower bound known, so it says how far from optimal the schedule can be at most. The plot shows the "
                "GPUs busy and jobs running over time (a solver's schedule has no queue: submit times are not in its "
                "output).", tuple(blocks)),
        _gantt_section(f"{anchor}-gantt", [(f.label, f)], max_gantt_jobs),
    ]


# ----- compare ----------------------------------------------------------------------------------
def _compare_sections(number: int, f: CompareFolder, max_gantt_jobs: int, out_dir: Path) -> list[Section]:
    labels = [c.label for c in f.comparisons]
    values: dict[tuple[str, str], float] = {}
    metric_names: list[str] = []
    table = f.summary
    for label, m, v in zip(strings(table, "label"), strings(table, "metric"), floats(table, "value", f.path),
                           strict=True):
        values[(label, m)] = v
        metric_names.append(m)
    metric_names = list(dict.fromkeys(metric_names))
    summary_labels = list(dict.fromkeys(strings(table, "label"))) or labels
    rows = tuple((m, *(fmt.metric(m, values.get((label, m), math.nan)) for label in summary_labels))
                 for m in metric_names)
    blocks: list[Block] = [Table("Summary (errors are measured - predicted, as a fraction of predicted)",
                                 ("metric", *summary_labels), rows)]
    anchor = f"{number}-compare"
    if f.comparisons:
        blocks += _comparison_blocks(f.comparisons, anchor, max_gantt_jobs, out_dir)
    notes = [f"{c.label}: {n}" for c in f.comparisons for n in c.notes]
    if notes:
        blocks.append(Notes(tuple(notes)))
    return [Section(anchor, f"Predicted vs measured ({f.path})",
                    "How far predicted job times (simulate, solve) are from measured ones (execute). Scatter: each dot "
                    "a completed job, measured against predicted JCT; on the dashed y = x line the prediction was "
                    "exact, above it the job took longer. Gantt: per job the predicted bar (blue) above the measured "
                    "one (orange); hatched grey bars did not complete; ticks mark submit times.", tuple(blocks))]


# ----- sweep ------------------------------------------------------------------------------------
@dataclass(frozen=True, slots=True)
class _Stat:
    mean: float
    low: float
    high: float
    n: int


def _sweep_groups(f: SweepFolder) -> tuple[list[str], dict[tuple[str, ...], dict[str, _Stat]]]:
    """Mean (and 95 % CI) per configuration and metric: summary.csv when there, else runs.csv averaged."""
    if f.summary is not None:
        t = f.summary
        group_cols = [c for c in t.column_names if c not in SUMMARY_STAT_COLUMNS]
        keys = list(zip(*(strings(t, c) for c in group_cols), strict=True)) if group_cols else [()] * t.num_rows
        cols = {c: floats(t, c, f.path / "summary.csv") for c in ("n", "mean", "ci95_low", "ci95_high")}
        out: dict[tuple[str, ...], dict[str, _Stat]] = {}
        for i, (key, metric) in enumerate(zip(keys, strings(t, "metric"), strict=True)):
            n = cols["n"][i]
            out.setdefault(tuple(key), {})[metric] = _Stat(cols["mean"][i], cols["ci95_low"][i], cols["ci95_high"][i],
                                                           int(n) if math.isfinite(n) else 0)
        return group_cols, out
    runs = f.runs
    group_cols = [c for c in SWEEP_CONFIG_COLUMNS if c in runs.column_names and c != "seed"]
    ok = [s.lower() in SWEEP_DONE for s in strings(runs, "status")]
    metrics = [c for c in runs.column_names if c not in (*SWEEP_CONFIG_COLUMNS, "run_id", "status", "error")
               and _is_numeric(runs.column(c))]
    keys = list(zip(*(strings(runs, c) for c in group_cols), strict=True)) if group_cols else [()] * runs.num_rows
    acc: dict[tuple[str, ...], dict[str, list[float]]] = {}
    columns = {m: floats(runs, m, f.path / "runs.csv") for m in metrics}
    for i, key in enumerate(keys):
        if not ok[i]:
            continue
        for m in metrics:
            acc.setdefault(tuple(key), {}).setdefault(m, []).append(float(columns[m][i]))
    out = {}
    for key, by_metric in acc.items():
        out[key] = {}
        for m, vals in by_metric.items():
            finite = [v for v in vals if math.isfinite(v)]
            mean = float(np.mean(finite)) if finite else math.nan
            out[key][m] = _Stat(mean, math.nan, math.nan, len(finite))
    return group_cols, out


def _is_numeric(column: pa.ChunkedArray) -> bool:
    return bool(pa.types.is_integer(column.type) or pa.types.is_floating(column.type) or pa.types.is_null(column.type))


def _sort_key(text: str) -> tuple[int, float, str]:
    try:
        return (0, float(text), text)
    except ValueError:
        return (1, 0.0, text)


def _row_axis(cluster_col: str | None, group_cols: Sequence[str]) -> tuple[str, Callable[[dict[str, str]], str]]:
    """The heat maps' row axis: the cluster label, else GPUs x type, else GPUs; its name and a row per config."""
    if cluster_col is not None:
        return "cluster", lambda g: g[cluster_col]
    if {"num_gpus", "gpu_type"} <= set(group_cols):
        return "cluster", lambda g: f"{g['num_gpus']} x {g['gpu_type']}"
    if "num_gpus" in group_cols:
        return "GPUs", lambda g: g["num_gpus"]
    return "configuration", lambda g: "all"


def _sweep_sections(number: int, f: SweepFolder) -> list[Section]:
    anchor = f"{number}-sweep"
    status = Counter(strings(f.runs, "status"))
    counts = ", ".join(f"{n:,} {s}" for s, n in sorted(status.items()))
    sections = [Section(anchor, f"Sweep ({f.path})",
                        f"{f.runs.num_rows:,} runs ({counts}). Every run is the simulator on one configuration and "
                        "seed; values below are means over seeds (with a Student-t 95 % interval in the table when "
                        "summary.csv has one).", tuple(Notes((n,)) for n in f.notes))]
    group_cols, groups = _sweep_groups(f)
    cluster_col = next((c for c in CLUSTER_COLUMNS if c in group_cols), None)
    row_name, row_of = _row_axis(cluster_col, group_cols)
    col_name = "load scale" if "load_scale" in group_cols else "runs"
    facet_cols = [c for c in group_cols if c not in (*CLUSTER_COLUMNS, "num_gpus", "gpu_type", "load_scale")]
    entries = [(dict(zip(group_cols, key, strict=True)), stats) for key, stats in groups.items()]
    varying = [c for c in facet_cols if len({g[c] for g, _ in entries}) > 1]
    # A panel per value of the columns that vary (placement, admission) and per policy; constant ones go unsaid.
    panel_cols = [c for c in facet_cols if c in varying or c == "policy"]

    def facet_of(g: dict[str, str]) -> str:
        return ", ".join(f"{c} {g[c]}" for c in panel_cols) or "all runs"

    def sort_rows(values: set[str]) -> list[str]:
        return sorted(values, key=_sort_key)

    rows = sort_rows({row_of(g) for g, _ in entries})
    if cluster_col is not None and "num_gpus" in group_cols:  # clusters by size, not by name
        size = {row_of(g): _sort_key(g["num_gpus"]) for g, _ in entries}
        rows = sorted(rows, key=lambda r: (size[r], r))
    cols = sort_rows({g["load_scale"] if "load_scale" in g else "all" for g, _ in entries})
    facets = list(dict.fromkeys(facet_of(g) for g, _ in sorted(entries, key=lambda e: facet_of(e[0]))))
    for metric in HEATMAP_METRICS:
        if not any(metric in stats for _, stats in entries):
            continue
        panels = []
        for facet in facets:
            values = np.full((len(rows), len(cols)), math.nan)
            for g, stats in entries:
                if facet_of(g) == facet and metric in stats:
                    values[rows.index(row_of(g)), cols.index(g.get("load_scale", "all"))] = stats[metric].mean
            panels.append(Heatmap(facet, values))
        png = heatmap_figure(panels, rows, cols, row_name=row_name, col_name=col_name, metric=metric,
                             seconds=metric.endswith("_s"))
        sections.append(Section(
            f"{anchor}-heatmap-{slug(metric)}", f"Sweep: {metric} by {row_name} and {col_name}",
            f"One panel per {' / '.join(panel_cols) or 'sweep'}; each cell the mean {metric} over seeds of one "
            f"{row_name} at one {col_name}, written in the cell (\u2013: no finished run). All panels share one "
            "colour scale (logarithmic when it spans more than 100x); darker is a higher value. Read along a row to "
            "see how a cluster copes as load grows, down a column to see what more or other GPUs buy.",
            (Image(f"{anchor}-heatmap-{slug(metric)}.png", png, f"heat map of {metric}"),), level=3))
    cost = next((c for c in TRADEOFF_COSTS if any(math.isfinite(s[c].mean) for _, s in entries if c in s)), None)
    if cost is not None and any("p95_wait_s" in s for _, s in entries):
        loads = cols if "load_scale" in group_cols else ["all"]
        label_cols = [c for c in group_cols if c != "load_scale" and (c in varying or c in (cluster_col, "policy")
                                                                      or (cluster_col is None and c == "num_gpus"))]
        tradeoffs = []
        for load in loads:
            chosen = [(g, s) for g, s in entries if g.get("load_scale", "all") == load and "p95_wait_s" in s
                      and cost in s]
            x = np.array([s["p95_wait_s"].mean for _, s in chosen], dtype=np.float64)
            y = np.array([s[cost].mean for _, s in chosen], dtype=np.float64)
            tradeoffs.append(TradeoffPanel(
                title=f"load scale {load}" if load != "all" else "all runs", x=x, y=y,
                group=tuple(g.get("policy", "runs") for g, _ in chosen),
                label=tuple(", ".join(g[c] for c in label_cols if c != "policy") or g.get("policy", "")
                            for g, _ in chosen),
                front=pareto_front(x, y)))
        png = tradeoff_figure(tradeoffs, x_name="p95 wait", y_name=cost, x_seconds=True)
        sections.append(Section(
            f"{anchor}-tradeoff", f"Sweep: {cost} against p95 wait",
            "Each point one configuration (mean over seeds), coloured by policy, one panel per load scale. Down and "
            "to the left is better on both. Circled points joined by the dashed line are the Pareto front: no other "
            "configuration is both cheaper and faster; every point off it is beaten by one on it. Pick along the "
            "front by how much wait a dollar (or kWh) is worth.",
            (Image(f"{anchor}-tradeoff.png", png, f"{cost} against p95 wait"),), level=3))
    if f.jct_by_policy:
        png = cdf_figure([("JCT", f.jct_by_policy), ("wait", f.wait_by_policy)])
        sections.append(Section(
            f"{anchor}-cdf", "Sweep: JCT and wait CDFs per policy",
            "Per policy, the jobs of all its finished runs pooled (every cluster, load and seed, each job counted "
            "once), so the lines compare policies over the whole sweep rather than one configuration. Read as the "
            "run CDFs above: up and to the left is better; dotted lines mark the median and p95.",
            (Image(f"{anchor}-cdf.png", png, "pooled CDFs per policy"),), level=3))
    sections.append(_sweep_table(anchor, group_cols, entries))
    if f.failed:
        sections.append(Section(f"{anchor}-failed", "Sweep: failed runs",
                                "Runs that raised an error (runs/<run_id>/error.json); a rerun of the sweep "
                                "retries them.",
                                (Table("", ("run", "error"), tuple(f.failed[:MAX_TABLE_ROWS])),), level=3))
    return sections


def _sweep_table(anchor: str, group_cols: Sequence[str], entries: Sequence[tuple[dict[str, str], dict[str, _Stat]]]
                 ) -> Section:
    metrics = [m for m in SWEEP_TABLE_METRICS if any(m in s for _, s in entries)]
    rows = []
    for g, stats in sorted(entries, key=lambda e: tuple(_sort_key(e[0][c]) for c in group_cols)):
        cells = [g[c] for c in group_cols]
        for m in metrics:
            st = stats.get(m)
            if st is None:
                cells.append("n/a")
            elif math.isfinite(st.low) and math.isfinite(st.high):
                cells.append(f"{fmt.metric(m, st.mean)} [{fmt.metric(m, st.low)}, {fmt.metric(m, st.high)}]")
            else:
                cells.append(fmt.metric(m, st.mean))
        n = max((s.n for s in stats.values()), default=0)
        rows.append((*cells, str(n)))
    shown = rows[:MAX_TABLE_ROWS]
    blocks: list[Block] = [Table("", (*group_cols, *metrics, "seeds"), tuple(shown))]
    if len(rows) > len(shown):
        blocks.append(Paragraph(f"First {len(shown)} of {len(rows)} configurations; the rest are in summary.csv."))
    return Section(f"{anchor}-table", "Sweep: summary per configuration",
                   "Mean over seeds, with the 95 % confidence interval in brackets where there are two or more seeds.",
                   tuple(blocks), level=3)


# ----- capacity ---------------------------------------------------------------------------------
# capacity.json keys shown elsewhere (explanation as notes) or too long for a table (per-size lists).
CAPACITY_DOC_SKIP = frozenset({"explanation", "comparison", "probes", "theory_waits"})
CAPACITY_METHODS: dict[str, str] = {"mmc": "M/M/c", "allen_cunneen": "Allen-Cunneen G/G/c", "simulation": "simulation"}
CAPACITY_QUANTITIES: dict[str, str] = {"gpus_needed": "GPUs needed", "nodes_needed": "nodes needed",
                                       "mean_wait_s": "mean wait", "p95_wait_s": "p95 wait",
                                       "utilisation": "utilisation"}
# probes.csv columns drawn against GPUs: (column, legend, dashed = theory)
PROBE_CURVES: tuple[tuple[str, str, bool], ...] = (
    ("p95_wait_s", "simulated p95 wait", False), ("mean_wait_s", "simulated mean wait", False),
    ("mmc_p95_wait_s", "M/M/c p95 wait", True), ("mmc_mean_wait_s", "M/M/c mean wait", True))
CAPACITY_ANSWERS: tuple[tuple[str, str, str], ...] = (
    ("M/M/c", "theory", "mmc_gpus"), ("Allen-Cunneen", "theory", "allen_cunneen_gpus"),
    ("simulation", "simulation", "gpus"))


def _flatten(doc: dict[str, Any], prefix: str = "") -> list[tuple[str, Any]]:
    """Scalars of a JSON document as (dotted key, value); short lists of scalars joined, others left out."""
    out: list[tuple[str, Any]] = []
    for key, value in doc.items():
        name = f"{prefix}{key}"
        if isinstance(value, dict):
            out += _flatten(value, name + ".")
        elif isinstance(value, list):
            if all(not isinstance(v, (dict, list)) for v in value) and len(value) <= 20:
                out.append((name, ", ".join(fmt.cell(v) for v in value)))
        else:
            out.append((name, value))
    return out


def _table_of(table: pa.Table, caption: str) -> tuple[Block, ...]:
    """A table as read, each value formatted by its column name (`_s` durations, utilisation...)."""
    names = table.column_names
    columns = [table.column(c).to_pylist() for c in names]
    n = min(table.num_rows, MAX_TABLE_ROWS)
    rows = tuple(tuple(fmt.metric(name, col[i]) if col[i] is not None else "" for name, col in
                       zip(names, columns, strict=True)) for i in range(n))
    blocks: list[Block] = [Table(caption, tuple(names), rows)]
    if table.num_rows > n:
        blocks.append(Paragraph(f"First {n} of {table.num_rows} rows."))
    return tuple(blocks)


def _capacity_sections(number: int, f: CapacityFolder) -> list[Section]:
    anchor = f"{number}-capacity"
    doc = f.doc
    blocks: list[Block] = []
    if f.capacity is not None:
        blocks += _capacity_table(f.capacity)
    explanation = doc.get("explanation")
    if isinstance(explanation, list) and explanation:
        blocks.append(Notes(tuple(str(e) for e in explanation)))
    if f.probes is not None:
        blocks += _probe_blocks(anchor, f.probes, f.path / "probes.csv", doc)
    facts = _flatten({k: v for k, v in doc.items() if k not in CAPACITY_DOC_SKIP})
    if facts:
        blocks.append(Table("Inputs and workload (capacity.json)", ("", "value"),
                            tuple((k, fmt.metric(k, v)) for k, v in facts)))
    return [Section(anchor, f"Capacity ({f.path})",
                    "How many GPUs meet a wait target, answered two ways side by side: queueing theory (M/M/c, and "
                    "Allen-Cunneen's G/G/c correction, on the trace's arrival rate and GPU time) and the simulator "
                    "itself, bisecting over whole nodes. The notes under the table say why the two differ (gang "
                    "jobs, bursty arrivals, variable job sizes). The plot shows every simulated size: waits fall "
                    "as GPUs are added; solid lines are simulated, dashed ones theory at the same size; the "
                    "dashed black line is the target, the dotted vertical lines each method's answer.",
                    tuple(blocks))]


def _capacity_table(table: pa.Table) -> tuple[Block, ...]:
    names = table.column_names
    methods = [c for c in CAPACITY_METHODS if c in names]
    if "quantity" not in names or not methods:
        return _table_of(table, "capacity.csv")
    data = table.to_pydict()
    rows = []
    for i, quantity in enumerate(data["quantity"]):
        at = data["gpus"][i] if "gpus" in data else None
        rows.append((CAPACITY_QUANTITIES.get(str(quantity), str(quantity)), fmt.cell(at),
                     *(fmt.metric(str(quantity), data[m][i]) for m in methods)))
    return (Table("Theory and simulation side by side (capacity.csv)",
                  ("", "at GPUs", *(CAPACITY_METHODS[m] for m in methods)), tuple(rows)),)


def _probe_blocks(anchor: str, probes: pa.Table, path: Path, doc: dict[str, Any]) -> tuple[Block, ...]:
    x_col = "gpus" if "gpus" in probes.column_names else None
    blocks: list[Block] = []
    present = [(c, name, dashed) for c, name, dashed in PROBE_CURVES if c in probes.column_names]
    if x_col is not None and present and probes.num_rows:
        x = floats(probes, x_col, path)
        curves = [Curve(name, x, floats(probes, c, path), dashed) for c, name, dashed in present]
        target = doc.get("target")
        target_s = target.get("wait_s") if isinstance(target, dict) else None
        answers: dict[str, float] = {}
        for name, section, key in CAPACITY_ANSWERS:
            part = doc.get(section)
            value = part.get(key) if isinstance(part, dict) else None
            if isinstance(value, (int, float)) and not isinstance(value, bool):
                answers[name] = float(value)
        stat = target.get("stat") if isinstance(target, dict) else None
        png = capacity_figure(curves, x_name="GPUs", target_s=float(target_s) if isinstance(
            target_s, (int, float)) and not isinstance(target_s, bool) else None, answers=answers,
            target_label=f"target ({stat} wait)" if stat else "target")
        blocks.append(Image(f"{anchor}-probes.png", png, "wait against cluster size"))
    blocks += _table_of(probes, "Every simulated size (probes.csv)")
    return tuple(blocks)


__all__ = ["DEFAULT_MAX_GANTT_JOBS", "REPORT_FILE", "ReportResult", "build_report"]
