"""The checked plan the `schedule` policy replays: per job, its place in the start order and its GPUs.

A schedule file (`simulator.schedule_io`) gives each job one or more segments; the plan
keeps the first one (earliest `start_s`; every assignment of the job starting then, their
GPUs joined). Jobs are ordered by `(start_s, submit_s, job_id)`: `submit_s` before the id
because jobs a schedule starts at the same instant were put in that order by any policy
that respects arrivals (FCFS does), so replaying FCFS's own schedule keeps its order
exactly; the id alone would let a later-submitted job with a smaller id jump ahead.

Everything a run could trip over later is checked here, before the run, and reported as
a one-line `UserError` naming the schedule file (and, for a file, the row and field): a
job both rejected and run, a job the workload lacks, a GPU id the cluster lacks (in any
segment), a workload job the file neither runs nor rejects, and a first
segment whose GPUs are not exactly `num_gpus` distinct GPUs of an allowed type with
enough memory. Rows are only
looked up (by re-reading the file) once an error is found, so a valid file is read once.
Times are in seconds.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from simulator.schedule import Schedule
from simulator.schedule_io import schedule_rows
from traces.cluster import Cluster, GpuInfo
from traces.errors import TraceError, UserError
from traces.model import Workload

RowMatch = Callable[[dict[str, Any]], bool]


@dataclass(frozen=True, slots=True)
class ReplayPlan:
    """Workload rows in replay order with the file's start time and GPU ids of each.

    Position `p` of the plan is workload row `rows[p]` (job `job_ids[p]`, submitted at
    `submit_s[p]`), which the file starts at `start_s[p]` on `gpu_ids[p]`. Rows the file
    lists as rejected are not positions: the replay rejects them on arrival.
    """

    source: str
    rows: tuple[int, ...]
    job_ids: tuple[str, ...]
    start_s: tuple[float, ...]
    gpu_ids: tuple[tuple[str, ...], ...]
    submit_s: tuple[float, ...]
    rejected_rows: frozenset[int] = frozenset()  # workload rows the file rejects: never started

    def __len__(self) -> int:
        return len(self.rows)

    def position_of_rows(self, num_rows: int) -> list[int]:
        """Plan position per workload row."""
        pos = [-1] * num_rows
        for p, r in enumerate(self.rows):
            pos[r] = p
        return pos


def first_segments(schedule: Schedule) -> dict[str, tuple[float, tuple[str, ...]]]:
    """Per job: its earliest start and the GPUs of every assignment of the job starting then."""
    out: dict[str, tuple[float, tuple[str, ...]]] = {}
    for a in schedule.assignments:  # sorted by start_s: a job's first assignment comes first
        seen = out.get(a.job_id)
        if seen is None:
            out[a.job_id] = (a.start_s, a.gpu_ids)
        elif seen[0] == a.start_s:
            out[a.job_id] = (seen[0], seen[1] + a.gpu_ids)
    return out


def build_plan(
    schedule: Schedule,
    workload: Workload,
    cluster: Cluster,
    path: str | Path | None = None,
) -> ReplayPlan:
    """Check `schedule` against the workload and cluster and order it; `UserError` on the first problem.

    `path` is the file the schedule was read from: errors name it and, where a row is at
    fault, its row. Without it, errors name `<schedule>`.
    """
    loc = _Locator(path)
    job_ids = [str(j) for j in workload.job_id.tolist()]
    row_of = {j: i for i, j in enumerate(job_ids)}
    first = first_segments(schedule)

    rejected = set(schedule.rejected)
    both = rejected.intersection(first)
    if both:
        jid = loc.first_job(lambda rec: _status(rec) == "rejected" and _id(rec.get("job_id")) in both, sorted(both))
        raise loc.error(
            f"job {jid!r} is listed as rejected and also has run rows",
            "status",
            lambda rec: _status(rec) == "rejected" and _id(rec.get("job_id")) == jid,
        )

    unknown_jobs = sorted((rejected | first.keys()) - row_of.keys())
    if unknown_jobs:
        bad = set(unknown_jobs)
        jid = loc.first_job(lambda rec: _id(rec.get("job_id")) in bad, unknown_jobs)
        raise loc.error(f"job {jid!r} is not in the workload", "job_id", lambda rec: _id(rec.get("job_id")) == jid)

    gpu_info = cluster.gpu_index()
    unknown_gpus = {g for a in schedule.assignments for g in a.gpu_ids if g not in gpu_info}
    if unknown_gpus:

        def match(rec: dict[str, Any]) -> bool:
            return _status(rec) != "rejected" and _id(rec.get("gpu_id")) in unknown_gpus

        gpu = loc.first_value(match, "gpu_id", sorted(unknown_gpus))
        jid = loc.first_value(
            lambda rec: match(rec) and _id(rec.get("gpu_id")) == gpu,
            "job_id",
            sorted({a.job_id for a in schedule.assignments if gpu in a.gpu_ids}),
        )
        ids = [g.gpu_id for g in cluster.gpus()]
        raise loc.error(
            f"job {jid!r}: GPU not in the cluster",
            "gpu_id",
            lambda rec: match(rec) and _id(rec.get("gpu_id")) == gpu and _id(rec.get("job_id")) == jid,
            expected=f"a GPU id of the cluster ({ids[0]} .. {ids[-1]})",
            found=gpu,
        )

    missing = [j for j in job_ids if j not in first and j not in rejected]
    if missing:
        more = f" (and {len(missing) - 1} more)" if len(missing) > 1 else ""
        raise UserError(
            f"{loc.source}: workload job {missing[0]!r}{more} is not in the schedule; "
            "expected a run row or a rejected row for every job"
        )

    planned = [row_of[j] for j in first]
    start = np.fromiter((first[job_ids[r]][0] for r in planned), dtype=np.float64, count=len(planned))
    rows_arr = np.asarray(planned, dtype=np.int64)
    order = np.lexsort((rows_arr, start))  # (start_s, row): rows are in (submit_s, job_id) order
    rows = tuple(int(r) for r in rows_arr[order].tolist())
    plan_ids = tuple(job_ids[r] for r in rows)
    for r, jid in zip(rows, plan_ids, strict=True):
        t, gpus = first[jid]
        _check_first_segment(loc, workload, r, jid, t, gpus, gpu_info)
    return ReplayPlan(
        source=loc.source,
        rows=rows,
        job_ids=plan_ids,
        start_s=tuple(first[j][0] for j in plan_ids),
        gpu_ids=tuple(first[j][1] for j in plan_ids),
        submit_s=tuple(workload.submit_s[list(rows)].tolist()),
        rejected_rows=frozenset(row_of[j] for j in rejected),
    )


def _check_first_segment(
    loc: _Locator,
    workload: Workload,
    row: int,
    jid: str,
    start_s: float,
    gpus: tuple[str, ...],
    gpu_info: dict[str, GpuInfo],
) -> None:
    def at(gpu: str | None = None, nth: int = 1) -> RowMatch:
        count = [0]

        def match(rec: dict[str, Any]) -> bool:
            ok = (
                _status(rec) != "rejected"
                and _id(rec.get("job_id")) == jid
                and _time(rec.get("start_s")) == start_s
                and (gpu is None or _id(rec.get("gpu_id")) == gpu)
            )
            if ok:
                count[0] += 1
            return ok and count[0] == nth

        return match

    need = int(workload.num_gpus[row])
    if len(gpus) != need:
        raise loc.error(
            f"job {jid!r} needs {need} GPU(s) but its first segment (start_s {start_s:g}) lists {len(gpus)}",
            "gpu_id",
            at(),
        )
    seen: set[str] = set()
    for g in gpus:
        if g in seen:
            raise loc.error(f"job {jid!r}: GPU {g!r} appears twice in its first segment", "gpu_id", at(g, 2))
        seen.add(g)
    allowed: tuple[str, ...] | None = workload.gpu_types.value(row)
    mem = float(workload.gpu_mem_gib[row])
    for g in gpus:
        info = gpu_info[g]
        if allowed and info.gpu_type not in allowed:
            raise loc.error(
                f"job {jid!r} allows only GPU type(s) {', '.join(allowed)} but GPU {g!r} is a {info.gpu_type}",
                "gpu_id",
                at(g),
            )
        if not math.isnan(mem) and mem > info.gpu_mem_gib:
            raise loc.error(
                f"job {jid!r} needs {mem:g} GiB per GPU but GPU {g!r} has {info.gpu_mem_gib:g} GiB", "gpu_id", at(g)
            )


class _Locator:
    """Names the schedule in errors and finds the file row at fault (by re-reading the file)."""

    def __init__(self, path: str | Path | None) -> None:
        self.path = None if path is None else Path(path)
        self.source = "<schedule>" if path is None else str(path)

    def _rows(self) -> Iterable[tuple[int, dict[str, Any]]]:
        if self.path is None or not self.path.is_file():
            return ()
        return schedule_rows(self.path)

    def row(self, match: RowMatch) -> int | None:
        return next((n for n, rec in self._rows() if match(rec)), None)

    def first_value(self, match: RowMatch, field: str, fallback: Sequence[str]) -> str:
        """`field` of the first matching row; `fallback[0]` when there is no file to look in."""
        for _, rec in self._rows():
            if match(rec):
                return _id(rec.get(field)) or fallback[0]
        return fallback[0]

    def first_job(self, match: RowMatch, fallback: Sequence[str]) -> str:
        return self.first_value(match, "job_id", fallback)

    def error(
        self, message: str, field: str, match: RowMatch, *, expected: str | None = None, found: object = None
    ) -> TraceError:
        return TraceError(self.source, message, row=self.row(match), field=field, expected=expected, found=found)


def _id(value: Any) -> str | None:
    """A job or GPU id cell as the reader reads it: None when blank, ints as their digits."""
    if value is None or (isinstance(value, str) and not value.strip()):
        return None
    return str(value)


def _status(rec: dict[str, Any]) -> str:
    value = _id(rec.get("status"))
    return "run" if value is None else value.strip()


def _time(value: Any) -> float | None:
    try:
        return float(value)
    except (TypeError, ValueError):
        return None


def ready_positions(
    next_pos: int,
    waiting: Iterable[int],
    now_s: float,
    plan: ReplayPlan,
    is_free: Callable[[str], bool],
    num_free: int,
    timed: bool,
) -> tuple[list[int], int]:
    """Plan positions to start now (in order, on disjoint free GPUs) and the new `next_pos`.

    `waiting` yields the plan positions of waiting jobs in increasing order; every
    position below `next_pos` has started (or was skipped). From `next_pos` on the plan is
    strict: position p starts only once p - 1 has, p has arrived (is in `waiting`), its
    GPUs are free (`is_free`, and not taken earlier in this batch; `num_free` is the
    count of free GPUs, a quick bound) and, when `timed`, its file start time has come. A
    position absent from `waiting` although its job was submitted by `now_s` was deferred
    or rejected by admission control: it is skipped, not waited for. A waiting position
    below `next_pos` (a started job sent back to the queue by a node failure, or a
    skipped one admitted late) starts on its own GPUs when they are free and holds
    nobody back. The scan stops at the first position that must wait.
    """
    out: list[int] = []
    taken: set[str] = set()

    def fits(p: int) -> bool:
        gpus = plan.gpu_ids[p]
        if len(gpus) > num_free - len(taken) or not all(g not in taken and is_free(g) for g in gpus):
            return False
        taken.update(gpus)
        return True

    expect = next_pos
    submit = plan.submit_s
    for p in waiting:
        if p < next_pos:
            if fits(p):
                out.append(p)
            continue
        while expect < p and submit[expect] <= now_s:
            expect += 1
        if p != expect or (timed and now_s < plan.start_s[p]) or not fits(p):
            break
        out.append(p)
        expect += 1
    else:  # nothing waits behind: skip what admission holds back up to the first job still to come
        end = len(plan.rows)
        while expect < end and submit[expect] <= now_s:
            expect += 1
    return out, expect


def wakeup_s(next_pos: int, now_s: float, plan: ReplayPlan, timed: bool) -> float | None:
    """In timed mode, the file start time of the next position still to come; None otherwise."""
    if not timed or next_pos >= len(plan):
        return None
    t = plan.start_s[next_pos]
    return t if t > now_s else None


__all__ = ["ReplayPlan", "build_plan", "first_segments", "ready_positions", "wakeup_s"]
