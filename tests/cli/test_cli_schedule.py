"""`gpusched simulate --policy schedule --schedule FILE`: a run's schedule.csv replays to the same starts."""

from __future__ import annotations

import csv
from pathlib import Path

import pytest
from typer.testing import CliRunner

from executor.cli.main import app

runner = CliRunner()


def run(*args: object) -> tuple[int, str, str]:
    result = runner.invoke(app, [str(a) for a in args])
    return result.exit_code, result.stdout, result.stderr


def starts(out_dir: Path) -> dict[str, tuple[str, str, str]]:
    with (out_dir / "jobs.csv").open(newline="") as f:
        return {r["job_id"]: (r["start_s"], r["end_s"], r["gpu_ids"]) for r in csv.DictReader(f)}


@pytest.fixture(scope="module")
def fcfs_run(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("fcfs")
    code, _, err = run("simulate", "--out", out)
    assert code == 0, err
    return out


@pytest.mark.parametrize("mode", ["order", "timed"])
def test_replaying_a_runs_schedule_gives_the_same_starts(tmp_path: Path, fcfs_run: Path, mode: str) -> None:
    code, _, err = run("simulate", "--policy", "schedule", "--schedule", fcfs_run / "schedule.csv",
                       "--schedule-mode", mode, "--out", tmp_path)
    assert code == 0, err
    assert "0 violations" in err
    assert starts(tmp_path) == starts(fcfs_run)


def test_schedule_flags_need_the_schedule_policy(tmp_path: Path, fcfs_run: Path) -> None:
    code, _, err = run("simulate", "--schedule", fcfs_run / "schedule.csv", "--out", tmp_path)
    assert code == 2
    assert err.strip().splitlines()[-1] == "gpusched: error: --schedule applies only to --policy schedule, not fcfs"
    code, _, err = run("simulate", "--policy", "schedule", "--out", tmp_path)
    assert code == 2
    assert err.strip().splitlines()[-1] == "gpusched: error: --policy schedule needs --schedule FILE (a schedule file, e.g. a run's schedule.csv)"


def test_a_schedule_with_an_unknown_gpu_is_a_one_line_error(tmp_path: Path, fcfs_run: Path) -> None:
    text = (fcfs_run / "schedule.csv").read_text().splitlines()
    text[3] = text[3].rsplit(",", 1)[0] + ",n7:0"
    bad = tmp_path / "bad.csv"
    bad.write_text("\n".join(text) + "\n")
    job = text[3].split(",", 1)[0]
    code, _, err = run("simulate", "--policy", "schedule", "--schedule", bad, "--out", tmp_path / "o")
    assert code == 2
    assert err.strip().splitlines()[-1] == (
        f"gpusched: error: {bad}:3: field 'gpu_id': job '{job}': GPU not in the cluster; "
        "expected a GPU id of the cluster (n0:0 .. n1:7) but found 'n7:0'"
    )
