"""Writing a run's results: file names, formats, the schedule file, atomic replacement."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import pyarrow.parquet as pq
import pytest

from simulator import results
from simulator.cluster import Cluster
from simulator.results import write_results
from simulator.run import SimConfig, SimResult, simulate
from simulator.schedule_io import read_schedule
from traces.errors import UserError
from traces.model import Job, Workload


@pytest.fixture(scope="module")
def result() -> SimResult:
    jobs = Workload.from_jobs([Job("a", 0.0, 4.0, 1, user="u", group="g"), Job("b", 1.0, 3.0, 2, user="v", group="g"),
                               Job("c", 1.0, 0.1, 1, user="u", group="g")])  # users and groups: no NaN Jain index
    return simulate(jobs, Cluster.uniform(2, 2), SimConfig("sjf", "spread", seed=4, cross_node_slowdown=1.5))


def test_csv_files(tmp_path: Path, result: SimResult) -> None:
    paths = write_results(result, tmp_path / "out", "csv")
    assert {k: p.name for k, p in paths.items()} == {
        "jobs": "jobs.csv", "segments": "segments.csv", "summary": "summary.csv", "timeline": "timeline.csv",
        "summary_json": "summary.json", "schedule": "schedule.csv",
    }  # fmt: skip
    rows = list(csv.DictReader(paths["jobs"].open()))
    assert list(rows[0]) == result.jobs.column_names
    assert [r["job_id"] for r in rows] == ["a", "b", "c"]
    assert rows[2]["end_s"] == repr(result.jobs.column("end_s").to_pylist()[2])
    assert sorted(p.name for p in (tmp_path / "out").iterdir()) == sorted(p.name for p in paths.values())


def test_schedule_file_round_trips(tmp_path: Path, result: SimResult) -> None:
    paths = write_results(result, tmp_path, "json")
    assert read_schedule(paths["schedule"]) == result.schedule


def test_json_and_parquet_hold_the_same_rows(tmp_path: Path, result: SimResult) -> None:
    as_json = write_results(result, tmp_path / "j", "json")
    as_parquet = write_results(result, tmp_path / "p", "parquet")
    for name in ("jobs", "segments", "timeline"):
        table = getattr(result, name)
        assert json.loads(as_json[name].read_text()) == table.to_pylist()
        assert pq.read_table(as_parquet[name]).equals(table)
    assert pq.read_table(as_parquet["summary"]).equals(result.summary)
    doc = json.loads(as_json["summary"].read_text())
    assert doc["metrics"] == {r["metric"]: r["value"] for r in result.summary.to_pylist()}
    assert (doc["run_id"], doc["policy"], doc["placement"], doc["seed"]) == ("sjf-spread-s4", "sjf", "spread", 4)
    assert doc["wall_s"] >= 0


def test_bad_format_and_bad_folder(tmp_path: Path, result: SimResult) -> None:
    with pytest.raises(UserError, match="unknown output format 'xlsx'"):
        write_results(result, tmp_path, "xlsx")
    blocker = tmp_path / "file"
    blocker.write_text("x")
    with pytest.raises(UserError, match="is not a folder"):
        write_results(result, blocker, "csv")


def test_a_failed_write_keeps_the_old_file_and_leaves_no_temporary(
    tmp_path: Path, result: SimResult, monkeypatch: pytest.MonkeyPatch
) -> None:
    write_results(result, tmp_path, "parquet")
    old = (tmp_path / "jobs.parquet").read_bytes()

    def half_written(table: object, where: str | Path) -> None:
        Path(where).write_bytes(b"PAR1 partial")
        raise OSError("disk full")

    monkeypatch.setattr(results.pq, "write_table", half_written)
    with pytest.raises(OSError, match="disk full"):
        write_results(result, tmp_path, "parquet")
    assert (tmp_path / "jobs.parquet").read_bytes() == old
    assert not [p for p in tmp_path.iterdir() if p.name.endswith(".tmp")]


def test_written_files_are_readable_by_others_as_umask_allows(tmp_path: Path) -> None:
    """An atomic write goes through a 0600 temporary file; the result gets the usual mode back."""
    import os
    import stat

    path = tmp_path / "x.json"
    results.write_json({"a": 1}, path)
    mask = os.umask(0o022)
    os.umask(mask)
    assert stat.S_IMODE(path.stat().st_mode) == 0o666 & ~mask
