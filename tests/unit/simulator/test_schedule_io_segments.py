"""The per-segment schedule form (a solver's `schedule.csv`): one row per segment, `gpu_ids` joined by ';'."""

from __future__ import annotations

from pathlib import Path

import pytest

from simulator.schedule import Assignment as A
from simulator.schedule import Schedule
from simulator.schedule_io import read_schedule, write_schedule
from traces.errors import TraceError

SCHED = Schedule.of(
    [A("a", 0.0, 4.0, ("n0:0", "n0:1")), A("b", 1.0, 2.5, ("n1:0",), work_s=1.0), A("b", 5.0, 6.0, ("n1:1",))],
    rejected=["z"],
)


@pytest.mark.parametrize("name", ["s.csv", "s.csv.gz", "s.parquet", "s.json"])
def test_segments_form_round_trips(tmp_path: Path, name: str) -> None:
    path = write_schedule(SCHED, tmp_path / name, form="segments")
    assert read_schedule(path) == SCHED


def test_segments_form_csv_has_one_row_per_segment(tmp_path: Path) -> None:
    text = write_schedule(SCHED, tmp_path / "s.csv", form="segments").read_text()
    assert text.splitlines() == [
        "job_id,status,segment,start_s,end_s,work_s,gpu_ids",
        "a,run,0,0.0,4.0,,n0:0;n0:1",
        "b,run,0,1.0,2.5,1.0,n1:0",
        "b,run,1,5.0,6.0,,n1:1",
        "z,rejected,,,,,",
    ]


def test_a_minimal_hand_written_file_reads(tmp_path: Path) -> None:
    path = tmp_path / "s.csv"
    path.write_text("job_id,start_s,end_s,gpu_ids\na,0,4,n0:0; n0:1\nb,1,2,n1:0\nb,5,6,n1:1\n")
    got = read_schedule(path)
    assert got == Schedule.of([A("a", 0.0, 4.0, ("n0:0", "n0:1")), A("b", 1.0, 2.0, ("n1:0",)),
                               A("b", 5.0, 6.0, ("n1:1",))])


def test_bad_gpu_ids_cell_names_row_and_field(tmp_path: Path) -> None:
    path = tmp_path / "s.csv"
    path.write_text("job_id,start_s,end_s,gpu_ids\na,0,4,n0:0;;n0:1\n")
    with pytest.raises(TraceError) as err:
        read_schedule(path)
    assert str(err.value) == f"{path}:1: field 'gpu_ids': expected GPU ids joined by ';' (no empty id) but found 'n0:0;;n0:1'"


def test_bad_form_is_refused(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="form must be"):
        write_schedule(SCHED, tmp_path / "s.csv", form="wide")
