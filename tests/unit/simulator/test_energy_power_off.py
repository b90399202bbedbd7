"""Idle power-off and the two cost bases: hand-worked runs, the gap sweep, and properties."""

from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from simulator.cluster import Cluster
from simulator.gpu_catalog import GpuCatalog, GpuSpec
from simulator.metrics import ENERGY_METRICS, GPU_ON_HOURS, energy_cost_values, gpu_power_states, idle_gaps
from simulator.run import SimConfig, simulate
from traces.cluster import Node
from traces.errors import UserError
from traces.model import Job, Workload

H = 3600.0
# X: 0.3 kW busy, 0.05 kW idle, $2 per GPU-hour on demand, $26,280 to buy = $1 per hour over 3 years.
X = GpuSpec("X", busy_w=300, idle_w=50, price_per_gpu_h=2.0, purchase_usd=26280.0)
CATALOG = GpuCatalog((X, GpuSpec("NoPrice", busy_w=100, idle_w=10)))


def summary(jobs: list[Job], cluster: Cluster, **options: object) -> dict[str, float]:
    result = simulate(Workload.from_jobs(jobs), cluster, SimConfig(gpu_catalog=CATALOG, **options))  # type: ignore[arg-type]
    t = result.summary
    return dict(zip(t.column("metric").to_pylist(), t.column("value").to_pylist(), strict=True))


# One node of two X GPUs. a takes both for 1 h; b one GPU [3 h, 4 h); c the other [3.5 h, 5.5 h).
# Window [0, 5.5 h]. One GPU idles 2 h and 1.5 h, the other 2.5 h: 6 idle GPU-hours, 5 busy.
JOBS = [Job("a", 0.0, H, 2), Job("b", 3 * H, H, 1), Job("c", 3.5 * H, 2 * H, 1)]
NODE = Cluster((Node("n0", "X", 2, 16.0),))


def test_no_power_off_by_hand() -> None:
    s = summary(JOBS, NODE)
    assert s["makespan_s"] == 5.5 * H
    assert s["energy_busy_kwh"] == pytest.approx(5 * 0.3)
    assert s["energy_idle_kwh"] == pytest.approx(6 * 0.05)
    assert s["energy_kwh"] == pytest.approx(1.8)
    assert s[GPU_ON_HOURS] == pytest.approx(11.0)
    assert (s["cost_busy_usd"], s["cost_provisioned_usd"]) == pytest.approx((10.0, 22.0))
    assert s["cost_usd"] == s["cost_provisioned_usd"]


def test_power_off_after_timeout_by_hand() -> None:
    # Timeout 1.8 h: the 2 h gap idles 1.8 h (0.2 h off), the 1.5 h gap idles whole, the 2.5 h gap 1.8 h
    # (0.7 h off): 5.1 idle GPU-hours, 0.9 off, 10.1 on.
    s = summary(JOBS, NODE, idle_power_off_s=1.8 * H)
    assert s["energy_busy_kwh"] == pytest.approx(1.5)
    assert s["energy_idle_kwh"] == pytest.approx(5.1 * 0.05)
    assert s["energy_kwh"] == pytest.approx(1.755)
    assert s[GPU_ON_HOURS] == pytest.approx(10.1)
    assert (s["cost_busy_usd"], s["cost_provisioned_usd"], s["cost_usd"]) == pytest.approx((10.0, 20.2, 20.2))


def test_timeout_zero_leaves_only_busy_hours() -> None:
    s = summary(JOBS, NODE, idle_power_off_s=0.0)
    assert s["energy_idle_kwh"] == 0.0
    assert s[GPU_ON_HOURS] == pytest.approx(5.0)
    assert s["cost_provisioned_usd"] == pytest.approx(s["cost_busy_usd"]) == pytest.approx(10.0)


def test_purchase_basis_by_hand() -> None:
    # 2 GPUs x 5.5 h at $1/h amortised, plus $0.15 x 1.8 kWh.
    s = summary(JOBS, NODE, cost_basis="purchase")
    assert s["cost_usd"] == pytest.approx(11.0 + 0.15 * 1.8)
    assert s["cost_provisioned_usd"] == pytest.approx(22.0)  # the cloud figures stay for comparison
    # Power-off saves only electricity: the GPUs are bought either way.
    s = summary(JOBS, NODE, cost_basis="purchase", idle_power_off_s=1.8 * H)
    assert s["cost_usd"] == pytest.approx(11.0 + 0.15 * 1.755)
    # Written off over 1.5 years: $2 per GPU-hour; free electricity.
    s = summary(JOBS, NODE, cost_basis="purchase", amortise_years=1.5, electricity_usd_per_kwh=0.0)
    assert s["cost_usd"] == pytest.approx(22.0)


def test_missing_prices_null_only_what_they_price_with_a_note() -> None:
    cluster = Cluster((Node("n0", "NoPrice", 1, 16.0),))
    result = simulate(Workload.from_jobs([Job("a", 0.0, H, 1)]), cluster, SimConfig(gpu_catalog=CATALOG))
    s = dict(zip(result.summary.column("metric").to_pylist(), result.summary.column("value").to_pylist(),
                 strict=True))
    assert s["energy_kwh"] == pytest.approx(0.1) and s[GPU_ON_HOURS] == pytest.approx(1.0)
    assert all(math.isnan(s[m]) for m in ("cost_busy_usd", "cost_provisioned_usd", "cost_usd"))
    assert ("the GPU catalog has no cloud price (price_per_gpu_h) for GPU type NoPrice; cost_busy_usd, "
            "cost_provisioned_usd, cost_usd are null (give it in a GPU catalog file, or use cost basis purchase)"
            in result.notes)
    config = SimConfig(gpu_catalog=CATALOG, cost_basis="purchase")
    notes = simulate(Workload.from_jobs([Job("a", 0.0, H, 1)]), cluster, config).notes
    assert ("the GPU catalog has no purchase price (purchase_usd) for GPU type NoPrice; cost_usd is null "
            "(give it in a GPU catalog file)") in notes


def test_unknown_type_keeps_gpu_on_hours() -> None:
    s = summary([Job("a", 0.0, H, 1)], Cluster((Node("n0", "G9", 2, 16.0),)), idle_power_off_s=0.0)
    assert all(math.isnan(s[m]) for m in ENERGY_METRICS)
    assert s[GPU_ON_HOURS] == pytest.approx(1.0)


def test_power_off_note_says_switching_on_is_free() -> None:
    result = simulate(Workload.from_jobs(JOBS), NODE, SimConfig(gpu_catalog=CATALOG, idle_power_off_s=600))
    assert ("a GPU idle for 600 s was switched off until its next job; switching it back on is taken as "
            "instant and free") in result.notes


@pytest.mark.parametrize(
    ("options", "message"),
    [
        ({"idle_power_off_s": -1.0}, "idle_power_off_s must be a finite number >= 0, got -1.0"),
        ({"idle_power_off_s": math.inf}, "idle_power_off_s must be a finite number >= 0, got inf"),
        ({"cost_basis": "lease"}, "cost_basis must be one of cloud, purchase, got 'lease'"),
        ({"amortise_years": 0.0}, "amortise_years must be a finite number > 0, got 0.0"),
        ({"electricity_usd_per_kwh": -0.1}, "electricity_usd_per_kwh must be a finite number >= 0, got -0.1"),
        ({"electricity_usd_per_kwh": "cheap"}, "electricity_usd_per_kwh must be a finite number >= 0, got 'cheap'"),
    ],
)
def test_config_rejects_bad_energy_settings(options: dict[str, object], message: str) -> None:
    with pytest.raises(UserError) as info:
        SimConfig(**options)  # type: ignore[arg-type]
    assert str(info.value) == message


# ----- the gap sweep ----------------------------------------------------------------------


def test_idle_gaps_merge_clip_and_cover_untouched_gpus() -> None:
    # GPU 0: [1, 3) and [2, 4) overlap, [4, 5) touches, [7, 20) runs past the window [0, 10].
    # GPU 1: nothing. GPU 2: [-5, -1) lies before the window, [6, 6) is empty, [8, 9).
    gpu = np.array([0, 0, 0, 0, 2, 2, 2])
    start = np.array([2.0, 1.0, 4.0, 7.0, -5.0, 6.0, 8.0])
    end = np.array([4.0, 3.0, 5.0, 20.0, -1.0, 6.0, 9.0])
    g, gap = idle_gaps(gpu, start, end, 3, 0.0, 10.0)
    got = sorted(zip(g.tolist(), gap.tolist(), strict=True))
    assert got == [(0, 1.0), (0, 2.0), (1, 10.0), (2, 1.0), (2, 8.0)]
    g, gap = idle_gaps(np.empty(0, np.int64), np.empty(0), np.empty(0), 2, 5.0, 5.0)
    assert len(g) == len(gap) == 0  # an empty window has no gaps


def test_down_time_bounds_idle_gaps() -> None:
    # Node 0 (GPUs 0, 1) down [4, 6); GPU 0 busy [0, 2); window [0, 10], timeout 1.
    # GPU 0 gaps: [2, 4) 2 s -> 1 idle, 1 off; [6, 10) 4 s -> 1 idle, 3 off.
    # GPU 1 gaps: [0, 4) -> 1 idle, 3 off; [6, 10) -> 1 idle, 3 off. GPU 2 (node 1): [0, 10) -> 1, 9.
    states = gpu_power_states([2, 1], np.array([0.0]), np.array([2.0]), ((0,),), [(0, 4.0, 6.0)], 0.0, 10.0, 1.0)
    assert states.busy_s.tolist() == [2.0, 0.0, 0.0]
    assert states.down_s.tolist() == [2.0, 2.0, 0.0]
    assert states.idle_s.tolist() == [2.0, 2.0, 1.0]
    assert states.off_s.tolist() == [4.0, 6.0, 9.0]
    assert states.on_s.tolist() == [6.0, 4.0, 1.0]  # down time stays billed, as before
    values, notes = energy_cost_values(["X", "X", "X"], states, CATALOG)
    assert notes == ()
    assert values["energy_idle_kwh"] == pytest.approx(5 * 50 / 3.6e6)
    assert values["cost_provisioned_usd"] == pytest.approx(11 / 3600 * 2.0)


def test_no_job_ran_gives_nan_states() -> None:
    states = gpu_power_states([1], np.empty(0), np.empty(0), (), [], math.nan, math.nan, 5.0)
    assert math.isnan(states.window_s) and math.isnan(float(states.idle_s[0]))
    values, _ = energy_cost_values(["X"], states, CATALOG)
    assert all(math.isnan(v) for v in values.values())


# ----- properties -------------------------------------------------------------------------

job_rows = st.lists(
    st.tuples(st.integers(0, 20_000), st.integers(1, 5_000), st.integers(1, 2)), min_size=1, max_size=8
)


@settings(max_examples=40, deadline=None)
@given(rows=job_rows, timeout_s=st.floats(0.0, 30_000.0), basis=st.sampled_from(["cloud", "purchase"]),
       failures=st.booleans())
def test_power_off_never_costs_more(rows: list[tuple[int, int, int]], timeout_s: float, basis: str,
                                    failures: bool) -> None:
    jobs = [Job(f"j{i}", float(t), float(d), n) for i, (t, d, n) in enumerate(rows)]
    cluster = Cluster.uniform(2, 2, gpu_type="X")
    common = {"cost_basis": basis, "node_mtbf_s": 4000.0 if failures else None, "node_mttr_s": 500.0, "seed": 3}
    on = summary(jobs, cluster, **common)
    off = summary(jobs, cluster, idle_power_off_s=timeout_s, **common)
    eps = 1e-9
    assert off["energy_busy_kwh"] == pytest.approx(on["energy_busy_kwh"])  # the schedule is the same
    for metric in ("energy_kwh", "energy_idle_kwh", "cost_provisioned_usd", "cost_usd", GPU_ON_HOURS):
        assert off[metric] <= on[metric] + eps, metric
    assert off[GPU_ON_HOURS] * H >= off["energy_busy_kwh"] / 0.3 * H - 1e-6  # busy hours are always on
    zero = summary(jobs, cluster, idle_power_off_s=0.0, **common)
    assert zero["energy_idle_kwh"] == 0.0
    never = summary(jobs, cluster, idle_power_off_s=on["makespan_s"], **common)
    assert {m: never[m] for m in (*ENERGY_METRICS, GPU_ON_HOURS)} == {m: on[m] for m in (*ENERGY_METRICS, GPU_ON_HOURS)}


@settings(max_examples=60, deadline=None)
@given(
    segs=st.lists(st.tuples(st.integers(0, 3), st.floats(-10.0, 110.0), st.floats(0.0, 50.0)), max_size=12),
    downs=st.lists(st.tuples(st.integers(0, 1), st.floats(-10.0, 110.0), st.floats(0.0, 50.0)), max_size=3),
    timeout_s=st.one_of(st.none(), st.floats(0.0, 150.0)),
)
def test_states_add_up_to_the_window(segs: list[tuple[int, float, float]], downs: list[tuple[int, float, float]],
                                     timeout_s: float | None) -> None:
    # Two nodes of two GPUs, window [0, 100]; segments may overlap each other (not real runs,
    # but the sweep must still count each second once).
    start = np.array([s for _, s, _ in segs])
    end = np.array([s + d for _, s, d in segs])
    clipped = [(g, max(s, 0.0), min(s + d, 100.0)) for g, s, d in segs]
    states = gpu_power_states([2, 2], np.clip(start, 0, 100), np.clip(end, 0, 100), [(g,) for g, _, _ in segs],
                              [(n, s, s + d) for n, s, d in downs], 0.0, 100.0, timeout_s)
    covered = states.busy_s + states.idle_s + states.off_s
    assert np.all(states.idle_s >= 0) and np.all(states.off_s >= 0)
    if not downs:
        assert covered == pytest.approx(np.full(4, 100.0))
        if timeout_s is None:
            assert np.all(states.off_s == 0)
        assert all(states.busy_s[g] > 0 for g, s, e in clipped if e > s)
    else:  # busy and down can overlap here; idle and off fill exactly what neither covers
        assert np.all(covered + states.down_s >= 100.0 - 1e-9)
