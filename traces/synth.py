"""Synthetic workloads: Poisson or diurnal arrivals, parametric or resampled job sizes.

Used for M/M/c checks against Erlang C (Poisson arrivals, exponential durations,
one GPU per job) and for large benchmarks, so generation is vectorised: a million
jobs take about a second. Randomness comes only from the `Generator` passed to
`generate`, split into independent named streams (arrivals, durations, GPU counts,
users) so that changing, say, the duration distribution leaves arrival times as
they were.

Offered load. With `load` and `cluster_gpus` instead of `rate_per_s`, the mean
arrival rate is

    rate_per_s = load * cluster_gpus / E[gpu_s]

where `E[gpu_s] = E[duration_s * num_gpus * gpu_frac]` per job under the
generating distribution (see `SynthSpec.mean_gpu_s`): the expected GPU-seconds
demanded per second, divided by the cluster's GPUs, is then `load`. For diurnal
arrivals this holds on average over whole periods (the sinusoid averages to zero).
"""

from __future__ import annotations

import enum
import math
import tomllib
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

import numpy as np
import numpy.typing as npt

from traces.errors import TraceError, UserError
from traces.model import Categorical, Workload

RESAMPLE: Literal["resample"] = "resample"
"""`gpu_counts` value meaning: draw GPU counts from the `resample_from` workload."""

GpuCounts = tuple[tuple[int, float], ...]

SOURCE = "synth"  # the `source` name used in Workload errors
_PROB_TOLERANCE = 1e-6  # how far GPU-count probabilities may sum away from 1
_GRID_POINTS = 4097  # table of the cumulative diurnal rate over one period
_MAX_NEWTON_STEPS = 100  # bisection alone would need ~60 to reach the tolerance


class ArrivalProcess(enum.Enum):
    """Homogeneous Poisson, or non-homogeneous Poisson with a sinusoidal (daily) rate."""

    poisson = "poisson"
    diurnal = "diurnal"


class DurationDist(enum.Enum):
    """Job duration distribution; `resample` draws durations from a real workload."""

    exponential = "exponential"
    lognormal = "lognormal"
    resample = "resample"


class SpecError(UserError):
    """An invalid `SynthSpec` parameter: which field, what was expected, what was found."""

    def __init__(self, field: str, expected: str, found: object = None) -> None:
        self.field = field
        self.expected = expected
        self.found = found
        tail = "" if found is None else f" but found {_show(found)}"
        super().__init__(f"synth spec: field '{field}': expected {expected}{tail}")


@dataclass(frozen=True, slots=True)
class SynthSpec:
    """What to generate. Exactly one of `rate_per_s` or `load` (with `cluster_gpus`).

    Arrivals: `poisson`, or `diurnal` with rate
    `base * (1 + a * sin(2*pi*t/period_s + phase_rad))`, `a = (r - 1) / (r + 1)`,
    `r = peak_to_trough` (so the peak rate is `r` times the trough rate; `base` is
    the mean rate). With `phase_rad = 0` the peak is at `period_s / 4`.

    Durations: `exponential` (`mean_duration_s`), `lognormal` (`median_duration_s`,
    `duration_sigma` of the underlying normal) or `resample`.

    GPU counts: pairs `(num_gpus, probability)` summing to 1 (jobs get `gpu_frac` 1),
    or `"resample"` to draw `(num_gpus, gpu_frac)` from the source workload: jointly
    with the duration (same source row, keeping their correlation) when durations
    are resampled too, otherwise independently.

    Users: with `num_users`, job `i` belongs to `user-<k>` with probability
    proportional to `(k + 1) ** -user_skew` (Zipf-like; skew 0 is uniform).

    `cluster_gpus` is the capacity that `load` refers to; when given, no GPU count
    may exceed it. String values are accepted for the enum fields.
    """

    num_jobs: int
    arrival: ArrivalProcess = ArrivalProcess.poisson
    rate_per_s: float | None = None
    load: float | None = None
    cluster_gpus: int | None = None
    peak_to_trough: float | None = None
    period_s: float = 86400.0
    phase_rad: float = 0.0
    duration: DurationDist = DurationDist.exponential
    mean_duration_s: float | None = None
    median_duration_s: float | None = None
    duration_sigma: float | None = None
    gpu_counts: GpuCounts | Literal["resample"] = ((1, 1.0),)
    num_users: int | None = None
    user_skew: float = 1.0

    def __post_init__(self) -> None:
        put = object.__setattr__
        put(self, "num_jobs", _int(self.num_jobs, "num_jobs", 1))
        put(self, "arrival", _enum(ArrivalProcess, self.arrival, "arrival"))
        put(self, "duration", _enum(DurationDist, self.duration, "duration"))

        # Arrival rate: either given, or derived from a load on a cluster.
        if self.cluster_gpus is not None:
            put(self, "cluster_gpus", _int(self.cluster_gpus, "cluster_gpus", 1))
        if self.rate_per_s is not None and self.load is not None:
            raise SpecError("load", "no load when rate_per_s is given", self.load)
        if self.rate_per_s is None and self.load is None:
            raise SpecError("rate_per_s", "a rate_per_s, or a load with cluster_gpus")
        if self.rate_per_s is not None:
            put(self, "rate_per_s", _positive(self.rate_per_s, "rate_per_s"))
        else:
            put(self, "load", _positive(self.load, "load"))
            if self.cluster_gpus is None:
                raise SpecError("cluster_gpus", "an integer >= 1 with load (the GPUs the load refers to)")

        # Diurnal parameters.
        put(self, "period_s", _positive(self.period_s, "period_s"))
        put(self, "phase_rad", _finite(self.phase_rad, "phase_rad"))
        if self.arrival is ArrivalProcess.diurnal:
            if self.peak_to_trough is None:
                raise SpecError("peak_to_trough", "a number >= 1 for diurnal arrivals")
            ratio = _finite(self.peak_to_trough, "peak_to_trough")
            if ratio < 1:
                raise SpecError("peak_to_trough", "a finite number >= 1", self.peak_to_trough)
            put(self, "peak_to_trough", ratio)
        elif self.peak_to_trough is not None:
            raise SpecError("peak_to_trough", "no peak_to_trough with poisson arrivals", self.peak_to_trough)

        # Duration parameters: exactly those of the chosen distribution.
        wanted = {
            DurationDist.exponential: ("mean_duration_s",),
            DurationDist.lognormal: ("median_duration_s", "duration_sigma"),
            DurationDist.resample: (),
        }[self.duration]
        for name in ("mean_duration_s", "median_duration_s", "duration_sigma"):
            value = getattr(self, name)
            if name not in wanted:
                if value is not None:
                    raise SpecError(name, f"no {name} with duration = {self.duration.value}", value)
            elif value is None:
                raise SpecError(name, f"a number for duration = {self.duration.value}")
            elif name == "duration_sigma":
                sigma = _finite(value, name)
                if sigma < 0:
                    raise SpecError(name, "a finite number >= 0", value)
                put(self, name, sigma)
            else:
                put(self, name, _positive(value, name))

        put(self, "gpu_counts", _gpu_counts(self.gpu_counts, self.cluster_gpus))

        if self.num_users is not None:
            put(self, "num_users", _int(self.num_users, "num_users", 1))
        skew = _finite(self.user_skew, "user_skew")
        if skew < 0:
            raise SpecError("user_skew", "a finite number >= 0", self.user_skew)
        put(self, "user_skew", skew)

    # ----- derived quantities ------------------------------------------
    @property
    def resamples(self) -> bool:
        """True when `generate` needs a `resample_from` workload."""
        return self.duration is DurationDist.resample or self.gpu_counts == RESAMPLE

    @property
    def diurnal_amplitude(self) -> float:
        """`a` in the rate sinusoid (0 for Poisson arrivals)."""
        if self.arrival is not ArrivalProcess.diurnal or self.peak_to_trough is None:
            return 0.0
        return (self.peak_to_trough - 1.0) / (self.peak_to_trough + 1.0)

    def mean_duration(self, resample_from: Workload | None = None) -> float:
        """Expected job duration in seconds under the spec's duration distribution."""
        if self.duration is DurationDist.exponential:
            return float(self.mean_duration_s)  # type: ignore[arg-type]
        if self.duration is DurationDist.lognormal:
            return float(self.median_duration_s * math.exp(self.duration_sigma**2 / 2))  # type: ignore[operator]
        return float(np.mean(_source(self, resample_from).duration_s))

    def mean_gpu_s(self, resample_from: Workload | None = None) -> float:
        """Expected GPU-seconds per job, `E[duration_s * num_gpus * gpu_frac]`."""
        if self.gpu_counts == RESAMPLE:
            src = _source(self, resample_from)
            if self.duration is DurationDist.resample:
                return float(np.mean(src.gpu_s))  # joint rows: keep the correlation
            return self.mean_duration(src) * float(np.mean(src.num_gpus * src.gpu_frac))
        counts = np.array([c for c, _ in self.gpu_counts], dtype=np.float64)
        probs = _probabilities(self.gpu_counts)
        return self.mean_duration(resample_from) * float(counts @ probs)

    def arrival_rate_per_s(self, resample_from: Workload | None = None) -> float:
        """Mean arrival rate: `rate_per_s`, or `load * cluster_gpus / mean_gpu_s`."""
        if self.rate_per_s is not None:
            return self.rate_per_s
        return self.load * self.cluster_gpus / self.mean_gpu_s(resample_from)  # type: ignore[operator]

    # ----- loading ------------------------------------------------------
    @staticmethod
    def from_toml(path: str | Path) -> SynthSpec:
        """Read a spec from a flat TOML file whose keys are the field names. Example::

            num_jobs = 100000
            arrival = "diurnal"      # or "poisson"
            peak_to_trough = 3.0
            load = 0.8
            cluster_gpus = 64
            duration = "lognormal"   # or "exponential" (mean_duration_s), "resample"
            median_duration_s = 600
            duration_sigma = 1.5
            gpu_counts = [[1, 0.7], [2, 0.1], [4, 0.1], [8, 0.1]]   # or "resample"
            num_users = 50

        Unknown keys, wrong types and invalid values raise `TraceError` naming the file.
        """
        path = Path(path)
        data = _read_toml(path)
        for key, value in data.items():
            if key not in _TOML_TYPES:
                raise TraceError(path, "unknown key", field=key, expected="one of " + ", ".join(_TOML_TYPES))
            _check_toml_type(path, key, value)
        if "num_jobs" not in data:
            raise TraceError(path, "missing key", field="num_jobs", expected="an integer >= 1")
        values = dict(data)
        if isinstance(values.get("gpu_counts"), list):
            values["gpu_counts"] = tuple(tuple(pair) for pair in values["gpu_counts"])
        try:
            return SynthSpec(**values)
        except SpecError as err:
            raise TraceError(path, field=err.field, expected=err.expected, found=err.found) from None


def parse_gpu_counts(text: str) -> GpuCounts | Literal["resample"]:
    """Parse `"1:0.7,2:0.1,4:0.1,8:0.1"` (or `"resample"`) into a `gpu_counts` value."""
    text = text.strip()
    if text == RESAMPLE:
        return RESAMPLE
    pairs: list[tuple[int, float]] = []
    for piece in text.split(","):
        count, sep, prob = piece.strip().partition(":")
        try:
            if not sep:
                raise ValueError
            pairs.append((int(count), float(prob)))
        except ValueError:
            raise SpecError(
                "gpu_counts", "comma-separated NUM_GPUS:PROBABILITY pairs such as 1:0.7,8:0.3", piece.strip()
            ) from None
    return _gpu_counts(tuple(pairs), None)


# ----- generation -------------------------------------------------------
def generate(spec: SynthSpec, rng: np.random.Generator, resample_from: Workload | None = None) -> Workload:
    """Draw `spec.num_jobs` jobs with ids `synth-000000`, ... in arrival order.

    The four streams (arrivals, durations, GPU counts, users) are spawned from `rng`
    in that fixed order, so a fresh `default_rng(seed)` always gives the same
    workload and each stream is unaffected by the others' parameters. Spawning
    advances `rng`, so a second call with the same generator gives a new workload;
    `rng` must carry a SeedSequence (as `default_rng(seed)` does).
    `resample_from` is required exactly when the spec resamples.
    """
    if spec.resamples:
        src = _source(spec, resample_from)
    elif resample_from is not None:
        raise UserError("a workload to resample from was given, but the synth spec resamples nothing "
                        "(use duration = resample or gpu_counts = resample)")
    else:
        src = None
    n = spec.num_jobs
    arrivals_rng, durations_rng, gpus_rng, users_rng = rng.spawn(4)

    submit_s = _arrivals(spec, spec.arrival_rate_per_s(src), n, arrivals_rng)

    rows: npt.NDArray[np.intp] | None = None
    if spec.duration is DurationDist.exponential:
        duration_s = spec.mean_duration_s * durations_rng.standard_exponential(n)  # type: ignore[operator]
    elif spec.duration is DurationDist.lognormal:
        duration_s = spec.median_duration_s * np.exp(spec.duration_sigma * durations_rng.standard_normal(n))  # type: ignore[operator]
    else:
        assert src is not None
        rows = durations_rng.integers(0, len(src), size=n)
        duration_s = src.duration_s[rows]
    # An exponential draw of exactly 0 is possible in principle; Workload needs > 0.
    duration_s = np.maximum(duration_s, np.finfo(np.float64).tiny)

    gpu_frac: npt.NDArray[np.float64] | None = None
    if spec.gpu_counts == RESAMPLE:
        assert src is not None
        if rows is None:
            rows = gpus_rng.integers(0, len(src), size=n)
        num_gpus = src.num_gpus[rows]
        gpu_frac = src.gpu_frac[rows]
    else:
        counts = np.array([c for c, _ in spec.gpu_counts], dtype=np.int32)
        num_gpus = gpus_rng.choice(counts, size=n, p=_probabilities(spec.gpu_counts))

    user = None
    if spec.num_users is not None:
        weights = np.arange(1, spec.num_users + 1, dtype=np.float64) ** -spec.user_skew
        codes = users_rng.choice(spec.num_users, size=n, p=weights / weights.sum()).astype(np.int32)
        width = max(3, len(str(spec.num_users - 1)))
        user = Categorical(codes, tuple(f"user-{k:0{width}d}" for k in range(spec.num_users)))

    id_format = f"synth-%0{max(6, len(str(n - 1)))}d"
    return Workload.from_columns(
        job_id=list(map(id_format.__mod__, range(n))),
        submit_s=submit_s,
        duration_s=duration_s,
        num_gpus=num_gpus,
        gpu_frac=gpu_frac,
        user=user,
        source=SOURCE,
    )


def _arrivals(spec: SynthSpec, rate_per_s: float, n: int, rng: np.random.Generator) -> npt.NDArray[np.float64]:
    """Arrival times by time rescaling: unit-rate Poisson points mapped through the inverse
    cumulative rate. Poisson and diurnal specs share the same unit-rate points."""
    unit = np.cumsum(rng.standard_exponential(n))
    mean_time_s = unit / rate_per_s  # the cumulative rate divided by the base rate
    amplitude = spec.diurnal_amplitude
    if amplitude == 0.0:
        return mean_time_s
    times = _invert_diurnal(mean_time_s, amplitude, spec.period_s, spec.phase_rad)
    return np.maximum.accumulate(times)  # rounding must not reorder arrivals


def _invert_diurnal(
    target: npt.NDArray[np.float64], amplitude: float, period_s: float, phase_rad: float
) -> npt.NDArray[np.float64]:
    """Solve `F(t) = target` for `F(t) = t + c*(cos(phase) - cos(w*t + phase))`, `w = 2*pi/period`,
    `c = amplitude / w`: the integral of `1 + amplitude*sin(w*t + phase)`.

    F(t + period) = F(t) + period, so each target is reduced to one period. There a table
    of F on a fine grid brackets the root and gives a close first guess by interpolation;
    Newton's method, safeguarded by bisection (F' >= 1 - amplitude > 0), finishes it in a
    few steps, each on the not-yet-converged entries only.
    """
    w = 2 * math.pi / period_s
    c = amplitude / w
    cos_phase = math.cos(phase_rad)

    def cumulative(t: npt.NDArray[np.float64]) -> npt.NDArray[np.float64]:
        return t + c * (cos_phase - np.cos(w * t + phase_rad))

    whole = np.floor(target / period_s)
    r = target - whole * period_s
    grid = np.linspace(0.0, period_s, _GRID_POINTS)
    table = np.maximum.accumulate(cumulative(grid))
    cell = np.clip(np.searchsorted(table, r, side="right") - 1, 0, _GRID_POINTS - 2)
    lo, hi = grid[cell], grid[cell + 1]
    t = np.clip(np.interp(r, table, grid), lo, hi)
    tol = 64 * np.finfo(np.float64).eps * period_s
    active = np.arange(len(r))
    for _ in range(_MAX_NEWTON_STEPS):
        if not active.size:
            break
        ta, ra, la, ha = t[active], r[active], lo[active], hi[active]
        angle = w * ta + phase_rad
        f = ta + c * (cos_phase - np.cos(angle)) - ra
        la = np.where(f < 0, ta, la)
        ha = np.where(f > 0, ta, ha)
        step = ta - f / (1 + amplitude * np.sin(angle))
        done = (np.abs(f) <= tol) | (ha - la <= tol)
        ta = np.where(done, ta, np.where((step > la) & (step < ha), step, 0.5 * (la + ha)))
        t[active], lo[active], hi[active] = ta, la, ha
        active = active[~done]
    return whole * period_s + t


def _source(spec: SynthSpec, resample_from: Workload | None) -> Workload:
    if resample_from is None:
        what = "durations" if spec.duration is DurationDist.resample else "GPU counts"
        raise UserError(f"the synth spec resamples {what}, so it needs a workload to resample from")
    if len(resample_from) == 0:
        raise UserError("the workload to resample from has no jobs")
    return resample_from


def _probabilities(counts: GpuCounts) -> npt.NDArray[np.float64]:
    probs = np.array([p for _, p in counts], dtype=np.float64)
    return probs / probs.sum()


# ----- validation ---------------------------------------------------------
def _show(value: object) -> str:
    return repr(value) if isinstance(value, str) else str(value)


def _is_number(value: object) -> bool:
    return isinstance(value, (int, float, np.integer, np.floating)) and not isinstance(value, (bool, np.bool_))


def _int(value: object, name: str, minimum: int) -> int:
    if not isinstance(value, (int, np.integer)) or isinstance(value, (bool, np.bool_)) or value < minimum:
        raise SpecError(name, f"an integer >= {minimum}", value)
    return int(value)


def _finite(value: object, name: str) -> float:
    if not _is_number(value) or not math.isfinite(value):  # type: ignore[arg-type]
        raise SpecError(name, "a finite number", value)
    return float(value)  # type: ignore[arg-type]


def _positive(value: object, name: str) -> float:
    if not _is_number(value) or not math.isfinite(value) or value <= 0:  # type: ignore[arg-type, operator]
        raise SpecError(name, "a finite number > 0", value)
    return float(value)  # type: ignore[arg-type]


def _enum(kind: type[enum.Enum], value: object, name: str) -> Any:
    if isinstance(value, kind):
        return value
    try:
        return kind(value)
    except ValueError:
        raise SpecError(name, "one of " + ", ".join(m.value for m in kind), value) from None


def _gpu_counts(value: object, cluster_gpus: int | None) -> GpuCounts | Literal["resample"]:
    if isinstance(value, str):
        if value == RESAMPLE:
            return RESAMPLE
        raise SpecError("gpu_counts", "'resample' or (num_gpus, probability) pairs", value)
    expected = "(num_gpus, probability) pairs with distinct integer num_gpus >= 1 and probabilities >= 0"
    if not isinstance(value, Sequence) or not value:
        raise SpecError("gpu_counts", expected, value)
    pairs: list[tuple[int, float]] = []
    for pair in value:
        if not isinstance(pair, Sequence) or isinstance(pair, str) or len(pair) != 2:
            raise SpecError("gpu_counts", expected, pair)
        count, prob = pair
        if (
            not isinstance(count, (int, np.integer))
            or isinstance(count, (bool, np.bool_))
            or count < 1
            or not _is_number(prob)
            or not math.isfinite(prob)
            or prob < 0
        ):
            raise SpecError("gpu_counts", expected, tuple(pair))
        pairs.append((int(count), float(prob)))
    seen = [c for c, _ in pairs]
    if len(set(seen)) != len(seen):
        raise SpecError("gpu_counts", "distinct num_gpus values", tuple(seen))
    total = sum(p for _, p in pairs)
    if abs(total - 1.0) > _PROB_TOLERANCE:
        raise SpecError("gpu_counts", "probabilities summing to 1", round(total, 6))
    if cluster_gpus is not None:
        biggest = max(c for c, p in pairs if p > 0)
        if biggest > cluster_gpus:
            raise SpecError("gpu_counts", f"num_gpus <= cluster_gpus ({cluster_gpus})", biggest)
    return tuple(pairs)


# ----- TOML ----------------------------------------------------------------
# key -> (accepted Python types, expected-type wording); values are range-checked by SynthSpec.
_TOML_TYPES: dict[str, tuple[tuple[type, ...], str]] = {
    "num_jobs": ((int,), "an integer"),
    "arrival": ((str,), "a string"),
    "rate_per_s": ((int, float), "a number"),
    "load": ((int, float), "a number"),
    "cluster_gpus": ((int,), "an integer"),
    "peak_to_trough": ((int, float), "a number"),
    "period_s": ((int, float), "a number"),
    "phase_rad": ((int, float), "a number"),
    "duration": ((str,), "a string"),
    "mean_duration_s": ((int, float), "a number"),
    "median_duration_s": ((int, float), "a number"),
    "duration_sigma": ((int, float), "a number"),
    "gpu_counts": ((str, list), "'resample' or an array of [num_gpus, probability] pairs"),
    "num_users": ((int,), "an integer"),
    "user_skew": ((int, float), "a number"),
}


def _check_toml_type(path: Path, key: str, value: object) -> None:
    types, expected = _TOML_TYPES[key]
    if isinstance(value, bool) or not isinstance(value, types):
        raise TraceError(path, field=key, expected=expected, found=value)


def _read_toml(path: Path) -> dict[str, Any]:
    if path.is_dir():
        raise TraceError(path, "is a directory", expected="a synth spec TOML file")
    try:
        return tomllib.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise TraceError(path, "no such file") from None
    except UnicodeDecodeError:
        raise TraceError(path, "not UTF-8 text", expected="a synth spec TOML file") from None
    except tomllib.TOMLDecodeError as exc:
        raise TraceError(path, f"not valid TOML ({exc})") from None
