"""Schedule files: lossless round trips in every format, and one-line errors for bad input."""

from __future__ import annotations

import json
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from hypothesis import given
from hypothesis import strategies as st
from strategies import ScheduledInstance, job_ids, scheduled_instances

from simulator.schedule import Assignment as A
from simulator.schedule import Schedule
from simulator.schedule_io import COLUMNS, format_of, read_schedule, schedule_records, write_schedule
from simulator.validate import ViolationKind, check
from traces.cluster import Cluster
from traces.errors import TraceError, UserError
from traces.model import Job, Workload

SUFFIXES = (".csv", ".csv.gz", ".parquet", ".json")

AWKWARD = Schedule.of(
    [
        A("a,b", 0.0, 10.5, ("n0:0", "n0:1")),
        A('say "hi"', 1 / 3, 2 / 3 + 1e-12, ("n1:0",), work_s=0.1 + 0.2),
        A("a,b", 20.0, 30.0, ("n0:1", "n0:0"), work_s=0.0),
        A(" lead", 5.0, 6.0, ()),  # a segment without GPUs
        A("作业-1", 5.0, 6.0, ("n0:0", "n0:0")),  # a repeated GPU is kept, for the validator to report
        A("作业-1", 5.0, 6.0, ("n0:2",)),  # same times, separate assignment
    ],
    rejected=["trail ", "x|y"],
)


@pytest.mark.parametrize("suffix", SUFFIXES)
def test_round_trip_is_exact(tmp_path: Path, suffix: str) -> None:
    path = write_schedule(AWKWARD, tmp_path / f"s{suffix}")
    assert read_schedule(path) == AWKWARD


@pytest.mark.parametrize("suffix", SUFFIXES)
def test_empty_schedule_round_trips(tmp_path: Path, suffix: str) -> None:
    empty = Schedule.of([])
    assert read_schedule(write_schedule(empty, tmp_path / f"e{suffix}")) == empty


@given(scheduled_instances(max_jobs=6), st.sampled_from(SUFFIXES), st.data())
def test_random_schedules_round_trip_and_stay_valid(
    tmp_path_factory: pytest.TempPathFactory, inst: ScheduledInstance, suffix: str, data: st.DataObject
) -> None:
    path = tmp_path_factory.mktemp("rt") / f"s{suffix}"
    assert read_schedule(write_schedule(inst.schedule, path)) == inst.schedule
    assert check(read_schedule(path), inst.workload, inst.cluster, speed=inst.speed) == []
    extra = data.draw(st.lists(job_ids(), max_size=3, unique=True))
    other = Schedule.of(inst.schedule, extra)
    assert read_schedule(write_schedule(other, path)) == other


def test_csv_layout_is_tidy_long_form(tmp_path: Path) -> None:
    s = Schedule.of([A("g", 0.0, 5.0, ("n0:0", "n0:1")), A("g", 7.0, 9.5, ("n1:0", "n1:1"), work_s=2.0)], ["r"])
    text = write_schedule(s, tmp_path / "s.csv").read_text(encoding="utf-8")
    assert text.splitlines() == [
        ",".join(COLUMNS),
        "g,run,0,0.0,5.0,,n0:0",
        "g,run,0,0.0,5.0,,n0:1",
        "g,run,1,7.0,9.5,2.0,n1:0",
        "g,run,1,7.0,9.5,2.0,n1:1",
        "r,rejected,,,,,",
    ]
    assert [r["segment"] for r in schedule_records(s)] == [0, 0, 1, 1, None]


def test_gang_parts_at_different_times_stay_separate_and_are_flagged(tmp_path: Path) -> None:
    path = tmp_path / "hand.csv"
    path.write_text(
        "job_id,segment,start_s,end_s,gpu_id\n"
        "g,0,0,10,n0:0\n"
        "g,0,1,11,n0:1\n",
        encoding="utf-8",
    )
    s = read_schedule(path)
    assert s.assignments == (A("g", 0.0, 10.0, ("n0:0",)), A("g", 1.0, 11.0, ("n0:1",)))
    kinds = [v.kind for v in check(s, Workload.from_jobs([Job("g", 0.0, 10.0, 2)]), Cluster.uniform(1, 2))]
    assert kinds == [ViolationKind.GANG_SPLIT, ViolationKind.GANG_SPLIT]


def test_optional_columns_and_pandas_style_values(tmp_path: Path) -> None:
    path = tmp_path / "p.csv"
    path.write_text("job_id,segment,start_s,end_s,gpu_id,note\na,0.0,1,2,n0:0,hello\n\n", encoding="utf-8")
    assert read_schedule(path) == Schedule.of([A("a", 1.0, 2.0, ("n0:0",))])


def test_json_rows_may_leave_out_null_keys(tmp_path: Path) -> None:
    path = tmp_path / "s.json"
    path.write_text(json.dumps([{"job_id": "r", "status": "rejected"},
                                {"job_id": 7, "segment": 0, "start_s": 1, "end_s": 2.5, "gpu_id": "n0:0"}]))
    assert read_schedule(path) == Schedule.of([A("7", 1.0, 2.5, ("n0:0",))], ["r"])


def test_parquet_from_pandas_style_float_segments(tmp_path: Path) -> None:
    path = tmp_path / "s.parquet"
    table = pa.table({"job_id": ["a", "b"], "status": ["run", "rejected"], "segment": [0.0, None],
                      "start_s": [0.0, None], "end_s": [3.0, None], "gpu_id": ["n0:0", None]})
    pq.write_table(table, path)
    assert read_schedule(path) == Schedule.of([A("a", 0.0, 3.0, ("n0:0",))], ["b"])


def test_write_is_atomic_and_leaves_no_temp_files(tmp_path: Path) -> None:
    path = tmp_path / "s.csv"
    path.write_text("old", encoding="utf-8")
    write_schedule(AWKWARD, path)
    assert [p.name for p in tmp_path.iterdir()] == ["s.csv"]
    assert read_schedule(path) == AWKWARD


def test_failed_write_keeps_the_old_file(tmp_path: Path) -> None:
    path = tmp_path / "s.json"
    path.write_text("old", encoding="utf-8")
    with pytest.raises(ValueError, match="finite"):
        write_schedule(Schedule.of([A("a", 0.0, float("inf"), ("n0:0",))]), path)
    assert path.read_text(encoding="utf-8") == "old"
    assert [p.name for p in tmp_path.iterdir()] == ["s.json"]


def test_format_from_name() -> None:
    assert [format_of(f"x{s}") for s in (*SUFFIXES, ".PQ")] == ["csv", "csv", "parquet", "json", "parquet"]
    for bad in ("x.txt", "x.tar.gz", "x"):
        with pytest.raises(UserError, match="cannot tell the schedule format"):
            format_of(bad)


CSV_HEADER = "job_id,status,segment,start_s,end_s,work_s,gpu_id\n"


@pytest.mark.parametrize(
    ("body", "expected"),
    [
        ("a,run,0,abc,2,,n0:0\n", "s.csv:1: field 'start_s': expected a finite number of seconds but found 'abc'"),
        ("a,run,0,1,2,,n0:0\nb,run,0,1,inf,,n0:0\n",
         "s.csv:2: field 'end_s': expected a finite number of seconds but found 'inf'"),
        ("a,run,0,1,nan,,n0:0\n", "s.csv:1: field 'end_s': expected a finite number of seconds but found 'nan'"),
        ("a,run,0,,2,,n0:0\n",
         "s.csv:1: field 'start_s': no value; expected a finite number of seconds for a run row"),
        ("a,run,x,1,2,,n0:0\n", "s.csv:1: field 'segment': expected an integer >= 0 but found 'x'"),
        ("a,run,-1,1,2,,n0:0\n", "s.csv:1: field 'segment': expected an integer >= 0 but found '-1'"),
        ("a,run,0.5,1,2,,n0:0\n", "s.csv:1: field 'segment': expected an integer >= 0 but found '0.5'"),
        ("a,run,,1,2,,n0:0\n",
         "s.csv:1: field 'segment': no value; expected an integer >= 0 for a run row"),
        ("a,run,0,1,2,fast,n0:0\n",
         "s.csv:1: field 'work_s': expected a finite number of seconds or empty but found 'fast'"),
        ("a,done,0,1,2,,n0:0\n", "s.csv:1: field 'status': expected 'run', 'rejected' or empty but found 'done'"),
        ("a,rejected,0,,,,\n", "s.csv:1: field 'segment': expected empty for a rejected job but found '0'"),
        (",run,0,1,2,,n0:0\n", "s.csv:1: field 'job_id': no value; expected a non-empty job id"),
    ],
)
def test_bad_csv_cells(tmp_path: Path, body: str, expected: str) -> None:
    path = tmp_path / "s.csv"
    path.write_text(CSV_HEADER + body, encoding="utf-8")
    with pytest.raises(TraceError) as err:
        read_schedule(path)
    assert str(err.value) == f"{path.parent}/{expected}"
    assert "\n" not in str(err.value)


def test_missing_column(tmp_path: Path) -> None:
    path = tmp_path / "s.csv"
    path.write_text("job_id,start_s,end_s\na,1,2\n", encoding="utf-8")
    with pytest.raises(TraceError, match=r"not a schedule file: missing column\(s\) segment, gpu_id"):
        read_schedule(path)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ('[{"job_id": "a", "segment": 0, "start_s": "x", "end_s": 2, "gpu_id": "n0:0"}]',
         "s.json:1: field 'start_s': expected a finite number of seconds but found 'x'"),
        ('[{"job_id": "a", "segment": true, "start_s": 1, "end_s": 2, "gpu_id": "n0:0"}]',
         "s.json:1: field 'segment': expected an integer >= 0 but found True"),
        ('[{"job_id": "a", "segment": 0, "start_s": 1, "end_s": NaN, "gpu_id": "n0:0"}]',
         "s.json:1: field 'end_s': expected a finite number of seconds but found nan"),
        ('[{"job_id": "a", "segment": 0, "start_s": 1, "end_s": 2, "gpu_id": 3}]',
         "s.json:1: field 'gpu_id': expected a GPU id such as 'n0:3' but found 3"),
        ('[{"job_id": "a", "status": "rejected"}, 5]', "s.json:2: expected a JSON object per row but found 5"),
        ('{"job_id": "a"}', "s.json: the top level is an object; expected a JSON list of row objects"),
        ('[{"job_id": "a",', "s.json: line 1: not valid JSON (Expecting property name enclosed in double quotes)"),
    ],
)
def test_bad_json(tmp_path: Path, text: str, expected: str) -> None:
    path = tmp_path / "s.json"
    path.write_text(text, encoding="utf-8")
    with pytest.raises(TraceError) as err:
        read_schedule(path)
    assert str(err.value) == f"{path.parent}/{expected}"


def test_bad_parquet_types_and_corrupt_file(tmp_path: Path) -> None:
    path = tmp_path / "s.parquet"
    pq.write_table(pa.table({"job_id": ["a"], "segment": [0], "start_s": ["soon"], "end_s": [2.0],
                             "gpu_id": ["n0:0"]}), path)
    with pytest.raises(TraceError, match=r"s.parquet:1: field 'start_s': expected a finite number .* 'soon'"):
        read_schedule(path)
    path.write_bytes(b"PAR1 truncated")
    with pytest.raises(TraceError, match="not a readable Parquet file"):
        read_schedule(path)


def test_unreadable_paths(tmp_path: Path) -> None:
    with pytest.raises(TraceError, match="no such file"):
        read_schedule(tmp_path / "missing.csv")
    with pytest.raises(TraceError, match="is a directory"):
        read_schedule(tmp_path)
    (tmp_path / "empty.csv").write_text("", encoding="utf-8")
    with pytest.raises(TraceError, match="the file is empty"):
        read_schedule(tmp_path / "empty.csv")
    with pytest.raises(UserError, match="does not exist"):
        write_schedule(AWKWARD, tmp_path / "no" / "s.csv")
