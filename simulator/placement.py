"""Placement plug-in: which free GPUs a job gets once the policy has chosen to start it.

Both placements only use GPUs whose node has an allowed type (`job.gpu_types`, empty =
any) and enough per-GPU memory (`job.gpu_mem_gib`), and within a node take the
lowest-numbered free GPUs. A job goes on one node when some eligible node has enough
free GPUs; otherwise it spans nodes, which the engine charges as a longer run
(`SimConfig.cross_node_slowdown`, default 1.0 = no penalty). Scheduling is in whole
GPUs: a job with `gpu_frac < 1` still gets its GPU to itself.

Keys: `pack`, `spread`, `best-fit` (least leftover GPUs and memory), `random` (seeded node
choice) and `topology` (one node, else one rack, else the fewest racks; optionally wait a
while for a consolidated placement). `place` also takes `waited_s`, how long the job has
waited so far; only `topology` uses it.
"""

from __future__ import annotations

import math
from typing import ClassVar, Protocol

import numpy as np

from simulator.cluster import Cluster, FreeGpus
from simulator.policies.base import SimJob
from simulator.rng import stream
from traces.errors import UserError


class Placement(Protocol):
    """Chooses GPUs for a job; must only read `free` (the engine applies the choice)."""

    key: ClassVar[str]

    def place(self, job: SimJob, free: FreeGpus, *, waited_s: float = 0.0) -> tuple[str, ...] | None:
        """`job.num_gpus` free GPU ids for `job`, or None when it cannot start now.

        `waited_s` is how long the job has waited in the queue so far (placements that do
        not wait on purpose ignore it).
        """
        ...


def _span(free: FreeGpus, nodes: list[int], k: int) -> tuple[str, ...]:
    """Take whole nodes' free GPUs in the given node order until k GPUs are gathered."""
    out: list[str] = []
    for node in nodes:
        take = min(k - len(out), free.node_free(node))
        out.extend(free.lowest_free(node, take))
        if len(out) == k:
            break
    return tuple(out)


def _pack_one_node(job: SimJob, free: FreeGpus) -> tuple[tuple[int, ...], tuple[str, ...] | None] | None:
    """Pack's single-node choice, shared by `pack` and `topology`: None when the eligible
    pools lack `num_gpus` free GPUs, else (those pools, the GPUs on the fullest node that
    fits the job whole, or None when only a span across nodes would fit)."""
    k = job.num_gpus
    pools = free.eligible_pools(job.gpu_types, job.gpu_mem_gib)
    if free.free_in(pools) < k:
        return None
    node = free.fewest_free_node(pools, k)
    return pools, (free.lowest_free(node, k) if node is not None else None)


class PackPlacement:
    """Consolidate: the eligible node with the fewest free GPUs that still fits the job whole.

    Keeping jobs on already-busy nodes leaves whole nodes free for big jobs. If no single
    node fits, the job spans nodes taking the fullest (fewest free GPUs) first.
    """

    key: ClassVar[str] = "pack"

    def place(self, job: SimJob, free: FreeGpus, *, waited_s: float = 0.0) -> tuple[str, ...] | None:
        found = _pack_one_node(job, free)
        if found is None:
            return None
        pools, ids = found
        return ids if ids is not None else _span(free, free.nodes_by_free(pools, fewest_first=True), job.num_gpus)


class SpreadPlacement:
    """Balance load: the eligible node with the most free GPUs (ties: cluster order).

    If no single node fits the job, it spans nodes taking the emptiest first.
    """

    key: ClassVar[str] = "spread"

    def place(self, job: SimJob, free: FreeGpus, *, waited_s: float = 0.0) -> tuple[str, ...] | None:
        k = job.num_gpus
        pools = free.eligible_pools(job.gpu_types, job.gpu_mem_gib)
        if free.free_in(pools) < k:
            return None
        node = free.most_free_node(pools, k)
        if node is not None:
            return free.lowest_free(node, k)
        return _span(free, free.nodes_by_free(pools, fewest_first=False), k)


class BestFitPlacement:
    """Least leftover: the fitting node that would keep the fewest free GPUs and free GPU memory.

    The greedy "least leftover resources" scorer of Kubernetes' MostAllocated plug-in and of
    the GPU-sharing schedulers compared in Weng et al., "Beware of Fragmentation" (Alibaba
    FGD, USENIX ATC 2023). For a node with `f` free GPUs of `m` GiB each, placing `k` GPUs
    of a job that needs `need` GiB per GPU (the whole GPU when unknown) leaves

        leftover_gpus = f - k
        leftover_mem  = (f - k) * m + k * (m - need)    # free GPUs plus memory stranded on the job's

    and the node's score is `leftover_gpus / G + leftover_mem / (G * M)`: each leftover as
    a fraction of the largest node's (`G` GPUs of `M` GiB), so GPUs and memory weigh alike.
    Lowest score wins; ties go to cluster order. Big-memory GPUs are thus kept for jobs
    that need them, and partly used nodes are filled first. The score
    grows with `f` within a pool (same type and memory), so only each pool's fullest
    fitting node is scored. A job that fits on no single node spans like `pack`.
    """

    key: ClassVar[str] = "best-fit"

    def __init__(self) -> None:
        self._cluster: Cluster | None = None
        self._gpus_scale = self._mem_scale = 1.0

    def place(self, job: SimJob, free: FreeGpus, *, waited_s: float = 0.0) -> tuple[str, ...] | None:
        k = job.num_gpus
        pools = free.eligible_pools(job.gpu_types, job.gpu_mem_gib)
        if free.free_in(pools) < k:
            return None
        if self._cluster is not free.cluster:
            self._cluster = free.cluster
            self._gpus_scale = float(free.cluster.max_gpus_per_node)
            self._mem_scale = self._gpus_scale * max(n.gpu_mem_gib for n in free.cluster.nodes)
        nodes = free.cluster.nodes
        need = job.gpu_mem_gib
        best: tuple[float, int] | None = None
        for pool in pools:
            node = free.fewest_free_node((pool,), k)
            if node is None:
                continue
            left = free.node_free(node) - k
            mem = nodes[node].gpu_mem_gib
            stranded = 0.0 if need is None or math.isnan(need) else mem - need
            score = left / self._gpus_scale + (left * mem + k * stranded) / self._mem_scale
            if best is None or (score, node) < best:
                best = (score, node)
        if best is not None:
            return free.lowest_free(best[1], k)
        return _span(free, free.nodes_by_free(pools, fewest_first=True), k)


class RandomPlacement:
    """A uniformly random fitting node, from the run's seeded "placement" stream.

    The baseline placement of the scheduling literature. Only the node is random: GPUs in
    one node are interchangeable, so the job takes its lowest-numbered free GPUs there. A
    job that fits on no single node spans nodes in a random order. Candidates are listed in
    cluster order before drawing, so the same seed and calls give the same choices.
    """

    key: ClassVar[str] = "random"

    def __init__(self, rng: np.random.Generator | None = None) -> None:
        self._rng = rng if rng is not None else stream(0, "placement")

    def place(self, job: SimJob, free: FreeGpus, *, waited_s: float = 0.0) -> tuple[str, ...] | None:
        k = job.num_gpus
        pools = free.eligible_pools(job.gpu_types, job.gpu_mem_gib)
        if free.free_in(pools) < k:
            return None
        nodes = sorted(free.nodes_by_free(pools, fewest_first=True))
        fits = [n for n in nodes if free.node_free(n) >= k]
        if fits:
            return free.lowest_free(fits[int(self._rng.integers(len(fits)))], k)
        order = self._rng.permutation(len(nodes)).tolist()
        return _span(free, [nodes[i] for i in order], k)


class TopologyPlacement:
    """Topology-aware gangs: one node, else one rack, else as few racks as possible.

    A job that fits on one node goes there as under `pack`. Otherwise it stays inside one
    rack when some rack has enough eligible free GPUs (the rack with the fewest such GPUs
    that suffices, ties: the rack met first in cluster order), else it spans racks taking
    the rack with the most eligible free GPUs first. Within a rack it takes the emptiest
    nodes first, which gives the fewest nodes. Nodes without a rack form one group
    together, so a cluster without racks is one rack. The engine charges spanning nodes
    with `cross_node_slowdown`.

    With `max_consolidation_wait_s > 0`, a job that could run on one node of an eligible
    type (one is big enough) but would have to span nodes now is held back (None) until it
    has waited that long, in the hope that a node frees up (the engine must ask again once
    the wait has passed: see `consolidation_wait_s`).
    """

    key: ClassVar[str] = "topology"

    def __init__(self, max_consolidation_wait_s: float = 0.0) -> None:
        if not (math.isfinite(max_consolidation_wait_s) and max_consolidation_wait_s >= 0):
            raise UserError(
                f"placement 'topology': max_consolidation_wait_s must be a number >= 0, "
                f"got {max_consolidation_wait_s!r}"
            )
        self.max_consolidation_wait_s = float(max_consolidation_wait_s)
        self._cluster: Cluster | None = None
        self._rack_of: tuple[str | None, ...] = ()
        self._rack_rank: dict[str | None, int] = {}
        self._biggest: dict[tuple[tuple[str, ...], float | None], int] = {}

    def _learn(self, cluster: Cluster) -> None:
        self._cluster = cluster
        self._rack_of = tuple(n.rack for n in cluster.nodes)
        self._rack_rank = {}
        for rack in self._rack_of:
            self._rack_rank.setdefault(rack, len(self._rack_rank))
        self._biggest = {}

    def _biggest_node(self, job: SimJob) -> int:
        """GPUs in the largest node the job may use (same type/memory rule as `FreeGpus.eligible_pools`)."""
        key = (job.gpu_types, job.gpu_mem_gib)
        size = self._biggest.get(key)
        if size is None:
            need = job.gpu_mem_gib
            assert self._cluster is not None
            size = max(
                (
                    n.num_gpus
                    for n in self._cluster.nodes
                    if (not job.gpu_types or n.gpu_type in job.gpu_types)
                    and (need is None or math.isnan(need) or need <= n.gpu_mem_gib)
                ),
                default=0,
            )
            self._biggest[key] = size
        return size

    def place(self, job: SimJob, free: FreeGpus, *, waited_s: float = 0.0) -> tuple[str, ...] | None:
        found = _pack_one_node(job, free)
        if found is None:
            return None
        pools, ids = found
        if ids is not None:
            return ids
        k = job.num_gpus
        if self._cluster is not free.cluster:
            self._learn(free.cluster)
        if waited_s < self.max_consolidation_wait_s and self._biggest_node(job) >= k:
            return None
        groups: dict[str | None, list[int]] = {}
        for n in free.nodes_by_free(pools, fewest_first=False):  # emptiest first, ties: cluster order
            groups.setdefault(self._rack_of[n], []).append(n)
        totals = {rack: sum(free.node_free(n) for n in nodes) for rack, nodes in groups.items()}
        rank = self._rack_rank
        fitting = [rack for rack, total in totals.items() if total >= k]
        if fitting:
            rack = min(fitting, key=lambda r: (totals[r], rank[r]))
            return _span(free, groups[rack], k)
        order = sorted(groups, key=lambda r: (-totals[r], rank[r]))
        return _span(free, [n for rack in order for n in groups[rack]], k)


PLACEMENTS: dict[str, type[Placement]] = {
    cls.key: cls for cls in (PackPlacement, SpreadPlacement, BestFitPlacement, RandomPlacement, TopologyPlacement)
}

_PARAMS: dict[str, tuple[str, ...]] = {"topology": ("max_consolidation_wait_s",)}


def _number(key: str, name: str, value: object) -> float:
    """A numeric parameter from code (int/float) or from the command line (a string)."""
    if isinstance(value, bool) or not isinstance(value, (int, float, str)):
        raise UserError(f"placement {key!r}: {name} must be a number, got {value!r}")
    try:
        return float(value)
    except ValueError:
        raise UserError(f"placement {key!r}: {name} must be a number, got {value!r}") from None


def make_placement(key: str, rng: np.random.Generator | None = None, **params: object) -> Placement:
    """A fresh placement for one run; `UserError` for an unknown key or parameter.

    `rng` feeds `random` (pass the run's `Streams.placement`; default: seed 0's
    "placement" stream) and is ignored by the others. `params` are the placement's options
    (only `topology` has one: `max_consolidation_wait_s`, default 0).
    """
    cls = PLACEMENTS.get(key)
    if cls is None:
        raise UserError(f"unknown placement {key!r}; known placements: {', '.join(sorted(PLACEMENTS))}")
    allowed = _PARAMS.get(key, ())
    unknown = sorted(set(params) - set(allowed))
    if unknown:
        takes = f"takes {', '.join(allowed)}" if allowed else "takes no parameters"
        raise UserError(f"placement {key!r} has no parameter {unknown[0]!r}; it {takes}")
    if cls is RandomPlacement:
        return RandomPlacement(rng)
    if cls is TopologyPlacement:
        return TopologyPlacement(**{name: _number(key, name, value) for name, value in params.items()})
    return cls()


def consolidation_wait_s(placement: Placement) -> float:
    """How long the placement may hold back a job that could only start spanning nodes (0: never).

    When this is > 0 and `place` returned None for a job although enough eligible GPUs were
    free, the engine must ask again once the job has waited this long, even if nothing else
    happens in between.
    """
    return placement.max_consolidation_wait_s if isinstance(placement, TopologyPlacement) else 0.0
