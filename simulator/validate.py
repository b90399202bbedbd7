"""Independent schedule checker: does a schedule respect the workload and the cluster?

It shares no code with any engine or solver, so a bug there cannot hide itself here.
Per-GPU occupancy is checked with one vectorised sweep over sorted start/end events
(ends before starts at equal times, so touching intervals are fine); GPU shares are
summed as integers (units of 1e-9 GPU, 1e-6 GiB) so long sweeps do not drift.

A job's work total is only compared with its `duration_s` when its segments are well
formed (no bad interval, no split gang, no overlap): otherwise the total is meaningless
and the structural violation already names the root cause.
"""

from __future__ import annotations

import enum
import math
from collections import Counter
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from simulator.schedule import Schedule
from traces.cluster import Cluster, GpuInfo
from traces.model import Job, Workload

SpeedFn = Callable[[Job, str], float]

FRAC_UNITS = 1_000_000_000  # one GPU; a load above FRAC_UNITS + 1 exceeds 1 + 1e-9
MEM_UNITS = 1_000_000  # per GiB
WORK_REL_TOL = 1e-6
MEM_REL_TOL = 1e-9


class ViolationKind(enum.Enum):
    """What is wrong; the definition order is the order of `check`'s result."""

    UNKNOWN_JOB = "unknown_job"
    MISSING_JOB = "missing_job"
    REJECTED_AND_RUN = "rejected_and_run"
    UNKNOWN_GPU = "unknown_gpu"
    BAD_INTERVAL = "bad_interval"
    DUPLICATE_GPU = "duplicate_gpu"
    BEFORE_SUBMIT = "before_submit"
    GPU_OVERCOMMIT = "gpu_overcommit"
    GANG_SPLIT = "gang_split"
    RUN_TWICE = "run_twice"
    MEMORY = "memory"
    GPU_TYPE = "gpu_type"
    WORK_MISMATCH = "work_mismatch"


_KIND_ORDER = {k: i for i, k in enumerate(ViolationKind)}


@dataclass(frozen=True, slots=True)
class Violation:
    kind: ViolationKind
    job_id: str | None
    gpu_id: str | None
    time_s: float | None
    message: str


def _sort_key(v: Violation) -> tuple[object, ...]:
    return (
        _KIND_ORDER[v.kind],
        v.job_id is not None,
        v.job_id or "",
        v.gpu_id is not None,
        v.gpu_id or "",
        v.time_s is not None,
        -math.inf if v.time_s is None or math.isnan(v.time_s) else v.time_s,
        v.message,
    )


def _t(x: float) -> str:
    """Seconds for messages: short, no exponent for ordinary trace times."""
    if not math.isfinite(x):
        return f"{x}s"
    text = f"{x:.6f}".rstrip("0").rstrip(".")
    return (text if text not in ("", "-0") else "0") + "s"


def _n(x: float) -> str:
    return f"{x:.6g}"


@dataclass(slots=True)
class _Segment:
    """Assignments of one job with identical `(start_s, end_s)`: one gang segment."""

    job_row: int
    start_s: float
    end_s: float
    works: list[float | None]
    gpu_ids: list[str]
    distinct: tuple[str, ...] = ()  # gpu_ids without repeats, set by `_check_segments`


def check(
    schedule: Schedule,
    workload: Workload,
    cluster: Cluster,
    *,
    speed: SpeedFn | None = None,
    tol_s: float = 1e-6,
) -> list[Violation]:
    """Every violation of `schedule`, sorted by (kind, job_id, gpu_id, time_s); [] if valid.

    `speed(job, gpu_type)` is the job's work rate on a GPU type relative to the reference
    type (1.0 for every type when not given); a segment may not do more work than its
    length times the slowest of its GPUs' speeds.
    """
    out: list[Violation] = []
    add = out.append
    job_ids: list[str] = [str(j) for j in workload.job_id.tolist()]
    row_of = {j: i for i, j in enumerate(job_ids)}
    submit = workload.submit_s.tolist()
    duration = workload.duration_s.tolist()
    num_gpus = workload.num_gpus.tolist()
    gpus = cluster.gpus()
    gpu_code = {g.gpu_id: i for i, g in enumerate(gpus)}
    gpu_type = [g.gpu_type for g in gpus]
    known_gpus = frozenset(gpu_code)

    rejected = set(schedule.rejected)
    for jid in sorted(rejected):
        if jid not in row_of:
            add(Violation(ViolationKind.UNKNOWN_JOB, jid, None, None,
                          f"job {jid}: listed as rejected but not in the workload"))

    segments: dict[tuple[int, float, float], _Segment] = {}
    scheduled = [False] * len(job_ids)
    broken_jobs: set[int] = set()  # work total not comparable
    for a in schedule.assignments:
        row = row_of.get(a.job_id)
        start, end = a.start_s, a.end_s
        if row is None:
            add(Violation(ViolationKind.UNKNOWN_JOB, a.job_id, None, start if math.isfinite(start) else None,
                          f"job {a.job_id}: assigned at {_t(start)} but not in the workload"))
            continue
        scheduled[row] = True
        for g in a.gpu_ids if not known_gpus.issuperset(a.gpu_ids) else ():
            if g not in gpu_code:
                add(Violation(ViolationKind.UNKNOWN_GPU, a.job_id, g, start if math.isfinite(start) else None,
                              f"job {a.job_id}: assigned to GPU {g!r}, which is not in the cluster"))
        if not (math.isfinite(start) and math.isfinite(end)) or end <= start:
            add(Violation(ViolationKind.BAD_INTERVAL, a.job_id, None, start if math.isfinite(start) else None,
                          f"job {a.job_id}: segment [{_t(start)}, {_t(end)}) is not finite with end > start"))
            broken_jobs.add(row)
            for g, c in Counter(a.gpu_ids).items():
                if c > 1:
                    add(_duplicate(a.job_id, g, c, None))
            continue
        if start < submit[row] - tol_s:
            add(Violation(ViolationKind.BEFORE_SUBMIT, a.job_id, None, start,
                          f"job {a.job_id}: starts at {_t(start)}, before its submit time {_t(submit[row])}"))
        key = (row, start, end)
        seg = segments.get(key)
        if seg is None:
            segments[key] = _Segment(row, start, end, [a.work_s], list(a.gpu_ids))
        else:
            seg.works.append(a.work_s)
            seg.gpu_ids.extend(a.gpu_ids)

    for row in range(len(job_ids)):
        jid = job_ids[row]
        if jid in rejected:
            if scheduled[row]:
                add(Violation(ViolationKind.REJECTED_AND_RUN, jid, None, None,
                              f"job {jid}: listed as rejected but also has assignments"))
        elif not scheduled[row]:
            add(Violation(ViolationKind.MISSING_JOB, jid, None, None,
                          f"job {jid}: neither scheduled nor rejected"))

    seg_list = sorted(segments.values(), key=lambda s: (s.job_row, s.start_s, s.end_s))
    _check_segments(seg_list, job_ids, num_gpus, duration, workload, gpu_code, gpu_type,
                    speed, tol_s, broken_jobs, add)
    flat = _flat(seg_list, gpu_code)
    _check_gpu_fit(seg_list, flat, job_ids, workload, gpus, add)
    _check_occupancy(seg_list, flat, job_ids, workload, gpus, tol_s, add)
    out.sort(key=_sort_key)
    return out


validate = check


def _duplicate(job_id: str, gpu_id: str, count: int, time_s: float | None) -> Violation:
    return Violation(ViolationKind.DUPLICATE_GPU, job_id, gpu_id, time_s,
                     f"job {job_id}: GPU {gpu_id} appears {count} times in one segment")


def _check_segments(
    segs: Sequence[_Segment],
    job_ids: Sequence[str],
    num_gpus: Sequence[int],
    duration: Sequence[float],
    workload: Workload,
    gpu_code: dict[str, int],
    gpu_type: Sequence[str],
    speed: SpeedFn | None,
    tol_s: float,
    broken_jobs: set[int],
    add: Callable[[Violation], None],
) -> None:
    """Gang completeness, duplicates, overlap of a job's segments, and work accounting."""
    isfinite = math.isfinite
    job_cache: dict[int, Job] = {}
    total_work: dict[int, float] = {}
    complete: dict[int, list[_Segment]] = {}
    for s in segs:
        row = s.job_row
        jid = job_ids[row]
        s.distinct = tuple(dict.fromkeys(s.gpu_ids))
        if len(s.distinct) != len(s.gpu_ids):
            for g, c in Counter(s.gpu_ids).items():
                if c > 1:
                    add(_duplicate(jid, g, c, s.start_s))
        if len(s.distinct) != num_gpus[row]:
            add(Violation(ViolationKind.GANG_SPLIT, jid, None, s.start_s,
                          f"job {jid}: segment [{_t(s.start_s)}, {_t(s.end_s)}) holds {len(s.distinct)} GPU(s) "
                          f"but the job needs exactly {num_gpus[row]} at once"))
            broken_jobs.add(row)
        else:
            complete.setdefault(row, []).append(s)
        length = s.end_s - s.start_s
        if len(s.works) == 1:
            w = s.works[0]
            works = {length if w is None else w}
        else:
            works = {length if w is None else w for w in s.works}
        if len(works) > 1:
            add(Violation(ViolationKind.WORK_MISMATCH, jid, None, s.start_s,
                          f"job {jid}: the assignments of segment at {_t(s.start_s)} disagree on work_s "
                          f"({', '.join(_n(w) for w in sorted(works))})"))
            broken_jobs.add(row)
            continue
        work = works.pop()
        if not isfinite(work) or work < 0:
            add(Violation(ViolationKind.WORK_MISMATCH, jid, None, s.start_s,
                          f"job {jid}: segment at {_t(s.start_s)} has work_s {work}, expected a finite number >= 0"))
            broken_jobs.add(row)
            continue
        rate = 1.0
        if speed is not None:
            types = {gpu_type[gpu_code[g]] for g in s.distinct if g in gpu_code}
            if types:
                job = job_cache.get(row)
                if job is None:
                    job = job_cache[row] = workload[row]
                rate = min(float(speed(job, t)) for t in types)
        cap = length * rate
        if work > cap * (1 + WORK_REL_TOL) + tol_s:
            add(Violation(ViolationKind.WORK_MISMATCH, jid, None, s.start_s,
                          f"job {jid}: segment [{_t(s.start_s)}, {_t(s.end_s)}) claims {_n(work)}s of work "
                          f"but can do at most {_n(cap)}s at speed {_n(rate)}"))
        total_work[row] = total_work.get(row, 0.0) + work

    for row, own in complete.items():
        jid = job_ids[row]
        prev_end = -math.inf
        for s in own:  # already in start order
            if s.start_s < prev_end - tol_s:
                add(Violation(ViolationKind.RUN_TWICE, jid, None, s.start_s,
                              f"job {jid}: segment starting at {_t(s.start_s)} overlaps an earlier segment "
                              f"that ends at {_t(prev_end)}"))
                broken_jobs.add(row)
            prev_end = max(prev_end, s.end_s)

    for row, work in total_work.items():
        if row in broken_jobs:
            continue
        need = duration[row]
        if abs(work - need) > WORK_REL_TOL * need + tol_s:
            jid = job_ids[row]
            add(Violation(ViolationKind.WORK_MISMATCH, jid, None, None,
                          f"job {jid}: segments do {_n(work)}s of work but the job needs {_n(need)}s"))


_Flat = tuple[npt.NDArray[np.intp], npt.NDArray[np.intp], npt.NDArray[np.intp]]


def _flat(segs: Sequence[_Segment], gpu_code: dict[str, int]) -> _Flat:
    """(segment index, job row, GPU code) per distinct known GPU of each segment."""
    seg_idx: list[int] = []
    rows: list[int] = []
    codes: list[int] = []
    for i, s in enumerate(segs):
        for g in s.distinct:
            c = gpu_code.get(g)
            if c is not None:
                seg_idx.append(i)
                rows.append(s.job_row)
                codes.append(c)
    return (np.asarray(seg_idx, dtype=np.intp), np.asarray(rows, dtype=np.intp),
            np.asarray(codes, dtype=np.intp))


def _check_gpu_fit(
    segs: Sequence[_Segment],
    flat: _Flat,
    job_ids: Sequence[str],
    workload: Workload,
    gpus: Sequence[GpuInfo],
    add: Callable[[Violation], None],
) -> None:
    """GPU type allowed and job memory within the GPU's, per segment and GPU (vectorised)."""
    seg_idx, rows, codes = flat
    if not len(rows):
        return
    types = sorted({g.gpu_type for g in gpus})
    type_of = {t: i for i, t in enumerate(types)}
    gpu_type_code = np.asarray([type_of[g.gpu_type] for g in gpus], dtype=np.intp)
    gpu_mem = np.asarray([g.gpu_mem_gib for g in gpus], dtype=np.float64)

    cats = workload.gpu_types.categories
    allowed = np.ones((len(cats) + 1, len(types)), dtype=bool)  # row 0: code -1 (any type)
    for ci, cat in enumerate(cats):
        if cat:
            allowed[ci + 1] = [t in cat for t in types]
    job_cat = workload.gpu_types.codes[rows].astype(np.intp) + 1
    bad_type = ~allowed[job_cat, gpu_type_code[codes]]
    job_mem = workload.gpu_mem_gib[rows]
    cap = gpu_mem[codes]
    with np.errstate(invalid="ignore"):
        bad_mem = ~np.isnan(job_mem) & (job_mem > cap * (1 + MEM_REL_TOL))
    for k in np.flatnonzero(bad_type | bad_mem).tolist():
        s = segs[int(seg_idx[k])]
        jid = job_ids[s.job_row]
        g = gpus[int(codes[k])]
        if bad_type[k]:
            allowed_types = ", ".join(workload.gpu_types.categories[int(job_cat[k]) - 1])
            add(Violation(ViolationKind.GPU_TYPE, jid, g.gpu_id, s.start_s,
                          f"job {jid}: runs on GPU {g.gpu_id} of type {g.gpu_type} "
                          f"but allows only {allowed_types}"))
        if bad_mem[k]:
            add(Violation(ViolationKind.MEMORY, jid, g.gpu_id, s.start_s,
                          f"job {jid}: needs {_n(float(job_mem[k]))} GiB per GPU but GPU "
                          f"{g.gpu_id} has {_n(float(cap[k]))} GiB"))


def _check_occupancy(
    segs: Sequence[_Segment],
    flat: _Flat,
    job_ids: Sequence[str],
    workload: Workload,
    gpus: Sequence[GpuInfo],
    tol_s: float,
    add: Callable[[Violation], None],
) -> None:
    """Sweep each GPU's start/end events: GPU share and shared memory at every instant."""
    seg_idx, rows, codes = flat
    m = len(rows)
    if not m:
        return
    start = np.fromiter((segs[i].start_s for i in seg_idx.tolist()), dtype=np.float64, count=m)
    end = np.fromiter((segs[i].end_s for i in seg_idx.tolist()), dtype=np.float64, count=m)
    # Sub-`tol_s` overlaps from float arithmetic in an engine are not violations.
    end = end - np.minimum(tol_s, (end - start) / 2)
    frac = np.rint(workload.gpu_frac[rows] * FRAC_UNITS).astype(np.int64)
    gpu_mem = np.asarray([g.gpu_mem_gib for g in gpus], dtype=np.float64)
    cap_mem = np.rint(gpu_mem * MEM_UNITS).astype(np.int64)
    job_mem = workload.gpu_mem_gib[rows]
    mem = np.where(np.isnan(job_mem), 0.0, np.minimum(job_mem, gpu_mem[codes]))
    mem_units = np.rint(mem * MEM_UNITS).astype(np.int64)

    ev_gpu = np.concatenate([codes, codes])
    ev_time = np.concatenate([start, end])
    ev_is_start = np.concatenate([np.ones(m, dtype=np.int8), np.zeros(m, dtype=np.int8)])
    ev_item = np.concatenate([np.arange(m), np.arange(m)])
    order = np.lexsort((ev_is_start, ev_time, ev_gpu))  # per GPU, by time, ends first
    ev_gpu, ev_time, ev_item = ev_gpu[order], ev_time[order], ev_item[order]
    sign = np.where(ev_is_start[order] == 1, 1, -1).astype(np.int64)
    frac_load = np.cumsum(sign * frac[ev_item])
    mem_load = np.cumsum(sign * mem_units[ev_item])
    # Every GPU's deltas sum to exactly zero, so a global cumsum is a per-GPU load.
    over_frac = frac_load > FRAC_UNITS + 1
    over_mem = mem_load > cap_mem[ev_gpu] + np.maximum(1, (cap_mem[ev_gpu] * MEM_REL_TOL).astype(np.int64))
    episodes: dict[int, list[tuple[int, ViolationKind]]] = {}
    for over, kind in ((over_frac, ViolationKind.GPU_OVERCOMMIT), (over_mem, ViolationKind.MEMORY)):
        first = over & ~np.concatenate([[False], over[:-1]])
        for p in np.flatnonzero(first).tolist():
            episodes.setdefault(int(ev_gpu[p]), []).append((p, kind))
    if not episodes:
        return

    item_job = [job_ids[r] for r in rows.tolist()]
    bounds = np.searchsorted(ev_gpu, np.arange(len(gpu_mem) + 1))
    for g, eps in sorted(episodes.items()):
        wanted = _group(eps)
        active: Counter[int] = Counter()
        gid = gpus[g].gpu_id
        for p in range(int(bounds[g]), int(bounds[g + 1])):
            it = int(ev_item[p])
            if order[p] < m:
                active[it] += 1
            else:
                active[it] -= 1
                if not active[it]:
                    del active[it]
            for kind in wanted.get(p, ()):
                t = float(ev_time[p])
                holders = sorted({item_job[i] for i in active})
                names = ", ".join(holders[:5]) + (f" and {len(holders) - 5} more" if len(holders) > 5 else "")
                if kind is ViolationKind.GPU_OVERCOMMIT:
                    msg = (f"GPU {gid} at {_t(t)}: jobs {names} hold {_n(frac_load[p] / FRAC_UNITS)} "
                           f"of it (more than 1)")
                else:
                    msg = (f"GPU {gid} at {_t(t)}: jobs {names} need {_n(mem_load[p] / MEM_UNITS)} GiB "
                           f"together but it has {_n(float(gpu_mem[g]))} GiB")
                add(Violation(kind, item_job[it], gid, t, msg))


def _group(eps: Iterable[tuple[int, ViolationKind]]) -> dict[int, list[ViolationKind]]:
    out: dict[int, list[ViolationKind]] = {}
    for p, kind in eps:
        out.setdefault(p, []).append(kind)
    return out


def summarize(violations: Sequence[Violation], max_messages: int = 10) -> str:
    """Counts by kind, then the first `max_messages` messages, for the CLI."""
    if not violations:
        return "schedule is valid: no violations"
    counts = Counter(v.kind for v in violations)
    head = ", ".join(f"{counts[k]} {k.value}" for k in ViolationKind if counts[k])
    lines = [f"{len(violations)} violation(s): {head}"]
    lines += [f"  {v.kind.value}: {v.message}" for v in violations[:max_messages]]
    if len(violations) > max_messages:
        lines.append(f"  ... and {len(violations) - max_messages} more")
    return "\n".join(lines)


__all__ = ["Violation", "ViolationKind", "check", "validate", "summarize"]
