"""Schedule files, as CSV, Parquet or JSON, in two forms that both read back to the same `Schedule`.

Long form (the simulator's `schedule.csv`), one row per (job, segment, GPU): columns
(`COLUMNS`) `job_id`, `status` ("run" or "rejected"), `segment` (0-based per job),
`start_s`, `end_s`, `work_s` (empty: the segment's length), `gpu_id`. A rejected job is
one row with only `job_id` and `status`. A segment with no GPU is one row with an empty
`gpu_id`, so every `Schedule` round-trips exactly.

Per-segment form (a solver's `schedule.csv`; `form="segments"`), one row per segment:
the same columns with `gpu_ids` (the segment's GPUs joined by ";", e.g. "n0:0;n0:1")
instead of `gpu_id`; `segment` may be left out (then each row of a job is its next
segment), `status` and `work_s` are optional as in the long form.

Rows sharing `(job_id, segment, start_s, end_s, work_s)` form one `Assignment`; rows of
one segment number with different times stay separate assignments, so a hand-written
file whose gang parts start at different times is kept as such and the validator
reports it (GANG_SPLIT) instead of the reader hiding it.
Writes are atomic: a temporary file in the target folder, then `os.replace`.
"""

from __future__ import annotations

import csv
import gzip
import io
import json
import math
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq

from simulator.atomic import atomic_write
from simulator.schedule import Assignment, Schedule
from traces.errors import TraceError, UserError
from traces.io import check_file, is_parquet, read_text

COLUMNS: tuple[str, ...] = ("job_id", "status", "segment", "start_s", "end_s", "work_s", "gpu_id")
REQUIRED_COLUMNS: tuple[str, ...] = ("job_id", "segment", "start_s", "end_s", "gpu_id")  # status, work_s optional
SEGMENT_COLUMNS: tuple[str, ...] = ("job_id", "status", "segment", "start_s", "end_s", "work_s", "gpu_ids")
SEGMENT_REQUIRED: tuple[str, ...] = ("job_id", "start_s", "end_s", "gpu_ids")
GPU_SEPARATOR = ";"
RUN = "run"
REJECTED = "rejected"
FORMATS: dict[str, str] = {".csv": "csv", ".gz": "csv", ".parquet": "parquet", ".pq": "parquet", ".json": "json"}

_ARROW_SCHEMA = pa.schema(
    [
        ("job_id", pa.string()),
        ("status", pa.string()),
        ("segment", pa.int64()),
        ("start_s", pa.float64()),
        ("end_s", pa.float64()),
        ("work_s", pa.float64()),
        ("gpu_id", pa.string()),
    ]
)

Record = dict[str, Any]


# ----- writing ----------------------------------------------------------------------
def schedule_records(schedule: Schedule) -> list[Record]:
    """The long-form rows of a schedule, in schedule order, rejected jobs last."""
    rows: list[Record] = []
    next_segment: dict[str, int] = {}
    for a in schedule.assignments:
        for name, value in (("start_s", a.start_s), ("end_s", a.end_s), ("work_s", a.work_s)):
            if value is not None and not math.isfinite(value):
                raise ValueError(f"job {a.job_id}: {name} {value} cannot be written (files hold finite times)")
        seg = next_segment.get(a.job_id, 0)
        next_segment[a.job_id] = seg + 1
        base = {"job_id": a.job_id, "status": RUN, "segment": seg, "start_s": float(a.start_s),
                "end_s": float(a.end_s), "work_s": None if a.work_s is None else float(a.work_s)}
        for g in a.gpu_ids or (None,):
            rows.append({**base, "gpu_id": g})
    for jid in schedule.rejected:
        rows.append({"job_id": jid, "status": REJECTED, "segment": None, "start_s": None,
                     "end_s": None, "work_s": None, "gpu_id": None})
    return rows


def format_of(path: str | Path) -> str:
    """'csv', 'parquet' or 'json' from the file name (`.csv`, `.csv.gz`, `.parquet`, `.pq`, `.json`)."""
    p = Path(path)
    fmt = FORMATS.get(p.suffix.lower())
    if fmt is None or (p.suffix.lower() == ".gz" and not p.name.lower().endswith(".csv.gz")):
        raise UserError(f"{p}: cannot tell the schedule format from the name; use .csv, .csv.gz, .parquet or .json")
    return fmt


def segment_records(schedule: Schedule) -> list[Record]:
    """The per-segment rows of a schedule (`gpu_ids` joined by ";"), rejected jobs last."""
    rows: list[Record] = []
    for r in schedule_records(schedule):
        last = rows[-1] if rows else None
        if (last is not None and r["status"] == RUN and last["status"] == RUN and last["job_id"] == r["job_id"]
                and last["segment"] == r["segment"]):
            last["gpu_ids"] += GPU_SEPARATOR + r["gpu_id"]
            continue
        row = {c: r[c] for c in COLUMNS if c != "gpu_id"}
        row["gpu_ids"] = r["gpu_id"] if r["status"] == RUN and r["gpu_id"] is not None else None
        rows.append(row)
    return rows


def write_schedule(schedule: Schedule, path: str | Path, fmt: str | None = None, form: str = "long") -> Path:
    """Write `schedule` atomically; the format comes from `fmt` or the file name; `form` is
    "long" (one row per GPU) or "segments" (one row per segment, `gpu_ids` joined by ";")."""
    path = Path(path)
    fmt = fmt or format_of(path)
    if form not in ("long", "segments"):
        raise ValueError(f"form must be 'long' or 'segments', got {form!r}")
    columns = COLUMNS if form == "long" else SEGMENT_COLUMNS
    rows = schedule_records(schedule) if form == "long" else segment_records(schedule)
    if fmt == "csv":
        text = _csv_text(rows, columns).encode("utf-8")
        if path.name.lower().endswith(".gz"):
            text = gzip.compress(text, mtime=0)
        _atomic(path, lambda tmp: tmp.write_bytes(text))
    elif fmt == "json":
        # One record per line: diffable and much faster than indent=.
        data = "[\n" + ",\n".join(json.dumps(r, allow_nan=False, ensure_ascii=False) for r in rows) + "\n]\n"
        _atomic(path, lambda tmp: tmp.write_text(data, encoding="utf-8"))
    elif fmt == "parquet":
        schema = _ARROW_SCHEMA if form == "long" else pa.schema(
            [f if f.name != "gpu_id" else pa.field("gpu_ids", pa.string()) for f in _ARROW_SCHEMA])
        table = pa.Table.from_pylist(rows, schema=schema)
        _atomic(path, lambda tmp: pq.write_table(table, tmp))
    else:
        raise UserError(f"unknown schedule format {fmt!r}; expected csv, parquet or json")
    return path


def _csv_text(rows: Sequence[Record], columns: Sequence[str] = COLUMNS) -> str:
    buf = io.StringIO()
    w = csv.writer(buf, lineterminator="\n")
    w.writerow(columns)
    for r in rows:
        w.writerow(["" if r[c] is None else repr(r[c]) if isinstance(r[c], float) else r[c] for c in columns])
    return buf.getvalue()


def _atomic(path: Path, write: Callable[[Path], object]) -> None:
    if path.is_dir():
        raise UserError(f"{path}: is a directory; expected a schedule file name")
    if not path.parent.is_dir():
        raise UserError(f"{path}: the folder {path.parent} does not exist")
    atomic_write(path, write)


# ----- reading ----------------------------------------------------------------------
def read_schedule(path: str | Path) -> Schedule:
    """Read a schedule file (format from its content); bad input raises a one-line `TraceError`."""
    path = Path(path)
    return _build(path, schedule_rows(path))


def schedule_rows(path: str | Path) -> Iterator[tuple[int, Record]]:
    """The file's raw rows with their 1-based row numbers, cells as read (to point an error at a row)."""
    path = Path(path)
    check_file(path)
    if is_parquet(path):
        return _parquet_records(path)
    text = read_text(path)
    is_json = text.lstrip()[:1] in ("[", "{")
    return _json_records(path, text) if is_json else _csv_records(path, text)


def _csv_records(path: Path, text: str) -> Iterator[tuple[int, Record]]:
    reader = csv.reader(io.StringIO(text, newline=""))
    try:
        header = [h.strip() for h in next(reader)]
    except (csv.Error, StopIteration) as exc:
        raise TraceError(path, f"line 1: not CSV ({exc})") from None
    pos = _require(path, header)
    n = 0
    try:
        for fields in reader:
            if not fields or not any(x.strip() for x in fields):
                continue
            n += 1
            # Cells are not stripped: ids may start or end with spaces and must round-trip.
            yield n, {c: (fields[i] if i < len(fields) else "") for c, i in pos.items()}
    except csv.Error as exc:
        raise TraceError(path, f"not valid CSV ({exc})", row=n + 1) from None


def _json_records(path: Path, text: str) -> Iterator[tuple[int, Record]]:
    try:
        data = json.loads(text)
    except json.JSONDecodeError as exc:
        raise TraceError(path, f"line {exc.lineno}: not valid JSON ({exc.msg})") from None
    if not isinstance(data, list):
        kind = "an object" if isinstance(data, dict) else f"a {type(data).__name__}"
        raise TraceError(path, f"the top level is {kind}", expected="a JSON list of row objects")
    for n, rec in enumerate(data, start=1):
        if not isinstance(rec, dict):
            raise TraceError(path, row=n, expected="a JSON object per row", found=rec)
        yield n, rec  # an absent key reads as null, like an empty CSV cell


def _parquet_records(path: Path) -> Iterator[tuple[int, Record]]:
    try:
        table = pq.read_table(path)
    except (pa.ArrowException, OSError) as exc:
        raise TraceError(path, f"not a readable Parquet file ({' '.join(str(exc).split())[:120]})") from None
    _require(path, table.column_names)
    cols = {c: table.column(c).to_pylist() for c in (*COLUMNS, "gpu_ids") if c in table.column_names}
    for i in range(table.num_rows):
        yield i + 1, {c: v[i] for c, v in cols.items()}


def _require(path: Path, header: Sequence[str]) -> dict[str, int]:
    pos = {h: i for i, h in enumerate(header)}
    per_segment = "gpu_ids" in pos and "gpu_id" not in pos
    required, columns = (SEGMENT_REQUIRED, SEGMENT_COLUMNS) if per_segment else (REQUIRED_COLUMNS, COLUMNS)
    missing = [c for c in required if c not in pos]
    if missing:
        raise TraceError(
            path,
            f"not a schedule file: missing column(s) {', '.join(missing)}",
            expected="columns " + ",".join(COLUMNS) + " (or " + ",".join(SEGMENT_COLUMNS) + ")",
            found=",".join(header),
        )
    return {c: pos[c] for c in columns if c in pos}


def _build(path: Path, records: Iterator[tuple[int, Record]]) -> Schedule:
    groups: dict[tuple[str, int, float, float, float | None], list[str]] = {}
    rejected: list[str] = []
    next_segment: dict[str, int] = {}
    for n, rec in records:
        job_id = _job_id(path, n, rec.get("job_id"))
        status = _blank(rec.get("status"))
        status = RUN if status is None else str(status).strip()
        if status not in (RUN, REJECTED):
            raise TraceError(path, row=n, field="status", expected=f"'{RUN}', '{REJECTED}' or empty", found=status)
        if status == REJECTED:
            for c in ("segment", "start_s", "end_s", "work_s", "gpu_id", "gpu_ids"):
                if _blank(rec.get(c)) is not None:
                    raise TraceError(path, row=n, field=c, expected="empty for a rejected job", found=rec[c])
            rejected.append(job_id)
            continue
        per_segment = "gpu_ids" in rec and "gpu_id" not in rec
        if per_segment and _blank(rec.get("segment")) is None:
            segment = next_segment.get(job_id, 0)
        else:
            segment = _segment(path, n, rec.get("segment"))
        next_segment[job_id] = segment + 1
        start = _number(path, n, "start_s", rec.get("start_s"), required=True)
        end = _number(path, n, "end_s", rec.get("end_s"), required=True)
        work = _number(path, n, "work_s", rec.get("work_s"), required=False)
        field = "gpu_ids" if per_segment else "gpu_id"
        cell = _blank(rec.get(field))
        if cell is not None and not isinstance(cell, str):
            expected = "GPU ids such as 'n0:0;n0:1'" if per_segment else "a GPU id such as 'n0:3'"
            raise TraceError(path, row=n, field=field, expected=expected, found=cell)
        assert start is not None and end is not None
        gpus = groups.setdefault((job_id, segment, start, end, work), [])
        if cell is not None:
            if per_segment:
                parts = [g.strip() for g in cell.split(GPU_SEPARATOR)]
                if not all(parts):
                    raise TraceError(path, row=n, field=field, expected="GPU ids joined by ';' (no empty id)",
                                     found=cell)
                gpus.extend(parts)
            else:
                gpus.append(cell)
    assignments = [Assignment(j, s, e, tuple(g), w) for (j, _seg, s, e, w), g in groups.items()]
    return Schedule.of(assignments, rejected)


def _blank(value: Any) -> Any:
    """None for an empty cell (CSV "" or JSON/Parquet null), else the value."""
    if value is None or (isinstance(value, str) and not value.strip()):
        return None
    return value


def _job_id(path: Path, n: int, value: Any) -> str:
    value = _blank(value)
    if isinstance(value, int) and not isinstance(value, bool):
        return str(value)
    if not isinstance(value, str):
        if value is None:
            raise TraceError(path, "no value", row=n, field="job_id", expected="a non-empty job id")
        raise TraceError(path, row=n, field="job_id", expected="a non-empty job id", found=value)
    return value


def _segment(path: Path, n: int, value: Any) -> int:
    value = _blank(value)
    expected = "an integer >= 0"
    if value is None:
        raise TraceError(path, "no value", row=n, field="segment", expected=expected + " for a run row")
    if isinstance(value, bool):
        raise TraceError(path, row=n, field="segment", expected=expected, found=value)
    number: float
    if isinstance(value, (int, float)):
        number = value
    elif isinstance(value, str):
        try:
            number = int(value)
        except ValueError:
            try:
                number = float(value)
            except ValueError:
                raise TraceError(path, row=n, field="segment", expected=expected, found=value) from None
    else:
        raise TraceError(path, row=n, field="segment", expected=expected, found=value)
    if not math.isfinite(number) or number != int(number) or number < 0:
        raise TraceError(path, row=n, field="segment", expected=expected, found=value)
    return int(number)


def _number(path: Path, n: int, field: str, value: Any, *, required: bool) -> float | None:
    value = _blank(value)
    expected = "a finite number of seconds" + ("" if required else " or empty")
    if value is None:
        if required:
            raise TraceError(path, "no value", row=n, field=field, expected=expected + " for a run row")
        return None
    if isinstance(value, bool):
        raise TraceError(path, row=n, field=field, expected=expected, found=value)
    if isinstance(value, (int, float)):
        number = float(value)
    elif isinstance(value, str):
        try:
            number = float(value)
        except ValueError:
            raise TraceError(path, row=n, field=field, expected=expected, found=value) from None
    else:
        raise TraceError(path, row=n, field=field, expected=expected, found=value)
    if not math.isfinite(number):
        raise TraceError(path, row=n, field=field, expected=expected, found=value)
    return number


__all__ = [
    "COLUMNS",
    "GPU_SEPARATOR",
    "REQUIRED_COLUMNS",
    "SEGMENT_COLUMNS",
    "format_of",
    "read_schedule",
    "schedule_records",
    "schedule_rows",
    "segment_records",
    "write_schedule",
]
