"""Profiling under load: processes pinned one per core measure in lock-step; rows merge per key."""

from __future__ import annotations

from pathlib import Path

import pytest

from executor.devices import DeviceSetup, usable_cores
from executor.profile import ProfileConfig, ProfileRow
from executor.profile_concurrent import merge_concurrent, profile_concurrently
from traces.errors import UserError


def row(rate: float, std: float, k: int = 1, repeats: int = 5) -> ProfileRow:
    return ProfileRow(gpu_type="CPU", model_name="mlp", batch_size=32, num_devices=k, steps_per_s=rate,
                      steps_per_s_std=std, repeats=repeats, steps=50, warmup_steps=5, size=1,
                      device_name="/device:CPU:0" if k == 1 else "/device:CPU:0;/device:CPU:1", device_mem_gib=None,
                      backend="tensorflow", precision="float32")


def test_merge_takes_the_median_and_pools_the_spread() -> None:
    merged = merge_concurrent([[row(100.0, 3.0), row(40.0, 1.0, k=2)], [row(90.0, 4.0)], [row(96.0, 5.0)]], 3)
    single, gang = merged
    assert single.steps_per_s == 96.0 and single.repeats == 15
    # within: mean of 9, 16, 25; between: variance of 100, 90, 96
    assert single.steps_per_s_std == pytest.approx((50 / 3 + 25.333333333333332) ** 0.5)
    assert single.device_name == "/device:CPU:0 x3 of 3 concurrent"
    assert (gang.steps_per_s, gang.steps_per_s_std, gang.repeats) == (40.0, 1.0, 5)
    assert gang.device_name == "/device:CPU:0;/device:CPU:1 x1 of 3 concurrent"


def test_more_processes_than_cores_is_refused(tmp_path: Path) -> None:
    config = ProfileConfig(models=("mlp",))
    with pytest.raises(UserError, match="--concurrent"):
        profile_concurrently(config, DeviceSetup(threads=1), len(usable_cores()) + 1, cache_dir=tmp_path)
    with pytest.raises(UserError, match="expected 2 or more"):
        profile_concurrently(config, DeviceSetup(threads=1), 1, cache_dir=tmp_path)


@pytest.mark.slow
@pytest.mark.skipif(len(usable_cores()) < 2, reason="needs 2 CPU cores")
def test_two_pinned_processes_measure_singles_together_and_a_gang_alone(tmp_path: Path) -> None:
    config = ProfileConfig(models=("mlp",), gang_sizes=(1, 2), steps=3, repeats=2, warmup_steps=1)
    seen: list[int] = []
    rows = profile_concurrently(config, DeviceSetup(logical_cpus=2, threads=1), 2, cache_dir=tmp_path,
                                progress=lambda done, total, label: seen.append(done))
    by_k = {r.num_devices: r for r in rows}
    assert by_k[1].repeats == 4 and by_k[1].device_name == "/device:CPU:0 x2 of 2 concurrent"
    assert by_k[2].repeats == 2 and by_k[2].device_name == "/device:CPU:0;/device:CPU:1 x1 of 2 concurrent"
    assert all(r.steps_per_s > 0 for r in rows) and seen and max(seen) == 4


@pytest.mark.slow
@pytest.mark.skipif(len(usable_cores()) < 2, reason="needs 2 CPU cores")
def test_a_failing_process_is_reported_not_hung(tmp_path: Path) -> None:
    config = ProfileConfig(models=("mlp",), gang_sizes=(3,), steps=2, repeats=1, warmup_steps=0)
    with pytest.raises(UserError, match=r"concurrent profiling failed: UserError: a gang of 3 devices"):
        profile_concurrently(config, DeviceSetup(logical_cpus=2, threads=1), 2, cache_dir=tmp_path)
