"""The workload data model shared by every layer: `Job` (one row) and `Workload` (columns).

Times are seconds (`*_s`), memory GiB (`*_gib`). A `Workload` keeps its jobs as NumPy
columns in `(submit_s, job_id)` order so that a million-job trace loads in seconds and
fits in a few hundred MiB; `Job` is the frozen row view that policies and tests use.
Text fields with few distinct values (user, group, model, status, GPU types) are stored
dictionary-encoded: an int32 code per row into a tuple of categories (-1 means absent).
"""

from __future__ import annotations

import enum
import math
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import numpy.typing as npt

from traces.errors import UserError


class JobStatus(enum.Enum):
    """Final status recorded by the trace; `unknown` when the trace does not say."""

    unknown = "unknown"
    completed = "completed"
    failed = "failed"
    killed = "killed"


@dataclass(frozen=True, slots=True)
class Job:
    """One job. `duration_s` is measured on the reference GPU type.

    `gpu_frac` is the share of each GPU the job uses (< 1 only for GPU-sharing jobs
    with one GPU, as in Alibaba's `gpu_milli`). `gpu_types` lists the allowed GPU
    types (empty: any type). A recorded `failed`/`killed` status means the job ran
    `duration_s` and then ended that way.
    """

    job_id: str
    submit_s: float
    duration_s: float
    num_gpus: int
    gpu_frac: float = 1.0
    gpu_mem_gib: float | None = None
    gpu_types: tuple[str, ...] = ()
    user: str | None = None
    group: str | None = None
    priority: int = 0
    weight: float = 1.0
    deadline_s: float | None = None
    model_name: str | None = None
    status: JobStatus = JobStatus.unknown

    def __post_init__(self) -> None:
        problem = _job_problem(
            self.job_id,
            self.submit_s,
            self.duration_s,
            self.num_gpus,
            self.gpu_frac,
            self.gpu_mem_gib,
            self.weight,
            self.deadline_s,
        )
        if problem is not None:
            raise ValueError(f"job {self.job_id!r}: {problem}")
        if not isinstance(self.gpu_types, tuple):
            object.__setattr__(self, "gpu_types", tuple(self.gpu_types))

    @property
    def gpu_s(self) -> float:
        """GPU-seconds of work on the reference type."""
        return self.duration_s * self.num_gpus * self.gpu_frac


def _job_problem(
    job_id: object,
    submit_s: float,
    duration_s: float,
    num_gpus: int,
    gpu_frac: float,
    gpu_mem_gib: float | None,
    weight: float,
    deadline_s: float | None,
) -> str | None:
    if not isinstance(job_id, str) or not job_id:
        return "job_id must be a non-empty string"
    if not math.isfinite(submit_s) or submit_s < 0:
        return f"submit_s must be finite and >= 0, got {submit_s}"
    if not math.isfinite(duration_s) or duration_s <= 0:
        return f"duration_s must be finite and > 0, got {duration_s}"
    if not math.isfinite(num_gpus) or int(num_gpus) != num_gpus or num_gpus < 1:
        return f"num_gpus must be an integer >= 1, got {num_gpus}"
    if not (0 < gpu_frac <= 1):
        return f"gpu_frac must be in (0, 1], got {gpu_frac}"
    if gpu_frac < 1 and num_gpus != 1:
        return "a fractional gpu_frac needs num_gpus == 1"
    if gpu_mem_gib is not None and (not math.isfinite(gpu_mem_gib) or gpu_mem_gib <= 0):
        return f"gpu_mem_gib must be finite and > 0, got {gpu_mem_gib}"
    if not math.isfinite(weight) or weight <= 0:
        return f"weight must be finite and > 0, got {weight}"
    if deadline_s is not None and not math.isfinite(deadline_s):
        return f"deadline_s must be finite, got {deadline_s}"
    return None


# Column name -> dtype of the numeric columns, in schema order.
NUMERIC_COLUMNS: Mapping[str, Any] = {
    "submit_s": np.float64,
    "duration_s": np.float64,
    "num_gpus": np.int32,
    "gpu_frac": np.float64,
    "gpu_mem_gib": np.float64,  # NaN: unknown
    "priority": np.int32,
    "weight": np.float64,
    "deadline_s": np.float64,  # NaN: none
}
# Dictionary-encoded columns; `gpu_types` categories are tuples of type names.
CATEGORY_COLUMNS: tuple[str, ...] = ("gpu_types", "user", "group", "model_name", "status")
COLUMNS: tuple[str, ...] = ("job_id", *NUMERIC_COLUMNS, *CATEGORY_COLUMNS)


@dataclass(frozen=True, slots=True)
class Categorical:
    """int32 codes into a tuple of categories; code -1 means absent."""

    codes: npt.NDArray[np.int32]
    categories: tuple[Any, ...]

    @staticmethod
    def from_values(values: Iterable[Any], none_values: Sequence[Any] = (None,)) -> Categorical:
        """Encode values; categories are kept in first-seen order (deterministic)."""
        index: dict[Any, int] = {}
        codes_list: list[int] = []
        for v in values:
            if v in none_values:
                codes_list.append(-1)
                continue
            code = index.get(v)
            if code is None:
                code = index[v] = len(index)
            codes_list.append(code)
        return Categorical(np.asarray(codes_list, dtype=np.int32), tuple(index))

    def value(self, i: int) -> Any:
        code = int(self.codes[i])
        return None if code < 0 else self.categories[code]

    def values(self) -> list[Any]:
        lookup = list(self.categories)
        return [None if c < 0 else lookup[c] for c in self.codes.tolist()]

    def take(self, idx: npt.NDArray[np.intp]) -> Categorical:
        return Categorical(self.codes[idx], self.categories)


@dataclass(frozen=True, slots=True, eq=False)
class Workload:
    """Jobs as columns, sorted by `(submit_s, job_id)`, with unique job ids.

    Build one with `Workload.from_jobs` or `Workload.from_columns`; both validate
    and sort. `len()`, iteration and indexing give `Job` rows.
    """

    job_id: npt.NDArray[np.object_]
    submit_s: npt.NDArray[np.float64]
    duration_s: npt.NDArray[np.float64]
    num_gpus: npt.NDArray[np.int32]
    gpu_frac: npt.NDArray[np.float64]
    gpu_mem_gib: npt.NDArray[np.float64]
    priority: npt.NDArray[np.int32]
    weight: npt.NDArray[np.float64]
    deadline_s: npt.NDArray[np.float64]
    gpu_types: Categorical
    user: Categorical
    group: Categorical
    model_name: Categorical
    status: Categorical
    _index: dict[str, int] = field(default_factory=dict, repr=False)

    # ----- construction -------------------------------------------------
    @staticmethod
    def from_columns(
        *,
        job_id: Sequence[str] | npt.NDArray[Any],
        submit_s: npt.ArrayLike,
        duration_s: npt.ArrayLike,
        num_gpus: npt.ArrayLike,
        gpu_frac: npt.ArrayLike | None = None,
        gpu_mem_gib: npt.ArrayLike | None = None,
        priority: npt.ArrayLike | None = None,
        weight: npt.ArrayLike | None = None,
        deadline_s: npt.ArrayLike | None = None,
        gpu_types: Categorical | None = None,
        user: Categorical | None = None,
        group: Categorical | None = None,
        model_name: Categorical | None = None,
        status: Categorical | None = None,
        source: str | None = None,
    ) -> Workload:
        """Validate, sort by `(submit_s, job_id)` and build. Raises `UserError` naming `source`."""
        ids = np.asarray(job_id, dtype=object)
        n = len(ids)

        def num(name: str, values: npt.ArrayLike | None, default: float) -> npt.NDArray[Any]:
            dtype = NUMERIC_COLUMNS[name]
            if values is None:
                return np.full(n, default, dtype=dtype)
            arr = np.asarray(values)
            if arr.shape != (n,):
                raise ValueError(f"column {name} has shape {arr.shape}, expected ({n},)")
            if dtype is np.int32:
                if arr.dtype.kind == "f":
                    if not np.all(np.isfinite(arr)) or np.any(arr != np.round(arr)):
                        raise UserError(f"{source or '<input>'}: column '{name}' must hold integers")
                info = np.iinfo(np.int32)
                if n and (arr.min() < info.min or arr.max() > info.max):  # astype would wrap silently
                    raise UserError(
                        f"{source or '<input>'}: column '{name}' must hold integers in [{info.min}, {info.max}]"
                    )
                return arr.astype(np.int32)
            return arr.astype(np.float64)

        def cat(name: str, values: Categorical | None) -> Categorical:
            if values is None:
                return Categorical(np.full(n, -1, dtype=np.int32), ())
            if values.codes.shape != (n,):
                raise ValueError(f"column {name} has {values.codes.shape} codes, expected ({n},)")
            return values

        cols: dict[str, Any] = {
            "submit_s": num("submit_s", submit_s, 0.0),
            "duration_s": num("duration_s", duration_s, 0.0),
            "num_gpus": num("num_gpus", num_gpus, 1),
            "gpu_frac": num("gpu_frac", gpu_frac, 1.0),
            "gpu_mem_gib": num("gpu_mem_gib", gpu_mem_gib, np.nan),
            "priority": num("priority", priority, 0),
            "weight": num("weight", weight, 1.0),
            "deadline_s": num("deadline_s", deadline_s, np.nan),
            "gpu_types": cat("gpu_types", gpu_types),
            "user": cat("user", user),
            "group": cat("group", group),
            "model_name": cat("model_name", model_name),
            "status": cat("status", status),
        }
        _check_columns(ids, cols, source)
        order = np.lexsort((ids.astype(str), cols["submit_s"])) if n else np.arange(0)
        if n and not np.array_equal(order, np.arange(n)):
            ids = ids[order]
            for k, v in cols.items():
                cols[k] = v.take(order) if isinstance(v, Categorical) else v[order]
        return Workload(job_id=ids, **cols)

    @staticmethod
    def from_jobs(jobs: Iterable[Job], source: str | None = None) -> Workload:
        jobs = list(jobs)
        return Workload.from_columns(
            job_id=[j.job_id for j in jobs],
            submit_s=[j.submit_s for j in jobs],
            duration_s=[j.duration_s for j in jobs],
            num_gpus=[j.num_gpus for j in jobs],
            gpu_frac=[j.gpu_frac for j in jobs],
            gpu_mem_gib=[np.nan if j.gpu_mem_gib is None else j.gpu_mem_gib for j in jobs],
            priority=[j.priority for j in jobs],
            weight=[j.weight for j in jobs],
            deadline_s=[np.nan if j.deadline_s is None else j.deadline_s for j in jobs],
            gpu_types=Categorical.from_values([j.gpu_types for j in jobs], none_values=((),)),
            user=Categorical.from_values([j.user for j in jobs]),
            group=Categorical.from_values([j.group for j in jobs]),
            model_name=Categorical.from_values([j.model_name for j in jobs]),
            status=Categorical.from_values(
                [j.status.value for j in jobs], none_values=(None, JobStatus.unknown.value)
            ),
            source=source,
        )

    # ----- row access ---------------------------------------------------
    def __len__(self) -> int:
        return len(self.job_id)

    def __getitem__(self, i: int) -> Job:
        if i < 0:
            i += len(self)
        if not 0 <= i < len(self):
            raise IndexError(i)
        mem = float(self.gpu_mem_gib[i])
        deadline = float(self.deadline_s[i])
        status = self.status.value(i)
        return Job(
            job_id=str(self.job_id[i]),
            submit_s=float(self.submit_s[i]),
            duration_s=float(self.duration_s[i]),
            num_gpus=int(self.num_gpus[i]),
            gpu_frac=float(self.gpu_frac[i]),
            gpu_mem_gib=None if math.isnan(mem) else mem,
            gpu_types=self.gpu_types.value(i) or (),
            user=self.user.value(i),
            group=self.group.value(i),
            priority=int(self.priority[i]),
            weight=float(self.weight[i]),
            deadline_s=None if math.isnan(deadline) else deadline,
            model_name=self.model_name.value(i),
            status=JobStatus.unknown if status is None else JobStatus(status),
        )

    def __iter__(self) -> Iterator[Job]:
        for i in range(len(self)):
            yield self[i]

    def index_of(self, job_id: str) -> int:
        """Row of a job id (KeyError if absent); the lookup table is built on first use."""
        if not self._index:
            self._index.update((str(j), i) for i, j in enumerate(self.job_id.tolist()))
        return self._index[job_id]

    def job(self, job_id: str) -> Job:
        return self[self.index_of(job_id)]

    def take(self, idx: npt.ArrayLike) -> Workload:
        """A sub-workload of the given rows: indices (negative ones count from the end) or a
        boolean mask; each row once, order restored to `(submit_s, job_id)`."""
        arr = np.asarray(idx)
        sel = np.unique(np.arange(len(self))[arr if arr.dtype == np.bool_ else arr.astype(np.intp)])
        return Workload(
            job_id=self.job_id[sel],
            **{k: getattr(self, k)[sel] for k in NUMERIC_COLUMNS},
            **{k: getattr(self, k).take(sel) for k in CATEGORY_COLUMNS},
        )

    # ----- summaries ----------------------------------------------------
    @property
    def gpu_s(self) -> npt.NDArray[np.float64]:
        """Per-job GPU-seconds on the reference type."""
        return self.duration_s * self.num_gpus * self.gpu_frac

    @property
    def span_s(self) -> float:
        """Time from the first to the last submission."""
        return float(self.submit_s[-1] - self.submit_s[0]) if len(self) else 0.0

    def offered_load(self, num_gpus: int) -> float:
        """Offered GPU load (GPU-seconds per second of span) over `num_gpus` GPUs."""
        if len(self) < 2 or self.span_s <= 0:
            return math.nan
        return float(self.gpu_s.sum() / self.span_s / num_gpus)

    def shifted(self, offset_s: float) -> Workload:
        """Same jobs with every submit (and deadline) time moved by `offset_s`."""
        return Workload(
            job_id=self.job_id,
            **{
                k: (getattr(self, k) + offset_s if k in ("submit_s", "deadline_s") else getattr(self, k))
                for k in NUMERIC_COLUMNS
            },
            **{k: getattr(self, k) for k in CATEGORY_COLUMNS},
        )


def _check_columns(ids: npt.NDArray[np.object_], cols: Mapping[str, Any], source: str | None) -> None:
    """Raise `UserError` naming the first bad row (1-based, in input order)."""
    where = source or "<input>"

    def bad(mask: npt.NDArray[np.bool_], column: str, expected: str, values: npt.NDArray[Any]) -> None:
        if mask.any():
            i = int(np.argmax(mask))
            raise UserError(
                f"{where}: job {ids[i]!s}: field '{column}': expected {expected} but found {values[i]}"
            )

    n = len(ids)
    for i, j in enumerate(ids.tolist()):
        if not isinstance(j, str) or not j:
            raise UserError(f"{where}: row {i + 1}: field 'job_id': expected a non-empty string but found {j!r}")
    if n and len(set(ids.tolist())) != n:
        seen: set[str] = set()
        for j in ids.tolist():
            if j in seen:
                raise UserError(f"{where}: field 'job_id': expected unique ids but found {j!r} twice")
            seen.add(j)
    s, d, g, f = cols["submit_s"], cols["duration_s"], cols["num_gpus"], cols["gpu_frac"]
    bad(~np.isfinite(s) | (s < 0), "submit_s", "a finite number >= 0", s)
    bad(~np.isfinite(d) | (d <= 0), "duration_s", "a finite number > 0", d)
    bad(g < 1, "num_gpus", "an integer >= 1", g)
    bad(~(f > 0) | (f > 1), "gpu_frac", "a number in (0, 1]", f)
    bad((f < 1) & (g != 1), "gpu_frac", "1 for multi-GPU jobs", f)
    m = cols["gpu_mem_gib"]
    bad(~np.isnan(m) & (~np.isfinite(m) | (m <= 0)), "gpu_mem_gib", "a finite number > 0 or empty", m)
    w = cols["weight"]
    bad(~np.isfinite(w) | (w <= 0), "weight", "a finite number > 0", w)
    dl = cols["deadline_s"]
    bad(np.isinf(dl), "deadline_s", "a finite number or empty", dl)
    st = cols["status"]
    known = {s.value for s in JobStatus}
    for c in st.categories:
        if c not in known:
            raise UserError(f"{where}: field 'status': expected one of {sorted(known)} but found {c!r}")
    for c in cols["gpu_types"].categories:
        if not isinstance(c, tuple) or not all(isinstance(t, str) and t for t in c):
            raise ValueError(f"gpu_types categories must be tuples of names, got {c!r}")
