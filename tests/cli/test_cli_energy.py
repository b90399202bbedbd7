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


# ----- idle power-off and the cost basis ----------------------------------------------------
# The trace above leaves one GPU idle for the second hour of the 2 h window.
BOUGHT = CATALOG + "purchase_usd = 52560\npurchase_date = \"2024-01\"\n"  # $2 per hour over 3 years


def metrics_of(tmp_path: Path) -> dict[str, float]:
    metrics: dict[str, float] = json.loads((tmp_path / "out" / "summary.json").read_text())["metrics"]
    return metrics


def test_idle_power_off_cuts_idle_energy_and_billing(tmp_path: Path) -> None:
    catalog = tmp_path / "cat.toml"
    catalog.write_text(CATALOG)
    code, out, err = simulate(tmp_path, "--gpu-type", "G2", "--gpu-catalog", str(catalog),
                              "--idle-power-off-s", "1800")
    assert code == 0, err
    metrics = metrics_of(tmp_path)
    # The idle GPU stays on 0.5 h of its 1 h gap: 0.5 h x 30 W idle; 3.5 GPU-h on x $2.
    assert round(metrics["energy_idle_kwh"], 12) == 0.015
    assert (metrics["gpu_on_hours"], metrics["cost_provisioned_usd"], metrics["cost_usd"]) == (3.5, 7.0, 7.0)
    assert "GPU on-hours     3.5 (idle GPUs off after 1800 s)" in out
    assert "was switched off until its next job" in err
    config = json.loads((tmp_path / "out" / "run.json").read_text())["config"]
    assert (config["idle_power_off_s"], config["cost_basis"]) == (1800.0, "cloud")


def test_purchase_basis_amortises_and_adds_electricity(tmp_path: Path) -> None:
    catalog = tmp_path / "cat.toml"
    catalog.write_text(BOUGHT)
    args = ["--gpu-type", "G2", "--gpu-catalog", str(catalog), "--cost-basis", "purchase"]
    code, out, err = simulate(tmp_path, *args)
    assert code == 0, err
    # 2 GPUs x 2 h x $2 amortised + 0.78 kWh x $0.15.
    assert round(metrics_of(tmp_path)["cost_usd"], 9) == 8.117
    assert "cost             $8.12 (purchase over 3 y + electricity at $0.15/kWh); cloud: $6.00 busy" in out
    code, _, err = simulate(tmp_path, *args, "--amortise-years", "6", "--electricity-usd-per-kwh", "0")
    assert code == 0, err
    assert metrics_of(tmp_path)["cost_usd"] == 4.0
    config = json.loads((tmp_path / "out" / "run.json").read_text())["config"]
    assert (config["cost_basis"], config["amortise_years"], config["electricity_usd_per_kwh"]) == ("purchase", 6.0, 0.0)


def test_purchase_basis_without_a_purchase_price_is_null_with_a_note(tmp_path: Path) -> None:
    code, out, err = simulate(tmp_path, "--gpu-type", "MI250X", "--cost-basis", "purchase")
    assert code == 0, err
    assert metrics_of(tmp_path)["cost_usd"] is None
    assert "n/a on the purchase price (see the note)" in out
    assert "note: the GPU catalog has no purchase price (purchase_usd) for GPU type MI250X" in err


def test_bad_energy_options_are_one_line_errors(tmp_path: Path) -> None:
    code, _, err = simulate(tmp_path, "--idle-power-off-s", "-5")
    assert (code, err.strip()) == (2, "gpusched: error: idle_power_off_s must be a finite number >= 0, got -5.0")
    code, _, err = simulate(tmp_path, "--amortise-years", "2")
    assert (code, err.strip()) == (2, "gpusched: error: --amortise-years applies only to --cost-basis purchase, "
                                      "not cloud")
    code, _, err = simulate(tmp_path, "--cost-basis", "purchase", "--amortise-years", "0")
    assert (code, err.strip()) == (2, "gpusched: error: amortise_years must be a finite number > 0, got 0.0")
    code, _, err = simulate(tmp_path, "--cost-basis", "lease")
    assert code == 2 and "--cost-basis" in err and "lease" in err


def test_help_explains_the_energy_options() -> None:
    result = runner.invoke(app, ["simulate", "--help"], env={"COLUMNS": "200"})
    assert result.exit_code == 0
    for text in ("--idle-power-off-s", "not billed", "--cost-basis", "cloud|purchase", "--amortise-years",
                 "(default 3)", "--electricity-usd-per-kwh", "--idle-power-off-s 600 --cost-basis purchase"):
        assert text in result.stdout, text
