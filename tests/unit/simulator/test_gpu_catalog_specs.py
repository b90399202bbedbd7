"""The shipped GPU catalog's hardware figures and prices, and the file format's new keys."""

from __future__ import annotations

import math
import re
from pathlib import Path

import pytest

from simulator.gpu_catalog import GpuCatalog, GpuSpec, load_gpu_catalog
from traces.errors import TraceError

# Every type issue 7 asks for, by a name a user would type, with its memory in GiB.
LISTED = {
    "RTX 2080 Ti": 11, "RTX 2080": 8, "Titan RTX": 24, "T4": 16,                  # Turing
    "Titan V": 12, "V100": 16,                                                    # Volta
    "RTX 3090": 24, "RTX 3080": 10, "A100-40GB": 40, "A100-80GB": 80, "A10": 24,  # Ampere
    "L4": 24, "RTX 4090": 24,                                                     # Ada
    "H100": 80, "H200": 141,                                                      # Hopper
    "P100": 16, "P40": 24, "K80": 12, "M60": 8,                                   # older NVIDIA
    "RX 6800 XT": 16, "RX 6900 XT": 16, "Vega 56": 8, "Vega 64": 8,               # AMD consumer
    "MI100": 32, "MI210": 64, "MI250X": 64, "MI300X": 192,                        # AMD Instinct
}
DATE = re.compile(r"20\d\d-(0[1-9]|1[0-2])$")


def spec(name: str) -> GpuSpec:
    found = GpuCatalog.default().get(name)
    assert found is not None, name
    return found


@pytest.mark.parametrize("name", sorted(LISTED))
def test_every_listed_type_has_plausible_figures(name: str) -> None:
    s = spec(name)
    assert s.vendor in ("NVIDIA", "AMD") and s.architecture and s.interconnect, s
    assert s.year is not None and 2014 <= s.year <= 2025
    assert s.vram_gib == LISTED[name]
    assert s.fp32_tflops is not None and 4 <= s.fp32_tflops <= 100
    assert s.mem_bw_gbs is not None and 150 <= s.mem_bw_gbs <= 6000
    assert s.tdp_w is not None and s.tdp_w == s.busy_w and 0 < s.idle_w < s.tdp_w
    if s.tensor_tflops is not None:  # tensor / matrix cores beat the plain FP32 pipes (GeForce: by 2x)
        assert s.tensor_tflops > 1.9 * s.fp32_tflops
    if s.fp16_tflops is not None:
        assert s.fp32_tflops <= s.fp16_tflops <= 4 * s.fp32_tflops
    assert (s.price_per_gpu_h is None) == (s.price_date == "")
    assert (s.purchase_usd is None) == (s.purchase_date == "")
    for value, date in ((s.price_per_gpu_h, s.price_date), (s.purchase_usd, s.purchase_date)):
        if value is not None:
            assert value > 0 and DATE.match(date), (value, date)
            assert int(date[:4]) >= s.year
    assert "idle" in s.source and "price" in s.source and "purchase" in s.source


def test_entries_agree_with_the_vendors_on_key_figures() -> None:
    # Datasheet values, so a typo in the data file shows here.
    assert (spec("V100").fp32_tflops, spec("V100").tensor_tflops, spec("V100").mem_bw_gbs) == (15.7, 125.0, 900.0)
    assert (spec("A100").tensor_tflops, spec("A100-80GB").mem_bw_gbs) == (312.0, 2039.0)
    assert (spec("H100").tensor_tflops, spec("H200").mem_bw_gbs) == (989.4, 4800.0)
    assert (spec("MI300X").tensor_tflops, spec("MI300X").tdp_w) == (1307.4, 750.0)
    assert spec("RTX 4090").purchase_usd == 1599 and spec("RX 6800 XT").purchase_usd == 649
    # No tensor / matrix cores before Volta and on consumer AMD cards.
    for name in ("K80", "M60", "P100", "P40", "Vega 64", "RX 6900 XT"):
        assert spec(name).tensor_tflops is None, name
    # Newer generations are faster where it matters for training.
    tensor = [spec(n).tensor_tflops or 0.0 for n in ("T4", "V100", "A100", "H100")]
    assert tensor == sorted(tensor)
    # Consumer cards and the newest parts have no major-cloud list price; the cloud classics do.
    for name in ("RTX 3090", "RTX 4090", "Titan V", "H200", "MI300X"):
        assert spec(name).price_per_gpu_h is None, name
    assert spec("T4").price_per_gpu_h == 0.526 and spec("T4").price_date == "2025-01"
    # Estimates say so.
    for name in ("H100", "MI210", "Titan RTX"):
        assert "estimate" in spec(name).source, name


def test_old_names_keep_resolving_as_before() -> None:
    a100 = spec("A100")
    assert (a100.gpu_type, a100.busy_w, a100.idle_w, a100.price_per_gpu_h) == ("A100", 400.0, 50.0, 4.096)
    assert spec("NVIDIA A100").gpu_type == "A100"
    assert spec("A100-SXM4-80GB").gpu_type == "A100-80GB" and spec("a100-sxm4-40gb").gpu_type == "A100-40GB"
    assert spec("V100M32") is spec("V100") and spec("A10G") is spec("A10")
    # The labels `gpusched profile` gives consumer cards ("NVIDIA GeForce RTX 4090" -> "RTX4090").
    assert spec("RTX4090") is spec("NVIDIA GeForce RTX 4090")
    assert spec("AMD Instinct MI300X") is spec("MI300X")


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "cat.toml"
    path.write_text(text)
    return path


def test_new_keys_load_override_and_stay_optional(tmp_path: Path) -> None:
    path = write(tmp_path, """
[gpus.V100M32]
vram_gib = 32

[gpus.G5]
busy_w = 200
idle_w = 20
vendor = "NVIDIA"
architecture = "Ampere"
year = 2021
fp32_tflops = 20
tensor_tflops = 80
vram_gib = 24
mem_bw_gbs = 700
tdp_w = 200
interconnect = "PCIe 4.0 x16"
purchase_usd = 5000
purchase_date = 2024-06-01

[gpus.Bare]
busy_w = 100
idle_w = 10
""")
    catalog = load_gpu_catalog(path)
    m32 = catalog.get("V100M32")
    v100 = catalog.get("V100")
    assert m32 is not None and v100 is not None
    assert (m32.vram_gib, m32.fp32_tflops, m32.price_per_gpu_h, v100.vram_gib) == (32.0, 15.7, 3.06, 16.0)
    assert "vram_gib from" in m32.source
    g5 = catalog.get("G5")
    assert g5 == GpuSpec("G5", 200, 20, None, (), str(path), vendor="NVIDIA", architecture="Ampere", year=2021,
                         fp32_tflops=20, tensor_tflops=80, vram_gib=24, mem_bw_gbs=700, tdp_w=200,
                         interconnect="PCIe 4.0 x16", purchase_usd=5000, purchase_date="2024-06-01")
    assert isinstance(g5.year, int) and isinstance(g5.fp32_tflops, float)
    bare = catalog.get("bare")
    assert bare is not None and (bare.price_per_gpu_h, bare.fp32_tflops, bare.vendor) == (None, None, "")


@pytest.mark.parametrize(
    ("entry", "message"),
    [
        ("fp32_tflops = 0", "field 'gpus.G2.fp32_tflops': expected a number > 0 but found 0"),
        ('tensor_tflops = "fast"', "field 'gpus.G2.tensor_tflops': expected a number > 0 but found 'fast'"),
        ("vram_gib = nan", "field 'gpus.G2.vram_gib': expected a number > 0 but found nan"),
        ("mem_bw_gbs = true", "field 'gpus.G2.mem_bw_gbs': expected a number > 0 but found True"),
        ("year = 2020.5", "field 'gpus.G2.year': expected a year (1990-2100) but found 2020.5"),
        ("year = 1900", "field 'gpus.G2.year': expected a year (1990-2100) but found 1900"),
        ("vendor = 3", "field 'gpus.G2.vendor': expected a string but found 3"),
        ("interconnect = []", "field 'gpus.G2.interconnect': expected a string but found []"),
        ('price_date = "June 2025"',
         "field 'gpus.G2.price_date': expected a date YYYY-MM or YYYY-MM-DD but found 'June 2025'"),
        ('purchase_date = "2025-13"',
         "field 'gpus.G2.purchase_date': expected a date YYYY-MM or YYYY-MM-DD but found '2025-13'"),
        ("purchase_usd = -1", "field 'gpus.G2.purchase_usd': expected a number >= 0 but found -1"),
        ("price_per_gpu_h = inf", "field 'gpus.G2.price_per_gpu_h': expected a number >= 0 but found inf"),
        ("tdp_w = 20", "field 'gpus.G2.tdp_w': idle power above the TDP; expected tdp_w >= idle_w (30) but found 20"),
    ],
)
def test_bad_new_keys_are_one_line_errors(tmp_path: Path, entry: str, message: str) -> None:
    path = write(tmp_path, f"[gpus.G2]\nbusy_w = 250\nidle_w = 30\n{entry}\n")
    with pytest.raises(TraceError) as info:
        load_gpu_catalog(path)
    assert str(info.value) == f"{path}: {message}"
    assert "\n" not in str(info.value)


def test_idle_override_above_a_kept_tdp_names_idle_w(tmp_path: Path) -> None:
    path = write(tmp_path, "[gpus.T4]\nidle_w = 75\nbusy_w = 80\n")
    with pytest.raises(TraceError) as info:
        load_gpu_catalog(path)
    assert str(info.value) == (f"{path}: field 'gpus.T4.idle_w': idle power above the TDP; "
                               "expected tdp_w >= idle_w (75) but found 75")


def test_spec_rejects_bad_new_values() -> None:
    with pytest.raises(ValueError, match="fp32_tflops must be a finite number > 0, got 0"):
        GpuSpec("X", 100, 10, fp32_tflops=0)
    with pytest.raises(ValueError, match="price_per_gpu_h must be a finite number >= 0, got -1"):
        GpuSpec("X", 100, 10, -1)
    with pytest.raises(ValueError, match="price_date must be a date YYYY-MM or YYYY-MM-DD, got 'soon'"):
        GpuSpec("X", 100, 10, 1.0, price_date="soon")
    with pytest.raises(ValueError, match="idle_w 10 exceeds tdp_w 5"):
        GpuSpec("X", 100, 10, tdp_w=5)
    with pytest.raises(ValueError, match=re.escape("year must be a year (1990-2100), got 3000")):
        GpuSpec("X", 100, 10, year=3000)
    assert math.isclose(GpuSpec("X", 100, 10, None, fp16_tflops=3).fp16_tflops or 0, 3.0)
