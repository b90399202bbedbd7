"""Load a gpusched output folder into what the report draws: job times, timelines, GPU segments, tables.

One loader per kind (see `detect`), each reading the files its command writes:
simulate (run.json, jobs/segments/timeline/summary tables, summary.json, schedule.csv; a sweep's
runs/<id>/ folder with config.json, summary.json, jobs.parquet, timeline.parquet loads the same
way), solve (solve.json, schedule.csv), execute (execute.json, jobs.csv, segments.csv), compare
(compare.json, compare_jobs.*, compare_summary.*), sweep (sweep.json, runs.csv, summary.csv,
runs/<id>/jobs.parquet) and capacity (capacity.json, capacity.csv, probes.csv). GPU segments for a
Gantt chart are read only when the run has at most `max_gantt_jobs` jobs, so a 100k-job run costs
its job table and timeline and nothing more.
"""

from __future__ import annotations

import math
import re
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt
import pyarrow as pa

from executor.compare import (
    JOBS_SCHEMA,
    CompareSummary,
    Comparison,
    MeasuredRun,
    PredictedRun,
    SourceKind,
    compare,
)
from executor.report.detect import FolderKind, detect_kind
from executor.report.stats import (
    Cdf,
    Timeline,
    ecdf,
    quantile_sketch,
    timeline_from_long,
    timeline_from_segments,
)
from executor.report.tables import find_table, floats, read_doc, read_table, require_columns, strings
from simulator.schedule_io import read_schedule
from traces.errors import TraceError

FloatArray = npt.NDArray[np.float64]
IntArray = npt.NDArray[np.int64]

JOB_COLUMNS: tuple[str, ...] = ("job_id", "submit_s", "start_s", "end_s")
# runs.csv columns that describe a run's configuration (the rest, past run_id and status, are metrics).
SWEEP_CONFIG_COLUMNS: tuple[str, ...] = ("cluster", "cluster_label", "num_gpus", "gpu_type", "load_scale", "policy",
                                         "placement", "admission", "seed")
SWEEP_DONE = frozenset({"done", "ok"})  # runs.csv status of a finished run; "failed" and "pending" otherwise
SWEEP_FAILED = frozenset({"failed", "error"})
SUMMARY_STAT_COLUMNS: tuple[str, ...] = ("metric", "n", "mean", "std", "ci95_low", "ci95_high")
_GPUS_IN_CLUSTER = re.compile(r"(\d+) GPUs")
# A run id names a folder under runs/: a plain name, so no runs.csv row can lead outside it.
_RUN_ID = re.compile(r"[0-9A-Za-z_-]+")


@dataclass(frozen=True, slots=True)
class JobTimes:
    """Per-job times of one run in trace seconds (NaN: unknown, e.g. a rejected or unfinished job)."""

    job_id: tuple[str, ...]
    submit_s: FloatArray
    start_s: FloatArray
    end_s: FloatArray
    wait_s: FloatArray
    jct_s: FloatArray
    num_gpus: FloatArray  # NaN: the table does not say
    status: tuple[str, ...]

    def __len__(self) -> int:
        return len(self.job_id)


@dataclass(frozen=True, slots=True)
class GpuBars:
    """Job segments per GPU, for a Gantt chart: bar i is job `job[i]` on GPU row `row[i]`."""

    gpu_ids: tuple[str, ...]  # one row per GPU, in natural order (n2:10 after n2:9)
    job_ids: tuple[str, ...]  # in order of first start
    row: IntArray
    job: IntArray
    start_s: FloatArray
    end_s: FloatArray


@dataclass(frozen=True, slots=True)
class RunFolder:
    """A simulate or execute run (or one run of a sweep)."""

    path: Path
    kind: FolderKind
    label: str
    jobs: JobTimes
    timeline: Timeline | None
    bars: GpuBars | None  # None: more jobs than the Gantt limit, or no segment table
    metrics: dict[str, float]
    notes: tuple[str, ...] = ()
    comparison: Comparison | None = None  # an execute run: its measured times against the plan it ran


@dataclass(frozen=True, slots=True)
class SolveFolder:
    """A solver's offline schedule: no submit times, so no waits; its quality against the bound."""

    path: Path
    label: str
    doc: dict[str, Any]
    num_jobs: int
    num_rejected: int
    timeline: Timeline
    bars: GpuBars | None


@dataclass(frozen=True, slots=True)
class CompareFolder:
    path: Path
    comparisons: tuple[Comparison, ...]
    summary: pa.Table  # long form: label, metric, value
    definitions: dict[str, Any]


@dataclass(frozen=True, slots=True)
class SweepFolder:
    path: Path
    doc: dict[str, Any]
    runs: pa.Table  # runs.csv
    summary: pa.Table | None  # summary.csv (tidy, mean and CI over seeds); None when not written yet
    jct_by_policy: dict[str, Cdf]  # pooled over every finished run of the policy
    wait_by_policy: dict[str, Cdf]
    failed: tuple[tuple[str, str], ...]  # (run_id, one-line error)
    num_pending: int = 0  # neither finished nor failed: the sweep was stopped before them
    notes: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class CapacityFolder:
    path: Path
    doc: dict[str, Any]
    capacity: pa.Table | None
    probes: pa.Table | None


Folder = RunFolder | SolveFolder | CompareFolder | SweepFolder | CapacityFolder


def load_folder(path: Path, *, max_gantt_jobs: int = 200) -> Folder:
    """The folder's kind by its markers, then its files; one-line `UserError`/`TraceError` on bad input."""
    kind = detect_kind(path)
    if kind is FolderKind.simulate:
        return load_simulate(path, max_gantt_jobs=max_gantt_jobs)
    if kind is FolderKind.execute:
        return load_execute(path, max_gantt_jobs=max_gantt_jobs)
    if kind is FolderKind.solve:
        return load_solve(path, max_gantt_jobs=max_gantt_jobs)
    if kind is FolderKind.compare:
        return load_compare(path)
    if kind is FolderKind.sweep:
        return load_sweep(path)
    return load_capacity(path)


# ----- simulate ---------------------------------------------------------------------------------
def load_simulate(path: Path, *, max_gantt_jobs: int = 200) -> RunFolder:
    run_doc = path / "run.json"
    doc = read_doc(run_doc) if run_doc.is_file() else read_doc(path / "config.json")
    jobs_path = find_table(path, "jobs")
    if jobs_path is None:
        raise TraceError(path, "no jobs table", expected="jobs.csv, jobs.parquet or jobs.json")
    jobs = job_times(read_table(jobs_path), jobs_path)
    timeline = None
    timeline_path = find_table(path, "timeline")
    total = _total_gpus(doc)
    if timeline_path is not None:
        table = read_table(timeline_path)
        require_columns(table, timeline_path, ("t_s", "metric", "value"), "a timeline table")
        timeline = timeline_from_long(floats(table, "t_s", timeline_path), strings(table, "metric"),
                                      floats(table, "value", timeline_path), total)
    bars = None
    if len(jobs) <= max_gantt_jobs:
        segments_path = find_table(path, "segments")
        if segments_path is not None:
            bars = _bars_from_table(read_table(segments_path), segments_path)
        elif (path / "schedule.csv").is_file():
            bars = _bars_from_schedule(path / "schedule.csv")
    summary_doc = path / "summary.json"
    metrics = _metrics(read_doc(summary_doc)) if summary_doc.is_file() else {}
    notes = doc.get("notes")
    return RunFolder(
        path=path,
        kind=FolderKind.simulate,
        label=_simulate_label(doc, path),
        jobs=jobs,
        timeline=timeline,
        bars=bars,
        metrics=metrics,
        notes=tuple(str(n) for n in notes) if isinstance(notes, list) else (),
    )


def _simulate_label(doc: dict[str, Any], path: Path) -> str:
    config = doc.get("config")
    for source in (config if isinstance(config, dict) else {}, doc):
        policy = source.get("policy")
        if isinstance(policy, str) and policy:
            return policy
    run_id = doc.get("run_id")
    return run_id if isinstance(run_id, str) and run_id else _folder_name(path)


def _metrics(doc: dict[str, Any]) -> dict[str, float]:
    """summary.json's metrics (an object under "metrics", or at the top level); null as NaN."""
    source = doc.get("metrics")
    if not isinstance(source, dict):
        source = doc
    out: dict[str, float] = {}
    for key, value in source.items():
        if value is None:
            out[str(key)] = math.nan
        elif isinstance(value, (int, float)) and not isinstance(value, bool):
            out[str(key)] = float(value)
    return out


def _total_gpus(doc: dict[str, Any]) -> int | None:
    """The cluster's GPU count: run.json/solve.json describe it ("2 nodes, 16 GPUs (...)"); others name it."""
    for source in (doc, doc.get("cluster"), doc.get("config")):
        if isinstance(source, str):
            match = _GPUS_IN_CLUSTER.search(source)
            if match:
                return int(match.group(1))
        elif isinstance(source, dict):
            value = source.get("num_gpus")
            if isinstance(value, int) and not isinstance(value, bool) and value > 0:
                return value
            cluster = source.get("cluster")
            if isinstance(cluster, str) and (match := _GPUS_IN_CLUSTER.search(cluster)):
                return int(match.group(1))
    return None


def job_times(table: pa.Table, path: Path) -> JobTimes:
    """A jobs table (simulate's or execute's) as arrays; waits and JCTs from the times when not given."""
    require_columns(table, path, JOB_COLUMNS, "a jobs table")
    submit, start, end = (floats(table, c, path) for c in ("submit_s", "start_s", "end_s"))
    names = table.column_names
    size_column = next((c for c in ("num_gpus", "num_devices") if c in names), None)
    return JobTimes(
        job_id=tuple(strings(table, "job_id")),
        submit_s=submit,
        start_s=start,
        end_s=end,
        wait_s=floats(table, "wait_s", path) if "wait_s" in names else start - submit,
        jct_s=floats(table, "jct_s", path) if "jct_s" in names else end - submit,
        num_gpus=floats(table, size_column, path) if size_column else np.full(table.num_rows, math.nan),
        status=tuple(strings(table, "status")) if "status" in names else ("",) * table.num_rows,
    )


# ----- GPU segments -----------------------------------------------------------------------------
def _natural_key(text: str) -> tuple[tuple[int, int | str], ...]:
    return tuple((0, int(p)) if p.isdigit() else (1, p) for p in re.split(r"(\d+)", text) if p)


def gpu_bars(job_ids: Sequence[str], start_s: FloatArray, end_s: FloatArray,
             gpus: Sequence[Sequence[str]]) -> GpuBars:
    """Segments (job, start, end, GPUs) as one bar per (segment, GPU); segments without times are left out."""
    ok = [i for i in range(len(job_ids)) if math.isfinite(start_s[i]) and math.isfinite(end_s[i]) and gpus[i]]
    ok.sort(key=lambda i: (float(start_s[i]), job_ids[i]))
    gpu_ids = tuple(sorted({g for i in ok for g in gpus[i]}, key=_natural_key))
    row_of = {g: k for k, g in enumerate(gpu_ids)}
    jobs: dict[str, int] = {}
    rows: list[int] = []
    job: list[int] = []
    starts: list[float] = []
    ends: list[float] = []
    for i in ok:
        j = jobs.setdefault(job_ids[i], len(jobs))
        for g in gpus[i]:
            rows.append(row_of[g])
            job.append(j)
            starts.append(float(start_s[i]))
            ends.append(float(end_s[i]))
    return GpuBars(gpu_ids, tuple(jobs), np.array(rows, dtype=np.int64), np.array(job, dtype=np.int64),
                   np.array(starts, dtype=np.float64), np.array(ends, dtype=np.float64))


def _split_gpus(text: str) -> tuple[str, ...]:
    return tuple(g.strip() for g in text.split(";") if g.strip())


def _bars_from_table(table: pa.Table, path: Path) -> GpuBars:
    require_columns(table, path, ("job_id", "start_s", "end_s", "gpu_ids"), "a segments table")
    return gpu_bars(strings(table, "job_id"), floats(table, "start_s", path), floats(table, "end_s", path),
                    [_split_gpus(g) for g in strings(table, "gpu_ids")])


def _bars_from_schedule(path: Path) -> GpuBars:
    schedule = read_schedule(path)
    a = schedule.assignments
    return gpu_bars([x.job_id for x in a], np.array([x.start_s for x in a], dtype=np.float64),
                    np.array([x.end_s for x in a], dtype=np.float64), [x.gpu_ids for x in a])


# ----- execute ----------------------------------------------------------------------------------
def load_execute(path: Path, *, max_gantt_jobs: int = 200) -> RunFolder:
    doc = read_doc(path / "execute.json")
    jobs_path = find_table(path, "jobs")
    if jobs_path is None:
        raise TraceError(path, "has execute.json but no jobs table", expected="jobs.csv")
    table = read_table(jobs_path)
    jobs = job_times(table, jobs_path)
    label = next((v for v in (doc.get("policy"), doc.get("label")) if isinstance(v, str) and v), _folder_name(path))
    devices = doc.get("devices")
    total = len(devices) if isinstance(devices, list) and devices else None
    timeline = None
    bars = None
    segments_path = find_table(path, "segments")
    if segments_path is not None:
        seg = read_table(segments_path)
        require_columns(seg, segments_path, ("job_id", "start_s", "end_s", "gpu_ids"), "a segments table")
        seg_gpus = [_split_gpus(g) for g in strings(seg, "gpu_ids")]
        seg_start, seg_end = floats(seg, "start_s", segments_path), floats(seg, "end_s", segments_path)
        timeline = timeline_from_segments(seg_start, seg_end, np.array([len(g) for g in seg_gpus], dtype=np.int64),
                                          submit_s=jobs.submit_s, job_end_s=jobs.end_s, total_gpus=total)
        if len(jobs) <= max_gantt_jobs:
            bars = gpu_bars(strings(seg, "job_id"), seg_start, seg_end, seg_gpus)
    counts = doc.get("counts")
    metrics = {f"num_{k}": float(v) for k, v in counts.items() if isinstance(v, (int, float))} \
        if isinstance(counts, dict) else {}
    notes = doc.get("notes")
    return RunFolder(
        path=path,
        kind=FolderKind.execute,
        label=label,
        jobs=jobs,
        timeline=timeline,
        bars=bars,
        metrics=metrics,
        notes=tuple(str(n) for n in notes) if isinstance(notes, list) else (),
        comparison=_planned_vs_measured(table, jobs, jobs_path, label),
    )


def _planned_vs_measured(table: pa.Table, jobs: JobTimes, path: Path, label: str) -> Comparison | None:
    """The execute table's own predicted times (the plan it replayed) against what it measured."""
    if not {"predicted_start_s", "predicted_end_s"} <= set(table.column_names) or not len(jobs):
        return None
    p_start, p_end = floats(table, "predicted_start_s", path), floats(table, "predicted_end_s", path)
    if not np.isfinite(p_end).any():
        return None
    pred = PredictedRun(label=label, path=str(path), kind=SourceKind.table, job_id=jobs.job_id,
                        submit_s=jobs.submit_s, start_s=p_start, end_s=p_end)
    meas = MeasuredRun(label=label, path=str(path), kind=SourceKind.execute, job_id=jobs.job_id,
                       status=jobs.status, submit_s=jobs.submit_s, start_s=jobs.start_s, end_s=jobs.end_s)
    return compare(pred, meas, label=label)


# ----- solve ------------------------------------------------------------------------------------
def load_solve(path: Path, *, max_gantt_jobs: int = 200) -> SolveFolder:
    doc = read_doc(path / "solve.json")
    schedule_path = path / "schedule.csv"
    if not schedule_path.is_file():
        raise TraceError(path, "has solve.json but no schedule.csv", expected="a `gpusched solve` output folder")
    schedule = read_schedule(schedule_path)
    a = schedule.assignments
    start = np.array([x.start_s for x in a], dtype=np.float64)
    end = np.array([x.end_s for x in a], dtype=np.float64)
    gpus = np.array([len(x.gpu_ids) for x in a], dtype=np.int64)
    job_ids = {x.job_id for x in a}
    bars = None
    if len(job_ids) <= max_gantt_jobs:
        bars = gpu_bars([x.job_id for x in a], start, end, [x.gpu_ids for x in a])
    solver = doc.get("solver")
    return SolveFolder(
        path=path,
        label=f"solver:{solver}" if isinstance(solver, str) and solver else _folder_name(path),
        doc=doc,
        num_jobs=len(job_ids),
        num_rejected=len(schedule.rejected),
        timeline=timeline_from_segments(start, end, gpus, total_gpus=_total_gpus(doc)),
        bars=bars,
    )


# ----- compare ----------------------------------------------------------------------------------
def load_compare(path: Path) -> CompareFolder:
    doc_path = path / "compare.json"
    doc = read_doc(doc_path)
    jobs_path = find_table(path, "compare_jobs")
    summary_path = find_table(path, "compare_summary")
    if jobs_path is None or summary_path is None:
        raise TraceError(path, "has compare.json but not both tables",
                         expected="compare_jobs.<csv|parquet|json> and compare_summary.<csv|parquet|json>")
    jobs = _compare_jobs(read_table(jobs_path), jobs_path)
    summary = read_table(summary_path)
    require_columns(summary, summary_path, ("label", "metric", "value"), "a compare summary table")
    entries = doc.get("comparisons")
    if not isinstance(entries, list):
        raise TraceError(doc_path, field="comparisons", expected="a list of comparisons", found=type(entries).__name__)
    labels = jobs.column("label").to_pylist()
    comparisons = []
    for i, entry in enumerate(entries):
        if not isinstance(entry, dict):
            raise TraceError(doc_path, field=f"comparisons[{i}]", expected="an object", found=type(entry).__name__)
        label = str(entry.get("label"))
        mask = pa.array([lab == label for lab in labels], pa.bool_())
        comparisons.append(_comparison(entry, jobs.filter(mask), doc_path, i))
    definitions = doc.get("definitions")
    return CompareFolder(path, tuple(comparisons), summary, definitions if isinstance(definitions, dict) else {})


def _compare_jobs(table: pa.Table, path: Path) -> pa.Table:
    """compare_jobs.* in `executor.compare.JOBS_SCHEMA` (floats NaN where empty, as `compare` makes them)."""
    require_columns(table, path, JOBS_SCHEMA.names, "a compare_jobs table")
    columns: dict[str, pa.Array] = {}
    for f in JOBS_SCHEMA:
        if pa.types.is_floating(f.type):
            columns[f.name] = pa.array(floats(table, f.name, path))
        else:
            columns[f.name] = pa.array(strings(table, f.name), pa.string())
    return pa.Table.from_pydict(columns, schema=JOBS_SCHEMA)


def _comparison(entry: dict[str, Any], jobs: pa.Table, doc_path: Path, i: int) -> Comparison:
    summary = entry.get("summary")
    if not isinstance(summary, dict):
        raise TraceError(doc_path, field=f"comparisons[{i}].summary", expected="an object",
                         found=type(summary).__name__)
    values: dict[str, Any] = {}
    for name in CompareSummary.__dataclass_fields__:
        value = summary.get(name)
        if name == "label":
            values[name] = str(entry.get("label"))
        elif name == "statuses":
            statuses = value if isinstance(value, dict) else {}
            values[name] = tuple(sorted((str(k), int(v)) for k, v in statuses.items()))
        elif name.startswith("n_"):
            values[name] = int(value) if isinstance(value, (int, float)) else 0
        else:
            values[name] = float(value) if isinstance(value, (int, float)) else math.nan
    sides: list[dict[str, Any]] = []
    for side in ("predicted", "measured"):
        value = entry.get(side)
        sides.append(value if isinstance(value, dict) else {})
    kinds = [SourceKind(k) if k in SourceKind.__members__ else SourceKind.table for k in
             (str(s.get("kind")) for s in sides)]
    notes = entry.get("notes")
    return Comparison(
        label=values["label"],
        predicted_path=str(sides[0].get("path", "")),
        predicted_kind=kinds[0],
        measured_path=str(sides[1].get("path", "")),
        measured_kind=kinds[1],
        jobs=jobs,
        summary=CompareSummary(**values),
        missing_predicted=tuple(str(j) for j in entry.get("missing_predicted_job_ids") or ()),
        missing_measured=tuple(str(j) for j in entry.get("missing_measured_job_ids") or ()),
        notes=tuple(str(n) for n in notes) if isinstance(notes, list) else (),
    )


# ----- sweep ------------------------------------------------------------------------------------
def load_sweep(path: Path) -> SweepFolder:
    doc = read_doc(path / "sweep.json") if (path / "sweep.json").is_file() else {}
    runs_path = path / "runs.csv"
    if not runs_path.is_file():
        raise TraceError(path, "has sweep.json but no runs.csv (is the sweep still running?)",
                         expected="runs.csv, written at the end of `gpusched sweep` and after a resume")
    runs = read_table(runs_path)
    require_columns(runs, runs_path, ("run_id", "status"), "a sweep runs table")
    summary_path = path / "summary.csv"
    summary = read_table(summary_path) if summary_path.is_file() else None
    if summary is not None:
        require_columns(summary, summary_path, SUMMARY_STAT_COLUMNS, "a sweep summary table")
    run_ids = _run_ids(runs, runs_path)
    status = [st.lower() for st in strings(runs, "status")]
    errors = strings(runs, "error") if "error" in runs.column_names else [""] * runs.num_rows
    policies = strings(runs, "policy") if "policy" in runs.column_names else ["all runs"] * runs.num_rows
    failed: list[tuple[str, str]] = []
    sketches: dict[str, tuple[list[FloatArray], list[FloatArray], list[FloatArray], list[FloatArray]]] = {}
    missing = pending = 0
    for run_id, st, error, policy in zip(run_ids, status, errors, policies, strict=True):
        run_dir = path / "runs" / run_id
        if st in SWEEP_FAILED:
            failed.append((run_id, " ".join(error.split()) or _run_error(run_dir / "error.json")))
            continue
        if st not in SWEEP_DONE:
            pending += 1
            continue
        jobs_path = find_table(run_dir, "jobs")
        if jobs_path is None:
            missing += 1
            continue
        table = read_table(jobs_path, columns=("job_id", "submit_s", "start_s", "end_s", "wait_s", "jct_s"))
        jobs = job_times(table, jobs_path)
        jx, jw = quantile_sketch(jobs.jct_s)
        wx, ww = quantile_sketch(jobs.wait_s)
        acc = sketches.setdefault(policy, ([], [], [], []))
        acc[0].append(jx)
        acc[1].append(jw)
        acc[2].append(wx)
        acc[3].append(ww)
    jct = {p: ecdf(np.concatenate(a[0]), np.concatenate(a[1])) for p, a in sketches.items()}
    wait = {p: ecdf(np.concatenate(a[2]), np.concatenate(a[3])) for p, a in sketches.items()}
    notes = [f"{missing} finished run(s) have no runs/<run_id>/jobs table; left out of the CDFs"] if missing else []
    if pending:
        notes.append(f"{pending} run(s) pending: the sweep stopped before them (rerun it to finish)")
    return SweepFolder(path, doc, runs, summary, jct, wait, tuple(failed), pending, tuple(notes))


def _run_ids(runs: pa.Table, runs_path: Path) -> list[str]:
    """The run_id column, each checked to be a plain folder name (letters, digits, '_', '-'):
    the loader follows it into runs/<run_id>/, and '../x' or '/x' would lead elsewhere."""
    run_ids = strings(runs, "run_id")
    for row, run_id in enumerate(run_ids, start=1):
        if not _RUN_ID.fullmatch(run_id):
            raise TraceError(runs_path, "not a run folder name", row=row, field="run_id",
                             expected="letters, digits, '_' and '-' only", found=run_id)
    return run_ids


def _run_error(path: Path) -> str:
    if not path.is_file():
        return "no error.json"
    doc = read_doc(path)
    kind, message = doc.get("type") or doc.get("error_type"), doc.get("message") or doc.get("error")
    text = ": ".join(str(v) for v in (kind, message) if v)
    return " ".join(text.split()) or "no message"


# ----- capacity ---------------------------------------------------------------------------------
def load_capacity(path: Path) -> CapacityFolder:
    doc = read_doc(path / "capacity.json") if (path / "capacity.json").is_file() else {}
    capacity = read_table(path / "capacity.csv") if (path / "capacity.csv").is_file() else None
    probes = read_table(path / "probes.csv") if (path / "probes.csv").is_file() else None
    return CapacityFolder(path, doc, capacity, probes)


def _folder_name(path: Path) -> str:
    return path.resolve().name or str(path)


__all__ = [
    "SWEEP_CONFIG_COLUMNS",
    "SWEEP_DONE",
    "SWEEP_FAILED",
    "SUMMARY_STAT_COLUMNS",
    "CapacityFolder",
    "CompareFolder",
    "Folder",
    "GpuBars",
    "JobTimes",
    "RunFolder",
    "SolveFolder",
    "SweepFolder",
    "gpu_bars",
    "job_times",
    "load_capacity",
    "load_compare",
    "load_execute",
    "load_folder",
    "load_simulate",
    "load_solve",
    "load_sweep",
]
