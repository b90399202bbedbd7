"""Microsoft ITP cluster traces (ElasticFlow, ASPLOS '23): one CSV per cluster.

Header `job_id,submission_time,duration,num_gpu`, times in seconds from the start of the
collection window, which all clusters share. The file is the cluster, so `Job.group` is the
file name without `.csv`/`.gz` (e.g. `cluster05`); reading several files at once keeps them
apart by group on one common clock. Ids are UUIDs and unique across clusters in practice;
an id found in two files is prefixed with each file's cluster name so all stay unique.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
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

COLUMNS = ("job_id", "submission_time", "duration", "num_gpu")


def cluster_name(path: Path) -> str:
    """`cluster05.csv.gz` -> `cluster05`: the group of every job in that file."""
    name = path.name
    for suffix in (".gz", ".csv"):
        if name.lower().endswith(suffix) and len(name) > len(suffix):
            name = name[: -len(suffix)]
    return name


@dataclass(frozen=True, slots=True)
class _ClusterRows:
    """The kept jobs of one file, in file order."""

    cluster: str
    ids: list[str]
    submit_s: list[float]
    duration_s: list[float]
    num_gpus: list[int]
    report: SkipReport


class ItpReader:
    """Reads one or more ITP `clusterNN.csv` files; the cluster becomes `Job.group`."""

    key: ClassVar[str] = "itp"
    description: ClassVar[str] = (
        "Microsoft ITP clusters via ElasticFlow (job_id,submission_time,duration,num_gpu); "
        "several cluster files at once"
    )

    def detect(self, header: Sequence[str] | None) -> bool:
        return header is not None and set(header) == set(COLUMNS)

    def read(self, paths: Sequence[Path]) -> TraceData:
        if not paths:
            raise UserError("no ITP trace file given")
        plist = [Path(p) for p in paths]
        seen: dict[str, Path] = {}
        for p in plist:
            name = cluster_name(p)
            if name in seen:
                raise UserError(
                    f"{seen[name]} and {p} are both cluster {name!r}: the file name is the cluster, "
                    "so give each cluster once"
                )
            seen[name] = p
        parts = [self._read_one(p) for p in plist]

        per_file = Counter(j for part in parts for j in set(part.ids))
        shared = {j for j, n in per_file.items() if n > 1}
        ids: list[str] = []
        groups: list[str] = []
        for part in parts:
            ids.extend(f"{part.cluster}/{j}" if j in shared else j for j in part.ids)
            groups.extend([part.cluster] * len(part.ids))

        if len(parts) == 1:
            report = parts[0].report
        else:
            report = SkipReport(source=f"{len(plist)} ITP files ({', '.join(seen)})")
            for part in parts:
                report.merge(part.report)
        report.note("group is the cluster, taken from the file name")
        if shared:
            example = sorted(shared)[0]
            report.note(
                f"job ids found in more than one file: {len(shared):,} (e.g. {example}); "
                "those jobs were renamed <cluster>/<job_id>"
            )
        workload = Workload.from_columns(
            job_id=ids,
            submit_s=np.concatenate([np.asarray(p.submit_s, dtype=np.float64) for p in parts]),
            duration_s=np.concatenate([np.asarray(p.duration_s, dtype=np.float64) for p in parts]),
            num_gpus=np.concatenate([np.asarray(p.num_gpus, dtype=np.int32) for p in parts]),
            group=Categorical.from_values(groups),
            source=", ".join(str(p) for p in plist),
        )
        return TraceData(workload=workload, report=report)

    def _read_one(self, path: Path) -> _ClusterRows:
        rows = open_csv(path)
        pos = rows.require_columns(COLUMNS, self.key)
        width = len(rows.header)
        i_id, i_sub, i_dur, i_gpu = (pos[c] for c in COLUMNS)
        report = SkipReport(source=str(path))
        part = _ClusterRows(cluster_name(path), [], [], [], [], report)
        first_row: dict[str, int] = {}
        for row, f in rows:
            report.rows_read += 1
            check_width(path, row, f, width)
            job_id = text_field(path, row, "job_id", f[i_id], "a job id")
            if job_id in first_row:
                raise TraceError(
                    path, f"duplicate job id (first at row {first_row[job_id]})", row=row, field="job_id",
                    expected="a unique id", found=job_id,
                )
            first_row[job_id] = row
            submit_s = num_field(path, row, "submission_time", f[i_sub], "a number of seconds >= 0", minimum=0)
            duration_s = num_field(path, row, "duration", f[i_dur], "a number of seconds")
            num_gpus = int_field(path, row, "num_gpu", f[i_gpu], "an integer >= 0", minimum=0)
            if num_gpus == 0:
                report.skip(CPU_ONLY, row)
                continue
            if duration_s <= 0:
                report.skip(NON_POSITIVE_RUN, row)
                continue
            part.ids.append(job_id)
            part.submit_s.append(submit_s)
            part.duration_s.append(duration_s)
            part.num_gpus.append(num_gpus)
        note_unsorted(report, np.asarray(part.submit_s, dtype=np.float64))
        return part
