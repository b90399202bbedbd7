"""A progress bar on stderr that appears only once a run has taken longer than a second.

Short runs (the sample trace, tests) print nothing; long ones (a million-job trace, a
slow policy) show how far the arrivals have got. `--progress` forces it on (also when
stderr is not a terminal, e.g. in CI logs), `--no-progress` off; by default it is on
when stderr is a terminal.
"""

from __future__ import annotations

import sys
import time
from types import TracebackType

from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TaskID, TextColumn, TimeElapsedColumn

DELAY_S = 1.0


class DelayedProgress:
    """`progress(done, total)` callback for `simulator.run.simulate`; use as a context manager."""

    def __init__(self, description: str, enabled: bool | None = None, delay_s: float = DELAY_S,
                 unit: str = "jobs submitted") -> None:
        console = Console(stderr=True)
        self._enabled = console.is_terminal if enabled is None else enabled
        self._console = console if enabled is None else Console(stderr=True, force_terminal=enabled)
        self._description = description
        self._unit = unit
        self._delay_s = delay_s
        self._t0 = time.perf_counter()
        self._bar: Progress | None = None
        self._task = TaskID(0)
        self.shown = False

    def __call__(self, done: int, total: int, note: str = "") -> None:
        """`note`: text after the elapsed time (e.g. a sweep's failed runs and ETA)."""
        if not self._enabled:
            return
        if self._bar is None:
            if time.perf_counter() - self._t0 < self._delay_s:
                return
            self._bar = Progress(
                TextColumn("{task.description}"),
                BarColumn(),
                MofNCompleteColumn(),
                TextColumn(self._unit),
                TimeElapsedColumn(),
                TextColumn("{task.fields[note]}"),
                console=self._console,
                transient=False,
            )
            self._bar.start()
            self._task = self._bar.add_task(self._description, total=total, completed=done, note=note)
            self.shown = True
        self._bar.update(self._task, completed=done, total=total, note=note)

    def __enter__(self) -> DelayedProgress:
        self._t0 = time.perf_counter()
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        if self._bar is not None:
            self._bar.stop()
            self._bar = None
        sys.stderr.flush()
