"""The cluster as the simulator uses it: the shared model plus which GPUs are free right now.

`Cluster`/`Node` live in `traces.cluster` and are re-exported here. `FreeGpus` is the
mutable free-GPU tracker the engine owns; placements only call its query methods. Nodes
with the same GPU type and memory form a *pool*: a job's type/memory constraints select
whole pools, so eligibility is decided once per distinct constraint (cached), not per node.
Within a pool, nodes are bucketed by their free-GPU count (each bucket a sorted node
list, plus a bitmask of the non-empty buckets), so "the fullest node that still fits k
GPUs" is O(1) per pool, not O(nodes).
"""

from __future__ import annotations

import math
from bisect import bisect_left, insort
from collections.abc import Iterable, Sequence

import numpy as np

from traces.cluster import Cluster, GpuInfo, Node, load_cluster_toml
from traces.errors import UserError
from traces.model import Workload

__all__ = ["Cluster", "FreeGpus", "GpuInfo", "Node", "check_fits", "load_cluster_toml"]


def _allowed(gpu_types: tuple[str, ...], node_type: str) -> bool:
    return not gpu_types or node_type in gpu_types


def _mem_ok(gpu_mem_gib: float | None, node_mem_gib: float) -> bool:
    return gpu_mem_gib is None or math.isnan(gpu_mem_gib) or gpu_mem_gib <= node_mem_gib


class FreeGpus:
    """Which GPUs are free, per node, with the indexes placements need.

    GPUs have a global index (cluster order) and an id `"<node_id>:<i>"`. Only the engine
    calls `take` and `release`; everything else is a read-only query.
    """

    def __init__(self, cluster: Cluster) -> None:
        nodes = cluster.nodes
        self.cluster = cluster
        self.node_ids: tuple[str, ...] = tuple(n.node_id for n in nodes)
        self.num_gpus = cluster.num_gpus
        offsets = np.cumsum([0] + [n.num_gpus for n in nodes]).tolist()
        self._offset: list[int] = offsets[:-1]
        self.gpu_ids: tuple[str, ...] = tuple(g for n in nodes for g in n.gpu_ids)
        self._gpu_index: dict[str, int] = {g: i for i, g in enumerate(self.gpu_ids)}
        self.node_of: tuple[int, ...] = tuple(k for k, n in enumerate(nodes) for _ in range(n.num_gpus))
        self._bit_of: tuple[int, ...] = tuple(1 << i for n in nodes for i in range(n.num_gpus))  # in its node's mask
        self._mask: list[int] = [(1 << n.num_gpus) - 1 for n in nodes]
        self._free: list[int] = [n.num_gpus for n in nodes]
        self.num_free = self.num_gpus
        pool_key: dict[tuple[str, float], int] = {}
        self._pool_of: list[int] = [pool_key.setdefault((n.gpu_type, n.gpu_mem_gib), len(pool_key)) for n in nodes]
        self._pool_type: tuple[str, ...] = tuple(t for t, _ in pool_key)
        self._pool_mem: tuple[float, ...] = tuple(m for _, m in pool_key)
        self._pool_free: list[int] = [0] * len(pool_key)
        max_per_node = cluster.max_gpus_per_node
        # _buckets[pool][f]: sorted node indices of that pool with exactly f free GPUs (f >= 1).
        self._buckets: list[list[list[int]]] = [[[] for _ in range(max_per_node + 1)] for _ in pool_key]
        # _nonempty[pool]: bit f set iff _buckets[pool][f] is non-empty (O(1) best-bucket lookup).
        self._nonempty: list[int] = [0] * len(pool_key)
        for k, n in enumerate(nodes):
            pool = self._pool_of[k]
            self._pool_free[pool] += n.num_gpus
            self._buckets[pool][n.num_gpus].append(k)
            self._nonempty[pool] |= 1 << n.num_gpus
        self._max_free = max_per_node
        self._all_pools: tuple[int, ...] = tuple(range(len(pool_key)))
        self._eligible: dict[tuple[tuple[str, ...], float | None], tuple[int, ...]] = {}

    # ----- queries ------------------------------------------------------
    def eligible_pools(self, gpu_types: tuple[str, ...], gpu_mem_gib: float | None) -> tuple[int, ...]:
        """Pools whose GPU type is allowed and whose per-GPU memory is enough."""
        if not gpu_types and gpu_mem_gib is None:
            return self._all_pools
        key = (gpu_types, gpu_mem_gib)
        pools = self._eligible.get(key)
        if pools is None:
            pools = tuple(
                p
                for p, (t, m) in enumerate(zip(self._pool_type, self._pool_mem, strict=True))
                if _allowed(gpu_types, t) and _mem_ok(gpu_mem_gib, m)
            )
            self._eligible[key] = pools
        return pools

    def free_in(self, pools: Sequence[int]) -> int:
        """Free GPUs over the given pools."""
        if len(pools) == 1:
            return self._pool_free[pools[0]]
        return sum(self._pool_free[p] for p in pools)

    def node_free(self, node: int) -> int:
        return self._free[node]

    def fewest_free_node(self, pools: Sequence[int], k: int) -> int | None:
        """The node with the fewest free GPUs that still has >= k (ties: cluster order)."""
        best_f = best_node = -1
        for p in pools:
            fits = self._nonempty[p] >> k << k  # bit f set: some node of p has exactly f free
            if fits:
                f = (fits & -fits).bit_length() - 1
                node = self._buckets[p][f][0]
                if best_f < 0 or (f, node) < (best_f, best_node):
                    best_f, best_node = f, node
        return None if best_f < 0 else best_node

    def most_free_node(self, pools: Sequence[int], k: int) -> int | None:
        """The node with the most free GPUs, if that is >= k (ties: cluster order)."""
        best_f = best_node = -1
        for p in pools:
            f = self._nonempty[p].bit_length() - 1
            if f >= k:
                node = self._buckets[p][f][0]
                if f > best_f or (f == best_f and node < best_node):
                    best_f, best_node = f, node
        return None if best_f < 0 else best_node

    def nodes_by_free(self, pools: Sequence[int], fewest_first: bool) -> list[int]:
        """Nodes of the pools with a free GPU, by free count (ascending or descending), then cluster order."""
        order = range(1, self._max_free + 1) if fewest_first else range(self._max_free, 0, -1)
        out: list[int] = []
        for f in order:
            same: list[int] = []
            for p in pools:
                same.extend(self._buckets[p][f])
            out.extend(sorted(same))
        return out

    def lowest_free(self, node: int, k: int) -> tuple[str, ...]:
        """Ids of the node's k lowest-numbered free GPUs (k <= its free count)."""
        m = self._mask[node]
        base = self._offset[node]
        ids = self.gpu_ids
        if k == 1:
            return (ids[base + (m & -m).bit_length() - 1],)
        out = []
        for _ in range(k):
            low = m & -m
            out.append(ids[base + low.bit_length() - 1])
            m ^= low
        return tuple(out)

    def is_free(self, gpu_id: str) -> bool:
        """Whether this GPU exists and is free (O(1))."""
        g = self._gpu_index.get(gpu_id, -1)
        return g >= 0 and bool(self._mask[self.node_of[g]] & self._bit_of[g])

    def free_by_node(self) -> dict[str, tuple[str, ...]]:
        """Free GPU ids per node id (nodes with a free GPU only), in cluster order."""
        out: dict[str, tuple[str, ...]] = {}
        for node, free in enumerate(self._free):
            if free:
                out[self.node_ids[node]] = self.lowest_free(node, free)
        return out

    def nodes_of(self, gpus: Iterable[int]) -> set[int]:
        node_of = self.node_of
        return {node_of[g] for g in gpus}

    # ----- engine-only updates -------------------------------------------
    def take(self, gpu_ids: Sequence[str], pools: Sequence[int]) -> tuple[int, ...]:
        """Mark these GPUs busy and return their global indices.

        Raises ValueError (nothing changed) if an id is unknown, repeated, not free, or on
        a node outside `pools`.
        """
        index = self._gpu_index
        node_of = self.node_of
        bit_of = self._bit_of
        mask = self._mask
        if len(gpu_ids) == 1:  # the common case, without the per-node grouping
            g = index.get(gpu_ids[0], -1)
            if g >= 0:
                node = node_of[g]
                bit = bit_of[g]
                if mask[node] & bit and self._pool_of[node] in pools:
                    mask[node] ^= bit
                    self._set_free(node, self._free[node] - 1)
                    return (g,)
        gpus: list[int] = []
        clear: dict[int, int] = {}
        for gid in gpu_ids:
            g = index.get(gid, -1)
            if g < 0:
                raise ValueError(f"GPU {gid!r} is not in the cluster")
            node = node_of[g]
            bit = bit_of[g]
            if not mask[node] & bit:
                raise ValueError(f"GPU {gid} is not free")
            if clear.get(node, 0) & bit:
                raise ValueError(f"GPU {gid} is given twice")
            if self._pool_of[node] not in pools:
                raise ValueError(
                    f"GPU {gid} ({self._pool_type[self._pool_of[node]]}, "
                    f"{self._pool_mem[self._pool_of[node]]:g} GiB) does not meet the job's GPU type/memory needs"
                )
            clear[node] = clear.get(node, 0) | bit
            gpus.append(g)
        for node, bits in clear.items():
            mask[node] &= ~bits
            self._set_free(node, self._free[node] - bits.bit_count())
        return tuple(gpus)

    def release(self, gpus: Sequence[int]) -> None:
        """Mark these (busy) GPUs free again."""
        node_of = self.node_of
        bit_of = self._bit_of
        if len(gpus) == 1:
            (g,) = gpus
            node = node_of[g]
            bit = bit_of[g]
            if not self._mask[node] & bit:
                self._mask[node] |= bit
                self._set_free(node, self._free[node] + 1)
                return
        back: dict[int, int] = {}
        for g in gpus:
            node = node_of[g]
            back[node] = back.get(node, 0) | bit_of[g]
        for node, bits in back.items():
            if self._mask[node] & bits:
                raise RuntimeError(f"releasing free GPUs on node {self.node_ids[node]}")
            self._mask[node] |= bits
            self._set_free(node, self._free[node] + bits.bit_count())

    def _set_free(self, node: int, new: int) -> None:
        free = self._free
        old = free[node]
        pool = self._pool_of[node]
        buckets = self._buckets[pool]
        if old:
            lst = buckets[old]
            if len(lst) == 1:
                lst.clear()
                self._nonempty[pool] ^= 1 << old
            else:
                del lst[bisect_left(lst, node)]
        if new:
            lst = buckets[new]
            if lst:
                insort(lst, node)
            else:
                lst.append(node)
                self._nonempty[pool] |= 1 << new
        free[node] = new
        self._pool_free[pool] += new - old
        self.num_free += new - old


def check_fits(workload: Workload, cluster: Cluster, source: str | None = None) -> None:
    """Raise `UserError` naming the first job (in submission order) that can never run.

    A job can never run when the cluster has fewer GPUs of an allowed type with enough
    memory than it needs, even with every GPU free (jobs may span nodes, so the count is
    over the whole cluster).
    """
    n = len(workload)
    if n == 0:
        return
    node_types = [nd.gpu_type for nd in cluster.nodes]
    node_mem = np.array([nd.gpu_mem_gib for nd in cluster.nodes], dtype=np.float64)
    node_gpus = np.array([nd.num_gpus for nd in cluster.nodes], dtype=np.int64)
    codes = workload.gpu_types.codes
    mem = workload.gpu_mem_gib
    need = workload.num_gpus.astype(np.int64)
    capacity = np.zeros(n, dtype=np.int64)
    for code in np.unique(codes).tolist():
        rows = np.flatnonzero(codes == code)
        types: tuple[str, ...] = () if code < 0 else workload.gpu_types.categories[code]
        allowed = np.array([_allowed(types, t) for t in node_types], dtype=bool)
        mems = node_mem[allowed]
        order = np.argsort(mems, kind="stable")
        mems = mems[order]
        # GPUs on allowed nodes with memory >= m: suffix sums over nodes sorted by memory.
        suffix = np.concatenate([np.cumsum(node_gpus[allowed][order][::-1])[::-1], [0]])
        m = mem[rows]
        first = np.searchsorted(mems, np.where(np.isnan(m), -np.inf, m), side="left")
        capacity[rows] = suffix[first]
    bad = np.flatnonzero(need > capacity)
    if not len(bad):
        return
    i = int(bad[0])
    job_id = str(workload.job_id[i])
    types = workload.gpu_types.value(i) or ()
    job_mem = float(mem[i])
    have_types = [t for t in cluster.gpu_types if _allowed(types, t)]
    if not have_types:
        why = (
            f"it needs GPU type {' or '.join(types)} but the cluster has only "
            f"{', '.join(cluster.gpu_types)}"
        )
    elif capacity[i] == 0:
        biggest = max(nd.gpu_mem_gib for nd in cluster.nodes if _allowed(types, nd.gpu_type))
        why = f"it needs {job_mem:g} GiB per GPU but the largest allowed GPU has {biggest:g} GiB"
    else:
        what = "GPUs" if not types and math.isnan(job_mem) else "GPUs of an allowed type and memory"
        why = f"it needs {int(need[i])} GPUs but the cluster has only {int(capacity[i])} {what}"
    more = f" ({len(bad) - 1} more jobs cannot run either)" if len(bad) > 1 else ""
    where = f"{source}: " if source else ""
    raise UserError(f"{where}job {job_id} can never run on this cluster: {why}{more}")
