"""`bench/simulator_speed.py --quick` runs every case end to end and prints its table (no timings checked)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[3]


def run_bench(script: str, *args: str, timeout_s: int) -> subprocess.CompletedProcess[str]:
    """Run `bench/<script> args` from the repository root; a non-zero exit fails with its output."""
    proc = subprocess.run([sys.executable, str(REPO / "bench" / script), *args],
                          cwd=REPO, capture_output=True, text=True, timeout=timeout_s, check=False)
    assert proc.returncode == 0, f"bench failed:\n{proc.stdout}{proc.stderr}"
    return proc


def test_simulator_speed_quick_run_prints_its_table() -> None:
    proc = run_bench("simulator_speed.py", "--quick", timeout_s=300)
    lines = proc.stdout.splitlines()
    header = [line for line in lines if line.startswith("case ")]
    assert len(header) == 1 and header[0].split()[:5] == ["case", "jobs", "wall", "s", "peak"]
    table = lines[lines.index(header[0]) + 1:]
    for case in ("(a) M/M/8 fcfs heapq loop", "(a) M/M/8 fcfs engine", "(b) philly-2k fcfs read+simulate",
                 "(d) synthetic 5k fcfs simulate"):
        assert any(row.startswith(case) for row in table), f"no row {case!r} in:\n{proc.stdout}"
    assert not [row for row in table if " FAILED " in row or " INVALID " in row]


@pytest.mark.slow
def test_solvers_quick_run_prints_its_tables() -> None:
    proc = run_bench("solver_quality.py", "--quick", timeout_s=600)
    lines = proc.stdout.splitlines()
    header = [line for line in lines if line.startswith("jobs ")]
    assert len(header) == 1 and header[0].split()[:6] == ["jobs", "greedy", "lp", "sa", "ga", "cpsat"]
    rows = lines[lines.index(header[0]) + 1:]
    assert [r.split()[0] for r in rows[:3]] == ["20", "50", "100"]
    assert not [r for r in rows if "FAILED" in r]
    assert any(r.startswith("rolling jobs") for r in lines)


def test_sweep_speed_quick_run_prints_its_table() -> None:
    # --no-ray: a second Ray runtime beside the session's (tests/conftest.py `ray_local`) is not started;
    # the Ray backend is tested against the pool in tests/unit/executor/test_sweep_ray.py.
    proc = run_bench("sweep_speed.py", "--quick", "--no-ray", timeout_s=300)
    lines = proc.stdout.splitlines()
    header = [line for line in lines if line.startswith("backend ")]
    assert len(header) == 1 and header[0].split()[:6] == ["backend", "workers", "runs", "wall", "s", "runs/min"]
    table = lines[lines.index(header[0]) + 1:]
    assert [row.split()[:3] for row in table[:2]] == [["sequential", "1", "8"], ["local", "pool", "2"]]
    assert table[2].startswith("ray local") and "skipped (--no-ray)" in table[2]
    assert "runs.csv byte-identical across 2 backends: yes" in lines


def test_predict_accuracy_quick_run_prints_its_table() -> None:
    proc = run_bench("predict_accuracy.py", "--quick", timeout_s=300)
    assert "gbm" in proc.stdout and "median" in proc.stdout, proc.stdout


@pytest.mark.slow
def test_rl_eval_quick_run_prints_its_tables() -> None:
    proc = run_bench("rl_eval.py", "--quick", timeout_s=600)
    lines = proc.stdout.splitlines()
    tables = [i for i, line in enumerate(lines) if line.startswith("| policy |")]
    assert len(tables) == 2, proc.stdout  # held-out windows, then the whole tail
    labels = [lines[i + 2 + k].split("|")[1].strip() for i in tables for k in range(4)]
    assert labels == ["rl", "fcfs", "sjf", "las"] * 2
    assert any(line.startswith("rl loses to:") for line in lines)
