"""The sweep on Ray tasks, with the session's real local Ray runtime: the same tables as the local pool."""

from __future__ import annotations

from pathlib import Path

import pytest

from executor.sweep_ray import RaySweepBackend
from simulator.sweep import PoolBackend, load_spec, run_sweep

pytestmark = [pytest.mark.slow, pytest.mark.ray]

REPO = Path(__file__).resolve().parents[3]
SAMPLE = REPO / "traces" / "data" / "itp-cluster05.csv"


def test_ray_tasks_give_the_pools_runs_and_summary_bytes(tmp_path: Path, ray_local) -> None:  # type: ignore[no-untyped-def]
    spec_path = tmp_path / "spec.toml"
    spec_path.write_text(f"""
[workload]
trace = "{SAMPLE}"
max_jobs = 200
[grid]
cluster = [{{nodes = 1, gpus_per_node = [4, 8]}}]   # 1x4 fails: the slice has 8-GPU jobs
policy = ["fcfs", "las"]
seeds = 2
[settings]
node_mtbf_s = 864000
""")
    spec = load_spec(spec_path)
    backend = RaySweepBackend("local", plugin_modules=("solvers.rolling",))  # joins the session's runtime
    ray = run_sweep(spec, tmp_path / "ray", backend)
    pool = run_sweep(spec, tmp_path / "pool", PoolBackend(2))
    assert (ray.done, ray.failed) == (pool.done, pool.failed) == (4, 4)
    for name in ("runs.csv", "summary.csv"):
        assert (tmp_path / "ray" / name).read_bytes() == (tmp_path / "pool" / name).read_bytes(), name
    assert backend.workers == 2 and "127.0.0.1" in backend.describe()
    assert ray_local.is_initialized()  # a runtime it did not start is left running


def test_a_task_runs_on_copies_of_the_drivers_files_not_on_its_paths(tmp_path: Path) -> None:
    """As on a remote node: the config's paths do not exist there; the bytes travel with the task."""
    from executor.sweep_ray import _run_task, input_files, local_copies
    from simulator.sweep import expand, run_one

    spec_path = tmp_path / "spec.toml"
    trace = tmp_path / "driver" / "trace.csv"
    trace.parent.mkdir()
    trace.write_bytes(SAMPLE.read_bytes())
    spec_path.write_text(f'[workload]\ntrace = "{trace}"\nmax_jobs = 50\n[grid]\ncluster = [{{nodes = 1}}]\n')
    config = expand(load_spec(spec_path))[0].config
    assert input_files(config) == [str(trace)]
    files = {str(trace): trace.read_bytes()}
    expected = run_one(config)  # on the driver's file
    trace.unlink()  # the "node" has no such path
    shipped = _run_task((), files, config)
    assert shipped.ok and shipped.jobs_ipc == expected.jobs_ipc
    assert {**shipped.summary, "wall_s": 0} == {**expected.summary, "wall_s": 0}  # type: ignore[dict-item]
    copies = local_copies(files, tmp_path / "cache")
    assert Path(copies[str(trace)]).read_bytes() == files[str(trace)]
    assert local_copies(files, tmp_path / "cache") == copies  # written once, found again
