"""The delayed progress bar: silent for short runs, a real bar on stderr once the delay passed."""

from __future__ import annotations

import pytest

from executor.cli.progress import DelayedProgress
from simulator.cluster import Cluster
from simulator.run import SimConfig, simulate
from traces.model import Job, Workload


def _workload(n: int) -> Workload:
    return Workload.from_jobs([Job(f"j{i}", float(i), 5.0, 1) for i in range(n)])


def test_a_forced_bar_reports_every_arrival_step_and_the_end(capsys: pytest.CaptureFixture[str]) -> None:
    seen: list[tuple[int, int]] = []
    with DelayedProgress("fcfs/pack", enabled=True, delay_s=0.0) as bar:

        def record(done: int, total: int) -> None:
            seen.append((done, total))
            bar(done, total)

        simulate(_workload(1000), Cluster.uniform(1, 2), SimConfig("fcfs"), progress=record)
    assert bar.shown
    assert seen[-1] == (1000, 1000)
    dones = [d for d, _ in seen]
    assert dones == sorted(dones) and len(seen) >= 100  # about every 1/200 of the arrivals
    err = capsys.readouterr().err
    assert "fcfs/pack" in err and "1000/1000" in err


def test_short_runs_and_disabled_bars_print_nothing(capsys: pytest.CaptureFixture[str]) -> None:
    with DelayedProgress("fcfs/pack", enabled=True, delay_s=3600.0) as slow:
        simulate(_workload(50), Cluster.uniform(1, 2), SimConfig("fcfs"), progress=slow)
    with DelayedProgress("fcfs/pack", enabled=False, delay_s=0.0) as off:
        simulate(_workload(50), Cluster.uniform(1, 2), SimConfig("fcfs"), progress=off)
    assert not slow.shown and not off.shown
    assert capsys.readouterr().err == ""
