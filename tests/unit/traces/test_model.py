"""The workload data model: `Job` validation, `Categorical`, and `Workload` construction, row
access and summaries (exact error texts, sorting, round trips, edge sizes)."""

from __future__ import annotations

import dataclasses
import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from strategies import jobs, workloads

from traces.errors import UserError
from traces.model import CATEGORY_COLUMNS, COLUMNS, NUMERIC_COLUMNS, Categorical, Job, JobStatus, Workload

INF, NAN = math.inf, math.nan


def _by_submit_then_id(js: list[Job]) -> list[Job]:
    return sorted(js, key=lambda j: (j.submit_s, j.job_id))


def _basic(**over: object) -> Workload:
    """Three jobs b, a, c (input order) with every column given; `over` replaces columns."""
    cols: dict[str, object] = dict(
        job_id=["b", "a", "c"],
        submit_s=[5.0, 5.0, 1.0],
        duration_s=[10.0, 20.0, 30.0],
        num_gpus=[2, 1, 4],
        source="jobs.csv",
    )
    cols.update(over)
    return Workload.from_columns(**cols)  # type: ignore[arg-type]


# ----- Job --------------------------------------------------------------------------------


def test_job_defaults_and_gpu_s() -> None:
    j = Job("j1", 0.0, 10.0, 4)
    assert (j.gpu_frac, j.gpu_mem_gib, j.gpu_types, j.user, j.group) == (1.0, None, (), None, None)
    assert (j.priority, j.weight, j.deadline_s, j.model_name, j.status) == (0, 1.0, None, None, JobStatus.unknown)
    assert j.gpu_s == 40.0
    assert Job("f", 0.0, 10.0, 1, gpu_frac=0.25).gpu_s == 2.5


def test_job_gpu_types_list_becomes_tuple_and_job_is_frozen() -> None:
    j = Job("j", 0.0, 1.0, 1, gpu_types=["A100", "V100"])  # type: ignore[arg-type]
    assert j.gpu_types == ("A100", "V100")
    with pytest.raises(dataclasses.FrozenInstanceError):
        j.num_gpus = 2  # type: ignore[misc]


def test_job_accepts_boundary_values() -> None:
    j = Job("j", 0.0, 1e-9, 1, gpu_frac=1e-6, gpu_mem_gib=1e-3, weight=1e-9, deadline_s=-5.0, priority=-3)
    assert j.deadline_s == -5.0  # a deadline before submission is allowed (already late)


@pytest.mark.parametrize(
    ("kwargs", "problem"),
    [
        ({"job_id": ""}, "job_id must be a non-empty string"),
        ({"job_id": 7}, "job_id must be a non-empty string"),
        ({"job_id": None}, "job_id must be a non-empty string"),
        ({"submit_s": -1.0}, "submit_s must be finite and >= 0, got -1.0"),
        ({"submit_s": NAN}, "submit_s must be finite and >= 0, got nan"),
        ({"submit_s": INF}, "submit_s must be finite and >= 0, got inf"),
        ({"duration_s": 0.0}, "duration_s must be finite and > 0, got 0.0"),
        ({"duration_s": -2.0}, "duration_s must be finite and > 0, got -2.0"),
        ({"duration_s": NAN}, "duration_s must be finite and > 0, got nan"),
        ({"duration_s": INF}, "duration_s must be finite and > 0, got inf"),
        ({"num_gpus": 0}, "num_gpus must be an integer >= 1, got 0"),
        ({"num_gpus": -4}, "num_gpus must be an integer >= 1, got -4"),
        ({"num_gpus": 1.5}, "num_gpus must be an integer >= 1, got 1.5"),
        ({"num_gpus": INF}, "num_gpus must be an integer >= 1, got inf"),
        ({"num_gpus": NAN}, "num_gpus must be an integer >= 1, got nan"),
        ({"gpu_frac": 0.0}, "gpu_frac must be in (0, 1], got 0.0"),
        ({"gpu_frac": 1.5}, "gpu_frac must be in (0, 1], got 1.5"),
        ({"gpu_frac": NAN}, "gpu_frac must be in (0, 1], got nan"),
        ({"gpu_frac": 0.5, "num_gpus": 2}, "a fractional gpu_frac needs num_gpus == 1"),
        ({"gpu_mem_gib": 0.0}, "gpu_mem_gib must be finite and > 0, got 0.0"),
        ({"gpu_mem_gib": -8.0}, "gpu_mem_gib must be finite and > 0, got -8.0"),
        ({"gpu_mem_gib": INF}, "gpu_mem_gib must be finite and > 0, got inf"),
        ({"gpu_mem_gib": NAN}, "gpu_mem_gib must be finite and > 0, got nan"),
        ({"weight": 0.0}, "weight must be finite and > 0, got 0.0"),
        ({"weight": INF}, "weight must be finite and > 0, got inf"),
        ({"weight": NAN}, "weight must be finite and > 0, got nan"),
        ({"deadline_s": INF}, "deadline_s must be finite, got inf"),
        ({"deadline_s": -INF}, "deadline_s must be finite, got -inf"),
        ({"deadline_s": NAN}, "deadline_s must be finite, got nan"),
    ],
)
def test_job_rejects_each_bad_field(kwargs: dict[str, object], problem: str) -> None:
    fields: dict[str, object] = {"job_id": "j1", "submit_s": 0.0, "duration_s": 1.0, "num_gpus": 1}
    fields.update(kwargs)
    with pytest.raises(ValueError) as info:
        Job(**fields)  # type: ignore[arg-type]
    assert str(info.value) == f"job {fields['job_id']!r}: {problem}"


# ----- Categorical --------------------------------------------------------------------------


def test_categorical_first_seen_order_and_absent_values() -> None:
    c = Categorical.from_values(["x", None, "y", "x", None, "z"])
    assert c.categories == ("x", "y", "z")
    assert c.codes.dtype == np.int32
    assert c.codes.tolist() == [0, -1, 1, 0, -1, 2]
    assert c.values() == ["x", None, "y", "x", None, "z"]
    assert [c.value(i) for i in range(6)] == c.values()


def test_categorical_custom_none_values_and_tuples() -> None:
    c = Categorical.from_values([(), ("A100",), ("A100", "V100"), (), ("A100",)], none_values=((),))
    assert c.categories == (("A100",), ("A100", "V100"))
    assert c.codes.tolist() == [-1, 0, 1, -1, 0]
    s = Categorical.from_values(["unknown", "failed", None, "unknown"], none_values=(None, "unknown"))
    assert s.categories == ("failed",)
    assert s.values() == [None, "failed", None, None]


def test_categorical_take_keeps_categories() -> None:
    c = Categorical.from_values(["a", "b", "c"])
    t = c.take(np.array([2, 0]))
    assert t.categories == ("a", "b", "c")
    assert t.values() == ["c", "a"]


def test_categorical_of_nothing() -> None:
    c = Categorical.from_values([])
    assert c.codes.shape == (0,) and c.codes.dtype == np.int32
    assert c.categories == () and c.values() == []


@given(st.lists(st.none() | st.sampled_from(["a", "b", "ü", "x,y", ""]), max_size=30))
def test_categorical_decode_inverts_encode(values: list[str | None]) -> None:
    c = Categorical.from_values(values)
    assert c.values() == values
    assert len(set(c.categories)) == len(c.categories)
    assert list(c.categories) == list(dict.fromkeys(v for v in values if v is not None))


# ----- Workload.from_columns: sorting, defaults, dtypes ----------------------------------------


def test_from_columns_sorts_by_submit_then_job_id() -> None:
    wl = _basic(
        user=Categorical.from_values(["ub", "ua", None]),
        status=Categorical.from_values(["failed", None, "killed"]),
        gpu_types=Categorical.from_values([("A100",), (), ("V100", "T4")], none_values=((),)),
        priority=[1, 2, 3],
        deadline_s=[NAN, 100.0, 50.0],
    )
    # c is first (submit 1); a and b tie at 5 and are ordered by id, not by input order.
    assert wl.job_id.tolist() == ["c", "a", "b"]
    assert wl.submit_s.tolist() == [1.0, 5.0, 5.0]
    assert wl.duration_s.tolist() == [30.0, 20.0, 10.0]
    assert wl.num_gpus.tolist() == [4, 1, 2]
    assert wl.priority.tolist() == [3, 2, 1]
    assert wl.user.values() == [None, "ua", "ub"]
    assert wl.status.values() == ["killed", None, "failed"]
    assert wl.gpu_types.values() == [("V100", "T4"), None, ("A100",)]
    assert np.array_equal(wl.deadline_s, [50.0, 100.0, NAN], equal_nan=True)
    assert wl[0] == Job("c", 1.0, 30.0, 4, gpu_types=("V100", "T4"), priority=3, deadline_s=50.0,
                        status=JobStatus.killed)
    assert wl[2] == Job("b", 5.0, 10.0, 2, gpu_types=("A100",), user="ub", priority=1, status=JobStatus.failed)


def test_from_columns_tie_break_is_by_id_whatever_the_input_order() -> None:
    ids = ["job-10", "job-2", "Job-3", "job-1", "ä", "a"]
    for perm in ([0, 1, 2, 3, 4, 5], [5, 4, 3, 2, 1, 0], [2, 0, 5, 1, 3, 4]):
        wl = Workload.from_columns(
            job_id=[ids[i] for i in perm], submit_s=[7.0] * 6, duration_s=[1.0] * 6, num_gpus=[1] * 6
        )
        assert wl.job_id.tolist() == sorted(ids)


def test_from_columns_defaults_and_dtypes() -> None:
    wl = Workload.from_columns(job_id=["a", "b"], submit_s=[0, 3], duration_s=[1, 2], num_gpus=[1, 8])
    for name, dtype in NUMERIC_COLUMNS.items():
        assert getattr(wl, name).dtype == dtype, name
    assert wl.job_id.dtype == object
    assert wl.gpu_frac.tolist() == [1.0, 1.0]
    assert np.isnan(wl.gpu_mem_gib).all() and np.isnan(wl.deadline_s).all()
    assert wl.priority.tolist() == [0, 0] and wl.weight.tolist() == [1.0, 1.0]
    for name in CATEGORY_COLUMNS:
        cat = getattr(wl, name)
        assert cat.categories == () and cat.codes.tolist() == [-1, -1], name
    assert list(wl) == [Job("a", 0.0, 1.0, 1), Job("b", 3.0, 2.0, 8)]
    assert isinstance(wl[1].num_gpus, int) and isinstance(wl[1].submit_s, float)


def test_from_columns_accepts_integral_floats_for_integer_columns() -> None:
    wl = Workload.from_columns(job_id=["a"], submit_s=[0], duration_s=[1], num_gpus=[2.0], priority=[-1.0])
    assert wl.num_gpus.tolist() == [2] and wl.priority.tolist() == [-1]


def test_from_columns_accepts_numpy_string_ids() -> None:
    wl = Workload.from_columns(job_id=np.array(["y", "x"]), submit_s=[0, 0], duration_s=[1, 1], num_gpus=[1, 1])
    assert wl.job_id.tolist() == ["x", "y"]
    assert wl.job("y").job_id == "y" and type(wl[0].job_id) is str


def test_columns_constant_lists_every_column() -> None:
    assert COLUMNS == ("job_id", *NUMERIC_COLUMNS, *CATEGORY_COLUMNS)
    assert set(COLUMNS) == {f.name for f in dataclasses.fields(Job)}


# ----- Workload.from_columns: validation messages ---------------------------------------------


def _raises_user_error(expected: str, **over: object) -> None:
    with pytest.raises(UserError) as info:
        _basic(**over)
    assert str(info.value) == expected


@pytest.mark.parametrize(
    ("over", "message"),
    [
        ({"job_id": ["b", "", "c"]}, "jobs.csv: row 2: field 'job_id': expected a non-empty string but found ''"),
        ({"job_id": ["b", "a", 3]}, "jobs.csv: row 3: field 'job_id': expected a non-empty string but found 3"),
        ({"job_id": [None, "a", "c"]},
         "jobs.csv: row 1: field 'job_id': expected a non-empty string but found None"),
        ({"job_id": ["b", "a", "b"]}, "jobs.csv: field 'job_id': expected unique ids but found 'b' twice"),
        ({"submit_s": [5.0, -1.0, 1.0]}, "jobs.csv: job a: field 'submit_s': expected a finite number >= 0 but found -1.0"),
        ({"submit_s": [5.0, 5.0, NAN]}, "jobs.csv: job c: field 'submit_s': expected a finite number >= 0 but found nan"),
        ({"submit_s": [INF, 5.0, 1.0]}, "jobs.csv: job b: field 'submit_s': expected a finite number >= 0 but found inf"),
        ({"duration_s": [1.0, 0.0, 1.0]}, "jobs.csv: job a: field 'duration_s': expected a finite number > 0 but found 0.0"),
        ({"duration_s": [1.0, 1.0, -3.0]}, "jobs.csv: job c: field 'duration_s': expected a finite number > 0 but found -3.0"),
        ({"duration_s": [NAN, 1.0, 1.0]}, "jobs.csv: job b: field 'duration_s': expected a finite number > 0 but found nan"),
        ({"duration_s": [1.0, INF, 1.0]}, "jobs.csv: job a: field 'duration_s': expected a finite number > 0 but found inf"),
        ({"num_gpus": [1, 0, 1]}, "jobs.csv: job a: field 'num_gpus': expected an integer >= 1 but found 0"),
        ({"num_gpus": [1, 1, -2]}, "jobs.csv: job c: field 'num_gpus': expected an integer >= 1 but found -2"),
        ({"gpu_frac": [1.0, 0.0, 1.0]}, "jobs.csv: job a: field 'gpu_frac': expected a number in (0, 1] but found 0.0"),
        ({"gpu_frac": [1.5, 1.0, 1.0]}, "jobs.csv: job b: field 'gpu_frac': expected a number in (0, 1] but found 1.5"),
        ({"gpu_frac": [1.0, NAN, 1.0]}, "jobs.csv: job a: field 'gpu_frac': expected a number in (0, 1] but found nan"),
        ({"gpu_frac": [0.5, 1.0, 1.0]}, "jobs.csv: job b: field 'gpu_frac': expected 1 for multi-GPU jobs but found 0.5"),
        ({"gpu_mem_gib": [NAN, 0.0, 8.0]},
         "jobs.csv: job a: field 'gpu_mem_gib': expected a finite number > 0 or empty but found 0.0"),
        ({"gpu_mem_gib": [NAN, 8.0, INF]},
         "jobs.csv: job c: field 'gpu_mem_gib': expected a finite number > 0 or empty but found inf"),
        ({"gpu_mem_gib": [-1.0, 8.0, 8.0]},
         "jobs.csv: job b: field 'gpu_mem_gib': expected a finite number > 0 or empty but found -1.0"),
        ({"weight": [1.0, 0.0, 1.0]}, "jobs.csv: job a: field 'weight': expected a finite number > 0 but found 0.0"),
        ({"weight": [1.0, 1.0, NAN]}, "jobs.csv: job c: field 'weight': expected a finite number > 0 but found nan"),
        ({"weight": [INF, 1.0, 1.0]}, "jobs.csv: job b: field 'weight': expected a finite number > 0 but found inf"),
        ({"deadline_s": [NAN, INF, 1.0]}, "jobs.csv: job a: field 'deadline_s': expected a finite number or empty but found inf"),
        ({"deadline_s": [-INF, NAN, 1.0]},
         "jobs.csv: job b: field 'deadline_s': expected a finite number or empty but found -inf"),
        ({"status": Categorical.from_values(["completed", "bogus", None])},
         "jobs.csv: field 'status': expected one of ['completed', 'failed', 'killed', 'unknown'] but found 'bogus'"),
        ({"num_gpus": [1, 1.5, 1]}, "jobs.csv: column 'num_gpus' must hold integers"),
        ({"num_gpus": [1, NAN, 1]}, "jobs.csv: column 'num_gpus' must hold integers"),
        ({"priority": [0.0, INF, 0.0]}, "jobs.csv: column 'priority' must hold integers"),
        ({"priority": [0, 0.25, 0]}, "jobs.csv: column 'priority' must hold integers"),
        ({"num_gpus": [1, 2**32 + 1, 1]}, "jobs.csv: column 'num_gpus' must hold integers in [-2147483648, 2147483647]"),
        ({"priority": [0, -(2**31) - 1, 0]},
         "jobs.csv: column 'priority' must hold integers in [-2147483648, 2147483647]"),
        ({"priority": [0.0, 3e9, 0.0]}, "jobs.csv: column 'priority' must hold integers in [-2147483648, 2147483647]"),
        ({"num_gpus": [1, 0, 1], "source": None},
         "<input>: job a: field 'num_gpus': expected an integer >= 1 but found 0"),
    ],
)
def test_from_columns_error_messages(over: dict[str, object], message: str) -> None:
    _raises_user_error(message, **over)


def test_from_columns_names_the_first_bad_row_in_input_order() -> None:
    # Both b (input row 1) and c (input row 3, but first after sorting) are bad: b is named.
    _raises_user_error(
        "jobs.csv: job b: field 'duration_s': expected a finite number > 0 but found -1.0",
        duration_s=[-1.0, 1.0, -2.0],
    )


def test_from_columns_error_is_one_line_even_for_ids_with_whitespace() -> None:
    _raises_user_error(
        "jobs.csv: job a b: field 'num_gpus': expected an integer >= 1 but found 0",
        job_id=["x", "a \n b", "c"],
        num_gpus=[1, 0, 1],
    )


def test_int32_range_check_keeps_the_extremes() -> None:
    wl = _basic(priority=[-(2**31), 2**31 - 1, 0])
    assert sorted(wl.priority.tolist()) == [-(2**31), 0, 2**31 - 1]


@pytest.mark.parametrize(
    ("over", "message"),
    [
        ({"submit_s": [1.0, 2.0]}, "column submit_s has shape (2,), expected (3,)"),
        ({"weight": [[1.0, 1.0, 1.0]]}, "column weight has shape (1, 3), expected (3,)"),
        ({"user": Categorical.from_values(["u"])}, "column user has (1,) codes, expected (3,)"),
        ({"gpu_types": Categorical.from_values(["A100", None, None])},
         "gpu_types categories must be tuples of names, got 'A100'"),
        ({"gpu_types": Categorical.from_values([("A100", ""), None, None])},
         "gpu_types categories must be tuples of names, got ('A100', '')"),
    ],
)
def test_from_columns_programming_errors_are_value_errors(over: dict[str, object], message: str) -> None:
    with pytest.raises(ValueError) as info:
        _basic(**over)
    assert not isinstance(info.value, UserError)
    assert str(info.value) == message


# ----- from_jobs / row access round trips -------------------------------------------------------


@settings(max_examples=40)
@given(st.lists(jobs(), max_size=12, unique_by=lambda j: j.job_id))
def test_from_jobs_then_iteration_gives_the_jobs_sorted(js: list[Job]) -> None:
    wl = Workload.from_jobs(js)
    assert len(wl) == len(js)
    want = _by_submit_then_id(js)
    assert list(wl) == want
    assert [wl[i - len(wl)] for i in range(len(wl))] == want  # negative indices
    for j in js:
        assert wl.job(j.job_id) == j
        assert want[wl.index_of(j.job_id)] == j
    # Invariants of the columns themselves.
    keys = list(zip(wl.submit_s.tolist(), wl.job_id.tolist(), strict=True))
    assert keys == sorted(keys)
    assert len(set(wl.job_id.tolist())) == len(wl)
    assert np.allclose(wl.gpu_s, [j.gpu_s for j in want])
    assert wl.span_s == (want[-1].submit_s - want[0].submit_s if js else 0.0)
    # Rebuilding from the rows gives the same columns.
    again = Workload.from_jobs(list(wl))
    assert again.job_id.tolist() == wl.job_id.tolist()
    for name in NUMERIC_COLUMNS:
        assert np.array_equal(getattr(again, name), getattr(wl, name), equal_nan=True), name
    for name in CATEGORY_COLUMNS:
        assert getattr(again, name).values() == getattr(wl, name).values(), name


def test_row_access_out_of_range() -> None:
    wl = _basic()
    for i in (3, -4, 100):
        with pytest.raises(IndexError):
            wl[i]
    with pytest.raises(KeyError):
        wl.index_of("nope")
    with pytest.raises(KeyError):
        wl.job("nope")
    assert wl.index_of("b") == 2 and wl.job("a").duration_s == 20.0


def test_status_round_trip_encodes_unknown_as_absent() -> None:
    js = [Job(f"j{i}", 0.0, 1.0, 1, status=s) for i, s in enumerate(JobStatus)]
    wl = Workload.from_jobs(js)
    assert "unknown" not in wl.status.categories
    assert wl.status.values() == [None, "completed", "failed", "killed"]
    assert [j.status for j in wl] == list(JobStatus)


# ----- take ----------------------------------------------------------------------------------


@settings(max_examples=30)
@given(workloads(min_size=1, max_size=10), st.data())
def test_take_selects_rows_each_once_in_order(wl: Workload, data: st.DataObject) -> None:
    n = len(wl)
    idx = data.draw(st.lists(st.integers(-n, n - 1), max_size=2 * n))
    sub = wl.take(idx)
    rows = sorted({i % n for i in idx})
    assert list(sub) == [wl[i] for i in rows]
    for r, i in enumerate(rows):
        assert sub.index_of(str(wl.job_id[i])) == r
    mask = data.draw(st.lists(st.booleans(), min_size=n, max_size=n))
    assert list(wl.take(np.array(mask))) == [j for j, keep in zip(wl, mask, strict=True) if keep]


def test_take_examples() -> None:
    wl = _basic()  # rows: c, a, b
    assert wl.take([2, 0]).job_id.tolist() == ["c", "b"]
    assert wl.take(np.array([0, -1])).job_id.tolist() == ["c", "b"]
    assert wl.take([1, 1, 1]).job_id.tolist() == ["a"]
    assert wl.take(np.array([False, True, True])).job_id.tolist() == ["a", "b"]
    empty = wl.take([])
    assert len(empty) == 0 and list(empty) == []
    with pytest.raises(IndexError):
        wl.take([3])


def test_take_has_its_own_id_index() -> None:
    wl = _basic()
    assert wl.index_of("b") == 2  # builds the parent's lookup table
    sub = wl.take([2])
    assert sub.index_of("b") == 0
    with pytest.raises(KeyError):
        sub.index_of("c")


# ----- summaries -------------------------------------------------------------------------------


def test_gpu_s_span_and_offered_load() -> None:
    wl = Workload.from_columns(
        job_id=["a", "b", "c"],
        submit_s=[0.0, 10.0, 20.0],
        duration_s=[10.0, 20.0, 40.0],
        num_gpus=[1, 2, 1],
        gpu_frac=[1.0, 1.0, 0.5],
    )
    assert wl.gpu_s.tolist() == [10.0, 40.0, 20.0]
    assert wl.span_s == 20.0
    assert wl.offered_load(7) == pytest.approx(70.0 / 20.0 / 7)
    assert wl.offered_load(1) == pytest.approx(3.5)


def test_offered_load_is_nan_without_a_span() -> None:
    same_time = Workload.from_columns(job_id=["a", "b"], submit_s=[5.0, 5.0], duration_s=[1, 1], num_gpus=[1, 1])
    assert same_time.span_s == 0.0
    assert math.isnan(same_time.offered_load(4))


def test_shifted_moves_submits_and_deadlines_only() -> None:
    wl = _basic(deadline_s=[NAN, 40.0, 7.0], gpu_mem_gib=[16.0, NAN, 8.0],
                user=Categorical.from_values(["u", None, "v"]))
    moved = wl.shifted(100.0)
    assert moved.submit_s.tolist() == [101.0, 105.0, 105.0]
    assert np.array_equal(moved.deadline_s, [107.0, 140.0, NAN], equal_nan=True)
    for name in NUMERIC_COLUMNS:
        if name not in ("submit_s", "deadline_s"):
            assert np.array_equal(getattr(moved, name), getattr(wl, name), equal_nan=True), name
    assert moved.user.values() == wl.user.values()
    assert moved.span_s == wl.span_s
    assert wl.submit_s.tolist() == [1.0, 5.0, 5.0]  # the original is untouched
    back = moved.shifted(-100.0)
    assert list(back) == list(wl)


@settings(max_examples=20)
@given(workloads(min_size=1, max_size=6), st.floats(0.0, 1e6))
def test_shifted_preserves_rows_up_to_the_offset(wl: Workload, offset: float) -> None:
    moved = wl.shifted(offset)
    for a, b in zip(wl, moved, strict=True):
        assert b.submit_s == a.submit_s + offset
        assert b.deadline_s == (None if a.deadline_s is None else a.deadline_s + offset)
        assert dataclasses.replace(b, submit_s=a.submit_s, deadline_s=a.deadline_s) == a


# ----- edge sizes ------------------------------------------------------------------------------


def test_one_row_workload() -> None:
    j = Job("only", 42.0, 3.0, 2, user="u", status=JobStatus.completed)
    wl = Workload.from_jobs([j])
    assert len(wl) == 1 and list(wl) == [j] and wl[-1] == j
    assert wl.span_s == 0.0
    assert math.isnan(wl.offered_load(8))
    assert wl.gpu_s.tolist() == [6.0]
    assert wl.take([0])[0] == j
    assert wl.shifted(-42.0)[0].submit_s == 0.0


def test_zero_row_workload() -> None:
    for wl in (
        Workload.from_jobs([]),
        Workload.from_columns(job_id=[], submit_s=[], duration_s=[], num_gpus=[], source="empty.csv"),
    ):
        assert len(wl) == 0 and list(wl) == []
        assert wl.span_s == 0.0
        assert math.isnan(wl.offered_load(4))
        assert wl.gpu_s.shape == (0,)
        for name, dtype in NUMERIC_COLUMNS.items():
            assert getattr(wl, name).shape == (0,) and getattr(wl, name).dtype == dtype, name
        assert len(wl.take([])) == 0 and len(wl.shifted(5.0)) == 0
        with pytest.raises(IndexError):
            wl[0]
        with pytest.raises(KeyError):
            wl.index_of("x")
