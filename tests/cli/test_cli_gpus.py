"""`gpusched gpus list / recommend`: the shipped catalog, a hand-computed ranking, the profile
path, output files and one-line errors (exit 2) naming the option."""

from __future__ import annotations

import csv
import io
import json
import math
from pathlib import Path

import pytest
import typer
from typer.testing import CliRunner

from executor.cli import gpus_cmd
from executor.cli.gpus_cmd import LIST_COLUMNS, RANK_COLUMNS, CostModel, Envelope, HostShare, rank_gpus
from executor.profile import ProfileRow, ProfileTable
from simulator.gpu_catalog import GpuCatalog, GpuSpec
from simulator.gpu_speed import FAMILY_NAMES, speed_table
from traces.model import Job, Workload

runner = CliRunner()
root = typer.Typer()
root.add_typer(gpus_cmd.app, name="gpus")

# The types the issue asks the catalog to cover (names or aliases).
CONTRACT_TYPES = (
    "RTX 2080 Ti", "RTX 2080", "Titan RTX", "T4", "Titan V", "V100", "RTX 3090", "RTX 3080", "A100", "A100-40GB",
    "A100-80GB", "A10", "L4", "RTX 4090", "H100", "H200", "P100", "K80", "RX 6800 XT", "RX 6900 XT", "Vega 56",
    "Vega 64", "MI100", "MI210", "MI250X", "MI300X", "M60", "P40",
)


def run(*args: object) -> tuple[int, str, str]:
    result = runner.invoke(root, ["gpus", *(str(a) for a in args)])
    return result.exit_code, result.stdout, result.stderr


def one_line_error(code: int, err: str, *needles: str) -> None:
    assert code == 2, err
    lines = [line for line in err.splitlines() if line.strip()]
    assert len(lines) == 1 and lines[0].startswith("gpusched: error:"), err
    for needle in needles:
        assert needle in lines[0], (needle, lines[0])


# ----- list ------------------------------------------------------------------------------------
def test_help_lists_both_commands_with_examples() -> None:
    code, out, _ = run("--help")
    assert code == 0 and "list" in out and "recommend" in out
    for cmd in ("list", "recommend"):
        code, out, _ = run(cmd, "--help")
        assert code == 0 and "Example" in out


def test_list_csv_covers_the_contract_types_with_every_field() -> None:
    code, out, err = run("list", "--format", "csv")
    assert code == 0, err
    rows = list(csv.DictReader(io.StringIO(out)))
    assert tuple(rows[0]) == LIST_COLUMNS
    names = {n.casefold() for r in rows for n in [r["gpu_type"], *r["aliases"].split(";")] if n}
    missing = [t for t in CONTRACT_TYPES if t.casefold() not in names]
    assert not missing
    v100 = next(r for r in rows if r["gpu_type"] == "V100")
    assert float(v100["fp32_tflops"]) > 10 and float(v100["mem_bw_gbs"]) > 500 and v100["source"]
    no_cloud = [r for r in rows if r["price_per_gpu_h"] == ""]
    assert no_cloud  # consumer cards have no cloud price: an empty cell, not 0


def test_list_json_and_table() -> None:
    code, out, err = run("list", "--format", "json")
    assert code == 0, err
    rows = json.loads(out)
    assert len(rows) >= len(CONTRACT_TYPES) and set(rows[0]) == set(LIST_COLUMNS)
    assert any(r["tensor_tflops"] is None for r in rows)  # types without tensor cores: null
    code, out, err = run("list")
    assert code == 0, err
    assert "MI300X" in out and "H200" in out and f"{len(rows)} GPU types" in out


def test_list_with_a_user_catalog(tmp_path: Path) -> None:
    extra = tmp_path / "mine.toml"
    extra.write_text('[gpus.G9]\nbusy_w = 200\nidle_w = 20\nfp32_tflops = 12.5\nvram_gib = 48\n', encoding="utf-8")
    code, out, err = run("list", "--catalog", extra, "--format", "json")
    assert code == 0, err
    g9 = next(r for r in json.loads(out) if r["gpu_type"] == "G9")
    assert g9["fp32_tflops"] == 12.5 and g9["mem_bw_gbs"] is None
    bad = tmp_path / "bad.toml"
    bad.write_text('[gpus.G9]\nbusy_w = "lots"\nidle_w = 20\n', encoding="utf-8")
    code, _, err = run("list", "--catalog", bad)
    one_line_error(code, err, "gpus.G9.busy_w")


# ----- the ranking, by hand -------------------------------------------------------------------------
# R: the reference; F: twice R's peaks, so with a huge bandwidth every family is compute-bound
# and F is exactly 2x faster for all of them. F has 32 GiB of VRAM, R 80.
R = GpuSpec("R", busy_w=100.0, idle_w=10.0, fp32_tflops=10.0, tensor_tflops=100.0, mem_bw_gbs=1e6, vram_gib=80.0,
            purchase_usd=1000.0, price_per_gpu_h=0.5)
F = GpuSpec("F", busy_w=400.0, idle_w=40.0, fp32_tflops=20.0, tensor_tflops=200.0, mem_bw_gbs=1e6, vram_gib=32.0,
            purchase_usd=4000.0)
JOBS = Workload.from_jobs([
    Job("j1", 0.0, 3600.0, 1, gpu_mem_gib=8.0, model_name="resnet50"),
    Job("j2", 100.0, 7200.0, 4, gpu_mem_gib=40.0, model_name="lstm"),  # over F's 32 GiB
    Job("j3", 200.0, 1800.0, 2),  # no model: the geometric mean (2.0 here too)
])


def _rank(envelope: Envelope, cost: CostModel | None = None, host: HostShare | None = None,
          jobs: Workload = JOBS) -> dict[str, dict[str, object]]:
    cat = GpuCatalog((R, F))
    table, sources = speed_table(["R", "F"], cat, reference_type="R")
    rows = rank_gpus(jobs, [R, F], table, sources, envelope, cost or CostModel(), FAMILY_NAMES,
                     host=host or HostShare())
    assert [r["rank"] for r in rows] == list(range(1, len(rows) + 1))
    return {str(r["gpu_type"]): r for r in rows}


def test_ranking_worked_by_hand_under_a_budget() -> None:
    rows = _rank(Envelope(budget_usd=8000.0))
    r, f = rows["R"], rows["F"]
    assert r["gpus"] == 8 and f["gpus"] == 2
    assert r["spent_usd"] == 8000.0 and f["spent_usd"] == 8000.0
    # R runs all: 1 + 8 + 1 = 10 GPU-h; F runs j1, j3 at 2x: (1 + 1) / 2 = 1 GPU-h.
    assert (r["jobs_run"], r["jobs_over_vram"], r["jobs_too_wide"]) == (3, 0, 0)
    assert (f["jobs_run"], f["jobs_over_vram"], f["jobs_too_wide"]) == (2, 1, 0)
    assert r["speed"] == pytest.approx(1.0) and f["speed"] == pytest.approx(2.0)
    assert r["time_per_job_h"] == pytest.approx((1 + 2 + 0.5) / 3)
    assert f["time_per_job_h"] == pytest.approx((0.5 + 0.25) / 2)
    assert r["drain_h"] == pytest.approx(10 / 8) and f["drain_h"] == pytest.approx(1 / 2)
    assert r["ref_gpu_equiv"] == pytest.approx(8.0) and f["ref_gpu_equiv"] == pytest.approx(4.0)
    assert r["jobs_per_day"] == pytest.approx(3 / 1.25 * 24)
    assert r["energy_per_job_kwh"] == pytest.approx(10 / 3 * 0.1)
    assert f["energy_per_job_kwh"] == pytest.approx(0.5 * 0.4)
    rate_r = 1000 / (3 * 8760) + 0.1 * 0.15  # amortised purchase + electricity, per GPU-hour
    assert r["cost_per_job_usd"] == pytest.approx(10 / 3 * rate_r)
    # the trace spans 200 s: R's 10 GPU-h over 8 GPUs is 22.5x what they can do in that time
    assert r["utilisation"] == pytest.approx(10 * 3600 / 200 / 8)
    assert r["provenance"] == "reference" and f["provenance"] == "estimate"
    # F cannot run j2, so R, which runs every job, ranks first despite its longer drain
    assert r["rank"] == 1 and f["rank"] == 2
    # Without j2 both run every job: by drain R (2 GPU-h / 8 GPUs = 0.25 h) beats F (1 GPU-h / 2 = 0.5 h);
    # by time per job F (0.375 h) beats R (0.75 h).
    small = JOBS.take([0, 2])
    rows = _rank(Envelope(budget_usd=8000.0), jobs=small)
    assert rows["R"]["drain_h"] == pytest.approx(0.25) and rows["R"]["rank"] == 1
    cat = GpuCatalog((R, F))
    table, sources = speed_table(["R", "F"], cat, reference_type="R")
    by_time = rank_gpus(small, [R, F], table, sources, Envelope(budget_usd=8000.0), CostModel(), FAMILY_NAMES,
                        gpus_cmd.SortKey.time)
    assert [r["gpu_type"] for r in by_time] == ["F", "R"]


def test_ranking_too_wide_jobs_power_envelope_and_cloud_cost() -> None:
    rows = _rank(Envelope(budget_usd=6000.0))
    assert rows["F"]["gpus"] == 1 and rows["F"]["jobs_too_wide"] == 1  # j3 needs 2 GPUs
    assert rows["F"]["jobs_run"] == 1
    rows = _rank(Envelope(power_w=1000.0), CostModel(gpus_cmd.CostBasis.cloud))
    assert rows["R"]["gpus"] == 10 and rows["F"]["gpus"] == 2
    assert rows["R"]["power_w"] == 1000.0 and rows["R"]["spent_usd"] is None
    assert rows["R"]["cost_per_job_usd"] == pytest.approx(10 / 3 * 0.5)
    assert math.isnan(float(str(rows["F"]["cost_per_job_usd"])))  # F has no cloud price
    rows = _rank(Envelope(budget_usd=8000.0), host=HostShare(usd=1000.0, w=100.0))
    assert rows["R"]["gpus"] == 4 and rows["F"]["gpus"] == 1 and rows["R"]["spent_usd"] == 8000.0
    assert rows["R"]["energy_per_job_kwh"] == pytest.approx(10 / 3 * 0.2)  # (100 + 100 W) per GPU-hour
    rate_r = 2000 / (3 * 8760) + 0.2 * 0.15
    assert rows["R"]["cost_per_job_usd"] == pytest.approx(10 / 3 * rate_r)
    assert _rank(Envelope(power_w=1000.0), host=HostShare(w=100.0))["R"]["gpus"] == 5
    rows = _rank(Envelope(budget_usd=500.0))  # buys nothing
    assert rows["R"]["gpus"] == 0 and rows["R"]["jobs_run"] == 0 and math.isnan(float(str(rows["R"]["drain_h"])))


# ----- recommend end to end ------------------------------------------------------------------------
def _files(tmp_path: Path) -> tuple[Path, Path]:
    cat = tmp_path / "two.toml"
    cat.write_text(
        "[gpus.R]\nbusy_w = 100\nidle_w = 10\nfp32_tflops = 10\ntensor_tflops = 100\nmem_bw_gbs = 1000000\n"
        "vram_gib = 80\npurchase_usd = 1000\n"
        "[gpus.F]\nbusy_w = 400\nidle_w = 40\nfp32_tflops = 20\ntensor_tflops = 200\nmem_bw_gbs = 1000000\n"
        "vram_gib = 32\npurchase_usd = 4000\n", encoding="utf-8")
    trace = tmp_path / "jobs.csv"
    trace.write_text("job_id,submit_s,duration_s,num_gpus,gpu_mem_gib,model_name\n"
                     "j1,0,3600,1,8,resnet50\nj2,100,7200,4,40,lstm\nj3,200,1800,2,,\n", encoding="utf-8")
    return cat, trace


def test_recommend_writes_the_ranking_and_prints_assumptions(tmp_path: Path) -> None:
    cat, trace = _files(tmp_path)
    for suffix in ("csv", "json"):
        out = tmp_path / f"rank.{suffix}"
        code, stdout, err = run("recommend", trace, "--catalog", cat, "--gpu-types", "R,F", "--reference-type", "R",
                                "--budget-usd", 8000, "--out", out)
        assert code == 0, err
        assert "Assumptions:" in stdout and "roofline" in stdout and "not modelled" in stdout
        assert "1 of 3 jobs name no recognised model family" in stdout
        if suffix == "csv":
            rows = list(csv.DictReader(out.open(encoding="utf-8")))
            assert tuple(rows[0]) == RANK_COLUMNS
            assert [r["gpu_type"] for r in rows] == ["R", "F"]  # F cannot run j2 (over its VRAM)
            assert float(rows[1]["drain_h"]) == pytest.approx(0.5)
        else:
            rows = json.loads(out.read_text(encoding="utf-8"))
            assert [r["gpu_type"] for r in rows] == ["R", "F"] and rows[1]["jobs_over_vram"] == 1
    code, stdout, err = run("recommend", trace, "--catalog", cat, "--gpu-types", "R,F", "--reference-type", "R",
                            "--budget-usd", 8000, "--sort", "cost", "--explain")
    assert code == 0, err
    assert "Speed factors:" in stdout and "compute-bound" in stdout


def test_recommend_on_the_shipped_sample_and_catalog() -> None:
    code, out, err = run("recommend", "--budget-usd", 200000)
    assert code == 0, err
    for t in ("V100", "A100-80GB", "H100", "MI300X", "RTX4090"):
        assert t in out
    assert "reference" in out and "estimate" in out
    assert "GPUs = floor(200,000 USD / purchase_usd): the GPUs alone" in out
    assert "3629 of 3629 jobs name no recognised model family" in out
    code, out, err = run("recommend", "--power-w", 10000, "--gpu-types", "V100,A100,T4", "--precision", "fp32")
    assert code == 0, err
    assert "GPUs = floor(10,000 W / busy_w)" in out and "FP32" in out
    code, out, err = run("recommend", "--budget-usd", 200000, "--host-usd-per-gpu", 2500, "--gpu-types", "V100,H100")
    assert code == 0, err
    assert "GPUs = floor(200,000 USD / (purchase_usd + 2,500 USD host share))" in out


def test_profile_measurements_win_and_are_labelled(tmp_path: Path) -> None:
    cat, trace = _files(tmp_path)
    prof = tmp_path / "profile.csv"

    def row(t: str, m: str, rate: float) -> ProfileRow:
        return ProfileRow(gpu_type=t, model_name=m, batch_size=32, num_devices=1, steps_per_s=rate,
                          steps_per_s_std=0.0, repeats=3, steps=10, warmup_steps=1, size=1, device_name="/gpu:0",
                          device_mem_gib=None, backend="tensorflow", precision="float32")

    ProfileTable((row("R", "cnn", 10.0), row("F", "cnn", 30.0))).write(prof)
    code, out, err = run("recommend", trace, "--catalog", cat, "--gpu-types", "F", "--reference-type", "R",
                         "--budget-usd", 8000, "--profile", prof, "--explain", "--out", tmp_path / "r.json")
    assert code == 0, err
    sources = [line for line in out.splitlines() if line.strip().startswith("F ")]
    cnn = next(line for line in sources if " cnn " in line)
    lstm = next(line for line in sources if " lstm " in line)
    assert "measured" in cnn and "3" in cnn.split()[2]
    assert "estimate" in lstm
    rows = json.loads((tmp_path / "r.json").read_text(encoding="utf-8"))
    # j1 (cnn) measured x3, j3 (unknown) the mix: both kinds of provenance used
    assert rows[0]["provenance"] == "estimate+measured"


# ----- errors --------------------------------------------------------------------------------------
@pytest.mark.parametrize(("args", "needles"), [
    ((), ("--budget-usd", "--power-w")),
    (("--budget-usd", 1000, "--power-w", 500), ("--budget-usd", "--power-w")),
    (("--budget-usd", -5), ("--budget-usd", "> 0")),
    (("--power-w", "nan"), ("--power-w",)),
    (("--budget-usd", 1000, "--gpu-types", "V100,Z9"), ("--gpu-types", "Z9")),
    (("--budget-usd", 1000, "--gpu-types", ","), ("--gpu-types",)),
    (("--budget-usd", 1000, "--reference-type", "Z9"), ("--reference-type", "Z9")),
    (("--budget-usd", 1000, "--out", "ranking.txt"), ("--out", ".csv or .json")),
    (("--budget-usd", 1000, "--out", "no/such/dir/r.csv"), ("--out", "does not exist")),
    (("--budget-usd", 1000, "--profile", "missing.csv"), ("--profile", "missing.csv")),
    (("--budget-usd", 1000, "--amortise-years", 0), ("--amortise-years",)),
    (("--budget-usd", 1000, "--electricity-usd-per-kwh", -1), ("--electricity-usd-per-kwh",)),
    (("--budget-usd", 1000, "--host-usd-per-gpu", -1), ("--host-usd-per-gpu",)),
])
def test_recommend_errors_are_one_line_naming_the_option(args: tuple[object, ...], needles: tuple[str, ...],
                                                         tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    code, _, err = run("recommend", *args)
    one_line_error(code, err, *needles)


def test_profile_without_reference_rows_is_a_one_line_error(tmp_path: Path) -> None:
    cat, trace = _files(tmp_path)
    prof = tmp_path / "p.csv"
    prof.write_text("gpu_type,model_name,steps_per_s\nF,cnn,3.0\n", encoding="utf-8")
    code, _, err = run("recommend", trace, "--catalog", cat, "--gpu-types", "F", "--reference-type", "R",
                       "--budget-usd", 8000, "--profile", prof)
    one_line_error(code, err, str(prof), "reference type R")
