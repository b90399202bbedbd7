"""The list-scheduling decoder on hand-computed cases: nodes, gangs, types, speeds, releases, holes."""

from __future__ import annotations

import pytest

from simulator.run import speed_fn
from simulator.schedule import Assignment, Schedule
from simulator.speed import SpeedTable
from simulator.validate import check, summarize
from solvers.base import Objective, SolveOptions
from solvers.listsched import ListScheduler, check_solvable, order_of
from solvers.objective import evaluate
from traces.cluster import Cluster, Node
from traces.errors import UserError
from traces.model import Job, Workload


def job(job_id: str, duration_s: float, num_gpus: int = 1, submit_s: float = 0.0, **kw: object) -> Job:
    return Job(job_id=job_id, submit_s=submit_s, duration_s=duration_s, num_gpus=num_gpus, **kw)  # type: ignore[arg-type]


def rows(wl: Workload, *ids: str) -> list[int]:
    return [wl.index_of(j) for j in ids]


def runs(schedule: Schedule) -> dict[str, tuple[float, float, tuple[str, ...], float | None]]:
    return {a.job_id: (a.start_s, a.end_s, a.gpu_ids, a.work_s) for a in schedule}


def valid(schedule: Schedule, wl: Workload, cluster: Cluster, table: SpeedTable | None = None) -> None:
    v = check(schedule, wl, cluster, speed=speed_fn(table) if table is not None else None)
    assert v == [], summarize(v)


def test_two_nodes_gang_goes_where_it_finishes_first() -> None:
    cluster = Cluster.uniform(2, 2)
    wl = Workload.from_jobs([job("a", 10, 2), job("b", 5), job("c", 4, 2)])
    s = ListScheduler(wl, cluster, SolveOptions()).decode(rows(wl, "a", "b", "c"))
    # a fills n0 (both nodes tie; cluster order); b finishes first on n1; c waits for b on
    # n1 (finishes at 9) rather than for a on n0 (would finish at 14).
    assert runs(s) == {
        "a": (0.0, 10.0, ("n0:0", "n0:1"), None),
        "b": (0.0, 5.0, ("n1:0",), None),
        "c": (5.0, 9.0, ("n1:0", "n1:1"), None),
    }
    valid(s, wl, cluster)


def test_best_fit_prefers_the_node_left_fullest() -> None:
    cluster = Cluster((Node("big", "V100", 4, 32.0), Node("small", "V100", 2, 32.0)))
    wl = Workload.from_jobs([job("a", 10), job("b", 10, 2)])
    s = ListScheduler(wl, cluster, SolveOptions()).decode(rows(wl, "a", "b"))
    # a: small leaves 1 GPU free, big leaves 3 -> small. b: only big still fits it at 0.
    assert runs(s)["a"][2] == ("small:0",)
    assert runs(s)["b"][:3] == (0.0, 10.0, ("big:0", "big:1"))


def test_gpu_type_and_memory_restrict_the_nodes() -> None:
    cluster = Cluster((Node("v", "V100", 2, 16.0), Node("a", "A100", 2, 80.0)))
    wl = Workload.from_jobs([
        job("x", 10, 2, gpu_types=("A100",)),
        job("y", 10, 1, gpu_mem_gib=40.0),
        job("z", 10, 1),
    ])
    ls = ListScheduler(wl, cluster, SolveOptions())
    assert ls.eligible_nodes(wl.index_of("x")) == (1,)
    assert ls.eligible_nodes(wl.index_of("y")) == (1,)
    assert ls.eligible_nodes(wl.index_of("z")) == (0, 1)
    s = ls.decode(rows(wl, "x", "y", "z"))
    # y needs the A100's memory, so it waits for x although the V100s are idle.
    assert runs(s)["y"][:3] == (10.0, 20.0, ("a:0",))
    assert runs(s)["z"][:3] == (0.0, 10.0, ("v:0",))
    valid(s, wl, cluster)


def test_speed_factors_shorten_runs_and_keep_the_work() -> None:
    cluster = Cluster((Node("slow", "V100", 1, 32.0), Node("fast", "A100", 1, 32.0)))
    table = SpeedTable("V100", {"A100": 2.0})
    wl = Workload.from_jobs([job("a", 100), job("b", 100)])
    ls = ListScheduler(wl, cluster, SolveOptions(speed=table))
    assert ls.duration_on(0, 0) == 100.0 and ls.duration_on(0, 1) == 50.0
    s = ls.decode(rows(wl, "a", "b"))
    # a finishes first on the A100 (50 s for 100 s of reference work); b ties at 100 on
    # both nodes (wait for the A100, or run slowly now) and takes the first in cluster order.
    assert runs(s) == {"a": (0.0, 50.0, ("fast:0",), 100.0), "b": (0.0, 100.0, ("slow:0",), None)}
    valid(s, wl, cluster, table)


def test_per_model_speed_factor() -> None:
    cluster = Cluster((Node("fast", "A100", 1, 32.0),))
    table = SpeedTable("V100", {"A100": 2.0}, {("A100", "bert"): 4.0})
    wl = Workload.from_jobs([job("a", 100, model_name="bert"), job("b", 100, model_name="gpt2")])
    ls = ListScheduler(wl, cluster, SolveOptions(speed=table))
    assert ls.duration_on(wl.index_of("a"), 0) == 25.0
    assert ls.duration_on(wl.index_of("b"), 0) == 50.0
    valid(ls.decode([0, 1]), wl, cluster, table)


def test_release_times_are_respected() -> None:
    cluster = Cluster.uniform(1, 2)
    wl = Workload.from_jobs([job("a", 10, submit_s=30.0), job("b", 5, 2, submit_s=35.0)])
    s = ListScheduler(wl, cluster, SolveOptions()).decode(rows(wl, "b", "a"))
    # b (placed first) runs [35, 40); a, released at 30, fits neither before b nor beside it.
    assert runs(s)["b"][:2] == (35.0, 40.0)
    assert runs(s)["a"][:2] == (40.0, 50.0)
    valid(s, wl, cluster)


def test_insertion_fills_a_hole_only_when_the_job_fits_it() -> None:
    cluster = Cluster.uniform(1, 2)
    wl = Workload.from_jobs([job("a", 10), job("b", 20, 2), job("c", 5), job("d", 6)])
    s = ListScheduler(wl, cluster, SolveOptions()).decode(rows(wl, "a", "b", "c", "d"))
    # b waits for a, leaving a GPU idle on [0, 10): c (5 s) fills it, then only [5, 10)
    # remains, too short for d (6 s), which goes after b. GPU ids are handed out in
    # (start, end) order, so c gets the first GPU.
    assert runs(s) == {
        "a": (0.0, 10.0, ("n0:1",), None),
        "b": (10.0, 30.0, ("n0:0", "n0:1"), None),
        "c": (0.0, 5.0, ("n0:0",), None),
        "d": (30.0, 36.0, ("n0:0",), None),
    }
    valid(s, wl, cluster)


def test_gpu_ids_follow_the_counts_through_many_holes() -> None:
    cluster = Cluster.uniform(1, 3)
    wl = Workload.from_jobs([job(f"j{i}", 1 + (i * 7) % 5, 1 + i % 3, submit_s=float(i % 4)) for i in range(30)])
    order = sorted(range(len(wl)), key=lambda r: (-wl.duration_s[r], r))
    valid(ListScheduler(wl, cluster, SolveOptions()).decode(order), wl, cluster)


def test_fractional_jobs_take_a_whole_gpu() -> None:
    cluster = Cluster.uniform(1, 1)
    wl = Workload.from_jobs([job("a", 10, gpu_frac=0.5), job("b", 10, gpu_frac=0.5)])
    s = ListScheduler(wl, cluster, SolveOptions()).decode([0, 1])
    assert runs(s)["b"][:2] == (10.0, 20.0)


def test_span_across_nodes_when_allowed() -> None:
    cluster = Cluster.uniform(2, 2)
    wl = Workload.from_jobs([job("small", 4, 2), job("gang", 10, 3)])
    opts = SolveOptions(allow_span=True, cross_node_slowdown=1.5)
    ls = ListScheduler(wl, cluster, opts)
    assert ls.spans(wl.index_of("gang")) and ls.eligible_nodes(wl.index_of("gang")) == (0, 1)
    s = ls.decode(rows(wl, "small", "gang"))
    # small holds a whole node until 4, so the 3-GPU gang starts at 4 and runs 1.5 x 10 s.
    start, end, gpus, work = runs(s)["gang"]
    assert (start, end, work) == (4.0, 19.0, 10.0)
    assert len(gpus) == 3 and {g.split(":")[0] for g in gpus} == {"n0", "n1"}
    valid(s, wl, cluster)


def test_span_starts_immediately_on_an_empty_cluster() -> None:
    cluster = Cluster.uniform(3, 2)
    wl = Workload.from_jobs([job("gang", 10, 5), job("x", 3)])
    s = ListScheduler(wl, cluster, SolveOptions(allow_span=True)).decode([0, 1])
    assert runs(s)["gang"][:2] == (0.0, 10.0)
    assert runs(s)["x"][:2] == (0.0, 3.0)  # the sixth GPU is free
    valid(s, wl, cluster)


@pytest.mark.parametrize(
    "bad, allow_span, words",
    [
        (job("bad", 1, gpu_types=("H100",)), False, "GPU type H100"),
        (job("bad", 1, gpu_mem_gib=100.0), False, "100 GiB per GPU"),
        (job("bad", 1, 3), False, "3 GPUs on one node"),
        (job("bad", 1, 5), True, "5 GPUs but the cluster has only 4"),
    ],
)
def test_unsolvable_job_is_a_user_error_naming_it(bad: Job, allow_span: bool, words: str) -> None:
    cluster = Cluster.uniform(2, 2)
    wl = Workload.from_jobs([job("ok", 1), bad])
    opts = SolveOptions(allow_span=allow_span)
    with pytest.raises(UserError, match=f"job bad fits no node.*{words}"):
        check_solvable(wl, cluster, opts)
    with pytest.raises(UserError, match="job bad"):
        ListScheduler(wl, cluster, opts)


def test_order_must_be_a_permutation() -> None:
    wl = Workload.from_jobs([job("a", 1), job("b", 1)])
    ls = ListScheduler(wl, Cluster.uniform(1, 1), SolveOptions())
    with pytest.raises(ValueError, match="all 2 workload rows"):
        ls.decode([0])
    with pytest.raises(ValueError, match="twice"):
        ls.decode([1, 1])


@pytest.mark.parametrize("objective", list(Objective))
def test_order_value_matches_evaluate(objective: Objective) -> None:
    cluster = Cluster((Node("v", "V100", 2, 32.0), Node("a", "A100", 4, 80.0)))
    table = SpeedTable("V100", {"A100": 1.5})
    jobs = [job(f"j{i}", 10.0 + 7 * i % 13, 1 + i % 4, submit_s=float(3 * i),
                weight=1.0 + i % 3, deadline_s=30.0 + 5 * i if i % 2 else None) for i in range(12)]
    wl = Workload.from_jobs(jobs)
    ls = ListScheduler(wl, cluster, SolveOptions(speed=table, allow_span=True, cross_node_slowdown=1.2))
    order = list(reversed(range(len(wl))))
    schedule, value = ls.decode_with_order_value(order, objective)
    assert value == evaluate(schedule, wl, cluster, objective)
    assert ls.order_value(order, objective) == pytest.approx(value, rel=1e-12)
    valid(schedule, wl, cluster, table)


def test_empty_workload_decodes_to_an_empty_schedule() -> None:
    wl = Workload.from_jobs([])
    ls = ListScheduler(wl, Cluster.uniform(1, 1), SolveOptions())
    assert ls.decode([]) == Schedule.of([])
    assert ls.order_value([], Objective.makespan) == 0.0


def test_order_of_sorts_rows_by_first_start() -> None:
    wl = Workload.from_jobs([job("a", 1), job("b", 1), job("c", 1)])
    schedule = Schedule.of([
        Assignment("c", 0.0, 1.0, ("n0:0",)),
        Assignment("a", 5.0, 6.0, ("n0:0",)),
        Assignment("a", 2.0, 3.0, ("n0:1",)),
    ])
    assert order_of(schedule, wl) == (wl.index_of("c"), wl.index_of("a"), wl.index_of("b"))
