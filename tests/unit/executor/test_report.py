"""`executor.report`: folder kinds by marker files, loading each kind, the numbers behind the plots, and
report.html (self-contained, escaped, deterministic) from real simulate/solve outputs and from compare,
execute, sweep and capacity folders in the layouts their commands write.

The folder builders at the top are shared with test_report_browser.py.
"""

from __future__ import annotations

import base64
import json
import math
import re
import shutil
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.csv  # noqa: F401  (pa.csv)
import pyarrow.parquet as pq
import pytest

from executor.cli.common import OutFormat
from executor.cli.simulate import simulate
from executor.cli.solve_cmd import solve
from executor.compare import compare, load_measured, load_predicted, write_comparison
from executor.report import FolderKind, build_report, detect_kind, fmt
from executor.report.loaders import RunFolder, SolveFolder, SweepFolder, load_folder
from executor.report.stats import (
    MAX_CDF_POINTS,
    ecdf,
    pareto_front,
    quantile_sketch,
    timeline_from_long,
    timeline_from_segments,
    wait_by_size,
)
from simulator.results import write_json, write_table
from traces.errors import TraceError, UserError
from traces.model import Job, Workload
from traces.readers.native import write_native

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"


# ----- folder builders (real command outputs where cheap, the commands' file layouts otherwise) -----
def small_trace(root: Path, n: int = 16) -> Path:
    """n jobs of 1, 2 or 4 GPUs arriving every 30 s, some long enough to queue on 4 GPUs."""
    jobs = [Job(f"j{i:02d}", float(30 * i), float(60 + 25 * (i % 5)), (1, 2, 4)[i % 3]) for i in range(n)]
    return write_native(Workload.from_jobs(jobs), root / "trace.csv")


def simulate_folder(root: Path, policy: str = "fcfs", fmt: OutFormat = OutFormat.csv, name: str | None = None) -> Path:
    """A real `gpusched simulate` output on 1 node x 4 GPUs."""
    out = root / (name or f"sim-{policy}-{fmt.value}")
    simulate(trace=[small_trace(root)], nodes=1, gpus_per_node=4, policy=policy, out=out, fmt=fmt, progress=False)
    return out


def solve_folder(root: Path) -> Path:
    """A real `gpusched solve --solver greedy` output."""
    out = root / "solve"
    solve(trace=[small_trace(root)], nodes=1, gpus_per_node=4, solver="greedy", out=out)
    return out


def execute_folder(root: Path, sim: Path) -> Path:
    """An execute output in `executor.execute`'s layout: the simulated plan replayed 10 % slower, one job failed."""
    jobs = pa.csv.read_csv(sim / "jobs.csv").to_pylist()
    out = root / "exec"
    out.mkdir()
    rows, segs = [], []
    for r in jobs:
        failed = r["job_id"] == "j03"
        start = r["start_s"] + 1.0
        end = math.nan if failed else start + 1.1 * (r["end_s"] - r["start_s"])
        rows.append({"job_id": r["job_id"], "status": "failed" if failed else "completed", "submit_s": r["submit_s"],
                     "start_s": start, "end_s": end, "wait_s": start - r["submit_s"], "jct_s": end - r["submit_s"],
                     "predicted_start_s": r["start_s"], "predicted_end_s": r["end_s"],
                     "predicted_jct_s": r["end_s"] - r["submit_s"], "model": "mlp", "size": 1, "batch_size": 32,
                     "num_devices": r["num_gpus"], "gpu_ids": r["gpu_ids"], "segments": 1, "steps": 10,
                     "steps_done": 5 if failed else 10, "steps_per_s": 1.0, "launch_overhead_s": 0.5, "attempts": 1,
                     "worker": "w0", "error": "boom" if failed else ""})
        segs.append({"job_id": r["job_id"], "segment": 0, "status": rows[-1]["status"], "gpu_ids": r["gpu_ids"],
                     "steps": 10, "predicted_start_s": r["start_s"], "predicted_end_s": r["end_s"], "start_s": start,
                     "end_s": end if not failed else start + 5.0, "launch_overhead_s": 0.5, "checkpoint_s": math.nan,
                     "error": rows[-1]["error"]})
    write_table(pa.Table.from_pylist(rows), out / "jobs.csv", "csv")
    write_table(pa.Table.from_pylist(segs), out / "segments.csv", "csv")
    write_json({"policy": "fcfs", "time_scale": 0.01, "mode": "timed", "devices": [f"n0:{g}" for g in range(4)],
                "jobs": len(rows), "counts": {"completed": len(rows) - 1, "failed": 1}, "notes": ["replayed on CPU"]},
               out / "execute.json")
    (out / "records").mkdir()
    return out


def compare_folder(root: Path, sim: Path, exe: Path) -> Path:
    out = root / "cmp"
    write_comparison([compare(load_predicted(sim), load_measured(exe))], out, "csv")
    return out


SWEEP_CLUSTERS = (("1x4 V100", 4, "V100"), ("2x4 V100", 8, "V100"))
SWEEP_LOADS = (0.5, 1.0, 2.0)
SWEEP_POLICIES = ("fcfs", "sjf")


def sweep_metrics(gpus: int, load: float, policy: str, seed: int) -> dict[str, float]:
    """Made-up but monotone: waits grow with load and shrink with GPUs and under sjf; cost grows with GPUs."""
    wait = 100.0 * load ** 2 * 8 / gpus * (0.6 if policy == "sjf" else 1.0) * (1 + 0.05 * seed)
    return {"num_jobs": 16.0, "mean_wait_s": wait / 3, "p95_wait_s": wait, "mean_jct_s": wait / 2 + 100,
            "gpu_utilisation": min(1.0, 0.4 * load * 8 / gpus), "cost_usd": 3.0 * gpus * (1 + 0.01 * seed),
            "energy_kwh": 0.3 * gpus}


def sweep_folder(root: Path, sim_jobs: Path) -> Path:
    """A sweep output in `simulator.sweep`'s layout: runs.csv (run_id, status done/failed/pending, error, config
    columns, metrics), summary.csv (tidy, Student-t CI over 2 seeds), sweep.json, runs/<id>/ with config.json,
    summary.json, jobs.parquet (a simulate jobs table, waits scaled per run), timeline.parquet; one failed run
    (error.json only) and one pending run (no folder)."""
    out = root / "sweep"
    (out / "runs").mkdir(parents=True)
    base = pa.csv.read_csv(sim_jobs)
    rows, summary = [], []
    k = 0
    for label, gpus, gtype in SWEEP_CLUSTERS:
        for load in SWEEP_LOADS:
            for policy in SWEEP_POLICIES:
                per_seed = []
                for seed in (0, 1, 2):
                    run_id = f"{k:012x}"
                    k += 1
                    columns = {"cluster": label, "num_gpus": gpus, "gpu_type": gtype, "load_scale": load,
                               "policy": policy, "placement": "pack", "admission": "accept-all", "seed": seed}
                    config = {**columns, "run_id": run_id, "cluster": {"label": label, "num_gpus": gpus,
                                                                       "gpu_type": gtype, "nodes": gpus // 4}}
                    run_dir = out / "runs" / run_id
                    if seed == 2:
                        rows.append({"run_id": run_id, "status": "pending", "error": "", **columns})
                        continue
                    run_dir.mkdir()
                    if (label, load, policy, seed) == ("2x4 V100", 2.0, "sjf", 1):
                        rows.append({"run_id": run_id, "status": "failed", "error": "RuntimeError: worker died",
                                     **columns})
                        write_json({"config": config, "type": "RuntimeError", "message": "worker died",
                                    "traceback": "..."}, run_dir / "error.json")
                        continue
                    m = sweep_metrics(gpus, load, policy, seed)
                    per_seed.append(m)
                    rows.append({"run_id": run_id, "status": "done", "error": "", **columns, **m})
                    scale = m["mean_wait_s"] / 100.0
                    jobs = base.set_column(base.schema.get_field_index("wait_s"), "wait_s",
                                           pa.array(np.asarray(base.column("wait_s")) * scale))
                    pq.write_table(jobs, run_dir / "jobs.parquet")
                    pq.write_table(pa.table({"run_id": [run_id] * 4, "t_s": [0.0, 0.0, 50.0, 50.0],
                                             "metric": ["busy_gpus", "queued_jobs"] * 2,
                                             "value": [1.0, 0.0, 2.0, 1.0]}), run_dir / "timeline.parquet")
                    write_json(config, run_dir / "config.json")
                    write_json({"metrics": m, "wall_s": 0.1}, run_dir / "summary.json")
                group = {"cluster": label, "num_gpus": gpus, "gpu_type": gtype, "load_scale": load, "policy": policy,
                         "placement": "pack", "admission": "accept-all"}
                for metric in per_seed[0]:
                    vals = np.array([m[metric] for m in per_seed])
                    mean = float(vals.mean())
                    half = float(vals.std(ddof=1) * 12.706 / math.sqrt(2)) if len(vals) > 1 else math.nan
                    summary.append({**group, "metric": metric, "n": len(vals), "mean": mean,
                                    "std": float(vals.std(ddof=1)) if len(vals) > 1 else math.nan,
                                    "ci95_low": mean - half, "ci95_high": mean + half})
    write_table(pa.Table.from_pylist(rows), out / "runs.csv", "csv")
    write_table(pa.Table.from_pylist(summary), out / "summary.csv", "csv")
    counts = {s: sum(r["status"] == s for r in rows) for s in ("done", "failed", "pending")}
    write_json({"num_runs": len(rows), "counts": counts, "run_ids": [r["run_id"] for r in rows],
                "axes": {"policy": list(SWEEP_POLICIES)}}, out / "sweep.json")
    return out


def capacity_folder(root: Path) -> Path:
    """A capacity output in `simulator.capacity`'s layout: capacity.json (`CapacityResult.to_dict`), capacity.csv
    (quantity x mmc, allen_cunneen, simulation) and probes.csv (every simulated size)."""
    out = root / "capacity"
    out.mkdir()
    write_json({"mode": "size", "target": {"stat": "p95", "wait_s": 600.0}, "gpu_type": "V100", "gpus_per_node": 4,
                "policy": "fcfs", "placement": "pack", "seeds": [0, 1], "load_scale": 1.0,
                "workload": {"num_jobs": 16, "arrival_scv": 1.8, "service_scv": 2.5},
                "theory": {"mmc_gpus": 6, "mmc_nodes": 2, "allen_cunneen_gpus": 9, "allen_cunneen_nodes": 3},
                "simulation": {"nodes": 4, "gpus": 16}, "gap_gpus": 10, "gap_nodes": 2, "monotone": True,
                "comparison": [], "probes": [], "theory_waits": [],
                "explanation": ["gang jobs: 60% of GPU-seconds need 2-4 GPUs at once", "arrival SCV 1.8 > 1"]},
               out / "capacity.json")
    write_table(pa.Table.from_pylist([
        {"quantity": "gpus_needed", "gpus": None, "mmc": 6.0, "allen_cunneen": 9.0, "simulation": 16.0},
        {"quantity": "p95_wait_s", "gpus": 8, "mmc": 300.0, "allen_cunneen": 700.0, "simulation": 5400.0},
        {"quantity": "utilisation", "gpus": 8, "mmc": 0.5, "allen_cunneen": 0.5, "simulation": 0.48}]),
        out / "capacity.csv", "csv")
    probes = [{"nodes": g // 4, "gpus": g, "mean_wait_s": 2000.0 / g, "p95_wait_s": 86400.0 / g ** 2,
               "utilisation": 4.0 / g, "meets_target": 86400.0 / g ** 2 <= 600.0, "mmc_mean_wait_s": 0.0 if g > 8 else 5.0,
               "mmc_p95_wait_s": 0.0 if g > 8 else 30.0, "num_seeds": 2} for g in (8, 12, 16)]
    write_table(pa.Table.from_pylist(probes), out / "probes.csv", "csv")
    return out


def every_kind(root: Path) -> list[Path]:
    """One folder of each kind, in the order a user might give them."""
    sim = simulate_folder(root, "fcfs")
    sim2 = simulate_folder(root, "sjf", OutFormat.parquet)
    exe = execute_folder(root, sim)
    return [sim, sim2, exe, solve_folder(root), compare_folder(root, sim, exe), sweep_folder(root, sim / "jobs.csv"),
            capacity_folder(root)]


@pytest.fixture(scope="module")
def folders(tmp_path_factory: pytest.TempPathFactory) -> list[Path]:
    return every_kind(tmp_path_factory.mktemp("report-inputs"))


@pytest.fixture(scope="module")
def built(folders: list[Path], tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, str]:
    out = tmp_path_factory.mktemp("report-out")
    result = build_report(folders, out, max_gantt_jobs=200)
    return out, result.html.read_text(encoding="utf-8")


# ----- detection ---------------------------------------------------------------------------------
def test_each_folder_kind_is_told_by_its_markers(folders: list[Path]) -> None:
    kinds = [detect_kind(f) for f in folders]
    assert kinds == [FolderKind.simulate, FolderKind.simulate, FolderKind.execute, FolderKind.solve,
                     FolderKind.compare, FolderKind.sweep, FolderKind.capacity]
    run_dir = folders[5] / "runs" / "000000000000"
    assert detect_kind(run_dir) is FolderKind.simulate  # a sweep's run folder: config.json + summary.json


def test_unknown_missing_and_file_inputs_are_one_line_errors(tmp_path: Path) -> None:
    (tmp_path / "stuff").mkdir()
    (tmp_path / "stuff" / "notes.txt").write_text("hi")
    with pytest.raises(UserError) as err:
        detect_kind(tmp_path / "stuff")
    msg = str(err.value)
    assert msg.startswith(f"{tmp_path / 'stuff'}: not a gpusched output folder; expected one of the marker files")
    for marker in ("solve.json (solve)", "execute.json (execute)", "compare.json (compare)",
                   "sweep.json or runs.csv+summary.csv (sweep)", "capacity.json or capacity.csv (capacity)",
                   "run.json or config.json+summary.json (simulate)"):
        assert marker in msg
    assert "\n" not in msg
    with pytest.raises(UserError, match="no such folder"):
        detect_kind(tmp_path / "nowhere")
    with pytest.raises(UserError, match="is a file"):
        detect_kind(tmp_path / "stuff" / "notes.txt")


# ----- loading -----------------------------------------------------------------------------------
def test_simulate_folder_loads_jobs_timeline_and_gpu_bars(folders: list[Path]) -> None:
    run = load_folder(folders[0])
    assert isinstance(run, RunFolder) and run.label == "fcfs" and len(run.jobs) == 16
    jobs = pa.csv.read_csv(folders[0] / "jobs.csv")
    np.testing.assert_array_equal(run.jobs.wait_s, jobs.column("wait_s").to_numpy())
    assert run.timeline is not None and run.timeline.total_gpus == 4
    assert set(run.timeline.series) >= {"busy_gpus", "queued_jobs", "running_jobs"}
    assert float(run.timeline.series["busy_gpus"].max()) <= 4
    assert run.bars is not None and set(run.bars.gpu_ids) == {"n0:0", "n0:1", "n0:2", "n0:3"}
    # The bars hold every GPU-second of the run: sum over jobs of num_gpus x run time.
    gpu_s = float(np.sum(run.bars.end_s - run.bars.start_s))
    expected = float(np.sum((run.jobs.end_s - run.jobs.start_s) * run.jobs.num_gpus))
    assert gpu_s == pytest.approx(expected)
    assert load_folder(folders[0], max_gantt_jobs=15).bars is None  # 16 jobs > 15: segments not even read


def test_parquet_and_json_outputs_load_like_csv(folders: list[Path], tmp_path: Path) -> None:
    csv_run, pq_run = load_folder(folders[0]), load_folder(folders[1])
    json_run = load_folder(simulate_folder(tmp_path, "fcfs", OutFormat.json))
    assert isinstance(csv_run, RunFolder) and isinstance(pq_run, RunFolder) and isinstance(json_run, RunFolder)
    assert pq_run.label == "sjf" and pq_run.timeline is not None and pq_run.bars is not None
    np.testing.assert_array_equal(np.sort(csv_run.jobs.submit_s), np.sort(pq_run.jobs.submit_s))
    np.testing.assert_array_equal(csv_run.jobs.jct_s, json_run.jobs.jct_s)
    assert json_run.timeline is not None and csv_run.timeline is not None
    np.testing.assert_array_equal(csv_run.timeline.series["busy_gpus"], json_run.timeline.series["busy_gpus"])
    assert json_run.metrics == csv_run.metrics


def test_execute_folder_is_a_run_with_its_plan_compared(folders: list[Path]) -> None:
    run = load_folder(folders[2])
    assert isinstance(run, RunFolder) and run.kind is FolderKind.execute and run.label == "fcfs"
    assert run.comparison is not None
    s = run.comparison.summary
    assert s.n_compared == 15 and dict(s.statuses) == {"completed": 15, "failed": 1}
    assert run.timeline is not None and run.timeline.total_gpus == 4 and run.notes == ("replayed on CPU",)


def test_solve_and_sweep_folders_load(folders: list[Path]) -> None:
    sol = load_folder(folders[3])
    assert isinstance(sol, SolveFolder) and sol.label == "solver:greedy" and sol.num_jobs == 16
    assert sol.bars is not None and "queued_jobs" not in sol.timeline.series  # a schedule has no queue
    sweep = load_folder(folders[5])
    assert isinstance(sweep, SweepFolder)
    assert sweep.failed == (("000000000022", "RuntimeError: worker died"),) and sweep.num_pending == 12
    assert set(sweep.jct_by_policy) == {"fcfs", "sjf"}
    assert sweep.jct_by_policy["fcfs"].n == 16 * 12 and sweep.jct_by_policy["sjf"].n == 16 * 11
    one = load_folder(folders[5] / "runs" / "000000000000")  # one run of the sweep, on its own
    assert isinstance(one, RunFolder) and one.label == "fcfs" and one.metrics["p95_wait_s"] == 50.0
    assert one.timeline is not None and one.timeline.total_gpus == 4 and one.bars is None  # no segments kept


def test_malformed_inputs_are_one_line_errors(tmp_path: Path, folders: list[Path]) -> None:
    bad = tmp_path / "bad-sim"
    bad.mkdir()
    (bad / "run.json").write_text("{}")
    (bad / "jobs.csv").write_text("job_id,submit_s,start_s,end_s\na,0,abc,5\n")
    with pytest.raises(TraceError) as err:
        load_folder(bad)
    assert str(err.value) == f"{bad / 'jobs.csv'}: field 'start_s': expected a number or an empty cell but found 'abc'"
    (bad / "jobs.csv").write_text("job_id,submit_s,end_s\na,0,5\n")
    with pytest.raises(TraceError, match="not a jobs table: missing column.s. start_s"):
        load_folder(bad)
    (bad / "run.json").write_text("{nope")
    with pytest.raises(TraceError, match="run.json: line 1: not valid JSON"):
        load_folder(bad)
    sweep = tmp_path / "bad-sweep"
    sweep.mkdir()
    (sweep / "sweep.json").write_text("{}")
    with pytest.raises(TraceError, match="has sweep.json but no runs.csv"):
        load_folder(sweep)


@pytest.mark.parametrize("run_id", ["../../outside", "..", ".", "a/b", "/etc", "a\\b", "", "run 1"])
def test_a_sweep_run_id_that_is_not_a_plain_name_is_a_one_line_error(
    run_id: str, folders: list[Path], tmp_path: Path
) -> None:
    # A finished run whose id would lead from runs/ to a jobs table outside the sweep folder.
    sweep = tmp_path / "sweep"
    shutil.copytree(folders[5], sweep)
    outside = tmp_path / "outside"
    outside.mkdir()
    shutil.copy(next((sweep / "runs" / "000000000000").glob("jobs.*")), outside)
    runs = pa.csv.read_csv(sweep / "runs.csv", convert_options=pa.csv.ConvertOptions(column_types={"run_id": pa.string()}))
    ids = runs.column("run_id").to_pylist()
    row = runs.column("status").to_pylist().index("done")
    ids[row] = run_id
    column = runs.column_names.index("run_id")
    write_table(runs.set_column(column, "run_id", pa.array(ids, pa.string())), sweep / "runs.csv", "csv")
    with pytest.raises(TraceError) as err:
        load_folder(sweep)
    assert str(err.value) == (f"{sweep / 'runs.csv'}:{row + 1}: field 'run_id': not a run folder name; expected letters, "
                              f"digits, '_' and '-' only but found {run_id!r}")
    assert "\n" not in str(err.value)


# ----- the numbers behind the plots -------------------------------------------------------------
def test_ecdf_is_bounded_keeps_the_ends_and_matches_the_exact_cdf() -> None:
    rng = np.random.default_rng(0)
    values = rng.exponential(100.0, 100_000)
    values[::1000] = np.nan
    c = ecdf(values)
    assert c.n == 99_900 and len(c.x) <= MAX_CDF_POINTS
    finite = np.sort(values[np.isfinite(values)])
    assert c.x[0] == finite[0] and c.x[-1] == finite[-1] and c.p[-1] == 1.0
    assert np.all(np.diff(c.x) >= 0) and np.all(np.diff(c.p) > 0)
    exact = np.searchsorted(finite, c.x, side="right") / len(finite)
    np.testing.assert_allclose(c.p, exact, atol=1e-4)
    small = ecdf(np.array([3.0, 1.0, 2.0, 2.0]))
    np.testing.assert_array_equal(small.x, [1, 2, 2, 3])
    np.testing.assert_array_equal(small.p, [0.25, 0.5, 0.75, 1.0])


def test_pooled_sketches_count_each_job_once() -> None:
    rng = np.random.default_rng(1)
    runs = [rng.exponential(10.0, 50_000), rng.exponential(1000.0, 500)]  # sizes differ 100x
    parts = [quantile_sketch(r) for r in runs]
    pooled = ecdf(np.concatenate([x for x, _ in parts]), np.concatenate([w for _, w in parts]))
    exact = np.sort(np.concatenate(runs))
    assert pooled.n == 50_500
    for q in (0.5, 0.9, 0.99):
        got = float(pooled.x[np.searchsorted(pooled.p, q)])
        assert got == pytest.approx(float(np.quantile(exact, q)), rel=0.05)


def test_pareto_front_by_hand() -> None:
    x = np.array([1.0, 2.0, 3.0, 2.0, 1.0, np.nan, 4.0, 2.0])
    y = np.array([9.0, 5.0, 1.0, 6.0, 9.0, 0.0, 1.0, 5.0])
    # (1,9) twice: both on it; (2,5) twice: both; (3,1) on it; (2,6) and (4,1) beaten; NaN never.
    assert pareto_front(x, y).tolist() == [True, True, True, False, True, False, False, True]


def test_wait_by_size_buckets_by_hand() -> None:
    gpus = np.array([1, 1, 2, 3, 4, 8, 64, 65, np.nan])
    wait = np.array([0.0, 10.0, 5.0, 1.0, 3.0, 7.0, 2.0, 4.0, 9.0])
    stats = {s.bucket: s for s in wait_by_size(gpus, wait)}
    assert list(stats) == ["1", "2", "3-4", "5-8", "33-64", "65+"]
    assert stats["1"].n == 2 and stats["1"].mean_s == 5.0 and stats["1"].median_s == 5.0
    assert stats["3-4"].n == 2 and stats["3-4"].mean_s == 2.0


def test_timelines_from_segments_and_long_form() -> None:
    # Two jobs submitted at 0: a 2-GPU one runs 0-10, a 1-GPU one queues until 10 and runs 10-30.
    t = timeline_from_segments(np.array([0.0, 10.0]), np.array([10.0, 30.0]), np.array([2, 1]),
                               submit_s=np.array([0.0, 0.0]), job_end_s=np.array([10.0, 30.0]), total_gpus=2)
    assert t.t_s.tolist() == [0.0, 10.0, 30.0]
    assert t.series["busy_gpus"].tolist() == [2, 1, 0]
    assert t.series["queued_jobs"].tolist() == [1, 0, 0]
    long = timeline_from_long(np.array([0.0, 0.0, 5.0, 5.0]), ["busy_gpus", "queued_jobs"] * 2,
                              np.array([1.0, 3.0, 2.0, 0.0]), 4)
    assert long.t_s.tolist() == [0.0, 5.0] and long.series["queued_jobs"].tolist() == [3.0, 0.0]
    big = timeline_from_segments(np.arange(50_000.0), np.arange(50_000.0) + 3, np.ones(50_000, dtype=np.int64))
    assert len(big.t_s) <= 2000 and float(big.series["busy_gpus"].max()) == 3


# ----- the report --------------------------------------------------------------------------------
def _images(page: str) -> list[str]:
    return re.findall(r'<img src="([^"]*)"', page)


def test_report_has_a_section_per_kind_and_embeds_every_png(built: tuple[Path, str]) -> None:
    out, page = built
    for title in ("Inputs", "Runs", "JCT and wait distributions", "Wait by job size", "Utilisation and queue over time",
                  "GPU Gantt charts", "fcfs (exec): planned vs measured", "Solve: solver:greedy",
                  "Predicted vs measured", "Sweep: p95_wait_s by cluster and load scale",
                  "Sweep: cost_usd against p95 wait", "Sweep: JCT and wait CDFs per policy",
                  "Sweep: summary per configuration", "Sweep: failed runs", "Capacity"):
        assert f">{title}" in page, title
    srcs = _images(page)
    pngs = sorted(p.name for p in out.glob("*.png"))
    assert len(srcs) == len(pngs) >= 15
    embedded = sorted(base64.b64decode(s.removeprefix("data:image/png;base64,")) for s in srcs)
    assert all(s.startswith("data:image/png;base64,") for s in srcs)
    assert embedded == sorted((out / p).read_bytes() for p in pngs)
    assert all(b.startswith(PNG_SIGNATURE) for b in embedded)
    # Nothing to fetch: no other src/href than data: URIs and in-page anchors.
    refs = re.findall(r'(?:src|href)="([^"]*)"', page)
    assert refs and all(r.startswith(("data:", "#")) for r in refs)
    assert "<script" not in page and "http://" not in page and "https://" not in page


def test_report_tables_show_sweep_means_with_intervals_and_the_failed_run(built: tuple[Path, str]) -> None:
    _, page = built
    m = sweep_metrics(4, 2.0, "fcfs", 0)
    m1 = sweep_metrics(4, 2.0, "fcfs", 1)
    mean = (m["p95_wait_s"] + m1["p95_wait_s"]) / 2
    row = re.search(r"<tr><td>1x4 V100</td><td[^>]*>4</td><td>V100</td><td[^>]*>2.0</td><td>fcfs</td>.*?</tr>", page)
    assert row is not None and f">{fmt.duration(mean)} [" in row.group(0)
    assert "RuntimeError: worker died" in page and "12 run(s) pending" in page


def test_report_capacity_section_sets_theory_beside_simulation(built: tuple[Path, str]) -> None:
    out, page = built
    row = re.search(r"<tr><td>GPUs needed</td>.*?</tr>", page)
    assert row is not None and re.findall(r">([^<]*)</td>", row.group(0)) == ["GPUs needed", "", "6", "9", "16"]
    row = re.search(r"<tr><td>p95 wait</td>.*?</tr>", page)
    assert row is not None and re.findall(r">([^<]*)</td>", row.group(0)) == ["p95 wait", "8", "5.0 min", "11.7 min",
                                                                              "90.0 min"]
    assert "<li>gang jobs: 60% of GPU-seconds need 2-4 GPUs at once</li>" in page
    assert (out / "7-capacity-probes.png").read_bytes().startswith(PNG_SIGNATURE)
    assert "Gantt chart left out" not in page  # every run here has 16 jobs <= 200


def test_a_sweep_without_summary_csv_averages_runs_csv(folders: list[Path], tmp_path: Path) -> None:
    sweep = tmp_path / "sweep"
    shutil.copytree(folders[5], sweep)
    (sweep / "summary.csv").unlink()
    page = build_report([sweep], tmp_path / "out").html.read_text()
    assert ">Sweep: p95_wait_s by cluster and load scale<" in page and ">Sweep: cost_usd against p95 wait<" in page
    m0, m1 = sweep_metrics(4, 2.0, "fcfs", 0), sweep_metrics(4, 2.0, "fcfs", 1)
    row = re.search(r"<tr><td>1x4 V100</td><td[^>]*>4</td><td>V100</td><td[^>]*>2.0</td><td>fcfs</td>.*?</tr>", page)
    assert row is not None and f">{fmt.duration((m0['p95_wait_s'] + m1['p95_wait_s']) / 2)}<" in row.group(0)


def test_labels_and_notes_are_escaped_and_big_runs_skip_the_gantt(tmp_path: Path) -> None:
    sim = simulate_folder(tmp_path, "fcfs", name="evil")
    doc = json.loads((sim / "run.json").read_text())
    doc["config"]["policy"] = "<script>alert(1)</script>"
    doc["notes"] = ['a & b <img src="http://x/y.png">']
    (sim / "run.json").write_text(json.dumps(doc))
    result = build_report([sim], tmp_path / "out", max_gantt_jobs=10)
    page = result.html.read_text()
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in page and "<script>" not in page
    assert "a &amp; b &lt;img src=&quot;http://x/y.png&quot;&gt;" in page
    assert "Gantt chart left out: 16 jobs, more than --max-gantt-jobs 10" in page
    assert not list((tmp_path / "out").glob("runs-gantt*.png"))


def test_report_is_deterministic(folders: list[Path], tmp_path: Path) -> None:
    a = build_report(folders[:4], tmp_path / "a")
    b = build_report(folders[:4], tmp_path / "b")
    assert a.html.read_bytes() == b.html.read_bytes()
    assert [p.name for p in a.images] == [p.name for p in b.images]
    assert all(p.read_bytes() == q.read_bytes() for p, q in zip(a.images, b.images, strict=True))


def test_a_100k_job_run_is_reduced_before_drawing(tmp_path: Path) -> None:
    """A simulate-like folder with 100k jobs: CDF lines and timelines stay bounded, no Gantt is drawn."""
    n = 100_000
    rng = np.random.default_rng(2)
    submit = np.sort(rng.uniform(0, 1e6, n))
    wait = rng.exponential(500.0, n)
    run = rng.exponential(3000.0, n)
    out = tmp_path / "big"
    out.mkdir()
    gpus = rng.choice([1, 2, 4, 8], n)
    pq.write_table(pa.table({"job_id": [f"j{i}" for i in range(n)], "submit_s": submit, "start_s": submit + wait,
                             "end_s": submit + wait + run, "wait_s": wait, "jct_s": wait + run, "num_gpus": gpus,
                             "status": ["completed"] * n}), out / "jobs.parquet")
    t = np.repeat(np.linspace(0, 1.1e6, 2000), 3)
    pq.write_table(pa.table({"run_id": ["r"] * 6000, "t_s": t, "metric": ["busy_gpus", "queued_jobs",
                                                                         "running_jobs"] * 2000,
                             "value": rng.uniform(0, 64, 6000)}), out / "timeline.parquet")
    write_json({"config": {"policy": "fcfs"}, "cluster": "8 nodes, 64 GPUs (64 x V100)"}, out / "run.json")
    loaded = load_folder(out)
    assert isinstance(loaded, RunFolder) and loaded.bars is None and loaded.timeline is not None
    assert len(ecdf(loaded.jobs.jct_s).x) <= MAX_CDF_POINTS
    result = build_report([out], out)
    page = result.html.read_text()
    assert "Gantt chart left out: 100,000 jobs" in page and len(_images(page)) == 3


def test_ids_that_look_like_numbers_stay_text(tmp_path: Path) -> None:
    """A 12-hex run id can be all digits; read as a number it would lose its leading zeros."""
    from executor.report.tables import read_table

    path = tmp_path / "runs.csv"
    path.write_text("run_id,job_id,num_gpus\n000000000022,007,8\n")
    table = read_table(path)
    assert table.column("run_id").to_pylist() == ["000000000022"]
    assert table.column("job_id").to_pylist() == ["007"]
    assert table.column("num_gpus").to_pylist() == [8]
