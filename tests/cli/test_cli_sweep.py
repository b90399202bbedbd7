"""`gpusched sweep`: exit 2 on spec mistakes, 0 with failed runs listed, and resume after kill -9 of the driver."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

from typer.testing import CliRunner

from executor.cli.sweep_cmd import app
from simulator.sweep.store import SweepStore

runner = CliRunner()
REPO = Path(__file__).resolve().parents[2]
SAMPLE = REPO / "traces" / "data" / "itp-cluster05.csv"
SPEC = f"""
[workload]
trace = "{SAMPLE}"
max_jobs = 200
[grid]
cluster = [{{nodes = 1, gpus_per_node = [4, 8]}}]   # 1x4: too small for the slice's 8-GPU jobs
policy = ["fcfs", "sjf"]
seeds = 2
[settings]
idle_power_off_s = 900
"""


def _spec(tmp_path: Path, text: str = SPEC) -> Path:
    path = tmp_path / "spec.toml"
    path.write_text(text, encoding="utf-8")
    return path


def test_failed_runs_are_counted_and_located_and_the_exit_status_stays_0(tmp_path: Path) -> None:
    out = tmp_path / "out"
    result = runner.invoke(app, [str(_spec(tmp_path)), "--out", str(out), "--jobs", "1", "--no-progress"])
    assert result.exit_code == 0, result.stderr
    assert "sweep: 8 runs (2 clusters x 2 policies x 2 seeds) on this process (sequential)" in result.stderr
    assert result.stdout.startswith("8 runs on 200 jobs: 4 done, 4 failed (8 ran now on this process")
    assert f"4 runs failed; each has its error (type, message, traceback) in {out}/runs/<run_id>/error.json" \
        in result.stdout
    listed = [line for line in result.stdout.splitlines() if line.startswith(f"  {out}/runs/")]
    assert len(listed) == 4 and all("error.json: UserError: job " in line for line in listed)
    table = result.stdout.split("mean over seeds", 1)[1]
    header, first = table.splitlines()[1:3]
    assert header.split()[:6] == ["cluster", "policy", "runs", "ok", "p95", "wait"]
    assert first.split() == ["1x4", "V100", "fcfs", "0/2", "n/a", "n/a", "n/a", "n/a", "n/a"]
    rows = (out / "runs.csv").read_text().splitlines()
    assert len(rows) == 9 and sum(",failed,job " in r for r in rows) == 4
    assert (out / "summary.csv").is_file() and json.loads((out / "sweep.json").read_text())["num_runs"] == 8
    again = runner.invoke(app, [str(_spec(tmp_path)), "--out", str(out), "--jobs", "1", "--no-retry-failed"])
    assert again.exit_code == 0 and "(0 ran now on this process (sequential), 4 finished before)" in again.stdout


def test_spec_mistakes_and_a_locked_folder_exit_2_with_one_line(tmp_path: Path) -> None:
    bad = _spec(tmp_path, SPEC.replace('"sjf"', '"sjff"'))
    result = runner.invoke(app, [str(bad), "--out", str(tmp_path / "out")])
    assert result.exit_code == 2
    assert result.stderr.startswith(f"gpusched: error: {bad}: field 'grid.policy': expected one of ")
    assert result.stderr.rstrip().endswith("but found 'sjff'") and result.stderr.count("\n") == 1
    out = tmp_path / "locked"
    with SweepStore(out).locked():
        result = runner.invoke(app, [str(_spec(tmp_path)), "--out", str(out), "--jobs", "1"])
    assert result.exit_code == 2
    assert result.stderr.splitlines()[-1] == (f"gpusched: error: {out}: another sweep (pid {os.getpid()}) is writing "
                                              "to this folder; wait for it to finish or give another --out")
    result = runner.invoke(app, [str(_spec(tmp_path)), "--out", str(out), "--jobs", "0"])
    assert result.exit_code == 2 and result.stderr == "gpusched: error: --jobs must be >= 1, got 0\n"


def _children(pid: int) -> list[int]:
    try:
        text = Path(f"/proc/{pid}/task/{pid}/children").read_text()
    except OSError:
        return []
    return [int(c) for c in text.split()]


def _alive(pid: int) -> bool:
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return False
    return stat.rsplit(")", 1)[1].split()[0] != "Z"


def _done_runs(out: Path) -> list[Path]:
    runs = out / "runs"
    return [d for d in runs.iterdir() if not d.name.startswith(".")] if runs.is_dir() else []


def test_kill_9_of_the_driver_loses_nothing_finished_and_a_rerun_completes(tmp_path: Path) -> None:
    spec = _spec(tmp_path, f"""
[workload]
trace = "{SAMPLE}"
max_jobs = 400
[grid]
cluster = {{nodes = 1}}
load_scale = [1.0, 2.0]
policy = ["fcfs", "las"]
seeds = 3
""")
    out = tmp_path / "out"
    cmd = [sys.executable, "-m", "executor.cli.sweep_cmd", str(spec), "--out", str(out), "--jobs", "2",
           "--no-progress"]
    proc = subprocess.Popen(cmd, cwd=REPO, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    workers: set[int] = set()
    deadline = time.monotonic() + 120
    try:
        while len(_done_runs(out)) < 2 and proc.poll() is None and time.monotonic() < deadline:
            workers.update(_children(proc.pid))
            time.sleep(0.01)
        workers.update(_children(proc.pid))
        os.kill(proc.pid, signal.SIGKILL)
    finally:
        proc.kill()
        proc.wait(timeout=30)
    assert proc.returncode == -signal.SIGKILL
    finished = {d.name: {p.name: (p.stat().st_mtime_ns, p.read_bytes()) for p in d.iterdir()} for d in _done_runs(out)}
    assert 2 <= len(finished) < 12, "the sweep should have been stopped midway"
    assert all(sorted(files) == ["config.json", "jobs.parquet", "summary.json", "timeline.parquet"]
               for files in finished.values())
    assert not (out / "runs.csv").exists()
    # The spawned workers notice their driver is gone and exit.
    give_up = time.monotonic() + 10
    while any(_alive(w) for w in workers) and time.monotonic() < give_up:
        time.sleep(0.05)
    assert workers and not [w for w in workers if _alive(w)]

    result = runner.invoke(app, [str(spec), "--out", str(out), "--jobs", "1", "--no-progress"])
    assert result.exit_code == 0, result.stderr
    assert f"12 runs on 400 jobs: 12 done, 0 failed ({12 - len(finished)} ran now" in result.stdout
    assert f"{len(finished)} finished before" in result.stdout
    for run_id, files in finished.items():
        d = out / "runs" / run_id
        assert {p.name: (p.stat().st_mtime_ns, p.read_bytes()) for p in d.iterdir()} == files
    rows = (out / "runs.csv").read_text().splitlines()[1:]
    assert len(rows) == 12 and all(",done," in r for r in rows)
    assert len(_done_runs(out)) == 12 and not [d for d in (out / "runs").iterdir() if d.name.startswith(".")]
