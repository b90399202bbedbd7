"""An untrained agent directory for tests that run every policy (the `rl` policy needs one).

Random weights, scaled up so the greedy choices vary (an untrained agent is a fine test of
validity and determinism: any choice it makes must still give a valid schedule). Written
with the same `save_agent` as `gpusched rl train`; needs NumPy only (no TensorFlow).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from executor.rl.agent_dir import agent_document, save_agent
from executor.rl.network import init_weights
from simulator.rl.observe import ObsSpec
from simulator.rl.policy import AgentNet
from traces.cluster import Cluster


def untrained_agent(out: Path, cluster: Cluster | None = None, *, queue_slots: int = 4, seed: int = 0) -> Path:
    """Write an untrained agent for `cluster` (default 2 x 4 GPUs) to `out` and return `out`."""
    spec = ObsSpec.for_cluster(cluster or Cluster.uniform(2, 4), queue_slots, 600.0)
    weights = {k: (v * 8.0 if k.endswith(".kernel") else v) for k, v in
               init_weights(spec, 8, np.random.default_rng(seed)).items()}
    net = AgentNet(spec, 8, weights)
    save_agent(out, net, agent_document(net, reward="slowdown", training={"episodes": 0}, final={}), [])
    return out


_SHARED: list[object] = []  # the TemporaryDirectory, kept alive (and removed at exit)


def shared_untrained_agent() -> str:
    """One untrained agent per test process, for tests that cannot take `tmp_path` (hypothesis)."""
    import tempfile

    if not _SHARED:
        tmp = tempfile.TemporaryDirectory(prefix="gpusched-agent-")
        _SHARED.append(tmp)
        untrained_agent(Path(tmp.name) / "agent")
    return str(Path(_SHARED[0].name) / "agent")  # type: ignore[attr-defined]
