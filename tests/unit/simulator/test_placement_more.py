"""best-fit, random and topology placements: exact GPU ids on hand-made clusters, seeding, waiting."""

from __future__ import annotations

import math
from collections import Counter
from typing import Any

import numpy as np
import pytest

from simulator.cluster import Cluster, FreeGpus, Node
from simulator.placement import (
    PLACEMENTS,
    BestFitPlacement,
    PackPlacement,
    Placement,
    RandomPlacement,
    TopologyPlacement,
    consolidation_wait_s,
    make_placement,
)
from simulator.policies.base import SimJob
from simulator.rng import stream
from traces.errors import UserError

_BASE: dict[str, Any] = {
    "row": 0, "job_id": "j", "submit_s": 0.0, "duration_s": 1.0, "num_gpus": 1, "gpu_frac": 1.0,
    "gpu_mem_gib": None, "gpu_types": (), "user": None, "group": None, "priority": 0, "weight": 1.0,
    "deadline_s": None,
}


def job(num_gpus: int, gpu_types: tuple[str, ...] = (), mem: float | None = None) -> SimJob:
    values = {**_BASE, "num_gpus": num_gpus, "gpu_types": gpu_types, "gpu_mem_gib": mem}
    fields: dict[str, Any] = {f: values.get(f, SimJob._field_defaults.get(f)) for f in SimJob._fields}
    return SimJob(**fields)


def busy(free: FreeGpus, *ids: str) -> FreeGpus:
    free.take(ids, free.eligible_pools((), None))
    return free


# A100 nodes first, so that cluster order (pack's tie-break) prefers the big-memory GPUs.
MIXED = Cluster(
    (
        Node("a0", "A100", 4, 80.0),
        Node("v0", "V100", 4, 32.0),
        Node("a1", "A100", 2, 80.0),
        Node("v1", "V100", 2, 32.0),
    )
)


def test_every_placement_accepts_waited_s() -> None:
    free = FreeGpus(MIXED)
    for key in PLACEMENTS:
        got = make_placement(key).place(job(2), free, waited_s=12.5)
        assert got is not None and len(got) == 2


# ----- best-fit ---------------------------------------------------------------


def test_best_fit_keeps_big_memory_gpus_for_jobs_that_need_them() -> None:
    free = busy(FreeGpus(MIXED), "a0:0", "a0:1", "a0:2", "v0:0", "v0:1", "v0:2")  # a0 and v0: 1 free each
    fit = BestFitPlacement()
    # Both nodes would be left with 0 free GPUs; on a0 70 GiB would be stranded, on v0 22 GiB.
    assert PackPlacement().place(job(1, mem=10.0), free) == ("a0:3",)
    assert fit.place(job(1, mem=10.0), free) == ("v0:3",)
    # Unknown memory uses the whole GPU: nothing stranded anywhere, so cluster order decides.
    assert fit.place(job(1), free) == ("a0:3",)
    assert fit.place(job(1, mem=40.0), free) == ("a0:3",)  # V100s are too small
    assert fit.place(job(1, ("A100",), 10.0), free) == ("a0:3",)


def test_best_fit_weighs_leftover_gpus_against_stranded_memory() -> None:
    fit = BestFitPlacement()
    free = FreeGpus(MIXED)
    # G = 4 GPUs, M = 80 GiB: v1 scores (0 + 2*2/320), a1 (0 + 2*50/320), v0 (2/4 + ...).
    assert fit.place(job(2, mem=30.0), free) == ("v1:0", "v1:1")
    busy(free, "v1:0")
    # Now V100's best is v0: 2/4 + (2*32 + 2*2)/320 = 0.7125 > a1: 2*50/320 = 0.3125.
    assert fit.place(job(2, mem=30.0), free) == ("a1:0", "a1:1")
    assert fit.place(job(3, mem=40.0), free) == ("a0:0", "a0:1", "a0:2")
    # Fits on no node: spans like pack, fullest first (v1: 1, a1: 2, then the 4-free nodes).
    assert fit.place(job(5), free) == ("v1:1", "a1:0", "a1:1", "a0:0", "a0:1")
    assert fit.place(job(7, ("A100",)), free) is None


def _brute_best_fit(free: FreeGpus, cluster: Cluster, j: SimJob) -> str | None:
    big_g = max(n.num_gpus for n in cluster.nodes)
    big_m = max(n.gpu_mem_gib for n in cluster.nodes)
    counts = free.free_by_node()
    best: tuple[float, int] | None = None
    for i, n in enumerate(cluster.nodes):
        f = len(counts.get(n.node_id, ()))
        ok = (not j.gpu_types or n.gpu_type in j.gpu_types) and (j.gpu_mem_gib is None or j.gpu_mem_gib <= n.gpu_mem_gib)
        if not ok or f < j.num_gpus:
            continue
        left = f - j.num_gpus
        stranded = 0.0 if j.gpu_mem_gib is None else n.gpu_mem_gib - j.gpu_mem_gib
        score = left / big_g + (left * n.gpu_mem_gib + j.num_gpus * stranded) / (big_g * big_m)
        if best is None or (score, i) < best:
            best = (score, i)
    return None if best is None else cluster.nodes[best[1]].node_id


def test_best_fit_matches_scoring_every_node_on_random_states() -> None:
    """Only each pool's fullest fitting node is scored; that must equal scoring all nodes."""
    cluster = Cluster(
        (
            Node("a", "A100", 8, 80.0), Node("b", "A100", 4, 40.0), Node("c", "V100", 8, 32.0),
            Node("d", "A100", 2, 80.0), Node("e", "T4", 4, 16.0), Node("f", "V100", 4, 16.0),
        )
    )
    rng = np.random.default_rng(1)
    fit = BestFitPlacement()
    for _ in range(300):
        free = FreeGpus(cluster)
        taken = tuple(g for g in free.gpu_ids if rng.random() < 0.6)
        if taken:
            busy(free, *taken)
        k = int(rng.integers(1, 9))
        mem = [None, 8.0, 20.0, 35.0, 60.0][int(rng.integers(5))]
        types = [(), ("A100",), ("V100", "T4")][int(rng.integers(3))]
        j = job(k, types, mem)
        want = _brute_best_fit(free, cluster, j)
        got = fit.place(j, free)
        if want is not None:
            assert got == free.free_by_node()[want][:k]
        elif got is not None:  # spanned: k distinct free GPUs on several eligible nodes
            assert len(set(got)) == k and len({g.split(":")[0] for g in got}) > 1


# ----- random -----------------------------------------------------------------


def _sequence(placement: Placement, cluster: Cluster, sizes: list[int]) -> list[tuple[str, ...] | None]:
    free = FreeGpus(cluster)
    out = []
    for k in sizes:
        got = placement.place(job(k), free)
        out.append(got)
        if got is not None:
            free.take(got, free.eligible_pools((), None))
    return out


def test_random_is_reproducible_from_its_seed() -> None:
    cluster = Cluster.uniform(8, 4)
    sizes = [1, 2, 1, 3, 1, 1, 4, 2, 1, 6, 1, 2]
    first = _sequence(RandomPlacement(stream(7, "placement")), cluster, sizes)
    assert first == _sequence(RandomPlacement(stream(7, "placement")), cluster, sizes)
    assert first == _sequence(make_placement("random", rng=stream(7, "placement")), cluster, sizes)
    others = {tuple(_sequence(RandomPlacement(stream(s, "placement")), cluster, sizes)) for s in range(8)}
    assert len(others) > 1  # the seed matters
    # Without an rng: seed 0's placement stream, the same every time.
    assert _sequence(make_placement("random"), cluster, sizes) == _sequence(
        RandomPlacement(stream(0, "placement")), cluster, sizes
    )


def test_random_picks_fitting_nodes_uniformly() -> None:
    free = busy(FreeGpus(Cluster.uniform(4, 4)), "n1:0", "n1:1")  # n1 has only 2 free
    placement = RandomPlacement(np.random.default_rng(3))
    picks: Counter[str] = Counter()
    for _ in range(3000):
        got = placement.place(job(3), free)
        assert got is not None
        node = got[0].split(":")[0]
        assert got == free.free_by_node()[node][:3]
        picks[node] += 1
    assert set(picks) == {"n0", "n2", "n3"}
    # 1000 expected each; binomial sd ~ 26, so 6 sd either side.
    assert all(abs(c - 1000) < 160 for c in picks.values())


def test_random_respects_type_and_memory_and_spans_when_needed() -> None:
    free = FreeGpus(MIXED)
    placement = RandomPlacement(np.random.default_rng(5))
    for _ in range(50):
        got = placement.place(job(2, mem=40.0), free)
        assert got is not None and got[0].split(":")[0] in {"a0", "a1"}
        got = placement.place(job(1, ("V100",)), free)
        assert got is not None and got[0].split(":")[0] in {"v0", "v1"}
        spanned = placement.place(job(5, ("A100",)), free)
        assert spanned is not None and len(set(spanned)) == 5
        assert {g.split(":")[0] for g in spanned} == {"a0", "a1"}
    assert placement.place(job(7, ("A100",)), free) is None


# ----- topology ---------------------------------------------------------------


def racked() -> FreeGpus:
    """n0, n1 in rack r0 and n2, n3 in r1 (4 GPUs each); free: n0 1, n1 3 | n2 3, n3 2."""
    return busy(FreeGpus(Cluster.uniform(4, 4, nodes_per_rack=2)), "n0:0", "n0:1", "n0:2", "n1:0", "n2:0", "n3:0", "n3:1")


def test_topology_one_node_then_one_rack_then_fewest_racks() -> None:
    free = racked()
    topo = TopologyPlacement()
    assert topo.place(job(3), free) == ("n1:1", "n1:2", "n1:3")  # fits one node: like pack
    # 4 GPUs: both racks suffice (r0 has 4, r1 has 5); the tighter r0, emptiest node first.
    assert topo.place(job(4), free) == ("n1:1", "n1:2", "n1:3", "n0:3")
    assert PackPlacement().place(job(4), free) == ("n0:3", "n3:2", "n3:3", "n1:1")  # crosses racks
    assert topo.place(job(5), free) == ("n2:1", "n2:2", "n2:3", "n3:2", "n3:3")  # only r1 suffices
    # 6 GPUs: no rack suffices; the rack with most free (r1) first.
    assert topo.place(job(6), free) == ("n2:1", "n2:2", "n2:3", "n3:2", "n3:3", "n1:1")
    assert topo.place(job(10), free) is None


def test_topology_without_racks_takes_the_emptiest_nodes() -> None:
    free = busy(FreeGpus(Cluster.uniform(3, 4)), "n0:0", "n1:0", "n1:1", "n1:2")  # free: 3, 1, 4
    assert TopologyPlacement().place(job(6), free) == ("n2:0", "n2:1", "n2:2", "n2:3", "n0:1", "n0:2")


def test_topology_counts_only_eligible_gpus_per_rack() -> None:
    cluster = Cluster(
        (
            Node("a0", "A100", 4, 80.0, "r0"),
            Node("v0", "V100", 4, 32.0, "r0"),
            Node("a1", "A100", 4, 80.0, "r1"),
            Node("a2", "A100", 2, 80.0, "r1"),
        )
    )
    free = FreeGpus(cluster)
    topo = TopologyPlacement()
    # r0 has 8 free GPUs but only 4 A100s; r1 has 6 A100s: the job stays in r1.
    assert topo.place(job(6, ("A100",)), free) == ("a1:0", "a1:1", "a1:2", "a1:3", "a2:0", "a2:1")
    assert topo.place(job(6, mem=40.0), free) == ("a1:0", "a1:1", "a1:2", "a1:3", "a2:0", "a2:1")
    assert topo.place(job(6), free) == ("a1:0", "a1:1", "a1:2", "a1:3", "a2:0", "a2:1")  # r1's 6 is tighter than r0's 8
    assert topo.place(job(7), free) == ("a0:0", "a0:1", "a0:2", "a0:3", "v0:0", "v0:1", "v0:2")  # only r0 suffices
    busy(free, "a2:0")
    # A100s: r0 4, r1 5; 9 needed: across racks, the rack with most first.
    assert topo.place(job(9, ("A100",)), free) == ("a1:0", "a1:1", "a1:2", "a1:3", "a2:1", "a0:0", "a0:1", "a0:2", "a0:3")


def test_topology_waits_for_a_consolidated_placement_up_to_a_limit() -> None:
    free = racked()
    topo = make_placement("topology", max_consolidation_wait_s=600.0)
    assert consolidation_wait_s(topo) == 600.0
    assert consolidation_wait_s(make_placement("pack")) == 0.0
    assert topo.place(job(4), free) is None  # would have to span: hold it back
    assert topo.place(job(4), free, waited_s=599.9) is None
    assert topo.place(job(4), free, waited_s=600.0) == ("n1:1", "n1:2", "n1:3", "n0:3")
    assert topo.place(job(3), free) == ("n1:1", "n1:2", "n1:3")  # fits one node: no wait
    assert topo.place(job(5), free) == ("n2:1", "n2:2", "n2:3", "n3:2", "n3:3")  # no node has 5 GPUs: no use waiting
    assert topo.place(job(10), free, waited_s=1e9) is None  # not enough free GPUs at all


def test_topology_waits_only_if_an_eligible_node_is_big_enough() -> None:
    cluster = Cluster((Node("big", "V100", 8, 32.0), Node("s0", "T4", 2, 16.0), Node("s1", "T4", 2, 16.0)))
    free = FreeGpus(cluster)
    topo = TopologyPlacement(max_consolidation_wait_s=60.0)
    assert topo.place(job(3, ("T4",)), free) == ("s0:0", "s0:1", "s1:0")  # T4 nodes have 2 GPUs: never fits one
    busy(free, "big:0")
    assert topo.place(job(8), free) is None  # the 8-GPU node could fit it once free


# ----- registry -----------------------------------------------------------------


def test_make_placement_parameters() -> None:
    topo = make_placement("topology", max_consolidation_wait_s="30")
    assert isinstance(topo, TopologyPlacement) and topo.max_consolidation_wait_s == 30.0
    assert isinstance(make_placement("best-fit"), BestFitPlacement)
    assert isinstance(make_placement("random", rng=np.random.default_rng(1)), RandomPlacement)
    with pytest.raises(UserError, match="placement 'pack' has no parameter 'max_consolidation_wait_s'; it takes no parameters"):
        make_placement("pack", max_consolidation_wait_s=1.0)
    with pytest.raises(UserError, match="placement 'topology' has no parameter 'wait'; it takes max_consolidation_wait_s"):
        make_placement("topology", wait=1.0)
    with pytest.raises(UserError, match="max_consolidation_wait_s must be a number, got 'soon'"):
        make_placement("topology", max_consolidation_wait_s="soon")
    for bad in (-1.0, math.inf, math.nan):
        with pytest.raises(UserError, match="max_consolidation_wait_s must be a number >= 0"):
            make_placement("topology", max_consolidation_wait_s=bad)
