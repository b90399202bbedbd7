"""Philly readers (Pollux and DIR-LAB packagings) on small hand-written files."""

from __future__ import annotations

import gzip
from pathlib import Path

import pytest

from traces.errors import TraceError, UserError
from traces.model import JobStatus
from traces.readers.philly_dirlab import PhillyDirlabReader
from traces.readers.philly_pollux import PhillyPolluxReader

POLLUX_HEADER = "timestamp,duration,num_gpus,gpu_time,cluster"
DIRLAB_HEADER = "u_id,user,gpu_num,cpu_num,node_num,interval,run_time,wall_time,new_status"
STATUS_NOTE = (
    "status is unknown for every job: this file holds only jobs that ended with Philly status Pass "
    "(the Pollux artifact left out failed and killed jobs)"
)
DIRLAB_NOTES = [
    "submit_s is the running sum of interval (seconds from the first row's submission, as in the file)",
    "node_num is not used: how a job's GPUs span servers is decided by the simulator; "
    "cpu_num and wall_time are not used either",
]


def write(path: Path, lines: list[str], newline: str = "\n") -> Path:
    path.write_text(newline.join(lines) + newline, encoding="utf-8")
    return path


def origin_note(origin: str) -> str:
    return (
        "timestamps are read as a uniform clock without daylight-saving jumps (the trace's periodic "
        "jobs show no repeated hour when US-Pacific DST ended on 2017-11-05); submit_s counts seconds "
        f"from the earliest submit, {origin} (trace local time)"
    )


# ----- philly-pollux ------------------------------------------------------------------


def test_pollux_sorts_rows_and_numbers_ids_by_data_row(tmp_path: Path) -> None:
    p = write(
        tmp_path / "philly.csv",
        [
            POLLUX_HEADER,
            "2017-10-01 12:00:10,100.0,2,200.0,vcB",
            "2017-10-01 12:00:00,50.0,1,50.0,vcA",
            "2017-10-01 12:00:20,30.0,4,120.0,vcA",
        ],
    )
    data = PhillyPolluxReader().read([p])
    wl = data.workload
    assert [j.job_id for j in wl] == ["pollux-2", "pollux-1", "pollux-3"]
    assert wl.submit_s.tolist() == [0.0, 10.0, 20.0]
    assert wl.duration_s.tolist() == [50.0, 100.0, 30.0]
    assert wl.num_gpus.tolist() == [1, 2, 4]
    assert [j.group for j in wl] == ["vcA", "vcB", "vcA"]
    assert {j.status for j in wl} == {JobStatus.unknown}
    assert {j.user for j in wl} == {None}
    assert data.report.rows_read == 3
    assert data.report.num_skipped == 0
    assert data.report.notes == [
        origin_note("2017-10-01 12:00:00"),
        STATUS_NOTE,
        "rows submitted earlier than the row before them: 1 (jobs were sorted by submit time)",
    ]
    assert data.cluster is None


def test_pollux_clock_has_no_daylight_saving_jumps(tmp_path: Path) -> None:
    # The file's clock did not fall back on 2017-11-05 or spring forward on 2018-03-11
    # (see the module docstring): local differences are real differences, the 01:xx hour
    # is neither doubled nor shifted, and 02:30 on 2018-03-11 is an ordinary time.
    p = write(
        tmp_path / "philly.csv",
        [
            POLLUX_HEADER,
            "2017-11-05 01:52:10,10.0,1,10.0,vc",
            "2017-11-05 02:02:11,10.0,1,10.0,vc",
            "2017-11-05 00:52:11,10.0,1,10.0,vc",  # the origin
            "2017-11-05 01:02:10,10.0,1,10.0,vc",
            "2018-03-11 01:30:00,10.0,1,10.0,vc",
            "2018-03-11 02:30:00,10.0,1,10.0,vc",
            "2018-03-11 03:30:00,10.0,1,10.0,vc",
        ],
    )
    data = PhillyPolluxReader().read([p])
    wl = data.workload
    assert [j.job_id for j in wl] == [f"pollux-{i}" for i in (3, 4, 1, 2, 5, 6, 7)]
    # 2017-11-05 00:52:11 -> 2018-03-11 01:30:00 is 126 days + 37 min 49 s = 10_888_669 s.
    assert wl.submit_s.tolist() == [
        0.0, 599.0, 3599.0, 4200.0, 10_888_669.0, 10_892_269.0, 10_895_869.0,
    ]
    assert wl.job("pollux-2").submit_s - wl.job("pollux-1").submit_s == 601.0
    assert data.report.notes == [
        origin_note("2017-11-05 00:52:11"),
        STATUS_NOTE,
        "rows submitted earlier than the row before them: 1 (jobs were sorted by submit time)",
    ]


def test_pollux_skips_unsimulatable_rows_with_counts_and_examples(tmp_path: Path) -> None:
    p = write(
        tmp_path / "philly.csv",
        [
            POLLUX_HEADER,
            "2017-10-01 12:00:00,50.0,1,50.0,vcA",
            "2017-10-01 12:00:01,50.0,0,0.0,vcA",  # CPU-only
            "2017-10-01 12:00:02,0.0,2,0.0,vcA",  # zero run time
            "2017-10-01 12:00:03,-5.0,1,-5.0,vcA",  # negative run time
            "2017-10-01 12:00:04,0.0,0,0.0,vcA",  # both: counted once, as CPU-only
            "2017-10-01 12:00:05,7.0,2,999.0,vcB",  # gpu_time mismatch: kept, noted
        ],
    )
    data = PhillyPolluxReader().read([p])
    assert [j.job_id for j in data.workload] == ["pollux-1", "pollux-6"]
    r = data.report
    assert (r.rows_read, r.num_skipped) == (6, 4)
    assert [(x.reason, x.count, x.example_rows) for x in r.reasons] == [
        ("CPU-only job (0 GPUs)", 2, (2, 5)),
        ("non-positive run time", 2, (3, 4)),
    ]
    assert "rows whose gpu_time differs from duration * num_gpus: 1 (kept; gpu_time is not used)" in r.notes
    assert r.lines()[0] == f"{p}: read 6 rows, kept 2, skipped 4"


def test_pollux_all_rows_skipped_gives_an_empty_workload(tmp_path: Path) -> None:
    p = write(tmp_path / "philly.csv", [POLLUX_HEADER, "2017-10-01 12:00:00,50.0,0,0.0,vcA"])
    data = PhillyPolluxReader().read([p])
    assert len(data.workload) == 0
    assert data.report.count("CPU-only job (0 GPUs)") == 1


def test_pollux_reads_gzip_like_plain(tmp_path: Path) -> None:
    lines = [POLLUX_HEADER, "2017-10-01 12:00:10,100.0,2,200.0,vcB", "2017-10-01 12:00:00,50.0,1,50.0,vcA"]
    plain = write(tmp_path / "philly.csv", lines)
    packed = tmp_path / "philly.csv.gz"
    packed.write_bytes(gzip.compress(plain.read_bytes()))
    a, b = PhillyPolluxReader().read([plain]).workload, PhillyPolluxReader().read([packed]).workload
    assert list(a) == list(b)


GOOD_POLLUX = "2017-10-01 12:00:00,50.0,1,50.0,vcA"
TS = "a date-time YYYY-MM-DD HH:MM:SS"


@pytest.mark.parametrize(
    ("row", "message"),
    [
        ("2017-13-01 00:00:00,5.0,1,5.0,vc", f"field 'timestamp': expected {TS} but found '2017-13-01 00:00:00'"),
        (",5.0,1,5.0,vc", f"field 'timestamp': missing value; expected {TS}"),
        (
            "2017-10-01 12:00:00+00:00,5.0,1,5.0,vc",
            f"field 'timestamp': the file's time stamps carry no time zone; expected {TS} but found '2017-10-01 12:00:00+00:00'",
        ),
        ("2017-10-01 12:00:00,abc,1,5.0,vc", "field 'duration': expected a number of seconds but found 'abc'"),
        ("2017-10-01 12:00:00,nan,1,5.0,vc", "field 'duration': expected a number of seconds but found 'nan'"),
        ("2017-10-01 12:00:00,inf,1,5.0,vc", "field 'duration': expected a number of seconds but found 'inf'"),
        ("2017-10-01 12:00:00, ,1,5.0,vc", "field 'duration': missing value; expected a number of seconds"),
        ("2017-10-01 12:00:00,5.0,1.5,5.0,vc", "field 'num_gpus': expected an integer >= 0 but found '1.5'"),
        ("2017-10-01 12:00:00,5.0,-1,5.0,vc", "field 'num_gpus': expected an integer >= 0 but found '-1'"),
        ("2017-10-01 12:00:00,5.0,1,,vc", "field 'gpu_time': missing value; expected a number of GPU-seconds"),
        ("2017-10-01 12:00:00,5.0,1,5.0,", "field 'cluster': missing value; expected a virtual-cluster name"),
        ("2017-10-01 12:00:00,5.0,1,5.0", "wrong number of fields; expected 5 fields as in the header but found 4"),
    ],
)
def test_pollux_malformed_rows_name_file_row_and_field(tmp_path: Path, row: str, message: str) -> None:
    p = write(tmp_path / "philly.csv", [POLLUX_HEADER, GOOD_POLLUX, row])
    with pytest.raises(TraceError) as err:
        PhillyPolluxReader().read([p])
    assert str(err.value) == f"{p}:2: {message}"


def test_pollux_missing_column_is_an_error(tmp_path: Path) -> None:
    p = write(tmp_path / "philly.csv", ["timestamp,duration,num_gpus,gpu_time", "2017-10-01 12:00:00,5.0,1,5.0"])
    with pytest.raises(TraceError) as err:
        PhillyPolluxReader().read([p])
    assert str(err.value) == (
        f"{p}: not a philly-pollux trace: missing column(s) cluster; expected header "
        "timestamp,duration,num_gpus,gpu_time,cluster but found 'timestamp,duration,num_gpus,gpu_time'"
    )


def test_pollux_reads_one_file_at_a_time(tmp_path: Path) -> None:
    p = write(tmp_path / "philly.csv", [POLLUX_HEADER, GOOD_POLLUX])
    with pytest.raises(UserError, match="^the philly-pollux format reads one file at a time; got 2 files$"):
        PhillyPolluxReader().read([p, p])


# ----- philly-dirlab ------------------------------------------------------------------

DIRLAB_ROWS = [
    DIRLAB_HEADER,
    "0,1,1,0,1,0,100,0,Pass",
    "1,2,8,0,2,50,200,0,Failed",
    "2,3,0,0,1,25,300,0,Pass",  # CPU-only: skipped, but its interval still advances the clock
    "3,1,2,0,1,5,0,0,Killed",  # zero run time: skipped, clock advances
    "4,2,4,0,1,20,400,0,Killed",
]


def test_dirlab_cumulative_intervals_status_and_users(tmp_path: Path) -> None:
    p = write(tmp_path / "philly_data_training.csv", DIRLAB_ROWS, newline="\r\n")
    data = PhillyDirlabReader().read([p])
    jobs = list(data.workload)
    assert [(j.job_id, j.submit_s, j.duration_s, j.num_gpus, j.user, j.status) for j in jobs] == [
        ("dirlab-0", 0.0, 100.0, 1, "user1", JobStatus.completed),
        ("dirlab-1", 50.0, 200.0, 8, "user2", JobStatus.failed),
        ("dirlab-4", 100.0, 400.0, 4, "user2", JobStatus.killed),
    ]
    assert {j.group for j in jobs} == {None}
    r = data.report
    assert (r.rows_read, r.num_skipped) == (5, 2)
    assert [(x.reason, x.count, x.example_rows) for x in r.reasons] == [
        ("CPU-only job (0 GPUs)", 1, (3,)),
        ("non-positive run time", 1, (4,)),
    ]
    assert r.notes == DIRLAB_NOTES


def test_dirlab_reads_gzip_like_plain(tmp_path: Path) -> None:
    plain = write(tmp_path / "d.csv", DIRLAB_ROWS)
    packed = tmp_path / "d.csv.gz"
    packed.write_bytes(gzip.compress(plain.read_bytes()))
    assert list(PhillyDirlabReader().read([packed]).workload) == list(PhillyDirlabReader().read([plain]).workload)


@pytest.mark.parametrize(
    ("row", "message"),
    [
        ("1,2,1,0,1,-5,10,0,Pass", "field 'interval': times must not go backwards; expected an integer >= 0 but found '-5'"),
        ("1,2,1,0,1,1.5,10,0,Pass", "field 'interval': expected an integer >= 0 but found '1.5'"),
        ("0,2,1,0,1,5,10,0,Pass", "field 'u_id': duplicate job id (first at row 1); expected a unique id but found '0'"),
        ("x,2,1,0,1,5,10,0,Pass", "field 'u_id': expected an integer job id but found 'x'"),
        ("1,bob,1,0,1,5,10,0,Pass", "field 'user': expected an integer user id but found 'bob'"),
        ("1,2,,0,1,5,10,0,Pass", "field 'gpu_num': missing value; expected an integer >= 0"),
        ("1,2,-2,0,1,5,10,0,Pass", "field 'gpu_num': expected an integer >= 0 but found '-2'"),
        ("1,2,1,0,1,5,soon,0,Pass", "field 'run_time': expected a number of seconds but found 'soon'"),
        ("1,2,1,0,1,5,10,0,Running", "field 'new_status': expected one of Pass, Failed, Killed but found 'Running'"),
        ("1,2,1,0,1,5,10,0,", "field 'new_status': missing value; expected one of Pass, Failed, Killed"),
        ("1,2,1,0,1,5,10,0", "wrong number of fields; expected 9 fields as in the header but found 8"),
    ],
)
def test_dirlab_malformed_rows_name_file_row_and_field(tmp_path: Path, row: str, message: str) -> None:
    p = write(tmp_path / "d.csv", [DIRLAB_HEADER, "0,1,1,0,1,0,100,0,Pass", row])
    with pytest.raises(TraceError) as err:
        PhillyDirlabReader().read([p])
    assert str(err.value) == f"{p}:2: {message}"


def test_dirlab_reads_one_file_at_a_time() -> None:
    with pytest.raises(UserError, match="^the philly-dirlab format reads one file at a time; got 0 files$"):
        PhillyDirlabReader().read([])
