"""Reusable hypothesis strategies for the data model.

Import as `from strategies import jobs, workloads`: pytest's default "prepend" import mode puts
`tests/` (the folder of `tests/conftest.py`, which has no `__init__.py`) on `sys.path` before
any test module is imported, whichever test file or folder is run.

Values stay inside what every layer accepts, but include the awkward cases for file formats:
job ids and names with commas, quotes, spaces and non-ASCII letters; absent optional fields;
tuples of allowed GPU types; fractional GPUs; arbitrary-precision floats.
"""

from __future__ import annotations

from hypothesis import strategies as st

from traces.model import Job, JobStatus, Workload

GPU_TYPE_NAMES: tuple[str, ...] = ("V100", "A100", "P100", "K80", "T4", "H100")

# Printable text without control characters (no newlines): letters of any script, digits,
# punctuation (commas, quotes, '|'), spaces, symbols such as emoji.
_text_chars = st.characters(blacklist_categories=("Cc", "Cs", "Co", "Cn"))


def names(max_size: int = 12) -> st.SearchStrategy[str]:
    """Non-empty user/group/model-like names (empty means absent in the native format)."""
    return st.text(_text_chars, min_size=1, max_size=max_size)


def job_ids() -> st.SearchStrategy[str]:
    """Non-empty ids, mixing plain `job-N` ids with awkward ones (commas, quotes, unicode)."""
    return st.one_of(
        st.integers(0, 10**6).map(lambda i: f"job-{i}"),
        st.text(_text_chars, min_size=1, max_size=16),
        st.sampled_from(['a,b', 'say "hi"', "'q'", " lead", "trail ", "ünï©ødé", "作业-1", "x|y"]),
    )


def _seconds(max_value: float) -> st.SearchStrategy[float]:
    return st.floats(min_value=0.0, max_value=max_value, allow_nan=False, allow_infinity=False)


@st.composite
def jobs(draw: st.DrawFn, job_id: st.SearchStrategy[str] | None = None) -> Job:
    """One valid `Job`, every optional field sometimes absent."""
    num_gpus = draw(st.sampled_from([1, 1, 1, 2, 4, 8, 16, 64]))
    frac = 1.0
    if num_gpus == 1 and draw(st.booleans()):
        frac = draw(st.floats(min_value=0.0, max_value=1.0, exclude_min=True))
    return Job(
        job_id=draw(job_id if job_id is not None else job_ids()),
        submit_s=draw(_seconds(1e8)),
        duration_s=draw(st.floats(min_value=0.0, max_value=1e7, exclude_min=True, allow_infinity=False)),
        num_gpus=num_gpus,
        gpu_frac=frac,
        gpu_mem_gib=draw(st.none() | st.floats(min_value=0.5, max_value=640.0)),
        gpu_types=tuple(draw(st.lists(st.sampled_from(GPU_TYPE_NAMES), max_size=3))),
        user=draw(st.none() | names()),
        group=draw(st.none() | names()),
        priority=draw(st.integers(-5, 5)),
        weight=draw(st.floats(min_value=0.01, max_value=100.0)),
        deadline_s=draw(st.none() | st.floats(min_value=-1e8, max_value=1e9)),
        model_name=draw(st.none() | st.sampled_from(["resnet50", "bert", "gpt2"]) | names()),
        status=draw(st.sampled_from(list(JobStatus))),
    )


def workloads(min_size: int = 1, max_size: int = 30) -> st.SearchStrategy[Workload]:
    """A `Workload` of `min_size..max_size` jobs with unique ids, built with `Workload.from_jobs`."""
    return st.lists(jobs(), min_size=min_size, max_size=max_size, unique_by=lambda j: j.job_id).map(
        Workload.from_jobs
    )


# ----- clusters and valid schedules (for the schedule validator and schedule files) -----
# Appended as its own section so that it does not disturb the strategies above.
from collections.abc import Callable  # noqa: E402
from dataclasses import dataclass  # noqa: E402

from simulator.schedule import Assignment, Schedule  # noqa: E402
from traces.cluster import Cluster, GpuInfo, Node  # noqa: E402

CLUSTER_GPU_TYPES: tuple[str, ...] = GPU_TYPE_NAMES[:3]
SPEED_TABLE: dict[str, float] = {"V100": 1.0, "A100": 2.0, "P100": 0.5}


@st.composite
def clusters(draw: st.DrawFn, max_nodes: int = 3, max_gpus_per_node: int = 4) -> Cluster:
    """Small clusters mixing GPU types and per-GPU memory sizes."""
    n = draw(st.integers(1, max_nodes))
    return Cluster(
        tuple(
            Node(
                f"n{i}",
                draw(st.sampled_from(CLUSTER_GPU_TYPES)),
                draw(st.integers(1, max_gpus_per_node)),
                draw(st.sampled_from([16.0, 32.0, 80.0])),
            )
            for i in range(n)
        )
    )


@st.composite
def fitting_jobs(draw: st.DrawFn, cluster: Cluster, job_id: str) -> Job:
    """A job that fits an empty `cluster` on GPUs of a single type (what `greedy_schedule` needs)."""
    by_type: dict[str, list[float]] = {}
    for g in cluster.gpus():
        by_type.setdefault(g.gpu_type, []).append(g.gpu_mem_gib)
    target = draw(st.sampled_from(sorted(by_type)))
    mems = sorted(by_type[target], reverse=True)
    num_gpus = draw(st.integers(1, min(4, len(mems))))
    frac = 1.0
    if num_gpus == 1 and draw(st.booleans()):
        frac = draw(st.sampled_from([0.25, 0.5, 0.3, 0.7]) | st.floats(0.05, 1.0))
    others = [t for t in CLUSTER_GPU_TYPES if t != target]
    gpu_types = draw(st.sampled_from([(), (target,), (target, others[0]), (others[1], target)]))
    return Job(
        job_id=job_id,
        submit_s=draw(st.floats(0.0, 2000.0)),
        duration_s=draw(st.floats(0.5, 1000.0)),
        num_gpus=num_gpus,
        gpu_frac=frac,
        gpu_mem_gib=draw(st.none() | st.floats(1.0, mems[num_gpus - 1])),
        gpu_types=gpu_types,
    )


# (work fraction, lost seconds) per segment of one job; fractions sum to 1.
Plan = tuple[tuple[float, float], ...]


@dataclass(frozen=True)
class ScheduledInstance:
    """A workload, a cluster and a schedule of it that is valid (under `speed`, if set)."""

    workload: Workload
    cluster: Cluster
    schedule: Schedule
    speed: Callable[[Job, str], float] | None


def table_speed(job: Job, gpu_type: str) -> float:
    """Per-type speeds from `SPEED_TABLE`, the same for every job."""
    return SPEED_TABLE[gpu_type]


def _fits(busy: list[tuple[float, float, float, float]], g: GpuInfo, job: Job, start: float, end: float) -> bool:
    """Conservative: everything overlapping the window counts as running at once."""
    frac, mem = job.gpu_frac, job.gpu_mem_gib or 0.0
    for s, e, f, m in busy:
        if s < end and start < e:
            frac += f
            mem += m
    return frac <= 1.0 and mem <= g.gpu_mem_gib


def greedy_schedule(
    workload: Workload,
    cluster: Cluster,
    plans: dict[str, Plan],
    rejected: frozenset[str] = frozenset(),
    speed: Callable[[Job, str], float] | None = None,
) -> Schedule:
    """Test scaffolding: a list scheduler that places each segment at the earliest time its
    whole gang (all GPUs of one type) is free for the segment's length. Segments after the
    first model preemption; `lost` seconds model work lost since the last checkpoint."""
    gpus = cluster.gpus()
    busy: dict[str, list[tuple[float, float, float, float]]] = {g.gpu_id: [] for g in gpus}
    out: list[Assignment] = []
    for job in workload:
        if job.job_id in rejected:
            continue
        eligible = [
            g for g in gpus
            if (not job.gpu_types or g.gpu_type in job.gpu_types)
            and (job.gpu_mem_gib is None or job.gpu_mem_gib <= g.gpu_mem_gib)
        ]
        ready = job.submit_s
        plan = plans.get(job.job_id, ((1.0, 0.0),))
        done = 0.0
        for k, (share, lost) in enumerate(plan):
            work = job.duration_s - done if k == len(plan) - 1 else job.duration_s * share
            done += work
            placed = None
            times = sorted({ready} | {e for g in eligible for _, e, _, _ in busy[g.gpu_id] if e > ready})
            for t in times:
                for gpu_type in dict.fromkeys(g.gpu_type for g in eligible):
                    rate = 1.0 if speed is None else speed(job, gpu_type)
                    end = t + work / rate + lost
                    gang = [g for g in eligible if g.gpu_type == gpu_type and _fits(busy[g.gpu_id], g, job, t, end)]
                    if len(gang) >= job.num_gpus:
                        placed = (t, end, gang[: job.num_gpus])
                        break
                if placed:
                    break
            assert placed is not None, f"job {job.job_id} does not fit the cluster"
            t, end, gang = placed
            for g in gang:
                busy[g.gpu_id].append((t, end, job.gpu_frac, job.gpu_mem_gib or 0.0))
            exact = speed is None and lost == 0.0
            out.append(Assignment(job.job_id, t, end, tuple(g.gpu_id for g in gang), None if exact else work))
            ready = end
    return Schedule.of(out, rejected)


@st.composite
def plans(draw: st.DrawFn) -> Plan:
    """One to three segments; later ones sometimes lose a little work to preemption."""
    k = draw(st.integers(1, 3))
    if k == 1:
        return ((1.0, 0.0),)
    # Cuts on a 1% grid: unique floats can be a few ulps apart, making a segment too short
    # for its end to differ from its start.
    cuts = sorted(p / 100 for p in draw(st.lists(st.integers(5, 95), min_size=k - 1, max_size=k - 1, unique=True)))
    shares = [b - a for a, b in zip([0.0, *cuts], [*cuts, 1.0], strict=True)]
    return tuple((s, draw(st.sampled_from([0.0, 0.0, 1.5, 10.0]))) for s in shares)


@st.composite
def scheduled_instances(draw: st.DrawFn, max_jobs: int = 10, with_speed: bool | None = None) -> ScheduledInstance:
    """A random workload fitting a random cluster, and a valid greedy schedule of it
    (some jobs rejected, some preempted into several segments, maybe per-type speeds)."""
    cluster = draw(clusters())
    ids = draw(st.lists(job_ids(), min_size=1, max_size=max_jobs, unique=True))
    workload = Workload.from_jobs([draw(fitting_jobs(cluster, j)) for j in ids])
    rejected = frozenset(draw(st.lists(st.sampled_from(ids), max_size=2)))
    job_plans = {j: draw(plans()) for j in ids}
    use_speed = draw(st.booleans()) if with_speed is None else with_speed
    speed = table_speed if use_speed else None
    return ScheduledInstance(workload, cluster, greedy_schedule(workload, cluster, job_plans, rejected, speed), speed)
