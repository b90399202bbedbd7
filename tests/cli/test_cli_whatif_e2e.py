"""The README's capacity study, end to end on a slice of the shipped sample: `gpusched sweep`
(real pool workers) -> runs.csv, summary.csv and report.html, then `gpusched capacity --out` ->
`gpusched report`; both pages open in a real headless Chromium with every image decoded."""

from __future__ import annotations

import csv
from pathlib import Path
from typing import Any

from browser import open_page
from typer.testing import CliRunner

from executor.cli.main import app

SAMPLE = Path(__file__).resolve().parents[2] / "traces" / "data" / "itp-cluster05.csv"
SPEC = """
[workload]
trace = ["{trace}"]
max_jobs = 300
[grid]
cluster = [{{nodes = [1, 2], gpus_per_node = 8, gpu_type = "V100"}}]
load_scale = [1.0, 2.0]
policy = ["fcfs", "sjf"]
seeds = 2
[settings]
node_mtbf_s = 864000
node_mttr_s = 14400
checkpoint_interval_s = 1800
idle_power_off_s = 900
cost_basis = "purchase"
"""


def _run(*args: str) -> Any:
    result = CliRunner().invoke(app, list(args))
    assert result.exit_code == 0, result.output
    return result


def _assert_renders(browser: Any, html: Path, min_images: int) -> None:
    check = open_page(browser, html)
    assert len(check.images) >= min_images
    assert [i for i in check.images if not (i["complete"] and i["width"] > 0)] == []
    assert check.console_errors == [] and check.page_errors == [] and check.requests == []


def test_sweep_writes_tables_and_a_report_a_browser_renders(tmp_path: Path, browser: Any) -> None:
    spec = tmp_path / "study.toml"
    spec.write_text(SPEC.format(trace=SAMPLE.as_posix()))
    out = tmp_path / "study"
    _run("sweep", str(spec), "--out", str(out), "--jobs", "2", "--no-progress")
    with (out / "runs.csv").open() as f:
        runs = list(csv.DictReader(f))
    assert len(runs) == 16 and {r["status"] for r in runs} == {"done"}
    assert all(float(r["cost_usd"]) > 0 and float(r["energy_kwh"]) > 0 for r in runs)
    with (out / "summary.csv").open() as f:
        p95 = [r for r in csv.DictReader(f) if r["metric"] == "p95_wait_s"]
    assert len(p95) == 8 and all(r["n"] == "2" for r in p95)
    assert all(float(r["ci95_low"]) <= float(r["mean"]) <= float(r["ci95_high"]) for r in p95)
    # more GPUs never make the mean p95 wait longer here (same jobs, same policy, same load)
    by = {(r["num_gpus"], r["load_scale"], r["policy"]): float(r["mean"]) for r in p95}
    assert all(by[("16", s, p)] <= by[("8", s, p)] for (_, s, p) in by)
    html = out / "report.html"
    text = html.read_text()
    assert "heat" in text.lower() and "pareto" in text.lower()
    _assert_renders(browser, html, min_images=4)
    # a rerun on the same folder resumes: nothing left to run, the same tables
    before = (out / "runs.csv").read_bytes(), (out / "summary.csv").read_bytes()
    again = _run("sweep", str(spec), "--out", str(out), "--jobs", "1", "--no-progress", "--no-report")
    assert "0 ran now" in again.output
    assert ((out / "runs.csv").read_bytes(), (out / "summary.csv").read_bytes()) == before


def test_capacity_out_folder_gets_a_report_a_browser_renders(tmp_path: Path, browser: Any) -> None:
    out = tmp_path / "cap"
    result = _run("capacity", str(SAMPLE), "--gpu-type", "V100", "--p95-wait-s", "7200", "--max-jobs", "400",
                  "--seeds", "1", "--no-progress", "--out", str(out))
    assert "M/M/c" in result.output
    assert (out / "capacity.csv").is_file() and (out / "probes.csv").is_file()
    _assert_renders(browser, out / "report.html", min_images=1)  # written by capacity --out
    _run("report", str(out), "--out", str(tmp_path / "again"))
    assert (tmp_path / "again" / "report.html").read_bytes() == (out / "report.html").read_bytes()
