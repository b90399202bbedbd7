"""Microsoft Philly as repackaged by DIR-LAB (Gen-Parallel-Workloads): 15,000 jobs with status.

Header `u_id,user,gpu_num,cpu_num,node_num,interval,run_time,wall_time,new_status`. Submit
times are relative: `interval` is the gap since the previous row's submission, so
`submit_s` is the running sum of `interval` over every row (skipped rows still advance the
clock, since the gaps were measured between all jobs of the original trace). Intervals are
never negative, so rows are already in submit order; a negative one is a malformed file.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import ClassVar

import numpy as np

from traces.errors import TraceError, UserError
from traces.io import open_csv
from traces.model import Categorical, JobStatus, Workload
from traces.readers._rowparse import CPU_ONLY, NON_POSITIVE_RUN, check_width, int_field, num_field
from traces.readers.base import TraceData
from traces.report import SkipReport

HEADER = ("u_id", "user", "gpu_num", "cpu_num", "node_num", "interval", "run_time", "wall_time", "new_status")
# Columns the reader uses; cpu_num and wall_time are always 0 upstream and node_num has no Job field.
USED = ("u_id", "user", "gpu_num", "interval", "run_time", "new_status")
STATUS = {"Pass": JobStatus.completed.value, "Failed": JobStatus.failed.value, "Killed": JobStatus.killed.value}
STATUS_EXPECTED = "one of " + ", ".join(STATUS)


class PhillyDirlabReader:
    """Reads `philly_data_training.csv` (Philly slice with user and Pass/Failed/Killed status)."""

    key: ClassVar[str] = "philly-dirlab"
    description: ClassVar[str] = (
        "Microsoft Philly via DIR-LAB (u_id,user,gpu_num,cpu_num,node_num,interval,run_time,wall_time,new_status)"
    )

    def detect(self, header: Sequence[str] | None) -> bool:
        return header is not None and set(header) == set(HEADER)

    def read(self, paths: Sequence[Path]) -> TraceData:
        if len(paths) != 1:
            raise UserError(f"the {self.key} format reads one file at a time; got {len(paths)} files")
        path = Path(paths[0])
        rows = open_csv(path)
        pos = rows.require_columns(USED, self.key)
        width = len(rows.header)
        i_id, i_user, i_gpu, i_int, i_run, i_st = (pos[c] for c in USED)
        report = SkipReport(source=str(path))

        ids: list[str] = []
        submits: list[float] = []
        durations: list[float] = []
        gpus: list[int] = []
        users: list[str] = []
        statuses: list[str] = []
        first_row: dict[int, int] = {}
        clock_s = 0
        for row, f in rows:
            report.rows_read += 1
            check_width(path, row, f, width)
            u_id = int_field(path, row, "u_id", f[i_id], "an integer job id")
            if u_id in first_row:
                raise TraceError(
                    path, f"duplicate job id (first at row {first_row[u_id]})", row=row, field="u_id",
                    expected="a unique id", found=f[i_id].strip(),
                )
            first_row[u_id] = row
            user = int_field(path, row, "user", f[i_user], "an integer user id")
            num_gpus = int_field(path, row, "gpu_num", f[i_gpu], "an integer >= 0", minimum=0)
            interval = int_field(path, row, "interval", f[i_int], "an integer >= 0")
            if interval < 0:
                raise TraceError(
                    path, "times must not go backwards", row=row, field="interval",
                    expected="an integer >= 0", found=f[i_int].strip(),
                )
            run_s = num_field(path, row, "run_time", f[i_run], "a number of seconds")
            status_text = f[i_st].strip()
            status = STATUS.get(status_text)
            if status is None:
                if not status_text:
                    raise TraceError(path, "missing value", row=row, field="new_status", expected=STATUS_EXPECTED)
                raise TraceError(path, row=row, field="new_status", expected=STATUS_EXPECTED, found=status_text)
            clock_s += interval
            if num_gpus == 0:
                report.skip(CPU_ONLY, row)
                continue
            if run_s <= 0:
                report.skip(NON_POSITIVE_RUN, row)
                continue
            ids.append(f"dirlab-{u_id}")
            submits.append(float(clock_s))
            durations.append(run_s)
            gpus.append(num_gpus)
            users.append(f"user{user}")
            statuses.append(status)

        submit_s = np.asarray(submits, dtype=np.float64)
        report.note(
            "submit_s is the running sum of interval (seconds from the first row's submission, as in the file)"
        )
        report.note(
            "node_num is not used: how a job's GPUs span servers is decided by the simulator; "
            "cpu_num and wall_time are not used either"
        )
        workload = Workload.from_columns(
            job_id=ids,
            submit_s=submit_s,
            duration_s=np.asarray(durations, dtype=np.float64),
            num_gpus=np.asarray(gpus, dtype=np.int32),
            user=Categorical.from_values(users),
            status=Categorical.from_values(statuses),
            source=str(path),
        )
        return TraceData(workload=workload, report=report)
