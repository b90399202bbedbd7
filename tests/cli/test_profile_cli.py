"""`gpusched profile`: writes the calibration table the simulator and executor read; bad flags are one line."""

from __future__ import annotations

import csv
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
import typer
from typer.testing import CliRunner

from executor.cli import profile_cmd
from executor.profile import PROFILE_COLUMNS, ProfileTable
from simulator.speed import load_speed_table

app = typer.Typer()
app.command("profile")(profile_cmd.profile)


@app.command("version")
def _version() -> None:  # a second command keeps `profile` a subcommand, as in gpusched
    typer.echo("test")


runner = CliRunner()


def run(*args: object) -> tuple[int, str, str]:
    result = runner.invoke(app, ["profile", *(str(a) for a in args)])
    return result.exit_code, result.stdout, result.stderr


def test_help_teaches_with_examples() -> None:
    code, out, _ = run("--help")
    assert code == 0
    for text in ("Examples:", "gpusched profile --models mlp,cnn", "--speed-table", "--gang-sizes", "--logical-cpus",
                 "--warmup-steps", "--repeats", "--append", "--no-progress"):
        assert text in out, text


@pytest.mark.parametrize(
    "args, message",
    [
        (["--models", "foo"],
         "--models: expected names from mlp, cnn, simple_rnn, lstm, gru, gan, transfer but found 'foo'"),
        (["--models", ","],
         "--models: expected names from mlp, cnn, simple_rnn, lstm, gru, gan, transfer but found ''"),
        (["--batch-size", "32,0"], "--batch-size: expected whole numbers >= 1 separated by commas but found '0'"),
        (["--gang-sizes", "1,two"], "--gang-sizes: expected whole numbers >= 1 separated by commas but found 'two'"),
        (["--devices", "-1"], "--devices: expected whole numbers >= 0 separated by commas but found '-1'"),
        (["--steps", "0"], "--steps: expected a whole number >= 1 but found 0"),
        (["--logical-cpus", "0"], "--logical-cpus: expected a whole number >= 1 but found 0"),
        (["--gpu-type", "A,B"], "--gpu-type: expected a label without commas but found 'A,B'"),
    ],
)
def test_bad_flags_are_one_line_and_exit_2(args: list[str], message: str, tmp_path: Path) -> None:
    code, out, err = run(*args, "--out", tmp_path / "p.csv")
    assert code == 2 and out == ""
    assert err == f"gpusched: error: {message}\n"
    assert not (tmp_path / "p.csv").exists()


def test_a_bad_out_path_is_refused_before_any_work(tmp_path: Path) -> None:
    code, _, err = run("--models", "mlp", "--out", tmp_path)
    assert code == 2 and err.startswith(f"gpusched: error: {tmp_path}: --out is a directory")
    code, _, err = run("--models", "mlp", "--out", tmp_path / "no" / "p.csv")
    assert code == 2 and "--out is in a folder that does not exist" in err


def test_append_to_a_malformed_table_fails_before_profiling(tmp_path: Path) -> None:
    out = tmp_path / "p.csv"
    out.write_text(",".join(PROFILE_COLUMNS) + "\nCPU,mlp,32,1,fast,1,5,50,5,1,/device:CPU:0,,tensorflow,float32\n")
    code, _, err = run("--models", "mlp", "--append", "--out", out)
    assert code == 2
    assert err == f"gpusched: error: {out}:1: field 'steps_per_s': expected a number > 0 but found 'fast'\n"


@pytest.mark.slow
def test_profile_writes_the_table_and_append_adds_a_second_type(tmp_path: Path) -> None:
    out = tmp_path / "f.csv"
    quick = ("--steps", 3, "--repeats", 2, "--warmup-steps", 1, "--no-progress", "--cache-dir", tmp_path / "cache")
    code, stdout, err = run("--models", "mlp", *quick, "--out", out)
    assert code == 0, err
    with out.open(newline="") as f:
        records = list(csv.DictReader(f))
    assert list(records[0]) == list(PROFILE_COLUMNS) and len(records) == 1
    assert (records[0]["gpu_type"], records[0]["model_name"], records[0]["batch_size"]) == ("CPU", "mlp", "32")
    assert "steps/s" in stdout and "mlp" in stdout
    assert f"wrote 1 row(s) to {out}; use it with: gpusched simulate --speed-table {out}" in err
    assert "lacks: profile the reference machine with --gpu-type V100 --append" in err

    code, _, err = run("--models", "mlp", *quick, "--gpu-type", "Slow", "--append", "--out", out)
    assert code == 0, err
    table = ProfileTable.load(out)
    assert table.types == ("CPU", "Slow") and table.rate("Slow", "mlp", 32) > 0
    speed = load_speed_table(out, reference_type="CPU")
    assert speed.factor("Slow", "mlp") == pytest.approx(table.rate("Slow", "mlp", 32) / table.rate("CPU", "mlp", 32))


@pytest.mark.slow
def test_a_gang_larger_than_the_logical_cpus_is_a_user_error(tmp_path: Path) -> None:
    # In a fresh process: TensorFlow's devices can be laid out once per process, and other tests in
    # this one may already have done it.
    proc = subprocess.run([sys.executable, "-m", "executor.cli.main", "profile", "--models", "mlp", "--gang-sizes",
                           "2", "--logical-cpus", "1", "--out", str(tmp_path / "p.csv")],
                          capture_output=True, text=True, timeout=300, env={**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3"})
    code, err = proc.returncode, "".join(line + "\n" for line in proc.stderr.splitlines()
                                        if line.startswith("gpusched:"))
    assert code == 2
    assert err == (
        "gpusched: error: a gang of 2 devices starting at device 0 needs 2 CPU device(s) but this process has 1 "
        "(split the CPU with --logical-cpus): /device:CPU:0\n"
    )


GANG_SCRIPT = """
    import sys, typer
    from executor.cli import profile_cmd
    app = typer.Typer()
    app.command("profile")(profile_cmd.profile)
    app.command("version")(lambda: None)
    app(["profile", *sys.argv[1:]])
"""


@pytest.mark.slow
def test_gang_sizes_split_the_cpu_into_as_many_logical_devices_as_needed(tmp_path: Path) -> None:
    out = tmp_path / "gang.csv"
    env = {k: v for k, v in os.environ.items() if k not in ("KERAS_BACKEND", "XLA_FLAGS")}
    env.update(TF_CPP_MIN_LOG_LEVEL="3", CUDA_VISIBLE_DEVICES="")
    args = ["--models", "mlp", "--gang-sizes", "1,2", "--batch-size", "8", "--steps", "3", "--repeats", "2",
            "--warmup-steps", "1", "--cache-dir", str(tmp_path / "cache"), "--out", str(out)]
    proc = subprocess.run([sys.executable, "-c", textwrap.dedent(GANG_SCRIPT), *args], capture_output=True,
                          text=True, timeout=300, env=env, cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr[-3000:]
    table = ProfileTable.load(out)
    assert [(r.num_devices, r.device_name) for r in table.rows] == [
        (1, "/device:CPU:0"), (2, "/device:CPU:0;/device:CPU:1")]
    assert table.rate("CPU", "mlp", 8, 2) > 0
