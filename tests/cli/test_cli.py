"""The `gpusched` command: --help teaches, happy paths on the shipped sample, one-line errors with exit 2."""

from __future__ import annotations

import gzip
import json
import subprocess
import sys
from pathlib import Path

import pyarrow.parquet as pq
import pytest
from typer.testing import CliRunner

from executor.cli.common import sample_trace
from executor.cli.main import app

runner = CliRunner()
HEADER = "job_id,submit_s,duration_s,num_gpus\n"


def run(*args: str) -> tuple[int, str, str]:
    result = runner.invoke(app, [str(a) for a in args])
    return result.exit_code, result.stdout, result.stderr


@pytest.mark.parametrize(
    "cmd",
    [[], ["simulate"], ["traces"], ["traces", "inspect"], ["traces", "validate"], ["traces", "convert"],
     ["traces", "synth"], ["traces", "formats"]],
)
def test_help_teaches_with_an_example(cmd: list[str]) -> None:
    code, out, _ = run(*cmd, "--help")
    assert code == 0
    assert "Usage" in out
    if cmd and cmd != ["traces"] and cmd != ["traces", "formats"]:
        assert "Example" in out


def test_simulate_without_arguments_runs_the_shipped_sample(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    code, out, err = run("simulate")
    assert code == 0, err
    out_dir = tmp_path / "gpusched-out"
    for name in ("jobs.csv", "summary.csv", "timeline.csv", "schedule.csv", "run.json"):
        assert (out_dir / name).stat().st_size > 0
    assert "jobs             3629" in out
    assert "GPU utilisation" in out
    assert "0 violations" in err
    info = json.loads((out_dir / "run.json").read_text())
    assert info["trace_rows_read"] == 3629
    assert info["cluster"] == "2 nodes, 16 GPUs (16 x V100)"
    jobs = (out_dir / "jobs.csv").read_text().splitlines()
    assert len(jobs) == 3630
    assert jobs[0].startswith("run_id,policy,placement,seed,job_id,submit_s,start_s,end_s,wait_s,jct_s")


def test_simulate_is_byte_identical_for_the_same_seed(tmp_path: Path) -> None:
    for d in ("a", "b"):
        code, _, err = run("simulate", "--policy", "sjf", "--out", tmp_path / d, "--seed", "3")
        assert code == 0, err
    for name in ("jobs.csv", "summary.csv", "timeline.csv", "schedule.csv"):
        assert (tmp_path / "a" / name).read_bytes() == (tmp_path / "b" / name).read_bytes(), name


@pytest.mark.parametrize("fmt", ["parquet", "json"])
def test_simulate_other_formats(tmp_path: Path, fmt: str) -> None:
    code, _, err = run("simulate", "--out", tmp_path, "--format", fmt, "--nodes", "3")
    assert code == 0, err
    if fmt == "parquet":
        assert pq.read_table(tmp_path / "jobs.parquet").num_rows == 3629
    else:
        assert len(json.loads((tmp_path / "jobs.json").read_text())) == 3629


def test_convert_then_simulate_gives_the_same_jobs(tmp_path: Path) -> None:
    native = tmp_path / "sample.parquet"
    code, _, err = run("traces", "convert", sample_trace(), "--out", native)
    assert code == 0, err
    assert run("simulate", "--out", tmp_path / "orig")[0] == 0
    assert run("simulate", native, "--out", tmp_path / "conv")[0] == 0
    orig = (tmp_path / "orig" / "jobs.csv").read_text()
    conv = (tmp_path / "conv" / "jobs.csv").read_text()
    assert orig == conv


def test_inspect_json_numbers(tmp_path: Path) -> None:
    code, out, err = run("traces", "inspect", "--json")
    assert code == 0, err
    d = json.loads(out)
    assert d["jobs"] == 3629
    assert d["gpu_count_histogram"] == {"1": 3465, "2": 50, "4": 37, "8": 77}
    assert d["cluster_gpus"] == 16
    assert 0.6 < d["offered_load"] < 0.66


def test_inspect_text_shows_skips_and_load(shared_traces: Path) -> None:
    code, out, err = run("traces", "inspect", shared_traces / "alibaba-openb-2023" / "openb_pod_list_default.csv",
                         "--nodes", "100")
    assert code == 0, err
    assert "skipped 1088: CPU-only pod (0 GPUs)" in err
    assert "offered load:" in out


def test_synth_hits_the_requested_load(tmp_path: Path) -> None:
    out = tmp_path / "synth.csv"
    code, _, err = run("traces", "synth", "--out", out, "--num-jobs", "20000", "--load", "0.8",
                       "--nodes", "1", "--gpus-per-node", "8", "--gpus", "1:0.5,2:0.5", "--seed", "7")
    assert code == 0, err
    code, stdout, _ = run("traces", "inspect", out, "--json", "--nodes", "1", "--gpus-per-node", "8")
    assert code == 0
    assert abs(json.loads(stdout)["offered_load"] - 0.8) < 0.05
    code2, _, _ = run("traces", "synth", "--out", tmp_path / "again.csv", "--num-jobs", "20000", "--load", "0.8",
                      "--nodes", "1", "--gpus-per-node", "8", "--gpus", "1:0.5,2:0.5", "--seed", "7")
    assert code2 == 0
    assert out.read_bytes() == (tmp_path / "again.csv").read_bytes()


def test_validate_ok_and_too_small_cluster(tmp_path: Path) -> None:
    code, out, _ = run("traces", "validate")
    assert code == 0 and "all fit" in out
    trace = tmp_path / "big.csv"
    trace.write_text(HEADER + "a,0,10,1\nb,5,10,64\n")
    code, _, err = run("traces", "validate", trace, "--nodes", "2")
    assert code == 2
    assert err.strip().splitlines()[-1] == (
        f"gpusched: error: {trace}: job b can never run on this cluster: it needs 64 GPUs but the cluster has only 16 GPUs"
    )


def _bad_inputs(tmp: Path) -> list[tuple[str, Path, str]]:
    """(case, path, expected message after 'gpusched: error: ')."""
    cases: list[tuple[str, Path, str]] = []

    def add(case: str, name: str, content: bytes, message: str) -> None:
        p = tmp / name
        p.write_bytes(content)
        cases.append((case, p, message.format(p=p)))

    add("empty file", "empty.csv", b"", "{p}: the file is empty; expected a header line and at least one row")
    add("header only", "header.csv", HEADER.encode(),
        "{p}: the file has a header but no rows; expected at least one data row")
    add("unknown column", "unknown.csv", b"job_id,submit_s,duration_s,num_gpus,colour\na,0,10,1,red\n",
        "{p}: field 'colour': unknown column; expected one of job_id, submit_s, duration_s, num_gpus, gpu_frac, "
        "gpu_mem_gib, priority, weight, deadline_s, gpu_types, user, group, model_name, status")
    add("wrong type", "type.csv", (HEADER + "a,0,abc,1\n").encode(),
        "{p}:1: field 'duration_s': expected a number but found 'abc'")
    add("nan", "nan.csv", (HEADER + "a,0,nan,1\n").encode(),
        "{p}:1: field 'duration_s': expected a finite number but found nan")
    add("inf", "inf.csv", (HEADER + "a,inf,10,1\n").encode(),
        "{p}:1: field 'submit_s': expected a finite number but found inf")
    add("negative duration", "neg.csv", (HEADER + "a,0,10,1\nb,0,-5,1\n").encode(),
        "{p}:2: field 'duration_s': expected a finite number > 0 but found -5.0")
    add("zero duration", "zero.csv", (HEADER + "a,0,0,1\n").encode(),
        "{p}:1: field 'duration_s': expected a finite number > 0 but found 0.0")
    add("duplicate id", "dup.csv", (HEADER + "a,0,10,1\na,5,10,1\n").encode(),
        "{p}:2: field 'job_id': duplicate job id (first at row 1); expected unique job ids but found 'a'")
    add("more GPUs than the cluster", "big.csv", (HEADER + "a,0,10,64\n").encode(),
        "{p}: job a can never run on this cluster: it needs 64 GPUs but the cluster has only 16 GPUs")
    add("times going backwards", "dirlab.csv",
        b"u_id,user,gpu_num,cpu_num,node_num,interval,run_time,wall_time,new_status\n"
        b"0,1,1,0,1,0,100,0,Pass\n1,1,1,0,1,-5,100,0,Pass\n",
        "{p}:2: field 'interval': times must not go backwards; expected an integer >= 0 but found '-5'")
    add("wrong encoding", "latin1.csv", (HEADER + "a,0,10,1\n").encode() + "b\xe9,5,10,1\n".encode("latin-1"),
        "{p}: line 3: byte 0xe9 is not valid UTF-8; expected UTF-8 text")
    full = gzip.compress((HEADER + "".join(f"j{i},{i},10,1\n" for i in range(5000))).encode())
    add("truncated gzip", "cut.csv.gz", full[: len(full) // 2],
        "{p}: the gzip stream is truncated or corrupt (Compressed file ended before the end-of-stream marker "
        "was reached)")
    d = tmp / "a-directory"
    d.mkdir()
    cases.append(("directory", d, f"{d}: is a directory; expected a trace file (pass the file inside it)"))
    cases.append(("missing file", tmp / "nope.csv", f"{tmp / 'nope.csv'}: no such file"))
    return cases


CASES = [
    "empty file", "header only", "unknown column", "wrong type", "nan", "inf", "negative duration",
    "zero duration", "duplicate id", "more GPUs than the cluster", "times going backwards", "wrong encoding",
    "truncated gzip", "directory", "missing file",
]


@pytest.mark.parametrize("case", CASES)
@pytest.mark.parametrize("command", [["simulate"], ["traces", "inspect"]])
def test_bad_input_is_one_line_and_exit_2(tmp_path: Path, case: str, command: list[str]) -> None:
    cases = {c: (p, m) for c, p, m in _bad_inputs(tmp_path)}
    path, message = cases[case]
    if command == ["traces", "inspect"] and case == "more GPUs than the cluster":
        command = ["traces", "validate"]
    code, _, err = run(*command, path, "--out", tmp_path / "out") if command == ["simulate"] else run(*command, path)
    assert code == 2, err
    assert "Traceback" not in err
    assert err.rstrip("\n").splitlines()[-1] == f"gpusched: error: {message}"


def test_bad_cluster_file_and_flags(tmp_path: Path) -> None:
    toml = tmp_path / "cluster.toml"
    toml.write_text('[[nodes]]\ncount = 2\ngpu_type = "A100"\nnum_gpus = "eight"\ngpu_mem_gib = 80\n')
    code, _, err = run("simulate", "--cluster", toml, "--out", tmp_path / "o")
    assert code == 2
    assert err.strip().splitlines()[-1] == (
        f"gpusched: error: {toml}: field 'nodes[0].num_gpus': expected an integer but found 'eight'"
    )
    code, _, err = run("simulate", "--policy", "magic", "--out", tmp_path / "o")
    assert code == 2
    assert err.strip().splitlines()[-1].startswith("gpusched: error: --policy: expected one of fcfs, sjf, ")
    assert err.strip().endswith("but found 'magic'")
    code, _, err = run("simulate", "--cluster", toml, "--nodes", "2", "--out", tmp_path / "o")
    assert code == 2 and "give either --cluster FILE or --nodes N, not both" in err


def test_cluster_toml_happy_path(tmp_path: Path) -> None:
    toml = tmp_path / "cluster.toml"
    toml.write_text(
        '[[nodes]]\ncount = 1\ngpu_type = "A100"\nnum_gpus = 8\ngpu_mem_gib = 80\n'
        '[[nodes]]\ncount = 2\ngpu_type = "V100"\nnum_gpus = 4\ngpu_mem_gib = 32\nrack = "r1"\n'
    )
    code, _, err = run("simulate", "--cluster", toml, "--out", tmp_path / "o")
    assert code == 0, err
    assert "3 nodes, 16 GPUs (8 x A100, 8 x V100)" in err


def test_console_script_entry_point(tmp_path: Path) -> None:
    """The installed `gpusched` script: real process, real exit codes."""
    bad = tmp_path / "empty.csv"
    bad.write_text("")
    proc = subprocess.run([sys.executable, "-m", "executor.cli.main", "simulate", str(bad)],
                          capture_output=True, text=True, timeout=120, cwd=tmp_path)
    assert proc.returncode == 2
    assert proc.stderr.strip() == f"gpusched: error: {bad}: the file is empty; expected a header line and at least one row"
    assert proc.returncode == 2
    assert proc.stderr.strip() == f"gpusched: error: {bad}: the file is empty; expected a header line and at least one row"


def test_random_placement_follows_the_seed(tmp_path: Path) -> None:
    def schedule(seed: str, name: str) -> bytes:
        code, _, err = run("simulate", "--placement", "random", "--nodes", "3", "--seed", seed, "--out", tmp_path / name)
        assert code == 0, err
        return (tmp_path / name / "schedule.csv").read_bytes()

    assert schedule("1", "a") == schedule("1", "b")
    assert schedule("1", "a") != schedule("2", "c")
