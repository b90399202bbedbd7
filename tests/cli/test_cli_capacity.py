"""`gpusched capacity`: the side-by-side table, the written files, reverse mode and one-line errors."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import pytest
import typer
from typer.testing import CliRunner

from executor.cli.capacity_cmd import capacity

runner = CliRunner()
app = typer.Typer()
app.command()(capacity)

# Three one-GPU jobs, two at once: one GPU makes the second wait 100 s and the third 190 s.
CROWD = "job_id,submit_s,duration_s,num_gpus\na,0,100,1\nb,0,100,1\nc,10,100,1\n"


def run(*args: str | Path) -> tuple[int, str, str]:
    result = runner.invoke(app, [str(a) for a in args])
    return result.exit_code, result.stdout, result.stderr


def write_trace(tmp_path: Path, text: str = CROWD) -> Path:
    path = tmp_path / "t.csv"
    path.write_text(text)
    return path


def read_csv(path: Path) -> list[dict[str, str]]:
    with path.open(newline="") as f:
        return list(csv.DictReader(f))


def test_help_has_examples() -> None:
    code, out, _ = run("--help")
    assert code == 0 and "Example" in out and "--p95-wait-s" in out and "--gpus" in out


def test_sample_slice_sizes_the_cluster_and_writes_files(tmp_path: Path) -> None:
    out_dir = tmp_path / "cap"
    code, out, err = run("--gpu-type", "V100", "--p95-wait-s", "3600", "--max-jobs", "400", "--seeds", "2",
                         "--no-progress", "--out", out_dir)
    assert code == 0, err
    assert "using the first 400 of 3629 jobs" in err
    for heading in ("M/M/c", "Allen-Cunneen", "simulation", "GPUs needed", "nodes needed (x 8)",
                    "(simulated answer)"):
        assert heading in out
    assert "- gang jobs:" in out and "- arrival SCV" in out and "- service SCV" in out

    doc = json.loads((out_dir / "capacity.json").read_text())
    assert doc["mode"] == "size" and doc["target"] == {"stat": "p95", "wait_s": 3600.0}
    assert doc["seeds"] == [0, 1] and doc["gpus_per_node"] == 8 and doc["gpu_type"] == "V100"
    sim_gpus = doc["simulation"]["gpus"]
    assert sim_gpus == 8 * doc["simulation"]["nodes"]
    assert doc["gap_gpus"] == sim_gpus - doc["theory"]["mmc_gpus"]
    assert doc["workload"]["num_jobs"] == 400 and doc["workload"]["gang_share"] > 0
    assert doc["trace"] == ["sample: traces/data/itp-cluster05.csv"]

    comp = read_csv(out_dir / "capacity.csv")
    needed = next(r for r in comp if r["quantity"] == "gpus_needed")
    assert float(needed["simulation"]) == sim_gpus and float(needed["mmc"]) == doc["theory"]["mmc_gpus"]
    probes = read_csv(out_dir / "probes.csv")
    assert [int(r["nodes"]) for r in probes] == sorted({int(r["nodes"]) for r in probes})
    answer = next(r for r in probes if int(r["gpus"]) == sim_gpus)
    assert answer["meets_target"] == "True" and float(answer["p95_wait_s"]) <= 3600
    below = [r for r in probes if int(r["gpus"]) == sim_gpus - 8]
    assert below == [] or below[0]["meets_target"] == "False"
    assert all(r["num_seeds"] == "2" for r in probes)
    assert not [p.name for p in out_dir.iterdir() if p.name.startswith(".")]  # no temp files left


def test_reverse_mode_prints_theory_and_simulated_waits(tmp_path: Path) -> None:
    code, out, err = run(write_trace(tmp_path), "--gpu-type", "V100", "--gpus", "1", "--gpus-per-node", "1",
                         "--seeds", "1")
    assert code == 0, err
    assert "waits on 1 GPUs" in out
    assert "mean wait on 1 GPUs" in out and "p95 wait on 1 GPUs" in out
    assert "GPUs needed" not in out
    # Waits 0, 100, 190: mean 96.67 s.
    assert "97 s" in out


def test_mean_target_with_a_speed_table(tmp_path: Path) -> None:
    speeds = tmp_path / "speeds.toml"
    speeds.write_text('[reference]\ntype = "V100"\n[types]\nA100 = 2.0\n')
    out_dir = tmp_path / "o"
    code, _, err = run(write_trace(tmp_path), "--gpu-type", "A100", "--speed-table", speeds, "--mean-wait-s", "30",
                       "--gpus-per-node", "1", "--seeds", "1", "--out", out_dir)
    assert code == 0, err
    doc = json.loads((out_dir / "capacity.json").read_text())
    assert doc["workload"]["mean_service_gpu_s"] == pytest.approx(50.0)  # 100 s at twice the speed
    assert doc["target"] == {"stat": "mean", "wait_s": 30.0}


@pytest.mark.parametrize("args,message", [
    ([], "give exactly one of --p95-wait-s SECONDS, --mean-wait-s SECONDS"),
    (["--p95-wait-s", "60", "--mean-wait-s", "60"], "got --p95-wait-s and --mean-wait-s"),
    (["--p95-wait-s", "60", "--gpus", "8"], "got --p95-wait-s and --gpus"),
    (["--p95-wait-s", "-1"], "--p95-wait-s must be a finite number of seconds >= 0, got -1"),
    (["--mean-wait-s", "0"], "--mean-wait-s must be a finite number of seconds > 0, got 0"),
    (["--gpus", "0"], "--gpus must be an integer >= 1, got 0"),
    (["--gpus", "3", "--gpus-per-node", "2"], "3 GPUs is not a whole number of nodes of 2 GPUs"),
    (["--mean-wait-s", "60", "--seeds", "0"], "--seeds must be an integer >= 1, got 0"),
    (["--mean-wait-s", "60", "--load-scale", "-2"], "--load-scale must be a finite number > 0"),
    (["--mean-wait-s", "60", "--policy", "nope"], "unknown policy 'nope'"),
    (["--p95-wait-s", "0", "--gpus-per-node", "1", "--max-nodes", "2"],
     "no cluster of up to 2 nodes x 1 V100 GPUs (2 GPUs) meets p95 wait <= 0 s; the best found is 2 nodes"),
])
def test_bad_inputs_are_one_line_errors(tmp_path: Path, args: list[str], message: str) -> None:
    code, out, err = run(write_trace(tmp_path), "--gpu-type", "V100", "--seeds", "1", *args)
    assert code == 2, out
    lines = err.strip().splitlines()
    assert lines[-1].startswith("gpusched: error: ")
    assert message in lines[-1]
    assert out == ""


def test_unknown_gpu_type_for_the_speed_table_is_one_line(tmp_path: Path) -> None:
    speeds = tmp_path / "speeds.toml"
    speeds.write_text('[reference]\ntype = "V100"\n[types]\nA100 = 2.0\n')
    code, _, err = run(write_trace(tmp_path), "--gpu-type", "H100", "--speed-table", speeds, "--mean-wait-s", "60")
    assert code == 2
    assert err.strip().splitlines() == [
        f"gpusched: error: {speeds}: the speed table has no factor for GPU type H100; it knows A100, V100 "
        "(reference V100)"
    ]
