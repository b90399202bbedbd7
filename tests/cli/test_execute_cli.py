"""`gpusched profile` -> `simulate` -> `execute` -> `compare` end to end on this CPU, and `execute`
surviving kill -9: a rerun with the same --out resumes without losing or repeating finished jobs."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from profile_tables import flat_profile
from typer.testing import CliRunner

from executor.cli.main import app
from executor.profile import ProfileTable

runner = CliRunner()
pytestmark = pytest.mark.slow


def run(*args: object) -> tuple[int, str, str]:
    result = runner.invoke(app, [str(a) for a in args])
    return result.exit_code, result.stdout, result.stderr


def write_trace(path: Path, rows: list[tuple[str, float, float, int, str]]) -> Path:
    lines = ["job_id,submit_s,duration_s,num_gpus,model_name"]
    lines += [f"{j},{s},{d},{g},{m}" for j, s, d, g, m in rows]
    path.write_text("\n".join(lines) + "\n")
    return path


def test_profile_simulate_execute_compare_end_to_end(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    trace = write_trace(tmp_path / "trace.csv", [
        ("a", 0, 60, 1, "mlp"), ("b", 10, 40, 2, "mlp"), ("c", 20, 50, 1, "mlp"), ("d", 30, 30, 1, "cnn"),
    ])
    # A fresh process: TensorFlow's device layout is set once per process (other tests may have set this one's).
    proc = subprocess.run([sys.executable, "-m", "executor.cli.main", "profile", "--models", "mlp,cnn",
                           "--gang-sizes", "1,2", "--steps", "5", "--repeats", "2", "--warmup-steps", "1",
                           "--no-progress", "--out", "prof.csv"], capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr
    code, _, err = run("simulate", trace, "--nodes", "1", "--gpus-per-node", "2", "--policy", "sjf", "--out", "pred")
    assert code == 0, err
    code, _, err = run("execute", "pred", "--profile", "prof.csv", "--time-scale", "0.02", "--out", "meas",
                       "--gpu-type", "V100", "--calibrate", "calib.csv", "--no-progress")
    assert code == 0, err
    assert "4 jobs: 4 completed" in err
    doc = json.loads((tmp_path / "meas" / "execute.json").read_text())
    assert doc["policy"] == "sjf" and doc["trace"] == [str(trace)] and doc["counts"] == {"completed": 4}
    calib = ProfileTable.load(tmp_path / "calib.csv")
    replay_rows = [r for r in calib.rows if r.device_name == "replay:meas"]
    assert {(r.model_name, r.num_devices) for r in replay_rows} == {("mlp", 1), ("mlp", 2), ("cnn", 1)}
    assert all(r.gpu_type == "CPU" for r in calib.rows)  # V100 devices ran on the profiled CPU
    assert ("cnn", 2) in {(r.model_name, r.num_devices) for r in calib.rows}  # not replayed: profiled rate kept
    code, _, err = run("simulate", trace, "--nodes", "1", "--gpus-per-node", "2", "--gpu-type", "CPU",
                       "--policy", "sjf", "--speed-table", "calib.csv", "--out", "pred2")
    assert code == 0, err  # the calibrated table is a valid simulator input
    code, out, err = run("compare", "pred", "meas", "--out", "cmp")
    assert code == 0, err
    summary = json.loads((tmp_path / "cmp" / "compare.json").read_text())
    text = json.dumps(summary)
    assert "median_abs_jct_err_frac" in text and (tmp_path / "cmp" / "gantt.png").stat().st_size > 0
    header = (tmp_path / "cmp" / "compare_jobs.csv").read_text().splitlines()[0]
    assert "jct_err_frac" in header


def test_execute_errors_are_one_line(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    code, _, err = run("execute", "nowhere", "--time-scale", "0.1")
    assert code == 2 and err.strip() == "gpusched: error: nowhere: no such schedule file or folder"
    (tmp_path / "s.csv").write_text("job_id,start_s,end_s,gpu_ids\nzz,0,1,n0:0\n")
    code, _, err = run("execute", "s.csv", "--time-scale", "0.1", "--profile", "missing.csv")
    assert code == 2 and "missing.csv: no profile table; run `gpusched profile" in err
    assert len(err.strip().splitlines()) == 1


def test_kill_9_of_the_executor_then_rerun_resumes(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    rows = [(f"j{i}", float(i), 10.0, 1, "mlp") for i in range(6)]
    trace = write_trace(tmp_path / "trace.csv", rows)
    flat_profile(150.0).write(tmp_path / "prof.csv")
    code, _, err = run("simulate", trace, "--nodes", "1", "--gpus-per-node", "1", "--out", "pred")
    assert code == 0, err
    cmd = [sys.executable, "-m", "executor.cli.main", "execute", "pred", "--profile", "prof.csv",
           "--time-scale", "0.1", "--out", "meas", "--no-progress"]
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    records = tmp_path / "meas" / "records"
    deadline = time.monotonic() + 240
    while time.monotonic() < deadline and proc.poll() is None:
        if records.is_dir() and len(list(records.glob("*.json"))) >= 2:
            break
        time.sleep(0.05)
    assert proc.poll() is None, "the executor finished before it could be killed"
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    first = {p.name: p.read_text() for p in records.glob("*.json")}
    assert 2 <= len(first) < 6
    done = subprocess.run(cmd, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr
    assert "resumed" in done.stderr
    after = {p.name: p.read_text() for p in records.glob("*.json")}
    assert len(after) == 6
    assert all(after[name] == text for name, text in first.items())  # finished jobs were neither lost nor rerun
    doc = json.loads((tmp_path / "meas" / "execute.json").read_text())
    assert doc["runs"] == 2 and doc["resumed_segments"] == len(first) and doc["counts"] == {"completed": 6}
