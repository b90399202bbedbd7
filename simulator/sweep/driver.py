"""`run_sweep`: run every run of a spec that is not on disk yet, then write the sweep's tables.

The driver owns the output folder (workers only compute): it takes the folder's lock,
removes half-written leftovers of an interrupted sweep, reads the workload once (so a
malformed trace is one `TraceError` before any run, not a hundred failed runs), skips
finished runs, retries failed ones unless told not to, writes each run's directory as its
output arrives, and at the end writes `runs.csv`, `summary.csv` (`simulator.sweep.summary`)
and `sweep.json` (the spec's text, its axes, run ids and counts), each atomically. These
are written from the run directories, so a sweep resumed after `kill -9` ends with the
same bytes as one that ran in one go.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pyarrow as pa

from simulator.results import write_json, write_table
from simulator.sweep.backends import Backend, SequentialBackend
from simulator.sweep.grid import RunConfig, expand
from simulator.sweep.runner import load_workload
from simulator.sweep.spec import SweepSpec
from simulator.sweep.store import TABLE_FORMATS, SweepStore
from simulator.sweep.summary import runs_table, summary_table
from traces.errors import UserError

SWEEP_FILE = "sweep.json"
RUNS_TABLE = "runs.csv"
SUMMARY_TABLE = "summary.csv"

# progress(done, failed, total): called once before the first run and after every run.
SweepProgress = Callable[[int, int, int], None]


@dataclass(frozen=True, slots=True)
class SweepOutcome:
    """How a sweep ended. `done` and `failed` count all runs of the spec (also those that
    finished in an earlier call, `before`); `ran` is how many ran in this call; `table` and
    `summary` are what runs.csv and summary.csv hold."""

    out_dir: Path
    runs: tuple[RunConfig, ...]
    done: int
    failed: int
    before: int
    ran: int
    failed_ids: tuple[str, ...]
    wall_s: float
    num_jobs: int
    runs_path: Path
    summary_path: Path
    table: pa.Table
    summary: pa.Table

    @property
    def total(self) -> int:
        return len(self.runs)


def run_sweep(
    spec: SweepSpec,
    out_dir: str | Path,
    backend: Backend | None = None,
    progress: SweepProgress | None = None,
    *,
    retry_failed: bool = True,
    table_format: str = "parquet",
) -> SweepOutcome:
    """Run what is missing under `out_dir` on `backend` (default: in this process) and write the tables."""
    t0 = time.perf_counter()
    if table_format not in TABLE_FORMATS:
        raise UserError(f"unknown table format {table_format!r}; expected one of {', '.join(TABLE_FORMATS)}")
    out = Path(out_dir)
    if out.exists() and not out.is_dir():
        raise UserError(f"{out}: --out must be a directory, but a file is there")
    backend = backend or SequentialBackend()
    runs = expand(spec)
    by_id = {r.run_id: r for r in runs}
    store = SweepStore(out)
    with store.locked():
        store.clean()
        # One read in the driver: a bad trace is one error now (for a synth spec: the first seed's draw).
        num_jobs = len(load_workload(runs[0].config["workload"], int(runs[0].config["seed"])))
        states = {r.run_id: store.state(r.run_id) for r in runs}
        todo = [r for r in runs if states[r.run_id] is None or (states[r.run_id] == "failed" and retry_failed)]
        done = sum(s == "done" for s in states.values())
        failed = sum(s == "failed" for s in states.values()) if not retry_failed else 0
        before = done
        _write_sweep_json(spec, runs, out, table_format, num_jobs, {"done": done, "failed": failed})
        if progress is not None:
            progress(done, failed, len(runs))
        for output in backend.run([r.config for r in todo]):
            store.write(by_id[output.run_id].config, output, table_format)
            if output.ok:
                done += 1
            else:
                failed += 1
            if progress is not None:
                progress(done, failed, len(runs))
        table = runs_table(runs, store)
        summary = summary_table(table)
        write_table(table, out / RUNS_TABLE, "csv")
        write_table(summary, out / SUMMARY_TABLE, "csv")
        statuses = table.column("status").to_pylist()
        counts = {s: statuses.count(s) for s in ("done", "failed", "pending")}
        _write_sweep_json(spec, runs, out, table_format, num_jobs, counts)
    failed_ids = tuple(r for r, s in zip(table.column("run_id").to_pylist(), statuses, strict=True) if s == "failed")
    return SweepOutcome(
        out_dir=out, runs=tuple(runs), done=counts["done"], failed=counts["failed"], before=before, ran=len(todo),
        failed_ids=failed_ids, wall_s=time.perf_counter() - t0, num_jobs=num_jobs,
        runs_path=out / RUNS_TABLE, summary_path=out / SUMMARY_TABLE, table=table, summary=summary,
    )


def _write_sweep_json(spec: SweepSpec, runs: list[RunConfig], out: Path, table_format: str, num_jobs: int,
                      counts: dict[str, int]) -> None:
    workload = spec.workload
    doc: dict[str, Any] = {
        "spec_file": spec.path.name,
        "spec_text": spec.text,
        "num_runs": len(runs),
        "counts": {**counts, "pending": len(runs) - counts.get("done", 0) - counts.get("failed", 0)},
        "axes": {
            "cluster": [c.label for c in spec.clusters],
            "load_scale": list(spec.load_scales),
            "policy": list(spec.policies),
            "placement": list(spec.placements),
            "admission": list(spec.admissions),
            "seed": list(spec.seeds),
        },
        "workload": {"kind": workload.kind, "files": [p.name for p in workload.paths],
                     "synth": None if workload.synth is None else workload.synth.name,
                     "max_jobs": workload.max_jobs, "num_jobs": num_jobs, "digest": workload.digest},
        "settings": {k: (v["digest"] if isinstance(v, dict) and "digest" in v else v)
                     for k, v in spec.settings.items()},
        "table_format": table_format,
        "tables": {"runs": RUNS_TABLE, "summary": SUMMARY_TABLE, "run_dir": "runs/<run_id>/"},
        "run_ids": [r.run_id for r in runs],
    }
    write_json(doc, out / SWEEP_FILE)
