"""How fast a model family trains on one GPU type relative to another: measured where a
profile covers it, else a roofline estimate from the catalog's figures.

The estimate (Williams, Waterman & Patterson, CACM 52(4), 2009): a training step of a
family with arithmetic intensity AI (FLOP per byte of DRAM traffic, from
`simulator/data/model_families.toml`, where each family's figures are justified) attains

    attainable = min(peak, AI x memory bandwidth)

on a GPU, and the speed factor of type T for the family is attainable(T) / attainable(ref).
So a family above both types' ridge points (peak / bandwidth) scales with peak FLOP/s, one
below both with memory bandwidth. The peak is the tensor-core (matrix-core) FP16/BF16 rate
when training in mixed precision, the family uses tensor cores and the type has them
(`tensor_tflops` not None); else non-tensor FP16 (`fp16_tflops`, packed math) in mixed
precision where known; else FP32. FP32 training moves twice the bytes (AI halved) and keeps
twice the activations. VRAM caps the batch: weights + batch x per-sample activations + a
reserve must fit, and a smaller batch lowers the AI (the batch-independent traffic of
weights and optimizer is shared by fewer samples). A family that cannot fit one sample
cannot run on the type at all.

Limits (said again under `gpusched gpus recommend`): a roofline is an upper bound and only
its ratios are used, so it assumes every type reaches the same fraction of its peak; it
ignores latency-bound kernels (small batches, short RNN steps), power and thermal clock
limits (a 70 W T4 runs below its boost clock), caches, TF32 (FP32 matmuls on Ampere+
tensor cores), sparsity, FP8, kernel/software maturity (CUDA vs ROCm), and everything
between GPUs (a multi-GPU job's communication, the interconnect). The family figures are
order-of-magnitude ones for one typical model each. Measure instead with `gpusched profile`:
a profile's factor wins wherever it covers a (type, family).

`speed_table` builds a `simulator.speed.SpeedTable` from both sources, keyed by family
name, with one provenance row per (type, family).
"""

from __future__ import annotations

import math
import re
import tomllib
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from functools import cache
from importlib import resources
from pathlib import Path
from types import MappingProxyType
from typing import Any

from simulator.gpu_catalog import GpuCatalog, GpuSpec
from simulator.speed import SpeedTable, geometric_mean, load_speed_table
from traces.cluster import DEFAULT_GPU_TYPE
from traces.errors import TraceError, UserError
from traces.io import read_text

FAMILY_NAMES: tuple[str, ...] = ("mlp", "cnn", "simple_rnn", "lstm", "gru", "gan", "transfer", "transformer")

MEASURED, ESTIMATE, REFERENCE = "measured", "estimate", "reference"

# Recorded model names (lower-cased) -> family, first match wins. Like executor.plan's
# table, plus the transformer family (executor's model zoo has no transformer, so it maps
# BERT-like names to transfer; here they are transformers).
_ALIASES: tuple[tuple[str, str], ...] = (
    (r"simple_?rnn|^rnn", "simple_rnn"),
    (r"lstm|seq2seq|deepspeech", "lstm"),
    (r"gru", "gru"),
    (r"(?<![a-z])(dc|cycle|style|big|w|pro)?gan", "gan"),
    (r"transfer|finetun|fine-tun", "transfer"),
    (r"transformer|bert|gpt|llama|\bt5\b|\bvit\b|vit[-_]|xlnet|attention", "transformer"),
    (r"resnet|vgg|inception|alexnet|mobilenet|efficientnet|densenet|cnn|conv|imagenet|cifar|mnist|yolo", "cnn"),
    (r"mlp|dense|dlrm|ncf|recommend|wide.?deep|ctr", "mlp"),
)

_FAMILY_KEYS: dict[str, str] = {
    "model": "text",
    "ai_flop_per_byte": "positive",
    "tensor_cores": "bool",
    "weights_gib": "non-negative",
    "activation_gib_per_sample": "positive",
    "batch_size": "count",
    "source": "text",
}
_ASSUMPTION_KEYS = ("reserved_gib", "reserved_source")


def _bytes_scale(mixed_precision: bool) -> float:
    """Bytes moved and activations kept, relative to the mixed-precision figures (FP32: twice)."""
    return 1.0 if mixed_precision else 2.0


# ----- model families --------------------------------------------------------------------------
@dataclass(frozen=True, slots=True)
class ModelFamily:
    """One family's typical model: its training step's arithmetic intensity at `batch_size`
    (mixed precision), whether tensor cores run it, and the memory that caps the batch."""

    name: str
    ai_flop_per_byte: float
    tensor_cores: bool
    weights_gib: float
    activation_gib_per_sample: float
    batch_size: int
    model: str = ""
    source: str = ""

    def __post_init__(self) -> None:
        for name, low, strict in (("ai_flop_per_byte", 0.0, True), ("weights_gib", 0.0, False),
                                  ("activation_gib_per_sample", 0.0, True)):
            value = getattr(self, name)
            ok = isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)
            if not ok or value < low or (strict and value == low):
                raise ValueError(f"family {self.name}: {name} must be a finite number {'>' if strict else '>='} "
                                 f"{low:g}, got {value!r}")
            object.__setattr__(self, name, float(value))
        if isinstance(self.batch_size, bool) or not isinstance(self.batch_size, int) or self.batch_size < 1:
            raise ValueError(f"family {self.name}: batch_size must be a whole number >= 1, got {self.batch_size!r}")

    def max_batch(self, vram_gib: float | None, reserved_gib: float, *, mixed_precision: bool = True) -> int | None:
        """The largest batch that fits `vram_gib` (None: VRAM unknown, no cap); 0: not even one sample."""
        if vram_gib is None:
            return None
        free = vram_gib - reserved_gib - self.weights_gib
        per_sample = self.activation_gib_per_sample * _bytes_scale(mixed_precision)
        return max(0, math.floor(free / per_sample + 1e-9)) if free > 0 else 0

    def intensity(self, batch: int, *, mixed_precision: bool = True) -> float:
        """AI (FLOP/byte) of a step at `batch`: the batch-independent traffic (weights, optimizer)
        is shared by fewer samples at a smaller batch (formula in model_families.toml)."""
        b0, w, a = self.batch_size, self.weights_gib, self.activation_gib_per_sample
        ai = self.ai_flop_per_byte * (batch / b0) * (w + b0 * a) / (w + batch * a)
        return ai / _bytes_scale(mixed_precision)


@dataclass(frozen=True, slots=True)
class ModelFamilies:
    """The families by name, the VRAM each GPU keeps for itself, and the file they came from."""

    families: tuple[ModelFamily, ...]
    reserved_gib: float = 1.0
    source: str = ""
    _index: Mapping[str, ModelFamily] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        index: dict[str, ModelFamily] = {}
        for fam in self.families:
            if fam.name in index:
                raise ValueError(f"two model families named {fam.name!r}")
            index[fam.name] = fam
        if not (math.isfinite(self.reserved_gib) and self.reserved_gib >= 0):
            raise ValueError(f"reserved_gib must be a finite number >= 0, got {self.reserved_gib!r}")
        object.__setattr__(self, "families", tuple(self.families))
        object.__setattr__(self, "_index", MappingProxyType(index))

    @staticmethod
    def default() -> ModelFamilies:
        """The families shipped in `simulator/data/model_families.toml`."""
        return _default_families()

    @property
    def names(self) -> tuple[str, ...]:
        return tuple(f.name for f in self.families)

    def get(self, name: str) -> ModelFamily:
        """The family `name`; `UserError` naming the known ones if there is none."""
        fam = self._index.get(name)
        if fam is None:
            raise UserError(f"unknown model family {name!r}; known: {', '.join(self.names)}")
        return fam


@cache
def _default_families() -> ModelFamilies:
    data = resources.files("simulator").joinpath("data", "model_families.toml")
    with resources.as_file(data) as path:
        return load_model_families(path)


def load_model_families(path: str | Path) -> ModelFamilies:
    """Read a model-family file (format: simulator/data/model_families.toml); `TraceError` if malformed."""
    path = Path(path)
    try:
        data = tomllib.loads(read_text(path))
    except tomllib.TOMLDecodeError as exc:
        raise TraceError(path, f"not valid TOML ({exc})") from None
    extra = sorted(set(data) - {"assumptions", "families"})
    if extra:
        raise TraceError(path, "unknown key", field=extra[0], expected="only [assumptions] and [families.<name>]")
    assumptions = data.get("assumptions", {})
    if not isinstance(assumptions, dict):
        raise TraceError(path, field="assumptions", expected="a table", found=assumptions)
    extra = sorted(set(assumptions) - set(_ASSUMPTION_KEYS))
    if extra:
        raise TraceError(path, "unknown key", field=f"assumptions.{extra[0]}", expected=" or ".join(_ASSUMPTION_KEYS))
    reserved = assumptions.get("reserved_gib", 1.0)
    if not _is_number(reserved) or reserved < 0:
        raise TraceError(path, field="assumptions.reserved_gib", expected="a number >= 0", found=reserved)
    entries = data.get("families")
    if not isinstance(entries, dict) or not entries:
        raise TraceError(path, field="families", expected="one or more [families.<name>] tables",
                         found="nothing" if entries is None else entries)
    families = [_family(path, name, entry) for name, entry in entries.items()]
    return ModelFamilies(tuple(families), float(reserved), str(path))


def _is_number(value: object) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)


def _family(path: Path, name: str, entry: object) -> ModelFamily:
    where = f"families.{name}"
    if not isinstance(entry, dict):
        raise TraceError(path, field=where, expected="a table", found=entry)
    extra = sorted(set(entry) - set(_FAMILY_KEYS))
    if extra:
        raise TraceError(path, "unknown key", field=f"{where}.{extra[0]}", expected="one of " + ", ".join(_FAMILY_KEYS))
    values: dict[str, Any] = {}
    for key, kind in _FAMILY_KEYS.items():
        if key not in entry:
            if kind == "text":
                values[key] = ""
                continue
            raise TraceError(path, "missing key", field=f"{where}.{key}", expected=_EXPECTED[kind])
        value = entry[key]
        ok = {
            "text": isinstance(value, str),
            "bool": isinstance(value, bool),
            "positive": _is_number(value) and value > 0,
            "non-negative": _is_number(value) and value >= 0,
            "count": isinstance(value, int) and not isinstance(value, bool) and value >= 1,
        }[kind]
        if not ok:
            raise TraceError(path, field=f"{where}.{key}", expected=_EXPECTED[kind], found=value)
        values[key] = value
    return ModelFamily(name=name, **values)


_EXPECTED = {
    "text": "a string",
    "bool": "true or false",
    "positive": "a number > 0",
    "non-negative": "a number >= 0",
    "count": "a whole number >= 1",
}


def family_of(model_name: str | None, families: Iterable[str] = FAMILY_NAMES) -> str | None:
    """The family a recorded model name belongs to (a family name itself, or a known
    architecture: resnet -> cnn, bert -> transformer, ...); None when empty or unrecognised."""
    if not model_name or not model_name.strip():
        return None
    known = tuple(families)
    name = model_name.strip().lower()
    if name in known:
        return name
    for pattern, family in _ALIASES:
        if family in known and re.search(pattern, name):
            return family
    return None


def fits_vram(gpu: GpuSpec, gpu_mem_gib: float | None) -> bool:
    """Whether a job asking for `gpu_mem_gib` per GPU (None/NaN: unknown) fits the type's VRAM
    (unknown VRAM: assumed to fit)."""
    if gpu_mem_gib is None or math.isnan(gpu_mem_gib) or gpu.vram_gib is None:
        return True
    return gpu_mem_gib <= gpu.vram_gib


# ----- the roofline estimate -------------------------------------------------------------------
@dataclass(frozen=True, slots=True)
class Roof:
    """What one GPU type attains for one family: the peak used, the AI at the batch that fits,
    and min(peak, AI x bandwidth). `attainable_tflops` is 0 when not one sample fits."""

    gpu_type: str
    peak_name: str  # the catalog field of the peak: tensor_tflops, fp16_tflops or fp32_tflops
    peak_tflops: float
    mem_bw_gbs: float
    batch_size: int | None  # None: VRAM unknown, the family's typical batch
    batch_capped: bool
    intensity: float
    attainable_tflops: float

    @property
    def fits(self) -> bool:
        return self.batch_size is None or self.batch_size >= 1

    @property
    def bound(self) -> str:
        """"compute" or "memory": which roof the family hits on this type."""
        return "compute" if self.intensity * self.mem_bw_gbs / 1000.0 >= self.peak_tflops else "memory"


def missing_figures(gpu: GpuSpec, *, mixed_precision: bool = True) -> tuple[str, ...]:
    """The catalog fields an estimate needs that `gpu` lacks (empty: it can be estimated)."""
    missing = [] if gpu.mem_bw_gbs is not None else ["mem_bw_gbs"]
    peaks = (gpu.tensor_tflops, gpu.fp16_tflops, gpu.fp32_tflops) if mixed_precision else (gpu.fp32_tflops,)
    if all(p is None for p in peaks):
        missing.append("fp32_tflops")
    return tuple(missing)


def _peak(gpu: GpuSpec, family: ModelFamily, mixed_precision: bool) -> tuple[str, float]:
    if mixed_precision:
        if family.tensor_cores and gpu.tensor_tflops is not None:
            return "tensor_tflops", gpu.tensor_tflops
        if gpu.fp16_tflops is not None:
            return "fp16_tflops", gpu.fp16_tflops
        if gpu.fp32_tflops is None and gpu.tensor_tflops is not None:
            return "tensor_tflops", gpu.tensor_tflops  # only figure known; a family without tensor cores
    if gpu.fp32_tflops is None:
        raise UserError(_missing_message(gpu, mixed_precision))
    return "fp32_tflops", gpu.fp32_tflops


def _missing_message(gpu: GpuSpec, mixed_precision: bool) -> str:
    missing = missing_figures(gpu, mixed_precision=mixed_precision) or ("fp32_tflops",)
    return (f"GPU type {gpu.gpu_type}: the catalog has no {' or '.join(missing)}, so its speed cannot be "
            "estimated; add the figures with --catalog FILE or measure it with `gpusched profile`")


def roof(gpu: GpuSpec, family: ModelFamily, *, mixed_precision: bool = True, reserved_gib: float = 1.0) -> Roof:
    """The roofline of `gpu` for `family` (`UserError` if the catalog lacks the figures)."""
    if missing_figures(gpu, mixed_precision=mixed_precision):
        raise UserError(_missing_message(gpu, mixed_precision))
    assert gpu.mem_bw_gbs is not None  # checked just above
    peak_name, peak = _peak(gpu, family, mixed_precision)
    cap = family.max_batch(gpu.vram_gib, reserved_gib, mixed_precision=mixed_precision)
    batch = family.batch_size if cap is None else min(family.batch_size, cap)
    if batch < 1:
        return Roof(gpu.gpu_type, peak_name, peak, gpu.mem_bw_gbs, 0, True, 0.0, 0.0)
    ai = family.intensity(batch, mixed_precision=mixed_precision)
    attainable = min(peak, ai * gpu.mem_bw_gbs / 1000.0)
    return Roof(gpu.gpu_type, peak_name, peak, gpu.mem_bw_gbs, None if cap is None else batch,
                cap is not None and cap < family.batch_size, ai, attainable)


@dataclass(frozen=True, slots=True)
class SpeedEstimate:
    """The estimated speed factor of `gpu_type` vs `reference_type` for one family, with both
    rooflines and a one-line explanation. `factor` is 0.0 when the family does not fit."""

    gpu_type: str
    reference_type: str
    family: str
    factor: float
    gpu: Roof
    reference: Roof
    mixed_precision: bool = True

    @property
    def fits(self) -> bool:
        return self.gpu.fits

    @property
    def explanation(self) -> str:
        if not self.fits:
            return (f"{self.family} on {self.gpu_type}: does not fit (weights + one sample exceed its VRAM)")
        g, r = self.gpu, self.reference
        text = (f"{self.family} on {self.gpu_type}: {_roof_text(g)}; {self.reference_type}: {_roof_text(r)}; "
                f"x{self.factor:.3g}")
        return text if self.mixed_precision else text + " (FP32)"


def _roof_text(r: Roof) -> str:
    batch = f", batch capped at {r.batch_size} by VRAM" if r.batch_capped else ""
    if r.bound == "compute":
        return f"compute-bound at {r.peak_name} {r.peak_tflops:.4g} TFLOPS{batch}"
    return (f"memory-bound, {r.intensity:.3g} FLOP/B x {r.mem_bw_gbs:.4g} GB/s = {r.attainable_tflops:.3g} "
            f"of {r.peak_name} {r.peak_tflops:.4g} TFLOPS{batch}")


def estimate_speed(
    gpu: GpuSpec,
    reference: GpuSpec,
    family: str,
    *,
    mixed_precision: bool = True,
    families: ModelFamilies | None = None,
) -> SpeedEstimate:
    """The roofline speed factor of `gpu` relative to `reference` for `family` (module docstring).

    `UserError` if either type lacks the catalog figures, the family is unknown, or the
    family does not fit the reference type (a factor relative to nothing).
    """
    fams = ModelFamilies.default() if families is None else families
    fam = fams.get(family)
    ref = roof(reference, fam, mixed_precision=mixed_precision, reserved_gib=fams.reserved_gib)
    if not ref.fits:
        raise UserError(f"model family {family} does not fit the reference type {reference.gpu_type}'s VRAM "
                        f"({reference.vram_gib:g} GiB); pick another reference type")
    mine = roof(gpu, fam, mixed_precision=mixed_precision, reserved_gib=fams.reserved_gib)
    factor = mine.attainable_tflops / ref.attainable_tflops
    if gpu.gpu_type == reference.gpu_type:
        factor = 1.0  # by definition, whatever rounding says
    return SpeedEstimate(gpu.gpu_type, reference.gpu_type, family, factor, mine, ref, mixed_precision)


# ----- the speed table: measured where a profile has it, else estimated --------------------------
@dataclass(frozen=True, slots=True)
class SpeedSource:
    """Where one (type, family) factor comes from: `provenance` is measured, estimate or
    reference; `factor` is NaN when the family does not fit the type (it cannot run there)."""

    gpu_type: str
    family: str
    factor: float
    provenance: str
    detail: str

    @property
    def fits(self) -> bool:
        return not math.isnan(self.factor)


def _measured(profile: Path, reference: str, catalog: GpuCatalog, families: Sequence[str]
              ) -> tuple[dict[tuple[str, str], float], dict[str, float], str]:
    """(type, family) -> factor and type -> type-level factor from a profile or speed table,
    with type names resolved through the catalog; plus the table's source name."""
    table = load_speed_table(profile, reference)

    def canonical(name: str) -> str:
        spec = catalog.get(name)
        return name if spec is None else spec.gpu_type

    grouped: dict[tuple[str, str], list[float]] = {}
    for (gpu_type, model), value in table.by_model.items():
        fam = family_of(model, families)
        if fam is not None:
            grouped.setdefault((canonical(gpu_type), fam), []).append(value)
    by_family = {key: geometric_mean(values) for key, values in grouped.items()}
    # A type-level entry counts only for a type with no per-model rows: for the others the
    # table derives it from those rows (their geometric mean), which measures no other family.
    with_models = {t for t, _ in table.by_model}
    by_type = {canonical(t): v for t, v in table.by_type.items() if t not in with_models}
    return by_family, by_type, table.source or str(profile)


def speed_table(
    types: Sequence[str],
    catalog: GpuCatalog,
    *,
    reference_type: str = DEFAULT_GPU_TYPE,
    profile: str | Path | None = None,
    families: Sequence[str] | None = None,
    mixed_precision: bool = True,
    family_data: ModelFamilies | None = None,
) -> tuple[SpeedTable, tuple[SpeedSource, ...]]:
    """A speed table for `types` (catalog names or aliases) x `families` relative to
    `reference_type`, and where each factor comes from.

    A (type, family) factor is measured when `profile` (a `gpusched profile` CSV or any
    `simulator.speed` table; its model names are mapped to families) covers it, else the
    roofline estimate. The table's `by_model` is keyed by (type, family name), and its
    `by_type` entry of a type is the geometric mean over the families that fit it (what a
    job of unknown family gets). Families that do not fit a type have no entry. `UserError`
    for a type the catalog does not know, or that lacks the figures an estimate needs.
    """
    fams = ModelFamilies.default() if family_data is None else family_data
    names = tuple(fams.names if families is None else families)
    for name in names:
        fams.get(name)
    ref_spec = _spec(catalog, reference_type, "reference type")
    specs = list(dict.fromkeys(_spec(catalog, t, "GPU type") for t in types))
    measured: dict[tuple[str, str], float] = {}
    measured_type: dict[str, float] = {}
    source = ""
    if profile is not None:
        measured, measured_type, source = _measured(Path(profile), ref_spec.gpu_type, catalog, names)
    by_model: dict[tuple[str, str], float] = {}
    by_type: dict[str, float] = {}
    rows: list[SpeedSource] = []
    for spec in [ref_spec, *(s for s in specs if s is not ref_spec)]:
        t = spec.gpu_type
        fitting: list[float] = []
        for fam in names:
            if spec is ref_spec:
                row = SpeedSource(t, fam, 1.0, REFERENCE, f"{t} is the reference type")
            elif (t, fam) in measured:
                row = SpeedSource(t, fam, measured[(t, fam)], MEASURED,
                                  f"{source}: {fam} on {t} vs {ref_spec.gpu_type}")
            elif t in measured_type:
                row = SpeedSource(t, fam, measured_type[t], MEASURED,
                                  f"{source}: {t} (all models) vs {ref_spec.gpu_type}")
            else:
                est = estimate_speed(spec, ref_spec, fam, mixed_precision=mixed_precision, families=fams)
                row = SpeedSource(t, fam, est.factor if est.fits else math.nan, ESTIMATE, est.explanation)
            if spec is ref_spec and spec not in specs:
                continue  # the reference is measured against, not asked for
            rows.append(row)
            if row.fits:
                by_model[(t, fam)] = row.factor
                fitting.append(row.factor)
        if fitting:
            by_type[t] = geometric_mean(fitting)
    by_type[ref_spec.gpu_type] = 1.0
    table = SpeedTable(ref_spec.gpu_type, by_type, by_model,
                       source=f"roofline estimate ({fams.source})" + (f" + {source}" if source else ""))
    return table, tuple(rows)


# ----- a run's speed table ----------------------------------------------------------------------
CATALOG_SPEED = "catalog"


def catalog_speed_profile(value: str | Path | None) -> tuple[bool, Path | None]:
    """Whether a `--speed-table` / `speed_table` value asks for the catalog's speed model, and
    the profile to prefer where it measures: "catalog" -> (True, None), "catalog:FILE" ->
    (True, FILE); anything else (a speed table file, None) -> (False, None)."""
    if value is None:
        return False, None
    text = str(value)
    if text == CATALOG_SPEED:
        return True, None
    if text.startswith(CATALOG_SPEED + ":") and len(text) > len(CATALOG_SPEED) + 1:
        return True, Path(text[len(CATALOG_SPEED) + 1:])
    return False, None


def workload_speed_table(
    gpu_types: Sequence[str],
    model_names: Iterable[str],
    catalog: GpuCatalog | None = None,
    *,
    reference_type: str = DEFAULT_GPU_TYPE,
    profile: str | Path | None = None,
    mixed_precision: bool = True,
) -> tuple[SpeedTable, tuple[str, ...]]:
    """The speed table a run on `gpu_types` (as the cluster names them) needs for jobs of these
    model names, from `speed_table` (measured where `profile` covers it, else the roofline
    estimate), and notes saying where the factors come from.

    A job's factor is its family's (`family_of` its model name); a job whose model maps to no
    family, or to one that does not fit the type, gets the type's geometric mean over the
    families that fit. `reference_type` is the GPU type the trace's durations were measured on.
    """
    catalog = GpuCatalog.default() if catalog is None else catalog
    types = tuple(dict.fromkeys(gpu_types))
    table, _ = speed_table(types, catalog, reference_type=reference_type, profile=profile,
                           mixed_precision=mixed_precision)
    ref = _spec(catalog, reference_type, "reference type").gpu_type
    canon = {t: _spec(catalog, t, "GPU type").gpu_type for t in types}
    by_type = {t: (1.0 if canon[t] == ref else table.by_type[canon[t]]) for t in types if canon[t] in table.by_type}
    by_model: dict[tuple[str, str], float] = {}
    names = [m for m in dict.fromkeys(model_names) if m]
    unmapped = []
    for model in names:
        fam = family_of(model)
        if fam is None:
            unmapped.append(model)
            continue
        for t in types:
            factor = 1.0 if canon[t] == ref else table.by_model.get((canon[t], fam))
            if factor is not None:
                by_model[(t, model)] = factor
    out = SpeedTable(ref, by_type, by_model, source=table.source)
    others = [t for t in types if canon[t] != ref]
    shown = ", ".join(f"{t} x{by_type[t]:.3g}" for t in others if t in by_type)
    notes = [f"speeds relative to {ref}, the GPU type the trace's durations are taken to be measured on: "
             + (f"{shown} (mean over model families; {table.source})" if shown else "this run's GPUs are that type")]
    if not names:
        notes.append("no job names a model: every job gets its type's mean over the model families")
    elif unmapped:
        notes.append(f"{len(unmapped)} of {len(names)} model names ({', '.join(unmapped[:3])}"
                     f"{', ...' if len(unmapped) > 3 else ''}) map to no model family: their jobs get "
                     "their type's mean over the families")
    return out, tuple(notes)


def _spec(catalog: GpuCatalog, name: str, what: str) -> GpuSpec:
    spec = catalog.get(name)
    if spec is None:
        raise UserError(f"{what} {name!r} is not in the GPU catalog; it knows {', '.join(catalog.known_types)}")
    return spec


__all__ = [
    "CATALOG_SPEED",
    "ESTIMATE",
    "FAMILY_NAMES",
    "MEASURED",
    "REFERENCE",
    "ModelFamilies",
    "ModelFamily",
    "Roof",
    "SpeedEstimate",
    "SpeedSource",
    "catalog_speed_profile",
    "estimate_speed",
    "family_of",
    "fits_vram",
    "load_model_families",
    "missing_figures",
    "roof",
    "speed_table",
    "workload_speed_table",
]
