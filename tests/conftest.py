"""Shared test set-up: hypothesis profiles and paths to the shared traces."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, settings

settings.register_profile(
    "ci", derandomize=True, deadline=None, max_examples=60, suppress_health_check=[HealthCheck.too_slow]
)
settings.register_profile("dev", deadline=None, max_examples=30)
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "ci"))

REPO = Path(__file__).resolve().parent.parent
# Real public traces (not shipped): ../shared/traces next to the checkout, or $GPUSCHED_SHARED_TRACES.
def _find_shared() -> Path:
    env = os.environ.get("GPUSCHED_SHARED_TRACES")
    if env:
        return Path(env)
    for cand in (REPO.parent / "shared" / "traces", Path("/work/shared/traces")):
        if cand.is_dir():
            return cand
    return REPO.parent / "shared" / "traces"


SHARED_TRACES = _find_shared()


@pytest.fixture(scope="session")
def shared_traces() -> Path:
    if not SHARED_TRACES.is_dir():
        pytest.skip(f"shared traces not found at {SHARED_TRACES} (set GPUSCHED_SHARED_TRACES)")
    return SHARED_TRACES


@pytest.fixture(scope="session")
def ray_local():  # type: ignore[no-untyped-def]
    """One real local Ray runtime per test session (starting one costs ~4 s and ~0.5 GiB), on loopback."""
    ray = pytest.importorskip("ray", reason="needs Ray (pip install 'gpusched[ray]')")
    started = False
    if not ray.is_initialized():
        ray.init(address="local", num_cpus=2, include_dashboard=False, _node_ip_address="127.0.0.1",
                 log_to_driver=False, configure_logging=False)
        started = True
    yield ray
    if started:
        ray.shutdown()


@pytest.fixture(autouse=True)
def _keep_cpu_affinity():  # type: ignore[no-untyped-def]
    """Commands run in-process (CliRunner) may pin the process to a core, as `gpusched profile` does; undo it."""
    before = os.sched_getaffinity(0) if hasattr(os, "sched_getaffinity") else None
    yield
    if before is not None and os.sched_getaffinity(0) != before:
        for tid in os.listdir("/proc/self/task"):
            try:
                os.sched_setaffinity(int(tid), before)
            except OSError:
                pass


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    """A real headless Chromium (tests/browser.py); skipped where it is not installed, unless CI asks for it."""
    from browser import launch_browser

    yield from launch_browser()
