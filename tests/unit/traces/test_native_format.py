"""The native trace format: lossless round trips (CSV, CSV.gz, Parquet) and strict bad-input errors."""

from __future__ import annotations

import gzip
import math
import os
import subprocess
import sys
import tempfile
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from hypothesis import given
from strategies import workloads

import traces.readers.native as native
from traces.errors import TraceError, UserError
from traces.model import CATEGORY_COLUMNS, COLUMNS, NUMERIC_COLUMNS, Job, JobStatus, Workload
from traces.readers.native import NativeReader, read_native, workload_to_arrow, write_native

HEADER = "job_id,submit_s,duration_s,num_gpus"
ALL_KNOWN = "one of " + ", ".join(COLUMNS)


def assert_same_workload(got: Workload, want: Workload) -> None:
    """Same rows in the same order, column by column (NaN == NaN, decoded categories)."""
    assert got.job_id.tolist() == want.job_id.tolist()
    for name in NUMERIC_COLUMNS:
        g, w = getattr(got, name), getattr(want, name)
        assert g.dtype == w.dtype, name
        assert np.array_equal(g, w, equal_nan=True), name
    for name in CATEGORY_COLUMNS:
        g, w = getattr(got, name).values(), getattr(want, name).values()
        if name == "gpu_types":
            g, w = [v or () for v in g], [v or () for v in w]
        if name == "status":
            g, w = [v or "unknown" for v in g], [v or "unknown" for v in w]
        assert g == w, name
    assert list(got) == list(want)


def write(path: Path, text: str | bytes) -> Path:
    path.write_bytes(text.encode() if isinstance(text, str) else text)
    return path


def read_error(path: Path) -> str:
    with pytest.raises(TraceError) as info:
        NativeReader().read([path])
    return str(info.value)


# ----- round trips -------------------------------------------------------


@pytest.mark.parametrize("suffix", [".csv", ".csv.gz", ".parquet"])
@given(wl=workloads(min_size=1, max_size=30))
def test_round_trip_is_lossless(suffix: str, wl: Workload) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        path = write_native(wl, Path(tmp) / f"trace{suffix}")
        data = read_native(path)
    assert_same_workload(data.workload, wl)
    assert data.report.rows_read == len(wl)
    assert data.report.num_skipped == 0
    assert data.report.notes == []


@given(wl=workloads(min_size=1, max_size=20))
def test_slow_csv_pass_reads_the_same_as_the_fast_one(wl: Workload) -> None:
    """The pure-Python parser (used to locate errors) is the reference for the pyarrow one."""
    with tempfile.TemporaryDirectory() as tmp:
        path = write_native(wl, Path(tmp) / "trace.csv")
        fast = read_native(path).workload
        header = native.peek_header(path)
        assert header is not None
        slow = native._trace_data(path, native._slow_csv(path, header)).workload
    assert_same_workload(slow, fast)
    assert_same_workload(fast, wl)


def test_round_trip_of_awkward_values(tmp_path: Path) -> None:
    jobs = [
        Job("a,b", 0.1 + 0.2, 1e-300, 1, gpu_frac=1 / 3, user="Jörg \"J\" Ö", gpu_types=("V100", "A100")),
        Job("line\nbreak", 5e-324, 7.0, 8, priority=-2, weight=0.5, deadline_s=-10.0, status=JobStatus.killed),
        Job('"quoted"', 1e15, 3.0, 2, gpu_mem_gib=79.5, group="vc|1", model_name="NA", status=JobStatus.unknown),
    ]
    wl = Workload.from_jobs(jobs)
    for name in ("t.csv", "t.csv.gz", "t.parquet"):
        assert_same_workload(read_native(write_native(wl, tmp_path / name)).workload, wl)


def test_empty_strings_are_written_as_absent(tmp_path: Path) -> None:
    wl = Workload.from_jobs([Job("j", 0.0, 1.0, 1, user="", model_name="m")])
    for name in ("t.csv", "t.parquet"):
        back = read_native(write_native(wl, tmp_path / name)).workload
        assert back[0].user is None
        assert back[0].model_name == "m"


def test_workload_to_arrow_schema_and_nulls() -> None:
    wl = Workload.from_jobs([Job("b", 2.0, 1.0, 2, gpu_types=("T4",), user="u", status=JobStatus.failed),
                             Job("a", 1.0, 4.0, 1, gpu_mem_gib=16.0)])
    table = workload_to_arrow(wl)
    assert table.column_names == list(COLUMNS)
    assert table.schema.field("num_gpus").type == pa.int32()
    assert table.schema.field("gpu_types").type == pa.list_(pa.string())
    assert table.schema.field("user").type == pa.dictionary(pa.int32(), pa.string())
    assert table.column("job_id").to_pylist() == ["a", "b"]
    assert table.column("gpu_mem_gib").to_pylist() == [16.0, None]
    assert table.column("deadline_s").to_pylist() == [None, None]
    assert table.column("gpu_types").to_pylist() == [None, ["T4"]]
    assert table.column("user").to_pylist() == [None, "u"]
    assert table.column("status").to_pylist() == ["unknown", "failed"]


# ----- writer ------------------------------------------------------------


def small() -> Workload:
    return Workload.from_jobs([Job("j1", 0.0, 10.0, 1), Job("j2", 5.0, 20.0, 4, user="alice")])


def test_format_is_inferred_from_the_suffix(tmp_path: Path) -> None:
    assert pq.ParquetFile(write_native(small(), tmp_path / "t.parquet")).metadata.num_rows == 2
    assert pq.ParquetFile(write_native(small(), tmp_path / "t.pq")).metadata.num_rows == 2
    assert (tmp_path / "t.csv").exists() is False
    text = write_native(small(), tmp_path / "t.csv").read_text()
    assert text.splitlines()[0] == ",".join(f'"{c}"' for c in COLUMNS)
    with gzip.open(write_native(small(), tmp_path / "t.csv.gz"), "rt") as f:
        assert f.read() == text


def test_explicit_format_overrides_the_suffix(tmp_path: Path) -> None:
    path = write_native(small(), tmp_path / "trace.dat", fmt="parquet")
    assert path.read_bytes()[:4] == b"PAR1"
    assert_same_workload(read_native(path).workload, small())


def test_unknown_suffix_is_a_user_error(tmp_path: Path) -> None:
    with pytest.raises(UserError) as info:
        write_native(small(), tmp_path / "trace.txt")
    assert str(info.value) == (
        f"{tmp_path / 'trace.txt'}: cannot tell the native format from the name; use .csv, .csv.gz or .parquet"
    )


def test_gpu_type_names_with_the_separator_are_refused(tmp_path: Path) -> None:
    wl = Workload.from_jobs([Job("j", 0.0, 1.0, 1, gpu_types=("V100|A100",))])
    with pytest.raises(UserError) as info:
        write_native(wl, tmp_path / "t.parquet")
    assert str(info.value) == (
        "GPU type name 'V100|A100' cannot be written in the native format: "
        "names must be non-empty and not contain '|'"
    )
    assert list(tmp_path.iterdir()) == []


def test_write_is_atomic(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = write_native(small(), tmp_path / "t.parquet")
    before = path.read_bytes()

    def broken(table: pa.Table, where: object) -> None:
        Path(str(where)).write_bytes(b"PAR1 half written")
        raise OSError("disk full")

    monkeypatch.setattr(native.pq, "write_table", broken)
    with pytest.raises(OSError, match="disk full"):
        write_native(Workload.from_jobs([Job("other", 0.0, 1.0, 1)]), path)
    assert path.read_bytes() == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["t.parquet"]


def test_write_replaces_an_existing_file_and_leaves_no_temp(tmp_path: Path) -> None:
    path = write(tmp_path / "t.csv", "old")
    write_native(small(), path)
    assert_same_workload(read_native(path).workload, small())
    assert sorted(p.name for p in tmp_path.iterdir()) == ["t.csv"]
    assert os.stat(path).st_mode & 0o777 == 0o666 & ~_umask()


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


# ----- detection and reader protocol ---------------------------------------


def test_detect() -> None:
    r = NativeReader()
    assert r.detect(None) is True
    assert r.detect(HEADER.split(",")) is True
    assert r.detect(list(COLUMNS)) is True
    assert r.detect(["job_id", "submit_s", "duration_s"]) is False
    assert r.detect([*HEADER.split(","), "colour"]) is True  # detected, so the reader can name the column
    assert r.detect(["timestamp", "duration", "num_gpus", "gpu_time", "cluster"]) is False


def test_several_files_are_refused(tmp_path: Path) -> None:
    a = write(tmp_path / "a.csv", f"{HEADER}\nj,0,1,1\n")
    with pytest.raises(UserError) as info:
        NativeReader().read([a, a])
    assert str(info.value) == "the native format reads one file at a time, but 2 files were given"


def test_optional_columns_default_and_blank_lines_are_ignored(tmp_path: Path) -> None:
    path = write(tmp_path / "t.csv", f"{HEADER},gpu_types,status,weight\n\nj1,0,1,1,V100|T4,,\n   \nj2,1,2,2,,failed,3\n")
    wl = read_native(path).workload
    assert list(wl) == [
        Job("j1", 0.0, 1.0, 1, gpu_types=("V100", "T4")),
        Job("j2", 1.0, 2.0, 2, status=JobStatus.failed, weight=3.0),
    ]


def test_gzip_and_crlf_are_recognised_by_content(tmp_path: Path) -> None:
    path = write(tmp_path / "plain-name.csv", gzip.compress(f"{HEADER},user\r\nj1,0,1,1,u\r\nj2,1,2,2,\r\n".encode()))
    assert list(read_native(path).workload) == [Job("j1", 0.0, 1.0, 1, user="u"), Job("j2", 1.0, 2.0, 2)]


def test_reading_does_not_import_pandas(tmp_path: Path) -> None:
    """pyarrow's `to_numpy` imports pandas when installed: 0.3 s and 50 MiB on every read."""
    wl = Workload.from_jobs([Job("a", 0.0, 1.0, 1, gpu_types=("V100",), user="u"), Job("b", 1.0, 2.0, 2)])
    paths = [write_native(wl, tmp_path / name) for name in ("t.parquet", "t.csv")]
    code = (
        "import sys\n"
        "from traces.readers.native import read_native\n"
        f"for p in {[str(p) for p in paths]!r}:\n"
        "    assert len(read_native(p).workload) == 2\n"
        "print(sorted(m for m in sys.modules if m.split('.')[0] == 'pandas'))\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"


def test_unsorted_rows_are_accepted_sorted_and_noted(tmp_path: Path) -> None:
    path = write(tmp_path / "t.csv", f"{HEADER}\nb,10,1,1\na,0,1,1\nc,10,1,1\n")
    data = read_native(path)
    assert data.workload.job_id.tolist() == ["a", "b", "c"]
    assert data.report.notes == ["rows were not sorted by submit_s; sorted them by (submit_s, job_id)"]
    assert data.report.num_skipped == 0


# ----- bad CSV input: exact one-line messages --------------------------------

GZ_ROWS = (HEADER + "\n" + "".join(f"job{i},{i},5,1\n" for i in range(2000))).encode()

BAD_CSV = [
    ("empty", b"", "{p}: the file is empty; expected a header line and at least one row"),
    ("blank", b"\n \n", "{p}: the file is empty; expected a header line and at least one row"),
    ("header_only", f"{HEADER}\n", "{p}: the file has a header but no rows; expected at least one data row"),
    ("unknown_column", f"{HEADER},colour\nj,0,1,1,red\n", "{p}: field 'colour': unknown column; expected " + ALL_KNOWN),
    ("missing_column", "job_id,submit_s,num_gpus\nj,0,1\n",
     "{p}: not a native trace: missing column(s) duration_s; expected header with "
     "job_id,submit_s,duration_s,num_gpus but found 'job_id,submit_s,num_gpus'"),
    ("repeated_column", f"{HEADER},num_gpus\nj,0,1,1,1\n", "{p}: column 'num_gpus' appears twice; expected each column once"),
    ("wrong_type", f"{HEADER}\na,0,1,1\nb,0,abc,1\n", "{p}:2: field 'duration_s': expected a number but found 'abc'"),
    ("float_gpus", f"{HEADER}\na,0,1,1.5\n", "{p}:1: field 'num_gpus': expected an integer but found '1.5'"),
    ("nan", f"{HEADER}\na,0,1,1\nb,0,nan,1\n", "{p}:2: field 'duration_s': expected a finite number but found nan"),
    ("inf", f"{HEADER}\na,0,1,1\nb,0,inf,1\n", "{p}:2: field 'duration_s': expected a finite number but found inf"),
    ("nan_optional", f"{HEADER},gpu_mem_gib\na,0,1,1,NaN\n",
     "{p}:1: field 'gpu_mem_gib': expected a finite number but found nan"),
    ("negative_duration", f"{HEADER}\na,0,1,1\nb,0,-5,1\n",
     "{p}:2: field 'duration_s': expected a finite number > 0 but found -5.0"),
    ("zero_duration", f"{HEADER}\na,0,1,1\nb,0,0,1\n",
     "{p}:2: field 'duration_s': expected a finite number > 0 but found 0.0"),
    ("negative_submit", f"{HEADER}\na,-1,1,1\n", "{p}:1: field 'submit_s': expected a finite number >= 0 but found -1.0"),
    ("zero_gpus", f"{HEADER}\na,0,1,0\n", "{p}:1: field 'num_gpus': expected an integer >= 1 but found 0"),
    ("huge_gpus", f"{HEADER}\na,0,1,4294967296\n",
     "{p}:1: field 'num_gpus': expected an integer <= 2147483647 but found 4294967296"),
    ("empty_required", f"{HEADER}\na,0,1,1\nb,0,,1\n",
     "{p}:2: field 'duration_s': expected a number but found an empty cell"),
    ("empty_id", f"{HEADER}\na,0,1,1\n,0,1,1\n", "{p}:2: field 'job_id': expected a non-empty job id but found an empty cell"),
    ("duplicate_ids", f"{HEADER}\na,0,1,1\nb,0,1,1\na,3,1,1\n",
     "{p}:3: field 'job_id': duplicate job id (first at row 1); expected unique job ids but found 'a'"),
    ("bad_status", f"{HEADER},status\na,0,1,1,done\n",
     "{p}:1: field 'status': expected one of unknown, completed, failed, killed but found 'done'"),
    ("bad_gpu_types", f"{HEADER},gpu_types\na,0,1,1,V100||A100\n",
     "{p}:1: field 'gpu_types': empty GPU type name; expected GPU type names separated by '|' but found 'V100||A100'"),
    ("fractional_multi_gpu", f"{HEADER},gpu_frac\na,0,1,2,0.5\n",
     "{p}:1: field 'gpu_frac': GPU share with num_gpus 2; expected 1 (only 1-GPU jobs may share a GPU) but found 0.5"),
    ("short_row", f"{HEADER}\na,0,1,1\nb,0,1\n", "{p}:2: wrong number of fields; expected 4 fields but found 3"),
    ("latin1", f"{HEADER},user\na,0,1,1,Jos".encode() + b"\xe9\n",
     "{p}: line 2: byte 0xe9 is not valid UTF-8; expected UTF-8 text"),
    ("truncated.csv.gz", gzip.compress(GZ_ROWS)[:300],
     "{p}: the gzip stream is truncated or corrupt (Compressed file ended before the end-of-stream marker was reached)"),
]


@pytest.mark.parametrize(("name", "content", "message"), BAD_CSV, ids=[c[0] for c in BAD_CSV])
def test_bad_csv_input_names_file_row_and_field(tmp_path: Path, name: str, content: str | bytes, message: str) -> None:
    path = write(tmp_path / (name if name.endswith(".gz") else f"{name}.csv"), content)
    assert read_error(path) == message.format(p=path)


LOCATOR_CASES = {
    "word": ("x,1,abc,1,0", "field 'duration_s': expected a number but found 'abc'"),
    "inner_blank": ("x,1,1 5,1,0", "field 'duration_s': expected a number but found '1 5'"),
    "underscore": ("x,1_0,1,1,0", "field 'submit_s': expected a number but found '1_0'"),
    "unicode_digit": ("x,1,\u0663,1,0", "field 'duration_s': expected a number but found '\u0663'"),
    "plus_int": ("x,1,1,+1,0", "field 'num_gpus': expected an integer but found '+1'"),
    "float_int": ("x,1,1,1,2.0", "field 'priority': expected an integer but found '2.0'"),
    "int64_overflow": ("x,1,1,1,-99999999999999999999",
                       "field 'priority': expected an integer from -2147483648 to 2147483647 "
                       "but found '-99999999999999999999'"),
    "leftmost_wins": ("x,abc,def,1,0", "field 'submit_s': expected a number but found 'abc'"),
}


@pytest.mark.parametrize("case", LOCATOR_CASES, ids=list(LOCATOR_CASES))
def test_vectorised_locator_and_slow_pass_name_the_same_cell(tmp_path: Path, case: str) -> None:
    row, message = LOCATOR_CASES[case]
    path = write(tmp_path / "t.csv", f"{HEADER},priority\na,0,1,1,0\nb,0,1,1,0\n{row}\n")
    header = [*HEADER.split(","), "priority"]
    want = f"{path}:3: {message}"
    assert read_error(path) == want
    with pytest.raises(TraceError) as slow:
        native._slow_csv(path, header)
    assert str(slow.value) == want


def test_the_earliest_bad_row_is_reported_whatever_the_field(tmp_path: Path) -> None:
    path = write(tmp_path / "t.csv", f"{HEADER},weight\na,0,1,1,1\nb,0,1,0,1\nc,0,-1,1,1\nd,0,1,1,0\n")
    assert read_error(path) == f"{path}:2: field 'num_gpus': expected an integer >= 1 but found 0"


def test_a_repeated_id_before_another_error_is_the_one_reported(tmp_path: Path) -> None:
    path = write(tmp_path / "t.csv", f"{HEADER}\na,0,1,1\na,0,1,1\n,0,1,1\n")
    assert read_error(path) == (
        f"{path}:2: field 'job_id': duplicate job id (first at row 1); expected unique job ids but found 'a'"
    )


def test_a_directory_given_as_a_file(tmp_path: Path) -> None:
    assert read_error(tmp_path) == f"{tmp_path}: is a directory; expected a trace file (pass the file inside it)"


def test_a_missing_file(tmp_path: Path) -> None:
    assert read_error(tmp_path / "nope.csv") == f"{tmp_path / 'nope.csv'}: no such file"


def test_error_fields_are_set(tmp_path: Path) -> None:
    path = write(tmp_path / "t.csv", f"{HEADER}\na,0,1,1\nb,0,abc,1\n")
    with pytest.raises(TraceError) as info:
        read_native(path)
    err = info.value
    assert (err.path, err.row, err.field, err.expected, err.found) == (str(path), 2, "duration_s", "a number", "abc")


# ----- bad Parquet input ---------------------------------------------------


def parquet(path: Path, **columns: object) -> Path:
    pq.write_table(pa.table(columns), path)
    return path


def test_parquet_wrong_column_type(tmp_path: Path) -> None:
    path = parquet(tmp_path / "t.parquet", job_id=["a"], submit_s=[0.0], duration_s=["1"], num_gpus=[1])
    assert read_error(path) == f"{path}: field 'duration_s': wrong column type; expected a numeric column but found string"


def test_parquet_null_in_required_column(tmp_path: Path) -> None:
    path = parquet(
        tmp_path / "t.parquet", job_id=["a", "b"], submit_s=[0.0, None], duration_s=[1.0, 1.0], num_gpus=[1, 1]
    )
    assert read_error(path) == f"{path}:2: field 'submit_s': expected a number but found an empty cell"


def test_parquet_nan_is_not_absent(tmp_path: Path) -> None:
    path = parquet(tmp_path / "t.parquet", job_id=["a", "b"], submit_s=[0.0, 1.0], duration_s=[1.0, 1.0],
                   num_gpus=[1, 1], deadline_s=pa.array([None, math.nan]))
    assert read_error(path) == f"{path}:2: field 'deadline_s': expected a finite number but found nan"


def test_parquet_float_gpus_must_be_whole(tmp_path: Path) -> None:
    ok = parquet(tmp_path / "ok.parquet", job_id=["a"], submit_s=[0.0], duration_s=[1.0], num_gpus=[2.0])
    assert read_native(ok).workload[0].num_gpus == 2
    bad = parquet(tmp_path / "bad.parquet", job_id=["a", "b"], submit_s=[0.0, 0.0], duration_s=[1.0, 1.0],
                  num_gpus=[2.0, 2.5])
    assert read_error(bad) == f"{bad}:2: field 'num_gpus': expected an integer but found 2.5"


def test_parquet_gpu_type_names_are_checked(tmp_path: Path) -> None:
    path = parquet(tmp_path / "t.parquet", job_id=["a", "b"], submit_s=[0.0, 0.0], duration_s=[1.0, 1.0],
                   num_gpus=[1, 1], gpu_types=pa.array([["V100"], ["A100", "x|y"]]))
    assert read_error(path) == (
        f"{path}:2: field 'gpu_types': expected non-empty GPU type names without '|' but found ['A100', 'x|y']"
    )


def test_parquet_unknown_column_and_duplicate_ids(tmp_path: Path) -> None:
    unknown = parquet(tmp_path / "u.parquet", job_id=["a"], submit_s=[0.0], duration_s=[1.0], num_gpus=[1], extra=[1])
    assert read_error(unknown) == f"{unknown}: field 'extra': unknown column; expected {ALL_KNOWN}"
    dup = parquet(
        tmp_path / "d.parquet", job_id=["a", "a"], submit_s=[0.0, 0.0], duration_s=[1.0, 1.0], num_gpus=[1, 1]
    )
    assert read_error(dup) == (
        f"{dup}:2: field 'job_id': duplicate job id (first at row 1); expected unique job ids but found 'a'"
    )


def test_parquet_without_rows_or_corrupt(tmp_path: Path) -> None:
    empty = parquet(tmp_path / "e.parquet", job_id=pa.array([], pa.string()), submit_s=pa.array([], pa.float64()),
                    duration_s=pa.array([], pa.float64()), num_gpus=pa.array([], pa.int32()))
    assert read_error(empty) == f"{empty}: the file has no rows; expected at least one data row"
    corrupt = write(tmp_path / "c.parquet", b"PAR1 this is not really parquet")
    assert read_error(corrupt) == (
        f"{corrupt}: not a readable Parquet file (Parquet magic bytes not found in footer. "
        "Either the file is corrupted or this is not a parquet file.)"
    )
