"""`gpusched theory ...`: hand-checked numbers, JSON output, --help examples, one-line errors with exit 2."""

from __future__ import annotations

import json
import math

import pytest
from typer.testing import CliRunner

from executor.cli.main import app

runner = CliRunner()


def run(*args: str) -> tuple[int, str, str]:
    result = runner.invoke(app, [str(a) for a in args])
    return result.exit_code, result.stdout, result.stderr


@pytest.mark.parametrize("cmd", [["theory"], ["theory", "mmc"], ["theory", "min-servers"], ["theory", "priority"]])
def test_help_teaches_with_an_example(cmd: list[str]) -> None:
    code, out, _ = run(*cmd, "--help")
    assert code == 0
    assert "Usage" in out
    if cmd != ["theory"]:
        assert "Example" in out


def test_theory_is_listed_in_the_top_level_help() -> None:
    code, out, _ = run("--help")
    assert code == 0 and "theory" in out


def test_mmc_text_worked_by_hand() -> None:
    # M/M/3, lam = 2, mu = 1: P(wait) = 4/9, W_q = 4/9, T = 13/9, L_q = 8/9, p90 = ln(40/9).
    code, out, err = run("theory", "mmc", "--arrival-rate", "2", "--service-rate", "1", "--servers", "3",
                         "--quantiles", "0.5,0.9")
    assert code == 0, err
    lines = out.splitlines()
    assert lines[0] == "M/M/3: arrivals 2/s, service 1/s per server, offered load 2 Erlangs"
    assert lines[1:] == [
        "utilisation        0.666667",
        "P(wait)            0.444444",
        "mean wait          0.444444 s",
        "mean sojourn       1.44444 s",
        "mean queue length  0.888889 jobs",
        "wait p50           0 s",
        f"wait p90           {math.log(40 / 9):.6g} s",
    ]


def test_mmc_json() -> None:
    code, out, err = run("theory", "mmc", "--arrival-rate", "0.5", "--service-rate", "1", "--servers", "1", "--json")
    assert code == 0, err
    d = json.loads(out)
    assert d["servers"] == 1
    assert d["utilisation"] == pytest.approx(0.5)
    assert d["wait_probability"] == pytest.approx(0.5)
    assert d["mean_wait_s"] == pytest.approx(1.0)  # M/M/1: rho / (mu - lam)
    assert d["mean_sojourn_s"] == pytest.approx(2.0)
    assert d["mean_queue_len"] == pytest.approx(0.5)
    # P(W > t) = 0.5 e^{-t/2}: p95 = 2 ln 10, p99 = 2 ln 50; the median is 0.
    assert d["wait_quantiles_s"] == pytest.approx({"0.5": 0.0, "0.95": 2 * math.log(10), "0.99": 2 * math.log(50)})


def test_min_servers_mean_wait_and_quantile() -> None:
    # a = 2 Erlangs: W_q(3) = 4/9 > 0.4 >= W_q(4) = 2/23.
    code, out, err = run("theory", "min-servers", "--arrival-rate", "2", "--service-rate", "1", "--mean-wait-s", "0.4")
    assert code == 0, err
    assert out.splitlines()[0] == "servers needed: 4"
    assert "mean wait          0.0869565 s" in out
    # P(W > 0) is 4/9 with 3 servers: "half never wait" is met by 3.
    code, out, err = run("theory", "min-servers", "--arrival-rate", "2", "--service-rate", "1",
                         "--wait-quantile", "0.5", "--wait-s", "0", "--json")
    assert code == 0, err
    d = json.loads(out)
    assert d["servers"] == 3
    assert d["target_wait_quantile"] == {"p": 0.5, "wait_s": 0.0}
    assert d["wait_quantiles_s"] == {"0.5": 0.0}


def test_priority_single_server_worked_by_hand() -> None:
    # W0 = (1e-4 * 2 * 1800^2 + 1.5e-4 * 5 * 3600^2) / 2 = 5184 s; sigma = (0.18, 0.72);
    # W_1 = 5184 / 0.82 = 6321.95 s, W_2 = 5184 / (0.82 * 0.28) = 22578.4 s; FCFS 5184 / 0.28 = 18514.3 s.
    code, out, err = run("theory", "priority", "--class", "0.0001,1800", "--class", "0.00015,3600,4")
    assert code == 0, err
    lines = out.splitlines()
    assert lines[0].split() == ["class", "arrivals/s", "mean", "service", "s", "SCV", "load", "mean", "wait", "s",
                                "mean", "sojourn", "s"]
    assert lines[1].split() == ["1", "0.0001", "1800", "1", "0.18", "6321.95", "8121.95"]
    assert lines[2].split() == ["2", "0.00015", "3600", "4", "0.54", "22578.4", "26178.4"]
    assert lines[3] == "total load 0.72; mean wait of all jobs under FCFS instead: 18514.3 s"


def test_priority_several_servers_json() -> None:
    # M/M/3, mu = 1, lam = (1, 1): W0 = C(3, 2) / 3 = 4/27; W = (2/9, 2/3); FCFS 4/9.
    code, out, err = run("theory", "priority", "--class", "1,1", "--class", "1,1,1", "--servers", "3", "--json")
    assert code == 0, err
    d = json.loads(out)
    assert [c["mean_wait_s"] for c in d["classes"]] == pytest.approx([2 / 9, 2 / 3])
    assert d["fcfs_mean_wait_s"] == pytest.approx(4 / 9)
    assert d["total_load"] == pytest.approx(2 / 3)


MMC = ["theory", "mmc", "--service-rate", "1"]
MIN = ["theory", "min-servers", "--arrival-rate", "1", "--service-rate", "1"]


@pytest.mark.parametrize(
    "args, message",
    [
        ([*MMC, "--arrival-rate", "5", "--servers", "4"],
         "unstable: arrival rate 5/s is at least 4 server(s) x service rate 1/s = 4/s (utilisation 1.25 >= 1), "
         "so the queue grows without bound"),
        ([*MMC, "--arrival-rate", "4", "--servers", "4"],
         "unstable: arrival rate 4/s is at least 4 server(s) x service rate 1/s = 4/s (utilisation 1 >= 1), "
         "so the queue grows without bound"),
        ([*MMC, "--arrival-rate", "nan", "--servers", "4"], "--arrival-rate must be a finite number >= 0, got nan"),
        ([*MMC, "--arrival-rate", "-1", "--servers", "4"], "--arrival-rate must be a finite number >= 0, got -1"),
        (["theory", "mmc", "--arrival-rate", "1", "--service-rate", "0", "--servers", "4"],
         "--service-rate must be a finite number > 0, got 0"),
        (["theory", "mmc", "--arrival-rate", "1", "--service-rate", "inf", "--servers", "4"],
         "--service-rate must be a finite number > 0, got inf"),
        ([*MMC, "--arrival-rate", "1", "--servers", "0"], "--servers must be an integer >= 1, got 0"),
        ([*MMC, "--arrival-rate", "1", "--servers", "2", "--quantiles", "0.5,abc"],
         "--quantiles: expected numbers in [0, 1) separated by commas but found 'abc'"),
        ([*MMC, "--arrival-rate", "1", "--servers", "2", "--quantiles", "1"],
         "--quantiles must be a probability in [0, 1), got 1"),
        (MIN, "give a target: --mean-wait-s SECONDS, or --wait-quantile P --wait-s SECONDS (or both)"),
        ([*MIN, "--wait-quantile", "0.9"],
         "--wait-quantile and --wait-s go together: the fraction of jobs and the wait bound"),
        ([*MIN, "--mean-wait-s", "0"], "--mean-wait-s must be a finite number > 0, got 0"),
        ([*MIN, "--wait-quantile", "1", "--wait-s", "10"], "--wait-quantile must be a probability in (0, 1), got 1"),
        ([*MIN, "--wait-quantile", "0.9", "--wait-s", "-3"], "--wait-s must be a finite number >= 0, got -3"),
        (["theory", "priority", "--class", "0.6,1", "--class", "0.6,1"],
         "unstable: the classes together load the 1 server(s) to 1.2 >= 1, so the lowest classes wait without bound"),
        (["theory", "priority", "--class", "0.1"],
         "--class '0.1': expected RATE,MEAN_S[,SCV] (2 or 3 numbers separated by commas)"),
        (["theory", "priority", "--class", "0.1,x"], "--class '0.1,x': expected RATE,MEAN_S[,SCV] with numbers but found 'x'"),
        (["theory", "priority", "--class", "0.1,-2"], "--class '0.1,-2': MEAN_S must be a finite number > 0, got -2"),
        (["theory", "priority", "--class", "0.1,1,-1"], "--class '0.1,1,-1': SCV must be a finite number >= 0, got -1"),
        (["theory", "priority", "--class", "0.1,1", "--class", "0.1,2", "--servers", "2"],
         "with --servers above 1 every class must have exponential service (SCV 1) and the same MEAN_S "
         "(Cobham's M/M/c result); got MEAN_S 1, 2 and SCV 1, 1"),
    ],
)
def test_bad_input_is_one_line_and_exit_2(args: list[str], message: str) -> None:
    code, out, err = run(*args)
    assert code == 2, (out, err)
    assert "Traceback" not in err
    assert err.rstrip("\n").splitlines() == [f"gpusched: error: {message}"]
