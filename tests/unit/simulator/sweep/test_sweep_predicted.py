"""A sweep whose runs schedule on predicted durations: the model file is named by content, checked up front, and used."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from simulator.predict import train
from simulator.sweep import expand, load_spec
from simulator.sweep.runner import run_one
from simulator.sweep.spec import file_digest
from traces.errors import TraceError
from traces.readers.registry import read_trace

SLICE = Path(__file__).resolve().parents[4] / "traces" / "data" / "philly-dirlab-slice.csv"

SPEC = """
[workload]
trace = ["{trace}"]
max_jobs = 300
[grid]
cluster = [{{nodes = 4}}]
policy = ["sjf", "qssf"]
[settings]
estimates = "predicted:{model}"
"""


@pytest.fixture(scope="module")
def model_file(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("model") / "model.json"
    train(read_trace([SLICE]).workload, kind="median").model.save(path)
    return path


def test_the_model_is_digested_and_its_location_does_not_name_the_runs(tmp_path: Path, model_file: Path) -> None:
    (tmp_path / "a").mkdir()
    (tmp_path / "b").mkdir()
    shutil.copy(model_file, tmp_path / "a" / "m.json")
    shutil.copy(model_file, tmp_path / "b" / "other-name.json")
    ids = []
    for sub, name in (("a", "m.json"), ("b", "other-name.json")):
        spec_path = tmp_path / sub / "spec.toml"
        spec_path.write_text(SPEC.format(trace=SLICE, model=name))
        spec = load_spec(spec_path)
        assert spec.settings["estimates"] == {"predicted": True, "path": str((tmp_path / sub / name).resolve()),
                                              "digest": file_digest([model_file])}
        ids.append([c.run_id for c in expand(spec)])
    assert ids[0] == ids[1] and len(set(ids[0])) == 2


def test_runs_use_the_predictions(tmp_path: Path, model_file: Path) -> None:
    shutil.copy(model_file, tmp_path / "m.json")
    (tmp_path / "spec.toml").write_text(SPEC.format(trace=SLICE, model="m.json"))
    configs = expand(load_spec(tmp_path / "spec.toml"))
    out = run_one(configs[0].config)
    assert out.error is None, out.error
    assert any("predicted" in note for note in out.summary["notes"]), out.summary["notes"]


def test_a_bad_model_file_is_a_spec_error_before_any_run(tmp_path: Path) -> None:
    (tmp_path / "m.json").write_text("{not json")
    (tmp_path / "spec.toml").write_text(SPEC.format(trace=SLICE, model="m.json"))
    with pytest.raises(TraceError, match=r"spec.toml: field 'settings.estimates'.*m.json"):
        load_spec(tmp_path / "spec.toml")
    (tmp_path / "spec.toml").write_text(SPEC.format(trace=SLICE, model="missing.json"))
    with pytest.raises(TraceError, match=r"settings.estimates.*no such file"):
        load_spec(tmp_path / "spec.toml")


def test_a_trained_agent_policy_is_refused_with_a_reason(tmp_path: Path) -> None:
    (tmp_path / "spec.toml").write_text('[grid]\ncluster = [{nodes = 1}]\npolicy = ["fcfs", "rl"]\n'
                                        '[policy_params.rl]\nagent = "agent"\n')
    with pytest.raises(TraceError, match=r"field 'grid.policy': policy 'rl' \(a trained agent\) cannot run in a sweep"):
        load_spec(tmp_path / "spec.toml")
