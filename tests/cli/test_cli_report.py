"""`gpusched report`: a real simulate output -> report.html in the folder (or --out), several folders,
one-line errors (exit 2) for unknown folders and bad flags, before anything is written."""

from __future__ import annotations

import base64
import re
from pathlib import Path

import pytest
import typer
from typer.testing import CliRunner

from executor.cli import report_cmd
from executor.cli.simulate import simulate
from traces.model import Job, Workload
from traces.readers.native import write_native

app = typer.Typer()


@app.callback()
def _group() -> None:
    """A group, so `simulate` and `report` are subcommands as in `gpusched`."""


app.command("simulate")(simulate)
app.command("report")(report_cmd.report)
runner = CliRunner()


def run(*args: object) -> tuple[int, str, str]:
    result = runner.invoke(app, [str(a) for a in args])
    return result.exit_code, result.stdout, result.stderr


@pytest.fixture(scope="module")
def runs(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    """Two real `gpusched simulate` outputs of 10 jobs on 1 node x 2 GPUs: fcfs (csv) and sjf (parquet)."""
    root = tmp_path_factory.mktemp("sims")
    trace = root / "trace.csv"
    jobs = [Job(f"j{i}", float(15 * i), float(100 - 8 * i), 1 + i % 2) for i in range(10)]
    write_native(Workload.from_jobs(jobs), trace)
    for policy, fmt in (("fcfs", "csv"), ("sjf", "parquet")):
        code, _, err = run("simulate", trace, "--nodes", "1", "--gpus-per-node", "2", "--policy", policy,
                           "--format", fmt, "--no-progress", "--out", root / policy)
        assert code == 0, err
    return root / "fcfs", root / "sjf"


def test_help_teaches_with_examples() -> None:
    code, out, _ = run("report", "--help")
    assert code == 0
    assert "gpusched report fcfs-run sjf-run" in out and "--max-gantt-jobs" in out


def test_report_of_one_folder_goes_into_it(runs: tuple[Path, Path]) -> None:
    fcfs, _ = runs
    code, out, err = run("report", fcfs)
    assert code == 0, err
    assert out.strip() == str(fcfs / "report.html")
    assert re.fullmatch(r"4 figure\(s\) from 1 folder\(s\) \(simulate\); written to .*/report.html\n", err)
    page = (fcfs / "report.html").read_text()
    for png in ("runs-cdf.png", "runs-wait-by-size.png", "runs-timeline.png", "runs-gantt-fcfs.png"):
        data = (fcfs / png).read_bytes()
        assert "data:image/png;base64," + base64.b64encode(data).decode() in page


def test_several_folders_need_out_and_share_figures(runs: tuple[Path, Path], tmp_path: Path) -> None:
    code, _, err = run("report", *runs)
    assert code == 2 and err == "gpusched: error: 2 folders given; say where the report goes with --out DIR\n"
    code, _, err = run("report", *runs, "--out", tmp_path / "both", "--max-gantt-jobs", "5")
    assert code == 0, err
    page = (tmp_path / "both" / "report.html").read_text()
    runs_table = re.search(r"<caption>Per run.*?</table>", page, re.S)
    assert runs_table is not None
    assert re.findall(r"<tr><td>(\w+)</td><td>simulate</td>", runs_table.group(0)) == ["fcfs", "sjf"]
    assert "fcfs: Gantt chart left out: 10 jobs, more than --max-gantt-jobs 5" in page
    assert not list((tmp_path / "both").glob("runs-gantt*.png"))


@pytest.mark.parametrize("make,expected", [
    (lambda p: p.mkdir(), "not a gpusched output folder; expected one of the marker files run.json or config.json+summary.json "
                         "(simulate); solve.json (solve); execute.json (execute); compare.json (compare); sweep.json or "
                         "runs.csv+summary.csv (sweep); capacity.json or capacity.csv (capacity)\n"),
    (lambda p: None, "no such folder; expected a gpusched output folder"),
    (lambda p: p.write_text("x"), "is a file; expected a gpusched output folder (pass the folder it is in)"),
])
def test_bad_folders_are_one_line_errors_and_write_nothing(tmp_path: Path, make: object, expected: str) -> None:
    target = tmp_path / "thing"
    make(target)  # type: ignore[operator]
    code, _, err = run("report", target, "--out", tmp_path / "out")
    assert code == 2 and err.startswith(f"gpusched: error: {target}: {expected}")
    assert len(err.strip().splitlines()) == 1
    assert not (tmp_path / "out").exists()


def test_negative_gantt_limit_is_refused(runs: tuple[Path, Path], tmp_path: Path) -> None:
    code, _, err = run("report", runs[0], "--out", tmp_path / "o", "--max-gantt-jobs", "-1")
    assert code == 2 and err == "gpusched: error: --max-gantt-jobs: expected an integer >= 0 but found -1\n"


def test_malformed_table_names_file_and_field(tmp_path: Path) -> None:
    bad = tmp_path / "bad"
    bad.mkdir()
    (bad / "run.json").write_text('{"config": {"policy": "fcfs"}}')
    (bad / "jobs.csv").write_text("job_id,submit_s,start_s,end_s\na,0,1,x\n")
    code, _, err = run("report", bad)
    assert code == 2
    assert err == f"gpusched: error: {bad / 'jobs.csv'}: field 'end_s': expected a number or an empty cell but found 'x'\n"
