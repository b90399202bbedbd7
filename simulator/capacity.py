"""How many GPUs a workload needs for a wait target: queueing theory next to the simulator.

Two answers, side by side, because each is wrong in its own way. Theory (M/M/c, and the
Allen-Cunneen G/G/c approximation) is instant but sees the trace only through a few
numbers: c = GPUs, lambda = arrivals per second, and the mean GPU-seconds per job on the
chosen GPU type as the service time, so a k-GPU job counts as one server busy k times as
long. The simulator replays the actual trace (gangs that need k GPUs at once, bursts,
daily cycles, a queue that starts empty) but costs a run per size. So the simulated
answer is found by bisection over whole nodes, starting from the theory answer, and the
gap between the two is explained from the trace's gang share and its arrival and service
variability (squared coefficients of variation, SCV: 1 for Poisson arrivals and
exponential service).

Search: a size is one cluster of `nodes x gpus_per_node` GPUs of one type; each size is
simulated once per seed (a probe, cached so no size runs twice) and judged on the mean
over seeds of each run's mean wait, or on the 95th percentile of all seeds' waits pooled.
The upper end is found by doubling from the theory answer (capped by the zero-wait size,
where every job can start on arrival, or by `max_nodes`); waits are assumed to fall as
the cluster grows, and that is checked at the answer (n - 1 nodes fail, n + 1 meet).
"""

from __future__ import annotations

import dataclasses
import enum
import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import numpy.typing as npt
import pyarrow as pa

from simulator.cluster import Cluster, check_fits
from simulator.run import SimConfig, SimResult, simulate
from simulator.speed import SpeedTable
from simulator.sweep.load import scale_load
from simulator.theory import erlang_c, mmc_mean_wait_s, mmc_min_servers, mmc_wait_quantile_s
from traces.errors import UserError
from traces.model import Workload

P95 = 0.95
SCV_TOLERANCE = 0.1
"""An SCV within this of 1 counts as Poisson-like (arrivals) or exponential-like (service)."""
DEFAULT_GPU_MEM_GIB = 32.0

Progress = Callable[[int, int], None]
"""`progress(simulations_done, simulations_expected)`; the expected count grows as the search learns."""


class WaitStat(enum.StrEnum):
    """Which wait statistic a target bounds."""

    p95 = "p95"
    mean = "mean"


@dataclass(frozen=True, slots=True)
class WaitTarget:
    """`stat` wait of the jobs at most `wait_s` seconds (p95: >= 0; mean: > 0, as theory needs)."""

    stat: WaitStat
    wait_s: float

    def __post_init__(self) -> None:
        try:
            object.__setattr__(self, "stat", WaitStat(self.stat))
        except ValueError:
            stats = " or ".join(w.value for w in WaitStat)
            raise UserError(f"a wait target is on {stats}, got {self.stat!r}") from None
        positive = self.stat is WaitStat.mean
        ok = isinstance(self.wait_s, (int, float)) and not isinstance(self.wait_s, bool) and math.isfinite(
            self.wait_s) and (self.wait_s > 0 if positive else self.wait_s >= 0)
        if not ok:
            raise UserError(f"the {self.stat.value} wait target must be a finite number of seconds "
                            f"{'> 0' if positive else '>= 0'}, got {self.wait_s!r}")
        object.__setattr__(self, "wait_s", float(self.wait_s))

    @property
    def label(self) -> str:
        return f"{self.stat.value} wait <= {self.wait_s:g} s"

    def value(self, probe: Probe) -> float:
        return probe.p95_wait_s if self.stat is WaitStat.p95 else probe.mean_wait_s


# ----- the workload as theory sees it -----------------------------------------------------------
@dataclass(frozen=True, slots=True)
class WorkloadStats:
    """The numbers the formulas use, on GPU type `gpu_type` (service = duration x GPUs / speed).

    `arrival_rate_per_s` is 1 / mean interarrival time (the n - 1 gaps over the span: the
    rate estimate when the window opens at the first arrival). `peak_demand_gpus` is the
    most GPUs in use at once if no job ever waited: at that size a work-conserving policy
    starts every job on arrival.
    """

    gpu_type: str
    num_jobs: int
    span_s: float
    arrival_rate_per_s: float
    mean_service_gpu_s: float
    offered_load_gpus: float
    arrival_scv: float
    service_scv: float
    gang_share: float
    gang_gpu_s_share: float
    max_job_gpus: int
    num_fractional: int
    peak_demand_gpus: int

    @property
    def service_rate_per_s(self) -> float:
        return 1.0 / self.mean_service_gpu_s

    @property
    def variability(self) -> float:
        """Allen-Cunneen's factor (ca^2 + cs^2) / 2 on the M/M/c wait (1 for M/M/c itself)."""
        return (self.arrival_scv + self.service_scv) / 2.0


def _scv(values: npt.NDArray[np.float64]) -> float:
    mean = float(np.mean(values))
    return float(np.var(values)) / (mean * mean) if mean > 0 else math.nan


def job_speed_factors(workload: Workload, gpu_type: str, speed_table: SpeedTable) -> npt.NDArray[np.float64]:
    """Each job's speed factor on `gpu_type` (per model where the table has one)."""
    speed_table.check_types([gpu_type])
    cats = workload.model_name.categories
    per_code = np.array([speed_table.factor(gpu_type, str(m)) for m in cats] + [speed_table.factor(gpu_type)])
    codes = workload.model_name.codes
    return np.asarray(per_code[np.where(codes < 0, len(cats), codes)], dtype=np.float64)


def _peak_demand(submit_s: npt.NDArray[np.float64], run_s: npt.NDArray[np.float64],
                 gpus: npt.NDArray[np.int64]) -> int:
    """Most GPUs busy at once when each job runs from its submit time (ends before starts at a tie)."""
    times = np.concatenate([submit_s + run_s, submit_s])
    deltas = np.concatenate([-gpus, gpus])
    order = np.lexsort((deltas, times))
    return int(np.max(np.cumsum(deltas[order])))


def workload_stats(workload: Workload, gpu_type: str, speed_table: SpeedTable | None = None) -> WorkloadStats:
    """Arrival rate, GPU-seconds per job, SCVs, gang share and peak demand on `gpu_type`.

    Jobs asking for a fraction of a GPU count as one whole GPU, as the simulator runs them.
    Raises `UserError` for fewer than two jobs or a zero span (no arrival rate).
    """
    table = speed_table or SpeedTable.reference()
    n = len(workload)
    if n < 2 or workload.span_s <= 0:
        raise UserError(f"capacity needs at least 2 jobs submitted at different times to estimate an arrival "
                        f"rate; the workload has {n} job(s) over {workload.span_s:g} s")
    factor = job_speed_factors(workload, gpu_type, table)
    gpus = workload.num_gpus.astype(np.int64)
    run_s = workload.duration_s / factor
    service = run_s * gpus
    gaps = np.diff(workload.submit_s)
    lam = (n - 1) / workload.span_s
    mean_service = float(np.mean(service))
    gang = gpus > 1
    return WorkloadStats(
        gpu_type=gpu_type,
        num_jobs=n,
        span_s=workload.span_s,
        arrival_rate_per_s=lam,
        mean_service_gpu_s=mean_service,
        offered_load_gpus=lam * mean_service,
        arrival_scv=_scv(gaps),
        service_scv=_scv(service),
        gang_share=float(np.mean(gang)),
        gang_gpu_s_share=float(np.sum(service[gang]) / np.sum(service)),
        max_job_gpus=int(np.max(gpus)),
        num_fractional=int(np.count_nonzero(workload.gpu_frac < 1)),
        peak_demand_gpus=_peak_demand(workload.submit_s, run_s, gpus),
    )


# ----- theory -----------------------------------------------------------------------------------
@dataclass(frozen=True, slots=True)
class TheoryWaits:
    """Waits at `gpus` servers: M/M/c exact, Allen-Cunneen scaled by (ca^2 + cs^2) / 2; inf if unstable.

    Allen-Cunneen gives a mean; its p95 here keeps M/M/c's shape (an atom at zero of mass
    1 - C, then an exponential tail) with the conditional wait stretched by the same factor.
    """

    gpus: int
    utilisation: float
    wait_probability: float
    mmc_mean_wait_s: float
    mmc_p95_wait_s: float
    ac_mean_wait_s: float
    ac_p95_wait_s: float


def _scaled(value: float, k: float) -> float:
    return value if math.isinf(value) else value * k


def theory_waits(stats: WorkloadStats, gpus: int) -> TheoryWaits:
    """M/M/c and Allen-Cunneen G/G/c waits for `stats` on `gpus` GPUs."""
    lam, mu = stats.arrival_rate_per_s, stats.service_rate_per_s
    mean = mmc_mean_wait_s(lam, mu, gpus)
    p95 = mmc_wait_quantile_s(P95, lam, mu, gpus)
    k = stats.variability
    return TheoryWaits(
        gpus=gpus,
        utilisation=lam / (gpus * mu),
        wait_probability=erlang_c(gpus, lam / mu),
        mmc_mean_wait_s=mean,
        mmc_p95_wait_s=p95,
        ac_mean_wait_s=_scaled(mean, k),
        ac_p95_wait_s=_scaled(p95, k),
    )


def theory_min_gpus(stats: WorkloadStats, target: WaitTarget, *, variability: float = 1.0) -> int:
    """Fewest GPUs meeting `target` in M/M/c (variability 1) or Allen-Cunneen (its factor).

    Allen-Cunneen multiplies every M/M/c wait by `variability`, so it meets a target X
    exactly when M/M/c meets X / variability; with no variability at all (0) any stable
    size waits nothing.
    """
    lam, mu = stats.arrival_rate_per_s, stats.service_rate_per_s
    if variability <= 0:
        return math.floor(lam / mu) + 1
    bound = target.wait_s / variability
    try:
        if target.stat is WaitStat.mean:
            return mmc_min_servers(lam, mu, target_mean_wait_s=bound)
        return mmc_min_servers(lam, mu, target_wait_quantile=(P95, bound))
    except ValueError as exc:
        raise UserError(f"theory: {exc}") from None


# ----- simulation -------------------------------------------------------------------------------
@dataclass(frozen=True, slots=True)
class Probe:
    """One simulated size: waits over all seeds (`meets` is None when no target was given)."""

    nodes: int
    gpus: int
    mean_wait_s: float
    p95_wait_s: float
    max_wait_s: float
    seed_mean_waits_s: tuple[float, ...]
    seed_p95_waits_s: tuple[float, ...]
    utilisation: float
    meets: bool | None

    @property
    def seeds_identical(self) -> bool:
        return len(set(self.seed_mean_waits_s)) == 1 and len(set(self.seed_p95_waits_s)) == 1


@dataclass(frozen=True, slots=True)
class SearchSpace:
    """The clusters a search may try: `nodes x gpus_per_node` GPUs of `gpu_type`."""

    gpu_type: str
    gpus_per_node: int
    gpu_mem_gib: float = DEFAULT_GPU_MEM_GIB
    max_nodes: int | None = None

    def __post_init__(self) -> None:
        g = self.gpus_per_node
        if isinstance(g, bool) or not isinstance(g, int) or g < 1:
            raise UserError(f"GPUs per node must be an integer >= 1, got {g!r}")
        m = self.max_nodes
        if m is not None and (isinstance(m, bool) or not isinstance(m, int) or m < 1):
            raise UserError(f"the node cap must be an integer >= 1, got {m!r}")

    def cluster(self, nodes: int) -> Cluster:
        return Cluster.uniform(nodes, self.gpus_per_node, self.gpu_type, self.gpu_mem_gib)

    def nodes_for(self, gpus: int) -> int:
        return -(-gpus // self.gpus_per_node)


class CapacityNotMet(UserError):
    """No size up to the cap meets the target; `best` is the probe closest to it."""

    def __init__(self, message: str, best: Probe) -> None:
        super().__init__(message)
        self.best = best


class _Prober:
    """Simulates each size once per seed and remembers it."""

    def __init__(self, workload: Workload, space: SearchSpace, base: SimConfig, seeds: Sequence[int],
                 target: WaitTarget | None, progress: Progress | None) -> None:
        self.workload, self.space, self.base, self.seeds = workload, space, base, tuple(seeds)
        self.target = target
        self.progress = progress
        self.cache: dict[int, Probe] = {}
        self.expected = 0  # probes the search expects to run, for the progress total

    def expect(self, more: int) -> None:
        self.expected = max(self.expected, len(self.cache) + more)

    def __call__(self, nodes: int) -> Probe:
        probe = self.cache.get(nodes)
        if probe is not None:
            return probe
        self.expect(1)
        waits: list[npt.NDArray[np.float64]] = []
        utils: list[float] = []
        cluster = self.space.cluster(nodes)
        for seed in self.seeds:
            config = dataclasses.replace(self.base, seed=int(seed), run_id=f"capacity-n{nodes}-s{seed}")
            result = simulate(self.workload, cluster, config)
            w = result.jobs.column("wait_s").to_numpy(zero_copy_only=False).astype(np.float64)
            waits.append(w[~np.isnan(w)])
            utils.append(_summary_value(result, "gpu_utilisation"))
            self._report(len(self.cache) * len(self.seeds) + len(waits))
        pooled = np.concatenate(waits)
        seed_means = tuple(float(np.mean(w)) if len(w) else math.nan for w in waits)
        probe = Probe(
            nodes=nodes,
            gpus=nodes * self.space.gpus_per_node,
            mean_wait_s=float(np.mean(seed_means)),
            p95_wait_s=float(np.percentile(pooled, 95)) if len(pooled) else math.nan,
            max_wait_s=float(np.max(pooled)) if len(pooled) else math.nan,
            seed_mean_waits_s=seed_means,
            seed_p95_waits_s=tuple(float(np.percentile(w, 95)) if len(w) else math.nan for w in waits),
            utilisation=float(np.mean(utils)),
            meets=None,
        )
        if self.target is not None:
            probe = dataclasses.replace(probe, meets=bool(self.target.value(probe) <= self.target.wait_s))
        self.cache[nodes] = probe
        return probe

    def _report(self, done: int) -> None:
        if self.progress is not None:
            self.progress(done, max(self.expected * len(self.seeds), done))

    def finish(self) -> None:
        done = len(self.cache) * len(self.seeds)
        if self.progress is not None:
            self.progress(done, done)


def _summary_value(result: SimResult, metric: str) -> float:
    names = result.summary.column("metric").to_pylist()
    values = result.summary.column("value").to_pylist()
    value = dict(zip(names, values, strict=True)).get(metric)
    return math.nan if value is None else float(value)


# ----- the answer -------------------------------------------------------------------------------
@dataclass(frozen=True, slots=True)
class CapacityResult:
    """Both answers and how far apart they are.

    Sizing (`target` given): `mmc_gpus`/`ac_gpus` are the fewest GPUs meeting the target in
    theory, `*_nodes` those rounded up to whole nodes; `sim_nodes`/`sim_gpus` the fewest
    whole nodes the simulator found; `gap_gpus = sim_gpus - mmc_gpus`. Evaluation (`target`
    None): `sim_nodes`/`sim_gpus` are the size asked about and the theory counts are None.
    `theory` holds theory's waits at every size in `probes` and at the theory sizes.
    """

    target: WaitTarget | None
    space: SearchSpace
    policy: str
    placement: str
    seeds: tuple[int, ...]
    load_scale: float
    stats: WorkloadStats
    mmc_gpus: int | None
    mmc_nodes: int | None
    ac_gpus: int | None
    ac_nodes: int | None
    sim_nodes: int
    sim_gpus: int
    probes: tuple[Probe, ...]
    theory: tuple[TheoryWaits, ...]
    monotone: bool
    explanation: tuple[str, ...]

    @property
    def mode(self) -> str:
        return "evaluate" if self.target is None else "size"

    @property
    def gap_gpus(self) -> int | None:
        return None if self.mmc_gpus is None else self.sim_gpus - self.mmc_gpus

    @property
    def gap_nodes(self) -> int | None:
        return None if self.mmc_nodes is None else self.sim_nodes - self.mmc_nodes

    def probe(self, nodes: int) -> Probe | None:
        return next((p for p in self.probes if p.nodes == nodes), None)

    def theory_at(self, gpus: int) -> TheoryWaits:
        found = next((t for t in self.theory if t.gpus == gpus), None)
        return found if found is not None else theory_waits(self.stats, gpus)

    @property
    def answer(self) -> Probe:
        found = self.probe(self.sim_nodes)
        assert found is not None, "the answer size is always simulated"
        return found

    def comparison_sizes(self) -> tuple[int, ...]:
        """GPU counts the comparison rows cover: theory's size in whole nodes, then the simulated one."""
        sizes = [] if self.mmc_nodes is None else [self.mmc_nodes * self.space.gpus_per_node]
        return tuple(dict.fromkeys([*sizes, self.sim_gpus]))

    def to_dict(self) -> dict[str, Any]:
        """Plain JSON data (inf and NaN as null)."""
        doc: dict[str, Any] = _json_safe({
            "mode": self.mode,
            "target": None if self.target is None else {"stat": self.target.stat.value,
                                                        "wait_s": self.target.wait_s},
            "gpu_type": self.space.gpu_type,
            "gpus_per_node": self.space.gpus_per_node,
            "gpu_mem_gib": self.space.gpu_mem_gib,
            "max_nodes": self.space.max_nodes,
            "policy": self.policy,
            "placement": self.placement,
            "seeds": list(self.seeds),
            "load_scale": self.load_scale,
            "workload": dataclasses.asdict(self.stats) | {"allen_cunneen_factor": self.stats.variability},
            "theory": {"mmc_gpus": self.mmc_gpus, "mmc_nodes": self.mmc_nodes,
                       "allen_cunneen_gpus": self.ac_gpus, "allen_cunneen_nodes": self.ac_nodes},
            "simulation": {"nodes": self.sim_nodes, "gpus": self.sim_gpus},
            "gap_gpus": self.gap_gpus,
            "gap_nodes": self.gap_nodes,
            "monotone": self.monotone,
            "comparison": comparison_table(self).to_pylist(),
            "probes": [dataclasses.asdict(p) for p in self.probes],
            "theory_waits": [dataclasses.asdict(t) for t in self.theory],
            "explanation": list(self.explanation),
        })
        return doc


def _json_safe(value: Any) -> Any:
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, dict):
        return {str(k): _json_safe(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_json_safe(v) for v in value]
    return value


def comparison_table(result: CapacityResult) -> pa.Table:
    """capacity.csv: rows `quantity` (at `gpus` GPUs where it is a wait) x columns mmc,
    allen_cunneen, simulation (null where a method has no value)."""
    rows: list[tuple[str, int | None, float | None, float | None, float | None]] = []
    if result.target is not None:
        rows.append(("gpus_needed", None, _f(result.mmc_gpus), _f(result.ac_gpus), float(result.sim_gpus)))
        rows.append(("nodes_needed", None, _f(result.mmc_nodes), _f(result.ac_nodes), float(result.sim_nodes)))
    g = result.space.gpus_per_node
    for gpus in result.comparison_sizes():
        t = result.theory_at(gpus)
        p = result.probe(gpus // g)
        rows.append(("mean_wait_s", gpus, t.mmc_mean_wait_s, t.ac_mean_wait_s, None if p is None else p.mean_wait_s))
        rows.append(("p95_wait_s", gpus, t.mmc_p95_wait_s, t.ac_p95_wait_s, None if p is None else p.p95_wait_s))
        rows.append(("utilisation", gpus, t.utilisation, t.utilisation, None if p is None else p.utilisation))
    cols = list(zip(*rows, strict=True))
    return pa.table({
        "quantity": pa.array(cols[0], pa.string()),
        "gpus": pa.array(cols[1], pa.int64()),
        "mmc": pa.array(cols[2], pa.float64()),
        "allen_cunneen": pa.array(cols[3], pa.float64()),
        "simulation": pa.array(cols[4], pa.float64()),
    })


def probes_table(result: CapacityResult) -> pa.Table:
    """probes.csv: every simulated size (ascending) with its waits and theory's at the same size."""
    ps = result.probes
    theory = [result.theory_at(p.gpus) for p in ps]
    sd = [float(np.std(p.seed_mean_waits_s, ddof=1)) if len(p.seed_mean_waits_s) > 1 else math.nan for p in ps]
    return pa.table({
        "nodes": pa.array([p.nodes for p in ps], pa.int64()),
        "gpus": pa.array([p.gpus for p in ps], pa.int64()),
        "mean_wait_s": pa.array([p.mean_wait_s for p in ps], pa.float64()),
        "mean_wait_s_sd_over_seeds": pa.array(sd, pa.float64()),
        "p95_wait_s": pa.array([p.p95_wait_s for p in ps], pa.float64()),
        "max_wait_s": pa.array([p.max_wait_s for p in ps], pa.float64()),
        "utilisation": pa.array([p.utilisation for p in ps], pa.float64()),
        "meets_target": pa.array([p.meets for p in ps], pa.bool_()),
        "mmc_mean_wait_s": pa.array([t.mmc_mean_wait_s for t in theory], pa.float64()),
        "mmc_p95_wait_s": pa.array([t.mmc_p95_wait_s for t in theory], pa.float64()),
        "num_seeds": pa.array([len(p.seed_mean_waits_s) for p in ps], pa.int64()),
    })


def _f(value: int | None) -> float | None:
    return None if value is None else float(value)


# ----- entry points -----------------------------------------------------------------------------
def _prepare(workload: Workload, space: SearchSpace, base: SimConfig, seeds: Sequence[int],
             load_scale: float) -> tuple[Workload, WorkloadStats, tuple[int, ...]]:
    seeds = tuple(seeds)
    if not seeds:
        raise UserError("give at least one seed")
    for s in seeds:
        if isinstance(s, bool) or not isinstance(s, (int, np.integer)) or s < 0:
            raise UserError(f"a seed must be an integer >= 0, got {s!r}")
    scaled = scale_load(workload, load_scale)
    stats = workload_stats(scaled, space.gpu_type, base.speed_table)
    # Type and memory problems show up at any size; the count is handled by the smallest size.
    check_fits(scaled, space.cluster(max(1, space.nodes_for(stats.max_job_gpus))))
    return scaled, stats, tuple(int(s) for s in seeds)


def size_cluster(
    workload: Workload,
    target: WaitTarget,
    space: SearchSpace,
    *,
    base: SimConfig | None = None,
    seeds: Sequence[int] = (0, 1, 2),
    load_scale: float = 1.0,
    progress: Progress | None = None,
) -> CapacityResult:
    """The fewest whole nodes meeting `target` by simulation, next to the M/M/c and Allen-Cunneen counts.

    `base` carries the policy, placement, speed table and any other setting (its seed is
    replaced by each of `seeds`). Raises `CapacityNotMet` (a `UserError`) when no size up to
    the cap meets the target.
    """
    base = base or SimConfig()
    scaled, stats, seeds = _prepare(workload, space, base, seeds, load_scale)
    g = space.gpus_per_node
    mmc_gpus = theory_min_gpus(stats, target)
    ac_gpus = theory_min_gpus(stats, target, variability=stats.variability)
    n_min = max(1, space.nodes_for(stats.max_job_gpus))
    zero_wait_nodes = max(n_min, space.nodes_for(stats.peak_demand_gpus))
    cap = space.max_nodes if space.max_nodes is not None else zero_wait_nodes
    if cap < n_min:
        raise UserError(f"the node cap {cap} is below {n_min} node(s) of {g} GPUs, the fewest that fit the "
                        f"largest job ({stats.max_job_gpus} GPUs)")
    probe = _Prober(scaled, space, base, seeds, target, progress)
    guess = min(max(space.nodes_for(mmc_gpus), n_min), cap)
    lo, hi = _bracket(probe, guess, n_min, cap, target, space)
    while lo is not None and hi - lo > 1:
        probe.expect(math.ceil(math.log2(hi - lo)) + 1)
        mid = (lo + hi) // 2
        if probe(mid).meets:
            hi = mid
        else:
            lo = mid
    if hi + 1 <= cap:  # the monotonicity check above the answer
        probe(hi + 1)
    probe.finish()
    probes = tuple(sorted(probe.cache.values(), key=lambda p: p.nodes))
    monotone = _monotone(probes)
    sizes = dict.fromkeys([p.gpus for p in probes] + [mmc_gpus, ac_gpus, space.nodes_for(mmc_gpus) * g])
    theory = tuple(theory_waits(stats, c) for c in sorted(sizes))
    result = CapacityResult(
        target=target, space=space, policy=base.policy, placement=base.placement, seeds=seeds,
        load_scale=float(load_scale), stats=stats, mmc_gpus=mmc_gpus, mmc_nodes=space.nodes_for(mmc_gpus),
        ac_gpus=ac_gpus, ac_nodes=space.nodes_for(ac_gpus), sim_nodes=hi, sim_gpus=hi * g, probes=probes,
        theory=theory, monotone=monotone, explanation=(),
    )
    return dataclasses.replace(result, explanation=explain(result, n_min=n_min, zero_wait_nodes=zero_wait_nodes))


def _bracket(probe: _Prober, guess: int, n_min: int, cap: int, target: WaitTarget,
             space: SearchSpace) -> tuple[int | None, int]:
    """(largest size known to fail or None if even `n_min` meets, smallest size known to meet).

    Down from a guess that meets: steps of 1, 2, 4, ... until a size fails. Up from one
    that fails: double the nodes until a size meets, else `CapacityNotMet` at the cap.
    """
    if probe(guess).meets:
        hi, step = guess, 1
        while hi > n_min:
            probe.expect(2)
            cand = max(hi - step, n_min)
            if not probe(cand).meets:
                return cand, hi
            hi, step = cand, step * 2
        return None, hi
    lo = guess
    while lo < cap:
        probe.expect(2)
        cand = min(2 * lo, cap)
        if probe(cand).meets:
            return lo, cand
        lo = cand
    best = min(probe.cache.values(), key=lambda p: (target.value(p), p.nodes))
    g = space.gpus_per_node
    raise CapacityNotMet(
        f"no cluster of up to {cap} nodes x {g} {space.gpu_type} GPUs ({cap * g} GPUs) meets {target.label}; "
        f"the best found is {best.nodes} nodes ({best.gpus} GPUs) with {target.stat.value} wait "
        f"{target.value(best):.6g} s (raise the node cap to search further)",
        best,
    )


def _monotone(probes: Sequence[Probe]) -> bool:
    """True when no size that meets the target lies below one that fails."""
    met_seen = False
    for p in probes:
        if p.meets:
            met_seen = True
        elif met_seen:
            return False
    return True


def evaluate_size(
    workload: Workload,
    gpus: int,
    space: SearchSpace,
    *,
    base: SimConfig | None = None,
    seeds: Sequence[int] = (0, 1, 2),
    load_scale: float = 1.0,
    progress: Progress | None = None,
) -> CapacityResult:
    """Reverse mode: the mean and p95 waits theory and the simulator give on `gpus` GPUs (whole nodes)."""
    base = base or SimConfig()
    g = space.gpus_per_node
    if isinstance(gpus, bool) or not isinstance(gpus, int) or gpus < 1:
        raise UserError(f"the GPU count must be an integer >= 1, got {gpus!r}")
    if gpus % g:
        raise UserError(f"{gpus} GPUs is not a whole number of nodes of {g} GPUs; give a multiple of {g} "
                        f"(or change the GPUs per node)")
    scaled, stats, seeds = _prepare(workload, space, base, seeds, load_scale)
    nodes = gpus // g
    if gpus < stats.max_job_gpus:
        raise UserError(f"{gpus} GPUs cannot run the largest job, which needs {stats.max_job_gpus} GPUs")
    probe = _Prober(scaled, space, base, seeds, None, progress)
    probe(nodes)
    probe.finish()
    probes = tuple(probe.cache.values())
    result = CapacityResult(
        target=None, space=space, policy=base.policy, placement=base.placement, seeds=seeds,
        load_scale=float(load_scale), stats=stats, mmc_gpus=None, mmc_nodes=None, ac_gpus=None, ac_nodes=None,
        sim_nodes=nodes, sim_gpus=gpus, probes=probes, theory=(theory_waits(stats, gpus),), monotone=True,
        explanation=(),
    )
    n_min = max(1, space.nodes_for(stats.max_job_gpus))
    zero_wait_nodes = max(n_min, space.nodes_for(stats.peak_demand_gpus))
    return dataclasses.replace(result, explanation=explain(result, n_min=n_min, zero_wait_nodes=zero_wait_nodes))


# ----- why the answers differ -------------------------------------------------------------------
def _secs(value: float) -> str:
    return "inf" if math.isinf(value) else f"{value:,.0f} s"


def _scv_line(kind: str, scv: float, reference: str, high: str, low: str) -> str:
    if math.isnan(scv):
        return f"{kind} SCV is undefined (all values zero)"
    if scv > 1 + SCV_TOLERANCE:
        return f"{kind} SCV {scv:.3g} > 1 ({reference}: 1): {high}"
    if scv < 1 - SCV_TOLERANCE:
        return f"{kind} SCV {scv:.3g} < 1 ({reference}: 1): {low}"
    return f"{kind} SCV {scv:.3g} is close to 1, as M/M/c assumes ({reference})"


def explain(result: CapacityResult, *, n_min: int, zero_wait_nodes: int) -> tuple[str, ...]:
    """One line per reason the simulated answer differs from theory (or agrees with it)."""
    s = result.stats
    g = result.space.gpus_per_node
    out: list[str] = []
    if result.target is not None and result.mmc_gpus is not None and result.mmc_nodes is not None:
        gap, gap_nodes = result.gap_gpus, result.gap_nodes
        assert gap is not None and gap_nodes is not None
        agree = "within one node of each other" if abs(gap_nodes) <= 1 else "apart"
        out.append(
            f"{result.target.label}: the simulation needs {result.sim_gpus} GPUs ({result.sim_nodes} nodes x {g}), "
            f"M/M/c {result.mmc_gpus} GPUs ({result.mmc_nodes} nodes), Allen-Cunneen {result.ac_gpus} GPUs "
            f"({result.ac_nodes} nodes): gap {gap:+d} GPUs ({gap_nodes:+d} nodes), {agree}"
        )
    else:
        t, p = result.theory_at(result.sim_gpus), result.answer
        out.append(
            f"on {result.sim_gpus} GPUs ({result.sim_nodes} nodes x {g}): mean wait M/M/c "
            f"{_secs(t.mmc_mean_wait_s)}, Allen-Cunneen {_secs(t.ac_mean_wait_s)}, simulated "
            f"{_secs(p.mean_wait_s)}; p95 wait M/M/c {_secs(t.mmc_p95_wait_s)}, Allen-Cunneen "
            f"{_secs(t.ac_p95_wait_s)}, simulated {_secs(p.p95_wait_s)}"
        )
        if t.utilisation >= 1:
            out.append(f"theory: the offered load {s.offered_load_gpus:.4g} GPUs is at least the {result.sim_gpus} "
                       "GPUs, so the steady-state queue grows without bound (inf); the finite trace still ends")
    out.append(
        f"theory: M/M/c with c = GPUs, lambda = {s.arrival_rate_per_s:.4g} jobs/s (1 / mean interarrival), service "
        f"= {s.mean_service_gpu_s:,.0f} GPU-seconds per job on {s.gpu_type}; a k-GPU job counts as one server "
        f"busy k times as long; offered load {s.offered_load_gpus:.4g} GPUs"
    )
    if s.gang_share > 0:
        out.append(
            f"gang jobs: {100 * s.gang_share:.1f}% of jobs ({100 * s.gang_gpu_s_share:.1f}% of GPU-seconds) need "
            f"2-{s.max_job_gpus} GPUs at once; the simulator waits until all are free together (GPUs idle meanwhile, "
            "jobs behind them blocked), which M/M/c does not see, so theory under-estimates the waits"
        )
    else:
        out.append("gang jobs: none (every job uses one GPU), so M/M/c's server = one GPU is exact in that respect")
    out.append(_scv_line(
        "arrival", s.arrival_scv, "Poisson",
        "arrivals are burstier than Poisson, queues build in bursts and theory under-estimates the waits",
        "arrivals are more regular than Poisson, so theory over-estimates the waits"))
    out.append(_scv_line(
        "service", s.service_scv, "exponential",
        "GPU-seconds per job vary more than exponential; long jobs hold GPUs while short ones queue, "
        "so theory under-estimates the waits",
        "GPU-seconds per job vary less than exponential, so theory over-estimates the waits"))
    out.append(
        f"Allen-Cunneen scales every M/M/c wait by (ca^2 + cs^2) / 2 = {s.variability:.3g}; its p95 keeps "
        "M/M/c's exponential tail shape (an approximation)"
    )
    if result.target is not None and result.mmc_gpus is not None and result.mmc_nodes is not None \
            and result.mmc_nodes * g != result.mmc_gpus:
        out.append(f"whole nodes: theory's {result.mmc_gpus} GPUs round up to {result.mmc_nodes} nodes "
                   f"({result.mmc_nodes * g} GPUs)")
    if result.target is not None and result.gap_nodes is not None and abs(result.gap_nodes) > 1:
        out.append("the simulation replays a finite trace that starts empty and keeps its arrival pattern over "
                   "time (bursts, daily cycles), which a steady-state formula averages away")
    if result.sim_nodes == n_min and n_min > 1:
        out.append(f"the largest job needs {s.max_job_gpus} GPUs, so no cluster below {n_min} nodes can run the trace")
    out.append(
        f"zero-wait size: {s.peak_demand_gpus} GPUs ({zero_wait_nodes} nodes) are busy at the peak if no job ever "
        "waits; from there a policy that never idles GPUs while jobs wait starts every job on arrival"
    )
    if s.num_fractional:
        out.append(f"{s.num_fractional} jobs ask for a fraction of a GPU; theory and simulation both give them a "
                   "whole GPU")
    if result.target is not None:
        out.append(_monotone_line(result))
    if len(result.seeds) > 1 and all(p.seeds_identical for p in result.probes):
        out.append(f"the {len(result.seeds)} seeds gave identical waits: {result.policy}/{result.placement} used no "
                   "randomness on this trace")
    if result.load_scale != 1:
        out.append(f"arrivals compressed by load scale {result.load_scale:g} (offered load x {result.load_scale:g})")
    return tuple(out)


def _monotone_line(result: CapacityResult) -> str:
    n = result.sim_nodes
    below, above = result.probe(n - 1), result.probe(n + 1)
    if not result.monotone:
        bad = [p.nodes for p in result.probes if p.meets is False and p.nodes > n]
        return (f"warning: waits do not fall monotonically with size here ({n} nodes meet the target but "
                f"{', '.join(map(str, bad))} nodes do not); the answer is the smallest size bisection found")
    parts = []
    if below is not None:
        parts.append(f"{n - 1} nodes fail")
    if above is not None:
        parts.append(f"{n + 1} nodes meet")
    if not parts:
        return "monotonicity: the answer is both the smallest possible size and the cap; nothing to check"
    return f"monotonicity checked at the answer: {' and '.join(parts)} the target"
