"""What-if commands refuse to mix outputs and say what they assume: output folders of another
command, a sweep folder of another spec, cluster files with the same name, GPU types written
twice, GPU types that run at the trace's speed, a user's catalog in capacity."""

from __future__ import annotations

import csv
from pathlib import Path

import pytest
from typer.testing import CliRunner

from executor.cli.main import app
from simulator.sweep import load_spec
from traces.errors import TraceError

SAMPLE = Path(__file__).resolve().parents[2] / "traces" / "data" / "itp-cluster05.csv"


def _invoke(*args: str) -> tuple[int, str]:
    result = CliRunner().invoke(app, list(args))
    return result.exit_code, result.output


def _spec(path: Path, grid: str = 'cluster = [{nodes = 2, gpus_per_node = 8}]') -> Path:
    path.write_text(f'[workload]\ntrace = "{SAMPLE.as_posix()}"\nmax_jobs = 60\n[grid]\n{grid}\nseeds = 1\n')
    return path


def test_a_sweep_does_not_write_into_a_simulate_folder_nor_capacity_into_a_sweep(tmp_path: Path) -> None:
    sim = tmp_path / "sim"
    code, out = _invoke("simulate", "--no-progress", "--out", str(sim))
    assert code == 0, out
    summary = (sim / "summary.csv").read_bytes()
    code, out = _invoke("sweep", str(_spec(tmp_path / "s.toml")), "--out", str(sim), "--jobs", "1", "--no-progress")
    assert code == 2 and "holds the output of `gpusched simulate` (run.json)" in out and "\n" not in out.strip()
    assert (sim / "summary.csv").read_bytes() == summary and not (sim / "sweep.json").exists()
    study = tmp_path / "study"
    code, out = _invoke("sweep", str(_spec(tmp_path / "s.toml")), "--out", str(study), "--jobs", "1",
                        "--no-progress", "--no-report")
    assert code == 0, out
    code, out = _invoke("capacity", "--gpu-type", "V100", "--gpus", "8", "--max-jobs", "60", "--seeds", "1",
                        "--no-progress", "--out", str(study))
    assert code == 2 and "holds the output of `gpusched sweep`" in out
    code, out = _invoke("simulate", "--no-progress", "--out", str(study))
    assert code == 2 and "holds the output of `gpusched sweep`" in out


def test_a_sweep_folder_of_another_spec_is_said_so(tmp_path: Path) -> None:
    study = tmp_path / "study"
    args = ("--out", str(study), "--jobs", "1", "--no-progress", "--no-report")
    assert _invoke("sweep", str(_spec(tmp_path / "a.toml")), *args)[0] == 0
    code, out = _invoke("sweep", str(_spec(tmp_path / "b.toml", 'cluster = [{nodes = 3, gpus_per_node = 8}]')), *args)
    assert code == 0 and "holds a sweep of another spec: 1 of its runs are not in this grid" in out
    with (study / "runs.csv").open() as f:
        assert [r["cluster"] for r in csv.DictReader(f)] == ["3x8 V100"]
    assert len(list((study / "runs").iterdir())) == 2  # the first spec's run is kept


def test_cluster_files_of_the_same_name_are_told_apart(tmp_path: Path) -> None:
    for sub, nodes in (("a", 2), ("b", 4)):
        (tmp_path / sub).mkdir()
        (tmp_path / sub / "big.toml").write_text(
            f'[[nodes]]\ncount = {nodes}\nnum_gpus = {16 // nodes}\ngpu_type = "V100"\ngpu_mem_gib = 32\n')
    spec = load_spec(_spec(tmp_path / "s.toml", 'cluster = [{cluster = "a/big.toml"}, {cluster = "b/big.toml"}]'))
    assert [c.label for c in spec.clusters] == ["a/big.toml", "b/big.toml"]
    with pytest.raises(TraceError, match=r"grid\.cluster\[0\]\.gpu_type.*duplicate"):
        load_spec(_spec(tmp_path / "s.toml", 'cluster = [{nodes = 1, gpu_type = ["V100", "v100"]}]'))


def test_simulate_says_when_another_gpu_type_runs_the_traces_durations(tmp_path: Path) -> None:
    code, out = _invoke("simulate", "--gpu-type", "H100", "--no-progress", "--out", str(tmp_path / "h"))
    assert code == 0 and "H100 runs the trace's durations as recorded" in out
    code, out = _invoke("simulate", "--no-progress", "--out", str(tmp_path / "v"))
    assert code == 0 and "durations as recorded" not in out


def test_capacity_takes_a_users_catalog_for_speeds_and_energy(tmp_path: Path) -> None:
    catalog = tmp_path / "ours.toml"
    catalog.write_text('[gpus.Ours]\nbusy_w = 200\nidle_w = 20\nprice_per_gpu_h = 1.0\nfp32_tflops = 31.4\n'
                       'tensor_tflops = 250\nfp16_tflops = 62.8\nvram_gib = 32\nmem_bw_gbs = 1800\n')
    code, out = _invoke("capacity", str(SAMPLE), "--gpu-type", "Ours", "--gpus", "16", "--max-jobs", "200",
                        "--seeds", "1", "--no-progress", "--speed-table", "catalog", "--gpu-catalog", str(catalog))
    assert code == 0, out
    assert "Ours x2" in out  # twice V100's bandwidth and peaks: twice as fast


def test_an_unreachable_ray_address_is_one_line_and_makes_no_folder(tmp_path: Path) -> None:
    import socket

    pytest.importorskip("ray", reason="needs Ray (pip install 'gpusched[ray]')")
    with socket.socket() as s:  # a port nothing listens on
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    out = tmp_path / "study"
    code, text = _invoke("sweep", str(_spec(tmp_path / "s.toml")), "--out", str(out), "--ray", f"127.0.0.1:{port}")
    assert code == 2 and "cannot reach a Ray cluster there (connection refused)" in text
    assert not out.exists()
