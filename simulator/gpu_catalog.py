"""Power and price per GPU type, for a run's energy and cost metrics.

`GpuCatalog.default()` is the interim catalog shipped in `simulator/data/gpu_catalog.toml`:
busy power = the board's TDP from NVIDIA's datasheet, idle power = what nvidia-smi shows
for an idle GPU, price = a public-cloud on-demand price per GPU-hour; each entry's
`source` says where its figures come from. A user's file (`load_gpu_catalog`) overrides
or extends it, in the same format::

    [gpus.V100]                  # an entry of the base catalog: fields left out are kept
    price_per_gpu_h = 2.48

    [gpus.V100M32]               # an alias of V100 in the base catalog: a new entry that
    price_per_gpu_h = 3.90       # starts from V100's figures and takes the alias over

    [gpus.G2]                    # a new type: busy_w, idle_w and price_per_gpu_h required
    busy_w = 250
    idle_w = 30
    price_per_gpu_h = 2.0
    aliases = ["G2-24GB"]        # optional: other names for it
    source = "our own meter"     # optional: where the figures come from

A GPU type is looked up by its exact name, ignoring case and surrounding blanks, then by
the aliases, the same way; nothing fuzzier, so "V100-PCIE-16GB" is unknown unless listed.
"""

from __future__ import annotations

import math
import tomllib
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field, replace
from functools import cache
from importlib import resources
from pathlib import Path
from typing import Any

from traces.errors import TraceError
from traces.io import read_text

_FIELDS = ("busy_w", "idle_w", "price_per_gpu_h")
_ENTRY_KEYS = (*_FIELDS, "aliases", "source")


def _key(name: str) -> str:
    return name.strip().casefold()


@dataclass(frozen=True, slots=True)
class GpuSpec:
    """One GPU type: watts while a job runs on it and while idle, and USD per GPU-hour."""

    gpu_type: str
    busy_w: float
    idle_w: float
    price_per_gpu_h: float
    aliases: tuple[str, ...] = ()
    source: str = ""

    def __post_init__(self) -> None:
        if not self.gpu_type.strip():
            raise ValueError("a GPU spec needs a non-empty gpu_type")
        for name in _FIELDS:
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value) or value < 0:
                raise ValueError(f"{self.gpu_type}: {name} must be a finite number >= 0, got {value!r}")
            object.__setattr__(self, name, float(value))
        if self.idle_w > self.busy_w:
            raise ValueError(f"{self.gpu_type}: idle_w {self.idle_w:g} exceeds busy_w {self.busy_w:g}")
        object.__setattr__(self, "aliases", tuple(self.aliases))


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
            return _watts_or_price(path, f"{where}.{f}", entry[f])
        if start is None:
            raise TraceError(path, "missing key", field=f"{where}.{f}", expected="a number >= 0")
        return float(getattr(start, f))

    busy_w, idle_w, price = (number(f) for f in _FIELDS)
    if idle_w > busy_w:
        raise TraceError(path, "idle power above busy power", field=f"{where}.idle_w",
                         expected=f"a number <= busy_w ({busy_w:g})", found=entry.get("idle_w", idle_w))
    aliases = _aliases(path, f"{where}.aliases", entry.get("aliases", []))
    source = entry.get("source")
    if source is not None and not isinstance(source, str):
        raise TraceError(path, field=f"{where}.source", expected="a string", found=source)
    if start is None or at is None:
        return [*specs, GpuSpec(name, busy_w, idle_w, price, aliases, source or str(path))]
    given = ", ".join(f for f in _FIELDS if f in entry) or "aliases"
    note = source or f"{given} from {path}; the rest: {start.source}"
    out = list(specs)
    if _key(name) == _key(start.gpu_type):  # override the entry itself
        merged = tuple(dict.fromkeys((*start.aliases, *aliases)))
        out[at] = replace(start, busy_w=busy_w, idle_w=idle_w, price_per_gpu_h=price, aliases=merged, source=note)
        return out
    # `name` is an alias of `start`: a new entry of its own, which takes the alias over.
    out[at] = replace(start, aliases=tuple(a for a in start.aliases if _key(a) != _key(name)))
    return [*out, GpuSpec(name, busy_w, idle_w, price, aliases, note)]


def _watts_or_price(path: Path, where: str, value: object) -> float:
    if isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value) and value >= 0:
        return float(value)
    raise TraceError(path, field=where, expected="a number >= 0", found=value)


def _aliases(path: Path, where: str, value: object) -> tuple[str, ...]:
    if not isinstance(value, list) or not all(isinstance(a, str) and a.strip() for a in value):
        raise TraceError(path, field=where, expected="a list of GPU type names", found=value)
    return tuple(a.strip() for a in value)


__all__ = ["GpuCatalog", "GpuSpec", "load_gpu_catalog"]
