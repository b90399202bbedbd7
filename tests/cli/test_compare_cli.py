"""`gpusched compare`: a real simulate output against measured tables, output files, one-line errors."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import pytest
import typer
from typer.testing import CliRunner

from executor.cli import compare_cmd
from executor.cli.main import app as main_app
from traces.model import Job, Workload
from traces.readers.native import write_native

app = typer.Typer()


@app.callback()
def _group() -> None:
    """A group, so `compare` is a subcommand as in `gpusched`."""


app.command("compare")(compare_cmd.compare)
runner = CliRunner()


def run(*args: object) -> tuple[int, str, str]:
    result = runner.invoke(app, [str(a) for a in args])
    return result.exit_code, result.stdout, result.stderr


@pytest.fixture(scope="module")
def predicted(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A real `gpusched simulate` output: 12 jobs on 1 node x 2 GPUs under FCFS."""
    root = tmp_path_factory.mktemp("sim")
    trace = root / "trace.csv"
    write_native(Workload.from_jobs([Job(f"j{i:02d}", float(20 * i), float(50 + 10 * i), 1) for i in range(12)]), trace)
    result = CliRunner().invoke(main_app, ["simulate", str(trace), "--nodes", "1", "--gpus-per-node", "2",
                                           "--out", str(root / "pred")])
    assert result.exit_code == 0, result.stderr
    return root / "pred"


@pytest.fixture(scope="module")
def measured(predicted: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """An execute-style folder: every job 10 % slower than predicted, one failed, one not run."""
    with (predicted / "jobs.csv").open(newline="") as f:
        sim = list(csv.DictReader(f))
    out = tmp_path_factory.mktemp("meas")
    with (out / "jobs.csv").open("w", newline="") as f:
        w = csv.writer(f)
        w.writerow(["job_id", "status", "submit_s", "start_s", "end_s", "wait_s", "jct_s", "error"])
        for r in sim[:-1]:  # the last job was not measured
            submit, start, end = float(r["submit_s"]), float(r["start_s"]), float(r["end_s"])
            failed = r["job_id"] == "j03"
            m_end = "" if failed else submit + 1.1 * (end - submit)
            w.writerow([r["job_id"], "failed" if failed else "completed", submit, start, m_end, start - submit,
                        "" if failed else m_end - submit, "boom" if failed else ""])
    (out / "execute.json").write_text(json.dumps({"policy": "fcfs", "time_scale": 0.001}))
    return out


def test_help_teaches_with_examples() -> None:
    code, out, _ = run("compare", "--help")
    assert code == 0
    assert "Examples" in out and "gpusched compare pred meas --out cmp" in out
    assert "--time-scale 0.001" in out


def test_compare_end_to_end_writes_tables_plots_and_a_summary(predicted: Path, measured: Path,
                                                               tmp_path: Path) -> None:
    code, out, err = run("compare", predicted, measured, predicted, predicted, "--out", tmp_path)
    assert code == 0, err
    for name in ("compare_jobs.csv", "compare_summary.csv", "compare.json", "scatter.png", "gantt.png"):
        assert (tmp_path / name).stat().st_size > 0, name
    assert (tmp_path / "scatter.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    doc = json.loads((tmp_path / "compare.json").read_text())
    first, second = doc["comparisons"]
    assert (first["label"], second["label"]) == ("fcfs", "fcfs #2")
    s = first["summary"]
    assert (s["n_jobs"], s["n_compared"], s["n_missing_measured"], s["statuses"]) == (12, 10, 1, {"completed": 10,
                                                                                              "failed": 1})
    assert s["median_abs_jct_err_frac"] == pytest.approx(0.1) and s["bias"] == pytest.approx(0.1)
    assert s["mean_jct_err_frac"] == pytest.approx(0.1)
    assert second["summary"]["p95_abs_jct_err_frac"] == 0.0
    assert first["missing_measured_job_ids"] == ["j11"]
    assert "fcfs #2" in out and "10.0 %" in out  # the rich table on stdout
    assert "predicted but not measured" in err and "1 failed" in err


def test_compare_json_format_and_no_plots(predicted: Path, measured: Path, tmp_path: Path) -> None:
    code, _, err = run("compare", predicted / "schedule.csv", measured / "jobs.csv", "--out", tmp_path,
                       "--format", "json", "--no-plots")
    assert code == 0, err
    rows = json.loads((tmp_path / "compare_jobs.json").read_text())
    assert len(rows) == 11 and rows[0]["label"] == "fcfs"
    assert not (tmp_path / "gantt.png").exists()


@pytest.mark.parametrize(
    "args,message",
    [
        (["nope", "{meas}"], "nope: no such file or folder"),
        (["{pred}"], "expected pairs PREDICTED MEASURED but found 1 path(s)"),
        (["{pred}", "{meas}", "{pred}"], "found 3 path(s)"),
        (["{pred}", "{meas}", "--gantt-jobs", "0"], "--gantt-jobs: expected an integer >= 1"),
    ],
)
def test_bad_input_exits_2_with_one_line(predicted: Path, measured: Path, tmp_path: Path, args: list[str],
                                         message: str) -> None:
    argv = [a.format(pred=predicted, meas=measured) for a in args]
    argv = [str(tmp_path / a) if a == "nope" else a for a in argv]
    code, _, err = run("compare", *argv, "--out", tmp_path / "out")
    assert code == 2
    assert message in err
    assert err.count("\n") == 1 and err.startswith("gpusched: error: ")
