"""Placement plug-in: which free GPUs a job gets once the policy has chosen to start it.

Both placements only use GPUs whose node has an allowed type (`job.gpu_types`, empty =
any) and enough per-GPU memory (`job.gpu_mem_gib`), and within a node take the
lowest-numbered free GPUs. A job goes on one node when some eligible node has enough
free GPUs; otherwise it spans nodes, which the engine charges as a longer run
(`SimConfig.cross_node_slowdown`, default 1.0 = no penalty). Scheduling is in whole
GPUs: a job with `gpu_frac < 1` still gets its GPU to itself.
"""

from __future__ import annotations

from typing import ClassVar, Protocol

from simulator.cluster import FreeGpus
from simulator.policies.base import SimJob
from traces.errors import UserError


class Placement(Protocol):
    """Chooses GPUs for a job; must only read `free` (the engine applies the choice)."""

    key: ClassVar[str]

    def place(self, job: SimJob, free: FreeGpus) -> tuple[str, ...] | None:
        """`job.num_gpus` free GPU ids for `job`, or None when it cannot start now."""
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


class PackPlacement:
    """Consolidate: the eligible node with the fewest free GPUs that still fits the job whole.

    Keeping jobs on already-busy nodes leaves whole nodes free for big jobs. If no single
    node fits, the job spans nodes taking the fullest (fewest free GPUs) first.
    """

    key: ClassVar[str] = "pack"

    def place(self, job: SimJob, free: FreeGpus) -> tuple[str, ...] | None:
        k = job.num_gpus
        pools = free.eligible_pools(job.gpu_types, job.gpu_mem_gib)
        if free.free_in(pools) < k:
            return None
        node = free.fewest_free_node(pools, k)
        if node is not None:
            return free.lowest_free(node, k)
        return _span(free, free.nodes_by_free(pools, fewest_first=True), k)


class SpreadPlacement:
    """Balance load: the eligible node with the most free GPUs (ties: cluster order).

    If no single node fits the job, it spans nodes taking the emptiest first.
    """

    key: ClassVar[str] = "spread"

    def place(self, job: SimJob, free: FreeGpus) -> tuple[str, ...] | None:
        k = job.num_gpus
        pools = free.eligible_pools(job.gpu_types, job.gpu_mem_gib)
        if free.free_in(pools) < k:
            return None
        node = free.most_free_node(pools, k)
        if node is not None:
            return free.lowest_free(node, k)
        return _span(free, free.nodes_by_free(pools, fewest_first=False), k)


PLACEMENTS: dict[str, type[Placement]] = {cls.key: cls for cls in (PackPlacement, SpreadPlacement)}


def make_placement(key: str) -> Placement:
    """A fresh placement for one run; `UserError` naming the known keys if unknown."""
    cls = PLACEMENTS.get(key)
    if cls is None:
        raise UserError(f"unknown placement {key!r}; known placements: {', '.join(sorted(PLACEMENTS))}")
    return cls()
