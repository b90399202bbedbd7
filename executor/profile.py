"""Calibration: measured training steps per second of each model family on this machine's devices.

`profile` times real Keras training (after a warm-up, `repeats` timed runs of `steps` steps
each, `time.perf_counter`) and reports the median rate and the sample standard deviation
across repeats. `ProfileTable` is the CSV it writes, with the columns `PROFILE_COLUMNS` in
that order; the simulator's speed table and the executor's planner read it. Rates are in
steps per second, memory in GiB.
"""

from __future__ import annotations

import csv
import io
import math
import statistics
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from types import MappingProxyType, ModuleType
from typing import Any

from executor.devices import BACKENDS, PRECISIONS, DeviceInfo, distribution_for, list_devices
from simulator.atomic import atomic_write
from traces.errors import TraceError, UserError
from traces.io import open_csv

PROFILE_COLUMNS: tuple[str, ...] = (
    "gpu_type", "model_name", "batch_size", "num_devices", "steps_per_s", "steps_per_s_std", "repeats", "steps",
    "warmup_steps", "size", "device_name", "device_mem_gib", "backend", "precision",
)
GANG_SEPARATOR = ";"  # between the device names of a gang in `device_name`


@dataclass(frozen=True, slots=True)
class ProfileRow:
    """One measurement: a model at a batch size on one device or a data-parallel gang of devices.

    `batch_size` is per replica; `device_name` joins a gang's devices with ";";
    `device_mem_gib` is one device's memory (None: unknown).
    """

    gpu_type: str
    model_name: str
    batch_size: int
    num_devices: int
    steps_per_s: float
    steps_per_s_std: float
    repeats: int
    steps: int
    warmup_steps: int
    size: int
    device_name: str
    device_mem_gib: float | None
    backend: str
    precision: str

    def __post_init__(self) -> None:
        for name in ("gpu_type", "model_name"):
            if not getattr(self, name).strip() or "," in getattr(self, name):
                raise ValueError(f"{name} must be a non-empty name without commas, got {getattr(self, name)!r}")
        for name, low in (("batch_size", 1), ("num_devices", 1), ("repeats", 1), ("steps", 1), ("warmup_steps", 0),
                          ("size", 1)):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int) or value < low:
                raise ValueError(f"{name} must be an integer >= {low}, got {value!r}")
        if not (math.isfinite(self.steps_per_s) and self.steps_per_s > 0):
            raise ValueError(f"steps_per_s must be a finite number > 0, got {self.steps_per_s!r}")
        if not (math.isfinite(self.steps_per_s_std) and self.steps_per_s_std >= 0):
            raise ValueError(f"steps_per_s_std must be a finite number >= 0, got {self.steps_per_s_std!r}")
        mem = self.device_mem_gib
        if mem is not None and not (math.isfinite(mem) and mem > 0):
            raise ValueError(f"device_mem_gib must be a finite number > 0 or None, got {mem!r}")
        if self.backend not in BACKENDS:
            raise ValueError(f"backend must be one of {', '.join(BACKENDS)}, got {self.backend!r}")
        if self.precision not in PRECISIONS:
            raise ValueError(f"precision must be one of {', '.join(PRECISIONS)}, got {self.precision!r}")

    @property
    def key(self) -> tuple[str, str, int, int]:
        return (self.gpu_type, self.model_name, self.batch_size, self.num_devices)

    @property
    def spread_frac(self) -> float:
        """Standard deviation relative to the rate: how repeatable the measurement was."""
        return self.steps_per_s_std / self.steps_per_s


@dataclass(frozen=True, slots=True)
class ProfileConfig:
    """What to measure: every model x batch size x gang size x starting device, and how long.

    A gang of k > 1 devices starting at device d uses devices d, d+1, ..., d+k-1 (indices into
    `list_devices`). `gpu_type` labels the rows (None: the device's own label, "CPU" or e.g.
    "H100").
    """

    models: tuple[str, ...]
    batch_sizes: tuple[int, ...] = (32,)
    gang_sizes: tuple[int, ...] = (1,)
    devices: tuple[int, ...] = (0,)
    size: int = 1
    warmup_steps: int = 5
    steps: int = 50
    repeats: int = 5
    seed: int = 0
    gpu_type: str | None = None

    def __post_init__(self) -> None:
        from executor.models import FAMILIES

        for name in ("models", "batch_sizes", "gang_sizes", "devices"):
            values = getattr(self, name)
            if not values or len(set(values)) != len(values):
                raise UserError(f"{name}: expected a non-empty list without repeats but found {list(values)}")
        unknown = [m for m in self.models if m not in FAMILIES]
        if unknown:
            raise UserError(f"models: expected names from {', '.join(FAMILIES)} but found {unknown[0]!r}")
        for name, values, low in (("batch_sizes", self.batch_sizes, 1), ("gang_sizes", self.gang_sizes, 1),
                                  ("devices", self.devices, 0), ("size", (self.size,), 1),
                                  ("warmup_steps", (self.warmup_steps,), 0), ("steps", (self.steps,), 1),
                                  ("repeats", (self.repeats,), 1), ("seed", (self.seed,), 0)):
            bad = [v for v in values if isinstance(v, bool) or not isinstance(v, int) or v < low]
            if bad:
                raise UserError(f"{name}: expected integers >= {low} but found {bad[0]!r}")
        if self.gpu_type is not None and (not self.gpu_type.strip() or "," in self.gpu_type):
            raise UserError(f"gpu_type: expected a label without commas but found {self.gpu_type!r}")

    @property
    def devices_needed(self) -> int:
        """How many devices the largest gang from the highest starting device reaches."""
        return max(d + k for d in self.devices for k in self.gang_sizes)

    @property
    def num_measurements(self) -> int:
        return len(self.models) * len(self.batch_sizes) * len(self.gang_sizes) * len(self.devices)


ProgressFn = Callable[[int, int, str], None]
"""`progress(done, total, label)`: timed repeats done so far, of all, and what is being measured."""


def profile(
    keras: ModuleType,
    config: ProfileConfig,
    *,
    cache_dir: Path,
    progress: ProgressFn | None = None,
    sync: Callable[[], object] | None = None,
    measures: Callable[[int], bool] | None = None,
) -> tuple[ProfileRow, ...]:
    """Measure steps/s of every combination in `config` on the configured devices of `keras`.

    The devices must already be set up (`executor.devices.configure`): a gang needs its k
    devices to exist, on a CPU-only machine as logical CPUs. Rows come in the order model,
    batch size, gang size, device. Backend and precision are read back from Keras.
    `sync` (a barrier's wait) is called after each warm-up and after each measurement, so
    several processes can measure in lock-step (`executor.profile_concurrent`); `measures(k)`
    says whether this process takes part in measuring gangs of k devices (default: always).
    """
    from executor.models import ModelSpec, build_trainer

    available = list_devices(keras)
    gangs = [_gang(available, d, k) for k in config.gang_sizes for d in config.devices]
    backend = keras.backend.backend()
    precision = keras.mixed_precision.global_policy().name
    total = config.num_measurements * config.repeats
    done = 0
    rows = []
    for model in config.models:
        for batch_size in config.batch_sizes:
            for gang in gangs:
                names = [d.name for d in gang]
                label = f"{model} batch {batch_size} on {GANG_SEPARATOR.join(names)}"
                if progress is not None:
                    progress(done, total, label)
                if measures is not None and not measures(len(gang)):
                    for _ in range(2):
                        if sync is not None:
                            sync()
                    done += config.repeats
                    continue
                spec = ModelSpec(model, size=config.size, batch_size=batch_size, seed=config.seed)
                trainer = build_trainer(keras, spec, cache_dir=cache_dir, distribution=distribution_for(keras, names))
                trainer.warm_up(config.warmup_steps)
                if sync is not None:
                    sync()
                rates = []
                for _ in range(config.repeats):
                    rates.append(_timed_rate(trainer, config.steps))
                    done += 1
                    if progress is not None:
                        progress(done, total, label)
                if sync is not None:
                    sync()
                del trainer
                mem = gang[0].mem_gib
                rows.append(ProfileRow(
                    gpu_type=config.gpu_type or gang[0].type_label,
                    model_name=model,
                    batch_size=batch_size,
                    num_devices=len(gang),
                    steps_per_s=statistics.median(rates),
                    steps_per_s_std=statistics.stdev(rates) if len(rates) > 1 else 0.0,
                    repeats=config.repeats,
                    steps=config.steps,
                    warmup_steps=config.warmup_steps,
                    size=config.size,
                    device_name=GANG_SEPARATOR.join(names),
                    device_mem_gib=None if mem is None else round(mem, 2),
                    backend=backend,
                    precision=precision,
                ))
    return tuple(rows)


def _timed_rate(trainer: Any, steps: int) -> float:
    """Steps per second over one run; `run_steps` returns the last loss as a float, so the device is synced."""
    t0 = time.perf_counter()
    trainer.run_steps(steps)
    return steps / (time.perf_counter() - t0)


def _gang(available: Sequence[DeviceInfo], start: int, k: int) -> list[DeviceInfo]:
    if start + k <= len(available):
        return list(available[start:start + k])
    kind = available[0].kind if available else "CPU"
    hint = " (split the CPU with --logical-cpus)" if kind == "CPU" else ""
    what = f"device {start}" if k == 1 else f"a gang of {k} devices starting at device {start}"
    raise UserError(
        f"{what} needs {start + k} {kind} device(s) but this process has {len(available)}{hint}: "
        + ", ".join(d.name for d in available)
    )


# ----- the table ----------------------------------------------------------------------------------
@dataclass(frozen=True, slots=True)
class ProfileTable:
    """Measured rates by (gpu_type, model, batch size, num_devices); several devices of one key share a median.

    Two rows may share a key only when they measured different devices; `source` names the file in errors.
    """

    rows: tuple[ProfileRow, ...]
    source: str | None = None
    _rates: MappingProxyType[tuple[str, str, int, int], float] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        seen: set[tuple[str, str, int, int, str]] = set()
        by_key: dict[tuple[str, str, int, int], list[float]] = {}
        for row in self.rows:
            full = (*row.key, row.device_name)
            if full in seen:
                raise ValueError(f"two profile rows for {_describe(row)} on device {row.device_name!r}")
            seen.add(full)
            by_key.setdefault(row.key, []).append(row.steps_per_s)
        rates = {key: statistics.median(values) for key, values in by_key.items()}
        object.__setattr__(self, "_rates", MappingProxyType(rates))

    @classmethod
    def load(cls, path: str | Path) -> ProfileTable:
        """Read a table written by `write` (or `gpusched profile`); `TraceError` naming row and field if malformed."""
        path = Path(path)
        rows = open_csv(path)
        missing = [c for c in PROFILE_COLUMNS if c not in rows.header]
        if missing:
            raise TraceError(path, f"not a profile table: missing column(s) {', '.join(missing)}", field=missing[0],
                             expected="header " + ",".join(PROFILE_COLUMNS), found=",".join(rows.header))
        col = {name: rows.header.index(name) for name in PROFILE_COLUMNS}
        out: list[ProfileRow] = []
        first_row: dict[tuple[str, str, int, int, str], int] = {}
        for row_no, fields in rows:
            if len(fields) < len(rows.header):
                raise TraceError(path, "too few fields", row=row_no, expected=f"{len(rows.header)} fields",
                                 found=len(fields))
            values = {name: _parse(path, row_no, name, fields[i]) for name, i in col.items()}
            row = ProfileRow(**values)
            full = (*row.key, row.device_name)
            if full in first_row:
                raise TraceError(path, f"a second row for {_describe(row)} on device {row.device_name!r} "
                                 f"(the first is row {first_row[full]})", row=row_no)
            first_row[full] = row_no
            out.append(row)
        return cls(tuple(out), source=str(path))

    def write(self, path: str | Path) -> None:
        """Write the table as CSV atomically (a temporary file beside `path`, then `os.replace`)."""
        path = Path(path)
        buf = io.StringIO()
        writer = csv.writer(buf, lineterminator="\n")
        writer.writerow(PROFILE_COLUMNS)
        for row in self.rows:
            writer.writerow([_cell(getattr(row, name)) for name in PROFILE_COLUMNS])
        if path.is_dir():
            raise UserError(f"{path}: is a directory; give a file name for the profile table")
        text = buf.getvalue()
        try:
            atomic_write(path, lambda tmp: tmp.write_text(text, encoding="utf-8", newline=""))
        except OSError as exc:
            raise UserError(f"{path}: cannot write the profile table ({exc.strerror})") from None

    def merged(self, newer: Iterable[ProfileRow]) -> ProfileTable:
        """This table with `newer` rows added; a newer row replaces one of the same key and device."""
        newer = tuple(newer)
        replaced = {(*r.key, r.device_name) for r in newer}
        kept = tuple(r for r in self.rows if (*r.key, r.device_name) not in replaced)
        return ProfileTable(kept + newer, self.source)

    @property
    def types(self) -> tuple[str, ...]:
        """The device type labels (gpu_type) in the table, sorted."""
        return tuple(sorted({r.gpu_type for r in self.rows}))

    @property
    def models(self) -> tuple[str, ...]:
        """The model names in the table, sorted."""
        return tuple(sorted({r.model_name for r in self.rows}))

    def has(self, gpu_type: str, model: str, batch_size: int, num_devices: int = 1) -> bool:
        return (gpu_type, model, batch_size, num_devices) in self._rates

    def rate(self, gpu_type: str, model: str, batch_size: int, num_devices: int = 1) -> float:
        """Measured steps/s (median over the devices profiled); `UserError` when there is no such row.

        No fallback: whether a missing k-device rate may borrow the single-device one is the caller's call.
        """
        value = self._rates.get((gpu_type, model, batch_size, num_devices))
        if value is not None:
            return value
        where = f"{self.source}: " if self.source else ""
        gang = f" --gang-sizes {num_devices}" if num_devices != 1 else ""
        raise UserError(
            f"{where}the profile has no rate for model {model} at batch size {batch_size} on {num_devices} "
            f"{gpu_type} device(s) (it has types {', '.join(self.types) or 'none'} and models "
            f"{', '.join(self.models) or 'none'}); run `gpusched profile --models {model} --batch-size {batch_size}"
            f"{gang} --gpu-type {gpu_type}`"
        )


def _describe(row: ProfileRow) -> str:
    return f"type {row.gpu_type}, model {row.model_name}, batch size {row.batch_size}, {row.num_devices} device(s)"


def _cell(value: object) -> str:
    if value is None:
        return ""
    if isinstance(value, float):
        return repr(value)  # shortest text that reads back to the same float
    return str(value)


_INT_MIN = {"batch_size": 1, "num_devices": 1, "repeats": 1, "steps": 1, "warmup_steps": 0, "size": 1}
_CHOICES = {"backend": BACKENDS, "precision": PRECISIONS}


def _parse(path: Path, row: int, name: str, text: str) -> Any:
    """One field of a profile row, checked like `ProfileRow` does, as a `TraceError` naming row and field."""
    text = text.strip()
    if name in _INT_MIN:
        try:
            value = int(text)
        except ValueError:
            value = _INT_MIN[name] - 1
        if value < _INT_MIN[name]:
            raise TraceError(path, row=row, field=name, expected=f"an integer >= {_INT_MIN[name]}", found=text)
        return value
    if name in ("steps_per_s", "steps_per_s_std", "device_mem_gib"):
        if name == "device_mem_gib" and not text:
            return None
        try:
            number = float(text)
        except ValueError:
            number = math.nan
        positive = name != "steps_per_s_std"
        if not math.isfinite(number) or number < 0 or (positive and number == 0):
            expected = "a number > 0" if positive else "a number >= 0"
            raise TraceError(path, row=row, field=name, expected=expected + (" or empty" if name == "device_mem_gib"
                                                                              else ""), found=text)
        return number
    if name in _CHOICES and text not in _CHOICES[name]:
        raise TraceError(path, row=row, field=name, expected="one of " + ", ".join(_CHOICES[name]), found=text)
    if name in ("gpu_type", "model_name") and (not text or "," in text):
        raise TraceError(path, row=row, field=name, expected="a name without commas", found=text)
    return text
