"""GPU speed factors: how fast each GPU type runs a job relative to the reference type.

A job's `duration_s` is measured on the reference GPU type, so on type T with factor f it
needs `duration_s / f` seconds (f = 2.0: twice as fast). A factor comes from the most
specific entry known: the (type, model) entry when the job names a model the table
lists for that type, else the type's entry; the reference type is 1.0 by definition. A
type with per-model entries but no type entry gets the geometric mean of its model
entries (the usual summary of speed ratios: unlike the arithmetic mean it does not
depend on which type is the reference; Fleming & Wallace, CACM 29(3), 1986).

A type the table does not know is an error, not a silent 1.0: a table that forgot a type
would otherwise make it exactly as fast as the reference. `check_types` reports it up
front with the cluster's types; `factor` raises the same error as a backstop.

Two file formats, told apart by the name (`.toml`, else CSV, plain or gzip)::

    [reference]
    type = "V100"          # optional: else the `reference_type` argument, else V100
    [types]
    A100 = 2.1
    [models.resnet50]
    A100 = 2.5

    gpu_type,model_name,speed          (empty model_name = the type's entry)
    gpu_type,model_name,steps_per_s    (what `gpusched profile` writes: divided by the
                                        reference type's steps_per_s for the same model)

With a `num_devices` column (a profile table) only single-device rows count: a gang's rate
is not a per-GPU speed. With a `batch_size` column a rate is divided by the reference
type's rate for the same model and batch size, and several batch sizes of one (type,
model) give the geometric mean of their ratios. With a `device_name` column, rows of
several devices of one type are summarised by their median. Other columns (spread, device name, ...)
are ignored.
"""

from __future__ import annotations

import math
import statistics
import tomllib
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from types import MappingProxyType
from typing import Any

from traces.cluster import DEFAULT_GPU_TYPE
from traces.errors import TraceError, UserError
from traces.io import open_csv, read_text


def geometric_mean(values: Sequence[float]) -> float:
    """The usual summary of speed ratios (independent of which type is the reference)."""
    return math.exp(sum(math.log(v) for v in values) / len(values))


@dataclass(frozen=True, slots=True)
class SpeedTable:
    """Speed factors relative to `reference_type` (None: the identity table, every factor 1.0).

    `by_type` maps a GPU type to its factor; `by_model` maps (GPU type, model name) to a
    model-specific factor. The constructor adds the reference type (1.0) and the
    geometric-mean entry of types listed only per model; `source` names the file in errors.
    """

    reference_type: str | None
    by_type: Mapping[str, float] = field(default_factory=dict)
    by_model: Mapping[tuple[str, str], float] = field(default_factory=dict)
    source: str | None = None

    def __post_init__(self) -> None:
        if self.reference_type is None and (self.by_type or self.by_model):
            raise ValueError("a speed table with factors needs a reference type")
        for where, value in [*self.by_type.items(), *self.by_model.items()]:
            number = isinstance(value, (int, float)) and not isinstance(value, bool)
            if not (number and math.isfinite(value) and value > 0):
                raise ValueError(f"speed factor for {where} must be a number > 0, got {value!r}")
        ref = self.reference_type
        bad = [w for w, v in [*self.by_type.items(), *self.by_model.items()]
               if (w == ref or (isinstance(w, tuple) and w[0] == ref)) and v != 1.0]
        if bad:
            raise ValueError(f"the reference type {ref} has factor 1.0 by definition; got another for {bad[0]}")
        by_type = {t: float(v) for t, v in self.by_type.items()}
        per_model: dict[str, list[float]] = {}
        for (t, _), v in self.by_model.items():
            per_model.setdefault(t, []).append(float(v))
        for t, values in per_model.items():
            if t not in by_type:
                by_type[t] = geometric_mean(values)
        if ref is not None:
            by_type[ref] = 1.0
        object.__setattr__(self, "by_type", MappingProxyType(by_type))
        object.__setattr__(self, "by_model", MappingProxyType({k: float(v) for k, v in self.by_model.items()}))

    @staticmethod
    def reference() -> SpeedTable:
        """The identity table: every GPU type runs at the reference speed."""
        return SpeedTable(None)

    @property
    def known_types(self) -> tuple[str, ...]:
        """GPU types with a factor, sorted (empty for the identity table, which knows them all)."""
        return tuple(sorted(self.by_type))

    def factor(self, gpu_type: str, model_name: str | None = None) -> float:
        """Throughput of `gpu_type` (for `model_name` when known) relative to the reference type."""
        if model_name is not None:
            f = self.by_model.get((gpu_type, model_name))
            if f is not None:
                return f
        f = self.by_type.get(gpu_type)
        if f is not None:
            return f
        if self.reference_type is None:
            return 1.0
        raise UserError(self._unknown_message([gpu_type]))

    def check_types(self, gpu_types: Iterable[str]) -> None:
        """Raise `UserError` naming the first of `gpu_types` (e.g. the cluster's) without a factor."""
        if self.reference_type is None:
            return
        unknown = [t for t in dict.fromkeys(gpu_types) if t not in self.by_type]
        if unknown:
            raise UserError(self._unknown_message(unknown))

    def _unknown_message(self, unknown: list[str]) -> str:
        where = f"{self.source}: " if self.source else ""
        more = f" (nor for {', '.join(unknown[1:])})" if len(unknown) > 1 else ""
        return (
            f"{where}the speed table has no factor for GPU type {unknown[0]}{more}; "
            f"it knows {', '.join(self.known_types)} (reference {self.reference_type})"
        )


def load_speed_table(path: str | Path, reference_type: str | None = None) -> SpeedTable:
    """Read a speed table file (format in the module docstring); `TraceError` if malformed.

    The reference type is the file's own (`[reference] type` in TOML), else
    `reference_type`, else the project's default GPU type (V100), else, for a steps/s
    table that measured a single device type, that type.
    """
    path = Path(path)
    name = path.name.lower()
    if name.endswith(".toml"):
        return _load_toml(path, reference_type)
    return _load_csv(path, reference_type)


def _count(path: Path, text: str, field_name: str, row: int) -> int:
    """A whole number >= 1 from a CSV field (batch size, number of devices)."""
    try:
        value = int(text.strip())
    except ValueError:
        value = 0
    if value < 1:
        raise TraceError(path, row=row, field=field_name, expected="a whole number >= 1", found=text)
    return value


def _factor(path: Path, value: object, *, field_name: str, row: int | None = None) -> float:
    """A factor from TOML (a number) or CSV (text): finite and > 0."""
    found = value
    if isinstance(value, str):
        try:
            value = float(value.strip())
        except ValueError:
            value = None
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not (math.isfinite(value) and value > 0):
        raise TraceError(path, row=row, field=field_name, expected="a number > 0", found=found)
    return float(value)


_TOML_KEYS = ("reference", "types", "models")


def _table(path: Path, value: object, key: str) -> dict[str, Any]:
    if not isinstance(value, dict):
        raise TraceError(path, field=key, expected="a table", found=value)
    return value


def _load_toml(path: Path, reference_type: str | None) -> SpeedTable:
    try:
        data = tomllib.loads(read_text(path))
    except tomllib.TOMLDecodeError as exc:
        raise TraceError(path, f"not valid TOML ({exc})") from None
    unknown = sorted(set(data) - set(_TOML_KEYS))
    if unknown:
        raise TraceError(path, "unknown key", field=unknown[0],
                         expected="only [reference], [types] and [models.<name>]")
    ref_table = _table(path, data.get("reference", {}), "reference")
    extra = sorted(set(ref_table) - {"type"})
    if extra:
        raise TraceError(path, "unknown key", field=f"reference.{extra[0]}", expected="only reference.type")
    ref = ref_table.get("type", reference_type or DEFAULT_GPU_TYPE)
    if not isinstance(ref, str) or not ref.strip():
        raise TraceError(path, field="reference.type", expected="a GPU type name", found=ref)
    if reference_type is not None and ref != reference_type:
        raise TraceError(path, "the file's reference type differs from the one asked for",
                         field="reference.type", expected=reference_type, found=ref)
    by_type: dict[str, float] = {}
    for gpu_type, value in _table(path, data.get("types", {}), "types").items():
        key = f"types.{gpu_type}"
        by_type[gpu_type] = _reference_checked(path, ref, gpu_type, _factor(path, value, field_name=key), key)
    by_model: dict[tuple[str, str], float] = {}
    for model, entries in _table(path, data.get("models", {}), "models").items():
        for gpu_type, value in _table(path, entries, f"models.{model}").items():
            key = f"models.{model}.{gpu_type}"
            by_model[(gpu_type, model)] = _reference_checked(
                path, ref, gpu_type, _factor(path, value, field_name=key), key
            )
    return SpeedTable(ref, by_type, by_model, source=str(path))


def _reference_checked(path: Path, ref: str, gpu_type: str, value: float, key: str, row: int | None = None) -> float:
    if gpu_type == ref and value != 1.0:
        raise TraceError(path, f"{ref} is the reference type", row=row, field=key, expected="1.0", found=value)
    return value


def _load_csv(path: Path, asked: str | None) -> SpeedTable:
    rows = open_csv(path)
    has_speed, has_steps = "speed" in rows.header, "steps_per_s" in rows.header
    if has_speed == has_steps:
        raise TraceError(
            path,
            "not a speed table: " + ("both speed and steps_per_s columns" if has_speed else "no speed column"),
            expected="header gpu_type,model_name,speed or gpu_type,model_name,steps_per_s",
            found=",".join(rows.header),
        )
    value_col = "speed" if has_speed else "steps_per_s"
    ref = asked or DEFAULT_GPU_TYPE
    cols = rows.require_columns(["gpu_type", value_col], "speed table")
    model_col = rows.header.index("model_name") if "model_name" in rows.header else None
    batch_col = rows.header.index("batch_size") if "batch_size" in rows.header else None
    devices_col = rows.header.index("num_devices") if "num_devices" in rows.header else None
    device_col = rows.header.index("device_name") if "device_name" in rows.header else None
    optional = [c for c in (model_col, batch_col, devices_col, device_col) if c is not None]
    width = max(*cols.values(), *optional) + 1
    # (type, model or "", batch size or "", device or "") -> (value, row)
    measured: dict[tuple[str, str, str, str], tuple[float, int]] = {}
    for row_no, fields in rows:
        if len(fields) < width:
            raise TraceError(path, "too few fields", row=row_no, expected=f"{len(rows.header)} fields",
                             found=len(fields))
        if devices_col is not None and _count(path, fields[devices_col], "num_devices", row_no) != 1:
            continue  # a data-parallel gang's rate: not a per-GPU speed
        gpu_type = fields[cols["gpu_type"]].strip()
        if not gpu_type:
            raise TraceError(path, row=row_no, field="gpu_type", expected="a GPU type name", found="")
        model = fields[model_col].strip() if model_col is not None else ""
        batch = str(_count(path, fields[batch_col], "batch_size", row_no)) if batch_col is not None else ""
        device = fields[device_col].strip() if device_col is not None else ""
        value = _factor(path, fields[cols[value_col]], field_name=value_col, row=row_no)
        first = measured.get((gpu_type, model, batch, device))
        if first is not None:
            what = f"GPU type {gpu_type}" + (f" and model {model}" if model else "")
            what += f" at batch size {batch}" if batch else ""
            what += f" on device {device}" if device else ""
            raise TraceError(path, f"a second row for {what} (the first is row {first[1]})", row=row_no)
        if has_speed:
            _reference_checked(path, ref, gpu_type, value, "speed", row_no)
        measured[(gpu_type, model, batch, device)] = (value, row_no)
    # Several devices of one type measured alike (a profile of each GPU of a node): their median.
    grouped: dict[tuple[str, str, str], list[tuple[float, int]]] = {}
    for (gpu_type, model, batch, _), entry in measured.items():
        grouped.setdefault((gpu_type, model, batch), []).append(entry)
    values = {key: (statistics.median(v for v, _ in entries), entries[0][1]) for key, entries in grouped.items()}
    measured_types = sorted({t for t, _, _ in values})
    if has_steps and asked is None and ref not in measured_types and len(measured_types) == 1:
        ref = measured_types[0]  # a profile of one device type: it is the reference
    # Several batch sizes of one (type, model): the geometric mean of their ratios.
    ratios: dict[tuple[str, str], list[float]] = {}
    for (gpu_type, model, batch), (value, row_no) in values.items():
        if has_steps:
            base = values.get((ref, model, batch))
            if base is None:
                what = f"model {model!r}" if model else "the type-level rows (empty model_name)"
                what += f" at batch size {batch}" if batch else ""
                raise TraceError(path, f"no steps_per_s for the reference type {ref} with {what} to divide by",
                                 row=row_no, field="model_name")
            value = value / base[0]
        if gpu_type != ref:
            ratios.setdefault((gpu_type, model), []).append(value)
    by_type: dict[str, float] = {}
    by_model: dict[tuple[str, str], float] = {}
    for (gpu_type, model), found in ratios.items():
        value = found[0] if len(found) == 1 else geometric_mean(found)
        if model:
            by_model[(gpu_type, model)] = value
        else:
            by_type[gpu_type] = value
    return SpeedTable(ref, by_type, by_model, source=str(path))
