"""Real replays on warm worker processes (TensorFlow on logical CPU devices): order, gangs,
checkpointed preemption, resume, and jobs that run out of memory or whose worker is killed."""

from __future__ import annotations

import importlib.util
import json
import math
import os
import signal
import threading
from pathlib import Path

import pytest
from profile_tables import flat_profile

from executor.devices import DeviceSetup
from executor.execute import JOB_COLUMNS, ExecOptions, execute, record_name
from executor.plan import make_plan
from executor.pool import LocalPool, describe_exit
from executor.profile import ProfileTable
from simulator.schedule import Assignment, Schedule
from traces.errors import UserError
from traces.model import Job, Workload

SETUP = DeviceSetup(backend="tensorflow", logical_cpus=2, threads=1)


def rates(rate: float = 200.0) -> ProfileTable:
    return flat_profile(rate)


def workload() -> Workload:
    return Workload.from_jobs([
        Job(job_id="a", submit_s=0.0, duration_s=10.0, num_gpus=1, model_name="mlp"),
        Job(job_id="b/2", submit_s=1.0, duration_s=10.0, num_gpus=2, model_name="mlp"),
        Job(job_id="c", submit_s=2.0, duration_s=10.0, num_gpus=1, model_name="gru"),
    ])


def schedule() -> Schedule:
    return Schedule.of([
        Assignment("a", 0.0, 10.0, ("n0:0",)),
        Assignment("c", 2.0, 7.0, ("n0:1",)),  # preempted, then resumed on the other device
        Assignment("b/2", 10.0, 20.0, ("n0:0", "n0:1")),
        Assignment("c", 20.0, 25.0, ("n0:0",)),
    ])


def read_records(out: Path) -> dict[str, dict]:
    return {p.name: json.loads(p.read_text()) for p in sorted((out / "records").glob("*.json"))}


@pytest.mark.slow
def test_replay_keeps_device_order_gangs_and_checkpoints_then_resumes_without_rerunning(tmp_path: Path) -> None:
    plan = make_plan(schedule(), workload(), rates(), time_scale=0.1)
    out = tmp_path / "out"
    result = execute(plan, out, LocalPool(), ExecOptions(setup=SETUP, lead_in_s=0.5))
    assert result.counts == {"completed": 3}
    assert tuple(result.jobs.column_names) == JOB_COLUMNS
    rows = {r["job_id"]: r for r in result.jobs.to_pylist()}
    segs = {(r["job_id"], r["segment"]): r for r in result.segments.to_pylist()}
    # Device order: the gang waits for both a (n0:0) and c's first segment (n0:1); c resumes after it.
    assert segs[("b/2", 0)]["start_s"] >= max(segs[("a", 0)]["end_s"], segs[("c", 0)]["end_s"])
    assert segs[("c", 1)]["start_s"] >= segs[("b/2", 0)]["end_s"]
    # Timed mode: nothing starts before its scheduled (scaled) start.
    for (job, seg), r in segs.items():
        assert r["start_s"] >= r["predicted_start_s"] - 1e-6, (job, seg)
    assert rows["b/2"]["num_devices"] == 2 and rows["b/2"]["gpu_ids"] == "n0:0;n0:1"
    assert rows["c"]["segments"] == 2 and rows["c"]["steps_done"] == rows["c"]["steps"] == 200
    assert (out / "checkpoints" / f"{record_name('c', 0)}.weights.h5").is_file()
    assert all(r["launch_overhead_s"] >= 0 for r in rows.values())
    doc = json.loads((out / "execute.json").read_text())
    assert doc["runs"] == 1 and doc["counts"] == {"completed": 3} and doc["devices"] == ["n0:0", "n0:1"]
    assert segs[("c", 0)]["checkpoint_s"] > 0 and math.isnan(segs[("c", 1)]["checkpoint_s"])  # the last saves none
    # One restart (c): its cost = saving c's checkpoint + launching its second segment, also in trace seconds.
    assert doc["restart_overhead_median_s"] == pytest.approx(
        segs[("c", 0)]["checkpoint_s"] + segs[("c", 1)]["launch_overhead_s"])
    assert doc["restart_overhead_trace_s"] == pytest.approx(doc["restart_overhead_median_s"] / 0.1)
    assert any("--restart-overhead-s" in n for n in doc["notes"])
    before = read_records(out)
    assert len(before) == 4

    class NoPool(LocalPool):
        def start(self, specs):  # type: ignore[no-untyped-def]
            raise AssertionError("a finished replay must not start workers again")

    again = execute(plan, out, NoPool(), ExecOptions(setup=SETUP))
    assert again.resumed == 4 and again.counts == {"completed": 3}
    assert read_records(out) == before
    assert again.jobs.to_pylist() == result.jobs.to_pylist()

    other = make_plan(schedule(), workload(), rates(), time_scale=0.2)
    with pytest.raises(UserError, match="holds the replay of another schedule"):
        execute(other, out, NoPool(), ExecOptions(setup=SETUP))


@pytest.mark.slow
def test_out_of_memory_and_killed_workers_are_recorded_and_the_rest_go_on(tmp_path: Path) -> None:
    wl = Workload.from_jobs([
        Job(job_id="long", submit_s=0.0, duration_s=40.0, num_gpus=1, model_name="mlp"),
        Job(job_id="huge", submit_s=0.0, duration_s=5.0, num_gpus=1, model_name="mlp"),
        Job(job_id="after", submit_s=1.0, duration_s=5.0, num_gpus=1, model_name="mlp"),
        Job(job_id="gang", submit_s=1.0, duration_s=5.0, num_gpus=2, model_name="cnn"),
    ])
    sched = Schedule.of([
        Assignment("long", 0.0, 40.0, ("n0:0",)),
        Assignment("huge", 0.0, 5.0, ("n0:1",)),
        Assignment("after", 5.0, 10.0, ("n0:1",)),
        Assignment("gang", 40.0, 45.0, ("n0:0", "n0:1")),
    ])
    # mlp at size 4000 asks for a ~500 GiB weight matrix: a real allocation failure.
    plan = make_plan(sched, wl, rates(1000.0), time_scale=0.2, overrides={"huge": {"size": 4000}})
    out = tmp_path / "out"
    killer: list[threading.Timer] = []

    def kill_long_job(pids: dict[str, int]) -> None:
        # "long" trains 8000 steps (several seconds) from lead-in (0.5 s) on; kill its worker mid-way.
        timer = threading.Timer(2.5, os.kill, (pids["n0:0"], signal.SIGKILL))
        timer.start()
        killer.append(timer)

    result = execute(plan, out, LocalPool(), ExecOptions(setup=SETUP, lead_in_s=0.5, mode="order"),
                     on_started=kill_long_job)
    killer[0].join()
    rows = {r["job_id"]: r for r in result.jobs.to_pylist()}
    assert rows["long"]["status"] == "killed"
    assert "SIGKILL" in rows["long"]["error"]
    assert rows["huge"]["status"] == "oom"
    assert "MemoryError" in rows["huge"]["error"] or "ResourceExhausted" in rows["huge"]["error"]
    assert rows["after"]["status"] == "completed"
    assert rows["gang"]["status"] == "completed"  # ran on the restarted worker
    assert rows["gang"]["start_s"] >= rows["long"]["end_s"]
    assert result.counts == {"completed": 2, "killed": 1, "oom": 1}


def test_describe_exit_names_the_signal() -> None:
    assert describe_exit(-signal.SIGKILL) == ("killed", "the worker process was ended by SIGKILL")
    assert describe_exit(-signal.SIGSEGV) == ("crashed", "the worker process was ended by SIGSEGV")
    assert describe_exit(3) == ("crashed", "the worker process exited with code 3")
    assert describe_exit("Ray actor died: killed by SIGKILL")[0] == "killed"


def test_a_second_executor_on_the_same_folder_is_refused(tmp_path: Path) -> None:
    import fcntl

    out = tmp_path / "out"
    out.mkdir()
    with open(out / ".lock", "w") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        plan = make_plan(schedule(), workload(), rates(), time_scale=0.1)

        class NoPool(LocalPool):
            def start(self, specs):  # type: ignore[no-untyped-def]
                raise AssertionError("refused before any worker starts")

        with pytest.raises(UserError, match="in use by another gpusched execute"):
            execute(plan, out, NoPool(), ExecOptions(setup=SETUP))


@pytest.mark.slow
@pytest.mark.skipif(importlib.util.find_spec("jax") is None, reason="jax not installed (pip install 'gpusched[jax]')")
def test_replay_on_the_jax_backend(tmp_path: Path) -> None:
    """GPU machines may have JAX but no TensorFlow: the same replay with Keras on JAX, a gang included."""
    wl = Workload.from_jobs([
        Job(job_id="p", submit_s=0.0, duration_s=10.0, num_gpus=1, model_name="cnn"),
        Job(job_id="q", submit_s=0.0, duration_s=10.0, num_gpus=2, model_name="mlp"),
    ])
    sched = Schedule.of([Assignment("p", 0.0, 10.0, ("n0:0",)), Assignment("q", 10.0, 20.0, ("n0:0", "n0:1"))])
    plan = make_plan(sched, wl, rates(50.0), time_scale=0.1)
    result = execute(plan, tmp_path / "out", LocalPool(),
                     ExecOptions(setup=DeviceSetup(backend="jax", logical_cpus=2), lead_in_s=0.5))
    assert result.counts == {"completed": 2}, result.jobs.column("error").to_pylist()
    assert json.loads((tmp_path / "out" / "execute.json").read_text())["backend"] == "jax"
