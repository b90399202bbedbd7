"""`gpusched rl train/eval` on the shipped sample (a few episodes), the agent run by `simulate`, one-line errors."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

import simulator.rl.policy  # noqa: F401  (registers the `rl` policy, as the CLI does)
from executor.cli.main import app as main_app
from executor.cli.rl_cmd import app
from executor.rl.train import CURVE_COLUMNS

runner = CliRunner()


def run(*args: str | Path) -> tuple[int, str, str]:
    result = runner.invoke(app, [str(a) for a in args])
    return result.exit_code, result.stdout, result.stderr


@pytest.fixture(scope="module")
def trained(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, str]:
    out = tmp_path_factory.mktemp("rl") / "agent"
    code, stdout, stderr = run("train", "--episodes", "8", "--window-jobs", "24", "--queue-slots", "8",
                               "--eval-windows", "2", "--seed", "1", "--out", out, "--no-progress")
    assert code == 0, stderr
    return out, stdout


def test_train_writes_the_agent_and_prints_curve_and_comparison(trained: tuple[Path, str]) -> None:
    out, stdout = trained
    assert sorted(p.name for p in out.iterdir()) == ["agent.json", "learning_curve.csv", "learning_curve.png",
                                                     "weights.npz"]
    lines = stdout.splitlines()
    assert lines[0].startswith("trained 8 episodes in ")
    assert lines[1].startswith("learning curve: mean return ")
    assert lines[2].startswith("greedy policy: mean slowdown / FCFS's on fixed training windows ")
    assert lines[2].endswith("after episode 8")
    assert lines[3] == "held-out comparison: 2 windows, 48 jobs (pooled)"
    assert lines[4].split() == ["policy", "mean", "JCT", "s", "p95", "wait", "s", "mean", "slowdown", "rl", "wins"]
    assert [line.split()[0] for line in lines[5:]] == ["rl", "fcfs", "sjf", "las"]
    assert lines[6].split()[-1].endswith("/2")
    doc = json.loads((out / "agent.json").read_text())
    assert doc["format"] == "gpusched-rl-agent" and doc["reward"] == "slowdown"
    assert doc["obs_spec"]["queue_slots"] == 8 and doc["obs_spec"]["node_gpus"] == [8, 8]
    training = doc["training"]
    assert (training["episodes"], training["window_jobs"], training["seed"], training["durations"]) == (8, 24, 1,
                                                                                                       "actual")
    # windows start inside the first 70 % of the 3,629 jobs and end there too
    assert training["train_start_rows"] == [0, round(3629 * 0.7) - 24]
    assert set(doc["evaluation"]["policies"]) == {"rl", "fcfs", "sjf", "las"}
    assert all(r >= round(3629 * 0.7) for r in doc["evaluation"]["start_rows"])
    with (out / "learning_curve.csv").open() as f:
        rows = list(csv.DictReader(f))
    assert list(rows[0]) == list(CURVE_COLUMNS) and [r["episode"] for r in rows] == [str(i) for i in range(1, 9)]
    assert all(float(r["return"]) == pytest.approx(-float(r["mean_slowdown"])) for r in rows)
    assert (out / "learning_curve.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_eval_compares_a_saved_agent(trained: tuple[Path, str]) -> None:
    out, _ = trained
    code, stdout, stderr = run("eval", "--agent", out, "--eval-windows", "3", "--baselines", "fcfs,las")
    assert code == 0, stderr
    lines = stdout.splitlines()
    assert lines[0] == "held-out comparison: 3 windows, 72 jobs (pooled)"
    assert [line.split()[0] for line in lines[2:]] == ["rl", "fcfs", "las"]


def test_simulate_runs_the_agent_as_a_policy(trained: tuple[Path, str], tmp_path: Path) -> None:
    out, _ = trained
    result = runner.invoke(main_app, ["simulate", "--policy", "rl", "--policy-param", f"agent={out}",
                                      "--out", str(tmp_path / "sim")])
    assert result.exit_code == 0, result.stderr
    summary = json.loads((tmp_path / "sim" / "summary.json").read_text())
    assert summary["policy"] == "rl"
    assert summary["metrics"]["num_jobs"] == summary["metrics"]["num_completed"] == 3629


def test_simulate_policy_rl_colon_agent(trained: tuple[Path, str], tmp_path: Path) -> None:
    out, _ = trained
    result = runner.invoke(main_app, ["simulate", "--policy", f"rl:{out}", "--out", str(tmp_path / "sim")])
    assert result.exit_code == 0, result.stderr
    assert (tmp_path / "sim" / "schedule.csv").is_file()


@pytest.mark.parametrize("args,message", [
    (["train", "--reward", "speed"], "--reward: expected one of slowdown, jct, utilisation but found 'speed'"),
    (["train", "--train-fraction", "1.5"], "--train-fraction must be in (0, 1), got 1.5"),
    (["train", "--episodes", "0"], "--episodes must be an integer >= 1, got 0"),
    (["train", "--baselines", "fcfs,rl"], "--baselines: expected policies among"),
    (["train", "--window-jobs", "3000"], "the training part (2540 of 3629 jobs) is shorter than one window"),
    (["train", "--durations", "exact"], "but found 'exact'"),
    (["eval", "--agent", "/nonexistent/agent"], "/nonexistent/agent: no such agent directory"),
])
def test_mistakes_are_one_line_errors(args: list[str], message: str, tmp_path: Path) -> None:
    code, stdout, stderr = run(*args, "--out", tmp_path / "a") if args[0] == "train" else run(*args)
    assert code == 2, stdout + stderr
    last = stderr.splitlines()[-1]  # after the trace's read report, when the mistake shows only then
    assert last.startswith("gpusched: error: ") and message in last


def test_out_must_not_be_a_file(tmp_path: Path) -> None:
    (tmp_path / "f").write_text("x")
    code, _, stderr = run("train", "--episodes", "2", "--out", tmp_path / "f")
    assert code == 2 and "--out must be a directory" in stderr


@pytest.mark.parametrize("cmd", ["train", "eval"])
def test_help_teaches_with_an_example(cmd: str) -> None:
    code, stdout, _ = run(cmd, "--help")
    assert code == 0 and "Example" in stdout


def test_baselines_that_need_parameters_are_refused_before_training(tmp_path: Path) -> None:
    code, _, stderr = run("train", "--episodes", "1", "--baselines", "fcfs,schedule", "--out", tmp_path / "a")
    assert code == 2 and "--baselines: expected policies among" in stderr and "'schedule'" in stderr
    assert not (tmp_path / "a").exists()


def test_eval_with_bad_training_metadata_is_one_line(trained: tuple[Path, str], tmp_path: Path) -> None:
    import shutil

    bad = tmp_path / "bad"
    shutil.copytree(trained[0], bad)
    doc = json.loads((bad / "agent.json").read_text())
    doc["training"]["window_jobs"] = "abc"
    (bad / "agent.json").write_text(json.dumps(doc))
    code, _, stderr = run("eval", "--agent", bad, "--eval-windows", "1")
    assert code == 2 and "training.window_jobs" in stderr and "Traceback" not in stderr
