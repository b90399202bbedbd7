"""Registry of trace formats and `read_trace`, which auto-detects the format from the header."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from traces.errors import TraceError, UserError
from traces.io import check_file, peek_header
from traces.readers.alibaba_dlrm import AlibabaDlrmReader
from traces.readers.alibaba_openb import AlibabaOpenbReader
from traces.readers.base import Reader, TraceData
from traces.readers.itp import ItpReader
from traces.readers.native import NativeReader
from traces.readers.philly_dirlab import PhillyDirlabReader
from traces.readers.philly_pollux import PhillyPolluxReader

READERS: dict[str, type[Reader]] = {
    r.key: r  # type: ignore[misc]
    for r in (
        NativeReader,
        PhillyPolluxReader,
        PhillyDirlabReader,
        ItpReader,
        AlibabaOpenbReader,
        AlibabaDlrmReader,
    )
}


def detect_format(path: Path) -> str:
    """The registry key whose reader recognises this file's header."""
    header = peek_header(path)
    for key, cls in READERS.items():
        if cls().detect(header):
            return key
    raise TraceError(
        path,
        "unknown trace format",
        expected="a header of one of: " + ", ".join(READERS) + " (or force one with --trace-format)",
        found=",".join(header or [])[:80],
    )


def read_trace(paths: Path | str | Sequence[Path | str], fmt: str | None = None) -> TraceData:
    """Read one trace (several files only for formats that span files, such as ITP clusters)."""
    if isinstance(paths, (str, Path)):
        paths = [paths]
    plist = [Path(p) for p in paths]
    if not plist:
        raise UserError("no trace file given")
    for p in plist:
        check_file(p)
    if fmt is None:
        keys = {detect_format(p) for p in plist}
        if len(keys) > 1:
            raise UserError(
                f"the trace files are in different formats ({', '.join(sorted(keys))}); read them one at a time"
            )
        fmt = keys.pop()
    if fmt not in READERS:
        raise UserError(f"unknown --trace-format {fmt!r}; expected one of: {', '.join(READERS)}")
    return READERS[fmt]().read(plist)
