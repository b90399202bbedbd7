"""Planning a replay: trace time -> wall time, work -> steps, jobs -> model families (no TensorFlow)."""

from __future__ import annotations

import pytest
from profile_tables import profile_table

from executor.plan import FAMILIES, family_for, make_plan
from simulator.schedule import Assignment, Schedule
from traces.errors import UserError
from traces.model import Job, Workload


def workload() -> Workload:
    return Workload.from_jobs([
        Job(job_id="a", submit_s=100.0, duration_s=50.0, num_gpus=1, model_name="ResNet-50"),
        Job(job_id="b", submit_s=110.0, duration_s=40.0, num_gpus=2, model_name="mlp"),
        Job(job_id="c", submit_s=120.0, duration_s=30.0, num_gpus=1),
        Job(job_id="d", submit_s=130.0, duration_s=30.0, num_gpus=1),
    ])


RATES = profile_table(("CPU", "cnn", 32, 1, 20.0), ("CPU", "mlp", 32, 1, 100.0), ("CPU", "mlp", 32, 2, 80.0),
              *((("CPU", f, 32, 1, 10.0)) for f in FAMILIES if f not in ("cnn", "mlp")))



def test_steps_follow_work_scale_and_the_reference_rate() -> None:
    sched = Schedule.of([
        Assignment("a", 100.0, 150.0, ("n0:0",)),
        Assignment("b", 110.0, 150.0, ("n0:1", "n0:2")),
        Assignment("c", 150.0, 160.0, ("n0:0",), work_s=8.0),  # preempted: 8 s of work kept
        Assignment("c", 170.0, 192.0, ("n0:1",)),
    ], rejected=("d",))
    plan = make_plan(sched, workload(), RATES, time_scale=0.1, gpu_types={"n0:0": "V100"})
    jobs = plan.by_job
    assert jobs["a"].family == "cnn" and jobs["a"].segments[0].steps == round(50 * 0.1 * 20.0)
    assert jobs["b"].family == "mlp" and jobs["b"].num_devices == 2
    assert jobs["b"].segments[0].steps == round(40 * 0.1 * 80.0)  # the 2-device rate
    assert [s.steps for s in jobs["c"].segments] == [round(8 * 0.1 * 10), round(22 * 0.1 * 10)]
    assert [s.last for s in jobs["c"].segments] == [False, True]
    assert plan.origin_s == 100.0 and plan.wall_s(150.0) == pytest.approx(5.0) and plan.trace_s(5.0) == 150.0
    assert plan.gpu_ids == ("n0:0", "n0:1", "n0:2")
    assert "d" not in jobs
    assert any("1 job(s) the schedule rejects" in n for n in plan.notes)
    assert any("V100 GPUs run on devices profiled as CPU" in n for n in plan.notes)
    assert [(t.job_id, t.segment) for t in plan.tasks] == [("a", 0), ("b", 0), ("c", 0), ("c", 1)]


def test_gang_without_its_own_rate_uses_the_single_device_rate_with_a_note() -> None:
    sched = Schedule.of([Assignment("a", 100.0, 150.0, ("n0:0", "n0:1"))])
    plan = make_plan(sched, workload(), RATES, time_scale=1.0)
    assert plan.jobs[0].steps_per_s == 20.0
    assert any("no 2-device rate profiled for cnn" in n for n in plan.notes)


def test_model_choice_is_seeded_and_independent_of_job_order() -> None:
    picks = {family_for(f"job-{i}", None, seed=7) for i in range(200)}
    assert picks == set(FAMILIES)  # every family is reachable
    assert [family_for("x", None, 7) for _ in range(3)] == [family_for("x", None, 7)] * 3
    assert family_for("x", "my-LSTM-model", 0) == "lstm"
    assert family_for("x", "dcgan", 0) == "gan"
    assert family_for("x", "bert-base-finetune", 0) == "transfer"
    assert family_for("x", "gru", 0) == "gru"


def test_overrides_choose_model_size_and_batch() -> None:
    sched = Schedule.of([Assignment("c", 120.0, 150.0, ("n0:0",))])
    plan = make_plan(sched, workload(), RATES, time_scale=1.0, overrides={"c": {"model": "mlp", "size": 3}})
    assert (plan.jobs[0].family, plan.jobs[0].size, plan.jobs[0].batch_size) == ("mlp", 3, 32)
    with pytest.raises(UserError, match="unknown model 'bogus'"):
        make_plan(sched, workload(), RATES, time_scale=1.0, overrides={"c": {"model": "bogus"}})
    with pytest.raises(UserError, match="not in the schedule"):
        make_plan(sched, workload(), RATES, time_scale=1.0, overrides={"zz": {"model": "mlp"}})


@pytest.mark.parametrize(
    "kwargs,sched,message",
    [
        ({"time_scale": 0.0}, None, "--time-scale must be a number > 0"),
        ({"time_scale": 1.0}, Schedule.of([Assignment("nope", 0.0, 1.0, ("n0:0",))]),
         "1 scheduled job(s) are not in the trace (first: nope)"),
        ({"time_scale": 1.0, "batch_size": 64}, None, "no rate for model cnn at batch size 64 on CPU"),
        ({"time_scale": 1.0, "reference_type": "A100"}, None, "no rows for reference type A100"),
    ],
)
def test_plan_errors_are_one_line(kwargs: dict, sched: Schedule | None, message: str) -> None:
    sched = sched or Schedule.of([Assignment("a", 100.0, 150.0, ("n0:0",))])
    with pytest.raises(UserError) as err:
        make_plan(sched, workload(), RATES, **kwargs)
    assert message in str(err.value) and "\n" not in str(err.value)


def test_several_profiled_types_need_a_reference() -> None:
    rates = profile_table(("V100", "cnn", 32, 1, 20.0), ("A100", "cnn", 32, 1, 40.0))
    sched = Schedule.of([Assignment("a", 100.0, 150.0, ("n0:0",))])
    with pytest.raises(UserError, match="--reference-type"):
        make_plan(sched, workload(), rates, time_scale=1.0)
    plan = make_plan(sched, workload(), rates, time_scale=1.0, reference_type="V100")
    assert plan.jobs[0].steps == 50 * 20
