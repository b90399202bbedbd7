"""Duration models: chronological training without leaks, the baseline's fallbacks, the model file, accuracy on real traces."""

from __future__ import annotations

import hashlib
import json
import math
from pathlib import Path

import numpy as np
import pytest

from simulator.predict import BASELINE, GLOBAL, MODEL_INPUTS, evaluate, job_features, load_model, score, train
from simulator.predict.metrics import split_index
from simulator.predict.model import UNKNOWN
from traces.errors import TraceError, UserError
from traces.model import Categorical, Job, Workload
from traces.readers.philly_dirlab import PhillyDirlabReader

SLICE = Path(__file__).resolve().parents[3] / "traces" / "data" / "philly-dirlab-slice.csv"


def synthetic(n: int, seed: int, num_users: int = 12) -> Workload:
    """Each user has a typical duration; jobs scatter around it by a factor of about 1.5."""
    rng = np.random.default_rng(seed)
    users = rng.integers(0, num_users, n).astype(np.int32)
    typical = np.exp(rng.uniform(4, 11, num_users))
    return Workload.from_columns(
        job_id=[f"j{i:05d}" for i in range(n)],
        submit_s=np.sort(rng.uniform(0, 30 * 86400, n)),
        duration_s=typical[users] * np.exp(rng.normal(0, 0.4, n)),
        num_gpus=rng.choice(np.array([1, 2, 4, 8], dtype=np.int32), n),
        user=Categorical(users, tuple(f"user{i}" for i in range(num_users))),
        group=Categorical((users % 3).astype(np.int32), ("vc0", "vc1", "vc2")),
    )


def test_metrics_are_mae_median_log_ratio_and_within_2x() -> None:
    m = score([10.0, 40.0, 5.0, 100.0], [10.0, 10.0, 10.0, 50.0])
    assert m.rows == 4 and m.mae_s == (0 + 30 + 5 + 50) / 4
    assert math.isclose(m.median_abs_log_ratio, (math.log(2) + math.log(2)) / 2)
    assert m.within_2x == 0.75  # 40 vs 10 is off by 4x; 5 vs 10 and 100 vs 50 are exactly 2x
    assert math.isnan(score([], []).mae_s)


def test_the_split_is_by_submission_order() -> None:
    assert [split_index(10, f) for f in (0.0, 0.2, 0.25, 0.99)] == [10, 8, 7, 0]
    with pytest.raises(UserError, match="--test-fraction must be a number >= 0 and < 1, got 1.0"):
        split_index(10, 1.0)


def test_gbm_learns_users_and_beats_the_global_median_on_held_out_jobs() -> None:
    result = train(synthetic(1500, 0), test_fraction=0.2, trace="synthetic")
    assert (result.train_rows, result.test_rows) == (1200, 300)
    assert list(result.metrics) == ["gbm", BASELINE, GLOBAL]
    gbm, glob = result.metrics["gbm"], result.metrics[GLOBAL]
    assert gbm.median_abs_log_ratio < 0.5 < glob.median_abs_log_ratio
    assert gbm.within_2x > 0.8 > glob.within_2x
    training = result.model.training
    assert training["train_rows"] == 1200 and training["split_submit_s"] == result.split_submit_s
    assert training["metrics"]["gbm"]["rows"] == 300 and training["num_rounds"] >= 1


def test_training_never_sees_held_out_durations_and_earlier_predictions_never_see_later_ones() -> None:
    """Perturb every held-out duration: same model file, same predictions for every training row."""
    base = synthetic(800, 1)
    n_train = split_index(len(base), 0.25)
    rng = np.random.default_rng(5)
    dur = base.duration_s.copy()
    dur[n_train:] = rng.permutation(dur[n_train:]) * rng.uniform(0.05, 20, len(dur) - n_train)
    changed = Workload.from_columns(job_id=base.job_id, submit_s=base.submit_s, duration_s=dur,
                                    num_gpus=base.num_gpus, user=base.user, group=base.group)
    a, b = train(base, test_fraction=0.25), train(changed, test_fraction=0.25)
    assert a.model.booster_text == b.model.booster_text and a.model.global_median_s == b.model.global_median_s
    for kind in ("gbm", "median"):
        model = a.model if kind == "gbm" else train(base, kind="median", test_fraction=0.25).model
        for r in (10, n_train, 700):  # the durations from row r on change; rows before r must not notice
            dur2 = base.duration_s.copy()
            dur2[r:] *= 3.0
            later = Workload.from_columns(job_id=base.job_id, submit_s=base.submit_s, duration_s=dur2,
                                          num_gpus=base.num_gpus, user=base.user, group=base.group)
            np.testing.assert_array_equal(model.predict(later)[:r], model.predict(base)[:r])


def test_baseline_falls_back_from_user_to_group_to_global_median() -> None:
    jobs = [Job("a", 0.0, 100.0, 1, user="u", group="g"), Job("b", 200.0, 300.0, 1, user="v", group="g"),
            Job("c", 1000.0, 50.0, 1, user="u", group="g"), Job("d", 1000.0, 70.0, 1, user="w", group="h"),
            Job("e", 1001.0, 10.0, 1)]
    wl = Workload.from_jobs(jobs)
    model = train(wl, kind="median", test_fraction=0.0).model
    assert model.global_median_s == 70.0 and model.kind == "median"  # of 100, 300, 50, 70, 10
    # a: nothing finished -> global; b: v has none, but group g's a ended at 100 <= 200 -> 100;
    # c: u's own a -> 100; d: neither w nor h has history -> global; e: no user or group -> global.
    assert model.predict(wl).tolist() == [70.0, 100.0, 100.0, 70.0, 70.0]
    later = Workload.from_jobs([*jobs, Job("f", 5000.0, 1.0, 1, user="v", group="g"),
                                Job("g", 5000.5, 1.0, 1, user="x", group="g")])
    # f: v's own b -> 300; g: x has none; group g's finished a, b, c (not f, ending at 5001) -> 100.
    assert model.predict(later)[-2:].tolist() == [300.0, 100.0]


def test_rare_and_unseen_users_are_unknown_and_still_predicted() -> None:
    wl = synthetic(600, 2, num_users=30)
    model = train(wl, test_fraction=0.1).model
    counts = {u: int(np.sum(wl.user.codes[:540] == i)) for i, u in enumerate(wl.user.categories)}
    assert set(model.user_vocab) == {u for u, c in counts.items() if c >= 20}
    assert model.to_json()["vocabularies"]["user"][0] == UNKNOWN
    newcomer = Workload.from_jobs([Job("new", 0.0, 60.0, 2, user="never-seen", group="vc-new")])
    pred = model.predict(newcomer)
    assert pred.shape == (1,) and np.isfinite(pred[0]) and pred[0] > 0


def test_the_model_file_round_trips_and_is_byte_identical_for_a_seed(tmp_path: Path) -> None:
    wl = synthetic(700, 3)
    first = train(wl, seed=4, trace="t.csv").model.save(tmp_path / "a.json")
    second = train(wl, seed=4, trace="t.csv").model.save(tmp_path / "b.json")
    assert first.read_bytes() == second.read_bytes()
    doc = json.loads(first.read_text())
    assert (doc["format"], doc["version"], doc["kind"]) == ("gpusched-duration-model", 1, "gbm")
    assert doc["inputs"] == list(MODEL_INPUTS) and doc["training"]["trace"] == "t.csv"
    assert doc["lightgbm"]["model"].startswith("tree")
    loaded = load_model(first)
    np.testing.assert_array_equal(loaded.predict(wl), train(wl, seed=4).model.predict(wl))
    median = train(wl, kind="median").model.save(tmp_path / "m.json")
    assert "lightgbm" not in json.loads(median.read_text())
    np.testing.assert_array_equal(load_model(median).predict(wl), load_model(median).baseline_s(job_features(wl)))


def test_evaluate_scores_the_same_held_out_part_as_training() -> None:
    wl = synthetic(500, 4)
    result = train(wl, test_fraction=0.3)
    ev = evaluate(result.model, wl)
    assert (ev.rows, ev.first_row) == (150, 350) and ev.metrics == result.metrics
    every = evaluate(result.model, wl, all_rows=True)
    assert (every.rows, every.first_row, every.split_submit_s) == (500, 0, None)
    with pytest.raises(UserError, match="trained on every job"):
        evaluate(train(wl, test_fraction=0.0).model, wl)


def write(path: Path, text: str) -> Path:
    path.write_text(text)
    return path


def test_a_bad_model_file_is_one_line_naming_the_file_and_field(tmp_path: Path) -> None:
    good = json.loads(train(synthetic(300, 5)).model.save(tmp_path / "good.json").read_text())
    with pytest.raises(UserError, match=r"nope\.json: no such model file \(make one with `gpusched predict train"):
        load_model(tmp_path / "nope.json")
    with pytest.raises(UserError, match="is a folder; expected a duration model file"):
        load_model(tmp_path)
    with pytest.raises(TraceError, match=r"bad\.json: not a duration model file: invalid JSON at line 1"):
        load_model(write(tmp_path / "bad.json", "{oops"))
    (tmp_path / "bin.json").write_bytes(b"\xff\xfe\x00")
    with pytest.raises(TraceError, match=r"bin\.json: not a duration model file: not UTF-8 text"):
        load_model(tmp_path / "bin.json")
    with pytest.raises(TraceError, match=r"list\.json: not a duration model file: a JSON list, not an object"):
        load_model(write(tmp_path / "list.json", "[]"))
    with pytest.raises(TraceError, match=r"field 'format': missing; expected 'gpusched-duration-model' \(a `gpusched"):
        load_model(write(tmp_path / "other.json", '{"jobs": 3}'))
    cases = {
        "version": (2, r"field 'version': expected 1 but found 2"),
        "kind": ("forest", r"field 'kind': expected one of gbm, median but found 'forest'"),
        "inputs": (["user"], r"field 'inputs': expected the inputs user, group, .* but found \['user'\]"),
        "window": (0, r"field 'window': expected an integer in \[1, 1000\] but found 0"),
        "global_median_s": (-1, r"field 'global_median_s': expected a finite number > 0 but found -1"),
        "lightgbm": ({"model": "tree\nnonsense", "sha256": hashlib.sha256(b"tree\nnonsense").hexdigest()},
                     r"field 'lightgbm.model': the LightGBM model does not load"),
        "training": ({"test_fraction": "x"}, r"field 'training': expected an object whose test_fraction is a number"),
    }
    for name, (value, message) in cases.items():
        doc = {**good, name: value}
        with pytest.raises(TraceError, match=message):
            load_model(write(tmp_path / f"{name}.json", json.dumps(doc)))
    # A damaged model string never reaches LightGBM (its parser can crash the process): the
    # sha256 written with it must match.
    half = {**good["lightgbm"], "model": good["lightgbm"]["model"][: len(good["lightgbm"]["model"]) // 2]}
    with pytest.raises(TraceError, match=r"field 'lightgbm.model': the LightGBM model string does not match its "
                                         r"sha256"):
        load_model(write(tmp_path / "half.json", json.dumps({**good, "lightgbm": half})))
    doc = dict(good)
    del doc["vocabularies"]
    with pytest.raises(TraceError, match="field 'vocabularies': missing; expected an object with user and group name "
                                         "lists$"):
        load_model(write(tmp_path / "novocab.json", json.dumps(doc)))


def test_training_refuses_what_it_cannot_train() -> None:
    wl = synthetic(30, 6)
    with pytest.raises(UserError, match="unknown model kind 'knn'"):
        train(wl, kind="knn")
    with pytest.raises(UserError, match="6 jobs to train on \\(of 30, test fraction 0.8\\); a gbm model needs at least 20"):
        train(wl, test_fraction=0.8)
    with pytest.raises(UserError, match="a seed must be an integer >= 0"):
        train(wl, seed=-1)


def test_gbm_beats_the_global_median_on_the_shipped_philly_slice() -> None:
    data = PhillyDirlabReader().read([SLICE])
    result = train(data.workload, trace=str(SLICE))
    gbm, base, glob = result.metrics["gbm"], result.metrics[BASELINE], result.metrics[GLOBAL]
    assert result.test_rows == 400
    assert gbm.median_abs_log_ratio < glob.median_abs_log_ratio and gbm.within_2x > glob.within_2x
    assert base.median_abs_log_ratio < glob.median_abs_log_ratio  # the per-user median is a strong baseline


def test_gbm_beats_the_global_median_on_philly_dirlab_15k(shared_traces: Path) -> None:
    path = shared_traces / "philly-dirlab-15k" / "philly_data_training.csv"
    result = train(PhillyDirlabReader().read([path]).workload, trace=str(path))
    gbm, base, glob = result.metrics["gbm"], result.metrics[BASELINE], result.metrics[GLOBAL]
    assert result.test_rows == 3000
    assert gbm.median_abs_log_ratio < glob.median_abs_log_ratio / 2 and gbm.within_2x > 2 * glob.within_2x
    # Boosted from the baseline, the model stays close to it on the jobs it never saw.
    assert abs(gbm.median_abs_log_ratio - base.median_abs_log_ratio) < 0.1
