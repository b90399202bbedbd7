"""Sweep specs: defaults, paths relative to the spec, settings passed through, one-line errors naming file and key."""

from __future__ import annotations

from pathlib import Path

import pytest

from simulator.sweep import expand, load_spec
from simulator.sweep.spec import file_digest, sample_trace_path
from traces.errors import TraceError

REPO = Path(__file__).resolve().parents[4]
SAMPLE = REPO / "traces" / "data" / "itp-cluster05.csv"


def _spec(tmp_path: Path, text: str, name: str = "spec.toml") -> Path:
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return path


def test_defaults_fill_every_axis_but_the_cluster(tmp_path: Path) -> None:
    spec = load_spec(_spec(tmp_path, "[grid]\ncluster = {nodes = 2}\n"))
    assert spec.workload.paths == (sample_trace_path(),) and spec.workload.max_jobs is None
    assert [c.label for c in spec.clusters] == ["2x8 V100"] and spec.clusters[0].num_gpus == 16
    assert (spec.load_scales, spec.policies, spec.placements, spec.admissions, spec.seeds) == (
        (1.0,), ("fcfs",), ("pack",), ("accept-all",), (0,))
    assert spec.num_runs == 1 and len(expand(spec)) == 1


def test_cluster_lists_are_a_cross_product_and_seeds_n_means_0_to_n_minus_1(tmp_path: Path) -> None:
    (tmp_path / "big.toml").write_text('[[nodes]]\ncount = 2\ngpu_type = "A100"\nnum_gpus = 4\ngpu_mem_gib = 80\n'
                                       '[[nodes]]\ngpu_type = "V100"\nnum_gpus = 8\ngpu_mem_gib = 32\n')
    spec = load_spec(_spec(tmp_path, f"""
[workload]
trace = "{SAMPLE}"
max_jobs = 50
[grid]
cluster = [{{nodes = [1, 2], gpus_per_node = [4, 8], gpu_type = ["V100", "T4"]}}, {{cluster = "big.toml"}}]
seeds = 3
"""))
    labels = [c.label for c in spec.clusters]
    assert labels == ["1x4 V100", "2x4 V100", "1x8 V100", "2x8 V100", "1x4 T4", "2x4 T4", "1x8 T4", "2x8 T4", "big"]
    assert (spec.clusters[-1].num_gpus, spec.clusters[-1].gpu_type) == (16, "A100+V100")
    assert spec.clusters[-1].digest == file_digest([tmp_path / "big.toml"])
    assert spec.seeds == (0, 1, 2) and spec.num_runs == 27 and len(expand(spec)) == 27


def test_paths_are_relative_to_the_spec_file_and_settings_go_to_simconfig(tmp_path: Path) -> None:
    sub = tmp_path / "specs"
    sub.mkdir()
    (tmp_path / "t.csv").write_bytes(SAMPLE.read_bytes())
    (tmp_path / "speeds.toml").write_text('[reference]\ntype = "V100"\n[types]\nV100 = 1.0\nA100 = 2.0\n')
    spec = load_spec(_spec(sub, """
[workload]
trace = ["../t.csv"]
[grid]
cluster = [{nodes = 1}]
[settings]
restart_overhead_s = 30
idle_power_off_s = 900
speed_table = "../speeds.toml"
estimates = "noisy:0.3"
"""))
    assert spec.workload.paths == (sub.resolve() / ".." / "t.csv",)
    assert spec.workload.digest == file_digest([SAMPLE])  # the content names the trace, not the path
    assert spec.settings["restart_overhead_s"] == 30 and spec.settings["estimates"] == "noisy:0.3"
    assert spec.settings["idle_power_off_s"] == 900
    assert spec.settings["speed_table"] == {"path": str(sub.resolve() / ".." / "speeds.toml"),
                                            "digest": file_digest([tmp_path / "speeds.toml"])}


@pytest.mark.parametrize(
    "text, message",
    [
        ("[grid]\npolicy = ['fcfs']\n", "spec.toml: field 'grid.cluster': missing key; expected a list of clusters"),
        ("[grid]\ncluster = {nodes = 1}\npolicy = ['fcfs', 'nope']\n",
         "spec.toml: field 'grid.policy': expected one of fcfs,"),
        ("[grid]\ncluster = {nodes = 1}\npolicies = ['fcfs']\n",
         "spec.toml: field 'grid.policies': unknown key; expected one of cluster, load_scale, policy, placement, "
         "admission, seeds"),
        ("[grid]\ncluster = {nodes = 0}\n", "spec.toml: field 'grid.cluster[0].nodes': expected an integer >= 1 "
         "(or a list of them) but found 0"),
        ("[grid]\ncluster = {nodes = 1}\nload_scale = [1.0, 1]\n",
         "spec.toml: field 'grid.load_scale': duplicate value; expected each value once but found 1.0"),
        ("[grid]\ncluster = {nodes = 1}\nload_scale = [0]\n",
         "spec.toml: field 'grid.load_scale': expected numbers > 0 but found 0"),
        ("[grid]\ncluster = {nodes = 1}\nseeds = 0\n",
         "spec.toml: field 'grid.seeds': expected a count >= 1 or a list of seeds >= 0 but found 0"),
        ("[grid]\ncluster = {nodes = 1}\nseeds = [1, -1]\n",
         "spec.toml: field 'grid.seeds': expected integers >= 0 but found -1"),
        ("[grid]\ncluster = {nodes = 1}\n[settings]\nrestart_overhead_s = -1\n",
         "spec.toml: field 'settings.restart_overhead_s': restart_overhead_s must be a finite number >= 0, got -1"),
        ("[grid]\ncluster = {nodes = 1}\n[settings]\nwarp_speed = 9\n",
         "spec.toml: field 'settings.warp_speed': unknown key; expected a SimConfig field:"),
        ("[grid]\ncluster = {nodes = 1}\n[settings]\nseed = 3\n",
         "spec.toml: field 'settings.seed': not a setting; expected grid.seeds"),
        ("[grid]\ncluster = {nodes = 1}\n[settings]\nspeed_table = 'missing.toml'\n",
         "spec.toml: field 'settings.speed_table': no such file; expected an existing file but found 'missing.toml'"),
        ("[grid]\ncluster = {nodes = 1}\n[policy_params.las]\nquantum_gpu_s = 60\n",
         "spec.toml: field 'policy_params.las': policy not in the grid; expected a policy of grid.policy (fcfs)"),
        ("[grid]\ncluster = {nodes = 1}\npolicy = ['las']\n[policy_params.las]\nquantum_gpu_z = 60\n",
         "spec.toml: field 'policy_params.las':"),
        ("[workload]\ntrace = 'nope.csv'\n[grid]\ncluster = {nodes = 1}\n",
         "spec.toml: field 'workload.trace': no such file; expected an existing file but found 'nope.csv'"),
        ("[workload]\nformat = 'csv'\n[grid]\ncluster = {nodes = 1}\n",
         "spec.toml: field 'workload.format': expected one of native,"),
        ("[workload]\nmax_jobs = 0\n[grid]\ncluster = {nodes = 1}\n",
         "spec.toml: field 'workload.max_jobs': expected an integer >= 1 but found 0"),
        ("[grid]\ncluster = {nodes = 1}\n[extra]\nx = 1\n",
         "spec.toml: field 'extra': unknown key; expected one of workload, grid, settings,"),
        ("[grid]\ncluster = {nodes = 1}\n[settings]\nrestart_overhead_s = nan\n",
         "spec.toml: field 'settings.restart_overhead_s': expected a finite number but found nan"),
        ("[grid\n", "spec.toml: not valid TOML ("),
    ],
)
def test_a_mistake_is_one_line_naming_the_spec_file_and_key(tmp_path: Path, text: str, message: str) -> None:
    with pytest.raises(TraceError) as err:
        load_spec(_spec(tmp_path, text))
    text_err = str(err.value)
    assert "\n" not in text_err
    assert text_err.startswith(str(tmp_path / message.split(":", 1)[0]))
    assert text_err.removeprefix(str(tmp_path) + "/").startswith(message), text_err


def test_a_missing_spec_file_is_one_line(tmp_path: Path) -> None:
    with pytest.raises(TraceError, match=r"nope\.toml: no such file$"):
        load_spec(tmp_path / "nope.toml")


def test_a_synth_workload_is_drawn_per_seed_and_named_by_its_spec_digest(tmp_path: Path) -> None:
    (tmp_path / "s.toml").write_text("num_jobs = 50\nload = 0.7\ncluster_gpus = 8\nmean_duration_s = 600\n")
    spec = load_spec(_spec(tmp_path, '[workload]\nsynth = "s.toml"\n[grid]\ncluster = {nodes = 1}\nseeds = 2\n'))
    assert spec.workload.kind == "synth" and spec.workload.paths == ()
    assert spec.workload.digest == file_digest([tmp_path / "s.toml"])
    with pytest.raises(TraceError, match="field 'workload.trace': expected no trace with a synth spec that does not"):
        load_spec(_spec(tmp_path, f'[workload]\nsynth = "s.toml"\ntrace = "{SAMPLE}"\n[grid]\ncluster = {{nodes = 1}}\n',
                        "t.toml"))


def test_the_example_capacity_study_is_72_runs_on_the_shipped_sample() -> None:
    spec = load_spec(REPO / "examples" / "capacity-study.toml")
    assert spec.workload.digest == file_digest([SAMPLE]) and spec.workload.max_jobs is None
    assert [(c.label, c.num_gpus) for c in spec.clusters] == [("1x8 V100", 8), ("2x8 V100", 16), ("3x8 V100", 24),
                                                              ("4x8 V100", 32)]
    assert (spec.load_scales, spec.policies, spec.seeds) == ((1.0, 2.0), ("fcfs", "sjf", "las"), (0, 1, 2))
    assert spec.settings["idle_power_off_s"] == 900
    assert len(expand(spec)) == 72
