"""gpusched's own trace format: one row per job with the `Workload` columns, as CSV or Parquet.

This module owns the format both ways (`NativeReader`, `write_native`, `workload_to_arrow`) so
that a write followed by a read gives back the same jobs. Because we define the format, the
reader is strict: a value of the wrong type, NaN/inf, a duration <= 0, a negative submit time,
fewer than one GPU or a repeated job id is an error naming file, row, field, expected and
found, never a skipped row. Only row order is forgiven (rows are sorted, with a note).

Format (column names are `traces.model.COLUMNS`; `job_id, submit_s, duration_s, num_gpus` are
required, the rest optional and defaulted as in `Workload.from_columns`):

- An empty cell (CSV) or null (Parquet) in an optional column means absent: NaN for
  `gpu_mem_gib`/`deadline_s`, the default for `gpu_frac`/`priority`/`weight`, no value for the
  text columns, `unknown` for `status`. Empty strings are therefore absent too.
- `gpu_types` is the allowed GPU types: `"V100|A100"` in CSV, a `list<string>` in Parquet;
  empty means any type, so type names cannot contain `|`.
- `status` is one of the `JobStatus` values.

Reading is vectorised through pyarrow so that a million rows load in about a second. When
pyarrow cannot convert a CSV, it is read again as text (still vectorised) to name the first
cell that is not a number; failing that, a pure-Python pass (the reference parser) names the
first bad row, or reads the file if pyarrow was merely stricter (e.g. a line of blanks).
"""

from __future__ import annotations

import os
import re
import tempfile
import zlib
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any, ClassVar, Literal

import numpy as np
import numpy.typing as npt
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pa_csv
import pyarrow.parquet as pq

from traces.errors import TraceError, UserError
from traces.io import check_file, is_gzip, is_parquet, open_csv, peek_header, read_text
from traces.model import COLUMNS, Categorical, JobStatus, Workload
from traces.readers.base import TraceData
from traces.report import SkipReport

REQUIRED: tuple[str, ...] = ("job_id", "submit_s", "duration_s", "num_gpus")
TYPE_SEP = "|"
FLOAT_COLUMNS: tuple[str, ...] = ("submit_s", "duration_s", "gpu_frac", "gpu_mem_gib", "weight", "deadline_s")
INT_COLUMNS: tuple[str, ...] = ("num_gpus", "priority")
# Columns whose absent value is NaN rather than a default number.
NAN_ABSENT: tuple[str, ...] = ("gpu_mem_gib", "deadline_s")
DEFAULTS: dict[str, float] = {
    "gpu_frac": 1.0, "priority": 0, "weight": 1.0, "gpu_mem_gib": np.nan, "deadline_s": np.nan,
}
TEXT_CATEGORY_COLUMNS: tuple[str, ...] = ("user", "group", "model_name", "status")
INT32_MIN, INT32_MAX = -(2**31), 2**31 - 1
INT64_MIN, INT64_MAX = -(2**63), 2**63 - 1
INT_BOUNDS: dict[str, tuple[int, int]] = {"num_gpus": (1, INT32_MAX), "priority": (INT32_MIN, INT32_MAX)}
STATUS_VALUES: tuple[str, ...] = tuple(s.value for s in JobStatus)

_DICT_STRING = pa.dictionary(pa.int32(), pa.string())
# The types the fast CSV pass converts to; the slow pass builds the same table.
CSV_TYPES: dict[str, pa.DataType] = {
    "job_id": pa.string(),
    **{c: pa.float64() for c in FLOAT_COLUMNS},
    **{c: pa.int64() for c in INT_COLUMNS},
    "gpu_types": _DICT_STRING,
    **{c: _DICT_STRING for c in TEXT_CATEGORY_COLUMNS},
}
_FLOAT_RE = re.compile(r"[+-]?(?:\d+\.?\d*|\.\d+)(?:[eE][+-]?\d+)?|[+-]?(?:nan|inf|infinity)", re.IGNORECASE | re.ASCII)
_INT_RE = re.compile(r"-?\d+", re.ASCII)
# The same grammars for Arrow's regex engine, with the blanks pyarrow trims around numbers.
_FLOAT_PATTERN = r"^[ \t]*(?:[+-]?(?:\d+\.?\d*|\.\d+)(?:[eE][+-]?\d+)?|[+-]?(?i:nan|inf|infinity))[ \t]*$"
_INT_PATTERN = r"^[ \t]*-?\d+[ \t]*$"
_BLANKS = " \t"  # what pyarrow trims around numbers

Format = Literal["csv", "parquet"]


class _Shown:
    """A `found` value printed without quotes (e.g. 'an empty cell')."""

    def __init__(self, text: str) -> None:
        self.text = text

    def __str__(self) -> str:
        return self.text


EMPTY_CELL = _Shown("an empty cell")


# ----- reading -------------------------------------------------------------


class NativeReader:
    """Reads gpusched's native CSV (optionally gzip) or Parquet trace."""

    key: ClassVar[str] = "native"
    description: ClassVar[str] = "gpusched native format (CSV, CSV.gz or Parquet with the Workload columns)"

    def detect(self, header: Sequence[str] | None) -> bool:
        """Parquet is always native; so is a CSV header with the required columns.

        Unknown extra columns still detect as native so that the reader can name them.
        """
        if header is None:
            return True
        return set(REQUIRED) <= set(header)

    def read(self, paths: Sequence[Path]) -> TraceData:
        if len(paths) != 1:
            raise UserError(f"the native format reads one file at a time, but {len(paths)} files were given")
        return read_native(paths[0])


def read_native(path: str | os.PathLike[str]) -> TraceData:
    """Read one native trace file (format from its content: Parquet magic, else CSV)."""
    path = Path(path)
    return _trace_data(path, read_native_table(path))  # no local name keeps the table alive


def read_native_table(path: Path) -> pa.Table:
    """The file's columns as an Arrow table in file order, types not yet checked."""
    check_file(path)
    return _read_parquet(path) if is_parquet(path) else _read_csv(path)


def _check_header(path: Path, names: Sequence[str]) -> None:
    seen: set[str] = set()
    for name in names:
        if name in seen:
            raise TraceError(path, f"column '{name}' appears twice", expected="each column once")
        seen.add(name)
    missing = [c for c in REQUIRED if c not in seen]
    if missing:
        raise TraceError(
            path,
            f"not a native trace: missing column(s) {', '.join(missing)}",
            expected="header with " + ",".join(REQUIRED),
            found=",".join(names),
        )
    for name in names:
        if name not in COLUMNS:
            raise TraceError(
                path, "unknown column", field=name, expected="one of " + ", ".join(COLUMNS)
            )


def _read_parquet(path: Path) -> pa.Table:
    try:
        pfile = pq.ParquetFile(path)
        _check_header(path, pfile.schema_arrow.names)
        table = pfile.read()
        pa.default_memory_pool().release_unused()  # the decode scratch space, about the data's size
    except (pa.ArrowException, OSError, ValueError) as exc:
        if isinstance(exc, TraceError):
            raise
        raise TraceError(path, f"not a readable Parquet file ({_first_line(exc)})") from None
    if table.num_rows == 0:
        raise TraceError(path, "the file has no rows", expected="at least one data row")
    return table


def _read_csv(path: Path) -> pa.Table:
    header = peek_header(path)
    assert header is not None  # not Parquet
    if not any(header):
        read_text(path)  # a blank file is reported as empty
        raise TraceError(path, "line 1: the header line is blank", expected="a header naming the columns")
    _check_header(path, header)
    try:
        table = _fast_csv(path, header, CSV_TYPES)
    except (pa.ArrowException, OSError, EOFError, ValueError, zlib.error):
        _locate_bad_number(path, header)
        return _slow_csv(path, header)
    if table.num_rows == 0:
        return _slow_csv(path, header)  # reports the header-only file
    pa.default_memory_pool().release_unused()
    return table


def _fast_csv(path: Path, header: list[str], types: dict[str, pa.DataType]) -> pa.Table:
    stream = pa.input_stream(str(path), compression="gzip" if is_gzip(path) else None)
    with stream:
        return pa_csv.read_csv(
            stream,
            read_options=pa_csv.ReadOptions(column_names=header, skip_rows=1),
            parse_options=pa_csv.ParseOptions(newlines_in_values=True),
            convert_options=pa_csv.ConvertOptions(
                column_types={c: types[c] for c in header},
                null_values=[""],
                strings_can_be_null=True,
                quoted_strings_can_be_null=True,
            ),
        )


def _locate_bad_number(path: Path, header: list[str]) -> None:
    """After a failed conversion: re-read as text, still vectorised, and raise for the first bad number.

    Returns quietly when the text read fails too or every number looks fine, leaving the
    problem (structure, encoding, gzip) to the slow pass.
    """
    try:
        text = _fast_csv(path, header, {c: pa.string() for c in header})
    except (pa.ArrowException, OSError, EOFError, ValueError, zlib.error):
        return
    best: tuple[int, int, TraceError] | None = None
    for order, name in enumerate(header):
        if name not in FLOAT_COLUMNS and name not in INT_COLUMNS:
            continue
        col = text.column(name)
        pattern = _FLOAT_PATTERN if name in FLOAT_COLUMNS else _INT_PATTERN
        bad = ~_flags(pc.match_substring_regex(col, pattern), null=True)
        if name in INT_COLUMNS:  # digits that overflow int64 fail the conversion too
            long = (_numbers(pc.utf8_length(col)) > 18) & ~_null_mask(col)
            for i in np.flatnonzero(long & ~bad):
                if not INT64_MIN <= int(col[int(i)].as_py()) <= INT64_MAX:
                    bad[i] = True
                    break
        if bad.any():
            i = int(np.argmax(bad))
            if best is None or i < best[0]:
                found = col[i].as_py()
                try:
                    parse = _parse_int if name in INT_COLUMNS else _parse_float
                    parse(path, found, i + 1, name)
                except TraceError as err:
                    best = (i, order, err)
    if best is not None:
        raise best[2]


def _slow_csv(path: Path, header: list[str]) -> pa.Table:
    """Pure-Python parse that names the first bad row and field; the reference for the fast pass."""
    rows = open_csv(path)
    parsers: list[Callable[[str, int, str], Any]] = []
    for name in rows.header:
        if name in FLOAT_COLUMNS:
            parsers.append(lambda t, r, f: _parse_float(path, t, r, f))
        elif name in INT_COLUMNS:
            parsers.append(lambda t, r, f: _parse_int(path, t, r, f))
        else:
            parsers.append(lambda t, r, f: t or None)
    names = rows.header
    values: list[list[Any]] = [[] for _ in names]
    for row_no, fields in rows:
        if len(fields) != len(names):
            raise TraceError(path, "wrong number of fields", row=row_no, expected=f"{len(names)} fields",
                             found=len(fields))
        for col, parse, name, text in zip(values, parsers, names, fields, strict=True):
            col.append(parse(text, row_no, name))
    return pa.table({n: pa.array(v, type=CSV_TYPES[n]) for n, v in zip(names, values, strict=True)})


def _parse_float(path: Path, text: str, row: int, field: str) -> float | None:
    if text == "":
        return None
    if not _FLOAT_RE.fullmatch(text.strip(_BLANKS)):
        raise TraceError(path, row=row, field=field, expected="a number", found=text)
    return float(text)


def _parse_int(path: Path, text: str, row: int, field: str) -> int | None:
    if text == "":
        return None
    if not _INT_RE.fullmatch(text.strip(_BLANKS)):
        raise TraceError(path, row=row, field=field, expected="an integer", found=text)
    value = int(text)
    if not INT64_MIN <= value <= INT64_MAX:  # smaller values get the vectorised range check
        lo, hi = INT_BOUNDS[field]
        raise TraceError(path, row=row, field=field, expected=_int_range(lo, hi, value), found=text)
    return value


def _int_range(lo: int, hi: int, value: int) -> str:
    if value > hi:
        return f"an integer <= {hi}"
    return f"an integer >= {lo}" if hi == INT32_MAX and lo > INT32_MIN else f"an integer from {lo} to {hi}"


# ----- validation and conversion ---------------------------------------------


class _Problems:
    """Collects the first bad row of each check; the earliest row wins, then check order."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.best: tuple[int, Callable[[], TraceError]] | None = None

    def check(self, mask: npt.NDArray[np.bool_], field: str, expected: str,
              found: Callable[[int], object], message: Callable[[int], str | None] = lambda i: None) -> None:
        if not mask.any():
            return
        i = int(np.argmax(mask))
        if self.best is None or i < self.best[0]:  # on a tie the earlier check stays
            self.best = (i, lambda: TraceError(
                self.path, message(i), row=i + 1, field=field, expected=expected, found=found(i)))

    def raise_first(self) -> None:
        if self.best is not None:
            raise self.best[1]()


def _trace_data(path: Path, table: pa.Table) -> TraceData:
    """Validate (errors name the row) and build the workload, dropping Arrow columns as they convert."""
    n = table.num_rows
    columns: dict[str, pa.ChunkedArray] = dict(zip(table.column_names, table.columns, strict=True))
    del table
    problems = _Problems(path)
    cols: dict[str, Any] = {}

    job_id = _string_column(path, columns.pop("job_id"), "job_id")
    ids = np.empty(n, dtype=object)
    ids[:] = job_id.to_pylist()
    empty = _null_mask(job_id) | (_numbers(pc.binary_length(job_id)) == 0)
    del job_id
    problems.check(empty, "job_id", "a non-empty job id", lambda i: EMPTY_CELL)

    for name in FLOAT_COLUMNS + INT_COLUMNS:
        if name in columns:
            cols[name] = _numeric(path, problems, columns.pop(name), name)
    _check_ranges(problems, cols)

    for name in TEXT_CATEGORY_COLUMNS:
        if name in columns:
            cols[name] = _text_categorical(path, problems, columns.pop(name), name)
    if "gpu_types" in columns:
        cols["gpu_types"] = _gpu_types(path, problems, columns.pop("gpu_types"))
    if problems.best is not None:  # a repeated id in an earlier row would be the first error
        _check_unique(problems, ids)
    problems.raise_first()
    pa.default_memory_pool().release_unused()  # hand Arrow's freed scratch memory back before the big copies

    report = SkipReport(str(path))
    report.rows_read = n
    submit = cols["submit_s"]
    if n > 1 and bool(np.any(submit[1:] < submit[:-1])):
        report.note("rows were not sorted by submit_s; sorted them by (submit_s, job_id)")
    try:
        workload = Workload.from_columns(job_id=ids, source=str(path), **cols)
    except UserError:
        # Everything else was checked above, so this is a repeated id: find its row (only now,
        # as from_columns already checks uniqueness, which costs 0.25 s per million rows).
        _check_unique(problems, ids)
        problems.raise_first()
        raise
    return TraceData(workload, report)


# Arrow -> NumPy by hand: pyarrow's `to_numpy` (and a few kernels given Python scalars) import
# pandas when it is installed, which costs every read about 0.3 s and 50 MiB.
_NUMPY_TYPES: dict[str, type[np.generic]] = {
    "double": np.float64, "float": np.float32, "halffloat": np.float16,
    "int8": np.int8, "int16": np.int16, "int32": np.int32, "int64": np.int64,
    "uint8": np.uint8, "uint16": np.uint16, "uint32": np.uint32, "uint64": np.uint64,
}


def _single(col: pa.ChunkedArray | pa.Array) -> pa.Array:
    if isinstance(col, pa.ChunkedArray):
        return col.chunk(0) if col.num_chunks == 1 else col.combine_chunks()
    return col


def _bits(buf: pa.Buffer | None, offset: int, n: int, missing: bool) -> npt.NDArray[np.bool_]:
    if buf is None:
        return np.full(n, missing)
    return np.unpackbits(np.frombuffer(buf, dtype=np.uint8), bitorder="little")[offset : offset + n].astype(bool)


def _null_mask(col: pa.ChunkedArray | pa.Array) -> npt.NDArray[np.bool_]:
    arr = _single(col)
    if arr.null_count == 0:
        return np.zeros(len(arr), dtype=bool)
    return ~_bits(arr.buffers()[0], arr.offset, len(arr), missing=True)


def _numbers(col: pa.ChunkedArray | pa.Array) -> npt.NDArray[Any]:
    """A primitive numeric column as a (read-only) array; values under nulls are unspecified."""
    arr = _single(col)
    dtype = np.dtype(_NUMPY_TYPES[str(arr.type)])
    if len(arr) == 0:
        return np.empty(0, dtype=dtype)
    return np.frombuffer(arr.buffers()[1], dtype=dtype, count=len(arr), offset=arr.offset * dtype.itemsize)


def _string_scalar(text: str) -> pa.Scalar:
    """A string scalar built from buffers (`pa.scalar` would import pandas)."""
    data = text.encode()
    offsets = np.array([0, len(data)], dtype=np.int32)
    return pa.StringArray.from_buffers(1, pa.py_buffer(offsets), pa.py_buffer(data))[0]


def _flags(col: pa.ChunkedArray | pa.Array, null: bool) -> npt.NDArray[np.bool_]:
    """A boolean column as a NumPy mask, with `null` where the value is null."""
    arr = _single(col)
    values = _bits(arr.buffers()[1], arr.offset, len(arr), missing=False)
    return np.where(_null_mask(arr), null, values)


def _string_column(path: Path, col: pa.ChunkedArray, field: str) -> pa.ChunkedArray:
    t = col.type
    if pa.types.is_dictionary(t) and _is_string(t.value_type):
        return col.cast(t.value_type)
    if _is_string(t):
        return col
    raise TraceError(path, "wrong column type", field=field, expected="a string column", found=_Shown(str(t)))


def _is_string(t: pa.DataType) -> bool:
    return pa.types.is_string(t) or pa.types.is_large_string(t)


def _check_unique(problems: _Problems, ids: npt.NDArray[np.object_]) -> None:
    """Flag the first repeated job id, naming the row where it was first seen."""
    first_row: dict[object, int] = {}
    for i, j in enumerate(ids.tolist()):
        if not j:
            continue  # reported as an empty id
        first = first_row.setdefault(j, i)
        if first != i:
            mask = np.zeros(len(ids), dtype=bool)
            mask[i] = True
            # The loop returns right here, so the lambdas see this iteration's j and first.
            problems.check(mask, "job_id", "unique job ids", lambda _: j,  # noqa: B023
                           message=lambda _: f"duplicate job id (first at row {first + 1})")  # noqa: B023
            return


def _numeric(path: Path, problems: _Problems, col: pa.ChunkedArray, name: str) -> npt.NDArray[Any]:
    """The column as float64/int64 with absent cells defaulted; NaN/inf and non-integers flagged."""
    t = col.type
    is_int_field = name in INT_COLUMNS
    if not (pa.types.is_integer(t) or pa.types.is_floating(t)):
        raise TraceError(path, "wrong column type", field=name,
                         expected="an integer column" if is_int_field else "a numeric column", found=_Shown(str(t)))
    nulls = _null_mask(col)
    if name in REQUIRED:
        problems.check(nulls, name, "an integer" if is_int_field else "a number", lambda i: EMPTY_CELL)
    arr = _numbers(col)
    if nulls.any():
        arr = np.where(nulls, 0, arr)
    if pa.types.is_floating(t):
        arr = arr.astype(np.float64, copy=False)
        present = ~nulls
        nonfinite = ~np.isfinite(arr) & present
        raw = arr  # the error messages show the value as stored
        problems.check(nonfinite, name, "an integer" if is_int_field else "a finite number", lambda i: raw[i])
        if is_int_field:
            with np.errstate(invalid="ignore"):
                frac = present & np.isfinite(arr) & (arr != np.round(arr))
            problems.check(frac, name, "an integer", lambda i: raw[i])
            arr = np.clip(np.where(np.isfinite(arr), arr, 0), -(2.0**62), 2.0**62).astype(np.int64)
    else:
        arr = arr.astype(np.float64 if name in FLOAT_COLUMNS else np.int64, copy=False)
    if name in DEFAULTS and nulls.any():
        arr = arr.astype(np.float64 if name in FLOAT_COLUMNS else np.int64)
        arr[nulls] = DEFAULTS[name]
    return arr


def _check_ranges(problems: _Problems, cols: dict[str, Any]) -> None:
    """The `Workload` rules, vectorised, so that the error names the row."""
    s, d, g = cols["submit_s"], cols["duration_s"], cols["num_gpus"]
    problems.check(~(s >= 0), "submit_s", "a finite number >= 0", lambda i: s[i])
    problems.check(~(d > 0), "duration_s", "a finite number > 0", lambda i: d[i])
    for name, (lo, hi) in INT_BOUNDS.items():
        if name in cols:
            v = cols[name]
            problems.check(v < lo, name, _int_range(lo, hi, lo - 1), lambda i, v=v: v[i])
            problems.check(v > hi, name, _int_range(lo, hi, hi + 1), lambda i, v=v: v[i])
    if "gpu_frac" in cols:
        f = cols["gpu_frac"]
        problems.check(~((f > 0) & (f <= 1)), "gpu_frac", "a number in (0, 1]", lambda i: f[i])
        problems.check((f < 1) & (g != 1), "gpu_frac", "1 (only 1-GPU jobs may share a GPU)", lambda i: f[i],
                       message=lambda i: f"GPU share with num_gpus {g[i]}")
    for name, rule in (("gpu_mem_gib", "a finite number > 0 or an empty cell"), ("weight", "a finite number > 0")):
        if name in cols:
            v = cols[name]
            problems.check(~(v > 0) & ~np.isnan(v) if name == "gpu_mem_gib" else ~(v > 0), name, rule,
                           lambda i, v=v: v[i])


def _dictionary(col: pa.ChunkedArray) -> tuple[npt.NDArray[np.int32], list[Any]]:
    """Row codes (-1: null) into the distinct values, via Arrow's dictionary encoding."""
    arr = col.combine_chunks() if pa.types.is_dictionary(col.type) else pc.dictionary_encode(col).combine_chunks()
    codes = np.where(_null_mask(arr.indices), -1, _numbers(arr.indices)).astype(np.int32)
    return codes, arr.dictionary.to_pylist()


def _recode(codes: npt.NDArray[np.int32], lut: list[int]) -> npt.NDArray[np.int32]:
    table = np.asarray([*lut, -1], dtype=np.int32)  # index -1 -> the trailing -1
    return table[codes]


def _text_categorical(path: Path, problems: _Problems, col: pa.ChunkedArray, name: str) -> Categorical:
    t = col.type
    if not (_is_string(t) or (pa.types.is_dictionary(t) and _is_string(t.value_type))):
        raise TraceError(path, "wrong column type", field=name, expected="a string column", found=_Shown(str(t)))
    codes, values = _dictionary(col)
    index: dict[str, int] = {}
    lut: list[int] = []
    bad: list[int] = []
    for k, v in enumerate(values):
        if v is None or v == "" or (name == "status" and v == JobStatus.unknown.value):
            lut.append(-1)
            continue
        if name == "status" and v not in STATUS_VALUES:
            bad.append(k)
        lut.append(index.setdefault(v, len(index)))
    if bad:
        problems.check(np.isin(codes, bad), name, "one of " + ", ".join(STATUS_VALUES),
                       lambda i: values[codes[i]])
    return Categorical(_recode(codes, lut), tuple(index))


def _gpu_types(path: Path, problems: _Problems, col: pa.ChunkedArray) -> Categorical:
    t = col.type
    if pa.types.is_list(t) or pa.types.is_large_list(t):
        if not _is_string(t.value_type):
            raise TraceError(path, "wrong column type", field="gpu_types", expected="a list of strings",
                             found=_Shown(str(t)))
        col = _join_type_lists(path, problems, col)
    elif not (_is_string(t) or (pa.types.is_dictionary(t) and _is_string(t.value_type))):
        raise TraceError(path, "wrong column type", field="gpu_types",
                         expected=f"'{TYPE_SEP}'-separated GPU type names", found=_Shown(str(t)))
    codes, values = _dictionary(col)
    index: dict[tuple[str, ...], int] = {}
    lut: list[int] = []
    bad: list[int] = []
    for k, v in enumerate(values):
        if not v:
            lut.append(-1)
            continue
        names = tuple(v.split(TYPE_SEP))
        if not all(names):
            bad.append(k)
        lut.append(index.setdefault(names, len(index)))
    if bad:
        problems.check(np.isin(codes, bad), "gpu_types", f"GPU type names separated by '{TYPE_SEP}'",
                       lambda i: values[codes[i]], message=lambda i: "empty GPU type name")
    return Categorical(_recode(codes, lut), tuple(index))


def _join_type_lists(path: Path, problems: _Problems, col: pa.ChunkedArray) -> pa.ChunkedArray:
    """Parquet `list<string>` -> the CSV spelling, after checking each name."""
    flat = pc.list_flatten(col)
    parents = _numbers(pc.list_parent_indices(col))
    bad_elem = (_null_mask(flat) | (_numbers(pc.binary_length(flat)) == 0)
                | _flags(pc.match_substring(flat, TYPE_SEP), null=False))
    if bad_elem.any():
        row_mask = np.zeros(len(col), dtype=bool)
        row_mask[parents[bad_elem]] = True
        problems.check(row_mask, "gpu_types", f"non-empty GPU type names without '{TYPE_SEP}'",
                       lambda i: col[i].as_py())
        problems.raise_first()
    return pc.binary_join(col, _string_scalar(TYPE_SEP))


# ----- writing -------------------------------------------------------------


def workload_to_arrow(workload: Workload) -> pa.Table:
    """The workload as an Arrow table with the native columns and Parquet types.

    Absent values are nulls; text columns are dictionary-encoded; `gpu_types` is
    `list<string>` (null: any type); `status` is always filled (`unknown` when absent).
    """
    arrays: dict[str, pa.Array] = {"job_id": pa.array(workload.job_id, type=pa.string())}
    for name in FLOAT_COLUMNS + INT_COLUMNS:
        values = getattr(workload, name)
        mask = np.isnan(values) if name in NAN_ABSENT else None
        arrays[name] = pa.array(values, type=pa.int32() if name in INT_COLUMNS else pa.float64(), mask=mask)
    gt = workload.gpu_types
    for names in gt.categories:
        bad = [x for x in names if not isinstance(x, str) or not x or TYPE_SEP in x]
        if bad:
            raise UserError(f"GPU type name {bad[0]!r} cannot be written in the native format: "
                            f"names must be non-empty and not contain '{TYPE_SEP}'")
    type_lists = pa.array([list(c) if c else None for c in gt.categories], type=pa.list_(pa.string()))
    arrays["gpu_types"] = type_lists.take(pa.array(gt.codes, mask=gt.codes < 0))
    for name in TEXT_CATEGORY_COLUMNS:
        cat: Categorical = getattr(workload, name)
        cats = [str(c) for c in cat.categories]
        codes = cat.codes
        if name == "status":
            unknown = JobStatus.unknown.value
            if unknown not in cats:
                cats.append(unknown)
            codes = np.where(codes < 0, cats.index(unknown), codes).astype(np.int32)
        arrays[name] = pa.DictionaryArray.from_arrays(
            pa.array(codes, type=pa.int32(), mask=codes < 0), pa.array(cats, type=pa.string()))
    return pa.table({c: arrays[c] for c in COLUMNS})


def native_format_of(path: Path, fmt: Format | None = None) -> tuple[Format, bool]:
    """(format, gzip) for a path: `fmt` if given, else from the suffix (.csv, .csv.gz, .parquet, .pq)."""
    name = path.name.lower()
    gz = name.endswith(".gz")
    if fmt is not None:
        if fmt not in ("csv", "parquet"):
            raise UserError(f"unknown native format {fmt!r}; expected csv or parquet")
        return fmt, gz and fmt == "csv"
    if name.endswith((".parquet", ".pq")):
        return "parquet", False
    if name.endswith((".csv", ".csv.gz")):
        return "csv", gz
    raise UserError(f"{path}: cannot tell the native format from the name; use .csv, .csv.gz or .parquet")


def write_native(workload: Workload, path: str | os.PathLike[str], fmt: Format | None = None) -> Path:
    """Write `workload` atomically (temp file + rename in the same directory); returns the path."""
    path = Path(path)
    kind, gz = native_format_of(path, fmt)
    table = workload_to_arrow(workload)
    if not path.parent.is_dir():
        raise UserError(f"{path}: cannot write: directory {path.parent} does not exist")
    fd, tmp_name = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    os.close(fd)
    tmp = Path(tmp_name)
    try:
        if kind == "parquet":
            pq.write_table(table, tmp)
        else:
            _write_csv(_csv_table(table), tmp, gz)
        umask = os.umask(0)
        os.umask(umask)
        os.chmod(tmp, 0o666 & ~umask)
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    return path


def _csv_table(table: pa.Table) -> pa.Table:
    """Plain string columns for CSV: dictionaries decoded, GPU type lists joined with '|'."""
    cols = {}
    for name in table.column_names:
        col = table.column(name)
        if name == "gpu_types":
            col = pc.binary_join(col, _string_scalar(TYPE_SEP))
        elif pa.types.is_dictionary(col.type):
            col = col.cast(pa.string())
        cols[name] = col
    return pa.table(cols)


def _write_csv(table: pa.Table, tmp: Path, gz: bool) -> None:
    if gz:
        with pa.CompressedOutputStream(str(tmp), "gzip") as sink:
            pa_csv.write_csv(table, sink)
    else:
        pa_csv.write_csv(table, str(tmp))


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()
    return text[0] if text else type(exc).__name__


__all__ = [
    "NativeReader",
    "read_native",
    "read_native_table",
    "write_native",
    "workload_to_arrow",
    "native_format_of",
    "REQUIRED",
    "TYPE_SEP",
]
