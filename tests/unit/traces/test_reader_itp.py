"""ITP reader on small hand-written cluster files, and header detection across the Philly/ITP formats."""

from __future__ import annotations

import gzip
from pathlib import Path

import pytest

from traces.errors import TraceError, UserError
from traces.model import JobStatus
from traces.readers.itp import ItpReader, cluster_name
from traces.readers.philly_dirlab import PhillyDirlabReader
from traces.readers.philly_pollux import PhillyPolluxReader

HEADER = "job_id,submission_time,duration,num_gpu"
CLUSTER01 = [
    HEADER,
    "a,100,600,1",
    "b,50,700,2",  # earlier than the row above
    "c,200,800,0",  # CPU-only
    "d,300,0,4",  # zero run time
    "e,400,-10,1",  # negative run time
]
CLUSTER02 = [HEADER, "x,10,1000,8", "a,120,500,1"]  # "a" is also in cluster01
GROUP_NOTE = "group is the cluster, taken from the file name"
UNSORTED_NOTE = "rows submitted earlier than the row before them: 1 (jobs were sorted by submit time)"


def write(path: Path, lines: list[str]) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


def test_one_cluster_file(tmp_path: Path) -> None:
    p = write(tmp_path / "cluster01.csv", CLUSTER01)
    data = ItpReader().read([p])
    jobs = list(data.workload)
    assert [(j.job_id, j.submit_s, j.duration_s, j.num_gpus, j.group) for j in jobs] == [
        ("b", 50.0, 700.0, 2, "cluster01"),
        ("a", 100.0, 600.0, 1, "cluster01"),
    ]
    assert {(j.status, j.user) for j in jobs} == {(JobStatus.unknown, None)}
    r = data.report
    assert (r.source, r.rows_read, r.num_skipped) == (str(p), 5, 3)
    assert [(x.reason, x.count, x.example_rows) for x in r.reasons] == [
        ("non-positive run time", 2, (4, 5)),
        ("CPU-only job (0 GPUs)", 1, (3,)),
    ]
    assert r.notes == [UNSORTED_NOTE, GROUP_NOTE]


def test_several_cluster_files_keep_the_cluster_and_rename_shared_ids(tmp_path: Path) -> None:
    p1 = write(tmp_path / "cluster01.csv", CLUSTER01)
    p2 = write(tmp_path / "cluster02.csv", CLUSTER02)
    data = ItpReader().read([p1, p2])
    jobs = list(data.workload)
    assert [(j.job_id, j.submit_s, j.num_gpus, j.group) for j in jobs] == [
        ("x", 10.0, 8, "cluster02"),
        ("b", 50.0, 2, "cluster01"),
        ("cluster01/a", 100.0, 1, "cluster01"),
        ("cluster02/a", 120.0, 1, "cluster02"),
    ]
    r = data.report
    assert (r.source, r.rows_read, r.num_skipped) == ("2 ITP files (cluster01, cluster02)", 7, 3)
    assert r.count("non-positive run time") == 2
    assert r.notes == [
        f"{p1}: {UNSORTED_NOTE}",
        GROUP_NOTE,
        "job ids found in more than one file: 1 (e.g. a); those jobs were renamed <cluster>/<job_id>",
    ]


def test_gzip_cluster_file_is_named_without_its_suffixes(tmp_path: Path) -> None:
    packed = tmp_path / "cluster07.csv.gz"
    packed.write_bytes(gzip.compress(("\n".join(CLUSTER02) + "\n").encode()))
    plain = write(tmp_path / "plain" / "cluster07.csv", CLUSTER02)
    a, b = ItpReader().read([packed]).workload, ItpReader().read([plain]).workload
    assert list(a) == list(b)
    assert a.group.categories == ("cluster07",)


@pytest.mark.parametrize(
    ("name", "cluster"),
    [("cluster05.csv", "cluster05"), ("cluster05.csv.gz", "cluster05"), ("Cluster05.CSV", "Cluster05"), ("c.gz", "c")],
)
def test_cluster_name(name: str, cluster: str) -> None:
    assert cluster_name(Path("/some/dir") / name) == cluster


def test_the_same_cluster_twice_is_refused(tmp_path: Path) -> None:
    p1 = write(tmp_path / "a" / "cluster01.csv", CLUSTER01)
    p2 = write(tmp_path / "b" / "cluster01.csv", CLUSTER02)
    with pytest.raises(UserError) as err:
        ItpReader().read([p1, p2])
    assert str(err.value) == (
        f"{p1} and {p2} are both cluster 'cluster01': the file name is the cluster, so give each cluster once"
    )


def test_no_file_is_refused() -> None:
    with pytest.raises(UserError, match="^no ITP trace file given$"):
        ItpReader().read([])


@pytest.mark.parametrize(
    ("row", "message"),
    [
        ("a,5,600,1", "field 'job_id': duplicate job id (first at row 1); expected a unique id but found 'a'"),
        (",5,600,1", "field 'job_id': missing value; expected a job id"),
        ("b,-1,600,1", "field 'submission_time': expected a number of seconds >= 0 but found '-1'"),
        ("b,soon,600,1", "field 'submission_time': expected a number of seconds >= 0 but found 'soon'"),
        ("b,5,inf,1", "field 'duration': expected a number of seconds but found 'inf'"),
        ("b,5,,1", "field 'duration': missing value; expected a number of seconds"),
        ("b,5,600,", "field 'num_gpu': missing value; expected an integer >= 0"),
        ("b,5,600,two", "field 'num_gpu': expected an integer >= 0 but found 'two'"),
        ("b,5,600,1,extra", "wrong number of fields; expected 4 fields as in the header but found 5"),
    ],
)
def test_malformed_rows_name_file_row_and_field(tmp_path: Path, row: str, message: str) -> None:
    p = write(tmp_path / "cluster03.csv", [HEADER, "a,1,600,1", row])
    with pytest.raises(TraceError) as err:
        ItpReader().read([p])
    assert str(err.value) == f"{p}:2: {message}"


def test_an_error_in_the_second_file_names_that_file(tmp_path: Path) -> None:
    p1 = write(tmp_path / "cluster01.csv", CLUSTER01)
    p2 = write(tmp_path / "cluster02.csv", [HEADER, "x,10,1000,8", "y,20,1000,"])
    with pytest.raises(TraceError) as err:
        ItpReader().read([p1, p2])
    assert str(err.value) == f"{p2}:2: field 'num_gpu': missing value; expected an integer >= 0"


# ----- detection: the three formats never claim each other's files ----------------------

HEADERS = {
    "itp": ["job_id", "submission_time", "duration", "num_gpu"],
    "philly-pollux": ["timestamp", "duration", "num_gpus", "gpu_time", "cluster"],
    "philly-dirlab": [
        "u_id", "user", "gpu_num", "cpu_num", "node_num", "interval", "run_time", "wall_time", "new_status"
    ],
    "alibaba-openb-pods": [
        "name", "cpu_milli", "memory_mib", "num_gpu", "gpu_milli", "gpu_spec", "qos", "pod_phase",
        "creation_time", "deletion_time", "scheduled_time",
    ],
    "alibaba-dlrm": [
        "instance_sn", "role", "app_name", "cpu_request", "cpu_limit", "gpu_request", "gpu_limit",
        "rdma_request", "rdma_limit", "memory_request", "memory_limit", "disk_request", "disk_limit",
        "max_instance_per_node", "creation_time", "scheduled_time", "deletion_time",
    ],
    "elasticflow-extended": ["job_id", "submission_time", "duration", "num_gpu", "model_name", "deadline"],
}
AnyReader = ItpReader | PhillyPolluxReader | PhillyDirlabReader
READERS: list[AnyReader] = [ItpReader(), PhillyPolluxReader(), PhillyDirlabReader()]


@pytest.mark.parametrize("reader", READERS, ids=lambda r: r.key)
@pytest.mark.parametrize("fmt", list(HEADERS))
def test_detect_claims_only_its_own_header(reader: AnyReader, fmt: str) -> None:
    assert reader.detect(HEADERS[fmt]) is (fmt == reader.key)


@pytest.mark.parametrize("reader", READERS, ids=lambda r: r.key)
def test_detect_ignores_column_order_and_parquet(reader: AnyReader) -> None:
    assert reader.detect(list(reversed(HEADERS[reader.key]))) is True
    assert reader.detect(None) is False
