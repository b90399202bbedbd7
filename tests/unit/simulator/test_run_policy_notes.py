"""A policy's `notes` after a run reach `SimResult.notes` (and so the CLI's 'note:' lines)."""

from __future__ import annotations

from pathlib import Path

from typer.testing import CliRunner

from executor.cli.main import app
from simulator.cluster import Cluster
from simulator.run import SimConfig, simulate
from traces.model import Job, Workload

NO_TENANT_NOTE = "fair share by user: the trace names no users or groups, so all jobs share one tenant"


def test_fair_share_without_users_says_so() -> None:
    wl = Workload.from_jobs([Job("a", 0.0, 10.0, 1), Job("b", 1.0, 5.0, 1), Job("c", 2.0, 1.0, 2)])
    result = simulate(wl, Cluster.uniform(1, 2), SimConfig("fair-share"))
    assert NO_TENANT_NOTE in result.notes


def test_fair_share_falls_back_to_groups() -> None:
    wl = Workload.from_jobs([Job("a", 0.0, 10.0, 1, group="g1"), Job("b", 1.0, 5.0, 1, group="g2")])
    result = simulate(wl, Cluster.uniform(1, 2), SimConfig("fair-share"))
    assert "fair share by user: the trace names no users, so tenants are groups" in result.notes


def test_no_note_when_the_trace_has_users() -> None:
    wl = Workload.from_jobs([Job("a", 0.0, 10.0, 1, user="u1"), Job("b", 1.0, 5.0, 1, user="u2")])
    # The run's own notes (e.g. about missing groups) are the same under a policy without notes.
    fcfs = simulate(wl, Cluster.uniform(1, 2), SimConfig("fcfs")).notes
    assert not any(n.startswith("fair share") for n in fcfs)
    assert simulate(wl, Cluster.uniform(1, 2), SimConfig("fair-share")).notes == fcfs


def test_the_cli_prints_the_note(tmp_path: Path) -> None:
    trace = tmp_path / "t.csv"
    trace.write_text("job_id,submit_s,duration_s,num_gpus\na,0,10,1\nb,1,5,1\n")
    result = CliRunner().invoke(
        app, ["simulate", str(trace), "--nodes", "1", "--gpus-per-node", "2", "--policy", "fair-share",
              "--out", str(tmp_path / "out")]
    )
    assert result.exit_code == 0, result.stderr
    assert f"note: {NO_TENANT_NOTE}" in result.stderr
