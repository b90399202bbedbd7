"""`gpusched simulate --gpu-catalog`: energy and cost in summary.json and the terminal table."""

from __future__ import annotations

import json
from pathlib import Path

from typer.testing import CliRunner

from executor.cli.main import app

runner = CliRunner()
# One node of two GPUs: a takes both for 1 h, then b one for 1 h; window 2 h.
TRACE = "job_id,submit_s,duration_s,num_gpus\na,0,3600,2\nb,0,3600,1\n"
CATALOG = "[gpus.G2]\nbusy_w = 250\nidle_w = 30\nprice_per_gpu_h = 2.0\n"


def simulate(tmp_path: Path, *args: str) -> tuple[int, str, str]:
    trace = tmp_path / "t.csv"
    trace.write_text(TRACE)
    cli = ["simulate", str(trace), "--nodes", "1", "--gpus-per-node", "2", "--out", str(tmp_path / "out"), *args]
    result = runner.invoke(app, cli)
    return result.exit_code, result.stdout, result.stderr


def test_gpu_catalog_file_gives_energy_and_cost(tmp_path: Path) -> None:
    catalog = tmp_path / "cat.toml"
    catalog.write_text(CATALOG)
    code, out, err = simulate(tmp_path, "--gpu-type", "G2", "--gpu-catalog", str(catalog))
    assert code == 0, err
    metrics = json.loads((tmp_path / "out" / "summary.json").read_text())["metrics"]
    # Busy 3 GPU-h at 250 W and $2; idle 1 GPU-h at 30 W; provisioned 2 GPUs x 2 h x $2.
    assert metrics["energy_busy_kwh"] == 0.75
    assert round(metrics["energy_idle_kwh"], 12) == 0.03
    assert round(metrics["energy_kwh"], 12) == 0.78
    assert (metrics["cost_busy_usd"], metrics["cost_provisioned_usd"]) == (6.0, 8.0)
    assert (metrics["num_jobs"], type(metrics["num_jobs"])) == (2, int)
    assert "energy           0.8 kWh (0.8 busy, 0.0 idle)" in out
    assert "cost             $6.00 busy GPU-hours, $8.00 provisioned" in out
    run_info = json.loads((tmp_path / "out" / "run.json").read_text())
    assert run_info["config"]["gpu_catalog"] == str(catalog)


def test_type_missing_from_the_catalog_is_null_with_a_note(tmp_path: Path) -> None:
    code, out, err = simulate(tmp_path, "--gpu-type", "G9")
    assert code == 0, err
    metrics = json.loads((tmp_path / "out" / "summary.json").read_text())["metrics"]
    assert metrics["energy_kwh"] is None and metrics["cost_busy_usd"] is None
    assert "energy           n/a (GPU type not in the catalog; see the note)" in out
    assert "note: the GPU catalog has no power or price for GPU type G9;" in err
    notes = json.loads((tmp_path / "out" / "run.json").read_text())["notes"]
    assert any("GPU type G9" in n for n in notes)


def test_bad_catalog_is_a_one_line_error(tmp_path: Path) -> None:
    catalog = tmp_path / "cat.toml"
    catalog.write_text("[gpus.G2]\nbusy_w = -1\nidle_w = 0\nprice_per_gpu_h = 1\n")
    code, _, err = simulate(tmp_path, "--gpu-catalog", str(catalog))
    assert code == 2
    assert err.strip() == f"gpusched: error: {catalog}: field 'gpus.G2.busy_w': expected a number >= 0 but found -1"


def test_help_shows_the_catalog_option_with_an_example() -> None:
    result = runner.invoke(app, ["simulate", "--help"], env={"COLUMNS": "200"})
    assert result.exit_code == 0
    assert "--gpu-catalog" in result.stdout and "[gpus.V100] price_per_gpu_h = 2.48" in result.stdout
