"""The GPU speed model: hand-computed roofline cases, VRAM limits, the profile path, the shipped
family data, and the estimate against published measured ratios."""

from __future__ import annotations

import math
from pathlib import Path

import pytest

from simulator.gpu_catalog import GpuCatalog, GpuSpec
from simulator.gpu_speed import (
    ESTIMATE,
    FAMILY_NAMES,
    MEASURED,
    REFERENCE,
    ModelFamilies,
    ModelFamily,
    estimate_speed,
    family_of,
    fits_vram,
    load_model_families,
    missing_figures,
    speed_table,
)
from traces.errors import TraceError, UserError


def gpu(name: str, *, fp32: float | None = 10.0, tensor: float | None = None, fp16: float | None = None,
        bw: float | None = 1000.0, vram: float | None = 100.0) -> GpuSpec:
    return GpuSpec(name, busy_w=300.0, idle_w=30.0, fp32_tflops=fp32, tensor_tflops=tensor, fp16_tflops=fp16,
                   mem_bw_gbs=bw, vram_gib=vram)


def fam(name: str, ai: float, *, tensor: bool = True, weights: float = 0.0, act: float = 0.01,
        batch: int = 100) -> ModelFamily:
    return ModelFamily(name, ai_flop_per_byte=ai, tensor_cores=tensor, weights_gib=weights,
                       activation_gib_per_sample=act, batch_size=batch)


# AI 1000 FLOP/B is above every ridge point below (<= 200 FLOP/B): compute-bound everywhere;
# AI 1 is below every ridge point (>= 10 FLOP/B): memory-bound everywhere.
FAMS = ModelFamilies((fam("compute", 1000.0), fam("memory", 1.0), fam("plain", 1000.0, tensor=False)),
                     reserved_gib=1.0, source="test")


def factor(g: GpuSpec, ref: GpuSpec, family: str, mixed: bool = True) -> float:
    return estimate_speed(g, ref, family, mixed_precision=mixed, families=FAMS).factor


# ----- the roofline, by hand ---------------------------------------------------------------------
def test_compute_bound_family_scales_with_peak_flops() -> None:
    ref = gpu("R", fp32=10.0, bw=1000.0)
    fast = gpu("F", fp32=20.0, bw=1000.0)
    est = estimate_speed(fast, ref, "compute", families=FAMS)
    assert est.factor == pytest.approx(2.0)
    assert est.gpu.bound == "compute" and est.reference.bound == "compute"
    assert est.gpu.peak_name == "fp32_tflops"
    assert "compute-bound" in est.explanation and "x2" in est.explanation


def test_memory_bound_family_scales_with_bandwidth() -> None:
    ref = gpu("R", fp32=10.0, bw=1000.0)
    wide = gpu("W", fp32=10.0, bw=1500.0)
    # memory: attainable = 1 FLOP/B x bandwidth; 1.5 TFLOPS vs 1 TFLOPS, far below either peak
    assert factor(wide, ref, "memory") == pytest.approx(1.5)
    # more FLOPS do nothing for it
    assert factor(gpu("F", fp32=40.0, bw=1000.0), ref, "memory") == pytest.approx(1.0)
    est = estimate_speed(wide, ref, "memory", families=FAMS)
    assert est.gpu.bound == "memory" and est.gpu.attainable_tflops == pytest.approx(1.5)
    assert "memory-bound" in est.explanation


def test_between_the_ridges_each_side_takes_its_own_roof() -> None:
    # AI 50: ref (10 TFLOPS, 1000 GB/s, ridge 10 FLOP/B) is compute-bound at 10 TFLOPS;
    # the other (100 TFLOPS, 1000 GB/s, ridge 100) is memory-bound at 50 TFLOPS: x5.
    fams = ModelFamilies((fam("mid", 50.0),), reserved_gib=1.0)
    est = estimate_speed(gpu("G", fp32=100.0), gpu("R", fp32=10.0), "mid", families=fams)
    assert (est.gpu.bound, est.reference.bound) == ("memory", "compute")
    assert est.factor == pytest.approx(5.0)


def test_tensor_cores_only_where_the_type_has_them() -> None:
    ref = gpu("R", fp32=10.0, tensor=80.0)
    no_tc = gpu("N", fp32=10.0)
    tc = gpu("T", fp32=10.0, tensor=160.0)
    # mixed precision, a tensor-core family: the tensor peaks count
    assert factor(tc, ref, "compute") == pytest.approx(2.0)
    assert factor(no_tc, ref, "compute") == pytest.approx(10.0 / 80.0)
    # a family that does not use tensor cores: FP32 peaks on both
    assert factor(no_tc, ref, "plain") == pytest.approx(1.0)
    # FP32 training: no tensor cores anywhere
    assert factor(tc, ref, "compute", mixed=False) == pytest.approx(1.0)
    assert estimate_speed(tc, ref, "compute", families=FAMS).gpu.peak_name == "tensor_tflops"


def test_packed_fp16_counts_in_mixed_precision_without_tensor_cores() -> None:
    ref = gpu("R", fp32=10.0)
    vega = gpu("V", fp32=10.0, fp16=20.0)  # packed math, no matrix cores
    est = estimate_speed(vega, ref, "compute", families=FAMS)
    assert est.gpu.peak_name == "fp16_tflops" and est.factor == pytest.approx(2.0)
    assert factor(vega, ref, "compute", mixed=False) == pytest.approx(1.0)


def test_fp32_halves_the_intensity() -> None:
    f = fam("x", 100.0, weights=1.0, act=0.1, batch=10)
    assert f.intensity(10) == pytest.approx(100.0)
    assert f.intensity(10, mixed_precision=False) == pytest.approx(50.0)


def test_the_reference_is_one_by_definition() -> None:
    ref = gpu("R", fp32=13.7, tensor=91.0, bw=777.0)
    for name in FAMS.names:
        assert factor(ref, ref, name) == 1.0


# ----- VRAM ------------------------------------------------------------------------------------------
def test_vram_caps_the_batch_and_lowers_the_intensity() -> None:
    # W = 2 GiB, A = 0.5 GiB/sample, typical batch 16; 1 GiB reserved.
    f = fam("big", 40.0, weights=2.0, act=0.5, batch=16)
    assert f.max_batch(None, 1.0) is None
    assert f.max_batch(12.0, 1.0) == 18  # (12 - 1 - 2) / 0.5
    assert f.max_batch(7.0, 1.0) == 8
    assert f.max_batch(7.0, 1.0, mixed_precision=False) == 4  # FP32 keeps twice the activations
    assert f.max_batch(3.4, 1.0) == 0
    # AI(8) = 40 x (8/16) x (2 + 16 x 0.5) / (2 + 8 x 0.5) = 40 x 0.5 x 10 / 6
    assert f.intensity(8) == pytest.approx(40 * 0.5 * 10 / 6)
    fams = ModelFamilies((f,), reserved_gib=1.0)
    ref = gpu("R", fp32=100.0, bw=1000.0, vram=32.0)  # memory-bound: 40 TFLOPS at batch 16
    small = gpu("S", fp32=100.0, bw=1000.0, vram=7.0)
    est = estimate_speed(small, ref, "big", families=fams)
    assert est.gpu.batch_size == 8 and est.gpu.batch_capped and not est.reference.batch_capped
    assert est.factor == pytest.approx((40 * 0.5 * 10 / 6) / 40)
    assert "batch capped at 8 by VRAM" in est.explanation


def test_a_family_that_cannot_fit_one_sample_cannot_run() -> None:
    fams = ModelFamilies((fam("big", 40.0, weights=2.0, act=0.5, batch=16),), reserved_gib=1.0)
    tiny = gpu("Tiny", vram=3.0)
    est = estimate_speed(tiny, gpu("R", vram=32.0), "big", families=fams)
    assert not est.fits and est.factor == 0.0
    assert "does not fit" in est.explanation
    with pytest.raises(UserError, match="reference type Tiny"):
        estimate_speed(gpu("R", vram=32.0), tiny, "big", families=fams)
    catalog = GpuCatalog((gpu("R", vram=32.0), tiny))
    table, rows = speed_table(["Tiny"], catalog, reference_type="R", family_data=fams)
    assert ("Tiny", "big") not in table.by_model and "Tiny" not in table.by_type
    assert len(rows) == 1 and not rows[0].fits and math.isnan(rows[0].factor)


def test_a_job_asking_for_more_memory_than_the_vram_cannot_run_there() -> None:
    g = gpu("G", vram=24.0)
    assert fits_vram(g, 24.0) and fits_vram(g, 8.0)
    assert not fits_vram(g, 32.0)
    assert fits_vram(g, None) and fits_vram(g, math.nan)  # unknown demand: assumed to fit
    assert fits_vram(gpu("U", vram=None), 500.0)  # unknown VRAM: assumed to fit


# ----- missing figures ----------------------------------------------------------------------------------
def test_missing_figures_are_named() -> None:
    assert missing_figures(gpu("G")) == ()
    assert missing_figures(gpu("G", bw=None)) == ("mem_bw_gbs",)
    assert missing_figures(gpu("G", fp32=None, tensor=50.0)) == ()
    assert missing_figures(gpu("G", fp32=None, tensor=50.0), mixed_precision=False) == ("fp32_tflops",)
    with pytest.raises(UserError, match="GPU type G: the catalog has no mem_bw_gbs"):
        estimate_speed(gpu("G", bw=None), gpu("R"), "compute", families=FAMS)


def test_unknown_family_is_a_user_error() -> None:
    with pytest.raises(UserError, match="unknown model family 'nope'; known: compute, memory, plain"):
        estimate_speed(gpu("G"), gpu("R"), "nope", families=FAMS)


# ----- the speed table and the profile path ---------------------------------------------------------------
def _catalog() -> GpuCatalog:
    return GpuCatalog((
        GpuSpec("R", 300.0, 30.0, aliases=("Ref-16GB",), fp32_tflops=10.0, mem_bw_gbs=1000.0, vram_gib=100.0),
        gpu("F", fp32=20.0, bw=1000.0),
        gpu("W", fp32=10.0, bw=1500.0),
    ))


def test_speed_table_from_estimates() -> None:
    table, rows = speed_table(["F", "W"], _catalog(), reference_type="R", family_data=FAMS)
    assert table.reference_type == "R"
    assert table.factor("F", "compute") == pytest.approx(2.0)
    assert table.factor("F", "memory") == pytest.approx(1.0)
    assert table.factor("W", "memory") == pytest.approx(1.5)
    # a job of unknown family: the geometric mean over the families
    assert table.factor("F") == pytest.approx((2.0 * 1.0 * 2.0) ** (1 / 3))
    assert table.factor("R", "compute") == 1.0
    assert {r.provenance for r in rows} == {ESTIMATE}
    assert [(r.gpu_type, r.family) for r in rows] == [(t, f) for t in ("F", "W") for f in FAMS.names]


def test_speed_table_unknown_type_is_a_user_error() -> None:
    with pytest.raises(UserError, match="GPU type 'X' is not in the GPU catalog; it knows F, R, W"):
        speed_table(["X"], _catalog(), reference_type="R", family_data=FAMS)
    with pytest.raises(UserError, match="reference type 'Q'"):
        speed_table(["F"], _catalog(), reference_type="Q", family_data=FAMS)


PROFILE_HEADER = ("gpu_type,model_name,batch_size,num_devices,steps_per_s,steps_per_s_std,repeats,steps,"
                  "warmup_steps,size,device_name,device_mem_gib,backend,precision")


def _profile(path: Path, rows: list[tuple[str, str, int, int, float]]) -> Path:
    lines = [PROFILE_HEADER] + [f"{t},{m},{b},{k},{r},0.0,3,10,1,1,/device:GPU:0,,tensorflow,float32"
                                for t, m, b, k, r in rows]
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


def test_measured_factor_wins_where_the_profile_covers_type_and_family(tmp_path: Path) -> None:
    prof = _profile(tmp_path / "profile.csv", [
        ("R", "compute", 32, 1, 10.0), ("F", "compute", 32, 1, 31.0),
        ("R", "memory", 32, 1, 5.0),
        ("F", "compute", 32, 2, 55.0),  # a gang's rate: not a per-GPU speed, ignored
    ])
    table, rows = speed_table(["F", "W"], _catalog(), reference_type="R", profile=prof, family_data=FAMS)
    by = {(r.gpu_type, r.family): r for r in rows}
    assert by[("F", "compute")].provenance == MEASURED
    assert by[("F", "compute")].factor == pytest.approx(3.1)
    assert table.factor("F", "compute") == pytest.approx(3.1)
    assert str(prof) in by[("F", "compute")].detail
    # not covered: the estimate
    assert by[("F", "memory")].provenance == ESTIMATE and by[("F", "memory")].factor == pytest.approx(1.0)
    assert by[("W", "compute")].provenance == ESTIMATE
    assert "bound" in by[("W", "compute")].detail


def test_profile_type_and_model_names_resolve_to_catalog_types_and_families(tmp_path: Path) -> None:
    cat = GpuCatalog((*_catalog().specs, GpuSpec("H", 300.0, 30.0, aliases=("H-80GB",), fp32_tflops=50.0,
                                                  mem_bw_gbs=3000.0, vram_gib=80.0)))
    prof = _profile(tmp_path / "p.csv", [("R", "resnet50", 64, 1, 2.0), ("H-80GB", "resnet50", 64, 1, 7.0),
                                         ("R", "vgg16", 64, 1, 1.0), ("H-80GB", "vgg16", 64, 1, 4.0)])
    fams = ModelFamilies((fam("cnn", 90.0), fam("lstm", 40.0)), reserved_gib=1.0)
    table, rows = speed_table(["H"], cat, reference_type="R", profile=prof, family_data=fams)
    by = {(r.gpu_type, r.family): r for r in rows}
    # two cnn models measured: their geometric mean, sqrt(3.5 x 4)
    assert by[("H", "cnn")].provenance == MEASURED
    assert table.factor("H", "cnn") == pytest.approx(math.sqrt(3.5 * 4.0))
    assert by[("H", "lstm")].provenance == ESTIMATE


def test_profile_missing_the_reference_rows_is_a_one_line_error(tmp_path: Path) -> None:
    prof = _profile(tmp_path / "p.csv", [("F", "compute", 32, 1, 10.0)])
    with pytest.raises(TraceError, match="reference type R"):
        speed_table(["F"], _catalog(), reference_type="R", profile=prof, family_data=FAMS)


# ----- family names ----------------------------------------------------------------------------------------
@pytest.mark.parametrize(("name", "family"), [
    ("cnn", "cnn"), ("ResNet50", "cnn"), ("densenet121", "cnn"), ("vgg16", "cnn"),
    ("bert-large", "transformer"), ("GPT2", "transformer"), ("t5-base", "transformer"), ("vit_b16", "transformer"),
    ("lstm", "lstm"), ("seq2seq", "lstm"), ("gru", "gru"), ("simple_rnn", "simple_rnn"), ("dcgan", "gan"),
    ("stylegan2", "gan"), ("bert-finetune", "transfer"), ("dlrm", "mlp"), ("mlp", "mlp"),
    ("", None), (None, None), ("job-1234", None), ("organ_model", None),
])
def test_family_of(name: str | None, family: str | None) -> None:
    assert family_of(name) == family


# ----- the shipped family file -------------------------------------------------------------------------------
def test_shipped_families_cover_the_contract_and_cite_sources() -> None:
    fams = ModelFamilies.default()
    assert set(FAMILY_NAMES) <= set(fams.names)
    assert fams.reserved_gib == pytest.approx(1.0)
    for name in FAMILY_NAMES:
        f = fams.get(name)
        assert f.source and f.model, name
        # a typical size fits a 16 GiB V100 at its typical batch
        assert f.weights_gib + f.batch_size * f.activation_gib_per_sample + fams.reserved_gib <= 16.0, name
    assert not fams.get("simple_rnn").tensor_cores and fams.get("cnn").tensor_cores
    # transformers do more work per byte than recurrent nets
    assert fams.get("transformer").ai_flop_per_byte > fams.get("lstm").ai_flop_per_byte


@pytest.mark.parametrize(("text", "field"), [
    ("[families.x]\nai_flop_per_byte = 'high'\ntensor_cores = true\nweights_gib = 1\n"
     "activation_gib_per_sample = 0.1\nbatch_size = 8\n", "families.x.ai_flop_per_byte"),
    ("[families.x]\nai_flop_per_byte = 10\ntensor_cores = 1\nweights_gib = 1\n"
     "activation_gib_per_sample = 0.1\nbatch_size = 8\n", "families.x.tensor_cores"),
    ("[families.x]\nai_flop_per_byte = 10\ntensor_cores = true\nweights_gib = 1\n"
     "activation_gib_per_sample = 0.1\n", "families.x.batch_size"),
    ("[families.x]\nai_flop_per_byte = 10\ntensor_cores = true\nweights_gib = 1\n"
     "activation_gib_per_sample = 0.1\nbatch_size = 8\nflops = 3\n", "families.x.flops"),
    ("[assumptions]\nreserved_gib = -1\n[families.x]\nai_flop_per_byte = 10\n", "assumptions.reserved_gib"),
    ("[family.x]\n", "family"),
])
def test_malformed_family_file_names_the_field(tmp_path: Path, text: str, field: str) -> None:
    path = tmp_path / "fams.toml"
    path.write_text(text, encoding="utf-8")
    with pytest.raises(TraceError, match=f"field '{field}'"):
        load_model_families(path)


# ----- against published measurements --------------------------------------------------------------------------
# Datasheet figures (NVIDIA V100 SXM2, A100 SXM4 40/80 GB, T4): FP32 / dense FP16 tensor TFLOPS, GB/s, GiB.
V100 = GpuSpec("V100", 300.0, 24.0, fp32_tflops=15.7, tensor_tflops=125.0, fp16_tflops=31.4, mem_bw_gbs=900.0,
               vram_gib=16.0)
A100 = GpuSpec("A100", 400.0, 50.0, fp32_tflops=19.5, tensor_tflops=312.0, fp16_tflops=78.0, mem_bw_gbs=1555.0,
               vram_gib=40.0)
A100_80 = GpuSpec("A100-80GB", 400.0, 50.0, fp32_tflops=19.5, tensor_tflops=312.0, fp16_tflops=78.0,
                  mem_bw_gbs=2039.0, vram_gib=80.0)
T4 = GpuSpec("T4", 70.0, 9.0, fp32_tflops=8.1, tensor_tflops=65.0, fp16_tflops=16.2, mem_bw_gbs=320.0, vram_gib=16.0)
K80 = GpuSpec("K80", 150.0, 27.0, fp32_tflops=4.37, mem_bw_gbs=240.0, vram_gib=12.0)


def _check_published_ratios(v100: GpuSpec, a100: GpuSpec, t4: GpuSpec, k80: GpuSpec) -> None:
    # A100 vs V100, CNN training in mixed precision: Lambda measured ~1.6x (PyTorch convnets, 2020);
    # NVIDIA DeepLearningExamples ResNet-50 AMP throughputs give ~2x. Band: 1.4-3.0.
    assert 1.4 <= estimate_speed(a100, v100, "cnn").factor <= 3.0
    # A100 vs V100, language models with FP16 tensor cores: Lambda expects 1.95-2.5x. Band: 1.8-3.0.
    assert 1.8 <= estimate_speed(a100, v100, "transformer").factor <= 3.0
    # T4 vs V100 training: a 70 W inference card, a fifth to a third of a V100 in published
    # ResNet-50 AMP throughputs. Band: 0.15-0.5 (the roofline ignores its power cap: upper end).
    assert 0.15 <= estimate_speed(t4, v100, "cnn").factor <= 0.5
    # K80 (one GK210, FP32 only) vs V100 with AMP: over ten times slower.
    assert estimate_speed(k80, v100, "cnn").factor < 0.1


def test_estimates_fall_in_published_bands_with_datasheet_figures() -> None:
    _check_published_ratios(V100, A100, T4, K80)
    # More bandwidth, same peak: the 80 GB A100 helps memory-bound CNNs, not compute-bound transformers.
    assert estimate_speed(A100_80, V100, "cnn").factor > estimate_speed(A100, V100, "cnn").factor
    assert estimate_speed(A100_80, V100, "transformer").factor == pytest.approx(
        estimate_speed(A100, V100, "transformer").factor, rel=0.02)


def test_estimates_fall_in_published_bands_with_the_shipped_catalog() -> None:
    cat = GpuCatalog.default()
    specs = [cat.get(t) for t in ("V100", "A100", "T4", "K80")]
    assert all(s is not None for s in specs)
    v100, a100, t4, k80 = specs
    assert v100 is not None and a100 is not None and t4 is not None and k80 is not None
    _check_published_ratios(v100, a100, t4, k80)


def test_every_shipped_type_with_figures_gets_a_finite_positive_factor() -> None:
    cat = GpuCatalog.default()
    types = [s.gpu_type for s in cat.specs if not missing_figures(s)]
    assert len(types) >= 20
    table, rows = speed_table(types, cat, reference_type="V100")
    assert len(rows) == len(types) * len(FAMILY_NAMES)
    for t in types:
        assert 0 < table.factor(t) < 20, t
    assert {r.provenance for r in rows} == {ESTIMATE, REFERENCE}
