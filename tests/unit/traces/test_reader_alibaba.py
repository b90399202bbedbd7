"""Alibaba openb and DLRM readers on small hand-written CSVs (no real rows are shipped)."""

from __future__ import annotations

from pathlib import Path

import pytest

from traces.cluster import Node
from traces.errors import TraceError, UserError
from traces.model import JobStatus
from traces.readers.alibaba_dlrm import AlibabaDlrmReader
from traces.readers.alibaba_openb import (
    UNDISCLOSED_GPU_MEM_GIB,
    AlibabaOpenbReader,
    read_openb_nodes,
)

POD_HEADER = (
    "name,cpu_milli,memory_mib,num_gpu,gpu_milli,gpu_spec,qos,pod_phase,creation_time,deletion_time,scheduled_time"
)
# Times sit after t = 1e7 s (the start of the openb observation window) unless a row tests that.
POD_ROWS = [
    "p-share,6000,12288,1,460,,LS,Succeeded,10000100,10000500,10000110",  # 1 kept: 390 s, frac 0.46
    "p-multi,88000,327680,8,1000,V100M16|V100M32,BE,Failed,10000200,10000800,10000200",  # 2 kept
    "p-cpu,4000,8192,0,0,,BE,Running,10000300,10000900,10000300",  # 3 CPU-only
    "p-pending,4000,8192,1,1000,,LS,Pending,10000400,10000900,",  # 4 Pending
    "p-sharemulti,4000,8192,2,500,,LS,Running,10000500,10000900,10000500",  # 5 share on 2 GPUs
    "p-milli0,4000,8192,1,0,,LS,Running,10000600,10000900,10000600",  # 6 gpu_milli 0
    "p-milli1500,4000,8192,1,1500,,LS,Running,10000700,10000900,10000700",  # 7 gpu_milli > 1000
    "p-zero,4000,8192,1,1000,,LS,Failed,10000800,10000800,10000800",  # 8 zero run time
    "p-end,4000,8192,1,1000,,LS,Running,10000900,10009000,10000950",  # 9 kept, censored at trace end
    "p-mid,4000,8192,1,250,,BE,Running,10001000,10002000,10001000",  # 10 kept, deleted while Running
    "p-early,4000,8192,1,1000,T4|T4,Guaranteed,Succeeded,5,10003000,7",  # 11 kept, pre-window, duplicate spec
    "p-nosched,4000,8192,1,1000,,LS,Failed,10001100,10002000,",  # 12 no scheduled_time
    "p-nodel,4000,8192,1,1000,,LS,Failed,10001200,,10001200",  # 13 no deletion_time
    "p-neg,4000,8192,1,1000,,LS,Failed,-5,10002000,10001300",  # 14 negative creation
    "p-nocreate,4000,8192,1,1000,,LS,Failed,,10002000,10001300",  # 15 no creation_time
    "p-unknown,4000,8192,4,1000,,,Unknown,10001400,10001500,10001400.5",  # 16 kept, phase Unknown
    "p-negrun,4000,8192,1,1000,,LS,Succeeded,10001500,10001400,10001500",  # 17 negative run time
]
NODE_HEADER = "sn,cpu_milli,memory_mib,gpu,model"
NODE_ROWS = [
    "cpu-0,32000,262144,0,",  # 1 CPU-only
    "n-p100,64000,262144,2,P100",  # 2
    "n-g2,96000,393216,8,G2",  # 3 undisclosed model
    "n-v32,96000,786432,8,V100M32",  # 4
    "n-nomodel,96000,786432,4,",  # 5 GPU node without a model
    "cpu-1,32000,262144,0,",  # 6 CPU-only
    "n-a10,128000,1048576,1,A10",  # 7
]
DLRM_HEADER = (
    "instance_sn,role,app_name,cpu_request,cpu_limit,gpu_request,gpu_limit,rdma_request,rdma_limit,"
    "memory_request,memory_limit,disk_request,disk_limit,max_instance_per_node,creation_time,scheduled_time,"
    "deletion_time"
)
DLRM_ROWS = [
    "i-ok,HN,app_a,12,12,1,1,25,25,120.0,120.0,680.0,800.0,8,300.5,310.5,1000.5",  # 1 kept: 690 s
    "i-cpu,CN,app_a,48,48,0,0,25,25,240.0,240.0,680.0,800.0,-1,100.0,100.0,200.0",  # 2 CPU-only
    "i-left,HN,app_a,12,12,1,1,25,25,120.0,120.0,680.0,800.0,8,,,900.0",  # 3 left-censored
    "i-both,HN,app_b,12,12,1,1,25,25,120.0,120.0,680.0,800.0,8,,,",  # 4 left- and right-censored
    "i-right,HN,app_b,12,12,1,1,25,25,120.0,120.0,680.0,800.0,8,50.0,51.0,",  # 5 right-censored
    "i-zero,HN,app_b,8,8,1,1,25,25,40.0,40.0,200.0,200.0,2,70.0,70.0,70.0",  # 6 zero run time
    "i-two,HN,app_c,8,8,2,2,25,25,40.0,40.0,200.0,200.0,2,20.0,25.0,125.0",  # 7 kept, 2 GPUs, earlier
    "i-nosched,HN,app_c,8,8,1,1,25,25,40.0,40.0,200.0,200.0,2,30.0,,125.0",  # 8 never scheduled
    "i-neg,HN,app_c,8,8,1,1,25,25,40.0,40.0,200.0,200.0,2,-3.0,1.0,125.0",  # 9 negative creation
]


def write(tmp_path: Path, name: str, header: str, rows: list[str]) -> Path:
    path = tmp_path / name
    path.write_text(header + "\n" + "\n".join(rows) + "\n", encoding="utf-8")
    return path


@pytest.fixture
def pods(tmp_path: Path) -> Path:
    return write(tmp_path, "pods.csv", POD_HEADER, POD_ROWS)


@pytest.fixture
def nodes(tmp_path: Path) -> Path:
    return write(tmp_path, "nodes.csv", NODE_HEADER, NODE_ROWS)


@pytest.fixture
def dlrm(tmp_path: Path) -> Path:
    return write(tmp_path, "dlrm.csv", DLRM_HEADER, DLRM_ROWS)


def reasons(report) -> dict[str, tuple[int, tuple[int, ...]]]:
    return {r.reason: (r.count, r.example_rows) for r in report.reasons}


# ----- openb pod list ---------------------------------------------------------


def test_openb_counts_every_skip_reason_with_example_rows(pods: Path) -> None:
    td = AlibabaOpenbReader().read([pods])
    assert td.report.rows_read == 17
    assert reasons(td.report) == {
        "CPU-only pod (0 GPUs)": (1, (3,)),
        "pod never scheduled (Pending)": (1, (4,)),
        "GPU share (gpu_milli < 1000) on a multi-GPU pod": (1, (5,)),
        "gpu_milli outside 1..1000 on a GPU pod": (2, (6, 7)),
        "non-positive run time": (2, (8, 17)),
        "missing scheduled_time on a pod that ran": (1, (12,)),
        "missing deletion_time": (1, (13,)),
        "negative creation_time (before the trace origin)": (1, (14,)),
        "missing creation_time": (1, (15,)),
    }
    assert len(td.workload) == 17 - td.report.num_skipped == 6
    assert td.cluster is None


def test_openb_kept_pods_fields(pods: Path) -> None:
    wl = AlibabaOpenbReader().read([pods]).workload
    assert [str(j) for j in wl.job_id] == ["p-early", "p-share", "p-multi", "p-end", "p-mid", "p-unknown"]
    share = wl.job("p-share")
    assert (share.submit_s, share.duration_s, share.num_gpus, share.gpu_frac) == (10000100, 390, 1, 0.46)
    assert share.group == "LS" and share.gpu_types == () and share.gpu_mem_gib is None
    multi = wl.job("p-multi")
    assert (multi.num_gpus, multi.gpu_frac, multi.duration_s) == (8, 1.0, 600)
    assert multi.gpu_types == ("V100M16", "V100M32")
    assert wl.job("p-early").gpu_types == ("T4",)  # "T4|T4": the duplicate is dropped
    assert wl.job("p-early").submit_s == 5 and wl.job("p-early").duration_s == 10003000 - 7
    assert wl.job("p-mid").gpu_frac == 0.25
    assert wl.job("p-unknown").group is None
    assert wl.job("p-unknown").duration_s == 99.5


def test_openb_status_mapping(pods: Path) -> None:
    wl = AlibabaOpenbReader().read([pods]).workload
    assert {j.job_id: j.status for j in wl} == {
        "p-share": JobStatus.completed,  # Succeeded
        "p-early": JobStatus.completed,  # Succeeded
        "p-multi": JobStatus.failed,  # Failed
        "p-end": JobStatus.unknown,  # Running at trace end
        "p-mid": JobStatus.unknown,  # Running, deleted before the end
        "p-unknown": JobStatus.unknown,  # Unknown
    }


def test_openb_notes(pods: Path) -> None:
    notes = AlibabaOpenbReader().read([pods]).report.notes
    text = "\n".join(notes)
    assert "1 pods still running at trace end (deletion_time = 10009000 s, the latest in the file)" in text
    assert "duration is a lower bound" in text
    assert "1 pods were last seen Running but deleted before the trace end" in text
    assert "1 pods created before t = 10000000 s" in text and "1 of them kept, the earliest at t = 5 s" in text
    assert "queueing delay" in text and "is not used" in text
    assert "1 gpu_spec values name a model twice" in text
    assert "2 kept pods carry a gpu_spec GPU-model constraint" in text
    assert "rows submitted earlier than the row before them: 1 (jobs were sorted by submit time)" in text  # p-early


def test_openb_detect_recognises_pod_and_node_headers() -> None:
    r = AlibabaOpenbReader()
    assert r.detect(POD_HEADER.split(","))
    assert r.detect(NODE_HEADER.split(","))
    assert r.detect(["name", "cpu_milli", "memory_mib", "num_gpu", "gpu_milli"])  # multigpu variant
    assert not r.detect(DLRM_HEADER.split(","))
    assert not r.detect(["job_id", "submit_time", "duration", "num_gpus"])
    assert not r.detect(None)


def test_openb_reads_several_pod_lists(tmp_path: Path) -> None:
    a = write(tmp_path, "a.csv", POD_HEADER, POD_ROWS[:2])
    b = write(tmp_path, "b.csv", POD_HEADER, [POD_ROWS[2], POD_ROWS[8]])
    td = AlibabaOpenbReader().read([a, b])
    assert td.report.source == "a.csv, b.csv"
    assert td.report.rows_read == 4 and td.report.count("CPU-only pod (0 GPUs)") == 1
    assert sorted(td.workload.job_id) == ["p-end", "p-multi", "p-share"]


def test_openb_all_rows_skipped_is_an_error(tmp_path: Path) -> None:
    path = write(tmp_path, "cpu.csv", POD_HEADER, [POD_ROWS[2], POD_ROWS[3]])
    with pytest.raises(TraceError) as err:
        AlibabaOpenbReader().read([path])
    assert str(err.value) == (
        f"{path}: no pod can be simulated: all 2 rows were skipped "
        "(1 CPU-only pod (0 GPUs); 1 pod never scheduled (Pending))"
    )


# ----- openb node list ----------------------------------------------------------


def test_node_list_to_cluster(nodes: Path) -> None:
    cluster, report = read_openb_nodes(nodes)
    assert cluster.nodes == (
        Node("n-p100", "P100", 2, 16.0),
        Node("n-g2", "G2", 8, UNDISCLOSED_GPU_MEM_GIB),
        Node("n-v32", "V100M32", 8, 32.0),
        Node("n-a10", "A10", 1, 24.0),
    )
    assert cluster.num_gpus == 19
    assert report.rows_read == 7
    assert reasons(report) == {"CPU-only node": (2, (1, 6)), "GPU node without a model": (1, (5,))}
    assert report.notes[0] == "GPU memory of undisclosed model(s) G2 (8 GPUs) is not given; assumed 16 GiB per GPU"


def test_pod_and_node_list_together_set_the_cluster(pods: Path, nodes: Path) -> None:
    td = AlibabaOpenbReader().read([nodes, pods])
    assert td.cluster is not None and td.cluster.num_gpus == 19
    assert td.report.source == "pods.csv"
    assert td.report.rows_read == 17 and len(td.workload) == 6  # node rows are not pod rows
    summary = td.report.notes[-1]
    assert summary.startswith("node list nodes.csv: read 7 nodes, kept 4 nodes, 19 GPUs")
    assert "skipped 2: CPU-only node; skipped 1: GPU node without a model" in summary


def test_pods_needing_models_the_cluster_lacks_are_noted(tmp_path: Path) -> None:
    pods = write(tmp_path, "p.csv", POD_HEADER, ["p-t4,1,1,1,1000,T4,LS,Failed,10000000,10000010,10000000"])
    nodes = write(tmp_path, "n.csv", NODE_HEADER, ["n0,1,1,8,G2"])
    td = AlibabaOpenbReader().read([pods, nodes])
    assert "1 kept pods allow only GPU models that the node list does not have" in td.report.notes


def test_node_list_alone_is_an_error(nodes: Path) -> None:
    with pytest.raises(TraceError) as err:
        AlibabaOpenbReader().read([nodes])
    assert str(err.value) == f"{nodes}: a node list has no jobs; pass the pod list too"


def test_two_node_lists_are_an_error(pods: Path, nodes: Path, tmp_path: Path) -> None:
    other = write(tmp_path, "nodes2.csv", NODE_HEADER, NODE_ROWS[:2])
    with pytest.raises(UserError, match="at most one alibaba-openb node list"):
        AlibabaOpenbReader().read([pods, nodes, other])


def test_node_list_without_gpu_nodes_is_an_error(tmp_path: Path) -> None:
    path = write(tmp_path, "cpu_nodes.csv", NODE_HEADER, [NODE_ROWS[0], NODE_ROWS[5]])
    with pytest.raises(TraceError) as err:
        read_openb_nodes(path)
    assert str(err.value) == f"{path}: no GPU nodes; expected at least one node with gpu > 0 and a model"


def test_node_list_errors(tmp_path: Path) -> None:
    bad = write(tmp_path, "bad.csv", NODE_HEADER, ["n0,1,1,two,T4"])
    with pytest.raises(TraceError) as err:
        read_openb_nodes(bad)
    assert str(err.value) == f"{bad}:1: field 'gpu': expected an integer >= 0 but found 'two'"
    dup = write(tmp_path, "dup.csv", NODE_HEADER, ["n0,1,1,2,T4", "n0,1,1,2,T4"])
    with pytest.raises(TraceError) as err:
        read_openb_nodes(dup)
    assert str(err.value) == (
        f"{dup}:2: field 'sn': duplicate node id (first at row 1); expected unique node ids but found 'n0'"
    )
    colon = write(tmp_path, "colon.csv", NODE_HEADER, ["rack:n0,1,1,2,T4"])
    with pytest.raises(TraceError, match="expected a node id without ':', ';' or spaces"):
        read_openb_nodes(colon)


# ----- openb malformed files ----------------------------------------------------


def test_openb_bad_number_names_file_row_field(tmp_path: Path) -> None:
    path = write(tmp_path, "p.csv", POD_HEADER, [POD_ROWS[0], "p-x,1,1,1,1000,,LS,Failed,abc,10000500,10000110"])
    with pytest.raises(TraceError) as err:
        AlibabaOpenbReader().read([path])
    assert str(err.value) == f"{path}:2: field 'creation_time': expected a finite number of seconds or empty but found 'abc'"


def test_openb_bad_count_and_nan(tmp_path: Path) -> None:
    path = write(tmp_path, "p.csv", POD_HEADER, ["p-x,1,1,1.5,1000,,LS,Failed,1,2,1"])
    with pytest.raises(TraceError) as err:
        AlibabaOpenbReader().read([path])
    assert str(err.value) == f"{path}:1: field 'num_gpu': expected an integer >= 0 but found '1.5'"
    path = write(tmp_path, "q.csv", POD_HEADER, ["p-x,1,1,1,1000,,LS,Failed,1,2,nan"])
    with pytest.raises(TraceError) as err:
        AlibabaOpenbReader().read([path])
    assert str(err.value) == f"{path}:1: field 'scheduled_time': expected a finite number of seconds or empty but found 'nan'"
    path = write(tmp_path, "r.csv", POD_HEADER, ["p-x,1,1,1,,,LS,Failed,1,2,1"])
    with pytest.raises(TraceError) as err:
        AlibabaOpenbReader().read([path])
    assert str(err.value) == f"{path}:1: field 'gpu_milli': missing value; expected an integer >= 0"


def test_openb_missing_column(tmp_path: Path) -> None:
    header = POD_HEADER.replace(",deletion_time", "")
    path = write(tmp_path, "p.csv", header, ["p-x,1,1,1,1000,,LS,Failed,1,1"])
    with pytest.raises(TraceError) as err:
        AlibabaOpenbReader().read([path])
    assert str(err.value) == (
        f"{path}: not a alibaba-openb pod list trace: missing column(s) deletion_time; "
        "expected header name,num_gpu,gpu_milli,pod_phase,creation_time,deletion_time,scheduled_time "
        f"but found {repr(header)[:57]}..."
    )


def test_openb_other_malformed_rows(tmp_path: Path) -> None:
    short = write(tmp_path, "short.csv", POD_HEADER, ["p-x,1,1,1,1000,,LS,Failed,1,2"])
    with pytest.raises(TraceError) as err:
        AlibabaOpenbReader().read([short])
    assert str(err.value) == f"{short}:1: wrong number of fields; expected 11 fields as in the header but found 10"
    phase = write(tmp_path, "phase.csv", POD_HEADER, ["p-x,1,1,1,1000,,LS,Done,1,2,1"])
    with pytest.raises(TraceError) as err:
        AlibabaOpenbReader().read([phase])
    assert str(err.value) == (
        f"{phase}:1: field 'pod_phase': unknown pod phase; "
        "expected one of Pending, Running, Succeeded, Failed, Unknown but found 'Done'"
    )
    noname = write(tmp_path, "noname.csv", POD_HEADER, [",1,1,1,1000,,LS,Failed,1,2,1"])
    with pytest.raises(TraceError, match=r"noname.csv:1: field 'name': missing value; expected a pod name"):
        AlibabaOpenbReader().read([noname])


def test_openb_duplicate_names_across_files(tmp_path: Path) -> None:
    a = write(tmp_path, "a.csv", POD_HEADER, POD_ROWS[:2])
    b = write(tmp_path, "b.csv", POD_HEADER, [POD_ROWS[2], POD_ROWS[1]])
    with pytest.raises(TraceError) as err:
        AlibabaOpenbReader().read([a, b])
    assert str(err.value) == (
        f"{b}:2: field 'name': duplicate pod name (first at {a}:2); expected unique pod names but found 'p-multi'"
    )


# ----- DLRM -----------------------------------------------------------------------


def test_dlrm_counts_every_skip_reason_with_example_rows(dlrm: Path) -> None:
    td = AlibabaDlrmReader().read([dlrm])
    assert td.report.rows_read == 9
    assert reasons(td.report) == {
        "CPU-only instance (0 GPUs)": (1, (2,)),
        "left-censored: created before the trace began": (2, (3, 4)),
        "right-censored: still running at trace end": (1, (5,)),
        "non-positive run time": (1, (6,)),
        "missing scheduled_time on an instance created in the trace": (1, (8,)),
        "negative creation_time (before the trace origin)": (1, (9,)),
    }
    assert td.cluster is None
    wl = td.workload
    assert [str(j) for j in wl.job_id] == ["i-two", "i-ok"]
    ok = wl.job("i-ok")
    assert (ok.submit_s, ok.duration_s, ok.num_gpus, ok.gpu_frac, ok.group) == (300.5, 690.0, 1, 1.0, "app_a")
    assert ok.status is JobStatus.unknown and ok.gpu_types == ()
    two = wl.job("i-two")
    assert (two.submit_s, two.duration_s, two.num_gpus, two.group) == (20.0, 100.0, 2, "app_c")


def test_dlrm_notes(dlrm: Path) -> None:
    text = "\n".join(AlibabaDlrmReader().read([dlrm]).report.notes)
    assert text.startswith("inference trace:")
    assert "not training jobs" in text
    assert "1 left-censored instances were also alive at trace end" in text
    assert "median 7.5 s, max 10 s over kept instances" in text
    assert "rows submitted earlier than the row before them: 1 (jobs were sorted by submit time)" in text


def test_dlrm_detect() -> None:
    r = AlibabaDlrmReader()
    assert r.detect(DLRM_HEADER.split(","))
    assert not r.detect(POD_HEADER.split(","))
    assert not r.detect(NODE_HEADER.split(","))
    assert not r.detect(None)


def test_dlrm_bad_number_and_missing_column(tmp_path: Path) -> None:
    bad = write(tmp_path, "bad.csv", DLRM_HEADER, [DLRM_ROWS[0].replace(",310.5,", ",soon,")])
    with pytest.raises(TraceError) as err:
        AlibabaDlrmReader().read([bad])
    assert str(err.value) == f"{bad}:1: field 'scheduled_time': expected a finite number of seconds or empty but found 'soon'"
    inf = write(tmp_path, "inf.csv", DLRM_HEADER, [DLRM_ROWS[0].replace(",1000.5", ",inf")])
    with pytest.raises(TraceError) as err:
        AlibabaDlrmReader().read([inf])
    assert str(err.value) == f"{inf}:1: field 'deletion_time': expected a finite number of seconds or empty but found 'inf'"
    header = DLRM_HEADER.replace("gpu_request,", "")
    missing = write(tmp_path, "missing.csv", header, ["i,HN,a,1,1,1,1,1,1,1,1,1,1,1,1,1"])
    with pytest.raises(TraceError) as err:
        AlibabaDlrmReader().read([missing])
    assert str(err.value) == (
        f"{missing}: not a alibaba-dlrm trace: missing column(s) gpu_request; "
        "expected header instance_sn,app_name,gpu_request,creation_time,scheduled_time,deletion_time "
        f"but found {repr(header)[:57]}..."
    )


def test_dlrm_duplicate_ids_and_all_skipped(tmp_path: Path) -> None:
    dup = write(tmp_path, "dup.csv", DLRM_HEADER, [DLRM_ROWS[0], DLRM_ROWS[0]])
    with pytest.raises(TraceError) as err:
        AlibabaDlrmReader().read([dup])
    assert str(err.value) == (
        f"{dup}:2: field 'instance_sn': duplicate instance id (first at {dup}:1); "
        "expected unique instance ids but found 'i-ok'"
    )
    cpu = write(tmp_path, "cpu.csv", DLRM_HEADER, [DLRM_ROWS[1], DLRM_ROWS[3]])
    with pytest.raises(TraceError) as err:
        AlibabaDlrmReader().read([cpu])
    assert str(err.value) == (
        f"{cpu}: no instance can be simulated: all 2 rows were skipped "
        "(1 CPU-only instance (0 GPUs); 1 left-censored: created before the trace began)"
    )


def test_no_paths_is_an_error() -> None:
    with pytest.raises(UserError, match="no trace file given"):
        AlibabaOpenbReader().read([])
    with pytest.raises(UserError, match="no trace file given"):
        AlibabaDlrmReader().read([])


def test_read_openb_nodes_on_a_pod_list_names_the_missing_columns(pods: Path) -> None:
    with pytest.raises(TraceError, match=r"not a alibaba-openb node list trace: missing column\(s\) sn, gpu, model"):
        read_openb_nodes(pods)
