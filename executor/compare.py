"""Predicted versus measured job times: load a prediction (a `simulate` or `solve` output, or a
table) and a measured run (an `execute` output), join them on job id and compute per-job errors
and a summary per label.

Every time is in trace seconds (`execute` already divides wall offsets by its time scale).
Errors are measured minus predicted, so a positive error means the job took longer than
predicted: `jct_err_frac = (measured_jct_s - predicted_jct_s) / predicted_jct_s`. A JCT is
end - submit, with the submit time of the measured table (the trace's, which the executor
replays; the prediction's where the measured one is empty), so both JCTs share one origin and a
solve output, which has no submit times, compares like a simulate output. Only jobs on both
sides whose measured status is `completed` and whose predicted JCT is > 0 enter the error
statistics; jobs on one side only are counted and listed, other statuses are counted and kept in
the per-job table with empty JCT errors. Percentiles use `numpy.percentile(method="linear")`
(interpolation between order statistics, numpy's default); the makespan is the last end minus the
first submit over the compared jobs.
"""

from __future__ import annotations

import enum
import json
import math
from collections import Counter
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, fields
from pathlib import Path
from typing import Any, Final

import numpy as np
import numpy.typing as npt
import pyarrow as pa
import pyarrow.parquet as pq

from simulator.results import write_json, write_table
from simulator.schedule_io import read_schedule
from traces.errors import TraceError, UserError
from traces.io import open_csv, read_text

COMPLETED = "completed"
PERCENTILE_METHOD: Final = "linear"
JOBS_FILE = "compare_jobs"
SUMMARY_FILE = "compare_summary"
DOC_FILE = "compare.json"
FORMATS: tuple[str, ...] = ("csv", "parquet", "json")
# Where a folder keeps its jobs table: `simulate --format` writes any of these, `execute` jobs.csv.
JOB_TABLE_NAMES: tuple[str, ...] = ("jobs.csv", "jobs.csv.gz", "jobs.parquet", "jobs.json")
MEASURED_COLUMNS: tuple[str, ...] = ("job_id", "status", "submit_s", "start_s", "end_s")
PREDICTED_COLUMNS: tuple[str, ...] = ("job_id", "start_s", "end_s")  # submit_s, status optional
EXAMPLE_IDS = 5  # job ids quoted in a note; compare.json lists them all

JOBS_SCHEMA = pa.schema(
    [
        ("label", pa.string()),
        ("job_id", pa.string()),
        ("status", pa.string()),
        ("submit_s", pa.float64()),
        ("predicted_start_s", pa.float64()),
        ("predicted_end_s", pa.float64()),
        ("predicted_jct_s", pa.float64()),
        ("measured_start_s", pa.float64()),
        ("measured_end_s", pa.float64()),
        ("measured_jct_s", pa.float64()),
        ("start_err_s", pa.float64()),
        ("jct_err_s", pa.float64()),
        ("jct_err_frac", pa.float64()),
        ("jct_err_pct", pa.float64()),
    ]
)
SUMMARY_SCHEMA = pa.schema([("label", pa.string()), ("metric", pa.string()), ("value", pa.float64())])

FloatArray = npt.NDArray[np.float64]


class SourceKind(enum.StrEnum):
    """What produced an input: decides its label and which side it may stand on."""

    simulate = "simulate"  # jobs table + run.json
    solve = "solve"  # schedule.csv + solve.json
    execute = "execute"  # jobs.csv + execute.json
    schedule = "schedule"  # a schedule file, long or per-segment form
    table = "table"  # a jobs-like table


@dataclass(frozen=True, slots=True)
class PredictedRun:
    """Predicted times per job (NaN: unknown; start and end both NaN: not scheduled, e.g. rejected)."""

    label: str
    path: str
    kind: SourceKind
    job_id: tuple[str, ...]
    submit_s: FloatArray  # NaN everywhere for a solve output
    start_s: FloatArray
    end_s: FloatArray

    def __post_init__(self) -> None:
        _check_columns(self.job_id, self.submit_s, self.start_s, self.end_s)


@dataclass(frozen=True, slots=True)
class MeasuredRun:
    """Measured times and status per job; `label` is the plan it executed, when its folder says."""

    label: str | None
    path: str
    kind: SourceKind
    job_id: tuple[str, ...]
    status: tuple[str, ...]
    submit_s: FloatArray
    start_s: FloatArray
    end_s: FloatArray
    time_scale: float | None = None

    def __post_init__(self) -> None:
        _check_columns(self.job_id, self.submit_s, self.start_s, self.end_s)
        if len(self.status) != len(self.job_id):
            raise ValueError("status must have one entry per job")


@dataclass(frozen=True, slots=True)
class CompareSummary:
    """One label's counts and error statistics (fractions are of the predicted value; NaN: no data)."""

    label: str
    n_jobs: int  # distinct job ids over both sides
    n_compared: int
    n_missing_predicted: int  # measured only
    n_missing_measured: int  # predicted only
    n_unscheduled_predicted: int  # on both sides, but the prediction has no times (rejected)
    statuses: tuple[tuple[str, int], ...]  # measured status -> jobs on both sides, sorted by status
    median_abs_jct_err_frac: float
    p95_abs_jct_err_frac: float
    mean_abs_jct_err_frac: float
    mean_jct_predicted_s: float
    mean_jct_measured_s: float
    mean_jct_err_frac: float  # error of the mean JCT, not the mean of the errors
    makespan_predicted_s: float
    makespan_measured_s: float
    makespan_err_frac: float
    bias: float  # median signed jct_err_frac: > 0 means jobs ran longer than predicted

    def as_dict(self) -> dict[str, Any]:
        """JSON-ready: NaN as None, statuses as an object."""
        out: dict[str, Any] = {}
        for name in (f.name for f in fields(self)):
            value = getattr(self, name)
            if name == "statuses":
                out[name] = dict(value)
            elif isinstance(value, float) and not math.isfinite(value):
                out[name] = None
            else:
                out[name] = value
        return out

    def metrics(self) -> list[tuple[str, float]]:
        """Long form (metric, value); each status becomes `n_status_<status>`."""
        rows: list[tuple[str, float]] = []
        for name in (f.name for f in fields(self)):
            if name == "label":
                continue
            if name == "statuses":
                rows.extend((f"n_status_{status}", float(count)) for status, count in self.statuses)
            else:
                rows.append((name, float(getattr(self, name))))
        return rows


@dataclass(frozen=True, slots=True)
class Comparison:
    """One prediction against one measured run: per-job rows (`JOBS_SCHEMA`) and a summary."""

    label: str
    predicted_path: str
    predicted_kind: SourceKind
    measured_path: str
    measured_kind: SourceKind
    jobs: pa.Table
    summary: CompareSummary
    missing_predicted: tuple[str, ...]  # job ids only in the measured run, sorted
    missing_measured: tuple[str, ...]  # job ids only in the prediction, sorted
    notes: tuple[str, ...]

    def document(self) -> dict[str, Any]:
        return {
            "label": self.label,
            "predicted": {"path": self.predicted_path, "kind": self.predicted_kind.value},
            "measured": {"path": self.measured_path, "kind": self.measured_kind.value},
            "summary": self.summary.as_dict(),
            "missing_predicted_job_ids": list(self.missing_predicted),
            "missing_measured_job_ids": list(self.missing_measured),
            "notes": list(self.notes),
        }


# ----- loading -----------------------------------------------------------------------------------
def load_predicted(path: str | Path) -> PredictedRun:
    """A simulate or solve output folder, a jobs-like table or a schedule file; one-line errors."""
    path = Path(path)
    _require_exists(path, "a `gpusched simulate` or `gpusched solve` output folder, a jobs table or a schedule file")
    if path.is_dir():
        kind, label, file = _predicted_in_folder(path)
        is_schedule = kind in (SourceKind.solve, SourceKind.schedule)
    else:
        # A file is what its columns say; the folder it sits in (run.json, solve.json) gives the label.
        file = path
        folder_kind, folder_label = _folder_doc(path.parent)
        label = folder_label if folder_kind is not None else _file_label(path)
        is_schedule = _looks_like_schedule(file)
        if is_schedule:
            kind = SourceKind.solve if folder_kind is SourceKind.solve else SourceKind.schedule
        else:
            kind = folder_kind if folder_kind in (SourceKind.simulate, SourceKind.execute) else SourceKind.table
    if is_schedule:
        return _predicted_from_schedule(file, label, kind)
    return _predicted_from_table(file, label, kind)


def load_measured(path: str | Path) -> MeasuredRun:
    """An execute output folder or its jobs table (a simulate output works too); one-line errors."""
    path = Path(path)
    _require_exists(path, "a `gpusched execute` output folder or its jobs.csv")
    time_scale: float | None = None
    if path.is_dir():
        kind, label = _folder_doc(path)
        if kind is SourceKind.solve:
            raise UserError(
                f"{path}: is a `gpusched solve` output (a prediction); expected a `gpusched execute` output "
                "folder as MEASURED (the arguments go in pairs: PREDICTED MEASURED)"
            )
        file = _jobs_file(path)
        if file is None:
            raise TraceError(path, "no jobs table in this folder",
                             expected="a `gpusched execute` output folder with jobs.csv")
        folder = path
    else:
        file, folder = path, path.parent
        kind, label = _folder_doc(folder)
        kind = kind if kind in (SourceKind.execute, SourceKind.simulate) else SourceKind.table
    if kind is SourceKind.execute:
        time_scale = _time_scale(folder / "execute.json")
    columns, rows = _table_rows(file)
    _require_columns(file, columns, MEASURED_COLUMNS, "a measured jobs table")
    ids: list[str] = []
    status: list[str] = []
    submit: list[float] = []
    start: list[float] = []
    end: list[float] = []
    seen: set[str] = set()
    for n, rec in rows:
        job_id = _job_id(file, n, rec.get("job_id"), seen)
        st = _blank(rec.get("status"))
        if not isinstance(st, str):
            raise TraceError(file, "no value" if st is None else None, row=n, field="status",
                             expected="a job status such as 'completed'", found=st)
        st = st.strip()
        done = st == COMPLETED
        sub = _number(file, n, "submit_s", rec.get("submit_s"), required=done)
        s = _number(file, n, "start_s", rec.get("start_s"), required=done)
        e = _number(file, n, "end_s", rec.get("end_s"), required=done)
        _check_order(file, n, s, e)
        ids.append(job_id)
        status.append(st)
        submit.append(sub)
        start.append(s)
        end.append(e)
    return MeasuredRun(
        label=label if kind in (SourceKind.execute, SourceKind.simulate) else None,
        path=str(file),
        kind=kind if kind is not None else SourceKind.table,
        job_id=tuple(ids),
        status=tuple(status),
        submit_s=np.array(submit, dtype=np.float64),
        start_s=np.array(start, dtype=np.float64),
        end_s=np.array(end, dtype=np.float64),
        time_scale=time_scale,
    )


def _require_exists(path: Path, expected: str) -> None:
    if not path.exists():
        raise TraceError(path, "no such file or folder", expected=expected)


def _predicted_in_folder(path: Path) -> tuple[SourceKind, str, Path]:
    kind, label = _folder_doc(path)
    if kind is SourceKind.simulate or kind is SourceKind.execute:
        jobs = _jobs_file(path)
        doc = "run.json" if kind is SourceKind.simulate else "execute.json"
        if jobs is None:
            raise TraceError(path, f"has {doc} but no jobs table", expected="jobs.csv, jobs.parquet or jobs.json")
        return kind, label, jobs
    schedule = path / "schedule.csv"
    if kind is SourceKind.solve:
        if not schedule.is_file():
            raise TraceError(path, "has solve.json but no schedule.csv", expected="a `gpusched solve` output folder")
        return kind, label, schedule
    if schedule.is_file():
        return SourceKind.schedule, label, schedule
    jobs = _jobs_file(path)
    if jobs is None:
        raise TraceError(path, "no jobs table or schedule.csv in this folder",
                         expected="a `gpusched simulate` or `gpusched solve` output folder")
    return SourceKind.table, label, jobs


def _folder_doc(folder: Path) -> tuple[SourceKind | None, str]:
    """Which command wrote the folder (from run.json, solve.json or execute.json) and its label."""
    run, solve, execute = folder / "run.json", folder / "solve.json", folder / "execute.json"
    fallback = folder.resolve().name or str(folder)
    if execute.is_file():
        doc = _read_doc(execute)
        policy = doc.get("policy") or doc.get("label")
        return SourceKind.execute, str(policy) if isinstance(policy, str) and policy else fallback
    if run.is_file():
        doc = _read_doc(run)
        config = doc.get("config")
        policy = config.get("policy") if isinstance(config, dict) else None
        run_id = doc.get("run_id")
        label = policy if isinstance(policy, str) and policy else run_id if isinstance(run_id, str) else fallback
        return SourceKind.simulate, label
    if solve.is_file():
        solver = _read_doc(solve).get("solver")
        return SourceKind.solve, f"solver:{solver}" if isinstance(solver, str) and solver else fallback
    return None, fallback


def _read_doc(path: Path) -> dict[str, Any]:
    text = read_text(path)
    try:
        doc = json.loads(text)
    except json.JSONDecodeError as exc:
        raise TraceError(path, f"line {exc.lineno}: not valid JSON ({exc.msg})") from None
    if not isinstance(doc, dict):
        raise TraceError(path, expected="a JSON object", found=type(doc).__name__)
    return doc


def _time_scale(path: Path) -> float | None:
    value = _read_doc(path).get("time_scale")
    return float(value) if isinstance(value, (int, float)) and not isinstance(value, bool) else None


def _jobs_file(folder: Path) -> Path | None:
    return next((folder / n for n in JOB_TABLE_NAMES if (folder / n).is_file()), None)


def _file_label(path: Path) -> str:
    stem = path.name.split(".")[0] or path.name
    parent = path.resolve().parent.name
    return parent if stem in ("jobs", "schedule") and parent else stem


def _table_format(path: Path) -> str:
    name = path.name.lower()
    if name.endswith((".csv", ".csv.gz")):
        return "csv"
    if name.endswith((".parquet", ".pq")):
        return "parquet"
    if name.endswith(".json"):
        return "json"
    raise TraceError(path, "cannot tell the table format from the file name",
                     expected="a name ending in .csv, .csv.gz, .parquet or .json")


Record = dict[str, Any]


def _table_rows(path: Path) -> tuple[list[str], Iterator[tuple[int, Record]]]:
    """Column names and (1-based row, record) pairs of a CSV, Parquet or JSON table."""
    fmt = _table_format(path)
    if fmt == "csv":
        rows = open_csv(path)
        header = rows.header

        def csv_records() -> Iterator[tuple[int, Record]]:
            for n, fields in rows:
                yield n, {h: (fields[i] if i < len(fields) else "") for i, h in enumerate(header)}

        return header, csv_records()
    if fmt == "parquet":
        try:
            table = pq.read_table(path)
        except (pa.ArrowException, OSError) as exc:
            raise TraceError(path, f"not a readable Parquet file ({' '.join(str(exc).split())[:120]})") from None
        if table.num_rows == 0:
            raise TraceError(path, "the table has no rows", expected="at least one row")
        records = table.to_pylist()
        return table.column_names, iter(enumerate(records, start=1))
    text = read_text(path)
    try:
        data = json.loads(text)
    except json.JSONDecodeError as exc:
        raise TraceError(path, f"line {exc.lineno}: not valid JSON ({exc.msg})") from None
    if not isinstance(data, list) or not data:
        raise TraceError(path, expected="a non-empty JSON list of row objects", found=type(data).__name__)
    columns: dict[str, None] = {}
    for n, rec in enumerate(data, start=1):
        if not isinstance(rec, dict):
            raise TraceError(path, row=n, expected="a JSON object per row", found=rec)
        columns.update(dict.fromkeys(rec))
    return list(columns), iter(enumerate(data, start=1))


def _require_columns(path: Path, columns: Sequence[str], required: Sequence[str], what: str) -> None:
    missing = [c for c in required if c not in columns]
    if missing:
        raise TraceError(path, f"not {what}: missing column(s) {', '.join(missing)}",
                         expected="columns " + ",".join(required), found=",".join(columns))


def _looks_like_schedule(path: Path) -> bool:
    """A schedule file has GPU ids and no submit times; a jobs table has submit times."""
    columns, _ = _table_rows(path)
    return "submit_s" not in columns and ("gpu_id" in columns or "gpu_ids" in columns)


def _predicted_from_schedule(path: Path, label: str, kind: SourceKind) -> PredictedRun:
    schedule = read_schedule(path)
    first: dict[str, float] = {}
    last: dict[str, float] = {}
    for a in schedule.assignments:
        first[a.job_id] = min(first.get(a.job_id, math.inf), a.start_s)
        last[a.job_id] = max(last.get(a.job_id, -math.inf), a.end_s)
    ids = sorted(first) + sorted(set(schedule.rejected) - set(first))
    nan = math.nan
    return PredictedRun(
        label=label,
        path=str(path),
        kind=kind,
        job_id=tuple(ids),
        submit_s=np.full(len(ids), nan),
        start_s=np.array([first.get(j, nan) for j in ids], dtype=np.float64),
        end_s=np.array([last.get(j, nan) for j in ids], dtype=np.float64),
    )


def _predicted_from_table(path: Path, label: str, kind: SourceKind) -> PredictedRun:
    columns, rows = _table_rows(path)
    _require_columns(path, columns, PREDICTED_COLUMNS, "a jobs table or a schedule")
    ids: list[str] = []
    submit: list[float] = []
    start: list[float] = []
    end: list[float] = []
    seen: set[str] = set()
    for n, rec in rows:
        job_id = _job_id(path, n, rec.get("job_id"), seen)
        # Both times empty: a job the prediction did not run (rejected); one alone is malformed.
        unscheduled = _blank(rec.get("start_s")) is None and _blank(rec.get("end_s")) is None
        s = _number(path, n, "start_s", rec.get("start_s"), required=not unscheduled)
        e = _number(path, n, "end_s", rec.get("end_s"), required=not unscheduled)
        _check_order(path, n, s, e)
        ids.append(job_id)
        submit.append(_number(path, n, "submit_s", rec.get("submit_s"), required=False))
        start.append(s)
        end.append(e)
    return PredictedRun(
        label=label,
        path=str(path),
        kind=kind,
        job_id=tuple(ids),
        submit_s=np.array(submit, dtype=np.float64),
        start_s=np.array(start, dtype=np.float64),
        end_s=np.array(end, dtype=np.float64),
    )


def _blank(value: Any) -> Any:
    if value is None or (isinstance(value, str) and not value.strip()):
        return None
    return value


def _job_id(path: Path, n: int, value: Any, seen: set[str]) -> str:
    value = _blank(value)
    if isinstance(value, int) and not isinstance(value, bool):
        value = str(value)
    if not isinstance(value, str):
        raise TraceError(path, "no value" if value is None else None, row=n, field="job_id",
                         expected="a non-empty job id", found=value)
    if value in seen:
        raise TraceError(path, "duplicate job id", row=n, field="job_id", expected="each job once", found=value)
    seen.add(value)
    return value


def _number(path: Path, n: int, field: str, value: Any, *, required: bool) -> float:
    """A finite number of seconds; an empty cell is NaN where allowed."""
    value = _blank(value)
    expected = "a finite number of seconds" + ("" if required else " or empty")
    if value is None:
        if required:
            raise TraceError(path, "no value", row=n, field=field, expected=expected)
        return math.nan
    number = math.nan
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        number = float(value)
    elif isinstance(value, str):
        try:
            number = float(value)
        except ValueError:
            pass
    if not math.isfinite(number):
        raise TraceError(path, row=n, field=field, expected=expected, found=value)
    return number


def _check_order(path: Path, n: int, start_s: float, end_s: float) -> None:
    if end_s < start_s:
        raise TraceError(path, row=n, field="end_s", expected=f"a time >= start_s ({start_s!r})", found=end_s)


def _check_columns(job_id: Sequence[str], *arrays: FloatArray) -> None:
    if any(len(a) != len(job_id) for a in arrays):
        raise ValueError("every column must have one entry per job")


# ----- comparing ---------------------------------------------------------------------------------
def distinct_labels(labels: Sequence[str]) -> list[str]:
    """The labels, with " #2", " #3", ... appended to repeats so each names one comparison."""
    counts: Counter[str] = Counter()
    out: list[str] = []
    for label in labels:
        counts[label] += 1
        out.append(label if counts[label] == 1 else f"{label} #{counts[label]}")
    return out


def compare(pred: PredictedRun, meas: MeasuredRun, *, label: str | None = None) -> Comparison:
    """Join on job id; rows in (submit_s, job_id) order; raises `UserError` when no job id is shared."""
    label = pred.label if label is None else label
    if pred.kind is SourceKind.execute and meas.kind in (SourceKind.simulate, SourceKind.solve):
        raise UserError(
            f"{pred.path} is a measured run and {meas.path} a prediction; the arguments go in pairs: "
            "PREDICTED MEASURED"
        )
    p_index = {j: i for i, j in enumerate(pred.job_id)}
    m_index = {j: i for i, j in enumerate(meas.job_id)}
    both = [j for j in meas.job_id if j in p_index]
    if not both:
        raise UserError(
            f"{pred.path} and {meas.path} share no job id; expected a prediction and a measured run of the same trace"
        )
    missing_predicted = tuple(sorted(j for j in meas.job_id if j not in p_index))
    missing_measured = tuple(sorted(j for j in pred.job_id if j not in m_index))
    pi = np.array([p_index[j] for j in both], dtype=np.int64)
    mi = np.array([m_index[j] for j in both], dtype=np.int64)
    submit = np.where(np.isfinite(meas.submit_s[mi]), meas.submit_s[mi], pred.submit_s[pi])
    order = sorted(range(len(both)), key=lambda k: (not math.isfinite(submit[k]), submit[k], both[k]))
    pi, mi, submit = pi[order], mi[order], submit[order]
    ids = [both[k] for k in order]
    status = [meas.status[i] for i in mi]

    p_start, p_end = pred.start_s[pi], pred.end_s[pi]
    m_start, m_end = meas.start_s[mi], meas.end_s[mi]
    p_jct, m_jct = p_end - submit, m_end - submit
    done = np.array([s == COMPLETED for s in status], dtype=bool)
    scheduled = np.isfinite(p_start) & np.isfinite(p_end)
    usable = done & scheduled & np.isfinite(m_jct) & np.isfinite(p_jct)
    compared = usable & (p_jct > 0)
    nan = np.full(len(ids), math.nan)
    jct_err = np.where(compared, m_jct - p_jct, nan)
    with np.errstate(divide="ignore", invalid="ignore"):
        frac = np.where(compared, jct_err / p_jct, nan)
    start_err = m_start - p_start  # meaningful for any job that started on both sides

    n = len(ids)
    jobs = pa.Table.from_pydict(
        {
            "label": pa.array([label] * n, pa.string()),
            "job_id": pa.array(ids, pa.string()),
            "status": pa.array(status, pa.string()),
            "submit_s": pa.array(submit),
            "predicted_start_s": pa.array(p_start),
            "predicted_end_s": pa.array(p_end),
            "predicted_jct_s": pa.array(p_jct),
            "measured_start_s": pa.array(m_start),
            "measured_end_s": pa.array(m_end),
            "measured_jct_s": pa.array(m_jct),
            "start_err_s": pa.array(start_err),
            "jct_err_s": pa.array(jct_err),
            "jct_err_frac": pa.array(frac),
            "jct_err_pct": pa.array(100.0 * frac),
        },
        schema=JOBS_SCHEMA,
    )
    statuses = tuple(sorted(Counter(status).items()))
    summary = _summary(
        label,
        n_jobs=len(set(pred.job_id) | set(meas.job_id)),
        n_missing_predicted=len(missing_predicted),
        n_missing_measured=len(missing_measured),
        n_unscheduled=int(np.count_nonzero(~scheduled)),
        statuses=statuses,
        submit=submit[compared],
        p_end=p_end[compared],
        m_end=m_end[compared],
        p_jct=p_jct[compared],
        m_jct=m_jct[compared],
        frac=frac[compared],
    )
    notes = _notes(pred, meas, label, summary, missing_predicted, missing_measured,
                   nonpositive=int(np.count_nonzero(usable & ~compared)), submit_mismatch=_submit_mismatch(
                       pred.submit_s[pi], meas.submit_s[mi]))
    return Comparison(
        label=label,
        predicted_path=pred.path,
        predicted_kind=pred.kind,
        measured_path=meas.path,
        measured_kind=meas.kind,
        jobs=jobs,
        summary=summary,
        missing_predicted=missing_predicted,
        missing_measured=missing_measured,
        notes=tuple(notes),
    )


def _summary(
    label: str,
    *,
    n_jobs: int,
    n_missing_predicted: int,
    n_missing_measured: int,
    n_unscheduled: int,
    statuses: tuple[tuple[str, int], ...],
    submit: FloatArray,
    p_end: FloatArray,
    m_end: FloatArray,
    p_jct: FloatArray,
    m_jct: FloatArray,
    frac: FloatArray,
) -> CompareSummary:
    nan = math.nan
    n = len(frac)
    abs_frac = np.abs(frac)
    if n:
        median_abs, p95_abs = (float(v) for v in np.percentile(abs_frac, [50, 95], method=PERCENTILE_METHOD))
        bias = float(np.percentile(frac, 50, method=PERCENTILE_METHOD))
        mean_p, mean_m = float(np.mean(p_jct)), float(np.mean(m_jct))
        first = float(np.min(submit))
        span_p, span_m = float(np.max(p_end)) - first, float(np.max(m_end)) - first
    else:
        median_abs = p95_abs = bias = mean_p = mean_m = span_p = span_m = nan
    return CompareSummary(
        label=label,
        n_jobs=n_jobs,
        n_compared=n,
        n_missing_predicted=n_missing_predicted,
        n_missing_measured=n_missing_measured,
        n_unscheduled_predicted=n_unscheduled,
        statuses=statuses,
        median_abs_jct_err_frac=median_abs,
        p95_abs_jct_err_frac=p95_abs,
        mean_abs_jct_err_frac=float(np.mean(abs_frac)) if n else nan,
        mean_jct_predicted_s=mean_p,
        mean_jct_measured_s=mean_m,
        mean_jct_err_frac=_rel(mean_m, mean_p),
        makespan_predicted_s=span_p,
        makespan_measured_s=span_m,
        makespan_err_frac=_rel(span_m, span_p),
        bias=bias,
    )


def _rel(measured: float, predicted: float) -> float:
    if not (math.isfinite(measured) and math.isfinite(predicted)) or predicted <= 0:
        return math.nan
    return (measured - predicted) / predicted


def _submit_mismatch(pred_submit: FloatArray, meas_submit: FloatArray) -> int:
    both = np.isfinite(pred_submit) & np.isfinite(meas_submit)
    tol = 1e-6 * np.maximum(1.0, np.abs(meas_submit))
    return int(np.count_nonzero(both & (np.abs(pred_submit - meas_submit) > tol)))


def _examples(ids: Sequence[str]) -> str:
    shown = ", ".join(ids[:EXAMPLE_IDS])
    return shown + (", ..." if len(ids) > EXAMPLE_IDS else "")


def _notes(
    pred: PredictedRun,
    meas: MeasuredRun,
    label: str,
    summary: CompareSummary,
    missing_predicted: Sequence[str],
    missing_measured: Sequence[str],
    *,
    nonpositive: int,
    submit_mismatch: int,
) -> list[str]:
    notes: list[str] = []
    if missing_predicted:
        notes.append(f"{len(missing_predicted)} job(s) measured but not predicted, left out: "
                     f"{_examples(missing_predicted)}")
    if missing_measured:
        notes.append(f"{len(missing_measured)} job(s) predicted but not measured, left out: "
                     f"{_examples(missing_measured)}")
    others = [(s, c) for s, c in summary.statuses if s != COMPLETED]
    if others:
        listed = ", ".join(f"{c} {s}" for s, c in others)
        notes.append(f"measured status not {COMPLETED}: {listed}; kept in the job table, left out of the errors")
    if summary.n_unscheduled_predicted:
        notes.append(f"{summary.n_unscheduled_predicted} job(s) have no predicted times (not scheduled, "
                     "e.g. rejected); left out of the errors")
    if nonpositive:
        notes.append(f"{nonpositive} job(s) have a predicted JCT <= 0 (predicted end not after submit): their "
                     "fractional error is undefined; left out of the errors")
    if submit_mismatch:
        notes.append(f"{submit_mismatch} job(s) have different submit times in {pred.path} and {meas.path}; "
                     "JCTs use the measured ones (are these runs of the same trace?)")
    if meas.kind is SourceKind.execute and meas.label is not None and meas.label != pred.label:
        notes.append(f"the measured run executed the plan labelled {meas.label!r}; it is compared here with "
                     f"{label!r}")
    if summary.n_compared == 0:
        notes.append("no job could be compared: every error statistic is empty")
    return notes


# ----- writing -----------------------------------------------------------------------------------
def summary_table(comparisons: Sequence[Comparison]) -> pa.Table:
    """Long form (label, metric, value) over all comparisons."""
    rows = [(c.label, m, v) for c in comparisons for m, v in c.summary.metrics()]
    return pa.Table.from_pydict(
        {
            "label": pa.array([r[0] for r in rows], pa.string()),
            "metric": pa.array([r[1] for r in rows], pa.string()),
            "value": pa.array([r[2] for r in rows], pa.float64()),
        },
        schema=SUMMARY_SCHEMA,
    )


def jobs_table(comparisons: Sequence[Comparison]) -> pa.Table:
    """Every comparison's per-job rows, one after another."""
    return pa.concat_tables([c.jobs for c in comparisons]) if comparisons else JOBS_SCHEMA.empty_table()


def document(comparisons: Sequence[Comparison]) -> dict[str, Any]:
    """What compare.json holds: the definitions used and each comparison's summary, missing ids, notes."""
    return {
        "definitions": {
            "jct_s": "end_s - submit_s (submit of the measured run)",
            "jct_err_frac": "(measured_jct_s - predicted_jct_s) / predicted_jct_s",
            "percentile_method": f"numpy.percentile(method={PERCENTILE_METHOD!r})",
            "makespan_s": "max end_s - min submit_s over the compared jobs",
            "bias": "median signed jct_err_frac",
            "compared": f"on both sides, measured status {COMPLETED!r}, predicted JCT > 0",
        },
        "comparisons": [c.document() for c in comparisons],
    }


def write_comparison(
    comparison: Comparison | Sequence[Comparison], out_dir: str | Path, fmt: str = "csv"
) -> dict[str, Path]:
    """Write compare_jobs.<fmt>, compare_summary.<fmt> and compare.json atomically; returns name -> path."""
    comparisons = [comparison] if isinstance(comparison, Comparison) else list(comparison)
    if fmt not in FORMATS:
        raise UserError(f"unknown output format {fmt!r}; expected one of {', '.join(FORMATS)}")
    labels = [c.label for c in comparisons]
    if len(set(labels)) != len(labels):
        raise ValueError(f"labels must be distinct (see distinct_labels), got {labels}")
    out = Path(out_dir)
    if out.exists() and not out.is_dir():
        raise UserError(f"{out}: exists and is not a folder; expected an output folder")
    out.mkdir(parents=True, exist_ok=True)
    paths = {"jobs": out / f"{JOBS_FILE}.{fmt}", "summary": out / f"{SUMMARY_FILE}.{fmt}", "doc": out / DOC_FILE}
    write_table(jobs_table(comparisons), paths["jobs"], fmt)
    write_table(summary_table(comparisons), paths["summary"], fmt)
    write_json(document(comparisons), paths["doc"])
    return paths


__all__ = [
    "COMPLETED",
    "JOBS_SCHEMA",
    "SUMMARY_SCHEMA",
    "CompareSummary",
    "Comparison",
    "MeasuredRun",
    "PredictedRun",
    "SourceKind",
    "compare",
    "distinct_labels",
    "document",
    "jobs_table",
    "load_measured",
    "load_predicted",
    "summary_table",
    "write_comparison",
]
