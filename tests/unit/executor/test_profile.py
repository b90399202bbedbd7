"""The profile table: measured with real Keras training, written atomically, read back strictly."""

from __future__ import annotations

import csv
import json
import os
import subprocess
import sys
import textwrap
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest

from executor.profile import PROFILE_COLUMNS, ProfileConfig, ProfileRow, ProfileTable
from simulator.speed import load_speed_table
from traces.errors import TraceError, UserError

HEADER = ",".join(PROFILE_COLUMNS)


def row(gpu_type: str = "CPU", model: str = "mlp", batch_size: int = 32, num_devices: int = 1,
        rate: float = 100.0, device: str = "/device:CPU:0", **kwargs: Any) -> ProfileRow:
    values: dict[str, Any] = dict(gpu_type=gpu_type, model_name=model, batch_size=batch_size,
                                  num_devices=num_devices, steps_per_s=rate, steps_per_s_std=rate / 50, repeats=5,
                                  steps=50, warmup_steps=5, size=1, device_name=device, device_mem_gib=23.54,
                                  backend="tensorflow", precision="float32")
    values.update(kwargs)
    return ProfileRow(**values)


def write_lines(path: Path, *lines: str) -> Path:
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


GOOD = "CPU,mlp,32,1,812.5,30.75,5,50,5,1,/device:CPU:0,23.54,tensorflow,float32"


# ----- write / load --------------------------------------------------------------------------------
def test_write_then_load_gives_the_same_rows_in_the_fixed_column_order(tmp_path: Path) -> None:
    rows = (
        row(rate=812.4068581728978),
        row(num_devices=2, rate=189.56631908085484, device="/device:CPU:0;/device:CPU:1"),
        row(model="cnn", rate=99.7, device_mem_gib=None),
        row(gpu_type="H100", model="cnn", batch_size=64, rate=3100.25, device="/device:GPU:0", device_mem_gib=79.65,
            precision="mixed_bfloat16", backend="jax", steps_per_s_std=0.0),
    )
    path = tmp_path / "profile.csv"
    ProfileTable(rows).write(path)
    lines = path.read_text().splitlines()
    assert lines[0] == HEADER
    assert lines[3] == "CPU,cnn,32,1,99.7,1.994,5,50,5,1,/device:CPU:0,,tensorflow,float32"
    loaded = ProfileTable.load(path)
    assert loaded.rows == rows and loaded.source == str(path)
    assert [p.name for p in tmp_path.iterdir()] == ["profile.csv"]  # no temporary file left behind


def test_write_replaces_atomically_and_refuses_a_directory(tmp_path: Path) -> None:
    path = tmp_path / "profile.csv"
    path.write_text("old\n")
    ProfileTable((row(),)).write(path)
    assert path.read_text().startswith(HEADER)
    with pytest.raises(UserError, match="is a directory"):
        ProfileTable((row(),)).write(tmp_path)
    with pytest.raises(UserError, match="cannot write the profile table"):
        ProfileTable((row(),)).write(tmp_path / "missing" / "profile.csv")


@pytest.mark.parametrize(
    "line, message",
    [
        ("CPU,mlp,32,1,fast,30.75,5,50,5,1,/device:CPU:0,23.54,tensorflow,float32",
         ":1: field 'steps_per_s': expected a number > 0 but found 'fast'"),
        ("CPU,mlp,32,1,0,30.75,5,50,5,1,/device:CPU:0,23.54,tensorflow,float32",
         ":1: field 'steps_per_s': expected a number > 0 but found '0'"),
        ("CPU,mlp,32,1,812.5,nan,5,50,5,1,/device:CPU:0,23.54,tensorflow,float32",
         ":1: field 'steps_per_s_std': expected a number >= 0 but found 'nan'"),
        ("CPU,mlp,3.5,1,812.5,30.75,5,50,5,1,/device:CPU:0,23.54,tensorflow,float32",
         ":1: field 'batch_size': expected an integer >= 1 but found '3.5'"),
        ("CPU,mlp,32,0,812.5,30.75,5,50,5,1,/device:CPU:0,23.54,tensorflow,float32",
         ":1: field 'num_devices': expected an integer >= 1 but found '0'"),
        ("CPU,mlp,32,1,812.5,30.75,5,50,5,1,/device:CPU:0,lots,tensorflow,float32",
         ":1: field 'device_mem_gib': expected a number > 0 or empty but found 'lots'"),
        ("CPU,mlp,32,1,812.5,30.75,5,50,5,1,/device:CPU:0,23.54,torch,float32",
         ":1: field 'backend': expected one of tensorflow, jax but found 'torch'"),
        (",mlp,32,1,812.5,30.75,5,50,5,1,/device:CPU:0,23.54,tensorflow,float32",
         ":1: field 'gpu_type': expected a name without commas but found ''"),
        ("CPU,mlp,32,1,812.5", ":1: too few fields; expected 14 fields but found 5"),
    ],
)
def test_a_malformed_row_is_one_trace_error_naming_row_and_field(tmp_path: Path, line: str, message: str) -> None:
    path = write_lines(tmp_path / "p.csv", HEADER, line)
    with pytest.raises(TraceError) as err:
        ProfileTable.load(path)
    assert str(err.value) == f"{path}{message}" and "\n" not in str(err.value)


def test_the_bad_row_is_named_by_its_data_row_number(tmp_path: Path) -> None:
    bad = GOOD.replace("812.5", "-3").replace(",32,", ",64,")
    path = write_lines(tmp_path / "p.csv", HEADER, GOOD, bad)
    with pytest.raises(TraceError) as err:
        ProfileTable.load(path)
    assert (err.value.row, err.value.field) == (2, "steps_per_s")


def test_a_missing_column_names_it_and_the_expected_header(tmp_path: Path) -> None:
    header = HEADER.replace(",steps_per_s_std", "")
    path = write_lines(tmp_path / "p.csv", header, GOOD.replace(",30.75", ""))
    with pytest.raises(TraceError) as err:
        ProfileTable.load(path)
    assert str(err.value).startswith(
        f"{path}: field 'steps_per_s_std': not a profile table: missing column(s) steps_per_s_std; "
        f"expected header {HEADER} but found 'gpu_type,model_name,"
    )
    assert err.value.field == "steps_per_s_std" and "\n" not in str(err.value)


def test_a_second_row_for_the_same_device_is_an_error(tmp_path: Path) -> None:
    path = write_lines(tmp_path / "p.csv", HEADER, GOOD, GOOD.replace("812.5", "700"))
    with pytest.raises(TraceError) as err:
        ProfileTable.load(path)
    assert str(err.value) == (
        f"{path}:2: a second row for type CPU, model mlp, batch size 32, 1 device(s) on device '/device:CPU:0' "
        "(the first is row 1)"
    )


def test_empty_and_missing_files_are_trace_errors(tmp_path: Path) -> None:
    with pytest.raises(TraceError, match="no such file"):
        ProfileTable.load(tmp_path / "absent.csv")
    with pytest.raises(TraceError, match="header but no rows"):
        ProfileTable.load(write_lines(tmp_path / "p.csv", HEADER))


# ----- lookups -----------------------------------------------------------------------------------
def test_rate_has_types_and_models() -> None:
    table = ProfileTable((
        row(rate=800.0), row(rate=600.0, device="/device:CPU:1"), row(rate=700.0, device="/device:CPU:2"),
        row(num_devices=2, rate=190.0, device="/device:CPU:0;/device:CPU:1"),
        row(gpu_type="H100", model="cnn", rate=3000.0, device="/device:GPU:0"),
    ), source="p.csv")
    assert table.rate("CPU", "mlp", 32) == 700.0  # the median over the devices profiled
    assert table.rate("CPU", "mlp", 32, num_devices=2) == 190.0
    assert table.has("H100", "cnn", 32) and not table.has("H100", "cnn", 32, 2) and not table.has("CPU", "mlp", 64)
    assert table.types == ("CPU", "H100") and table.models == ("cnn", "mlp")
    with pytest.raises(UserError) as err:
        table.rate("H100", "cnn", 32, num_devices=2)
    assert str(err.value) == (
        "p.csv: the profile has no rate for model cnn at batch size 32 on 2 H100 device(s) (it has types CPU, H100 "
        "and models cnn, mlp); run `gpusched profile --models cnn --batch-size 32 --gang-sizes 2 --gpu-type H100`"
    )


def test_merged_replaces_rows_of_the_same_device_and_keeps_the_rest() -> None:
    old = ProfileTable((row(rate=500.0), row(model="cnn", rate=90.0)))
    new = old.merged((row(rate=800.0), row(gpu_type="H100", rate=4000.0, device="/device:GPU:0")))
    assert new.rate("CPU", "mlp", 32) == 800.0 and new.rate("CPU", "cnn", 32) == 90.0
    assert new.types == ("CPU", "H100") and len(new.rows) == 3


def test_rows_and_tables_refuse_impossible_values() -> None:
    with pytest.raises(ValueError, match="steps_per_s must be"):
        row(rate=float("inf"))
    with pytest.raises(ValueError, match="gpu_type must be"):
        row(gpu_type="A,B")
    with pytest.raises(ValueError, match="two profile rows"):
        ProfileTable((row(), row(rate=5.0)))
    assert row(rate=200.0, steps_per_s_std=10.0).spread_frac == 0.05


# ----- the simulator reads it ----------------------------------------------------------------------
def test_a_two_type_table_is_a_speed_table_for_the_simulator(tmp_path: Path) -> None:
    rows = (
        row(rate=100.0), row(batch_size=64, rate=60.0),
        row(num_devices=2, rate=70.0, device="/device:CPU:0;/device:CPU:1"),
        row(model="cnn", rate=10.0),
        row(gpu_type="H100", rate=1000.0, device="/device:GPU:0"),
        row(gpu_type="H100", batch_size=64, rate=960.0, device="/device:GPU:0"),
        row(gpu_type="H100", num_devices=2, rate=1800.0, device="/device:GPU:0;/device:GPU:1"),
        row(gpu_type="H100", model="cnn", rate=300.0, device="/device:GPU:0"),
    )
    path = tmp_path / "profile.csv"
    ProfileTable(rows).write(path)
    speed = load_speed_table(path, reference_type="CPU")
    assert speed.known_types == ("CPU", "H100")
    # Same model and batch size divided by the reference; two batch sizes give a geometric mean; gangs ignored.
    assert speed.factor("H100", "mlp") == pytest.approx((10.0 * 16.0) ** 0.5)
    assert speed.factor("H100", "cnn") == pytest.approx(30.0)
    assert speed.factor("CPU", "mlp") == 1.0


# ----- configuration ---------------------------------------------------------------------------
def test_profile_config_checks_its_lists_and_counts_devices() -> None:
    config = ProfileConfig(("mlp", "cnn"), batch_sizes=(16, 32), gang_sizes=(1, 2), devices=(0, 1))
    assert config.devices_needed == 3 and config.num_measurements == 16
    with pytest.raises(UserError, match="models: expected names from mlp, cnn, .* but found 'foo'"):
        ProfileConfig(("foo",))
    with pytest.raises(UserError, match=r"gang_sizes: expected a non-empty list without repeats but found \[1, 1\]"):
        ProfileConfig(("mlp",), gang_sizes=(1, 1))
    with pytest.raises(UserError, match="steps: expected integers >= 1 but found 0"):
        replace(config, steps=0)


# ----- real measurements, in a fresh process (logical CPUs are set once per process) -------------
PROFILE_SCRIPT = """
    import json, sys
    from pathlib import Path
    from executor.devices import DeviceSetup, configure
    from executor.profile import ProfileConfig, ProfileTable, profile
    from traces.errors import UserError

    keras = configure(DeviceSetup(logical_cpus=2))
    seen = []
    config = ProfileConfig(("mlp", "cnn"), batch_sizes=(8,), gang_sizes=(1, 2), warmup_steps=1, steps=3, repeats=2)
    rows = profile(keras, config, cache_dir=Path("cache"), progress=lambda d, t, label: seen.append([d, t, label]))
    ProfileTable(rows).write(Path(sys.argv[1]))
    try:
        profile(keras, ProfileConfig(("mlp",), devices=(1,), gang_sizes=(2,)), cache_dir=Path("cache"))
        too_big = None
    except UserError as exc:
        too_big = str(exc)
    print(json.dumps({"progress": seen, "too_big": too_big}))
"""


@pytest.mark.slow
def test_profile_measures_every_model_and_gang_on_logical_cpus(tmp_path: Path) -> None:
    out = tmp_path / "profile.csv"
    env = {k: v for k, v in os.environ.items() if k not in ("KERAS_BACKEND", "XLA_FLAGS")}
    env.update(TF_CPP_MIN_LOG_LEVEL="3", CUDA_VISIBLE_DEVICES="")
    proc = subprocess.run([sys.executable, "-c", textwrap.dedent(PROFILE_SCRIPT), str(out)], capture_output=True,
                          text=True, timeout=300, env=env, cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr[-3000:]
    got = json.loads(proc.stdout.strip().splitlines()[-1])
    with out.open(newline="") as f:
        records = list(csv.DictReader(f))
    assert list(records[0]) == list(PROFILE_COLUMNS)
    assert [(r["model_name"], r["num_devices"], r["device_name"]) for r in records] == [
        ("mlp", "1", "/device:CPU:0"), ("mlp", "2", "/device:CPU:0;/device:CPU:1"),
        ("cnn", "1", "/device:CPU:0"), ("cnn", "2", "/device:CPU:0;/device:CPU:1"),
    ]
    for r in records:
        assert float(r["steps_per_s"]) > 0 and float(r["steps_per_s_std"]) >= 0
        assert (r["gpu_type"], r["batch_size"], r["repeats"], r["steps"], r["warmup_steps"], r["size"]) == (
            "CPU", "8", "2", "3", "1", "1")
        assert (r["backend"], r["precision"]) == ("tensorflow", "float32") and float(r["device_mem_gib"]) > 0
    table = ProfileTable.load(out)
    assert table.has("CPU", "cnn", 8, 2) and table.rate("CPU", "mlp", 8) > 0
    assert [d for d, _, _ in got["progress"]][-1] == 8 and {t for _, t, _ in got["progress"]} == {8}
    assert got["progress"][0][2] == "mlp batch 8 on /device:CPU:0"
    assert got["too_big"] == (
        "a gang of 2 devices starting at device 1 needs 3 CPU device(s) but this process has 2 (split the CPU with "
        "--logical-cpus): /device:CPU:0, /device:CPU:1"
    )
