"""Microsoft Philly as flattened by the Pollux (OSDI '21) artifact: one row per finished job.

Header `timestamp,duration,num_gpus,gpu_time,cluster`. `timestamp` is a naive date-time,
said to be Philly's local time (US-Pacific). We read it as a *uniform* clock, without
daylight-saving jumps, because the data says so: VC 11cb48 submits a job every 10 minutes,
and across 2017-11-05 01:00-02:00 (the hour US-Pacific repeats when DST ends) the log shows
six of them, not twelve, and no 70-minute gap -- the clock did not fall back. Converting
through America/Los_Angeles would invent a one-hour hole there. `submit_s` counts seconds
from the earliest row. The file has no job
ids (ids are `pollux-<data row>`) and holds only jobs with Philly status Pass, so every
status is unknown. `cluster` is the Philly virtual cluster and becomes `Job.group`.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from datetime import datetime, timedelta
from pathlib import Path
from typing import ClassVar

import numpy as np

from traces.errors import TraceError, UserError
from traces.io import open_csv
from traces.model import Categorical, Workload
from traces.readers._rowparse import (
    CPU_ONLY,
    NON_POSITIVE_RUN,
    check_width,
    int_field,
    note_unsorted,
    num_field,
    text_field,
)
from traces.readers.base import TraceData
from traces.report import SkipReport

COLUMNS = ("timestamp", "duration", "num_gpus", "gpu_time", "cluster")
TIMESTAMP_EXPECTED = "a date-time YYYY-MM-DD HH:MM:SS"


_EPOCH = datetime(1970, 1, 1)


def _clock_s(dt: datetime) -> float:
    """Seconds on the trace's own uniform clock (no daylight-saving jumps; see the module docstring)."""
    return (dt - _EPOCH).total_seconds()


def _parse_timestamp(path: Path, row: int, text: str) -> datetime:
    value = text.strip()
    if not value:
        raise TraceError(path, "missing value", row=row, field="timestamp", expected=TIMESTAMP_EXPECTED)
    try:
        dt = datetime.fromisoformat(value)
    except ValueError:
        raise TraceError(path, row=row, field="timestamp", expected=TIMESTAMP_EXPECTED, found=value) from None
    if dt.tzinfo is not None:
        raise TraceError(
            path, "the file's time stamps carry no time zone", row=row, field="timestamp",
            expected=TIMESTAMP_EXPECTED, found=value,
        )
    return dt


class PhillyPolluxReader:
    """Reads `philly.csv` from the Pollux artifact (Philly, Pass-only jobs, VC per job)."""

    key: ClassVar[str] = "philly-pollux"
    description: ClassVar[str] = (
        "Microsoft Philly via the Pollux artifact (timestamp,duration,num_gpus,gpu_time,cluster)"
    )

    def detect(self, header: Sequence[str] | None) -> bool:
        return header is not None and set(header) == set(COLUMNS)

    def read(self, paths: Sequence[Path]) -> TraceData:
        if len(paths) != 1:
            raise UserError(f"the {self.key} format reads one file at a time; got {len(paths)} files")
        path = Path(paths[0])
        rows = open_csv(path)
        pos = rows.require_columns(COLUMNS, self.key)
        width = len(rows.header)
        i_ts, i_dur, i_gpu, i_gt, i_vc = (pos[c] for c in COLUMNS)
        report = SkipReport(source=str(path))

        ids: list[str] = []
        epochs: list[float] = []
        durations: list[float] = []
        gpus: list[int] = []
        groups: list[str] = []
        first_epoch = math.inf
        gpu_time_mismatch = 0
        for row, f in rows:
            report.rows_read += 1
            check_width(path, row, f, width)
            epoch = _clock_s(_parse_timestamp(path, row, f[i_ts]))
            duration = num_field(path, row, "duration", f[i_dur], "a number of seconds")
            num_gpus = int_field(path, row, "num_gpus", f[i_gpu], "an integer >= 0", minimum=0)
            gpu_time = num_field(path, row, "gpu_time", f[i_gt], "a number of GPU-seconds")
            group = text_field(path, row, "cluster", f[i_vc], "a virtual-cluster name")
            first_epoch = min(first_epoch, epoch)
            if not math.isclose(gpu_time, duration * num_gpus, rel_tol=1e-9, abs_tol=1e-6):
                gpu_time_mismatch += 1
            if num_gpus == 0:
                report.skip(CPU_ONLY, row)
                continue
            if duration <= 0:
                report.skip(NON_POSITIVE_RUN, row)
                continue
            ids.append(f"pollux-{row}")
            epochs.append(epoch)
            durations.append(duration)
            gpus.append(num_gpus)
            groups.append(group)

        submit_s = np.asarray(epochs, dtype=np.float64) - first_epoch
        origin = _EPOCH + timedelta(seconds=first_epoch)
        report.note(
            "timestamps are read as a uniform clock without daylight-saving jumps (the trace's periodic "
            "jobs show no repeated hour when US-Pacific DST ended on 2017-11-05); submit_s counts seconds "
            f"from the earliest submit, {origin:%Y-%m-%d %H:%M:%S} (trace local time)"
        )
        report.note(
            "status is unknown for every job: this file holds only jobs that ended with Philly status Pass "
            "(the Pollux artifact left out failed and killed jobs)"
        )
        if gpu_time_mismatch:
            report.note(
                f"rows whose gpu_time differs from duration * num_gpus: {gpu_time_mismatch:,} "
                "(kept; gpu_time is not used)"
            )
        note_unsorted(report, submit_s)
        workload = Workload.from_columns(
            job_id=ids,
            submit_s=submit_s,
            duration_s=np.asarray(durations, dtype=np.float64),
            num_gpus=np.asarray(gpus, dtype=np.int32),
            group=Categorical.from_values(groups),
            source=str(path),
        )
        return TraceData(workload=workload, report=report)

