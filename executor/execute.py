"""Replay a plan on real devices: dispatch segments to warm workers, record what happened.

Order: the segments on each device run in the schedule's order, a gang starts only when
every device it names is free, and a job's segments run one after another. `timed` mode
also holds a segment until its scheduled (scaled) start; `order` mode only until its
job's submit time, so it measures the schedule's order without its idle gaps.

Durability: each finished segment is written at once, atomically, to
`DIR/records/<job>.seg<k>.json`; a rerun with the same `--out` reads them back and runs
only what is missing (a job cut off mid-segment reruns that segment from the checkpoint of
the one before), keeping the first run's clock so the times stay comparable. A lock file
keeps two executors out of one folder. Every table is rebuilt from the records at the end.

Failures: a segment that raises (out of memory, a bad model) is recorded with its status
and error; a worker that dies (killed, crashed) is recorded against the segment it was
running and restarted. Either way the job's remaining segments are dropped and the other
jobs go on.
"""

from __future__ import annotations

import dataclasses
import fcntl
import hashlib
import json
import math
import re
import time
import zlib
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pyarrow as pa

from executor.devices import DeviceSetup
from executor.plan import ExecPlan, JobPlan, SegmentTask
from executor.pool import WorkerPool, describe_exit
from executor.worker import ModelKey, WorkerSpec
from simulator.results import write_json, write_table
from traces.errors import UserError

MODES: tuple[str, ...] = ("timed", "order")
STATE_FILE = "execute-state.json"
JOB_COLUMNS: tuple[str, ...] = (
    "job_id", "status", "submit_s", "start_s", "end_s", "wait_s", "jct_s", "predicted_start_s", "predicted_end_s",
    "predicted_jct_s", "model", "size", "batch_size", "num_devices", "gpu_ids", "segments", "steps", "steps_done",
    "steps_per_s", "launch_overhead_s", "attempts", "worker", "error",
)
Progress = Callable[[int, int], None]


@dataclass(frozen=True, slots=True)
class ExecOptions:
    mode: str = "timed"
    setup: DeviceSetup = field(default_factory=lambda: DeviceSetup(backend="tensorflow"))
    seed: int = 0
    warmup_steps: int = 3
    start_timeout_s: float = 600.0
    lead_in_s: float = 1.0  # between "every worker is warm" and trace time origin_s
    pin_cores: tuple[int, ...] | None = None  # worker i runs on core pin_cores[i % len]; None: unpinned


@dataclass(frozen=True, slots=True)
class ExecResult:
    out_dir: Path
    jobs: pa.Table
    segments: pa.Table
    counts: dict[str, int]
    resumed: int  # segments found already finished in DIR
    wall_s: float
    notes: tuple[str, ...]


def record_name(job_id: str, segment: int) -> str:
    """A file name for any job id (ids may hold '/', spaces, ...): a readable part plus a hash."""
    safe = re.sub(r"[^A-Za-z0-9._-]", "_", job_id)[:80]
    return f"{safe}-{zlib.crc32(job_id.encode('utf-8')):08x}.seg{segment}"


def plan_fingerprint(plan: ExecPlan) -> str:
    """What must match for a rerun to resume an existing folder rather than mix two replays."""
    text = json.dumps(
        [plan.time_scale, plan.origin_s, [(t.job_id, t.segment, t.start_s, t.gpu_ids, t.steps) for t in plan.tasks]],
        separators=(",", ":"),
    )
    return hashlib.sha256(text.encode("utf-8")).hexdigest()[:16]


@contextmanager
def _locked(out_dir: Path) -> Iterator[None]:
    out_dir.mkdir(parents=True, exist_ok=True)
    with open(out_dir / ".lock", "w") as handle:
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            raise UserError(f"{out_dir} is in use by another gpusched execute") from None
        yield


def worker_specs(plan: ExecPlan, options: ExecOptions, cache_dir: Path) -> list[WorkerSpec]:
    """One worker per device; each builds ahead the models of the segments it will lead."""
    index = {g: i for i, g in enumerate(plan.gpu_ids)}
    lead: dict[str, set[ModelKey]] = {g: set() for g in plan.gpu_ids}
    for job in plan.jobs:
        for seg in job.segments:
            if seg.gpu_ids:
                lead[seg.gpu_ids[0]].add(_model_key(job, seg, index))
    specs = []
    for i, g in enumerate(plan.gpu_ids):
        setup = options.setup
        if options.pin_cores:
            setup = dataclasses.replace(setup, cpu_cores=(options.pin_cores[i % len(options.pin_cores)],))
        specs.append(WorkerSpec(g, setup, tuple(sorted(lead[g], key=repr)), str(cache_dir), options.seed,
                                options.warmup_steps))
    return specs


def _model_key(job: JobPlan, seg: SegmentTask, index: dict[str, int]) -> ModelKey:
    return ModelKey(job.family, job.size, job.batch_size, tuple(index[g] for g in seg.gpu_ids))


class _Replay:
    """The dispatcher's state: which segments are done, running, waiting; which workers are up."""

    def __init__(self, plan: ExecPlan, options: ExecOptions, out_dir: Path, pool: WorkerPool,
                 progress: Progress | None) -> None:
        self.plan, self.options, self.out_dir, self.pool, self.progress = plan, options, out_dir, pool, progress
        self.records_dir = out_dir / "records"
        self.ckpt_dir = out_dir / "checkpoints"
        self.index = {g: i for i, g in enumerate(plan.gpu_ids)}
        self.jobs = plan.by_job
        self.tasks = plan.tasks
        self.records: dict[tuple[str, int], dict[str, Any]] = {}
        self.dropped: set[tuple[str, int]] = set()  # later segments of a job that failed
        self.queue_of: dict[str, list[SegmentTask]] = {g: [] for g in plan.gpu_ids}
        for t in self.tasks:
            for g in t.gpu_ids:
                self.queue_of[g].append(t)
        self.head: dict[str, int] = dict.fromkeys(plan.gpu_ids, 0)
        self.free_since: dict[str, float] = {}
        self.running: dict[str, tuple[SegmentTask, float, float]] = {}  # worker -> (task, t_ready, t_dispatch)
        self.ready_workers: set[str] = set()
        self.attempts: dict[tuple[str, int], int] = {}

    # ----- records ---------------------------------------------------------------
    def load_records(self) -> int:
        self.records_dir.mkdir(parents=True, exist_ok=True)
        for path in sorted(self.records_dir.glob("*.json")):
            try:
                rec = json.loads(path.read_text(encoding="utf-8"))
                key = (str(rec["job_id"]), int(rec["segment"]))
            except (ValueError, KeyError, TypeError, OSError):
                continue  # not ours or unreadable: the segment simply runs again
            if key[0] in self.jobs and key[1] < len(self.jobs[key[0]].segments):
                self.records[key] = rec
        for (job_id, seg), rec in list(self.records.items()):
            if rec["status"] != "completed":
                self._drop_after(job_id, seg)
        return len(self.records)

    def _write_record(self, rec: dict[str, Any]) -> None:
        write_json(rec, self.records_dir / f"{record_name(rec['job_id'], rec['segment'])}.json")
        self.records[(rec["job_id"], rec["segment"])] = rec

    def _drop_after(self, job_id: str, seg: int) -> None:
        for later in self.jobs[job_id].segments[seg + 1:]:
            self.dropped.add((job_id, later.segment))

    def finished(self, t: SegmentTask) -> bool:
        return (t.job_id, t.segment) in self.records or (t.job_id, t.segment) in self.dropped

    # ----- dispatch ----------------------------------------------------------------
    def _gate_wall_s(self, t: SegmentTask) -> float:
        if self.options.mode == "timed":
            return self.plan.wall_s(t.start_s)
        return self.plan.wall_s(self.jobs[t.job_id].submit_s)

    def _advance_heads(self, now: float) -> None:
        for g, queue in self.queue_of.items():
            i = self.head[g]
            while i < len(queue) and self.finished(queue[i]):
                i += 1
            if i != self.head[g]:
                self.head[g] = i
                self.free_since[g] = max(self.free_since.get(g, 0.0), now)

    def _candidates(self) -> list[SegmentTask]:
        """Segments at the head of every device queue they belong to, whose previous segment is done."""
        busy = {g for t, _, _ in self.running.values() for g in t.gpu_ids}
        seen: set[tuple[str, int]] = set()
        out = []
        for g, queue in self.queue_of.items():
            if self.head[g] >= len(queue):
                continue
            t = queue[self.head[g]]
            key = (t.job_id, t.segment)
            if key in seen or any(x in busy for x in t.gpu_ids):
                continue
            seen.add(key)
            if all(self.head[x] < len(self.queue_of[x]) and self.queue_of[x][self.head[x]] is t for x in t.gpu_ids):
                if t.segment == 0 or (t.job_id, t.segment - 1) in self.records:
                    out.append(t)
        return out

    def _task_message(self, t: SegmentTask) -> dict[str, Any]:
        job = self.jobs[t.job_id]
        key = _model_key(job, t, self.index)
        ckpt = self.ckpt_dir / f"{record_name(t.job_id, t.segment)}.weights.h5"
        prev = self.ckpt_dir / f"{record_name(t.job_id, t.segment - 1)}.weights.h5"
        return {"job_id": t.job_id, "segment": t.segment, "family": key.family, "size": key.size,
                "batch_size": key.batch_size, "devices": list(key.devices), "steps": t.steps,
                "load_ckpt": str(prev) if t.segment > 0 else None, "save_ckpt": None if t.last else str(ckpt)}

    def run(self, t0: float) -> None:
        total = len(self.tasks)
        self.ckpt_dir.mkdir(parents=True, exist_ok=True)
        while True:
            now = time.time()
            self._advance_heads(now)
            done = len(self.records.keys() | self.dropped)  # both hold (job, segment) keys of planned tasks
            if self.progress is not None:
                self.progress(done, total)
            if done == total:
                return
            next_gate = math.inf
            for t in self._candidates():
                gate = t0 + self._gate_wall_s(t)
                leader = t.gpu_ids[0] if t.gpu_ids else None
                if leader is None:  # a segment on no GPU: nothing to train
                    self._write_record(self._record(t, {"status": "completed", "error": "", "steps_done": 0},
                                                    now, now, None))
                    continue
                if gate > now:
                    next_gate = min(next_gate, gate)
                    continue
                if leader not in self.ready_workers:
                    continue
                prev = self.records.get((t.job_id, t.segment - 1))
                t_ready = max([gate, *(self.free_since.get(g, t0) for g in t.gpu_ids),
                               prev["t_end"] if prev is not None else t0])
                key = (t.job_id, t.segment)
                self.attempts[key] = self.attempts.get(key, 0) + 1
                self.pool.submit(leader, self._task_message(t))
                self.running[leader] = (t, t_ready, time.time())
            timeout = 0.5 if math.isinf(next_gate) else min(0.5, max(0.0, next_gate - time.time()))
            for event in self.pool.wait(timeout):
                self._on_event(event)

    def _on_event(self, event: tuple[Any, ...]) -> None:
        kind, worker = event[0], event[1]
        now = time.time()
        if kind == "ready":
            self.ready_workers.add(worker)
        elif kind == "error":
            raise UserError(f"the worker for {worker} could not start: {event[2]}")
        elif kind == "done":
            t, t_ready, t_dispatch = self.running.pop(worker)
            result = event[3]
            self._write_record(self._record(t, result, t_ready, t_dispatch, worker))
            if result["status"] != "completed":
                self._drop_after(t.job_id, t.segment)
            for g in t.gpu_ids:
                self.free_since[g] = now
        elif kind == "died":
            self.ready_workers.discard(worker)
            status, why = describe_exit(event[2])
            running = self.running.pop(worker, None)
            if running is not None:
                t, t_ready, t_dispatch = running
                rec = self._record(t, {"status": status, "error": f"{why} while running this segment",
                                       "t_end": now, "steps_done": None}, t_ready, t_dispatch, worker)
                self._write_record(rec)
                self._drop_after(t.job_id, t.segment)
                for g in t.gpu_ids:
                    self.free_since[g] = now
            self.pool.restart(worker)

    def _record(self, t: SegmentTask, result: dict[str, Any], t_ready: float, t_dispatch: float,
                worker: str | None) -> dict[str, Any]:
        return {
            "job_id": t.job_id, "segment": t.segment, "status": result["status"], "error": result.get("error", ""),
            "gpu_ids": list(t.gpu_ids), "steps": t.steps, "steps_done": result.get("steps_done"),
            "t_ready": t_ready, "t_dispatch": t_dispatch, "t_received": result.get("t_received"),
            "t_first_step": result.get("t_first_step"), "t_trained": result.get("t_trained"),
            "t_end": result.get("t_end", t_dispatch),
            "worker": worker, "pid": result.get("pid"), "attempt": self.attempts.get((t.job_id, t.segment), 1),
            "loss": _finite_or_none(result.get("loss")),
        }


def _finite_or_none(value: Any) -> float | None:
    return float(value) if isinstance(value, (int, float)) and math.isfinite(value) else None


def execute(plan: ExecPlan, out_dir: Path, pool: WorkerPool, options: ExecOptions | None = None, *,
            progress: Progress | None = None, on_started: Callable[[dict[str, int]], None] | None = None,
            labels: dict[str, Any] | None = None) -> ExecResult:
    """Run (or resume) the replay of `plan` into `out_dir` and write its tables."""
    options = options or ExecOptions()
    if options.mode not in MODES:
        raise UserError(f"unknown mode {options.mode!r}; expected one of {', '.join(MODES)}")
    out_dir = Path(out_dir)
    wall_start = time.time()
    with _locked(out_dir):
        replay = _Replay(plan, options, out_dir, pool, progress)
        state_path = out_dir / STATE_FILE
        fingerprint = plan_fingerprint(plan)
        state = _read_state(state_path)
        if state is not None and state.get("fingerprint") != fingerprint:
            raise UserError(
                f"{out_dir} holds the replay of another schedule or time scale; use a new --out "
                "(or delete the folder to start over)"
            )
        resumed = replay.load_records()
        if resumed < len(plan.tasks):
            cache_dir = out_dir / "cache"
            cache_dir.mkdir(parents=True, exist_ok=True)
            specs = worker_specs(plan, options, cache_dir)
            pool.start(specs)
            try:
                deadline = time.time() + options.start_timeout_s
                while len(replay.ready_workers) < len(specs):
                    if time.time() > deadline:
                        raise UserError(f"workers not ready after {options.start_timeout_s:g} s")
                    for event in pool.wait(1.0):
                        if event[0] == "died":
                            raise UserError(f"the worker for {event[1]} died while starting: "
                                            f"{describe_exit(event[2])[1]}")
                        replay._on_event(event)
                if on_started is not None:
                    on_started(pool.pids())
                if state is None:
                    state = {"fingerprint": fingerprint, "t0": time.time() + options.lead_in_s, "runs": 0}
                state["runs"] = int(state.get("runs", 0)) + 1
                write_json(state, state_path)
                replay.run(float(state["t0"]))
            finally:
                pool.close()
        elif state is None:
            state = {"fingerprint": fingerprint, "t0": wall_start, "runs": 0}
        result = _write_outputs(replay, float(state["t0"]), out_dir, resumed, time.time() - wall_start,
                                labels or {}, int(state.get("runs", 1)))
    return result


def _read_state(path: Path) -> dict[str, Any] | None:
    if not path.exists():
        return None
    try:
        state = json.loads(path.read_text(encoding="utf-8"))
        float(state["t0"])
        return dict(state)
    except (ValueError, KeyError, TypeError, OSError):
        raise UserError(f"{path}: not a gpusched execute state file; use a new --out") from None


def job_rows(replay: _Replay, t0: float) -> list[dict[str, Any]]:
    plan = replay.plan
    rows = []
    for job in plan.jobs:
        recs = [replay.records.get((job.job_id, s.segment)) for s in job.segments]
        ran = [r for r in recs if r is not None]
        status = "pending"
        if ran:
            bad = [r for r in ran if r["status"] != "completed"]
            status = bad[0]["status"] if bad else ("completed" if len(ran) == len(recs) else "pending")
        first = ran[0] if ran else None
        start_wall = None
        if first is not None:
            start_wall = first["t_first_step"] if first["t_first_step"] is not None else first["t_dispatch"]
        end_wall = ran[-1]["t_end"] if ran and status != "pending" else None
        start_s = plan.trace_s(start_wall - t0) if start_wall is not None else math.nan
        end_s = plan.trace_s(end_wall - t0) if end_wall is not None else math.nan
        train_s = sum((r["t_end"] - r["t_first_step"]) for r in ran
                      if r["status"] == "completed" and r["t_first_step"] is not None)
        steps_done = sum(r["steps_done"] or 0 for r in ran)
        overheads = [r["t_first_step"] - r["t_ready"] for r in ran if r["t_first_step"] is not None]
        rows.append({
            "job_id": job.job_id, "status": status, "submit_s": job.submit_s, "start_s": start_s, "end_s": end_s,
            "wait_s": start_s - job.submit_s, "jct_s": end_s - job.submit_s,
            "predicted_start_s": job.predicted_start_s, "predicted_end_s": job.predicted_end_s,
            "predicted_jct_s": job.predicted_end_s - job.submit_s, "model": job.family, "size": job.size,
            "batch_size": job.batch_size, "num_devices": job.num_devices,
            "gpu_ids": ";".join(job.segments[0].gpu_ids), "segments": len(job.segments), "steps": job.steps,
            "steps_done": steps_done, "steps_per_s": steps_done / train_s if train_s > 0 else math.nan,
            "launch_overhead_s": overheads[0] if overheads else math.nan,
            "attempts": sum(int(r.get("attempt", 1)) for r in ran),
            "worker": first["worker"] if first is not None and first["worker"] is not None else "",
            "error": next((r["error"] for r in ran if r["error"]), ""),
        })
    return rows


def _write_outputs(replay: _Replay, t0: float, out_dir: Path, resumed: int, wall_s: float,
                   labels: dict[str, Any], runs: int) -> ExecResult:
    plan = replay.plan
    rows = job_rows(replay, t0)
    jobs = pa.Table.from_pylist(rows, schema=_jobs_schema())
    seg_rows: list[dict[str, Any]] = []
    for t in plan.tasks:
        rec = replay.records.get((t.job_id, t.segment))
        first = rec["t_first_step"] if rec is not None and rec["t_first_step"] is not None else None
        seg_rows.append({
            "job_id": t.job_id, "segment": t.segment, "status": rec["status"] if rec else (
                "dropped" if (t.job_id, t.segment) in replay.dropped else "pending"),
            "gpu_ids": ";".join(t.gpu_ids), "steps": t.steps,
            "predicted_start_s": t.start_s, "predicted_end_s": t.end_s,
            "start_s": plan.trace_s(first - t0) if first is not None else math.nan,
            "end_s": plan.trace_s(rec["t_end"] - t0) if rec is not None and rec["t_end"] is not None else math.nan,
            "launch_overhead_s": first - rec["t_ready"] if rec is not None and first is not None else math.nan,
            "checkpoint_s": rec["t_end"] - rec["t_trained"]
            if rec is not None and not t.last and rec.get("t_trained") is not None else math.nan,
            "error": rec["error"] if rec else "",
        })
    segments = pa.Table.from_pylist(seg_rows)
    write_table(jobs, out_dir / "jobs.csv", "csv")
    write_table(segments, out_dir / "segments.csv", "csv")
    counts: dict[str, int] = {}
    for r in rows:
        counts[r["status"]] = counts.get(r["status"], 0) + 1
    overheads = sorted(float(r["launch_overhead_s"]) for r in seg_rows if not math.isnan(r["launch_overhead_s"]))
    restarts = _restart_costs_s(seg_rows)
    restart_median = _median(restarts)
    notes = list(plan.notes)
    if restart_median is not None:
        notes.append(f"{len(restarts)} restart(s) cost a median {restart_median:.3f} s of wall time each (checkpoint, "
                     f"launch, weights), {restart_median / plan.time_scale:.4g} trace seconds: predict with "
                     f"`gpusched simulate --restart-overhead-s {restart_median / plan.time_scale:.4g}`")
    if resumed:
        notes.append(f"resumed: {resumed} segment(s) were already finished in {out_dir}; the clock is the first run's")
    doc = {
        **labels,
        "time_scale": plan.time_scale,
        "origin_s": plan.origin_s,
        "mode": replay.options.mode,
        "backend": replay.options.setup.backend,
        "reference_type": plan.reference_type,
        "devices": list(plan.gpu_ids),
        "jobs": len(rows),
        "counts": counts,
        "runs": runs,
        "resumed_segments": resumed,
        "launch_overhead_median_s": _median(overheads),
        "launch_overhead_p95_s": overheads[min(len(overheads) - 1, math.ceil(0.95 * len(overheads)) - 1)]
        if overheads else None,
        "restart_overhead_median_s": restart_median,
        "restart_overhead_trace_s": None if restart_median is None else restart_median / plan.time_scale,
        "wall_s": wall_s,
        "notes": notes,
    }
    write_json(doc, out_dir / "execute.json")
    return ExecResult(out_dir, jobs, segments, counts, resumed, wall_s, tuple(notes))


def _restart_costs_s(seg_rows: list[dict[str, Any]]) -> list[float]:
    """Wall seconds each restart cost: saving the checkpoint, then launching (and loading) the next segment."""
    costs = []
    by_job: dict[str, list[dict[str, Any]]] = {}
    for row in seg_rows:
        by_job.setdefault(row["job_id"], []).append(row)
    for rows in by_job.values():
        rows.sort(key=lambda r: r["segment"])
        for prev, row in zip(rows, rows[1:], strict=False):
            if not (math.isnan(prev["checkpoint_s"]) or math.isnan(row["launch_overhead_s"])):
                costs.append(prev["checkpoint_s"] + row["launch_overhead_s"])
    return sorted(costs)


def _median(values: list[float]) -> float | None:
    if not values:
        return None
    mid = len(values) // 2
    return values[mid] if len(values) % 2 else (values[mid - 1] + values[mid]) / 2


def _jobs_schema() -> pa.Schema:
    floats = {"submit_s", "start_s", "end_s", "wait_s", "jct_s", "predicted_start_s", "predicted_end_s",
              "predicted_jct_s", "steps_per_s", "launch_overhead_s"}
    ints = {"size", "batch_size", "num_devices", "segments", "steps", "steps_done", "attempts"}
    return pa.schema([(c, pa.float64() if c in floats else pa.int64() if c in ints else pa.string())
                      for c in JOB_COLUMNS])


def calibration_rows(jobs: pa.Table, gpu_type_of: Callable[[str], str]) -> list[dict[str, Any]]:
    """Replay rates per (GPU type, model, batch size, devices) over the completed jobs.

    `steps_per_s` is all their steps over all their training time, so long jobs (whose rates are
    steady) weigh most; `steps_per_s_std` is the spread of the per-job rates; `repeats` counts jobs.
    """
    groups: dict[tuple[str, str, int, int], list[tuple[int, float]]] = {}
    for row in jobs.to_pylist():
        rate = row["steps_per_s"]
        if row["status"] != "completed" or not (rate and math.isfinite(rate)) or not row["steps_done"]:
            continue
        first_gpu = row["gpu_ids"].split(";")[0]
        key = (gpu_type_of(first_gpu), row["model"], int(row["batch_size"]), int(row["num_devices"]))
        groups.setdefault(key, []).append((int(row["steps_done"]), float(rate)))
    out = []
    for (gpu_type, model, batch, k), found in sorted(groups.items()):
        steps = sum(n for n, _ in found)
        seconds = sum(n / r for n, r in found)
        rates = [r for _, r in found]
        mean = sum(rates) / len(rates)
        std = math.sqrt(sum((r - mean) ** 2 for r in rates) / (len(rates) - 1)) if len(rates) > 1 else 0.0
        out.append({"gpu_type": gpu_type, "model_name": model, "batch_size": batch, "num_devices": k,
                    "steps_per_s": steps / seconds, "steps_per_s_std": std, "repeats": len(found), "steps": steps})
    return out
