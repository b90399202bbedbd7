"""Field parsers shared by the CSV trace readers: one `TraceError` per malformed value.

The public traces (Philly, ITP) are plain CSV with numbers in every required field, so a
value that does not parse, is NaN/inf or is negative where a count belongs is a malformed
file, not a row to skip. Parsing tries the fast conversion first and builds the error only
when it fails, so an 80k-row file stays well under a second.
"""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import numpy.typing as npt

from traces.errors import TraceError
from traces.report import SkipReport

# Skip reasons used by every reader, so reports from different formats read the same.
CPU_ONLY = "CPU-only job (0 GPUs)"
NON_POSITIVE_RUN = "non-positive run time"


def check_width(path: Path, row: int, fields: list[str], width: int) -> None:
    """A row with a different number of fields than the header is malformed."""
    if len(fields) != width:
        raise TraceError(
            path, "wrong number of fields", row=row, expected=f"{width} fields as in the header", found=len(fields)
        )


def text_field(path: Path, row: int, name: str, text: str, expected: str) -> str:
    """A non-empty, stripped string."""
    value = text.strip()
    if not value:
        raise TraceError(path, "missing value", row=row, field=name, expected=expected)
    return value


def int_field(path: Path, row: int, name: str, text: str, expected: str, minimum: int | None = None) -> int:
    """An integer literal (no decimals), at least `minimum` when given."""
    try:
        value = int(text)
    except ValueError:
        if not text.strip():
            raise TraceError(path, "missing value", row=row, field=name, expected=expected) from None
        raise TraceError(path, row=row, field=name, expected=expected, found=text.strip()) from None
    if minimum is not None and value < minimum:
        raise TraceError(path, row=row, field=name, expected=expected, found=text.strip())
    return value


def num_field(path: Path, row: int, name: str, text: str, expected: str, minimum: float | None = None) -> float:
    """A finite number, at least `minimum` when given."""
    try:
        value = float(text)
    except ValueError:
        if not text.strip():
            raise TraceError(path, "missing value", row=row, field=name, expected=expected) from None
        raise TraceError(path, row=row, field=name, expected=expected, found=text.strip()) from None
    if not math.isfinite(value) or (minimum is not None and value < minimum):
        raise TraceError(path, row=row, field=name, expected=expected, found=text.strip())
    return value


def note_unsorted(report: SkipReport, submit_s: npt.NDArray[np.float64]) -> None:
    """Say how many kept rows came before the row above them in time (the workload sorts them)."""
    n = int(np.count_nonzero(np.diff(submit_s) < 0)) if len(submit_s) > 1 else 0
    if n:
        report.note(f"rows submitted earlier than the row before them: {n:,} (jobs were sorted by submit time)")
