"""`gpusched predict train/eval` on the shipped Philly slice, and `simulate --durations predicted:MODEL`."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import typer
from typer.testing import CliRunner

from executor.cli.predict_cmd import app
from executor.cli.simulate import simulate

SLICE = Path(__file__).resolve().parents[2] / "traces" / "data" / "philly-dirlab-slice.csv"
runner = CliRunner()
sim_app = typer.Typer()
sim_app.command()(simulate)


def run(*args: str | Path, cli: typer.Typer = app) -> tuple[int, str, str]:
    result = runner.invoke(cli, [str(a) for a in args])
    return result.exit_code, result.stdout, result.stderr


def table(out: str) -> dict[str, list[str]]:
    """The metrics table printed on stdout: predictor -> its cells."""
    lines = out.splitlines()
    head = next(i for i, line in enumerate(lines) if line.startswith("predictor "))
    return {line.split()[0]: line.split()[1:] for line in lines[head + 1:] if line.strip()}


def test_help_has_examples() -> None:
    for command in ("train", "eval"):
        code, out, _ = run(command, "--help")
        assert code == 0 and "Examples" in out and "--test-fraction" in out


def test_train_prints_the_model_next_to_the_baselines_and_eval_reproduces_it(tmp_path: Path) -> None:
    model = tmp_path / "models" / "philly.json"
    code, out, err = run("train", SLICE, "--out", model)
    assert code == 0, err
    rows = table(out)
    assert list(rows) == ["gbm", "median", "global-median"] and all(r[0] == "400" for r in rows.values())
    assert f"model written to {model}" in err and "held out: the last 400 of 2000 jobs" in err
    assert "traces record no start times" in err
    doc = json.loads(model.read_text())
    assert doc["kind"] == "gbm" and doc["training"]["test_rows"] == 400 and doc["training"]["trace"] == str(SLICE)

    code, out2, err = run("eval", SLICE, "--model", model, "--out", tmp_path / "m.json")
    assert code == 0, err
    assert table(out2) == rows  # the same held-out part: the same numbers
    saved = json.loads((tmp_path / "m.json").read_text())
    assert saved["rows"] == 400 and saved["first_row"] == 1600 and set(saved["metrics"]) == set(rows)
    assert saved["metrics"]["gbm"] == doc["training"]["metrics"]["gbm"]

    code, out3, err = run("eval", SLICE, "--model", model, "--all", "--out", tmp_path / "m.csv")
    assert code == 0, err
    with (tmp_path / "m.csv").open(newline="") as f:
        written = list(csv.DictReader(f))
    assert [r["predictor"] for r in written] == ["gbm", "median", "global-median"]
    assert all(r["rows"] == "2000" for r in written) and "scored: every job (2000)" in err


def test_a_median_model_and_a_second_run_give_the_same_file(tmp_path: Path) -> None:
    for name in ("a.json", "b.json"):
        code, out, err = run("train", SLICE, "--model", "median", "--test-fraction", "0.3", "--out", tmp_path / name)
        assert code == 0, err
        assert list(table(out)) == ["median", "global-median"]
    assert (tmp_path / "a.json").read_bytes() == (tmp_path / "b.json").read_bytes()


def test_mistakes_are_one_line_errors(tmp_path: Path) -> None:
    bad = tmp_path / "bad.json"
    bad.write_text("{}")
    cases = [
        (("train", SLICE, "--out", tmp_path), "--out names the model file to write"),
        (("train", SLICE, "--out", tmp_path / "m.json", "--test-fraction", "1"), "--test-fraction must be a number >= 0 and < 1"),
        (("eval", SLICE, "--model", tmp_path / "none.json"), "none.json: no such model file"),
        (("eval", SLICE, "--model", bad), "bad.json: field 'format': missing; expected 'gpusched-duration-model'"),
        (("eval", SLICE, "--model", bad, "--all", "--test-fraction", "0.5"), "give --all or --test-fraction, not both"),
        (("eval", SLICE, "--model", bad, "--out", tmp_path / "x.txt"), "--out must end in .csv or .json"),
    ]
    for args, message in cases:
        code, _, err = run(*args)
        assert code == 2 and len(err.strip().splitlines()) == 1 and message in err, (args, err)


def test_simulate_with_predicted_durations(tmp_path: Path) -> None:
    model = tmp_path / "m.json"
    assert run("train", SLICE, "--out", model)[0] == 0
    out = tmp_path / "sim"
    code, stdout, err = run(SLICE, "--nodes", "4", "--policy", "qssf", "--durations", f"predicted:{model}",
                            "--out", out, cli=sim_app)
    assert code == 0, err
    assert f"durations: policies see the predictions of {model} (gbm" in err and "mean JCT" in stdout
    assert f"note: policies saw durations predicted by {model}: median |ln(predicted/actual)| " in err
    assert json.loads((out / "run.json").read_text())["config"]["estimates"] == f"predicted:{model}"
    # The old flag still works, and the two may not disagree.
    code, _, err = run(SLICE, "--nodes", "4", "--policy", "sjf", "--estimates", "noisy:0.5", "--out", tmp_path / "o",
                       cli=sim_app)
    assert code == 0, err
    code, _, err = run(SLICE, "--nodes", "4", "--durations", "actual", "--estimates", "noisy:0.5",
                       "--out", tmp_path / "o", cli=sim_app)
    assert code == 2 and "--estimates is the old name of --durations" in err
    code, _, err = run(SLICE, "--nodes", "4", "--durations", f"predicted:{tmp_path / 'none.json'}", "--out",
                       tmp_path / "o2", cli=sim_app)
    assert code == 2 and "none.json: no such model file" in err and not (tmp_path / "o2").exists()
