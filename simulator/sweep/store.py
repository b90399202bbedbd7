"""A sweep's output folder: one directory per run, written atomically, and a lock.

    DIR/sweep.lock              held (flock) while a sweep writes to DIR
    DIR/runs/<run_id>/          a finished run: config.json, summary.json, jobs.<fmt>, timeline.<fmt>
    DIR/runs/<run_id>/          a failed run: error.json only (config, type, message, traceback)

A run's files are written into a hidden temporary directory next to the others and then
renamed into place, so a run directory either is complete or does not exist: a sweep
killed at any moment (kill -9 included) leaves every finished run intact and at worst a
`.tmp-*` directory, which the next sweep removes. A finished run is never rewritten; a
failed run is replaced when it is retried. The lock is an advisory `flock`, which the
kernel drops when its process dies, so a killed sweep never leaves a stale lock behind.
"""

from __future__ import annotations

import fcntl
import json
import os
import shutil
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from simulator.results import write_json, write_table
from simulator.sweep.runner import RunOutput, from_ipc
from traces.errors import UserError

RUNS_DIR = "runs"
LOCK_FILE = "sweep.lock"
CONFIG_FILE = "config.json"
SUMMARY_FILE = "summary.json"
ERROR_FILE = "error.json"
RUN_TABLES = ("jobs", "timeline")
TABLE_FORMATS = ("parquet", "csv")
_TMP_PREFIX = ".tmp-"
_OLD_PREFIX = ".old-"


class SweepStore:
    """Reads and writes the runs under `out_dir`; write only while holding `locked()`."""

    def __init__(self, out_dir: str | os.PathLike[str]) -> None:
        self.out_dir = Path(out_dir)
        self.runs_dir = self.out_dir / RUNS_DIR

    def run_dir(self, run_id: str) -> Path:
        return self.runs_dir / run_id

    @contextmanager
    def locked(self) -> Iterator[None]:
        """Hold the folder's lock; `UserError` when another live sweep holds it."""
        self.out_dir.mkdir(parents=True, exist_ok=True)
        path = self.out_dir / LOCK_FILE
        while True:
            fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except OSError:
                holder = _read_pid(fd)
                os.close(fd)
                who = f" (pid {holder})" if holder else ""
                raise UserError(f"{self.out_dir}: another sweep{who} is writing to this folder; "
                                "wait for it to finish or give another --out") from None
            # The holder before us may have removed the file after we opened it: lock the file that is there.
            try:
                same = os.stat(path).st_ino == os.fstat(fd).st_ino
            except FileNotFoundError:
                same = False
            if same:
                break
            os.close(fd)
        try:
            os.ftruncate(fd, 0)
            os.write(fd, f"{os.getpid()}\n".encode())
            yield
        finally:
            path.unlink(missing_ok=True)
            os.close(fd)

    def clean(self) -> None:
        """Remove what an interrupted sweep left half-written (temporary and replaced run dirs)."""
        if not self.runs_dir.is_dir():
            return
        for entry in self.runs_dir.iterdir():
            if entry.name.startswith((_TMP_PREFIX, _OLD_PREFIX)) and entry.is_dir():
                shutil.rmtree(entry, ignore_errors=True)

    def state(self, run_id: str) -> str | None:
        """"done", "failed" or None (not run yet)."""
        d = self.run_dir(run_id)
        if (d / SUMMARY_FILE).is_file():
            return "done"
        if (d / ERROR_FILE).is_file():
            return "failed"
        return None

    def summary(self, run_id: str) -> dict[str, Any]:
        data: dict[str, Any] = json.loads((self.run_dir(run_id) / SUMMARY_FILE).read_text(encoding="utf-8"))
        return data

    def error(self, run_id: str) -> dict[str, Any]:
        data: dict[str, Any] = json.loads((self.run_dir(run_id) / ERROR_FILE).read_text(encoding="utf-8"))
        return data

    def write(self, config: dict[str, Any], output: RunOutput, table_format: str = "parquet") -> Path:
        """Write one run's directory atomically (replacing a failed run's); returns its path."""
        if table_format not in TABLE_FORMATS:
            raise UserError(f"unknown table format {table_format!r}; expected one of {', '.join(TABLE_FORMATS)}")
        run_id = output.run_id
        self.runs_dir.mkdir(parents=True, exist_ok=True)
        tmp = Path(tempfile.mkdtemp(prefix=f"{_TMP_PREFIX}{run_id}-", dir=self.runs_dir))
        try:
            if output.error is not None:
                write_json({"run_id": run_id, "config": config, **output.error, "wall_s": round(output.wall_s, 6)},
                           tmp / ERROR_FILE)
            else:
                write_json(config, tmp / CONFIG_FILE)
                for name, data in zip(RUN_TABLES, (output.jobs_ipc, output.timeline_ipc), strict=True):
                    write_table(from_ipc(data), tmp / f"{name}.{table_format}", table_format)
                write_json(output.summary, tmp / SUMMARY_FILE)  # last: its presence marks the run done
            final = self.run_dir(run_id)
            old = None
            if final.exists():
                old = Path(tempfile.mkdtemp(prefix=f"{_OLD_PREFIX}{run_id}-", dir=self.runs_dir))
                os.replace(final, old / run_id)
            os.replace(tmp, final)
        except BaseException:
            shutil.rmtree(tmp, ignore_errors=True)
            raise
        if old is not None:
            shutil.rmtree(old, ignore_errors=True)
        return final


def _read_pid(fd: int) -> str:
    try:
        return os.pread(fd, 32, 0).decode("ascii", "replace").strip()
    except OSError:
        return ""
