"""The replay on Ray actors, with a real local Ray runtime: same records and order as local workers."""

from __future__ import annotations

from pathlib import Path

import pytest
from profile_tables import flat_profile

from executor.devices import DeviceSetup
from executor.execute import ExecOptions, execute
from executor.plan import make_plan
from executor.ray_pool import RayPool
from simulator.schedule import Assignment, Schedule
from traces.model import Job, Workload

pytestmark = [pytest.mark.slow, pytest.mark.ray]


def test_ray_actors_replay_a_schedule_on_the_named_devices(tmp_path: Path, ray_local) -> None:  # type: ignore[no-untyped-def]
    table = flat_profile(100.0)
    wl = Workload.from_jobs([
        Job(job_id="x", submit_s=0.0, duration_s=10.0, num_gpus=1, model_name="mlp"),
        Job(job_id="y", submit_s=0.0, duration_s=10.0, num_gpus=1, model_name="cnn"),
        Job(job_id="z", submit_s=5.0, duration_s=10.0, num_gpus=2, model_name="mlp"),
    ])
    sched = Schedule.of([
        Assignment("x", 0.0, 10.0, ("n0:0",)),
        Assignment("y", 0.0, 10.0, ("n1:0",)),
        Assignment("z", 10.0, 20.0, ("n0:0", "n1:0")),
    ])
    plan = make_plan(sched, wl, table, time_scale=0.1)
    pool = RayPool("local")  # joins the session's runtime
    result = execute(plan, tmp_path / "out", pool,
                     ExecOptions(setup=DeviceSetup(backend="tensorflow", logical_cpus=2, threads=1), lead_in_s=0.5))
    rows = {r["job_id"]: r for r in result.jobs.to_pylist()}
    assert result.counts == {"completed": 3}
    assert rows["z"]["start_s"] >= max(rows["x"]["end_s"], rows["y"]["end_s"])
    assert rows["x"]["worker"] == "n0:0" and rows["y"]["worker"] == "n1:0" and rows["z"]["worker"] == "n0:0"
    assert ray_local.is_initialized()  # a joined runtime is left running
