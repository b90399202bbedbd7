"""Reader for Alibaba's "openb" GPU-sharing pod trace (cluster-trace-gpu-v2023) and its node lists.

A pod list gives one row per Kubernetes pod. A pod is replayed as a job that arrives at
`creation_time` and runs `deletion_time - scheduled_time` (the time it held its GPUs; the
observed queueing delay is left out because the simulator produces its own). `gpu_milli` is
the share of each GPU (< 1000 only for GPU-sharing pods with one GPU), `gpu_spec` the allowed
GPU models and `qos` becomes the job's group.

A node list (`sn,cpu_milli,memory_mib,gpu,model`) becomes the `Cluster`: GPU nodes only.
The node lists do not give GPU memory, so it comes from `GPU_MEM_GIB`, nominal sizes of the
named models. G1/G2/G3 are undisclosed internal models: they are assumed to have
`UNDISCLOSED_GPU_MEM_GIB` (16 GiB, the size of most disclosed models here), and a note says so.
No pod requests GPU memory, so the assumption only matters to policies that look at it.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import ClassVar

import numpy as np

from traces.cluster import NODE_ID_FORBIDDEN, Cluster, Node
from traces.errors import TraceError, UserError
from traces.io import CsvRows, open_csv
from traces.model import Categorical, JobStatus, Workload
from traces.readers._rowparse import check_width, int_field, note_unsorted, num_field, text_field
from traces.readers.base import TraceData
from traces.report import SkipReport

POD_COLUMNS: tuple[str, ...] = (
    "name", "num_gpu", "gpu_milli", "pod_phase", "creation_time", "deletion_time", "scheduled_time",
)
OPTIONAL_POD_COLUMNS: tuple[str, ...] = ("gpu_spec", "qos")
NODE_COLUMNS: tuple[str, ...] = ("sn", "gpu", "model")
# Enough to recognise a file, so that a variant lacking a needed column (the upstream
# `multigpu*` lists have no timestamps) is reported as missing columns, not as unknown.
_POD_SIGNATURE = frozenset(("name", "num_gpu", "gpu_milli"))
_NODE_SIGNATURE = frozenset(("sn", "gpu", "model"))

# Nominal per-GPU memory (GiB) of the disclosed models in the node lists.
GPU_MEM_GIB: dict[str, float] = {"V100M16": 16.0, "V100M32": 32.0, "P100": 16.0, "T4": 16.0, "A10": 24.0}
# Assumed for G1/G2/G3 (undisclosed) and any other model not in GPU_MEM_GIB.
UNDISCLOSED_GPU_MEM_GIB = 16.0

# SOURCE.md: 99% of pods are created in an ~33-day window that starts near t = 1.0e7 s; the
# few created earlier are long-lived pods that pre-date the window.
WINDOW_START_S = 1.0e7

MILLI = 1000
COUNT = "an integer >= 0"
TIME = "a finite number of seconds or empty"
PENDING = "Pending"
PHASE_STATUS: dict[str, JobStatus] = {
    "Succeeded": JobStatus.completed,
    "Failed": JobStatus.failed,
    "Running": JobStatus.unknown,
    "Unknown": JobStatus.unknown,
}
_PHASES = "one of Pending, Running, Succeeded, Failed, Unknown"

SKIP_CPU_POD = "CPU-only pod (0 GPUs)"
SKIP_MILLI_RANGE = "gpu_milli outside 1..1000 on a GPU pod"
SKIP_SHARED_MULTI = "GPU share (gpu_milli < 1000) on a multi-GPU pod"
SKIP_PENDING = "pod never scheduled (Pending)"
SKIP_NO_CREATION = "missing creation_time"
SKIP_NEG_CREATION = "negative creation_time (before the trace origin)"
SKIP_NO_SCHEDULED = "missing scheduled_time on a pod that ran"
SKIP_NO_DELETION = "missing deletion_time"
SKIP_RUN_TIME = "non-positive run time"
SKIP_CPU_NODE = "CPU-only node"
SKIP_NODE_NO_MODEL = "GPU node without a model"


@dataclass(slots=True)
class _Pods:
    """Kept pods of one pod list, as Python lists (one entry per kept pod)."""

    job_id: list[str] = field(default_factory=list)
    submit_s: list[float] = field(default_factory=list)
    duration_s: list[float] = field(default_factory=list)
    num_gpus: list[int] = field(default_factory=list)
    gpu_frac: list[float] = field(default_factory=list)
    gpu_types: list[tuple[str, ...]] = field(default_factory=list)
    group: list[str | None] = field(default_factory=list)
    status: list[str] = field(default_factory=list)
    queue_delay_s: list[float] = field(default_factory=list)
    phase: list[str] = field(default_factory=list)
    deletion_s: list[float] = field(default_factory=list)


class AlibabaOpenbReader:
    key: ClassVar[str] = "alibaba-openb"
    description: ClassVar[str] = (
        "Alibaba cluster-trace-gpu-v2023 (openb) pod list, optionally with a node list for the cluster"
    )

    def detect(self, header: Sequence[str] | None) -> bool:
        if header is None:
            return False
        cols = set(header)
        return _POD_SIGNATURE <= cols or _NODE_SIGNATURE <= cols

    def read(self, paths: Sequence[Path]) -> TraceData:
        """Read one or more pod lists and at most one node list (which sets `TraceData.cluster`)."""
        if not paths:
            raise UserError("no trace file given")
        pod_files: list[CsvRows] = []
        node_files: list[CsvRows] = []
        for p in paths:
            rows = open_csv(p)
            (node_files if _is_node_header(rows.header) else pod_files).append(rows)
        if len(node_files) > 1:
            raise UserError(
                "pass at most one alibaba-openb node list, got "
                + ", ".join(str(r.path) for r in node_files)
            )
        if not pod_files:
            raise TraceError(node_files[0].path, "a node list has no jobs; pass the pod list too")

        cluster: Cluster | None = None
        node_summary = ""
        if node_files:
            cluster, node_report = _read_nodes(node_files[0])
            node_summary = _node_summary(node_report, cluster)

        seen: dict[str, str] = {}
        parts = [_read_pods(rows, seen, cluster) for rows in pod_files]
        if len(parts) == 1:
            report = parts[0][1]
        else:
            report = SkipReport(", ".join(r.path.name for r in pod_files))
            for _, r in parts:
                report.merge(r)
        if node_summary:
            report.note(node_summary)
        pods = _Pods()
        for p, _ in parts:
            for fld in fields(_Pods):
                getattr(pods, fld.name).extend(getattr(p, fld.name))
        if not pods.job_id:
            reasons = "; ".join(f"{r.count} {r.reason}" for r in report.reasons)
            raise TraceError(
                ", ".join(str(r.path) for r in pod_files),
                f"no pod can be simulated: all {report.rows_read} rows were skipped ({reasons})",
            )
        workload = Workload.from_columns(
            job_id=pods.job_id,
            submit_s=np.asarray(pods.submit_s, dtype=np.float64),
            duration_s=np.asarray(pods.duration_s, dtype=np.float64),
            num_gpus=np.asarray(pods.num_gpus, dtype=np.int32),
            gpu_frac=np.asarray(pods.gpu_frac, dtype=np.float64),
            gpu_types=Categorical.from_values(pods.gpu_types, none_values=((),)),
            group=Categorical.from_values(pods.group),
            status=Categorical.from_values(pods.status, none_values=(None, JobStatus.unknown.value)),
            source=report.source,
        )
        return TraceData(workload, report, cluster)


def read_openb_nodes(path: str | Path) -> tuple[Cluster, SkipReport]:
    """The GPU nodes of an openb node list as a `Cluster`; CPU-only nodes are counted as skipped."""
    return _read_nodes(open_csv(path))


def _is_node_header(header: Sequence[str]) -> bool:
    return _NODE_SIGNATURE <= set(header) and not _POD_SIGNATURE <= set(header)


def _read_nodes(rows: CsvRows) -> tuple[Cluster, SkipReport]:
    pos = rows.require_columns(NODE_COLUMNS, "alibaba-openb node list")
    report = SkipReport(rows.path.name)
    width = len(rows.header)
    nodes: list[Node] = []
    first_row: dict[str, int] = {}
    assumed: Counter[str] = Counter()
    for row_no, raw in rows:
        report.rows_read += 1
        check_width(rows.path, row_no, raw, width)
        sn = text_field(rows.path, row_no, "sn", raw[pos["sn"]], "a node id")
        num_gpus = int_field(rows.path, row_no, "gpu", raw[pos["gpu"]], COUNT, minimum=0)
        model = raw[pos["model"]].strip()
        if sn in first_row:
            raise TraceError(rows.path, f"duplicate node id (first at row {first_row[sn]})", row=row_no,
                             field="sn", expected="unique node ids", found=sn)
        first_row[sn] = row_no
        if any(ch in sn for ch in NODE_ID_FORBIDDEN):
            raise TraceError(rows.path, "bad node id", row=row_no, field="sn",
                             expected="a node id without ':', ';' or spaces", found=sn)
        if num_gpus == 0:
            report.skip(SKIP_CPU_NODE, row_no)
            continue
        if not model:
            report.skip(SKIP_NODE_NO_MODEL, row_no)
            continue
        mem = GPU_MEM_GIB.get(model)
        if mem is None:
            mem = UNDISCLOSED_GPU_MEM_GIB
            assumed[model] += num_gpus
        nodes.append(Node(sn, model, num_gpus, mem))
    if not nodes:
        raise TraceError(rows.path, "no GPU nodes", expected="at least one node with gpu > 0 and a model")
    if assumed:
        models = ", ".join(f"{m} ({c} GPUs)" for m, c in sorted(assumed.items()))
        report.note(
            f"GPU memory of undisclosed model(s) {models} is not given; assumed "
            f"{UNDISCLOSED_GPU_MEM_GIB:g} GiB per GPU"
        )
    report.note("node cpu_milli and memory_mib are not used (the simulator models GPUs only)")
    return Cluster(tuple(nodes)), report


def _node_summary(report: SkipReport, cluster: Cluster) -> str:
    """One note line for the pod report: node rows are not pod rows, so they are not merged in."""
    kept = cluster.describe()
    skipped = "; ".join(f"skipped {r.count}: {r.reason}" for r in report.reasons)
    notes = "; ".join(report.notes)
    return f"node list {report.source}: read {report.rows_read} nodes, kept {kept}" + (
        f"; {skipped}" if skipped else "") + (f"; {notes}" if notes else "")


def _read_pods(rows: CsvRows, seen: dict[str, str], cluster: Cluster | None) -> tuple[_Pods, SkipReport]:
    """Kept pods and the skip report of one pod list; `seen` maps names to where they were read."""
    pos = rows.require_columns(POD_COLUMNS, "alibaba-openb pod list")
    path = rows.path
    width = len(rows.header)
    report = SkipReport(path.name)
    out = _Pods()
    duplicated_types = 0
    early_all = 0
    early_kept: list[float] = []
    sched_before_creation = 0
    max_deletion = -np.inf
    for row_no, raw in rows:
        report.rows_read += 1
        check_width(path, row_no, raw, width)
        name = text_field(path, row_no, "name", raw[pos["name"]], "a pod name")
        num_gpu = int_field(path, row_no, "num_gpu", raw[pos["num_gpu"]], COUNT, minimum=0)
        gpu_milli = int_field(path, row_no, "gpu_milli", raw[pos["gpu_milli"]], COUNT, minimum=0)
        phase = raw[pos["pod_phase"]].strip()
        if phase != PENDING and phase not in PHASE_STATUS:
            raise TraceError(path, "unknown pod phase", row=row_no, field="pod_phase",
                             expected=_PHASES, found=phase)
        creation = _time(path, row_no, "creation_time", raw, pos)
        deletion = _time(path, row_no, "deletion_time", raw, pos)
        scheduled = _time(path, row_no, "scheduled_time", raw, pos)
        spec = raw[pos["gpu_spec"]].strip() if "gpu_spec" in pos else ""
        qos = (raw[pos["qos"]].strip() if "qos" in pos else "") or None
        if name in seen:
            raise TraceError(path, f"duplicate pod name (first at {seen[name]})", row=row_no, field="name",
                             expected="unique pod names", found=name)
        seen[name] = f"{path}:{row_no}"
        if deletion is not None:
            max_deletion = max(max_deletion, deletion)
        if creation is not None and 0 <= creation < WINDOW_START_S:
            early_all += 1

        if num_gpu == 0:
            report.skip(SKIP_CPU_POD, row_no)
            continue
        if not 0 < gpu_milli <= MILLI:
            report.skip(SKIP_MILLI_RANGE, row_no)
            continue
        if gpu_milli < MILLI and num_gpu > 1:
            report.skip(SKIP_SHARED_MULTI, row_no)
            continue
        if phase == PENDING:
            report.skip(SKIP_PENDING, row_no)
            continue
        if creation is None:
            report.skip(SKIP_NO_CREATION, row_no)
            continue
        if creation < 0:
            report.skip(SKIP_NEG_CREATION, row_no)
            continue
        if scheduled is None:
            report.skip(SKIP_NO_SCHEDULED, row_no)
            continue
        if deletion is None:
            report.skip(SKIP_NO_DELETION, row_no)
            continue
        run_s = deletion - scheduled
        if run_s <= 0:
            report.skip(SKIP_RUN_TIME, row_no)
            continue

        parts = tuple(t.strip() for t in spec.split("|") if t.strip()) if spec else ()
        types = tuple(dict.fromkeys(parts))
        if len(types) != len(parts):
            duplicated_types += 1
        if scheduled < creation:
            sched_before_creation += 1
        if creation < WINDOW_START_S:
            early_kept.append(creation)
        out.job_id.append(name)
        out.submit_s.append(creation)
        out.duration_s.append(run_s)
        out.num_gpus.append(num_gpu)
        out.gpu_frac.append(gpu_milli / MILLI)
        out.gpu_types.append(types)
        out.group.append(qos)
        out.status.append(PHASE_STATUS[phase].value)
        out.queue_delay_s.append(scheduled - creation)
        out.phase.append(phase)
        out.deletion_s.append(deletion)

    _note_pods(report, out, max_deletion, early_all, early_kept, duplicated_types,
               sched_before_creation, cluster)
    return out, report


def _note_pods(
    report: SkipReport,
    pods: _Pods,
    max_deletion: float,
    early_all: int,
    early_kept: list[float],
    duplicated_types: int,
    sched_before_creation: int,
    cluster: Cluster | None,
) -> None:
    """Notes on what the kept pods mean, so that nothing surprising passes unremarked."""
    running = [i for i, ph in enumerate(pods.phase) if ph == "Running"]
    at_end = sum(1 for i in running if pods.deletion_s[i] == max_deletion)
    if at_end:
        report.note(
            f"{at_end} pods still running at trace end (deletion_time = {max_deletion:.10g} s, the latest "
            "in the file): duration is a lower bound"
        )
    if len(running) > at_end:
        report.note(
            f"{len(running) - at_end} pods were last seen Running but deleted before the trace end "
            "(the outcome is not recorded): status unknown"
        )
    if early_all:
        first = f", the earliest at t = {min(early_kept):.10g} s" if early_kept else ""
        report.note(
            f"{early_all} pods created before t = {WINDOW_START_S:.10g} s, long before the ~33-day observation "
            f"window; {len(early_kept)} of them kept{first}: long-lived pods that stretch the submit span"
        )
    if pods.queue_delay_s:
        delay = np.asarray(pods.queue_delay_s)
        report.note(
            f"observed queueing delay (scheduled_time - creation_time, median {np.median(delay):g} s, "
            f"max {delay.max():g} s over kept pods) is not used: the simulator produces its own; "
            "cpu_milli and memory_mib are not used either"
        )
    if sched_before_creation:
        report.note(f"{sched_before_creation} kept pods have scheduled_time before creation_time")
    constrained = sum(1 for t in pods.gpu_types if t)
    if constrained:
        report.note(
            f"{constrained} kept pods carry a gpu_spec GPU-model constraint (upstream added these "
            "synthetically in the gpuspecNN variants)"
        )
    if duplicated_types:
        report.note(f"{duplicated_types} gpu_spec values name a model twice; the duplicates were dropped")
    if cluster is not None:
        have = set(cluster.gpu_types)
        impossible = sum(1 for t in pods.gpu_types if t and not have.intersection(t))
        if impossible:
            report.note(f"{impossible} kept pods allow only GPU models that the node list does not have")
    note_unsorted(report, np.asarray(pods.submit_s, dtype=np.float64))


def _time(path: Path, row_no: int, column: str, raw: list[str], pos: dict[str, int]) -> float | None:
    """A time in seconds, or None when empty (not observed: the caller skips the row)."""
    text = raw[pos[column]].strip()
    return num_field(path, row_no, column, text, TIME) if text else None
