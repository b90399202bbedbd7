"""Synthetic workload generator: seeding, arrival statistics, offered load, resampling, TOML specs."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pytest

from traces.errors import TraceError, UserError
from traces.model import Job, Workload
from traces.synth import (
    ArrivalProcess,
    DurationDist,
    SpecError,
    SynthSpec,
    generate,
    parse_gpu_counts,
)

GPUS = ((1, 0.7), (2, 0.1), (4, 0.1), (8, 0.1))
DAY_S = 86400.0


def rng(seed: int = 0) -> np.random.Generator:
    return np.random.default_rng(seed)


def same_workload(a: Workload, b: Workload) -> bool:
    return (
        a.job_id.tolist() == b.job_id.tolist()
        and np.array_equal(a.submit_s, b.submit_s)
        and np.array_equal(a.duration_s, b.duration_s)
        and np.array_equal(a.num_gpus, b.num_gpus)
        and np.array_equal(a.gpu_frac, b.gpu_frac)
        and a.user.values() == b.user.values()
    )


def ks_statistic(sample: np.ndarray, cdf) -> float:
    """Two-sided Kolmogorov-Smirnov distance between a sample and a continuous CDF."""
    x = np.sort(sample)
    n = len(x)
    f = cdf(x)
    i = np.arange(1, n + 1)
    return float(max(np.max(i / n - f), np.max(f - (i - 1) / n)))


def source_workload() -> Workload:
    """A tiny 'real' trace where duration and GPU count are strongly correlated."""
    pairs = [(30.0, 1, 1.0), (45.0, 1, 0.5), (600.0, 2, 1.0), (3600.0, 4, 1.0), (86400.0, 8, 1.0)]
    return Workload.from_jobs(
        Job(f"src-{i}", float(i), d, g, gpu_frac=f) for i, (d, g, f) in enumerate(pairs * 3)
    )


# ----- seeding -----------------------------------------------------------
def test_same_seed_gives_identical_workload_and_different_seed_differs() -> None:
    spec = SynthSpec(
        num_jobs=5000, arrival="diurnal", peak_to_trough=4.0, rate_per_s=0.05,
        duration="lognormal", median_duration_s=300.0, duration_sigma=1.2, gpu_counts=GPUS, num_users=20,
    )
    a, b, c = generate(spec, rng(7)), generate(spec, rng(7)), generate(spec, rng(8))
    assert same_workload(a, b)
    assert not np.array_equal(a.submit_s, c.submit_s)
    assert not np.array_equal(a.duration_s, c.duration_s)
    assert not np.array_equal(a.num_gpus, c.num_gpus)
    assert a.user.values() != c.user.values()


def test_job_ids_are_zero_padded_in_arrival_order() -> None:
    wl = generate(SynthSpec(num_jobs=12, rate_per_s=1.0, mean_duration_s=10.0), rng())
    assert wl.job_id.tolist() == [f"synth-{i:06d}" for i in range(12)]
    assert np.all(np.diff(wl.submit_s) > 0)


def test_streams_are_independent_of_other_parameters() -> None:
    base = dict(num_jobs=3000, rate_per_s=0.2, mean_duration_s=100.0)
    ref = generate(SynthSpec(**base), rng(3))
    other_durations = generate(
        SynthSpec(**{**base, "mean_duration_s": None}, duration="lognormal", median_duration_s=50.0,
                  duration_sigma=2.0, gpu_counts=GPUS, num_users=9),
        rng(3),
    )
    assert np.array_equal(ref.submit_s, other_durations.submit_s)
    assert not np.array_equal(ref.duration_s, other_durations.duration_s)

    gpus_a = generate(SynthSpec(**base, gpu_counts=GPUS), rng(3))
    gpus_b = generate(SynthSpec(**base, gpu_counts=((1, 0.5), (16, 0.5)), num_users=4), rng(3))
    assert np.array_equal(gpus_a.submit_s, gpus_b.submit_s)
    assert np.array_equal(gpus_a.duration_s, gpus_b.duration_s)
    assert not np.array_equal(gpus_a.num_gpus, gpus_b.num_gpus)


# ----- Poisson arrivals and offered load -----------------------------------
def test_poisson_inter_arrivals_are_exponential() -> None:
    rate = 0.25
    wl = generate(SynthSpec(num_jobs=100_000, rate_per_s=rate, mean_duration_s=60.0), rng(11))
    gaps = np.diff(np.concatenate(([0.0], wl.submit_s)))
    mean = gaps.mean()
    assert mean == pytest.approx(1 / rate, rel=0.015)  # ~5 standard errors
    assert gaps.std() / mean == pytest.approx(1.0, abs=0.02)
    d = ks_statistic(gaps, lambda x: 1 - np.exp(-rate * x))
    assert d < 1.63 / math.sqrt(len(gaps))  # KS critical value at the 1% level
    # The test has teeth: a wrong rate is rejected by the same check.
    assert ks_statistic(gaps, lambda x: 1 - np.exp(-1.05 * rate * x)) > 1.63 / math.sqrt(len(gaps))


def test_exponential_and_lognormal_durations_have_their_parameters() -> None:
    exp = generate(SynthSpec(num_jobs=100_000, rate_per_s=1.0, mean_duration_s=500.0), rng(4))
    assert exp.duration_s.mean() == pytest.approx(500.0, rel=0.015)
    logn = generate(
        SynthSpec(num_jobs=100_000, rate_per_s=1.0, duration="lognormal", median_duration_s=200.0,
                  duration_sigma=0.8),
        rng(4),
    )
    logs = np.log(logn.duration_s)
    assert math.exp(np.median(logs)) == pytest.approx(200.0, rel=0.02)
    assert logs.std() == pytest.approx(0.8, rel=0.02)


def test_load_formula_is_exact() -> None:
    spec = SynthSpec(num_jobs=10, load=0.8, cluster_gpus=64, mean_duration_s=1800.0, gpu_counts=GPUS)
    mean_gpus = 1 * 0.7 + 2 * 0.1 + 4 * 0.1 + 8 * 0.1
    assert spec.mean_gpu_s() == pytest.approx(1800.0 * mean_gpus)
    assert spec.arrival_rate_per_s() == pytest.approx(0.8 * 64 / (1800.0 * mean_gpus))
    logn = SynthSpec(num_jobs=10, load=0.5, cluster_gpus=8, duration="lognormal", median_duration_s=100.0,
                     duration_sigma=1.0)
    assert logn.mean_gpu_s() == pytest.approx(100.0 * math.exp(0.5))
    assert SynthSpec(num_jobs=10, rate_per_s=0.3, mean_duration_s=5.0).arrival_rate_per_s() == 0.3


@pytest.mark.parametrize("arrival", ["poisson", "diurnal"])
def test_offered_load_of_a_large_sample_matches_the_request(arrival: str) -> None:
    spec = SynthSpec(
        num_jobs=200_000, arrival=arrival, peak_to_trough=3.0 if arrival == "diurnal" else None,
        load=0.7, cluster_gpus=64, mean_duration_s=1200.0, gpu_counts=GPUS,
    )
    wl = generate(spec, rng(5))
    assert wl.offered_load(64) == pytest.approx(0.7, rel=0.02)


def test_gpu_count_probabilities() -> None:
    n = 100_000
    wl = generate(SynthSpec(num_jobs=n, rate_per_s=1.0, mean_duration_s=1.0, gpu_counts=GPUS), rng(6))
    assert set(np.unique(wl.num_gpus).tolist()) == {1, 2, 4, 8}
    for count, p in GPUS:
        observed = np.count_nonzero(wl.num_gpus == count)
        assert abs(observed - n * p) < 4 * math.sqrt(n * p * (1 - p)), count
    assert np.all(wl.gpu_frac == 1.0)


def test_users_follow_a_zipf_like_skew() -> None:
    n = 100_000
    wl = generate(SynthSpec(num_jobs=n, rate_per_s=1.0, mean_duration_s=1.0, num_users=10, user_skew=1.0),
                  rng(9))
    assert wl.user.categories == tuple(f"user-{k:03d}" for k in range(10))
    counts = np.bincount(wl.user.codes, minlength=10)
    expected = n * (1 / np.arange(1, 11)) / np.sum(1 / np.arange(1, 11))
    assert np.all(np.abs(counts - expected) < 4 * np.sqrt(expected))
    assert generate(SynthSpec(num_jobs=5, rate_per_s=1.0, mean_duration_s=1.0), rng()).user.values() == [None] * 5


# ----- diurnal arrivals --------------------------------------------------------
def hour_integrals(amplitude: float, phase_rad: float) -> np.ndarray:
    """Expected share of a day's arrivals in each hour: the rate integrated over the hour."""
    w = 2 * math.pi / DAY_S
    edges = np.arange(25) * 3600.0
    cum = edges + amplitude / w * (math.cos(phase_rad) - np.cos(w * edges + phase_rad))
    return np.diff(cum) / DAY_S


@pytest.mark.parametrize("phase_rad", [0.0, 2.0])
def test_diurnal_arrivals_per_hour_follow_the_sinusoid(phase_rad: float) -> None:
    ratio = 3.0
    amplitude = (ratio - 1) / (ratio + 1)
    spec = SynthSpec(num_jobs=200_000, arrival="diurnal", peak_to_trough=ratio, phase_rad=phase_rad,
                     rate_per_s=200_000 / (20 * DAY_S), mean_duration_s=60.0)
    assert spec.diurnal_amplitude == pytest.approx(amplitude)
    t = generate(spec, rng(12)).submit_s
    t = t[t < math.floor(t[-1] / DAY_S) * DAY_S]  # whole days only
    counts = np.bincount((t % DAY_S // 3600).astype(int), minlength=24)
    share = hour_integrals(amplitude, phase_rad)
    expected = len(t) * share
    assert np.all(np.abs(counts - expected) < 5 * np.sqrt(expected))
    peak, trough = int(np.argmax(share)), int(np.argmin(share))
    assert counts[peak] / counts[trough] == pytest.approx(share[peak] / share[trough], rel=0.06)
    # The hour-level ratio is a little under the instantaneous peak/trough ratio.
    assert 2.8 < share[peak] / share[trough] < ratio


def test_diurnal_arrivals_are_the_time_rescaled_unit_poisson_points() -> None:
    """Lambda(t_k) / base must equal the k-th unit-rate point: checks the inversion exactly."""
    spec = SynthSpec(num_jobs=50_000, arrival="diurnal", peak_to_trough=50.0, period_s=3600.0,
                     phase_rad=-1.0, rate_per_s=2.0, mean_duration_s=5.0)
    t = generate(spec, rng(21)).submit_s
    unit = np.cumsum(rng(21).spawn(4)[0].standard_exponential(spec.num_jobs)) / 2.0
    a, w = spec.diurnal_amplitude, 2 * math.pi / 3600.0
    cumulative = t + a / w * (math.cos(-1.0) - np.cos(w * t - 1.0))
    assert np.allclose(cumulative, unit, rtol=0, atol=1e-6)
    # Poisson and diurnal arrivals warp the same unit-rate points.
    flat = generate(SynthSpec(num_jobs=50_000, rate_per_s=2.0, mean_duration_s=5.0), rng(21)).submit_s
    assert np.allclose(flat, unit)


# ----- resampling ----------------------------------------------------------------
def test_joint_resampling_keeps_duration_gpu_pairs() -> None:
    src = source_workload()
    spec = SynthSpec(num_jobs=20_000, rate_per_s=1.0, duration="resample", gpu_counts="resample")
    wl = generate(spec, rng(13), resample_from=src)
    support = set(zip(src.duration_s.tolist(), src.num_gpus.tolist(), src.gpu_frac.tolist(), strict=True))
    drawn = set(zip(wl.duration_s.tolist(), wl.num_gpus.tolist(), wl.gpu_frac.tolist(), strict=True))
    assert drawn == support
    assert spec.mean_gpu_s(src) == pytest.approx(float(np.mean(src.gpu_s)))


def test_marginal_resampling_breaks_the_pairing_but_keeps_the_marginals() -> None:
    src = source_workload()
    durations_only = generate(
        SynthSpec(num_jobs=20_000, rate_per_s=1.0, duration="resample", gpu_counts=GPUS), rng(14),
        resample_from=src,
    )
    assert set(durations_only.duration_s.tolist()) == set(src.duration_s.tolist())
    assert set(durations_only.num_gpus.tolist()) == {1, 2, 4, 8}
    assert len(set(zip(durations_only.duration_s.tolist(), durations_only.num_gpus.tolist(), strict=True))) > 5

    gpus_only = generate(
        SynthSpec(num_jobs=20_000, rate_per_s=1.0, mean_duration_s=100.0, gpu_counts="resample"), rng(14),
        resample_from=src,
    )
    assert set(zip(gpus_only.num_gpus.tolist(), gpus_only.gpu_frac.tolist(), strict=True)) == set(
        zip(src.num_gpus.tolist(), src.gpu_frac.tolist(), strict=True)
    )
    spec = SynthSpec(num_jobs=10, load=0.5, cluster_gpus=16, mean_duration_s=100.0, gpu_counts="resample")
    assert spec.mean_gpu_s(src) == pytest.approx(100.0 * float(np.mean(src.num_gpus * src.gpu_frac)))


def test_resampling_needs_exactly_a_source() -> None:
    spec = SynthSpec(num_jobs=5, rate_per_s=1.0, duration="resample")
    with pytest.raises(UserError, match="^the synth spec resamples durations, so it needs a workload"):
        generate(spec, rng())
    with pytest.raises(UserError, match="^the workload to resample from has no jobs$"):
        generate(spec, rng(), resample_from=Workload.from_jobs([]))
    with pytest.raises(UserError, match="^a workload to resample from was given, but the synth spec"):
        generate(SynthSpec(num_jobs=5, rate_per_s=1.0, mean_duration_s=1.0), rng(), resample_from=source_workload())


# ----- spec validation --------------------------------------------------------------
@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        (dict(num_jobs=5, mean_duration_s=1.0),
         "synth spec: field 'rate_per_s': expected a rate_per_s, or a load with cluster_gpus"),
        (dict(num_jobs=5, rate_per_s=1.0, load=0.5, mean_duration_s=1.0),
         "synth spec: field 'load': expected no load when rate_per_s is given but found 0.5"),
        (dict(num_jobs=5, load=0.5, mean_duration_s=1.0),
         "synth spec: field 'cluster_gpus': expected an integer >= 1 with load (the GPUs the load refers to)"),
        (dict(num_jobs=0, rate_per_s=1.0, mean_duration_s=1.0),
         "synth spec: field 'num_jobs': expected an integer >= 1 but found 0"),
        (dict(num_jobs=5, rate_per_s=math.inf, mean_duration_s=1.0),
         "synth spec: field 'rate_per_s': expected a finite number > 0 but found inf"),
        (dict(num_jobs=5, rate_per_s=1.0),
         "synth spec: field 'mean_duration_s': expected a number for duration = exponential"),
        (dict(num_jobs=5, rate_per_s=1.0, duration="lognormal", median_duration_s=9.0, duration_sigma=1.0,
              mean_duration_s=9.0),
         "synth spec: field 'mean_duration_s': expected no mean_duration_s with duration = lognormal but found 9.0"),
        (dict(num_jobs=5, rate_per_s=1.0, mean_duration_s=1.0, arrival="diurnal"),
         "synth spec: field 'peak_to_trough': expected a number >= 1 for diurnal arrivals"),
        (dict(num_jobs=5, rate_per_s=1.0, mean_duration_s=1.0, arrival="weekly"),
         "synth spec: field 'arrival': expected one of poisson, diurnal but found 'weekly'"),
        (dict(num_jobs=5, rate_per_s=1.0, mean_duration_s=1.0, peak_to_trough=2.0),
         "synth spec: field 'peak_to_trough': expected no peak_to_trough with poisson arrivals but found 2.0"),
        (dict(num_jobs=5, load=1.0, cluster_gpus=4, mean_duration_s=1.0, gpu_counts=((1, 0.5), (8, 0.5))),
         "synth spec: field 'gpu_counts': expected num_gpus <= cluster_gpus (4) but found 8"),
        (dict(num_jobs=5, rate_per_s=1.0, mean_duration_s=1.0, gpu_counts=((1, 0.5), (1, 0.5))),
         "synth spec: field 'gpu_counts': expected distinct num_gpus values but found (1, 1)"),
        (dict(num_jobs=5, rate_per_s=1.0, mean_duration_s=1.0, num_users=0),
         "synth spec: field 'num_users': expected an integer >= 1 but found 0"),
    ],
)
def test_invalid_specs_are_rejected_with_one_line_messages(kwargs: dict, message: str) -> None:
    with pytest.raises(SpecError) as info:
        SynthSpec(**kwargs)
    assert str(info.value) == message
    assert isinstance(info.value, UserError)


def test_enum_fields_accept_their_string_values() -> None:
    spec = SynthSpec(num_jobs=1, arrival="diurnal", peak_to_trough=2, rate_per_s=1, duration="resample")
    assert spec.arrival is ArrivalProcess.diurnal and spec.duration is DurationDist.resample
    assert spec.peak_to_trough == 2.0 and isinstance(spec.rate_per_s, float)
    assert spec.resamples


def test_parse_gpu_counts() -> None:
    assert parse_gpu_counts("1:0.7, 2:0.1,4:0.1,8:0.1") == GPUS
    assert parse_gpu_counts("resample") == "resample"
    with pytest.raises(SpecError, match=r"found '2'$"):
        parse_gpu_counts("1:0.5,2")
    with pytest.raises(SpecError) as info:
        parse_gpu_counts("1:0.5")
    assert str(info.value) == "synth spec: field 'gpu_counts': expected probabilities summing to 1 but found 0.5"


# ----- TOML --------------------------------------------------------------------------
def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "synth.toml"
    path.write_text(text, encoding="utf-8")
    return path


def test_from_toml_reads_every_kind_of_field(tmp_path: Path) -> None:
    path = write(tmp_path, """
num_jobs = 1000
arrival = "diurnal"
peak_to_trough = 3
period_s = 43200
phase_rad = 1.5
load = 0.8
cluster_gpus = 64
duration = "lognormal"
median_duration_s = 600
duration_sigma = 1.5
gpu_counts = [[1, 0.7], [2, 0.1], [4, 0.1], [8, 0.1]]
num_users = 50
user_skew = 1.2
""")
    assert SynthSpec.from_toml(path) == SynthSpec(
        num_jobs=1000, arrival=ArrivalProcess.diurnal, peak_to_trough=3.0, period_s=43200.0, phase_rad=1.5,
        load=0.8, cluster_gpus=64, duration=DurationDist.lognormal, median_duration_s=600.0,
        duration_sigma=1.5, gpu_counts=GPUS, num_users=50, user_skew=1.2,
    )
    resample = write(tmp_path, 'num_jobs = 3\nrate_per_s = 0.5\nduration = "resample"\ngpu_counts = "resample"\n')
    assert SynthSpec.from_toml(resample).resamples


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("num_jobs = 10\nrate_per_s = 1.0\nmean_duration_s = 60\nburst = 3\n",
         "{p}: field 'burst': unknown key; expected one of num_jobs, arrival, rate_per_s, load, cluster_gpus, "
         "peak_to_trough, period_s, phase_rad, duration, mean_duration_s, median_duration_s, duration_sigma, "
         "gpu_counts, num_users, user_skew"),
        ('num_jobs = "ten"\n', "{p}: field 'num_jobs': expected an integer but found 'ten'"),
        ("num_jobs = 1e3\n", "{p}: field 'num_jobs': expected an integer but found 1000.0"),
        ("num_jobs = 10\nrate_per_s = true\n", "{p}: field 'rate_per_s': expected a number but found True"),
        ("num_jobs = 10\nrate_per_s = 1.0\nmean_duration_s = 60\n[gpu_counts]\none = 1.0\n",
         "{p}: field 'gpu_counts': expected 'resample' or an array of [num_gpus, probability] pairs "
         "but found {{'one': 1.0}}"),
        ("rate_per_s = 1.0\nmean_duration_s = 60\n", "{p}: field 'num_jobs': missing key; expected an integer >= 1"),
        ("num_jobs = 10\nload = -0.5\ncluster_gpus = 8\nmean_duration_s = 60\n",
         "{p}: field 'load': expected a finite number > 0 but found -0.5"),
        ("num_jobs = 10\nrate_per_s = 1.0\nmean_duration_s = 60\ngpu_counts = [[1, 0.5], [2, 0.4]]\n",
         "{p}: field 'gpu_counts': expected probabilities summing to 1 but found 0.9"),
        ('num_jobs = 10\nrate_per_s = 1.0\nduration = "weibull"\n',
         "{p}: field 'duration': expected one of exponential, lognormal, resample but found 'weibull'"),
        ("num_jobs = \n", "{p}: not valid TOML (Invalid value (at line 1, column 12))"),
    ],
)
def test_from_toml_errors_name_file_key_expected_and_found(tmp_path: Path, text: str, message: str) -> None:
    path = write(tmp_path, text)
    with pytest.raises(TraceError) as info:
        SynthSpec.from_toml(path)
    assert str(info.value) == message.format(p=path)


def test_from_toml_file_problems(tmp_path: Path) -> None:
    with pytest.raises(TraceError) as info:
        SynthSpec.from_toml(tmp_path / "absent.toml")
    assert str(info.value) == f"{tmp_path / 'absent.toml'}: no such file"
    with pytest.raises(TraceError) as info:
        SynthSpec.from_toml(tmp_path)
    assert str(info.value) == f"{tmp_path}: is a directory; expected a synth spec TOML file"
    binary = tmp_path / "bin.toml"
    binary.write_bytes(b"num_jobs = \xff\n")
    with pytest.raises(TraceError) as info:
        SynthSpec.from_toml(binary)
    assert str(info.value) == f"{binary}: not UTF-8 text; expected a synth spec TOML file"
