"""The catalog's speed model feeding real runs: `--speed-table catalog[:PROFILE]` in simulate and
solve, and sweeps over clusters of different GPU types (where it is the default)."""

from __future__ import annotations

import csv
import json
import math
from pathlib import Path

import pytest
from profile_tables import profile_table
from typer.testing import CliRunner

from executor.cli.main import app
from simulator.gpu_catalog import GpuCatalog
from simulator.gpu_speed import catalog_speed_profile, speed_table, workload_speed_table
from simulator.sweep import expand, load_spec, run_one
from traces.errors import TraceError, UserError


def test_the_catalog_keyword_and_its_profile() -> None:
    assert catalog_speed_profile("catalog") == (True, None)
    assert catalog_speed_profile("catalog:prof.csv") == (True, Path("prof.csv"))
    assert catalog_speed_profile(Path("speeds.toml")) == (False, None)
    assert catalog_speed_profile(None) == (False, None)
    assert catalog_speed_profile("catalog:") == (False, None)  # a file literally named so


def test_jobs_get_their_familys_factor_and_unknown_models_the_types_mean() -> None:
    catalog = GpuCatalog.default()
    families, _ = speed_table(["A100"], catalog)
    table, notes = workload_speed_table(["A100", "Tesla V100"], ["resnet50", "bert-large", "mystery", ""], catalog)
    assert table.reference_type == "V100"
    assert table.factor("A100", "resnet50") == pytest.approx(families.by_model[("A100", "cnn")])
    assert table.factor("A100", "bert-large") == pytest.approx(families.by_model[("A100", "transformer")])
    assert table.factor("A100", "mystery") == pytest.approx(families.by_type["A100"])
    assert table.factor("Tesla V100", "resnet50") == 1.0  # an alias of the reference is the reference
    assert table.factor("A100", "bert-large") > table.factor("A100", "resnet50") > 1.0
    assert "A100 x" in notes[0] and "relative to V100" in notes[0]
    assert any("1 of 3 model names (mystery)" in n for n in notes)


def test_a_profile_wins_where_it_measures(tmp_path: Path) -> None:
    prof = tmp_path / "prof.csv"
    profile_table(("V100", "cnn", 32, 1, 100.0), ("A100", "cnn", 32, 1, 300.0)).write(prof)
    table, _ = workload_speed_table(["A100"], ["resnet50", "lstm_lm"], profile=prof)
    assert table.factor("A100", "resnet50") == pytest.approx(3.0)  # measured
    estimated, _ = workload_speed_table(["A100"], ["lstm_lm"])
    assert table.factor("A100", "lstm_lm") == pytest.approx(estimated.factor("A100", "lstm_lm"))


def test_an_unknown_type_is_a_one_line_error() -> None:
    with pytest.raises(UserError, match="not in the GPU catalog"):
        workload_speed_table(["Z9000"], [])


def _sim(tmp_path: Path, name: str, *extra: str) -> dict[str, float]:
    out = tmp_path / name
    result = CliRunner().invoke(app, ["simulate", "--nodes", "2", "--gpus-per-node", "4", "--no-progress",
                                      "--out", str(out), *extra])
    assert result.exit_code == 0, result.output
    with (out / "summary.csv").open() as f:
        return {r["metric"]: float(r["value"] or "nan") for r in csv.DictReader(f)}


def test_simulate_with_the_catalog_speed_model_runs_faster_gpus_faster(tmp_path: Path) -> None:
    v100 = _sim(tmp_path, "v100", "--gpu-type", "V100")
    same = _sim(tmp_path, "v100-catalog", "--gpu-type", "V100", "--speed-table", "catalog")
    h100 = _sim(tmp_path, "h100", "--gpu-type", "H100", "--speed-table", "catalog")
    t4 = _sim(tmp_path, "t4", "--gpu-type", "T4", "--speed-table", "catalog")
    assert same["mean_jct_s"] == v100["mean_jct_s"]
    assert h100["mean_jct_s"] < v100["mean_jct_s"] < t4["mean_jct_s"]
    assert json.loads((tmp_path / "h100" / "run.json").read_text())["config"]["speed_table"] == "catalog"


def test_solve_takes_the_catalog_speed_model(tmp_path: Path) -> None:
    def objective(gpu_type: str) -> float:
        out = tmp_path / gpu_type
        result = CliRunner().invoke(app, ["solve", "--solver", "greedy", "--nodes", "1", "--gpus-per-node", "8",
                                          "--gpu-type", gpu_type, "--speed-table", "catalog", "--out", str(out)])
        assert result.exit_code == 0, result.output
        return float(json.loads((out / "solve.json").read_text())["objective"])  # weighted completion

    assert objective("A100") < objective("V100")


SPEC = """
[workload]
max_jobs = 120
[grid]
cluster = [{{nodes = 1, gpus_per_node = 8, gpu_type = {types}}}]
seeds = 1
{settings}
"""


def _spec(tmp_path: Path, types: str, settings: str = "") -> Path:
    path = tmp_path / "spec.toml"
    path.write_text(SPEC.format(types=types, settings=settings))
    return path


def test_a_sweep_over_gpu_types_uses_the_catalog_speed_model_by_default(tmp_path: Path) -> None:
    spec = load_spec(_spec(tmp_path, '["V100", "A100"]'))
    assert spec.settings["speed_table"] == {"catalog": True}
    outs = {c.config["cluster"]["gpu_type"]: run_one(c.config) for c in expand(spec)}
    assert all(o.ok for o in outs.values())
    jct = {t: o.summary["metrics"]["mean_jct_s"] for t, o in outs.items()}  # type: ignore[index]
    assert jct["A100"] < jct["V100"]
    assert any("A100 x" in n for n in outs["A100"].summary["notes"])  # type: ignore[index]
    # one GPU type other than the reference: the same speeds as in a mixed grid
    alone = load_spec(_spec(tmp_path, '["A100"]'))
    assert alone.settings["speed_table"] == {"catalog": True}
    assert run_one(expand(alone)[0].config).summary["metrics"]["mean_jct_s"] == jct["A100"]  # type: ignore[index]
    # the reference type alone, or a type the catalog does not know: the trace's durations as recorded
    assert "speed_table" not in load_spec(_spec(tmp_path, '["V100"]')).settings
    assert "speed_table" not in load_spec(_spec(tmp_path, '["OurGPU"]')).settings


def test_a_profile_speed_table_keeps_run_ids_when_the_spec_moves(tmp_path: Path) -> None:
    ids = []
    for where in ("one", "two"):
        folder = tmp_path / where
        folder.mkdir()
        profile_table(("V100", "cnn", 32, 1, 100.0), ("A100", "cnn", 32, 1, 300.0)).write(folder / "prof.csv")
        ids.append([c.run_id for c in expand(load_spec(_spec(folder, '["A100", "V100"]',
                                                              '[settings]\nspeed_table = "catalog:prof.csv"')))])
    assert ids[0] == ids[1]


def test_a_sweeps_catalog_speed_with_a_profile_and_its_errors(tmp_path: Path) -> None:
    prof = tmp_path / "prof.csv"
    profile_table(("V100", "cnn", 32, 1, 100.0), ("A100", "cnn", 32, 1, 300.0)).write(prof)
    spec = load_spec(_spec(tmp_path, '["A100"]', '[settings]\nspeed_table = "catalog:prof.csv"'))
    assert spec.settings["speed_table"]["profile"]["path"] == str(prof)
    with pytest.raises(TraceError, match=r"settings\.speed_table.*not in the GPU catalog"):
        load_spec(_spec(tmp_path, '["V100", "Z9000"]'))
    with pytest.raises(TraceError, match=r"settings\.speed_table.*no such file"):
        load_spec(_spec(tmp_path, '["A100"]', '[settings]\nspeed_table = "catalog:missing.csv"'))
    assert not math.isnan(run_one(expand(spec)[0].config).summary["metrics"]["mean_jct_s"])  # type: ignore[index]
