"""Sweeps end to end on a slice of the sample: plain-data runs, recorded failures, byte-identical
tables, resume without touching finished runs, the lock, and the spawned pool with plug-ins."""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path

import pytest

from simulator.policies import POLICIES
from simulator.sweep import PoolBackend, SequentialBackend, expand, load_spec, run_one, run_sweep
from simulator.sweep.runner import from_ipc
from simulator.sweep.store import SweepStore
from traces.errors import UserError

REPO = Path(__file__).resolve().parents[4]
SAMPLE = REPO / "traces" / "data" / "itp-cluster05.csv"
# 1x4 GPUs is too small for the 8-GPU jobs among the first 200: those runs fail at run time (check_fits).
SPEC = f"""
[workload]
trace = "{SAMPLE}"
max_jobs = 200
[grid]
cluster = [{{nodes = 1, gpus_per_node = [4, 8]}}]
load_scale = [1.0, 2.0]
policy = ["fcfs", "las"]
seeds = 2
[settings]
node_mtbf_s = 864000         # node failures: seeds give different runs
checkpoint_interval_s = 1800
[policy_params.las]
quantum_gpu_s = 3600
"""
PLUGIN = '''
from simulator.policies import register_policy
from simulator.policies.fcfs import FcfsPolicy

class PluginFcfs(FcfsPolicy):
    key = "fcfs-plugin"

register_policy(PluginFcfs)
'''


@pytest.fixture()
def spec_path(tmp_path: Path) -> Path:
    path = tmp_path / "spec.toml"
    path.write_text(SPEC, encoding="utf-8")
    return path


def _files(root: Path) -> dict[str, tuple[int, bytes]]:
    return {str(p.relative_to(root)): (p.stat().st_mtime_ns, p.read_bytes()) for p in sorted(root.rglob("*"))
            if p.is_file()}


def test_run_one_takes_and_gives_plain_data(spec_path: Path) -> None:
    run = next(r for r in expand(load_spec(spec_path)) if r.columns()["cluster"] == "1x8 V100")
    config = json.loads(json.dumps(run.config))  # survives JSON, so any backend can ship it
    out = run_one(config)
    assert out.ok and out.run_id == run.run_id and out.error is None
    assert out.summary is not None and out.summary["metrics"]["num_jobs"] == 200
    assert out.summary["run_id"] == run.run_id and out.summary["wall_s"] >= 0
    json.dumps(out.summary, allow_nan=False)
    jobs = from_ipc(out.jobs_ipc)
    assert jobs.num_rows == 200 and set(jobs.column("run_id").to_pylist()) == {run.run_id}
    assert from_ipc(out.timeline_ipc).num_rows > 0


def test_a_run_that_raises_is_an_output_with_its_error(spec_path: Path) -> None:
    run = next(r for r in expand(load_spec(spec_path)) if r.columns()["cluster"] == "1x4 V100")
    out = run_one(run.config)
    assert not out.ok and out.summary is None and out.jobs_ipc == b""
    assert out.error is not None and out.error["type"] == "UserError"
    assert "can never run on this cluster: it needs 8 GPUs but the cluster has only 4 GPUs" in out.error["message"]
    assert "\n" not in out.error["message"] and "Traceback" in out.error["traceback"]


def test_same_spec_same_ids_and_byte_identical_tables_with_failures_recorded(spec_path: Path, tmp_path: Path) -> None:
    spec = load_spec(spec_path)
    a = run_sweep(spec, tmp_path / "a", SequentialBackend())
    b = run_sweep(load_spec(spec_path), tmp_path / "b", SequentialBackend(), table_format="csv")
    assert [r.run_id for r in a.runs] == [r.run_id for r in b.runs]
    assert (a.total, a.done, a.failed, a.ran, a.before) == (16, 8, 8, 16, 0)
    for name in ("runs.csv", "summary.csv", "sweep.json"):
        if name != "sweep.json":
            assert (tmp_path / "a" / name).read_bytes() == (tmp_path / "b" / name).read_bytes(), name
    header = (tmp_path / "a" / "runs.csv").read_text().splitlines()[0].split(",")
    assert header[:11] == ["run_id", "status", "error", "cluster", "num_gpus", "gpu_type", "load_scale", "policy",
                           "placement", "admission", "seed"]
    assert "wall_s" not in header and "num_jobs" in header and "p95_wait_s" in header
    done = [r for r in a.runs if r.columns()["cluster"] == "1x8 V100"]
    for r in done:
        d = tmp_path / "a" / "runs" / r.run_id
        assert sorted(p.name for p in d.iterdir()) == ["config.json", "jobs.parquet", "summary.json",
                                                       "timeline.parquet"]
        assert json.loads((d / "config.json").read_text())["run_id"] == r.run_id
    assert (tmp_path / "b" / "runs" / done[0].run_id / "jobs.csv").is_file()
    failed = set(a.failed_ids)
    assert len(failed) == 8
    for run_id in failed:
        err = json.loads((tmp_path / "a" / "runs" / run_id / "error.json").read_text())
        assert err["type"] == "UserError" and "can never run" in err["message"] and err["traceback"]
        assert err["config"]["cluster"]["label"] == "1x4 V100"
    sweep = json.loads((tmp_path / "a" / "sweep.json").read_text())
    assert sweep["run_ids"] == [r.run_id for r in a.runs] and sweep["counts"] == {"done": 8, "failed": 8, "pending": 0}
    assert sweep["spec_text"] == SPEC
    # Node failures make seeds differ: the summary has non-degenerate intervals over 2 seeds.
    rows = [r for r in a.summary.to_pylist() if r["metric"] == "mean_jct_s" and r["n"] == 2]
    assert len(rows) == 4 and any(r["std"] > 0 for r in rows)
    assert not (tmp_path / "a" / "sweep.lock").exists()


def test_a_rerun_skips_finished_runs_untouched_and_retries_failed_ones(spec_path: Path, tmp_path: Path) -> None:
    spec = load_spec(spec_path)
    out = tmp_path / "out"
    first = run_sweep(spec, out)
    tables = {n: (out / n).read_bytes() for n in ("runs.csv", "summary.csv")}
    runs_before = _files(out / "runs")
    again = run_sweep(spec, out, retry_failed=False)
    assert (again.ran, again.before, again.done, again.failed) == (0, 8, 8, 8)
    assert _files(out / "runs") == runs_before
    assert {n: (out / n).read_bytes() for n in tables} == tables
    retried = run_sweep(spec, out)
    assert (retried.ran, retried.done, retried.failed) == (8, 8, 8)
    after = _files(out / "runs")
    for run_id in set(r.run_id for r in first.runs) - set(first.failed_ids):
        assert {k: v for k, v in after.items() if k.startswith(run_id)} == \
               {k: v for k, v in runs_before.items() if k.startswith(run_id)}
    assert {n: (out / n).read_bytes() for n in tables} == tables


def test_missing_runs_are_done_and_half_written_leftovers_removed(spec_path: Path, tmp_path: Path) -> None:
    spec = load_spec(spec_path)
    out = tmp_path / "out"
    whole = run_sweep(spec, out)
    tables = {n: (out / n).read_bytes() for n in ("runs.csv", "summary.csv")}
    gone = [r.run_id for r in whole.runs if r.run_id not in whole.failed_ids][:3]
    for run_id in gone:
        for p in (out / "runs" / run_id).iterdir():
            p.unlink()
        (out / "runs" / run_id).rmdir()
    leftover = out / "runs" / f".tmp-{gone[0]}-x"
    leftover.mkdir()
    (leftover / "summary.json").write_text("{")
    (out / "runs.csv").unlink()
    seen: list[tuple[int, int, int]] = []
    resumed = run_sweep(spec, out, progress=lambda d, f, t: seen.append((d, f, t)))
    assert resumed.ran == 3 + 8 and not leftover.exists()
    assert seen[0] == (5, 0, 16) and seen[-1] == (8, 8, 16) and len(seen) == 12
    assert {n: (out / n).read_bytes() for n in tables} == tables


def test_a_second_sweep_on_the_same_folder_is_refused(spec_path: Path, tmp_path: Path) -> None:
    out = tmp_path / "out"
    with SweepStore(out).locked(), pytest.raises(UserError, match=rf"another sweep \(pid {os.getpid()}\) is writing"):
        run_sweep(load_spec(spec_path), out)
    assert run_sweep(load_spec(spec_path), out).done == 8  # the lock is released with its holder


def test_the_spawned_pool_imports_plugins_and_gives_the_same_tables(spec_path: Path, tmp_path: Path,
                                                                    monkeypatch: pytest.MonkeyPatch) -> None:
    plugins = tmp_path / "plugins"
    plugins.mkdir()
    (plugins / "sweep_test_plugin.py").write_text(PLUGIN)
    monkeypatch.syspath_prepend(str(plugins))  # spawned workers get the driver's sys.path
    import sweep_test_plugin  # noqa: F401  (the driver checks policy keys against its registry)

    try:
        spec_path.write_text(SPEC.replace('policy = ["fcfs", "las"]', 'policy = ["fcfs", "las", "fcfs-plugin"]'))
        spec = load_spec(spec_path)
        seq = run_sweep(spec, tmp_path / "seq", SequentialBackend())
        pool = run_sweep(spec, tmp_path / "pool", PoolBackend(2, plugin_modules=["sweep_test_plugin"]))
    finally:
        POLICIES.pop("fcfs-plugin", None)
        sys.modules.pop("sweep_test_plugin", None)
    assert (pool.done, pool.failed) == (seq.done, seq.failed) == (12, 12)
    for name in ("runs.csv", "summary.csv"):
        assert (tmp_path / "pool" / name).read_bytes() == (tmp_path / "seq" / name).read_bytes(), name


def test_a_synth_workload_is_drawn_from_each_runs_seed(tmp_path: Path) -> None:
    (tmp_path / "s.toml").write_text("num_jobs = 300\nload = 0.9\ncluster_gpus = 8\nmean_duration_s = 3600\n"
                                     "gpu_counts = [[1, 0.5], [2, 0.5]]\n")
    (tmp_path / "spec.toml").write_text('[workload]\nsynth = "s.toml"\n[grid]\ncluster = {nodes = 1}\nseeds = 2\n')
    spec = load_spec(tmp_path / "spec.toml")
    out = run_sweep(spec, tmp_path / "out")
    assert (out.done, out.num_jobs) == (2, 300)
    waits = [r["mean_wait_s"] for r in out.table.to_pylist()]
    assert waits[0] != waits[1]  # another seed, another workload
    again = run_one(expand(spec)[0].config)
    assert again.summary is not None and again.summary["metrics"]["mean_wait_s"] == waits[0]
