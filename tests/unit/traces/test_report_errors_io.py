"""Skip reports, user-facing error formatting, and opening trace files (plain, gzip, BOM, CRLF,
blank lines, bad bytes, Parquet detection), with every message asserted word for word."""

from __future__ import annotations

import gzip
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from hypothesis import given
from hypothesis import strategies as st

from traces.errors import TraceError, UserError
from traces.io import PEEK_BYTES, is_gzip, is_parquet, open_csv, peek_header, read_text
from traces.report import MAX_EXAMPLES, SkipReason, SkipReport

# ----- SkipReport --------------------------------------------------------------------------------


def test_empty_report() -> None:
    r = SkipReport("t.csv")
    assert (r.rows_read, r.num_skipped, r.reasons, r.notes) == (0, 0, (), [])
    assert r.count("anything") == 0
    assert r.lines() == ["t.csv: read 0 rows, kept 0, skipped 0"]


def test_skip_counts_examples_and_lines() -> None:
    r = SkipReport("t.csv")
    r.rows_read = 100
    for row in range(1, 8):
        r.skip("zero duration", row)
    r.skip("cpu-only job", 40, count=10)  # ten rows, one example
    r.skip("cpu-only job", 41)
    r.note("rows were not sorted by submit time; sorted them")
    assert MAX_EXAMPLES == 5
    assert r.count("zero duration") == 7 and r.count("cpu-only job") == 11 and r.count("other") == 0
    assert r.num_skipped == 18
    assert r.reasons == (
        SkipReason("cpu-only job", 11, (40, 41)),
        SkipReason("zero duration", 7, (1, 2, 3, 4, 5)),
    )
    assert r.lines() == [
        "t.csv: read 100 rows, kept 82, skipped 18",
        "  skipped 11: cpu-only job (e.g. rows 40, 41)",
        "  skipped 7: zero duration (e.g. rows 1, 2, 3, 4, 5)",
        "  note: rows were not sorted by submit time; sorted them",
    ]


def test_reasons_ordered_by_count_then_name() -> None:
    r = SkipReport("t")
    for reason, n in [("b", 2), ("c", 3), ("a", 2), ("d", 1), ("B", 2)]:
        for i in range(n):
            r.skip(reason, i + 1)
    assert [(x.reason, x.count) for x in r.reasons] == [("c", 3), ("B", 2), ("a", 2), ("b", 2), ("d", 1)]


def test_merge() -> None:
    a = SkipReport("a.csv", rows_read=10)
    for row in (1, 2, 3, 4):
        a.skip("x", row)
    a.note("first")
    b = SkipReport("b.csv", rows_read=5)
    for row in (7, 8, 9):
        b.skip("x", row)
    b.skip("y", 3, count=2)
    b.note("second")
    a.merge(b)
    assert a.rows_read == 15 and a.num_skipped == 9
    assert a.reasons == (SkipReason("x", 7, (1, 2, 3, 4, 7)), SkipReason("y", 2, (3,)))
    assert a.notes == ["first", "b.csv: second"]
    assert b.reasons == (SkipReason("x", 3, (7, 8, 9)), SkipReason("y", 2, (3,)))  # unchanged
    assert a.lines()[0] == "a.csv: read 15 rows, kept 6, skipped 9"


_skips = st.lists(st.tuples(st.sampled_from(["a", "b", "c", "d"]), st.integers(1, 10**6), st.integers(1, 5)),
                  max_size=40)


def _apply(report: SkipReport, skips: list[tuple[str, int, int]]) -> None:
    for reason, row, count in skips:
        report.skip(reason, row, count)


@given(_skips)
def test_skip_report_properties(skips: list[tuple[str, int, int]]) -> None:
    r = SkipReport("t")
    _apply(r, skips)
    assert r.num_skipped == sum(c for _, _, c in skips) == sum(x.count for x in r.reasons)
    for x in r.reasons:
        assert x.count == r.count(x.reason) == sum(c for reason, _, c in skips if reason == x.reason)
        assert x.example_rows == tuple(row for reason, row, _ in skips if reason == x.reason)[:MAX_EXAMPLES]
    keys = [(-x.count, x.reason) for x in r.reasons]
    assert keys == sorted(keys)
    assert len(r.lines()) == 1 + len(r.reasons)


@given(_skips, _skips, st.integers(0, 100), st.integers(0, 100))
def test_merge_equals_skipping_everything_in_one_report(
    first: list[tuple[str, int, int]], second: list[tuple[str, int, int]], read1: int, read2: int
) -> None:
    a, b, both = SkipReport("a", rows_read=read1), SkipReport("b", rows_read=read2), SkipReport("a")
    _apply(a, first)
    _apply(b, second)
    _apply(both, first + second)
    a.merge(b)
    both.rows_read = read1 + read2
    assert a.reasons == both.reasons
    assert a.lines() == both.lines()


# ----- UserError / TraceError ------------------------------------------------------------------


def test_user_error_is_one_line() -> None:
    err = UserError("bad  flag\n  --nodes:\tgive a number ")
    assert str(err) == "bad flag --nodes: give a number"
    assert isinstance(err, Exception)


@pytest.mark.parametrize(
    ("args", "kwargs", "text"),
    [
        (("f.csv", "no such file"), {}, "f.csv: no such file"),
        ((None, "bad input"), {}, "<input>: bad input"),
        ((Path("d/f.csv"), "oops"), {"row": 3}, "d/f.csv:3: oops"),
        (("f.csv", "oops"), {"row": 0}, "f.csv:0: oops"),
        (("f.csv", "unknown key"), {"field": "x"}, "f.csv: field 'x': unknown key"),
        (("f.csv",), {"row": 7, "field": "num_gpus", "expected": "an integer", "found": "abc"},
         "f.csv:7: field 'num_gpus': expected an integer but found 'abc'"),
        (("f.csv", "not a number"), {"row": 2, "field": "s", "expected": "a float", "found": 1.5},
         "f.csv:2: field 's': not a number; expected a float but found 1.5"),
        (("f.csv", "empty"), {"expected": "a header"}, "f.csv: empty; expected a header"),
        (("f.csv",), {"expected": "E", "found": 0}, "f.csv: expected E but found 0"),
        (("f.csv",), {"expected": "E", "found": ""}, "f.csv: expected E but found ''"),
        (("f.csv",), {"expected": "E", "found": False}, "f.csv: expected E but found False"),
        (("f.csv",), {"expected": "E", "found": None}, "f.csv: expected E"),
        (("f.csv",), {"field": "a", "expected": "E", "found": "x\ny"}, "f.csv: field 'a': expected E but found 'x\\ny'"),
        (("f.csv", "line one\nline two"), {}, "f.csv: line one line two"),
        (("f.csv",), {}, "f.csv:"),
    ],
)
def test_trace_error_formatting(args: tuple[object, ...], kwargs: dict[str, object], text: str) -> None:
    err = TraceError(*args, **kwargs)  # type: ignore[arg-type]
    assert str(err) == text
    assert isinstance(err, UserError)


def test_trace_error_keeps_its_parts() -> None:
    err = TraceError(Path("x.csv"), "m", row=4, field="f", expected="e", found=[1, 2])
    assert (err.path, err.row, err.field, err.expected, err.found) == ("x.csv", 4, "f", "e", [1, 2])
    assert str(err) == "x.csv:4: field 'f': m; expected e but found [1, 2]"
    assert TraceError(None).path is None


def test_trace_error_shortens_long_found_values() -> None:
    long_text = "a" * 100
    err = TraceError("f.csv", field="x", expected="E", found=long_text)
    shown = "'" + "a" * 56 + "..."
    assert len(shown) == 60
    assert str(err) == f"f.csv: field 'x': expected E but found {shown}"
    assert str(TraceError("f", expected="E", found=list(range(40)))).endswith(
        "but found " + str(list(range(40)))[:57] + "...")
    exactly = "b" * 58  # repr is 60 characters: not shortened
    assert str(TraceError("f", expected="E", found=exactly)) == f"f: expected E but found '{exactly}'"


@given(st.text(max_size=200))
def test_trace_error_is_always_one_bounded_line(found: str) -> None:
    text = str(TraceError("f.csv", "msg", row=1, field="c", expected="E", found=found))
    assert "\n" not in text and "\r" not in text
    assert text.startswith("f.csv:1: field 'c': msg; expected E but found ")
    assert len(text.split("but found ", 1)[1]) <= 60


# ----- io: open_csv -------------------------------------------------------------------------


def _rows(path: Path) -> tuple[list[str], list[tuple[int, list[str]]]]:
    rows = open_csv(path)
    return rows.header, list(rows)


CONTENT = "job_id,submit_s,num_gpus\nj1,0,1\nj2,5,2\n"
WANT = (["job_id", "submit_s", "num_gpus"], [(1, ["j1", "0", "1"]), (2, ["j2", "5", "2"])])


def test_open_csv_plain_gzip_bom_crlf(tmp_path: Path) -> None:
    plain = tmp_path / "a.csv"
    plain.write_text(CONTENT, encoding="utf-8")
    gz = tmp_path / "a.csv.gz"
    gz.write_bytes(gzip.compress(CONTENT.encode()))
    bom = tmp_path / "bom.csv"
    bom.write_bytes(b"\xef\xbb\xbf" + CONTENT.encode())
    crlf = tmp_path / "crlf.csv"
    crlf.write_bytes(CONTENT.replace("\n", "\r\n").encode())
    both = tmp_path / "both.csv.gz"  # BOM + CRLF inside gzip, no final newline
    both.write_bytes(gzip.compress(b"\xef\xbb\xbf" + CONTENT.replace("\n", "\r\n").rstrip().encode()))
    for p in (plain, gz, bom, crlf, both):
        assert _rows(p) == WANT, p.name
    assert is_gzip(gz) and is_gzip(both) and not is_gzip(plain)
    assert read_text(bom) == CONTENT and read_text(gz) == CONTENT
    assert open_csv(str(plain)).path == plain


def test_open_csv_skips_blank_lines_and_numbers_data_rows(tmp_path: Path) -> None:
    p = tmp_path / "blank.csv"
    p.write_text(" a , b \n\n1,2\n   \n , \n3,4\n\n", encoding="utf-8")
    header, rows = _rows(p)
    assert header == ["a", "b"]  # header names are stripped
    assert rows == [(1, ["1", "2"]), (2, ["3", "4"])]


def test_open_csv_quoted_header_and_fields(tmp_path: Path) -> None:
    p = tmp_path / "q.csv"
    p.write_text('"job id","a,b"," c ",d\n"x, y","say ""hi""","multi\nline",4\n', encoding="utf-8")
    header, rows = _rows(p)
    assert header == ["job id", "a,b", "c", "d"]
    assert rows == [(1, ["x, y", 'say "hi"', "multi\nline", "4"])]
    assert peek_header(p) == ["job id", "a,b", "c", "d"]


def test_require_columns(tmp_path: Path) -> None:
    p = tmp_path / "r.csv"
    p.write_text("b,a,c\n1,2,3\n", encoding="utf-8")
    rows = open_csv(p)
    assert rows.require_columns(["a", "c"], "native") == {"b": 0, "a": 1, "c": 2}
    with pytest.raises(TraceError) as info:
        rows.require_columns(("a", "x", "y"), "Philly")
    assert str(info.value) == f"{p}: not a Philly trace: missing column(s) x, y; expected header a,x,y but found 'b,a,c'"


@pytest.mark.parametrize(
    ("data", "message"),
    [
        (b"", "the file is empty; expected a header line and at least one row"),
        (b" \n\r\n\t\n", "the file is empty; expected a header line and at least one row"),
        (b"\xef\xbb\xbf", "the file is empty; expected a header line and at least one row"),
        (b"a,b\n", "the file has a header but no rows; expected at least one data row"),
        (b"a,b\n\n , \n\n", "the file has a header but no rows; expected at least one data row"),
        (b"a,b\xff\n1,2\n", "line 1: byte 0xff is not valid UTF-8; expected UTF-8 text"),
        (b"a,b\n1,2\n3,\xe9\n", "line 3: byte 0xe9 is not valid UTF-8; expected UTF-8 text"),
    ],
)
def test_open_csv_errors(tmp_path: Path, data: bytes, message: str) -> None:
    for name, blob in (("x.csv", data), ("x.csv.gz", gzip.compress(data))):
        p = tmp_path / name
        p.write_bytes(blob)
        with pytest.raises(TraceError) as info:
            open_csv(p)
        assert str(info.value) == f"{p}: {message}", name


def test_open_csv_missing_directory_and_corrupt_gzip(tmp_path: Path) -> None:
    cases = {
        tmp_path / "nope.csv": "no such file",
        tmp_path: "is a directory; expected a trace file (pass the file inside it)",
    }
    trunc = tmp_path / "trunc.csv.gz"
    whole = gzip.compress(CONTENT.encode() * 50)
    trunc.write_bytes(whole[: len(whole) // 2])
    cases[trunc] = ("the gzip stream is truncated or corrupt "
                    "(Compressed file ended before the end-of-stream marker was reached)")
    bad = tmp_path / "bad.csv.gz"
    bad.write_bytes(b"\x1f\x8b not really gzip")
    cases[bad] = "the gzip stream is truncated or corrupt (Unknown compression method)"
    for p, message in cases.items():
        with pytest.raises(TraceError) as info:
            open_csv(p)
        assert str(info.value) == f"{p}: {message}"
        with pytest.raises(TraceError) as info:
            peek_header(p)
        assert str(info.value) == f"{p}: {message}"


def test_csv_errors_name_the_row(tmp_path: Path) -> None:
    big = "x" * 200_000  # over the csv module's field size limit
    first = tmp_path / "first.csv"
    first.write_text(f"a,b\n{big},1\n", encoding="utf-8")
    with pytest.raises(TraceError) as info:
        open_csv(first)
    assert str(info.value) == f"{first}:1: not valid CSV (field larger than field limit (131072))"
    later = tmp_path / "later.csv"
    later.write_text(f"a,b\n1,2\n\n3,4\n{big},1\n", encoding="utf-8")
    rows = open_csv(later)
    got = []
    with pytest.raises(TraceError) as info:
        for row_no, fields in rows:
            got.append((row_no, fields))
    assert got == [(1, ["1", "2"]), (2, ["3", "4"])]
    assert str(info.value) == f"{later}:3: not valid CSV (field larger than field limit (131072))"


# ----- io: peek_header -------------------------------------------------------------------------


def test_peek_header_plain_gzip_bom_crlf(tmp_path: Path) -> None:
    p = tmp_path / "h.csv"
    p.write_bytes(b"\xef\xbb\xbf job_id , submit_s,\"num gpus\"\r\nj,0,1\r\n")
    assert peek_header(p) == ["job_id", "submit_s", "num gpus"]
    g = tmp_path / "h.csv.gz"
    g.write_bytes(gzip.compress(p.read_bytes()))
    assert peek_header(g) == ["job_id", "submit_s", "num gpus"]
    one = tmp_path / "one.csv"
    one.write_bytes(b"a,b")  # a single line without a newline
    assert peek_header(one) == ["a", "b"]


def test_peek_header_of_parquet_is_none(tmp_path: Path) -> None:
    p = tmp_path / "t.parquet"
    pq.write_table(pa.table({"job_id": ["a"], "submit_s": [0.0]}), p)
    assert is_parquet(p) and not is_gzip(p)
    assert peek_header(p) is None
    with pytest.raises(TraceError) as info:
        peek_header(tmp_path / "missing.parquet")
    assert str(info.value) == f"{tmp_path / 'missing.parquet'}: no such file"
    empty = tmp_path / "empty.csv"
    empty.write_bytes(b"")
    with pytest.raises(TraceError) as info:
        peek_header(empty)
    assert str(info.value) == f"{empty}: the file is empty; expected a header line and at least one row"


@pytest.mark.parametrize(
    ("data", "byte"),
    [
        (b"a,\xffb\n1,2\n", "0xff"),
        (b"a,b\xc3(\r\n1,2\n", "0xc3"),
        (b"job_id,sub\xe9mit", "0xe9"),  # one line, no newline: still line 1
        (b"a,b\xe9", "0xe9"),  # a bad last byte of a short file is not a character cut by the peek
    ],
)
def test_peek_header_bad_byte_on_line_one(tmp_path: Path, data: bytes, byte: str) -> None:
    for name, blob in (("h.csv", data), ("h.csv.gz", gzip.compress(data))):
        p = tmp_path / name
        p.write_bytes(blob)
        with pytest.raises(TraceError) as info:
            peek_header(p)
        assert str(info.value) == f"{p}: line 1: byte {byte} is not valid UTF-8; expected UTF-8 text"


def test_peek_header_ignores_bad_bytes_after_line_one(tmp_path: Path) -> None:
    p = tmp_path / "later.csv"
    p.write_bytes(b"a,b\n1,\xff\n")
    assert peek_header(p) == ["a", "b"]  # the reader reports it, with its line
    with pytest.raises(TraceError) as info:
        open_csv(p)
    assert str(info.value) == f"{p}: line 2: byte 0xff is not valid UTF-8; expected UTF-8 text"


def test_peek_header_tolerates_a_character_cut_by_the_peek(tmp_path: Path) -> None:
    prefix = b"a," + b"x" * (PEEK_BYTES - 3)  # 'é' (2 bytes) starts at the last peeked byte
    p = tmp_path / "wide.csv"
    p.write_bytes(prefix + "é,c\n1,2,3\n".encode())
    assert peek_header(p) == ["a", "x" * (PEEK_BYTES - 3)]
    bad = tmp_path / "wide-bad.csv"  # a truly invalid byte near the end of the peek is still an error
    bad.write_bytes(prefix + b"\xff,c\n1,2,3\n")
    with pytest.raises(TraceError) as info:
        peek_header(bad)
    assert str(info.value) == f"{bad}: line 1: byte 0xff is not valid UTF-8; expected UTF-8 text"
