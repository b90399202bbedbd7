"""Submit-time features: equal to a brute-force definition, causal (the future never leaks), per key."""

from __future__ import annotations

import numpy as np
import pytest

from simulator.predict.features import FEATURES, NUMERIC_FEATURES, history, job_features, previous_gap_s
from traces.model import Categorical, Job, Workload


def brute_history(keys: np.ndarray, submit: np.ndarray, dur: np.ndarray, window: int, j: int) -> tuple[float, ...]:
    """(finished, median, geomean, last) of row j from the definition: same key, ended by its submission."""
    done = [i for i in range(len(keys)) if keys[i] == keys[j] and submit[i] + dur[i] <= submit[j]]
    if keys[j] < 0 or not done:
        return (0.0, np.nan, np.nan, np.nan)
    done.sort(key=lambda i: (submit[i] + dur[i], i))  # finishing order, ties by row
    last = dur[done[-window:]]
    return (float(len(done)), float(np.median(last)), float(np.exp(np.mean(np.log(last)))), float(dur[done[-1]]))


@pytest.mark.parametrize("seed", range(40))
def test_history_matches_the_brute_force_definition(seed: int) -> None:
    rng = np.random.default_rng(seed)
    n = int(rng.integers(1, 50))
    window = int(rng.integers(1, 6))
    keys = rng.integers(-1, 4, n).astype(np.int32)
    submit = np.sort(rng.integers(0, 40, n).astype(np.float64))  # ties on purpose
    dur = rng.integers(1, 25, n).astype(np.float64)
    got = history(keys, submit, dur, window)
    for j in range(n):
        want = brute_history(keys, submit, dur, window, j)
        have = (got.finished[j], got.median_s[j], got.geomean_s[j], got.last_s[j])
        np.testing.assert_allclose(have, want, rtol=1e-12, equal_nan=True, err_msg=f"row {j}")


def test_a_job_that_ends_exactly_at_a_submission_counts_as_finished_and_a_job_never_sees_itself() -> None:
    keys = np.zeros(3, dtype=np.int32)
    h = history(keys, np.array([0.0, 10.0, 10.0]), np.array([10.0, 5.0, 7.0]), 20)
    assert h.finished.tolist() == [0.0, 1.0, 1.0]  # row 0 ends at 10 = the others' submission; row 1 is not seen by row 2
    assert h.last_s[1:].tolist() == [10.0, 10.0]


def wl(n: int, seed: int) -> Workload:
    rng = np.random.default_rng(seed)
    users = rng.integers(0, 6, n).astype(np.int32)
    users[rng.random(n) < 0.1] = -1  # some jobs have no user
    return Workload.from_columns(
        job_id=[f"j{i:04d}" for i in range(n)],
        submit_s=np.sort(rng.uniform(0, 20 * 86400, n)),
        duration_s=np.exp(rng.normal(7, 1.5, n)),
        num_gpus=rng.choice(np.array([1, 2, 4, 8], dtype=np.int32), n),
        user=Categorical(users, tuple(f"u{i}" for i in range(6))),
        group=Categorical((np.maximum(users, 0) % 2).astype(np.int32), ("vc-a", "vc-b")),
    )


def test_features_of_earlier_jobs_do_not_depend_on_later_durations() -> None:
    """The leak test: change the durations of every job from row r on; rows before r see the same features."""
    base = wl(400, 1)
    before = job_features(base)
    rng = np.random.default_rng(2)
    for r in (0, 57, 200, 399):
        dur = base.duration_s.copy()
        dur[r:] = rng.permutation(dur[r:]) * rng.uniform(0.1, 10.0, len(dur) - r)
        changed = Workload.from_columns(job_id=base.job_id, submit_s=base.submit_s, duration_s=dur,
                                        num_gpus=base.num_gpus, user=base.user, group=base.group)
        after = job_features(changed)
        for name in NUMERIC_FEATURES:
            np.testing.assert_array_equal(after.columns[name][:r], before.columns[name][:r], err_msg=name)


def test_every_feature_is_there_and_jobs_without_a_user_have_no_user_history() -> None:
    w = wl(300, 3)
    f = job_features(w, window=5)
    assert set(f.columns) == set(NUMERIC_FEATURES) and FEATURES[:2] == ("user", "group")
    assert all(len(c) == len(w) for c in f.columns.values()) and len(f) == len(w)
    no_user = w.user.codes < 0
    assert no_user.any() and [f.user[i] for i in np.flatnonzero(no_user)] == [None] * int(no_user.sum())
    assert np.all(f.columns["user_finished"][no_user] == 0) and np.all(np.isnan(f.columns["user_median_s"][no_user]))
    assert np.all(np.isnan(f.columns["user_gap_s"][no_user]))
    # Everyone's history includes the jobs without a user; the group's too (they are in vc-a here).
    assert f.columns["recent_median_s"][-1] > 0 and f.columns["group_finished"][-1] > f.columns["user_finished"][-1]
    assert np.all((f.columns["hour_of_day"] >= 0) & (f.columns["hour_of_day"] < 24))
    assert np.all((f.columns["day_of_week"] >= 0) & (f.columns["day_of_week"] < 7))


def test_hour_day_and_gap_come_from_submission_times() -> None:
    jobs = [Job("a", 0.0, 10.0, 1, user="x"), Job("b", 3600.0 * 25 + 5, 10.0, 2, user="x"),
            Job("c", 86400.0 * 8, 10.0, 1, user="y")]
    f = job_features(Workload.from_jobs(jobs))
    assert f.columns["hour_of_day"].tolist() == [0.0, 1.0, 0.0]
    assert f.columns["day_of_week"].tolist() == [0.0, 1.0, 1.0]
    np.testing.assert_array_equal(f.columns["user_gap_s"], [np.nan, 3600.0 * 25 + 5, np.nan])
    assert f.columns["num_gpus"].tolist() == [1.0, 2.0, 1.0]
    assert np.isnan(previous_gap_s(np.array([-1, -1], dtype=np.int32), np.array([0.0, 1.0]))).all()


def test_a_window_below_one_is_refused() -> None:
    with pytest.raises(ValueError, match="window must be >= 1"):
        job_features(wl(5, 0), window=0)
