"""Predicted vs measured: loading each input kind, per-job errors and summary by hand, reporting, plots."""

from __future__ import annotations

import csv
import json
import math
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from executor.compare import (
    JOBS_SCHEMA,
    SourceKind,
    compare,
    distinct_labels,
    load_measured,
    load_predicted,
    write_comparison,
)
from executor.plots import gantt, scatter_jct, use_log_scale
from traces.errors import UserError

MEASURED_HEADER = ["job_id", "status", "submit_s", "start_s", "end_s", "wait_s", "jct_s", "model", "error"]
PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"


def write_csv(path: Path, header: list[str], rows: list[list[Any]]) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("w", newline="") as f:
        w = csv.writer(f)
        w.writerow(header)
        w.writerows(rows)
    return path


def simulate_dir(root: Path, rows: list[list[Any]], policy: str = "fcfs") -> Path:
    """A `gpusched simulate` output folder: jobs.csv (job_id, submit, start, end, status) + run.json."""
    out = root / "pred"
    write_csv(out / "jobs.csv", ["run_id", "policy", "job_id", "submit_s", "start_s", "end_s", "status"],
              [["r0", policy, *r] for r in rows])
    (out / "run.json").write_text(json.dumps({"run_id": f"{policy}-pack-s0", "config": {"policy": policy}}))
    return out


def execute_dir(root: Path, rows: list[list[Any]], policy: str | None = "fcfs", name: str = "meas") -> Path:
    """A `gpusched execute` output folder: jobs.csv (job_id, status, submit, start, end) + execute.json."""
    out = root / name
    full = []
    for job_id, status, submit, start, end in rows:
        jct = "" if end == "" else float(end) - float(submit)
        full.append([job_id, status, submit, start, end, "", jct, "mlp", ""])
    write_csv(out / "jobs.csv", MEASURED_HEADER, full)
    doc: dict[str, Any] = {"time_scale": 0.001, "mode": "timed"}
    if policy is not None:
        doc["policy"] = policy
    (out / "execute.json").write_text(json.dumps(doc))
    return out


# Three jobs, computed by hand: predicted JCTs 100, 200, 400; measured 110, 180, 500.
PRED_3 = [["a", 0.0, 0.0, 100.0, "completed"], ["b", 10.0, 10.0, 210.0, "completed"],
          ["c", 20.0, 120.0, 420.0, "completed"]]
MEAS_3 = [["a", "completed", 0.0, 5.0, 110.0], ["b", "completed", 10.0, 10.0, 190.0],
          ["c", "completed", 20.0, 100.0, 520.0]]


@pytest.fixture
def three(tmp_path: Path) -> tuple[Path, Path]:
    return simulate_dir(tmp_path, PRED_3), execute_dir(tmp_path, MEAS_3)


def test_three_jobs_errors_and_summary_match_a_hand_computation(three: tuple[Path, Path]) -> None:
    pred, meas = load_predicted(three[0]), load_measured(three[1])
    assert (pred.label, pred.kind, meas.label, meas.kind) == ("fcfs", SourceKind.simulate, "fcfs", SourceKind.execute)
    assert meas.time_scale == 0.001
    c = compare(pred, meas)
    assert c.jobs.schema == JOBS_SCHEMA
    rows = c.jobs.to_pylist()
    assert [r["job_id"] for r in rows] == ["a", "b", "c"]
    assert [r["predicted_jct_s"] for r in rows] == [100.0, 200.0, 400.0]
    assert [r["measured_jct_s"] for r in rows] == [110.0, 180.0, 500.0]
    assert [r["start_err_s"] for r in rows] == [5.0, 0.0, -20.0]
    assert [r["jct_err_s"] for r in rows] == [10.0, -20.0, 100.0]
    assert [r["jct_err_frac"] for r in rows] == pytest.approx([0.1, -0.1, 0.25])
    assert [r["jct_err_pct"] for r in rows] == pytest.approx([10.0, -10.0, 25.0])
    s = c.summary
    assert (s.n_jobs, s.n_compared, s.n_missing_predicted, s.n_missing_measured) == (3, 3, 0, 0)
    assert s.statuses == (("completed", 3),)
    # |err| sorted = 0.1, 0.1, 0.25: median 0.1; p95 (linear) at rank 0.95 * 2 = 1.9: 0.1 + 0.9 * 0.15.
    assert s.median_abs_jct_err_frac == pytest.approx(0.1)
    assert s.p95_abs_jct_err_frac == pytest.approx(0.235)
    assert s.mean_abs_jct_err_frac == pytest.approx(0.15)
    assert s.mean_jct_predicted_s == pytest.approx(700 / 3)
    assert s.mean_jct_measured_s == pytest.approx(790 / 3)
    assert s.mean_jct_err_frac == pytest.approx(90 / 700)
    # makespan = last end - first submit: 420 - 0 predicted, 520 - 0 measured.
    assert (s.makespan_predicted_s, s.makespan_measured_s) == (420.0, 520.0)
    assert s.makespan_err_frac == pytest.approx(100 / 420)
    assert s.bias == pytest.approx(0.1)
    assert c.notes == ()


def test_solve_folder_takes_submit_times_from_the_measured_run(tmp_path: Path) -> None:
    solve = tmp_path / "plan"
    # Per-segment form; job b is preempted: its predicted span is first start to last end.
    write_csv(solve / "schedule.csv", ["job_id", "status", "segment", "start_s", "end_s", "work_s", "gpu_ids"],
              [["a", "run", 0, 0.0, 50.0, "", "n0:0"], ["b", "run", 0, 5.0, 20.0, "", "n0:1;n0:2"],
               ["b", "run", 1, 60.0, 100.0, "", "n0:1;n0:2"]])
    (solve / "solve.json").write_text(json.dumps({"solver": "greedy", "status": "feasible"}))
    meas = execute_dir(tmp_path, [["a", "completed", 0.0, 0.0, 60.0], ["b", "completed", 4.0, 5.0, 124.0]],
                       policy="solver:greedy")
    pred = load_predicted(solve)
    assert (pred.label, pred.kind) == ("solver:greedy", SourceKind.solve)
    assert np.isnan(pred.submit_s).all()
    c = compare(pred, load_measured(meas))
    rows = {r["job_id"]: r for r in c.jobs.to_pylist()}
    assert rows["b"]["submit_s"] == 4.0
    assert (rows["b"]["predicted_start_s"], rows["b"]["predicted_end_s"]) == (5.0, 100.0)
    assert rows["b"]["predicted_jct_s"] == 96.0 and rows["b"]["measured_jct_s"] == 120.0
    assert rows["b"]["jct_err_frac"] == pytest.approx(0.25)
    assert rows["a"]["jct_err_frac"] == pytest.approx(0.2)
    assert c.summary.makespan_predicted_s == 100.0 and c.summary.makespan_measured_s == 124.0
    assert c.notes == ()  # execute.json's policy label matches


def test_long_form_schedule_file_and_label_mismatch_note(tmp_path: Path) -> None:
    sched = write_csv(tmp_path / "mine.csv", ["job_id", "status", "segment", "start_s", "end_s", "work_s", "gpu_id"],
                      [["a", "run", 0, 0.0, 10.0, "", "n0:0"], ["a", "run", 0, 0.0, 10.0, "", "n0:1"],
                       ["r", "rejected", "", "", "", "", ""]])
    meas = execute_dir(tmp_path, [["a", "completed", 0.0, 0.0, 12.0], ["r", "pending", 1.0, "", ""]],
                       policy="sjf")
    pred = load_predicted(sched)
    assert (pred.label, pred.kind, pred.job_id) == ("mine", SourceKind.schedule, ("a", "r"))
    c = compare(pred, load_measured(meas))
    assert c.summary.n_compared == 1 and c.summary.n_unscheduled_predicted == 1
    assert c.summary.statuses == (("completed", 1), ("pending", 1))
    assert any("no predicted times" in n for n in c.notes)
    assert any("executed the plan labelled 'sjf'" in n for n in c.notes)


def test_missing_and_failed_jobs_are_counted_reported_and_kept_out_of_the_errors(tmp_path: Path) -> None:
    pred = simulate_dir(tmp_path, [["a", 0.0, 0.0, 100.0, "completed"], ["b", 0.0, 0.0, 50.0, "completed"],
                                   ["c", 0.0, 50.0, 150.0, "completed"], ["d", 5.0, 5.0, 20.0, "completed"]])
    meas = execute_dir(tmp_path, [["a", "completed", 0.0, 0.0, 120.0], ["b", "failed", 0.0, 1.0, ""],
                                  ["c", "oom", 0.0, 52.0, 53.0], ["e", "completed", 9.0, 9.0, 19.0]])
    c = compare(load_predicted(pred), load_measured(meas))
    s = c.summary
    assert (s.n_jobs, s.n_compared, s.n_missing_predicted, s.n_missing_measured) == (5, 1, 1, 1)
    assert s.statuses == (("completed", 1), ("failed", 1), ("oom", 1))
    assert (c.missing_predicted, c.missing_measured) == (("e",), ("d",))
    rows = {r["job_id"]: r for r in c.jobs.to_pylist()}
    assert set(rows) == {"a", "b", "c"}
    assert rows["b"]["status"] == "failed" and rows["b"]["start_err_s"] == 1.0
    assert math.isnan(rows["b"]["measured_end_s"]) and math.isnan(rows["b"]["jct_err_frac"])
    assert rows["c"]["measured_jct_s"] == 53.0 and math.isnan(rows["c"]["jct_err_s"])
    assert s.median_abs_jct_err_frac == pytest.approx(0.2) and s.makespan_measured_s == 120.0
    text = " | ".join(c.notes)
    assert "1 job(s) measured but not predicted, left out: e" in text
    assert "1 job(s) predicted but not measured, left out: d" in text
    assert "1 failed, 1 oom" in text


def test_nothing_compared_gives_empty_statistics_written_as_null(tmp_path: Path) -> None:
    pred = simulate_dir(tmp_path, [["a", 0.0, 0.0, 10.0, "completed"]])
    meas = execute_dir(tmp_path, [["a", "crashed", 0.0, 0.0, ""]])
    c = compare(load_predicted(pred), load_measured(meas))
    assert c.summary.n_compared == 0 and math.isnan(c.summary.median_abs_jct_err_frac)
    paths = write_comparison(c, tmp_path / "out", "csv")
    doc = json.loads(paths["doc"].read_text())
    summary = doc["comparisons"][0]["summary"]
    assert summary["median_abs_jct_err_frac"] is None and summary["statuses"] == {"crashed": 1}


def test_write_comparison_tables_and_document(three: tuple[Path, Path], tmp_path: Path) -> None:
    c = compare(load_predicted(three[0]), load_measured(three[1]))
    paths = write_comparison(c, tmp_path / "out", "csv")
    with paths["jobs"].open(newline="") as f:
        jobs = list(csv.DictReader(f))
    assert [j["job_id"] for j in jobs] == ["a", "b", "c"] and jobs[2]["jct_err_s"] == "100.0"
    with paths["summary"].open(newline="") as f:
        summary = {r["metric"]: float(r["value"]) for r in csv.DictReader(f)}
    assert summary["n_compared"] == 3 and summary["n_status_completed"] == 3
    assert summary["p95_abs_jct_err_frac"] == pytest.approx(0.235)
    doc = json.loads(paths["doc"].read_text())
    assert "linear" in doc["definitions"]["percentile_method"]
    assert doc["comparisons"][0]["label"] == "fcfs"
    for fmt in ("parquet", "json"):
        p = write_comparison(c, tmp_path / fmt, fmt)
        table = pq.read_table(p["jobs"]) if fmt == "parquet" else json.loads(p["jobs"].read_text())
        assert (table.num_rows if fmt == "parquet" else len(table)) == 3
    with pytest.raises(ValueError, match="distinct"):
        write_comparison([c, c], tmp_path / "dup", "csv")


def test_parquet_and_json_inputs_give_the_same_comparison(three: tuple[Path, Path], tmp_path: Path) -> None:
    ref = compare(load_predicted(three[0]), load_measured(three[1]))
    pq.write_table(pa.Table.from_pylist([{"job_id": r[0], "submit_s": r[1], "start_s": r[2], "end_s": r[3]}
                                         for r in PRED_3]), tmp_path / "p.parquet")
    (tmp_path / "m.json").write_text(json.dumps([dict(zip(["job_id", "status", "submit_s", "start_s", "end_s"], r,
                                                          strict=True)) for r in MEAS_3]))
    pred, meas = load_predicted(tmp_path / "p.parquet"), load_measured(tmp_path / "m.json")
    assert (pred.label, pred.kind, meas.kind, meas.label) == ("p", SourceKind.table, SourceKind.table, None)
    c = compare(pred, meas)
    assert c.jobs.drop(["label"]).equals(ref.jobs.drop(["label"]))


def test_a_simulate_jobs_file_takes_its_folders_label(three: tuple[Path, Path]) -> None:
    pred = load_predicted(three[0] / "jobs.csv")
    assert (pred.label, pred.kind) == ("fcfs", SourceKind.simulate)


def test_distinct_labels_numbers_repeats() -> None:
    assert distinct_labels(["fcfs", "sjf", "fcfs", "fcfs"]) == ["fcfs", "sjf", "fcfs #2", "fcfs #3"]


def _bad_measured(tmp_path: Path, header: list[str], rows: list[list[Any]]) -> Path:
    return write_csv(tmp_path / "m" / "jobs.csv", header, rows)


H = ["job_id", "status", "submit_s", "start_s", "end_s"]


@pytest.mark.parametrize(
    "header,rows,message",
    [
        (H, [["a", "completed", 0, 1, 5], ["b", "completed", 0, 1, "abc"]],
         "jobs.csv:2: field 'end_s': expected a finite number of seconds but found 'abc'"),
        (H, [["a", "completed", 0, 1, ""]], "jobs.csv:1: field 'end_s': no value; expected a finite number"),
        (H, [["a", "completed", 0, 1, "inf"]], "field 'end_s': expected a finite number of seconds but found 'inf'"),
        (H, [["a", "completed", 0, 5, 1]], "jobs.csv:1: field 'end_s': expected a time >= start_s (5.0) but found 1.0"),
        (H, [["a", "completed", 0, 1, 5], ["a", "failed", 0, 1, 5]],
         "jobs.csv:2: field 'job_id': duplicate job id; expected each job once but found 'a'"),
        (H, [["a", "", 0, 1, 5]], "jobs.csv:1: field 'status': no value"),
        (["job_id", "submit_s", "start_s", "end_s"], [["a", 0, 1, 5]],
         "not a measured jobs table: missing column(s) status; expected columns job_id,status,submit_s,start_s,end_s"),
    ],
)
def test_malformed_measured_tables_are_one_line_errors(tmp_path: Path, header: list[str], rows: list[list[Any]],
                                                        message: str) -> None:
    path = _bad_measured(tmp_path, header, rows)
    with pytest.raises(UserError) as err:
        load_measured(path)
    assert message in str(err.value) and "\n" not in str(err.value)


def test_malformed_predicted_inputs_are_one_line_errors(tmp_path: Path) -> None:
    cases: list[tuple[Path, str]] = [
        (tmp_path / "absent", "absent: no such file or folder"),
        (write_csv(tmp_path / "p.txt", ["job_id", "start_s", "end_s"], [["a", 0, 1]]),
         "cannot tell the table format from the file name"),
        (write_csv(tmp_path / "p1.csv", ["job_id", "start_s", "end_s"], [["a", "x", 1]]),
         "p1.csv:1: field 'start_s': expected a finite number of seconds but found 'x'"),
        (write_csv(tmp_path / "p2.csv", ["job_id", "start_s", "end_s"], [["a", 0, ""]]),
         "p2.csv:1: field 'end_s': no value"),
        (write_csv(tmp_path / "p3.csv", ["job_id", "end_s"], [["a", 1]]), "missing column(s) start_s"),
        (write_csv(tmp_path / "s.csv", ["job_id", "segment", "start_s", "end_s", "gpu_id"], [["a", 0, "y", 1, "n0:0"]]),
         "s.csv:1: field 'start_s'"),
    ]
    empty = tmp_path / "empty"
    empty.mkdir()
    cases.append((empty, "no jobs table or schedule.csv in this folder"))
    bad_doc = tmp_path / "baddoc"
    write_csv(bad_doc / "jobs.csv", ["job_id", "start_s", "end_s"], [["a", 0, 1]])
    (bad_doc / "run.json").write_text("{not json")
    cases.append((bad_doc, "run.json: line 1: not valid JSON"))
    for path, message in cases:
        with pytest.raises(UserError) as err:
            load_predicted(path)
        assert message in str(err.value), (path, str(err.value))
        assert "\n" not in str(err.value)


def test_mismatched_or_swapped_inputs_are_user_errors(tmp_path: Path, three: tuple[Path, Path]) -> None:
    other = execute_dir(tmp_path, [["zzz", "completed", 0.0, 0.0, 1.0]], name="other")
    with pytest.raises(UserError, match="share no job id"):
        compare(load_predicted(three[0]), load_measured(other))
    solve = tmp_path / "plan"
    write_csv(solve / "schedule.csv", ["job_id", "start_s", "end_s", "gpu_ids"], [["a", 0.0, 1.0, "n0:0"]])
    (solve / "solve.json").write_text(json.dumps({"solver": "greedy"}))
    with pytest.raises(UserError, match="is a `gpusched solve` output"):
        load_measured(solve)
    with pytest.raises(UserError, match="PREDICTED MEASURED"):
        compare(load_predicted(three[1]), load_measured(three[0]))


def test_use_log_scale_only_beyond_two_decades() -> None:
    assert not use_log_scale(np.array([10.0, 999.0]))
    assert use_log_scale(np.array([10.0, 1001.0, np.nan]))
    assert not use_log_scale(np.array([0.0, 1e6]))


def _check_png(path: Path) -> tuple[int, ...]:
    import matplotlib.image as mpimg

    data = path.read_bytes()
    assert data[:8] == PNG_SIGNATURE and len(data) > 1000
    return tuple(mpimg.imread(path).shape)


def test_plots_are_valid_deterministic_pngs(tmp_path: Path, three: tuple[Path, Path]) -> None:
    c = compare(load_predicted(three[0]), load_measured(three[1]))
    wide = compare(load_predicted(three[0]), load_measured(execute_dir(
        tmp_path, [["a", "completed", 0.0, 0.0, 1e5], ["b", "failed", 10.0, 10.0, 15.0]], name="wide")),
        label="wide")
    height, width, _ = _check_png(scatter_jct([c, wide], tmp_path / "scatter.png"))
    assert (width, height) == (640, 600)
    g = gantt([c, wide], tmp_path / "gantt.png")
    first = g.read_bytes()
    h2, w2, _ = _check_png(g)
    assert w2 == 1100 and h2 > 300
    assert gantt([c, wide], g).read_bytes() == first
    small = gantt([c], tmp_path / "gantt2.png", max_jobs=2)
    assert _check_png(small)[0] < h2
    with pytest.raises(ValueError):
        gantt([c], tmp_path / "g.png", max_jobs=0)
