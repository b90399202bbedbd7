"""Speed tables: lookup order, unknown types, TOML and CSV (speed and steps_per_s) files, bad files."""

from __future__ import annotations

import gzip
import math
from pathlib import Path

import pytest

from simulator.speed import SpeedTable, load_speed_table
from traces.errors import TraceError, UserError


def write(tmp_path: Path, name: str, text: str) -> Path:
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return path


TOML = """
[reference]
type = "V100"

[types]
A100 = 2.1
T4 = 0.5

[models.resnet50]
A100 = 2.5
H100 = 4.0

[models.bert]
H100 = 9.0
"""


def test_reference_table_is_all_ones() -> None:
    table = SpeedTable.reference()
    assert table.factor("V100", None) == 1.0
    assert table.factor("anything", "resnet50") == 1.0
    table.check_types(["A100", "K80"])  # knows every type
    assert table.known_types == ()


def test_lookup_prefers_the_model_entry_then_the_type_entry(tmp_path: Path) -> None:
    table = load_speed_table(write(tmp_path, "speeds.toml", TOML))
    assert table.reference_type == "V100"
    assert table.factor("A100", "resnet50") == 2.5
    assert table.factor("A100", "bert") == 2.1  # no bert entry for A100: the type's
    assert table.factor("A100", None) == 2.1
    assert table.factor("V100", "resnet50") == 1.0
    assert table.factor("T4", "gpt") == 0.5
    # H100 is listed only per model: its type factor is the geometric mean sqrt(4 * 9) = 6.
    assert table.factor("H100", "bert") == 9.0
    assert table.factor("H100", "gpt") == pytest.approx(6.0)
    assert table.known_types == ("A100", "H100", "T4", "V100")


def test_unknown_gpu_types_are_an_error_not_a_silent_one(tmp_path: Path) -> None:
    path = write(tmp_path, "speeds.toml", TOML)
    table = load_speed_table(path)
    table.check_types(["V100", "A100", "H100"])
    with pytest.raises(UserError) as err:
        table.check_types(["V100", "K80", "P100", "K80"])
    assert str(err.value) == (
        f"{path}: the speed table has no factor for GPU type K80 (nor for P100); "
        "it knows A100, H100, T4, V100 (reference V100)"
    )
    with pytest.raises(UserError, match="no factor for GPU type K80;"):
        table.factor("K80", "resnet50")


def test_toml_reference_defaults_and_must_agree(tmp_path: Path) -> None:
    no_ref = write(tmp_path, "a.toml", "[types]\nA100 = 2.0\n")
    assert load_speed_table(no_ref).reference_type == "V100"
    assert load_speed_table(no_ref, reference_type="P100").factor("P100") == 1.0
    with pytest.raises(TraceError) as err:
        load_speed_table(write(tmp_path, "b.toml", TOML), reference_type="A100")
    assert "field 'reference.type': the file's reference type differs" in str(err.value)
    assert str(err.value).endswith("expected A100 but found 'V100'")


@pytest.mark.parametrize(
    "text,message",
    [
        ("[types]\nA100 = 0\n", "field 'types.A100': expected a number > 0 but found 0"),
        ('[types]\nA100 = "fast"\n', "field 'types.A100': expected a number > 0 but found 'fast'"),
        ("[types]\nA100 = true\n", "field 'types.A100': expected a number > 0 but found True"),
        ("[types]\nA100 = nan\n", "field 'types.A100': expected a number > 0 but found nan"),
        ("[types]\nV100 = 1.5\n", "field 'types.V100': V100 is the reference type; expected 1.0 but found 1.5"),
        ("[models.bert]\nV100 = 2.0\n", "field 'models.bert.V100': V100 is the reference type; expected 1.0"),
        ("[models]\nbert = 2.0\n", "field 'models.bert': expected a table but found 2.0"),
        ("types = 3\n", "field 'types': expected a table but found 3"),
        ("[speeds]\nA100 = 2\n", "field 'speeds': unknown key; expected only [reference], [types] and [models.<name>]"),
        ("[reference]\ntype = 3\n", "field 'reference.type': expected a GPU type name but found 3"),
        ('[reference]\ntype = "V100"\nname = "x"\n', "field 'reference.name': unknown key"),
        ("[types\n", "not valid TOML"),
    ],
)
def test_bad_toml_files(tmp_path: Path, text: str, message: str) -> None:
    path = write(tmp_path, "bad.toml", text)
    with pytest.raises(TraceError) as err:
        load_speed_table(path)
    assert str(err.value).startswith(f"{path}: ")
    assert message in str(err.value)


def test_csv_speed_file(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        "speeds.csv",
        "gpu_type,model_name,speed,note\nA100,,2.1,x\nA100,resnet50,2.5,\nV100,,1.0,\n\nH100,bert,9.0,\nH100,resnet50,4,\n",
    )
    table = load_speed_table(path)
    assert table.reference_type == "V100"
    assert (table.factor("A100", "resnet50"), table.factor("A100", "bert"), table.factor("V100", "bert")) == (2.5, 2.1, 1.0)
    assert table.factor("H100", "gpt") == pytest.approx(6.0)
    assert table.source == str(path)


def test_csv_without_model_column_and_gzip(tmp_path: Path) -> None:
    path = tmp_path / "speeds.csv.gz"
    path.write_bytes(gzip.compress(b"gpu_type,speed\nA100,2\nT4,0.5\n"))
    table = load_speed_table(path, reference_type="P100")
    assert (table.factor("A100", "bert"), table.factor("P100", None), table.factor("T4", None)) == (2.0, 1.0, 0.5)


def test_csv_steps_per_s_is_divided_by_the_reference_type_for_the_same_model(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        "profile.csv",
        "gpu_type,model_name,batch_size,steps_per_s\n"
        "V100,resnet50,64,10.0\nA100,resnet50,64,25.0\nV100,bert,32,4.0\nA100,bert,32,12.0\nT4,bert,32,1.0\n",
    )
    table = load_speed_table(path)
    assert table.factor("A100", "resnet50") == 2.5
    assert table.factor("A100", "bert") == 3.0
    assert table.factor("T4", "bert") == 0.25
    assert table.factor("V100", "bert") == 1.0
    assert table.factor("A100", "gpt") == pytest.approx(math.sqrt(2.5 * 3.0))  # geometric mean
    assert table.factor("T4", "resnet50") == 0.25  # only bert was measured on T4
    with pytest.raises(TraceError) as err:
        load_speed_table(path, reference_type="T4")  # T4 has no resnet50 row to divide by
    assert str(err.value) == (
        f"{path}:1: field 'model_name': no steps_per_s for the reference type T4 with model 'resnet50' at batch size 64 to divide by"
    )


def test_profile_table_uses_single_device_rows_and_matches_batch_sizes(tmp_path: Path) -> None:
    """What `gpusched profile` writes: gang rows are skipped, each batch size divides by its own."""
    path = write(
        tmp_path,
        "profile.csv",
        "gpu_type,model_name,batch_size,num_devices,steps_per_s,steps_per_s_std\n"
        "V100,mlp,32,1,100.0,1.0\nV100,mlp,64,1,60.0,1.0\nA100,mlp,32,1,200.0,2.0\nA100,mlp,64,1,240.0,2.0\n"
        "V100,mlp,32,2,90.0,1.0\nA100,mlp,32,2,500.0,3.0\n",
    )
    table = load_speed_table(path)
    assert table.factor("A100", "mlp") == pytest.approx(math.sqrt(2.0 * 4.0))  # ratios 2 and 4 per batch size
    devices = write(
        tmp_path,
        "devices.csv",
        "gpu_type,model_name,batch_size,num_devices,steps_per_s,device_name\n"
        "V100,mlp,32,1,100.0,GPU:0\nA100,mlp,32,1,200.0,GPU:0\nA100,mlp,32,1,260.0,GPU:1\nA100,mlp,32,1,210.0,GPU:2\n",
    )
    assert load_speed_table(devices).factor("A100", "mlp") == 2.1  # the median device
    one = write(tmp_path, "one.csv", "gpu_type,model_name,batch_size,num_devices,steps_per_s\nCPU,mlp,32,1,9.0\n")
    assert load_speed_table(one).reference_type == "CPU"  # a profile of one type is its own reference
    bad = write(tmp_path, "bad.csv", "gpu_type,model_name,batch_size,num_devices,steps_per_s\nV100,mlp,32,two,1.0\n")
    with pytest.raises(TraceError) as err:
        load_speed_table(bad)
    assert str(err.value) == f"{bad}:1: field 'num_devices': expected a whole number >= 1 but found 'two'"
    dup = write(tmp_path, "dup.csv", "gpu_type,model_name,batch_size,steps_per_s\nV100,mlp,32,1.0\nV100,mlp,32,2.0\n")
    with pytest.raises(TraceError) as err:
        load_speed_table(dup)
    assert str(err.value) == f"{dup}:2: a second row for GPU type V100 and model mlp at batch size 32 (the first is row 1)"


@pytest.mark.parametrize(
    "text,message",
    [
        ("gpu_type,model_name,speed\nA100,,fast\n", ":1: field 'speed': expected a number > 0 but found 'fast'"),
        ("gpu_type,model_name,speed\nA100,,-2\n", ":1: field 'speed': expected a number > 0 but found '-2'"),
        ("gpu_type,model_name,speed\nA100,,inf\n", ":1: field 'speed': expected a number > 0 but found 'inf'"),
        ("gpu_type,model_name,speed\nA100,,2\n,,3\n", ":2: field 'gpu_type': expected a GPU type name but found ''"),
        ("gpu_type,model_name,speed\nV100,bert,1.2\n", ":1: field 'speed': V100 is the reference type; expected 1.0"),
        ("gpu_type,model_name,speed\nA100,bert,2\nT4,,1\nA100,bert,3\n",
         ":3: a second row for GPU type A100 and model bert (the first is row 1)"),
        ("gpu_type,model_name,speed\nA100,bert\n", ":1: too few fields; expected 3 fields but found 2"),
        ("gpu_type,model_name\nA100,bert\n", "not a speed table: no speed column"),
        ("gpu_type,model_name,speed,steps_per_s\nA100,bert,1,2\n", "not a speed table: both speed and steps_per_s"),
        ("model_name,speed\nbert,2\n", "not a speed table trace: missing column(s) gpu_type"),
        ("gpu_type,model_name,steps_per_s\nA100,,3\nT4,,1\n",
         ":1: field 'model_name': no steps_per_s for the reference type V100 with the type-level rows"),
        ("gpu_type,model_name,speed\n", "the file has a header but no rows"),
        ("", "the file is empty"),
    ],
)
def test_bad_csv_files(tmp_path: Path, text: str, message: str) -> None:
    path = write(tmp_path, "bad.csv", text)
    with pytest.raises(TraceError) as err:
        load_speed_table(path)
    assert str(err.value).startswith(str(path))
    assert message in str(err.value)


def test_missing_file_and_directory(tmp_path: Path) -> None:
    with pytest.raises(TraceError, match="no such file"):
        load_speed_table(tmp_path / "nope.toml")
    with pytest.raises(TraceError, match="is a directory"):
        load_speed_table(tmp_path)


def test_constructor_checks_factors() -> None:
    with pytest.raises(ValueError, match="must be a number > 0"):
        SpeedTable("V100", {"A100": -1.0})
    with pytest.raises(ValueError, match="needs a reference type"):
        SpeedTable(None, {"A100": 2.0})
    with pytest.raises(ValueError, match="factor 1.0 by definition"):
        SpeedTable("V100", {}, {("V100", "bert"): 2.0})
    table = SpeedTable("V100", {"A100": 2})
    assert table == SpeedTable("V100", {"A100": 2.0, "V100": 1.0})
    with pytest.raises(TypeError):
        table.by_type["A100"] = 3.0  # type: ignore[index]
