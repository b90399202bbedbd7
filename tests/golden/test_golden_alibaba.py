"""Golden numbers for the Alibaba readers on the real public traces (skipped when they are absent).

The counts match SOURCE.md of each trace: openb has 1,088 CPU-only pods and 897 Pending pods
(36 of them CPU-only, counted under CPU-only); DLRM has 16,485 CN rows, 7,280 rows with an
empty creation_time (3,123 of them GPU rows) and 8,878 with an empty deletion_time.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from traces.cluster import Node
from traces.model import JobStatus
from traces.readers.alibaba_dlrm import AlibabaDlrmReader
from traces.readers.alibaba_openb import AlibabaOpenbReader, read_openb_nodes

OPENB = "alibaba-openb-2023"
DLRM = "alibaba-dlrm-2025/disaggregated_DLRM_trace.csv"
GPUS_BY_TYPE = {"P100": 265, "G3": 312, "V100M32": 204, "V100M16": 195, "G2": 4392, "T4": 842, "A10": 2}


def counts(report) -> dict[str, int]:
    return {r.reason: r.count for r in report.reasons}


@pytest.mark.parametrize("name", ["openb_pod_list_default.csv", "openb_pod_list_gpuspec33.csv"])
def test_openb_pod_lists(shared_traces: Path, name: str) -> None:
    td = AlibabaOpenbReader().read([shared_traces / OPENB / name])
    assert td.report.rows_read == 8152
    assert counts(td.report) == {"CPU-only pod (0 GPUs)": 1088, "pod never scheduled (Pending)": 861}
    assert td.report.reasons[0].example_rows == (6, 17, 49, 50, 51)
    wl = td.workload
    assert len(wl) == 6203
    assert int(wl.num_gpus.sum()) == 6571
    assert wl.gpu_s.sum() == pytest.approx(185294426.97)
    assert wl.status.values().count(JobStatus.failed.value) == 1869
    assert wl.status.values().count(JobStatus.completed.value) == 185
    notes = "\n".join(td.report.notes)
    assert "32 pods still running at trace end (deletion_time = 12902960 s" in notes
    assert "4117 pods were last seen Running but deleted before the trace end" in notes
    assert "58 pods created before t = 10000000 s" in notes and "53 of them kept" in notes

    share = wl.job("openb-pod-0001")
    assert (share.submit_s, share.duration_s, share.num_gpus, share.gpu_frac) == (427061, 12475899, 1, 0.46)
    assert (share.group, share.status) == ("LS", JobStatus.unknown)
    last = wl.job("openb-pod-8151")
    assert (last.submit_s, last.duration_s, last.gpu_frac, last.group, last.status) == (
        12901761, 30, 0.59, "BE", JobStatus.failed)
    eight = wl.job("openb-pod-0017")
    assert (eight.submit_s, eight.duration_s, eight.num_gpus, eight.gpu_frac) == (9437497, 1332357, 8, 1.0)
    assert (eight.group, eight.status) == ("Burstable", JobStatus.completed)
    assert eight.gpu_types == (() if name.endswith("default.csv") else ("G2",))


def test_openb_gpuspec33_constraints(shared_traces: Path) -> None:
    td = AlibabaOpenbReader().read([shared_traces / OPENB / "openb_pod_list_gpuspec33.csv"])
    wl = td.workload
    assert sum(1 for t in wl.gpu_types.values() if t) == 2092
    assert wl.job("openb-pod-0012").gpu_types == ("T4",)
    assert wl.job("openb-pod-0012").duration_s == 10959245 - 6595531
    assert wl.job("openb-pod-0598").gpu_types == ("V100M16", "V100M32")  # listed as V100M16|V100M32|V100M32
    assert "24 gpu_spec values name a model twice" in "\n".join(td.report.notes)


def test_openb_gpu_node_list(shared_traces: Path) -> None:
    cluster, report = read_openb_nodes(shared_traces / OPENB / "openb_node_list_gpu_node.csv")
    assert (len(cluster.nodes), cluster.num_gpus) == (1213, 6212)
    assert report.rows_read == 1213 and report.num_skipped == 0
    assert cluster.nodes[0] == Node("openb-node-0000", "P100", 2, 16.0)
    by_type: dict[str, int] = {}
    for n in cluster.nodes:
        by_type[n.gpu_type] = by_type.get(n.gpu_type, 0) + n.num_gpus
    assert by_type == GPUS_BY_TYPE


def test_openb_all_node_list(shared_traces: Path) -> None:
    cluster, report = read_openb_nodes(shared_traces / OPENB / "openb_node_list_all_node.csv")
    assert report.rows_read == 1523
    assert counts(report) == {"CPU-only node": 310}
    assert (len(cluster.nodes), cluster.num_gpus) == (1213, 6212)
    nodes = {n.node_id: n for n in cluster.nodes}
    assert nodes["openb-node-0234"] == Node("openb-node-0234", "G2", 8, 16.0)
    assert nodes["openb-node-1328"] == Node("openb-node-1328", "A10", 1, 24.0)
    assert "openb-node-0000" not in nodes  # a CPU node in this file


def test_openb_pods_with_node_list(shared_traces: Path) -> None:
    td = AlibabaOpenbReader().read(
        [shared_traces / OPENB / "openb_pod_list_default.csv", shared_traces / OPENB / "openb_node_list_all_node.csv"]
    )
    assert td.cluster is not None and td.cluster.num_gpus == 6212
    assert len(td.workload) == 6203 and td.report.rows_read == 8152
    assert td.report.notes[-1].startswith("node list openb_node_list_all_node.csv: read 1523 nodes, kept 1213 nodes")


def test_dlrm(shared_traces: Path) -> None:
    td = AlibabaDlrmReader().read([shared_traces / DLRM])
    assert td.report.rows_read == 23871
    assert counts(td.report) == {
        "CPU-only instance (0 GPUs)": 16485,
        "left-censored: created before the trace began": 3123,
        "right-censored: still running at trace end": 1045,
        "non-positive run time": 16,
    }
    assert dict((r.reason, r.example_rows) for r in td.report.reasons)["non-positive run time"] == (
        17764, 17770, 21309, 21391, 21422)
    wl = td.workload
    assert len(wl) == 3202 and int(wl.num_gpus.sum()) == 3202
    assert wl.gpu_s.sum() == pytest.approx(263617862.0)
    assert td.report.notes[0].startswith("inference trace:")
    assert "2277 left-censored instances were also alive at trace end" in "\n".join(td.report.notes)

    first = wl[0]
    assert first.job_id == "instance_7300" and first.group == "app_0"
    assert first.submit_s == pytest.approx(3973.0) and first.duration_s == pytest.approx(5647.0 - 3973.0)
    last = wl[-1]
    assert (last.job_id, last.submit_s, last.duration_s, last.num_gpus, last.group, last.status) == (
        "instance_23864", 2676145.0, 3.0, 1, "app_20", JobStatus.unknown)
