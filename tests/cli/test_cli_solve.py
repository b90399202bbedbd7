"""`gpusched solve`: schedule.csv (one row per job) and solve.json, replayable by `simulate --policy schedule`."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from executor.cli.main import app
from simulator.cluster import Cluster
from simulator.schedule_io import read_schedule
from simulator.validate import check
from traces.model import Job, Workload
from traces.readers.native import write_native

runner = CliRunner()


def run(*args: object) -> tuple[int, str, str]:
    result = runner.invoke(app, [str(a) for a in args])
    return result.exit_code, result.stdout, result.stderr


@pytest.fixture(scope="module")
def small_trace(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """40 jobs of 1-4 GPUs, staggered arrivals: a queue forms on 2 x 4 GPUs."""
    jobs = [Job(f"j{i:02d}", float(30 * i), float(200 + (37 * i) % 400), 1 + i % 4) for i in range(40)]
    path = tmp_path_factory.mktemp("trace") / "small.csv"
    write_native(Workload.from_jobs(jobs), path)
    return path


def jobs_rows(path: Path) -> list[dict[str, str]]:
    with path.open(newline="") as f:
        return list(csv.DictReader(f))


@pytest.mark.parametrize("solver", ["greedy", "sa"])
def test_solve_writes_a_valid_per_job_schedule_and_its_quality(tmp_path: Path, small_trace: Path,
                                                               solver: str) -> None:
    code, out, err = run("solve", small_trace, "--nodes", 2, "--gpus-per-node", 4, "--solver", solver,
                         "--max-iterations", 200, "--time-limit-s", 5, "--out", tmp_path)
    assert code == 0, err
    rows = jobs_rows(tmp_path / "schedule.csv")
    assert len(rows) == 40 and {r["job_id"] for r in rows} == {f"j{i:02d}" for i in range(40)}
    assert all(len(r["gpu_ids"].split(";")) == 1 + int(r["job_id"][1:]) % 4 for r in rows)
    info = json.loads((tmp_path / "solve.json").read_text())
    assert info["solver"] == solver and info["status"] in ("feasible", "optimal")
    assert info["objective"] > 0 and info["validation"] == "0 violations"
    if info["bound"] is not None:
        assert info["bound"] <= info["objective"] * (1 + 1e-9)
        assert 0.0 <= info["gap"] <= 1.0
    workload = Workload.from_jobs([Job(f"j{i:02d}", float(30 * i), float(200 + (37 * i) % 400), 1 + i % 4)
                                   for i in range(40)])
    assert check(read_schedule(tmp_path / "schedule.csv"), workload, Cluster.uniform(2, 4)) == []
    assert "objective" in out and "0 violations" in err


def test_a_solved_schedule_replays_in_the_simulator_with_the_same_starts(tmp_path: Path, small_trace: Path) -> None:
    plan = tmp_path / "plan"
    code, _, err = run("solve", small_trace, "--nodes", 2, "--gpus-per-node", 4, "--solver", "greedy",
                       "--out", plan)
    assert code == 0, err
    replay = tmp_path / "replay"
    code, _, err = run("simulate", small_trace, "--nodes", 2, "--gpus-per-node", 4, "--policy", "schedule",
                       "--schedule", plan / "schedule.csv", "--schedule-mode", "timed", "--out", replay)
    assert code == 0, err
    planned = {r["job_id"]: (float(r["start_s"]), r["gpu_ids"]) for r in jobs_rows(plan / "schedule.csv")}
    ran = {r["job_id"]: (float(r["start_s"]), r["gpu_ids"]) for r in jobs_rows(replay / "jobs.csv")}
    assert ran == planned


@pytest.mark.parametrize(
    "args,message",
    [
        (["--solver", "magic"], "--solver: expected one of"),
        (["--objective", "speed"], "--objective: expected one of weighted-completion, makespan"),
        (["--time-limit-s", "0"], "--time-limit-s: expected a number > 0 but found 0.0"),
        (["--workers", "0"], "--workers: expected an integer >= 1 but found 0"),
        (["--max-iterations", "0"], "--max-iterations: expected an integer >= 1 but found 0"),
    ],
)
def test_bad_options_are_one_line_errors(tmp_path: Path, small_trace: Path, args: list[str], message: str) -> None:
    code, _, err = run("solve", small_trace, "--nodes", 2, *args, "--out", tmp_path)
    assert code == 2
    assert err.startswith("gpusched: error: ") and message in err
    assert len(err.strip().splitlines()) == 1


def test_a_job_that_fits_no_node_is_named(tmp_path: Path, small_trace: Path) -> None:
    code, _, err = run("solve", small_trace, "--nodes", 2, "--gpus-per-node", 2, "--solver", "greedy",
                       "--out", tmp_path)
    assert code == 2
    last = err.strip().splitlines()[-1]  # after the trace's read report
    assert last.startswith("gpusched: error: job j02 fits no node")  # 3 GPUs, nodes of 2, no --allow-span


def test_help_teaches(tmp_path: Path) -> None:
    code, out, _ = run("solve", "--help")
    assert code == 0
    for word in ("--solver", "--objective", "--time-limit-s", "schedule.csv", "solve.json", "Examples"):
        assert word in out
