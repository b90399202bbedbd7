"""Opening trace files: plain or gzip, UTF-8, with one-line errors for unreadable input.

Readers go through `open_csv` so that every format reports a directory given as a file,
an empty file, a header without rows, a bad encoding or a truncated gzip the same way.
Row numbers in errors are 1-based *data* rows (the header is row 0), matching the skip
report; the physical file line is row + 1.
"""

from __future__ import annotations

import csv
import gzip
import io
import zlib
from collections.abc import Iterator
from pathlib import Path
from typing import IO, cast

from traces.errors import TraceError

GZIP_MAGIC = b"\x1f\x8b"
PARQUET_MAGIC = b"PAR1"
PEEK_BYTES = 64 * 1024  # enough for any header line


def check_file(path: Path) -> None:
    if path.is_dir():
        raise TraceError(path, "is a directory", expected="a trace file (pass the file inside it)")
    if not path.exists():
        raise TraceError(path, "no such file")
    if path.stat().st_size == 0:
        raise TraceError(path, "the file is empty", expected="a header line and at least one row")


def is_gzip(path: Path) -> bool:
    with path.open("rb") as f:
        return f.read(2) == GZIP_MAGIC


def is_parquet(path: Path) -> bool:
    with path.open("rb") as f:
        return f.read(4) == PARQUET_MAGIC


def open_binary(path: Path) -> IO[bytes]:
    """The decompressed byte stream of a plain or gzip file."""
    check_file(path)
    if is_gzip(path):
        return cast(IO[bytes], gzip.open(path, "rb"))
    return path.open("rb")


def read_text(path: Path) -> str:
    """Whole file as text (gunzipped, UTF-8, BOM stripped) with one-line errors."""
    try:
        with open_binary(path) as f:
            data = f.read()
    except (EOFError, gzip.BadGzipFile, zlib.error, OSError) as exc:
        if isinstance(exc, (FileNotFoundError, IsADirectoryError, PermissionError)):
            raise TraceError(path, f"cannot read: {exc.strerror}") from None
        raise TraceError(path, f"the gzip stream is truncated or corrupt ({exc})") from None
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        line = data[: exc.start].count(b"\n") + 1
        raise TraceError(
            path, f"line {line}: byte {data[exc.start]:#04x} is not valid UTF-8", expected="UTF-8 text"
        ) from None
    if not text.strip():
        raise TraceError(path, "the file is empty", expected="a header line and at least one row")
    return text


class CsvRows:
    """Header plus an iterator of (data row number, fields); blank lines are ignored."""

    def __init__(self, path: Path, text: str) -> None:
        self.path = path
        self._reader = csv.reader(io.StringIO(text, newline=""))
        try:
            header = next(self._reader)
        except csv.Error as exc:
            raise TraceError(path, f"line 1: not CSV ({exc})") from None
        self.header = [h.strip() for h in header]
        self._first: list[str] | None = None
        try:
            for row in self._reader:
                if row and any(x.strip() for x in row):
                    self._first = row
                    break
        except csv.Error as exc:
            raise TraceError(path, f"not valid CSV ({exc})", row=1) from None
        if self._first is None:
            raise TraceError(path, "the file has a header but no rows", expected="at least one data row")

    def __iter__(self) -> Iterator[tuple[int, list[str]]]:
        assert self._first is not None
        n = 1
        yield n, self._first
        try:
            for row in self._reader:
                if not row or not any(x.strip() for x in row):
                    continue
                n += 1
                yield n, row
        except csv.Error as exc:
            raise TraceError(self.path, f"not valid CSV ({exc})", row=n + 1) from None

    def require_columns(self, required: list[str] | tuple[str, ...], fmt: str) -> dict[str, int]:
        """Column name -> index; a missing column is an error naming the format."""
        pos = {h: i for i, h in enumerate(self.header)}
        missing = [c for c in required if c not in pos]
        if missing:
            raise TraceError(
                self.path,
                f"not a {fmt} trace: missing column(s) {', '.join(missing)}",
                expected="header " + ",".join(required),
                found=",".join(self.header),
            )
        return pos


def open_csv(path: str | Path) -> CsvRows:
    path = Path(path)
    return CsvRows(path, read_text(path))


def peek_header(path: Path) -> list[str] | None:
    """The first line's column names, or None for Parquet/binary files."""
    check_file(path)
    if is_parquet(path):
        return None
    try:
        with open_binary(path) as f:
            head = f.read(PEEK_BYTES)
    except (EOFError, gzip.BadGzipFile, zlib.error, OSError) as exc:
        raise TraceError(path, f"the gzip stream is truncated or corrupt ({exc})") from None
    # Only the header line matters here; a bad byte further down is the reader's to report.
    first_bytes = head.split(b"\n", 1)[0]
    try:
        first = first_bytes.decode("utf-8-sig").rstrip("\r")
    except UnicodeDecodeError as exc:
        if len(first_bytes) == len(head) == PEEK_BYTES and exc.reason == "unexpected end of data":
            first = first_bytes[: exc.start].decode("utf-8-sig")  # a character cut by the 64 KiB peek
        else:
            raise TraceError(
                path, f"line 1: byte {first_bytes[exc.start]:#04x} is not valid UTF-8", expected="UTF-8 text"
            ) from None
    return [h.strip() for h in next(csv.reader([first]), [])]
