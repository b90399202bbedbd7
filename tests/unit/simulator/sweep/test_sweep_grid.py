"""Grid expansion: one run per combination, in axis order, with run ids that depend on content only."""

from __future__ import annotations

import math
import tempfile
from pathlib import Path

from hypothesis import given
from hypothesis import strategies as st

from simulator.sweep import CONFIG_COLUMNS, expand, load_spec
from simulator.sweep.grid import identity, run_id_of

REPO = Path(__file__).resolve().parents[4]
SAMPLE = REPO / "traces" / "data" / "itp-cluster05.csv"
POLICIES = ("fcfs", "sjf", "las", "srtf", "priority")
PLACEMENTS = ("pack", "spread", "best-fit")


def _toml_value(value: object) -> str:
    if isinstance(value, str):
        return f'"{value}"'
    if isinstance(value, list):
        return "[" + ", ".join(_toml_value(v) for v in value) + "]"
    return repr(value)


def _spec_text(grid: dict[str, object], order: list[int], cluster_order: list[int]) -> str:
    """The grid as TOML with its keys (and the cluster table's keys) in the given order."""
    cluster = grid["cluster"]
    assert isinstance(cluster, dict)
    ckeys = list(cluster)
    inline = ", ".join(f"{ckeys[i]} = {_toml_value(cluster[ckeys[i]])}" for i in cluster_order)
    keys = list(grid)
    lines = [f"cluster = [{{{inline}}}]" if keys[i] == "cluster" else f"{keys[i]} = {_toml_value(grid[keys[i]])}"
             for i in order]
    return f'[workload]\ntrace = "{SAMPLE}"\nmax_jobs = 20\n[grid]\n' + "\n".join(lines) + "\n"


grids = st.fixed_dictionaries({
    "cluster": st.fixed_dictionaries({
        "nodes": st.lists(st.integers(1, 6), min_size=1, max_size=3, unique=True),
        "gpus_per_node": st.lists(st.sampled_from([1, 2, 4, 8]), min_size=1, max_size=2, unique=True),
        "gpu_type": st.lists(st.sampled_from(["V100", "A100", "T4"]), min_size=1, max_size=2, unique=True),
    }),
    "load_scale": st.lists(st.sampled_from([0.25, 0.5, 1.0, 1.5, 2.0, 3.0]), min_size=1, max_size=3, unique=True),
    "policy": st.lists(st.sampled_from(POLICIES), min_size=1, max_size=3, unique=True),
    "placement": st.lists(st.sampled_from(PLACEMENTS), min_size=1, max_size=2, unique=True),
    "seeds": st.one_of(st.integers(1, 3), st.lists(st.integers(0, 50), min_size=1, max_size=3, unique=True)),
})


@given(grid=grids, data=st.data())
def test_expansion_counts_the_product_with_unique_ids_stable_under_key_order(grid: dict[str, object],
                                                                             data: st.DataObject) -> None:
    order = data.draw(st.permutations(range(len(grid))))
    cluster_order = data.draw(st.permutations(range(3)))
    with tempfile.TemporaryDirectory() as tmp:
        a, b = Path(tmp) / "a.toml", Path(tmp) / "b.toml"
        a.write_text(_spec_text(grid, list(range(len(grid))), [0, 1, 2]))
        b.write_text(_spec_text(grid, list(order), list(cluster_order)))
        runs_a, runs_b = expand(load_spec(a)), expand(load_spec(b))
    cluster = grid["cluster"]
    assert isinstance(cluster, dict)
    seeds = grid["seeds"]
    n_seeds = seeds if isinstance(seeds, int) else len(seeds)  # type: ignore[arg-type]
    axes = [len(cluster["nodes"]) * len(cluster["gpus_per_node"]) * len(cluster["gpu_type"]), n_seeds,
            *(len(grid[k]) for k in ("load_scale", "policy", "placement"))]  # type: ignore[arg-type]
    assert len(runs_a) == math.prod(axes)
    ids = [r.run_id for r in runs_a]
    assert len(set(ids)) == len(ids) and all(len(i) == 12 and int(i, 16) >= 0 for i in ids)
    assert [r.run_id for r in runs_b] == ids  # same axis order, whatever the key order in the file
    assert all(r.config["run_id"] == r.run_id == run_id_of(r.config) for r in runs_a)
    assert len({tuple(r.columns()[c] for c in CONFIG_COLUMNS if c not in ("num_gpus",)) for r in runs_a}) == len(ids)


def test_runs_come_in_axis_order_with_the_seed_fastest(tmp_path: Path) -> None:
    (tmp_path / "s.toml").write_text(f'[workload]\ntrace = "{SAMPLE}"\n[grid]\ncluster = {{nodes = [1, 2]}}\n'
                                     'load_scale = [1.0, 2.0]\npolicy = ["fcfs", "las"]\nseeds = 2\n')
    cols = [r.columns() for r in expand(load_spec(tmp_path / "s.toml"))]
    assert [(c["cluster"], c["load_scale"], c["policy"], c["seed"]) for c in cols[:5]] == [
        ("1x8 V100", 1.0, "fcfs", 0), ("1x8 V100", 1.0, "fcfs", 1), ("1x8 V100", 1.0, "las", 0),
        ("1x8 V100", 1.0, "las", 1), ("1x8 V100", 2.0, "fcfs", 0)]


def test_ids_ignore_file_locations_and_int_versus_float_but_not_content(tmp_path: Path) -> None:
    a, b = tmp_path / "a", tmp_path / "b"
    a.mkdir()
    b.mkdir()
    (a / "t.csv").write_bytes(SAMPLE.read_bytes())
    (b / "u.csv").write_bytes(SAMPLE.read_bytes())
    (a / "s.toml").write_text('[workload]\ntrace = "t.csv"\n[grid]\ncluster = {nodes = 1}\nload_scale = [1, 2]\n'
                              '[settings]\nrestart_overhead_s = 30\n')
    (b / "s.toml").write_text('[workload]\ntrace = "u.csv"\n[grid]\ncluster = {nodes = 1}\nload_scale = [1.0, 2.0]\n'
                              '[settings]\nrestart_overhead_s = 30.0\n')
    ids_a = [r.run_id for r in expand(load_spec(a / "s.toml"))]
    assert [r.run_id for r in expand(load_spec(b / "s.toml"))] == ids_a
    (b / "u.csv").write_bytes(SAMPLE.read_bytes() + b"ffff,1,2,1\n")
    assert not set(r.run_id for r in expand(load_spec(b / "s.toml"))) & set(ids_a)
    run = expand(load_spec(a / "s.toml"))[0]
    assert "paths" not in identity(run.config)["workload"] and "run_id" not in identity(run.config)
