"""Every trace format (plus a synthetic workload) x every policy and placement, on real data.

Issue 4's "done when": the simulator runs on every shared trace format and a synthetic trace
under every registered policy and placement, and the independent validator finds nothing.
Each case is a few hundred consecutive jobs of a real input: the slices shipped in
traces/data/ where one exists, else the shared public trace (skipped when absent); the
native case is the shipped Philly DIR-LAB slice written in the native format. Uniform
clusters are sized so that queues form (`LOAD` below), so policies and placements make
real choices; `alibaba-openb` runs on the trace's own 1,213-node cluster (it is not
loaded there, as in the trace) and `alibaba-openb-trimmed` on the first nodes of each GPU
type of that cluster, where the pods' GPU-type constraints contend.

Runs: every policy with `pack`, and fcfs and las (preemptive) with every placement. The
`schedule` policy replays the fcfs schedule of the same case. The registries are read at
import, so a policy, placement or trace format added later is covered (a format without a
case fails `test_every_registered_format_has_a_case`).
"""

from __future__ import annotations

import inspect
import math
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from rl_agents import shared_untrained_agent
from typer.testing import CliRunner

import solvers.rolling  # noqa: F401  (registers cpsat-rolling, so the matrix covers it)
from executor.cli.main import app
from simulator.placement import PLACEMENTS
from simulator.policies import POLICIES, policy_params
from simulator.run import SimConfig, SimResult, simulate, speed_fn
from simulator.validate import check, summarize
from traces.cluster import Cluster, Node
from traces.model import JobStatus, Workload
from traces.readers.native import write_native
from traces.readers.registry import READERS, detect_format, read_trace
from traces.synth import ArrivalProcess, DurationDist, SynthSpec, generate

DATA = Path(__file__).resolve().parents[2] / "traces" / "data"
OPENB = "alibaba-openb-2023"
OPENB_PODS = f"{OPENB}/openb_pod_list_gpuspec33.csv"  # the pod list with GPU-type constraints
OPENB_NODES = f"{OPENB}/openb_node_list_gpu_node.csv"
DLRM = "alibaba-dlrm-2025/disaggregated_DLRM_trace.csv"
NUM_JOBS = 300
LOAD = 1.2  # offered GPU load within a case's arrival window on its uniform cluster
GPUS_PER_NODE = 8
TRIMMED_GPUS_PER_TYPE = 8  # openb-trimmed: first nodes of each GPU type until it has this many GPUs
PREEMPTIVE = "las"
SEED = 7
runner = CliRunner()


def window_demand_gpus(wl: Workload) -> float:
    """Mean GPUs busy between the first and last submission if every job started on arrival.

    Unlike `Workload.offered_load`, a job that runs past the last submission counts only for
    its part inside the window, so a few week-long jobs do not make a tiny cluster look big.
    """
    t0, t1 = float(wl.submit_s[0]), float(wl.submit_s[-1])
    busy = np.minimum(wl.submit_s + wl.duration_s, t1) - wl.submit_s
    return float(np.sum(wl.num_gpus * busy) / (t1 - t0))


def loaded_cluster(wl: Workload) -> Cluster:
    """Uniform 8-GPU nodes: enough for the biggest job, few enough for load `LOAD`."""
    nodes = max(math.ceil(int(wl.num_gpus.max()) / GPUS_PER_NODE),
                math.ceil(window_demand_gpus(wl) / (GPUS_PER_NODE * LOAD)))
    return Cluster.uniform(nodes, GPUS_PER_NODE)


def trimmed(cluster: Cluster, gpus_per_type: int) -> Cluster:
    """The first nodes of each GPU type (in cluster order) until that type has `gpus_per_type` GPUs."""
    have: Counter[str] = Counter()
    keep: list[Node] = []
    for node in cluster.nodes:
        if have[node.gpu_type] < gpus_per_type:
            keep.append(node)
            have[node.gpu_type] += node.num_gpus
    return Cluster(tuple(keep))


def window(wl: Workload, start: int) -> Workload:
    return wl.take(np.arange(start, start + NUM_JOBS))


@dataclass(frozen=True, slots=True)
class Case:
    """One workload and its cluster; `shared` cases read /work/shared/traces (skipped when absent)."""

    name: str
    fmt: str  # the registry key of the format it exercises ("synth" for the generator)
    shared: bool
    load: Callable[[Path, Path], tuple[Workload, Cluster]]  # (shared traces root, scratch dir)
    queues: bool = True  # the cluster is sized so that jobs wait


def _shipped(name: str, start: int) -> Callable[[Path, Path], tuple[Workload, Cluster]]:
    def load(_: Path, __: Path) -> tuple[Workload, Cluster]:
        wl = window(read_trace(DATA / name).workload, start)
        return wl, loaded_cluster(wl)

    return load


def _native(_: Path, scratch: Path) -> tuple[Workload, Cluster]:
    src = read_trace(DATA / "philly-dirlab-slice.csv").workload  # has users and failed/killed statuses
    path = write_native(src, scratch / "dirlab-native.csv")
    assert detect_format(path) == "native"
    data = read_trace(path)
    wl = window(data.workload, 1000)
    return wl, loaded_cluster(wl)


def _openb(root: Path, _: Path, trim: bool) -> tuple[Workload, Cluster]:
    data = read_trace([root / OPENB_PODS, root / OPENB_NODES])
    assert data.cluster is not None
    start = int(np.searchsorted(data.workload.submit_s, 1e7)) + 3500  # inside the 33-day window
    wl = window(data.workload, start)
    return wl, trimmed(data.cluster, TRIMMED_GPUS_PER_TYPE) if trim else data.cluster


def _dlrm(root: Path, _: Path) -> tuple[Workload, Cluster]:
    wl = window(read_trace(root / DLRM).workload, 1000)
    return wl, loaded_cluster(wl)


def _synth(_: Path, __: Path) -> tuple[Workload, Cluster]:
    cluster = Cluster.uniform(4, GPUS_PER_NODE)
    spec = SynthSpec(
        num_jobs=NUM_JOBS, arrival=ArrivalProcess.diurnal, peak_to_trough=3.0, load=LOAD, cluster_gpus=cluster.num_gpus,
        duration=DurationDist.lognormal, median_duration_s=1800.0, duration_sigma=1.5,
        gpu_counts=((1, 0.6), (2, 0.2), (4, 0.1), (8, 0.1)), num_users=6,
    )
    return generate(spec, np.random.default_rng(4)), cluster


CASES: tuple[Case, ...] = (
    Case("native", "native", False, _native),
    Case("philly-pollux", "philly-pollux", False, _shipped("philly-pollux-slice.csv", 1000)),
    Case("philly-dirlab", "philly-dirlab", False, _shipped("philly-dirlab-slice.csv", 1000)),
    Case("itp", "itp", False, _shipped("itp-cluster05.csv", 1000)),
    Case("alibaba-openb", "alibaba-openb", True, lambda root, s: _openb(root, s, trim=False), queues=False),
    Case("alibaba-openb-trimmed", "alibaba-openb", True, lambda root, s: _openb(root, s, trim=True)),
    Case("alibaba-dlrm", "alibaba-dlrm", True, _dlrm),
    Case("synth", "synth", False, _synth),
)
CASE_BY_NAME = {c.name: c for c in CASES}


@cache
def _loaded(name: str, root: Path, scratch: Path) -> tuple[Workload, Cluster]:
    return CASE_BY_NAME[name].load(root, scratch)


@pytest.fixture(scope="module")
def scratch(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("matrix")


def instance(request: pytest.FixtureRequest, name: str, scratch: Path) -> tuple[Workload, Cluster]:
    """The case's workload and cluster, built once per run of the file; shared cases skip without the traces."""
    root = request.getfixturevalue("shared_traces") if CASE_BY_NAME[name].shared else Path()
    return _loaded(name, root, scratch)


def runs() -> list[tuple[str, str]]:
    pairs = [(policy, "pack") for policy in sorted(POLICIES)]
    pairs += [(policy, placement) for policy in ("fcfs", PREEMPTIVE) for placement in sorted(PLACEMENTS)
              if placement != "pack"]
    return pairs


# cpsat-rolling solves a CP-SAT model at most epochs (~15 ms each): two cases keep the file fast.
ROLLING_CASES = ("synth", "philly-dirlab")
MATRIX = [pytest.param(c.name, p, q, id=f"{c.name}-{p}-{q}") for c in CASES for p, q in runs()
          if p != "cpsat-rolling" or c.name in ROLLING_CASES]


def config_for(policy: str, placement: str, workload: Workload, cluster: Cluster) -> SimConfig:
    """Defaults throughout; `schedule` replays the fcfs schedule of the same instance."""
    params: tuple[tuple[str, Any], ...] = ()
    if policy == "schedule":
        fcfs = simulate(workload, cluster, SimConfig("fcfs", placement, seed=SEED))
        params = (("mode", "order"), ("schedule", fcfs.schedule))
    elif policy == "cpsat-rolling":
        params = (("time_limit_s", 0.002),)  # validity, not plan quality, is checked here
    elif policy == "rl":
        params = (("agent", shared_untrained_agent()),)  # an untrained agent: validity, not quality
    elif any(v is inspect.Parameter.empty for v in policy_params(policy).values()):
        pytest.skip(f"policy {policy} has required parameters: tested in its own module")
    return SimConfig(policy, placement, seed=SEED, policy_params=params)


def check_result(result: SimResult, workload: Workload, cluster: Cluster) -> None:
    violations = check(result.schedule, workload, cluster, speed=speed_fn(result.config.speed_table))
    assert violations == [], summarize(violations)

    jobs = result.jobs.to_pydict()
    ids = [str(j) for j in workload.job_id]
    assert jobs["job_id"] == ids  # one row per job, in workload order
    trace_status = [JobStatus.completed.value if s in (None, JobStatus.unknown.value) else s
                    for s in workload.status.values()]
    assert jobs["status"] == trace_status  # exactly one final status each: the trace's own
    finished = Counter(s["job_id"] for s in result.segments.to_pylist() if s["reason"] == "finished")
    assert finished == Counter(ids)  # exactly one finishing segment per job
    assert not result.schedule.rejected

    jct = np.array(jobs["jct_s"], dtype=np.float64)
    assert np.all(np.isfinite(jct))
    short = np.flatnonzero(jct < workload.duration_s * (1 - 1e-12))
    assert not len(short), f"JCT below duration for {[ids[i] for i in short[:5]]}"


def test_every_registered_format_has_a_case() -> None:
    assert set(READERS) <= {c.fmt for c in CASES}


@pytest.mark.parametrize(("case", "policy", "placement"), MATRIX)
def test_valid_and_deterministic(
    request: pytest.FixtureRequest, scratch: Path, case: str, policy: str, placement: str
) -> None:
    workload, cluster = instance(request, case, scratch)
    config = config_for(policy, placement, workload, cluster)
    result = simulate(workload, cluster, config)
    check_result(result, workload, cluster)

    again = simulate(workload, cluster, config)
    assert again.jobs.to_pandas().equals(result.jobs.to_pandas())
    if policy == "schedule":  # replaying fcfs's own schedule in order mode reproduces it exactly
        replayed = dict(config.policy_params)["schedule"]
        assert result.schedule.assignments == replayed.assignments


@pytest.mark.parametrize("case", [c.name for c in CASES if c.queues])
def test_clusters_are_loaded_enough_for_queues(request: pytest.FixtureRequest, scratch: Path, case: str) -> None:
    """The matrix only means something if policies have a queue to order."""
    workload, cluster = instance(request, case, scratch)
    wait = np.array(simulate(workload, cluster, SimConfig("fcfs", "pack")).jobs.column("wait_s").to_pylist())
    assert np.count_nonzero(wait > 0) >= len(workload) // 10


# ----- the command line, one policy/placement per format ---------------------------------------

def _head(src: Path, dest: Path, rows: range) -> Path:
    """A slice of a CSV: its header and the given data rows (0-based), bytes unchanged."""
    lines = src.read_bytes().splitlines(keepends=True)
    dest.write_bytes(b"".join([lines[0], *(lines[1 + i] for i in rows)]))
    return dest


def _cli_native(_: Path, tmp: Path) -> list[str]:
    wl = read_trace(DATA / "philly-dirlab-slice.csv").workload.take(np.arange(NUM_JOBS))
    return [str(write_native(wl, tmp / "dirlab.parquet")), "--nodes", "8"]


def _cli_openb(root: Path, tmp: Path) -> list[str]:
    pods = _head(root / OPENB_PODS, tmp / "pods.csv", range(3500, 3500 + NUM_JOBS))
    return [str(pods), str(root / OPENB_NODES)]  # the trace's own cluster


def _cli_dlrm(root: Path, tmp: Path) -> list[str]:
    return [str(_head(root / DLRM, tmp / "dlrm.csv", range(13000, 15000))), "--nodes", "4"]


CLI_CASES: dict[str, tuple[bool, Callable[[Path, Path], list[str]], str, str]] = {
    # format: (needs shared traces, args for the trace and cluster, policy, placement)
    "native": (False, _cli_native, "fair-share", "best-fit"),
    "philly-pollux": (False, lambda _, __: [str(DATA / "philly-pollux-slice.csv"), "--nodes", "8"], "sjf-estimate",
                      "topology"),
    "philly-dirlab": (False, lambda _, __: [str(DATA / "philly-dirlab-slice.csv"), "--nodes", "40"], "srtf",
                      "spread"),
    "itp": (False, lambda _, __: [str(DATA / "itp-cluster05.csv"), "--nodes", "2"], "easy-backfill", "random"),
    "alibaba-openb": (True, _cli_openb, "themis", "pack"),
    "alibaba-dlrm": (True, _cli_dlrm, "priority-preemptive", "best-fit"),
}


def test_every_registered_format_has_a_cli_case() -> None:
    assert set(READERS) <= set(CLI_CASES)


@pytest.mark.parametrize("fmt", sorted(CLI_CASES))
def test_cli_simulate_on_every_format(request: pytest.FixtureRequest, tmp_path: Path, fmt: str) -> None:
    shared, trace_args, policy, placement = CLI_CASES[fmt]
    root = request.getfixturevalue("shared_traces") if shared else Path()
    out = tmp_path / "out"
    args = ["simulate", *trace_args(root, tmp_path), "--policy", policy, "--placement", placement, "--out", str(out)]
    assert detect_format(Path(args[1])) == fmt
    result = runner.invoke(app, args)
    assert result.exit_code == 0, result.stderr
    assert "0 violations" in result.stderr
    for name in ("jobs.csv", "segments.csv", "timeline.csv", "summary.json"):
        assert (out / name).stat().st_size > 0, name
