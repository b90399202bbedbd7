"""Energy, cost and fairness in the run summary; the GPU catalog and its file format."""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import pytest

from simulator.cluster import Cluster
from simulator.gpu_catalog import GpuCatalog, GpuSpec, load_gpu_catalog
from simulator.metrics import (
    COUNT_METRICS,
    ENERGY_METRICS,
    energy_cost_values,
    gpu_busy_s,
    gpu_down_s,
    gpu_power_states,
    summary_values,
)
from simulator.results import write_results
from simulator.run import SimConfig, SimResult, simulate
from traces.cluster import Node
from traces.errors import TraceError
from traces.model import Categorical, Job, Workload

# Round figures so every expected value below is worked out by hand.
CATALOG = GpuCatalog((GpuSpec("X", busy_w=300, idle_w=50, price_per_gpu_h=2.0),
                      GpuSpec("Y", busy_w=100, idle_w=10, price_per_gpu_h=1.0)))


def summary(result: SimResult) -> dict[str, float]:
    t = result.summary
    return dict(zip(t.column("metric").to_pylist(), t.column("value").to_pylist(), strict=True))


def run(jobs: list[Job], cluster: Cluster, catalog: GpuCatalog = CATALOG, **options: object) -> SimResult:
    return simulate(Workload.from_jobs(jobs), cluster, SimConfig(gpu_catalog=catalog, **options))  # type: ignore[arg-type]


# ----- energy and cost by hand ----------------------------------------------------------


def test_two_node_run_by_hand() -> None:
    # n0: one X GPU; n1: two Y GPUs. Job a (2 GPUs, 2 h) fits only n1; b (1 GPU, 1 h) gets n0.
    cluster = Cluster((Node("n0", "X", 1, 16.0), Node("n1", "Y", 2, 16.0)))
    result = run([Job("a", 0.0, 7200.0, 2), Job("b", 0.0, 3600.0, 1)], cluster)
    types = {g.gpu_id: g.gpu_type for g in cluster.gpus()}
    ran_on = {a.job_id: {types[g] for g in a.gpu_ids} for a in result.schedule}
    assert ran_on == {"a": {"Y"}, "b": {"X"}}
    s = summary(result)
    # Window [0, 2 h]. X: busy 1 h at 300 W, idle 1 h at 50 W; each Y busy 2 h at 100 W.
    assert s["energy_busy_kwh"] == pytest.approx(0.3 + 2 * 0.2)
    assert s["energy_idle_kwh"] == pytest.approx(0.05)
    assert s["energy_kwh"] == pytest.approx(0.75)
    # Busy GPU-hours: 1 X h at $2 + 4 Y h at $1; provisioned: 2 h x ($2 + $1 + $1).
    assert s["cost_busy_usd"] == pytest.approx(6.0)
    assert s["cost_provisioned_usd"] == pytest.approx(8.0)
    assert not [n for n in result.notes if "catalog" in n]


def test_idle_time_between_jobs_counts_at_idle_power() -> None:
    # One X GPU: busy [0, 100) and [1000, 1100); idle the 900 s between, in the window [0, 1100].
    result = run([Job("a", 0.0, 100.0, 1), Job("b", 1000.0, 100.0, 1)], Cluster((Node("n0", "X", 1, 16.0),)))
    s = summary(result)
    assert s["makespan_s"] == 1100.0
    assert s["energy_busy_kwh"] == pytest.approx(200 * 300 / 3.6e6)
    assert s["energy_idle_kwh"] == pytest.approx(900 * 50 / 3.6e6)
    assert s["cost_busy_usd"] == pytest.approx(200 / 3600 * 2.0)
    assert s["cost_provisioned_usd"] == pytest.approx(1100 / 3600 * 2.0)


def test_busy_time_is_the_union_of_segments_per_gpu() -> None:
    # GPU 0: [0, 10) and [5, 15) overlap (a shared GPU is busy once), [15, 20) touches, [30, 30) is empty.
    # GPU 1: nothing. GPU 2: [3, 4), also in the two-GPU segment [0, 10) with GPU 0.
    start = np.array([0.0, 5.0, 15.0, 30.0, 3.0])
    end = np.array([10.0, 15.0, 20.0, 30.0, 4.0])
    gpus = ((0, 2), (0,), (0,), (0,), (2,))
    assert gpu_busy_s(3, start, end, gpus).tolist() == [20.0, 0.0, 10.0]
    assert gpu_busy_s(2, np.empty(0), np.empty(0), ()).tolist() == [0.0, 0.0]


def test_down_nodes_draw_nothing() -> None:
    # Node 0 (2 GPUs) down [5, 50) and [-10, 2): clipped to the window [0, 20] that is 15 + 2 s.
    down = gpu_down_s([2, 1], [(0, 5.0, 50.0), (0, -10.0, 2.0)], 0.0, 20.0)
    assert down.tolist() == [17.0, 17.0, 0.0]
    # GPU 0 busy [2, 5), GPU 1 never, the Y GPU (2) busy throughout.
    states = gpu_power_states([2, 1], np.array([2.0, 0.0]), np.array([5.0, 20.0]), ((0,), (2,)),
                              [(0, 5.0, 50.0), (0, -10.0, 2.0)], 0.0, 20.0)
    assert states.busy_s.tolist() == [3.0, 0.0, 20.0] and states.down_s.tolist() == down.tolist()
    values, notes = energy_cost_values(["X", "X", "Y"], states, CATALOG)
    assert notes == ()
    # Idle: X GPUs 20 - 3 - 17 = 0 s and 20 - 0 - 17 = 3 s at 50 W; the Y GPU is busy throughout.
    assert values["energy_idle_kwh"] == pytest.approx(3 * 50 / 3.6e6)
    assert values["energy_busy_kwh"] == pytest.approx((3 * 300 + 20 * 100) / 3.6e6)
    assert values["cost_provisioned_usd"] == pytest.approx(20 / 3600 * (2 + 2 + 1))


def test_node_failures_lower_idle_energy() -> None:
    jobs = [Job(f"j{i}", 100.0 * i, 2000.0, 1) for i in range(6)]
    cluster = Cluster.uniform(2, 2, gpu_type="X")
    s = summary(run(jobs, cluster, node_mtbf_s=800.0, node_mttr_s=300.0, seed=1))
    assert s["num_node_failures"] > 0
    busy_gpu_s = s["gpu_utilisation"] * cluster.num_gpus * s["makespan_s"]
    assert s["energy_busy_kwh"] == pytest.approx(busy_gpu_s * 300 / 3.6e6)
    all_idle_kwh = (cluster.num_gpus * s["makespan_s"] - busy_gpu_s) * 50 / 3.6e6
    assert s["energy_idle_kwh"] < all_idle_kwh - 1e-12


def test_unknown_gpu_type_gives_null_energy_and_a_note(tmp_path: Path) -> None:
    cluster = Cluster((Node("n0", "X", 1, 16.0), Node("n1", "G2", 1, 16.0), Node("n2", "G3", 1, 16.0)))
    result = run([Job("a", 0.0, 10.0, 1)], cluster)
    s = summary(result)
    assert all(math.isnan(s[m]) for m in ENERGY_METRICS)
    notes = [n for n in result.notes if "catalog" in n]
    assert notes == ["the GPU catalog has no power or price for GPU type G2, G3; energy_kwh, energy_busy_kwh, "
                     "energy_idle_kwh, cost_busy_usd, cost_provisioned_usd, cost_usd are null (give them in a GPU catalog "
                     "file)"]
    doc = json.loads(write_results(result, tmp_path)["summary_json"].read_text())
    assert all(doc["metrics"][m] is None for m in ENERGY_METRICS)
    assert "NaN" not in (tmp_path / "summary.json").read_text()


def test_summary_json_counts_are_integers_and_the_csv_stays_long_form(tmp_path: Path) -> None:
    result = run([Job("a", 0.0, 10.0, 1), Job("b", 1.0, 10.0, 1)], Cluster.uniform(1, 1, gpu_type="X"))
    paths = write_results(result, tmp_path)
    metrics = json.loads(paths["summary_json"].read_text())["metrics"]
    assert [type(metrics[m]) for m in COUNT_METRICS] == [int] * len(COUNT_METRICS)
    assert (metrics["num_jobs"], metrics["num_completed"]) == (2, 2)
    assert isinstance(metrics["makespan_s"], float)
    lines = paths["summary"].read_text().splitlines()
    assert lines[0] == "run_id,policy,placement,seed,metric,value"
    assert "fcfs-pack-s0,fcfs,pack,0,num_jobs,2.0" in lines


# ----- fairness ------------------------------------------------------------------------


def test_jain_over_users_and_groups_by_hand() -> None:
    # Slowdowns (duration 1 s, JCT = end - submit): 1, 3, 1, 2, 5.
    # Users: u0 {1, 3} mean 2, u1 {1} mean 1, job 3 has none, u2 {5} mean 5.
    # Groups: g0 {1, 3, 1} mean 5/3, g1 {2, 5} mean 3.5.
    wl = Workload.from_columns(
        job_id=[f"j{i}" for i in range(5)],
        submit_s=np.zeros(5),
        duration_s=np.ones(5),
        num_gpus=np.ones(5, dtype=np.int32),
        user=Categorical.from_values(["u0", "u0", "u1", None, "u2"]),
        group=Categorical.from_values(["g0", "g0", "g0", "g1", "g1"]),
    )
    start = np.zeros(5)
    end = np.array([1.0, 3.0, 1.0, 2.0, 5.0])
    values = summary_values(wl, start, end, busy_gpu_s=12.0, num_gpus=5)
    assert values["jain_slowdown_by_user"] == pytest.approx((2 + 1 + 5) ** 2 / (3 * (4 + 1 + 25)))
    g0, g1 = 5 / 3, 3.5
    assert values["jain_slowdown_by_group"] == pytest.approx((g0 + g1) ** 2 / (2 * (g0**2 + g1**2)))


def test_one_tenant_is_perfectly_fair_and_no_column_is_noted() -> None:
    jobs = [Job("a", 0.0, 10.0, 1, group="g"), Job("b", 0.0, 10.0, 1, group="g")]
    result = run(jobs, Cluster.uniform(1, 1, gpu_type="X"))
    s = summary(result)
    assert s["jain_slowdown_by_group"] == 1.0
    assert math.isnan(s["jain_slowdown_by_user"])
    assert "no job has a user, so jain_slowdown_by_user is null" in result.notes
    anonymous = run([Job("a", 0.0, 10.0, 1)], Cluster.uniform(1, 1, gpu_type="X"))
    assert ("no job has a user or a group, so jain_slowdown_by_user and jain_slowdown_by_group are null"
            in anonymous.notes)


# ----- the catalog ------------------------------------------------------------------------


def test_shipped_catalog_is_complete_and_sourced() -> None:
    catalog = GpuCatalog.default()
    assert {"K80", "M60", "P100", "P40", "T4", "V100", "A10", "A100", "L4", "H100"} <= set(catalog.known_types)
    for spec in catalog.specs:
        assert 0 < spec.idle_w < spec.busy_w and (spec.price_per_gpu_h is None or spec.price_per_gpu_h > 0), spec
        assert any(w in spec.source for w in ("datasheet", "whitepaper", "product page")), spec
        assert "idle" in spec.source and "price" in spec.source, spec
    v100 = catalog.get("V100")
    assert v100 is not None and (v100.busy_w, v100.idle_w, v100.price_per_gpu_h) == (300.0, 24.0, 3.06)
    for name in ("v100", " V100 ", "V100M32", "tesla v100-sxm2-16gb"):
        assert catalog.get(name) is v100, name
    assert catalog.get("V100-PCIE-16GB") is None
    assert catalog.unknown(["V100", "G2", "a10g", "G2"]) == ("G2",)


def write(tmp_path: Path, text: str, name: str = "cat.toml") -> Path:
    path = tmp_path / name
    path.write_text(text)
    return path


def test_user_file_overrides_splits_and_adds(tmp_path: Path) -> None:
    path = write(tmp_path, """
[gpus.v100]
price_per_gpu_h = 2.48

[gpus.V100M32]
price_per_gpu_h = 3.9

[gpus.G2]
busy_w = 250
idle_w = 30
price_per_gpu_h = 2
aliases = ["G2-24GB"]
source = "our meter"
""")
    catalog = load_gpu_catalog(path)
    v100 = catalog.get("Tesla V100")
    assert v100 is not None and (v100.gpu_type, v100.busy_w, v100.price_per_gpu_h) == ("V100", 300.0, 2.48)
    assert "price_per_gpu_h from" in v100.source and "datasheet" in v100.source
    assert catalog.get("V100M16") is v100
    m32 = catalog.get("v100m32")
    assert m32 is not None and (m32.gpu_type, m32.busy_w, m32.idle_w, m32.price_per_gpu_h) == ("V100M32", 300, 24, 3.9)
    assert catalog.get("g2-24gb") == GpuSpec("G2", 250, 30, 2.0, ("G2-24GB",), "our meter")
    assert catalog.get("A100") == GpuCatalog.default().get("A100")
    only = write(tmp_path, "[gpus.Z]\nbusy_w = 1\nidle_w = 0\nprice_per_gpu_h = 0\n", "only.toml")
    assert load_gpu_catalog(only, base=GpuCatalog()).known_types == ("Z",)


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("[gpus.V100\n", "{p}: not valid TOML ("),
        ("[gpus.G2]\nbusy_w = -5\nidle_w = 1\nprice_per_gpu_h = 1\n",
         "{p}: field 'gpus.G2.busy_w': expected a number >= 0 but found -5"),
        ("[gpus.G2]\nbusy_w = 250\nprice_per_gpu_h = 1\n",
         "{p}: field 'gpus.G2.idle_w': missing key; expected a number >= 0"),
        ('[gpus.G2]\nbusy_w = "250"\nidle_w = 30\nprice_per_gpu_h = 1\n',
         "{p}: field 'gpus.G2.busy_w': expected a number >= 0 but found '250'"),
        ("[gpus.G2]\nbusy_w = 250\nidle_w = 300\nprice_per_gpu_h = 1\n",
         "{p}: field 'gpus.G2.idle_w': idle power above busy power; expected a number <= busy_w (250) but found 300"),
        ("[gpus.V100]\nidle_w = 301\n",
         "{p}: field 'gpus.V100.idle_w': idle power above busy power; expected a number <= busy_w (300) but found 301"),
        ("[gpus.G2]\nbusy_w = 250\nidle_w = 30\nprice_per_gpu_h = 1\nwatts = 250\n",
         "{p}: field 'gpus.G2.watts': unknown key; expected one of busy_w, idle_w, price_per_gpu_h, "),
        ("[gpu.G2]\nbusy_w = 250\n", "{p}: field 'gpu': unknown key; expected only [gpus.<TYPE>] tables"),
        ("gpus = 3\n", "{p}: field 'gpus': expected one or more [gpus.<TYPE>] tables but found 3"),
        ("[gpus]\n", "{p}: field 'gpus': expected one or more [gpus.<TYPE>] tables but found {{}}"),
        ("[gpus.G2]\nbusy_w = 1\nidle_w = 0\nprice_per_gpu_h = 1\naliases = \"G\"\n",
         "{p}: field 'gpus.G2.aliases': expected a list of GPU type names but found 'G'"),
        ("[gpus.G2]\nbusy_w = 1\nidle_w = 0\nprice_per_gpu_h = 1\n[gpus.g2]\nbusy_w = 2\n",
         "{p}: field 'gpus.g2': a second entry for the same GPU type as gpus.G2; expected one entry per type "
         "(names ignore case)"),
        ("[gpus.G2]\nbusy_w = 1\nidle_w = 0\nprice_per_gpu_h = 1\naliases = [\"K80\"]\n",
         "{p}: GPU type name 'K80' is used by both K80 and G2"),
        ("", "{p}: the file is empty; expected [gpus.<TYPE>] tables"),
    ],
)
def test_catalog_file_errors_name_file_field_and_expectation(tmp_path: Path, text: str, message: str) -> None:
    path = write(tmp_path, text)
    with pytest.raises(TraceError) as info:
        load_gpu_catalog(path)
    assert str(info.value).startswith(message.format(p=path))


def test_missing_catalog_file(tmp_path: Path) -> None:
    with pytest.raises(TraceError, match="nope.toml: no such file"):
        load_gpu_catalog(tmp_path / "nope.toml")


def test_spec_and_config_reject_bad_values() -> None:
    with pytest.raises(ValueError, match="busy_w must be a finite number >= 0"):
        GpuSpec("X", math.nan, 0, 1)
    with pytest.raises(ValueError, match="idle_w 5 exceeds busy_w 1"):
        GpuSpec("X", 1, 5, 1)
    with pytest.raises(ValueError, match="'x' is used by both X and Y"):
        GpuCatalog((GpuSpec("X", 1, 0, 1), GpuSpec("Y", 1, 0, 1, aliases=("x",))))
    with pytest.raises(Exception, match="gpu_catalog must be a GpuCatalog"):
        SimConfig(gpu_catalog={"V100": 1})  # type: ignore[arg-type]
