"""The free-GPU tracker and the pack/spread placements, checked against brute force."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from simulator.cluster import Cluster, FreeGpus, Node, check_fits
from simulator.placement import PLACEMENTS, PackPlacement, SpreadPlacement, make_placement
from simulator.policies.base import SimJob
from traces.errors import UserError
from traces.model import Job, Workload


def job(num_gpus: int, gpu_types: tuple[str, ...] = (), mem: float | None = None) -> SimJob:
    return SimJob(0, "j", 0.0, 1.0, num_gpus, 1.0, mem, gpu_types, None, None, 0, 1.0, None)


CLUSTER = Cluster(
    (
        Node("v0", "V100", 4, 32.0),
        Node("a0", "A100", 4, 80.0),
        Node("v1", "V100", 4, 32.0),
        Node("a1", "A100", 2, 80.0),
    )
)


def test_take_and_release_update_the_counts() -> None:
    free = FreeGpus(CLUSTER)
    assert (free.num_gpus, free.num_free) == (14, 14)
    gpus = free.take(("v0:1", "a0:0", "a0:3"), free.eligible_pools((), None))
    assert [free.gpu_ids[g] for g in gpus] == ["v0:1", "a0:0", "a0:3"]
    assert free.num_free == 11
    assert free.free_by_node() == {
        "v0": ("v0:0", "v0:2", "v0:3"),
        "a0": ("a0:1", "a0:2"),
        "v1": ("v1:0", "v1:1", "v1:2", "v1:3"),
        "a1": ("a1:0", "a1:1"),
    }
    free.release(gpus)
    assert free.num_free == 14
    with pytest.raises(RuntimeError, match="releasing free GPUs"):
        free.release(gpus)


@pytest.mark.parametrize(
    "ids,pools,message",
    [
        (("v0:2", "v0:2"), None, "GPU v0:2 is given twice"),
        (("x:0",), None, "GPU 'x:0' is not in the cluster"),
        (("v0:2",), ("A100",), r"GPU v0:2 \(V100, 32 GiB\) does not meet"),
        (("v0:1", "v0:0"), None, "GPU v0:0 is not free"),
    ],
)
def test_take_refuses_bad_requests_without_changing_anything(
    ids: tuple[str, ...], pools: tuple[str, ...] | None, message: str
) -> None:
    free = FreeGpus(CLUSTER)
    free.take(("v0:0",), free.eligible_pools((), None))
    before = free.free_by_node()
    with pytest.raises(ValueError, match=message):
        free.take(ids, free.eligible_pools(pools or (), None))
    assert free.free_by_node() == before
    assert free.num_free == 13


def test_eligible_pools_follow_type_and_memory() -> None:
    free = FreeGpus(CLUSTER)
    assert free.eligible_pools((), None) == (0, 1)  # (V100, 32) and (A100, 80)
    assert free.eligible_pools(("A100",), None) == (1,)
    assert free.eligible_pools((), 40.0) == (1,)
    assert free.eligible_pools(("V100",), 40.0) == ()
    assert free.free_in((0,)) == 8


def test_pack_and_spread_over_several_pools() -> None:
    free = FreeGpus(CLUSTER)
    free.take(("v1:0", "v1:1", "v1:2"), free.eligible_pools((), None))  # v1 has 1 free
    pack, spread = PackPlacement(), SpreadPlacement()
    assert pack.place(job(1), free) == ("v1:3",)
    assert pack.place(job(2), free) == ("a1:0", "a1:1")  # the fullest node with 2 free
    assert pack.place(job(1, ("A100",)), free) == ("a1:0",)
    assert spread.place(job(1), free) == ("v0:0",)  # 4 free, first in cluster order
    assert spread.place(job(2, ("A100",)), free) == ("a0:0", "a0:1")
    # 6 GPUs fit on no node: pack spans fullest first, spread emptiest first.
    assert pack.place(job(6), free) == ("v1:3", "a1:0", "a1:1", "v0:0", "v0:1", "v0:2")
    assert spread.place(job(6), free) == ("v0:0", "v0:1", "v0:2", "v0:3", "a0:0", "a0:1")
    assert pack.place(job(7, ("A100",)), free) is None  # only 6 A100s exist
    assert spread.place(job(1, ("V100",), 64.0), free) is None


def test_make_placement() -> None:
    assert sorted(PLACEMENTS) == ["best-fit", "pack", "random", "spread", "topology"]
    assert isinstance(make_placement("spread"), SpreadPlacement)
    with pytest.raises(UserError, match="unknown placement 'best'"):
        make_placement("best")


def test_check_fits_accepts_jobs_that_fit_only_by_spanning() -> None:
    check_fits(Workload.from_jobs([Job("a", 0.0, 1.0, 14), Job("b", 0.0, 1.0, 6, gpu_types=("A100",))]), CLUSTER)
    with pytest.raises(UserError, match="job b can never run"):
        check_fits(Workload.from_jobs([Job("b", 0.0, 1.0, 3, gpu_mem_gib=33.0, gpu_types=("A100", "V100")),
                                       Job("c", 0.0, 1.0, 1)]), Cluster.uniform(1, 4))


ops = st.lists(st.tuples(st.booleans(), st.integers(0, 10_000), st.integers(1, 5)), max_size=60)


@given(ops)
def test_best_node_queries_match_brute_force(script: list[tuple[bool, int, int]]) -> None:
    """Random takes/releases; the bucket index must always agree with a scan over nodes."""
    free = FreeGpus(CLUSTER)
    busy: list[tuple[int, ...]] = []
    for is_take, pick, k in script:
        if is_take:
            ids = [g for node, gs in free.free_by_node().items() for g in gs]
            if len(ids) >= 1:
                chosen = tuple(sorted({ids[(pick * 7 + i * 3) % len(ids)] for i in range(k)}))
                busy.append(free.take(chosen, free.eligible_pools((), None)))
        elif busy:
            free.release(busy.pop(pick % len(busy)))
        counts = [len(free.free_by_node().get(n.node_id, ())) for n in CLUSTER.nodes]
        assert free.num_free == sum(counts)
        for pools in ((0,), (1,), (0, 1)):
            members = [i for i, n in enumerate(CLUSTER.nodes) if (0 if n.gpu_type == "V100" else 1) in pools]
            assert free.free_in(pools) == sum(counts[i] for i in members)
            for need in range(1, 6):
                fits = [i for i in members if counts[i] >= need]
                fewest = min(fits, key=lambda i: (counts[i], i)) if fits else None
                most = min(fits, key=lambda i: (-counts[i], i)) if fits else None
                assert free.fewest_free_node(pools, need) == fewest
                assert free.most_free_node(pools, need) == most
            for fewest_first in (True, False):
                sign = 1 if fewest_first else -1
                want = sorted((i for i in members if counts[i]), key=lambda i: (sign * counts[i], i))
                assert free.nodes_by_free(pools, fewest_first) == want


def test_pack_matches_a_brute_force_choice_on_random_states() -> None:
    rng = np.random.default_rng(0)
    for _ in range(50):
        free = FreeGpus(CLUSTER)
        taken = [g for g in free.gpu_ids if rng.random() < 0.5]
        if taken:
            free.take(tuple(taken), free.eligible_pools((), None))
        counts = {n.node_id: len(free.free_by_node().get(n.node_id, ())) for n in CLUSTER.nodes}
        k = int(rng.integers(1, 5))
        fits = [n.node_id for n in CLUSTER.nodes if counts[n.node_id] >= k]
        got = PackPlacement().place(job(k), free)
        if fits:
            best = min(fits, key=lambda nid: (counts[nid], [n.node_id for n in CLUSTER.nodes].index(nid)))
            assert got == free.free_by_node()[best][:k]
        elif sum(counts.values()) < k:
            assert got is None
        else:
            assert got is not None and len(set(got)) == k
