"""Policy parameters given as strings (`--policy-param NAME=VALUE`) parse to the constructor's types."""

from __future__ import annotations

import csv
import math
from pathlib import Path
from typing import ClassVar

import pytest
from typer.testing import CliRunner

from executor.cli.main import app
from simulator.cluster import Cluster
from simulator.policies import POLICIES, FcfsPolicy, make_policy
from simulator.policies.las_2d import Las2dPolicy
from simulator.run import SimConfig, simulate
from traces.errors import UserError
from traces.model import Job, Workload


def test_tuple_parameters_parse_comma_separated_values() -> None:
    policy = make_policy("las-2d", thresholds_gpu_s="3250, 7200", starvation_factor="inf", max_scan="10")
    assert isinstance(policy, Las2dPolicy)
    assert policy.thresholds_gpu_s == (3250.0, 7200.0)
    assert policy.starvation_factor == math.inf
    assert policy.max_scan == 10
    single = make_policy("las-2d", thresholds_gpu_s="3250")
    assert isinstance(single, Las2dPolicy) and single.thresholds_gpu_s == (3250.0,)
    none = make_policy("las-2d", thresholds_gpu_s="")  # no thresholds: one queue
    assert isinstance(none, Las2dPolicy) and none.thresholds_gpu_s == ()


def test_non_string_values_pass_through() -> None:
    policy = make_policy("las-2d", thresholds_gpu_s=(10.0, 20.0), max_scan=5)
    assert isinstance(policy, Las2dPolicy) and policy.thresholds_gpu_s == (10.0, 20.0) and policy.max_scan == 5


@pytest.mark.parametrize(
    "key, name, text, expected",
    [
        ("las-2d", "thresholds_gpu_s", "3250,abc", "expected comma-separated floats (e.g. 1,2) but found '3250,abc'"),
        ("las-2d", "thresholds_gpu_s", "100,,400", "expected comma-separated floats (e.g. 1,2) but found '100,,400'"),
        ("las-2d", "max_scan", "1.5", "expected an int but found '1.5'"),
        ("las", "quantum_gpu_s", "ten", "expected a float but found 'ten'"),
        ("themis", "round_s", "", "expected a float but found ''"),
    ],
)
def test_bad_values_name_policy_parameter_type_and_value(key: str, name: str, text: str, expected: str) -> None:
    with pytest.raises(UserError) as info:
        make_policy(key, **{name: text})
    assert str(info.value) == f"policy {key!r} parameter {name!r}: {expected}"


class Knobs(FcfsPolicy):
    """A stand-in policy with one parameter of each kind the parser knows."""

    key: ClassVar[str] = "knobs"

    def __init__(self, flag: bool = False, limit_s: float | None = None, pair: tuple[int, str] = (1, "a")) -> None:
        self.flag, self.limit_s, self.pair = flag, limit_s, pair


def test_booleans_optionals_and_fixed_tuples(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(POLICIES, "knobs", Knobs)
    policy = make_policy("knobs", flag="no", limit_s="none", pair="3, b")
    assert isinstance(policy, Knobs)
    assert (policy.flag, policy.limit_s, policy.pair) == (False, None, (3, "b"))
    policy = make_policy("knobs", flag="True", limit_s="2.5")
    assert isinstance(policy, Knobs) and (policy.flag, policy.limit_s) == (True, 2.5)
    with pytest.raises(UserError, match=r"parameter 'flag': expected a bool but found 'maybe'"):
        make_policy("knobs", flag="maybe")
    with pytest.raises(UserError, match=r"parameter 'limit_s': expected a float or none but found 'x'"):
        make_policy("knobs", limit_s="x")
    with pytest.raises(UserError, match=r"parameter 'pair': expected 2 comma-separated values \(an int, a str\)"):
        make_policy("knobs", pair="1,b,c")


def test_values_of_the_right_type_still_meet_the_policy_checks() -> None:
    with pytest.raises(UserError, match="policy 'las-2d': queue thresholds must be strictly increasing"):
        make_policy("las-2d", thresholds_gpu_s="7200,3250")


def test_string_parameters_stay_strings() -> None:
    assert make_policy("fair-share", by="group").by == "group"  # type: ignore[attr-defined]


def num_preemptions(jobs_csv: Path) -> int:
    rows = list(csv.DictReader(jobs_csv.open()))
    return sum(int(r["num_preemptions"]) for r in rows)


def test_the_command_line_path(tmp_path: Path) -> None:
    # Six 5000 s jobs on 2 GPUs: queues split at 100 and 400 GPU-s preempt far more often
    # than the default single split at 3250 (16 preemptions against 4), so the run shows
    # which thresholds it got.
    jobs = [Job(f"j{i}", float(i), 5000.0, 1) for i in range(6)]
    trace = tmp_path / "t.csv"
    trace.write_text("job_id,submit_s,duration_s,num_gpus\n" + "".join(f"{j.job_id},{i},5000,1\n" for i, j in enumerate(jobs)))
    runner = CliRunner()
    args = ["simulate", str(trace), "--nodes", "1", "--gpus-per-node", "2", "--policy", "las-2d",
            "--policy-param", "thresholds_gpu_s=100,400", "--out", str(tmp_path / "out")]
    result = runner.invoke(app, args)
    assert result.exit_code == 0, result.stderr
    wl = Workload.from_jobs(jobs)
    want = simulate(wl, Cluster.uniform(1, 2), SimConfig("las-2d", policy_params={"thresholds_gpu_s": (100.0, 400.0)}))
    default = simulate(wl, Cluster.uniform(1, 2), SimConfig("las-2d"))
    expected = sum(want.jobs.column("num_preemptions").to_pylist())
    assert expected != sum(default.jobs.column("num_preemptions").to_pylist())
    assert num_preemptions(tmp_path / "out" / "jobs.csv") == expected
    bad = runner.invoke(app, [*args[:-4], "--policy-param", "thresholds_gpu_s=100;400", "--out", str(tmp_path / "b")])
    assert bad.exit_code == 2
    assert "policy 'las-2d' parameter 'thresholds_gpu_s': expected comma-separated floats" in bad.stderr
    assert "found '100;400'" in bad.stderr
