"""GPU types: power, price and hardware figures, for energy/cost metrics and speed estimates.

`GpuCatalog.default()` is the catalog shipped in `simulator/data/gpu_catalog.toml`: busy
power = the board's TDP, idle power = what nvidia-smi (or rocm-smi) shows for an idle GPU,
cloud price = a public on-demand price per GPU-hour where one exists, purchase price =
launch MSRP or typical list/street price, plus the hardware figures a speed model needs
(peak TFLOPS, memory size and bandwidth); each entry's `source` says where its figures come
from. A user's file (`load_gpu_catalog`) overrides or extends it, in the same format::

    [gpus.V100]                  # an entry of the base catalog: fields left out are kept
    price_per_gpu_h = 2.48

    [gpus.V100M32]               # an alias of V100 in the base catalog: a new entry that
    price_per_gpu_h = 3.90       # starts from V100's figures and takes the alias over

    [gpus.G2]                    # a new type: busy_w and idle_w required, the rest optional
    busy_w = 250
    idle_w = 30
    price_per_gpu_h = 2.0        # optional: USD per GPU-hour on demand (none: no cloud offer)
    price_date = "2025-06"       # optional: when that price was listed (YYYY-MM or YYYY-MM-DD)
    purchase_usd = 9000          # optional: purchase price per GPU
    purchase_date = "2024-01"
    vendor = "NVIDIA"            # optional hardware figures: vendor, architecture, year,
    architecture = "Ampere"      # fp32_tflops, tensor_tflops (dense FP16/BF16 on tensor or
    year = 2021                  # matrix cores), fp16_tflops (non-tensor FP16), vram_gib,
    fp32_tflops = 31.2           # mem_bw_gbs (GB/s), tdp_w, interconnect
    vram_gib = 24
    aliases = ["G2-24GB"]        # optional: other names for it
    source = "our own meter"     # optional: where the figures come from

A GPU type is looked up by its exact name, ignoring case and surrounding blanks, then by
the aliases, the same way; nothing fuzzier, so "V100-PCIE-16GB" is unknown unless listed.
"""

from __future__ import annotations

import datetime
import math
import re
import tomllib
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field, replace
from functools import cache
from importlib import resources
from pathlib import Path
from typing import Any

from traces.errors import TraceError
from traces.io import read_text

_FIELDS = ("busy_w", "idle_w")  # required for a new type
# Optional keys, by kind: "price" a number >= 0, "positive" a number > 0, "year" a whole
# number, "text" a string, "date" "YYYY-MM" or "YYYY-MM-DD".
_OPTIONAL: dict[str, str] = {
    "price_per_gpu_h": "price",
    "price_date": "date",
    "purchase_usd": "price",
    "purchase_date": "date",
    "vendor": "text",
    "architecture": "text",
    "year": "year",
    "fp32_tflops": "positive",
    "tensor_tflops": "positive",
    "fp16_tflops": "positive",
    "vram_gib": "positive",
    "mem_bw_gbs": "positive",
    "tdp_w": "positive",
    "interconnect": "text",
}
_ENTRY_KEYS = (*_FIELDS, *_OPTIONAL, "aliases", "source")
_DATE = re.compile(r"\d{4}-(0[1-9]|1[0-2])(-(0[1-9]|[12]\d|3[01]))?")
_YEARS = (1990, 2100)


def _key(name: str) -> str:
    return name.strip().casefold()


@dataclass(frozen=True, slots=True)
class GpuSpec:
    """One GPU type: watts while a job runs on it and while idle, USD per GPU-hour on a
    public cloud and to buy one, and its hardware figures; None / "" = unknown (for
    `tensor_tflops`: no tensor or matrix cores; for `price_per_gpu_h`: no cloud offer)."""

    gpu_type: str
    busy_w: float
    idle_w: float
    price_per_gpu_h: float | None = None
    aliases: tuple[str, ...] = ()
    source: str = ""
    vendor: str = ""
    architecture: str = ""
    year: int | None = None
    fp32_tflops: float | None = None
    tensor_tflops: float | None = None  # dense FP16/BF16 matrix throughput
    fp16_tflops: float | None = None  # FP16 off the tensor cores (packed math)
    vram_gib: float | None = None
    mem_bw_gbs: float | None = None
    tdp_w: float | None = None
    interconnect: str = ""
    price_date: str = ""
    purchase_usd: float | None = None
    purchase_date: str = ""

    def __post_init__(self) -> None:
        if not self.gpu_type.strip():
            raise ValueError("a GPU spec needs a non-empty gpu_type")
        for name in (*_FIELDS, *_OPTIONAL):
            value = getattr(self, name)
            kind = _OPTIONAL.get(name, "price")
            if name in _OPTIONAL and value is None:
                continue
            if kind in ("text", "date"):
                if not isinstance(value, str) or (kind == "date" and value and not _DATE.fullmatch(value)):
                    raise ValueError(f"{self.gpu_type}: {name} must be {_EXPECTED[kind]}, got {value!r}")
                continue
            if not _number_ok(value, kind):
                expected = _EXPECTED[kind].replace("a number", "a finite number")
                raise ValueError(f"{self.gpu_type}: {name} must be {expected}, got {value!r}")
            object.__setattr__(self, name, int(value) if kind == "year" else float(value))
        if self.idle_w > self.busy_w:
            raise ValueError(f"{self.gpu_type}: idle_w {self.idle_w:g} exceeds busy_w {self.busy_w:g}")
        if self.tdp_w is not None and self.idle_w > self.tdp_w:
            raise ValueError(f"{self.gpu_type}: idle_w {self.idle_w:g} exceeds tdp_w {self.tdp_w:g}")
        object.__setattr__(self, "aliases", tuple(self.aliases))


_EXPECTED = {
    "price": "a number >= 0",
    "positive": "a number > 0",
    "year": f"a year ({_YEARS[0]}-{_YEARS[1]})",
    "text": "a string",
    "date": "a date YYYY-MM or YYYY-MM-DD",
}


def _number_ok(value: object, kind: str) -> bool:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
        return False
    if kind == "year":
        return float(value).is_integer() and _YEARS[0] <= value <= _YEARS[1]
    return value > 0 if kind == "positive" else value >= 0


@dataclass(frozen=True, slots=True)
class GpuCatalog:
    """GPU specs looked up by name or alias, case-insensitively; `source` names the file(s)."""

    specs: tuple[GpuSpec, ...] = ()
    source: str | None = None
    _index: Mapping[str, GpuSpec] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        index: dict[str, GpuSpec] = {}
        for spec in self.specs:
            for name in (spec.gpu_type, *spec.aliases):
                other = index.get(_key(name))
                if other is not None and other is not spec:
                    raise ValueError(f"GPU type name {name!r} is used by both {other.gpu_type} and {spec.gpu_type}")
                index[_key(name)] = spec
        object.__setattr__(self, "specs", tuple(self.specs))
        object.__setattr__(self, "_index", index)  # a plain dict, private: the catalog pickles

    @staticmethod
    def default() -> GpuCatalog:
        """The catalog shipped with gpusched (`simulator/data/gpu_catalog.toml`)."""
        return _default()

    def get(self, gpu_type: str) -> GpuSpec | None:
        """The spec named `gpu_type` (or having it as an alias), ignoring case; None if unknown."""
        return self._index.get(_key(gpu_type))

    @property
    def known_types(self) -> tuple[str, ...]:
        """The entries' names, sorted."""
        return tuple(sorted(s.gpu_type for s in self.specs))

    def unknown(self, gpu_types: Iterable[str]) -> tuple[str, ...]:
        """Those of `gpu_types` the catalog has no spec for, once each, in order."""
        return tuple(t for t in dict.fromkeys(gpu_types) if self.get(t) is None)


@cache
def _default() -> GpuCatalog:
    data = resources.files("simulator").joinpath("data", "gpu_catalog.toml")
    with resources.as_file(data) as path:
        return load_gpu_catalog(path, base=GpuCatalog())


def load_gpu_catalog(path: str | Path, base: GpuCatalog | None = None) -> GpuCatalog:
    """`base` (default: the shipped catalog) with the entries of the TOML file at `path`
    added or overriding (rules in the module docstring); `TraceError` if the file is malformed."""
    path = Path(path)
    base = GpuCatalog.default() if base is None else base
    if path.is_file() and path.stat().st_size == 0:
        raise TraceError(path, "the file is empty", expected="[gpus.<TYPE>] tables")
    try:
        data = tomllib.loads(read_text(path))
    except tomllib.TOMLDecodeError as exc:
        raise TraceError(path, f"not valid TOML ({exc})") from None
    unknown = sorted(set(data) - {"gpus"})
    if unknown:
        raise TraceError(path, "unknown key", field=unknown[0], expected="only [gpus.<TYPE>] tables")
    entries = data.get("gpus")
    if not isinstance(entries, dict) or not entries:
        raise TraceError(path, field="gpus", expected="one or more [gpus.<TYPE>] tables",
                         found="nothing" if entries is None else entries)
    specs = list(base.specs)
    seen: dict[str, str] = {}
    for name, entry in entries.items():
        where = f"gpus.{name}"
        if not name.strip():
            raise TraceError(path, field=where, expected="a GPU type name", found=name)
        if _key(name) in seen:
            raise TraceError(path, f"a second entry for the same GPU type as gpus.{seen[_key(name)]}",
                             field=where, expected="one entry per type (names ignore case)")
        seen[_key(name)] = name
        if not isinstance(entry, dict):
            raise TraceError(path, field=where, expected="a table", found=entry)
        extra = sorted(set(entry) - set(_ENTRY_KEYS))
        if extra:
            raise TraceError(path, "unknown key", field=f"{where}.{extra[0]}",
                             expected="one of " + ", ".join(_ENTRY_KEYS))
        specs = _merged(path, specs, name.strip(), entry)
    try:
        return GpuCatalog(tuple(specs), source=str(path) if base.source is None else f"{base.source} + {path}")
    except ValueError as exc:
        raise TraceError(path, str(exc)) from None


def _merged(path: Path, specs: list[GpuSpec], name: str, entry: dict[str, Any]) -> list[GpuSpec]:
    """`specs` with the file's entry `name` applied (to the spec the name resolves to, if any)."""
    where = f"gpus.{name}"
    at = next((i for i, s in enumerate(specs) if _key(name) in {_key(n) for n in (s.gpu_type, *s.aliases)}), None)
    start = None if at is None else specs[at]

    def number(f: str) -> float:
        if f in entry:
            return float(_value(path, f"{where}.{f}", entry[f], "price"))
        if start is None:
            raise TraceError(path, "missing key", field=f"{where}.{f}", expected="a number >= 0")
        return float(getattr(start, f))

    busy_w, idle_w = (number(f) for f in _FIELDS)
    if idle_w > busy_w:
        raise TraceError(path, "idle power above busy power", field=f"{where}.idle_w",
                         expected=f"a number <= busy_w ({busy_w:g})", found=entry.get("idle_w", idle_w))
    given: dict[str, Any] = {
        f: _value(path, f"{where}.{f}", entry[f], kind) for f, kind in _OPTIONAL.items() if f in entry
    }
    tdp_w = given.get("tdp_w", None if start is None else start.tdp_w)
    if isinstance(tdp_w, float) and idle_w > tdp_w:
        field_name = "tdp_w" if "tdp_w" in entry else "idle_w"
        raise TraceError(path, "idle power above the TDP", field=f"{where}.{field_name}",
                         expected=f"tdp_w >= idle_w ({idle_w:g})", found=entry.get(field_name, tdp_w))
    aliases = _aliases(path, f"{where}.aliases", entry.get("aliases", []))
    source = entry.get("source")
    if source is not None and not isinstance(source, str):
        raise TraceError(path, field=f"{where}.source", expected="a string", found=source)
    if start is None or at is None:
        return [*specs, GpuSpec(name, busy_w, idle_w, aliases=aliases, source=source or str(path), **given)]
    named = [f for f in _FIELDS if f in entry] + list(given)
    note = source or f"{', '.join(named) or 'aliases'} from {path}; the rest: {start.source}"
    out = list(specs)
    if _key(name) == _key(start.gpu_type):  # override the entry itself
        merged = tuple(dict.fromkeys((*start.aliases, *aliases)))
        out[at] = replace(start, busy_w=busy_w, idle_w=idle_w, aliases=merged, source=note, **given)
        return out
    # `name` is an alias of `start`: a new entry of its own, which takes the alias over.
    out[at] = replace(start, aliases=tuple(a for a in start.aliases if _key(a) != _key(name)))
    return [*out, replace(start, gpu_type=name, busy_w=busy_w, idle_w=idle_w, aliases=aliases, source=note, **given)]


def _value(path: Path, where: str, value: object, kind: str) -> float | int | str:
    """`value` checked against its key's kind; TraceError naming `where` if it does not fit."""
    if kind == "date" and isinstance(value, datetime.date) and not isinstance(value, datetime.datetime):
        return value.isoformat()  # an unquoted TOML date
    if kind in ("text", "date"):
        if isinstance(value, str) and (kind == "text" or _DATE.fullmatch(value)):
            return value
    elif _number_ok(value, kind):
        assert isinstance(value, (int, float))
        return int(value) if kind == "year" else float(value)
    raise TraceError(path, field=where, expected=_EXPECTED[kind], found=value)


def _aliases(path: Path, where: str, value: object) -> tuple[str, ...]:
    if not isinstance(value, list) or not all(isinstance(a, str) and a.strip() for a in value):
        raise TraceError(path, field=where, expected="a list of GPU type names", found=value)
    return tuple(a.strip() for a in value)


__all__ = ["GpuCatalog", "GpuSpec", "load_gpu_catalog"]
