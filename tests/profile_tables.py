"""Profile tables for executor tests: hand-set rates, so a test controls how many steps a job trains."""

from __future__ import annotations

from executor.models import FAMILIES
from executor.profile import ProfileRow, ProfileTable


def profile_table(*entries: tuple[str, str, int, int, float]) -> ProfileTable:
    """A table from (gpu_type, model, batch_size, num_devices, steps_per_s) entries."""
    return ProfileTable(tuple(
        ProfileRow(gpu_type=t, model_name=m, batch_size=b, num_devices=k, steps_per_s=r, steps_per_s_std=0.0,
                   repeats=3, steps=10, warmup_steps=1, size=1, device_name="/device:CPU:0", device_mem_gib=None,
                   backend="tensorflow", precision="float32")
        for t, m, b, k, r in entries
    ))


def flat_profile(rate: float, gpu_type: str = "CPU", batch_size: int = 32) -> ProfileTable:
    """Every model family at the same single-device rate."""
    return profile_table(*((gpu_type, f, batch_size, 1, rate) for f in FAMILIES))
