"""Write a run's tables to a folder: jobs, segments, summary, timeline (csv, parquet or json),
summary.json and schedule.csv.

Every file is written atomically (a temporary file in the same folder, then `os.replace`),
so a reader never sees half a file and an interrupted run leaves the old file intact.
Output is byte-for-byte deterministic: CSV floats are Python `repr` (shortest exact form,
empty for NaN), JSON is a list of row objects with NaN as null (like `schedule_io`), and
Parquet carries no timestamps. The schedule is always CSV, in `simulator.schedule_io`'s
long form. `summary.json` is always written: the run's labels, its metrics as an object
(counts, `simulator.metrics.COUNT_METRICS`, as JSON integers) and `wall_s`, the run's
wall-clock time, the one value that differs between identical runs (with `--format json`
it takes the place of the long-form summary table, whose numbers it holds).
"""

from __future__ import annotations

import csv
import io
import json
import math
import os
from pathlib import Path
from typing import Any, Protocol

import pyarrow as pa
import pyarrow.parquet as pq

from simulator.atomic import atomic_write
from simulator.metrics import COUNT_METRICS
from simulator.schedule import Schedule
from simulator.schedule_io import write_schedule
from traces.errors import UserError

FORMATS: tuple[str, ...] = ("csv", "parquet", "json")
TABLES: tuple[str, ...] = ("jobs", "segments", "summary", "timeline")
SCHEDULE_FILE = "schedule.csv"
SUMMARY_DOC = "summary.json"


class ResultTables(Protocol):
    """What `write_results` needs; `simulator.run.SimResult` is one."""

    @property
    def jobs(self) -> pa.Table: ...

    @property
    def segments(self) -> pa.Table: ...

    @property
    def wall_s(self) -> float: ...

    @property
    def summary(self) -> pa.Table: ...

    @property
    def timeline(self) -> pa.Table: ...

    @property
    def schedule(self) -> Schedule: ...


def write_results(result_tables: ResultTables, out_dir: str | os.PathLike[str], fmt: str = "csv") -> dict[str, Path]:
    """Write the tables as `<name>.<fmt>`, `summary.json` and `schedule.csv`; returns name -> path."""
    if fmt not in FORMATS:
        raise UserError(f"unknown output format {fmt!r}; expected one of {', '.join(FORMATS)}")
    out = Path(out_dir)
    if out.exists() and not out.is_dir():
        raise UserError(f"{out}: exists and is not a folder; expected an output folder")
    out.mkdir(parents=True, exist_ok=True)
    paths: dict[str, Path] = {}
    for name in TABLES:
        if name == "summary" and fmt == "json":
            continue
        table: pa.Table = getattr(result_tables, name)
        path = out / f"{name}.{fmt}"
        write_table(table, path, fmt)
        paths[name] = path
    paths["summary_json"] = out / SUMMARY_DOC
    write_json(summary_document(result_tables.summary, result_tables.wall_s), paths["summary_json"])
    if fmt == "json":
        paths["summary"] = paths["summary_json"]
    paths["schedule"] = write_schedule(result_tables.schedule, out / SCHEDULE_FILE, "csv")
    return paths


def summary_document(summary: pa.Table, wall_s: float) -> dict[str, Any]:
    """The long-form summary as one JSON object: run labels, `metrics` by name (NaN: null,
    counts as integers), `wall_s`."""
    rows = summary.to_pylist()
    labels = {k: rows[0][k] for k in ("run_id", "policy", "placement", "seed")} if rows else {}
    metrics = {r["metric"]: _json_value(r["value"], count=r["metric"] in COUNT_METRICS) for r in rows}
    return {**labels, "metrics": metrics, "wall_s": round(float(wall_s), 6)}


def write_table(table: pa.Table, path: Path, fmt: str) -> None:
    """One table to one file, atomically."""
    if fmt == "csv":
        data = _csv_text(table).encode("utf-8")
        _atomic(path, lambda tmp: tmp.write_bytes(data))
    elif fmt == "json":
        text = _json_text(table)
        _atomic(path, lambda tmp: tmp.write_text(text, encoding="utf-8"))
    elif fmt == "parquet":
        _atomic(path, lambda tmp: pq.write_table(table, tmp))
    else:
        raise UserError(f"unknown output format {fmt!r}; expected one of {', '.join(FORMATS)}")


def write_json(data: Any, path: Path) -> None:
    """A JSON document (sorted keys, NaN refused), atomically."""
    text = json.dumps(data, indent=2, sort_keys=True, allow_nan=False) + "\n"
    _atomic(path, lambda tmp: tmp.write_text(text, encoding="utf-8"))


def _cell_strings(column: pa.ChunkedArray) -> list[str]:
    values = column.to_pylist()
    if pa.types.is_floating(column.type):
        return ["" if v is None or math.isnan(v) else repr(v) for v in values]
    return ["" if v is None else str(v) for v in values]


def _csv_text(table: pa.Table) -> str:
    buf = io.StringIO()
    writer = csv.writer(buf, lineterminator="\n")
    writer.writerow(table.column_names)
    writer.writerows(zip(*(_cell_strings(table.column(i)) for i in range(table.num_columns)), strict=True))
    return buf.getvalue()


def _json_value(v: Any, *, count: bool = False) -> Any:
    if isinstance(v, float) and math.isnan(v):
        return None
    return int(v) if count and isinstance(v, float) and v.is_integer() else v


def _json_text(table: pa.Table) -> str:
    rows = [{k: _json_value(v) for k, v in row.items()} for row in table.to_pylist()]
    return json.dumps(rows, allow_nan=False, indent=1) + "\n"


_atomic = atomic_write
