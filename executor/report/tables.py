"""Reading the tables and JSON documents gpusched writes, as Arrow tables and NumPy columns.

Tables come as `<name>.csv` (also gzipped), `.parquet` or `.json` (a list of row objects), the
three formats of `simulator.results.write_table`. CSV is parsed by Arrow (fast on 100k-row job
tables), with empty cells as missing values. A file that cannot be read or lacks a column the
report needs is a one-line `TraceError` naming the file (and the field).
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pacsv
import pyarrow.parquet as pq

from traces.errors import TraceError
from traces.io import read_text

FloatArray = npt.NDArray[np.float64]
SUFFIXES: tuple[str, ...] = (".csv", ".csv.gz", ".parquet", ".json")


def find_table(folder: Path, stem: str) -> Path | None:
    """`folder/stem.<csv|csv.gz|parquet|json>`, the first that exists."""
    return next((folder / f"{stem}{s}" for s in SUFFIXES if (folder / f"{stem}{s}").is_file()), None)


# Names and ids stay text even when every value looks like a number ("000000000022" is a run id,
# not 22); pyarrow's CSV type guessing would otherwise turn them into integers.
_TEXT_COLUMNS = pacsv.ConvertOptions(column_types={c: pa.string() for c in (
    "run_id", "job_id", "gpu_ids", "gpu_type", "cluster", "cluster_label", "label", "policy", "placement",
    "admission", "status", "error", "metric", "method", "user", "group")})


def read_table(path: Path, columns: Sequence[str] | None = None) -> pa.Table:
    """A whole table (or only `columns`, where present, for Parquet); format from the file name."""
    name = path.name.lower()
    try:
        if name.endswith((".csv", ".csv.gz")):
            return pacsv.read_csv(path, convert_options=_TEXT_COLUMNS)
        if name.endswith((".parquet", ".pq")):
            if columns is not None:
                present = set(pq.read_schema(path).names)
                return pq.read_table(path, columns=[c for c in columns if c in present])
            return pq.read_table(path)
    except (pa.ArrowException, OSError) as exc:
        raise TraceError(path, f"not a readable table ({_one_line(exc)})") from None
    if name.endswith(".json"):
        data = _load_json(path)
        if not isinstance(data, list) or not all(isinstance(r, dict) for r in data):
            raise TraceError(path, expected="a JSON list of row objects", found=type(data).__name__)
        try:
            return pa.Table.from_pylist(data)
        except pa.ArrowException as exc:
            raise TraceError(path, f"rows of mixed types ({_one_line(exc)})") from None
    raise TraceError(path, "cannot tell the table format from the file name",
                     expected="a name ending in .csv, .csv.gz, .parquet or .json")


def read_doc(path: Path) -> dict[str, Any]:
    """A JSON document that must be an object."""
    doc = _load_json(path)
    if not isinstance(doc, dict):
        raise TraceError(path, expected="a JSON object", found=type(doc).__name__)
    return doc


def require_columns(table: pa.Table, path: Path, required: Sequence[str], what: str) -> None:
    missing = [c for c in required if c not in table.column_names]
    if missing:
        raise TraceError(path, f"not {what}: missing column(s) {', '.join(missing)}",
                         expected="columns " + ",".join(required), found=",".join(table.column_names) or "none")


def floats(table: pa.Table, name: str, path: Path) -> FloatArray:
    """A numeric column as float64, missing values as NaN; text that is not a number is a `TraceError`."""
    column = table.column(name)
    if pa.types.is_null(column.type):
        return np.full(table.num_rows, np.nan)
    if pa.types.is_string(column.type) or pa.types.is_large_string(column.type):
        blank = pc.equal(pc.utf8_trim_whitespace(column), "")
        column = pc.if_else(blank, pa.scalar(None, column.type), column)
        try:
            column = pc.cast(column, pa.float64())
        except pa.ArrowInvalid:
            bad = next(v for v in column.to_pylist() if v is not None and not _is_number(v))
            raise TraceError(path, field=name, expected="a number or an empty cell", found=bad) from None
    elif not (pa.types.is_integer(column.type) or pa.types.is_floating(column.type)
              or pa.types.is_boolean(column.type)):
        raise TraceError(path, field=name, expected="numbers", found=str(column.type))
    filled = pc.fill_null(pc.cast(column, pa.float64()), np.nan)
    return np.asarray(filled.to_numpy(), dtype=np.float64)


def strings(table: pa.Table, name: str) -> list[str]:
    """A column as text ('' for missing values), whatever type the reader inferred."""
    return ["" if v is None else str(v) for v in table.column(name).to_pylist()]


def _is_number(value: str) -> bool:
    try:
        float(value)
    except ValueError:
        return False
    return True


def _load_json(path: Path) -> Any:
    try:
        return json.loads(read_text(path))
    except json.JSONDecodeError as exc:
        raise TraceError(path, f"line {exc.lineno}: not valid JSON ({exc.msg})") from None


def _one_line(exc: BaseException) -> str:
    return " ".join(str(exc).split())[:160]


__all__ = ["SUFFIXES", "find_table", "floats", "read_doc", "read_table", "require_columns", "strings"]
