"""Reader for Alibaba's GPU-disaggregated DLRM serving trace (cluster-trace-gpu-v2025).

Rows are long-running *inference* instances of recommendation-model services, not training
jobs; the reader exists because it is a real GPU-cluster arrival log with censored times and
CPU-only companions, useful to stress the simulator. An instance becomes a job that arrives
at `creation_time` with `gpu_request` GPUs and runs `deletion_time - scheduled_time`;
`app_name` (the service) becomes the group. Empty times mean "outside the trace": such
instances have no usable arrival or lifetime and are skipped, each kind under its own reason.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import ClassVar

import numpy as np

from traces.errors import TraceError, UserError
from traces.io import open_csv
from traces.model import Categorical, Workload
from traces.readers._rowparse import check_width, int_field, note_unsorted, num_field, text_field
from traces.readers.base import TraceData
from traces.report import SkipReport

COLUMNS: tuple[str, ...] = (
    "instance_sn", "app_name", "gpu_request", "creation_time", "scheduled_time", "deletion_time",
)
_SIGNATURE = frozenset(("instance_sn", "app_name", "gpu_request"))

SKIP_CPU = "CPU-only instance (0 GPUs)"
SKIP_LEFT = "left-censored: created before the trace began"
SKIP_RIGHT = "right-censored: still running at trace end"
SKIP_NEG_CREATION = "negative creation_time (before the trace origin)"
SKIP_NO_SCHEDULED = "missing scheduled_time on an instance created in the trace"
SKIP_RUN_TIME = "non-positive run time"


class AlibabaDlrmReader:
    key: ClassVar[str] = "alibaba-dlrm"
    description: ClassVar[str] = (
        "Alibaba cluster-trace-gpu-v2025 disaggregated DLRM inference instances (not training jobs)"
    )

    def detect(self, header: Sequence[str] | None) -> bool:
        return header is not None and _SIGNATURE <= set(header)

    def read(self, paths: Sequence[Path]) -> TraceData:
        """Read one or more instance files; instance ids must be unique across them."""
        if not paths:
            raise UserError("no trace file given")
        seen: dict[str, str] = {}
        job_id: list[str] = []
        submit_s: list[float] = []
        duration_s: list[float] = []
        num_gpus: list[int] = []
        group: list[str | None] = []
        reports: list[SkipReport] = []
        for p in paths:
            rows = open_csv(p)
            pos = rows.require_columns(COLUMNS, "alibaba-dlrm")
            path = rows.path
            width = len(rows.header)
            report = SkipReport(path.name)
            reports.append(report)
            both_censored = 0
            delays: list[float] = []
            first_kept = len(submit_s)
            for row_no, raw in rows:
                report.rows_read += 1
                check_width(path, row_no, raw, width)
                sn = text_field(path, row_no, "instance_sn", raw[pos["instance_sn"]], "an instance id")
                gpus = int_field(path, row_no, "gpu_request", raw[pos["gpu_request"]], "an integer >= 0",
                                 minimum=0)
                app = raw[pos["app_name"]].strip() or None
                creation = _time(path, row_no, "creation_time", raw, pos)
                scheduled = _time(path, row_no, "scheduled_time", raw, pos)
                deletion = _time(path, row_no, "deletion_time", raw, pos)
                if sn in seen:
                    raise TraceError(path, f"duplicate instance id (first at {seen[sn]})", row=row_no,
                                     field="instance_sn", expected="unique instance ids", found=sn)
                seen[sn] = f"{path}:{row_no}"

                if gpus == 0:
                    report.skip(SKIP_CPU, row_no)
                    continue
                if creation is None:
                    report.skip(SKIP_LEFT, row_no)
                    both_censored += deletion is None
                    continue
                if deletion is None:
                    report.skip(SKIP_RIGHT, row_no)
                    continue
                if creation < 0:
                    report.skip(SKIP_NEG_CREATION, row_no)
                    continue
                if scheduled is None:
                    report.skip(SKIP_NO_SCHEDULED, row_no)
                    continue
                run_s = deletion - scheduled
                if run_s <= 0:
                    report.skip(SKIP_RUN_TIME, row_no)
                    continue
                job_id.append(sn)
                submit_s.append(creation)
                duration_s.append(run_s)
                num_gpus.append(gpus)
                group.append(app)
                delays.append(scheduled - creation)
            _note(report, both_censored, delays, submit_s[first_kept:])

        if len(reports) == 1:
            report = reports[0]
        else:
            report = SkipReport(", ".join(r.source for r in reports))
            for r in reports:
                report.merge(r)
        if not job_id:
            reasons = "; ".join(f"{r.count} {r.reason}" for r in report.reasons)
            raise TraceError(
                ", ".join(str(p) for p in paths),
                f"no instance can be simulated: all {report.rows_read} rows were skipped ({reasons})",
            )
        workload = Workload.from_columns(
            job_id=job_id,
            submit_s=np.asarray(submit_s, dtype=np.float64),
            duration_s=np.asarray(duration_s, dtype=np.float64),
            num_gpus=np.asarray(num_gpus, dtype=np.int32),
            group=Categorical.from_values(group),
            source=report.source,
        )
        return TraceData(workload, report)


def _note(report: SkipReport, both_censored: int, delays: list[float], submits: list[float]) -> None:
    report.note(
        "inference trace: rows are long-running serving instances of recommendation-model services, "
        "not training jobs; do not use it to calibrate training job completion times"
    )
    if report.count(SKIP_LEFT) or report.count(SKIP_RIGHT):
        extra = (f" ({both_censored} left-censored instances were also alive at trace end)"
                 if both_censored else "")
        report.note(
            "censored instances are skipped, which drops the longest-lived ones: kept run times are "
            "biased short" + extra
        )
    if delays:
        d = np.asarray(delays)
        report.note(
            f"observed scheduling delay (scheduled_time - creation_time, median {np.median(d):.10g} s, "
            f"max {d.max():.10g} s over kept instances) is not used: the simulator produces its own; "
            "CPU, memory, RDMA, disk and per-node limits are not used either"
        )
    note_unsorted(report, np.asarray(submits, dtype=np.float64))


def _time(path: Path, row_no: int, column: str, raw: list[str], pos: dict[str, int]) -> float | None:
    """A time in seconds, or None when empty (censored: the caller skips the row)."""
    text = raw[pos[column]].strip()
    return num_field(path, row_no, column, text, "a finite number of seconds or empty") if text else None
