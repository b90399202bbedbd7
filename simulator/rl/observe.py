"""What a learned scheduler sees: a fixed-size vector built from the engine's `ClusterView`.

One encoder for training (`simulator.rl.env`) and for running a trained agent as a
policy (`simulator.rl.policy`), so the two cannot drift apart. Layout (float32):

* `queue_slots` (K) slots of `JOB_FEATURES`: the `oldest_slots` longest-waiting jobs in
  submission order, then the shortest (by estimate) of the others, shortest first
  (`simulator.policies.slot`); empty slots all zero. Per job: present, GPUs / `max_gpus`,
  log1p(waited / time scale), log1p(duration estimate / time scale), fits on the free GPUs now.
* free GPUs per node, as a fraction of the largest node, sorted from most free to least
  and padded or cut to the training cluster's node count (so an agent runs on a cluster
  of another size, seeing its freest nodes), then the free fraction per GPU type of the
  training cluster (types it did not know are not seen);
* `GLOBAL_FEATURES`: log1p(jobs waiting beyond the K slots), log1p(running jobs), free
  fraction of all GPUs.

Durations and waits are on a log scale relative to `time_scale_s` (by default the
training trace's median duration), so one agent copes with seconds-long and week-long jobs.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import numpy.typing as npt

from traces.cluster import Cluster
from traces.errors import UserError

JOB_FEATURES: tuple[str, ...] = ("present", "num_gpus", "waited", "duration", "fits_now")
MAX_QUEUE_SLOTS = 1024  # each decision encodes and places every slot
GLOBAL_FEATURES: tuple[str, ...] = ("queued_beyond", "running", "free_frac")


@dataclass(frozen=True, slots=True)
class ObsSpec:
    """The observation's shape and scales; saved with an agent's weights."""

    queue_slots: int
    node_gpus: tuple[int, ...]
    gpu_types: tuple[str, ...]
    time_scale_s: float
    max_gpus: int
    oldest_slots: int = -1  # slots showing the longest-waiting jobs; -1: half of them (rounded up)

    def __post_init__(self) -> None:
        if not (isinstance(self.queue_slots, int) and 1 <= self.queue_slots <= MAX_QUEUE_SLOTS):
            raise UserError(f"queue_slots must be an integer in [1, {MAX_QUEUE_SLOTS}], got {self.queue_slots!r}")
        if self.oldest_slots == -1:
            object.__setattr__(self, "oldest_slots", (self.queue_slots + 1) // 2)
        if not (isinstance(self.oldest_slots, int) and 1 <= self.oldest_slots <= self.queue_slots):
            raise UserError(f"oldest_slots must be an integer in [1, queue_slots], got {self.oldest_slots!r}")
        if not (math.isfinite(self.time_scale_s) and self.time_scale_s > 0):
            raise UserError(f"time_scale_s must be a finite number > 0, got {self.time_scale_s!r}")
        if self.max_gpus < 1 or not self.node_gpus or min(self.node_gpus) < 1:
            raise UserError("an observation needs at least one node with at least one GPU")

    @property
    def size(self) -> int:
        return self.queue_slots * len(JOB_FEATURES) + len(self.node_gpus) + len(self.gpu_types) + len(GLOBAL_FEATURES)

    @property
    def num_actions(self) -> int:
        """One action per queue slot, then "wait" (the last)."""
        return self.queue_slots + 1

    @property
    def wait_action(self) -> int:
        return self.queue_slots

    @staticmethod
    def for_cluster(cluster: Cluster, queue_slots: int, time_scale_s: float, oldest_slots: int = -1) -> ObsSpec:
        node_gpus = tuple(n.num_gpus for n in cluster.nodes)
        return ObsSpec(
            queue_slots=int(queue_slots),
            oldest_slots=int(oldest_slots),
            node_gpus=node_gpus,
            gpu_types=tuple(sorted({n.gpu_type for n in cluster.nodes})),
            time_scale_s=float(time_scale_s),
            max_gpus=max(node_gpus),
        )

    def to_json(self) -> dict[str, Any]:
        return {
            "queue_slots": self.queue_slots,
            "oldest_slots": self.oldest_slots,
            "node_gpus": list(self.node_gpus),
            "gpu_types": list(self.gpu_types),
            "time_scale_s": self.time_scale_s,
            "max_gpus": self.max_gpus,
            "job_features": list(JOB_FEATURES),
            "global_features": list(GLOBAL_FEATURES),
        }

    @staticmethod
    def from_json(data: Mapping[str, Any]) -> ObsSpec:
        """The spec saved by `to_json`; `UserError` when a field is missing or of the wrong kind."""
        try:
            if list(data.get("job_features", JOB_FEATURES)) != list(JOB_FEATURES) or list(
                data.get("global_features", GLOBAL_FEATURES)
            ) != list(GLOBAL_FEATURES):
                raise UserError(
                    "the agent was trained on other observation features than this version of gpusched encodes"
                )
            return ObsSpec(
                queue_slots=int(data["queue_slots"]),
                oldest_slots=int(data["oldest_slots"]),
                node_gpus=tuple(int(g) for g in data["node_gpus"]),
                gpu_types=tuple(str(t) for t in data["gpu_types"]),
                time_scale_s=float(data["time_scale_s"]),
                max_gpus=int(data["max_gpus"]),
            )
        except (KeyError, TypeError, ValueError) as exc:
            raise UserError(f"observation spec: expected queue_slots, oldest_slots, node_gpus, gpu_types, "
                            f"time_scale_s, max_gpus but the file has {exc!s} wrong or missing") from None


class Encoder:
    """Builds observations for one cluster under one spec (per-node and per-type lookups precomputed)."""

    def __init__(self, spec: ObsSpec, cluster: Cluster) -> None:
        self.spec = spec
        self._node_type = {n.node_id: n.gpu_type for n in cluster.nodes}
        self._num_nodes = len(cluster.nodes)
        self._type_index = {t: i for i, t in enumerate(spec.gpu_types)}
        type_total = np.zeros(len(spec.gpu_types))
        for n in cluster.nodes:
            i = self._type_index.get(n.gpu_type)
            if i is not None:
                type_total[i] += n.num_gpus
        self._type_total = np.maximum(type_total, 1.0)
        self._total_gpus = float(cluster.num_gpus)

    def encode(
        self,
        waited_s: Sequence[float],
        num_gpus: Sequence[int],
        estimate_s: Sequence[float],
        fits: Sequence[bool],
        free_gpus: Mapping[str, tuple[str, ...]],
        num_queued: int,
        num_free: int,
        num_running: int,
    ) -> npt.NDArray[np.float32]:
        """The observation for the first `len(waited_s)` (<= K) waiting jobs and the free GPUs."""
        spec = self.spec
        k, f = spec.queue_slots, len(JOB_FEATURES)
        obs = np.zeros(spec.size, dtype=np.float32)
        m = len(waited_s)
        if m:
            slots = obs[: k * f].reshape(k, f)
            scale = spec.time_scale_s
            slots[:m, 0] = 1.0
            slots[:m, 1] = np.asarray(num_gpus, dtype=np.float64) / spec.max_gpus
            slots[:m, 2] = np.log1p(np.maximum(np.asarray(waited_s, dtype=np.float64), 0.0) / scale)
            slots[:m, 3] = np.log1p(np.maximum(np.asarray(estimate_s, dtype=np.float64), 0.0) / scale)
            slots[:m, 4] = np.asarray(fits, dtype=np.float64)
        pos = k * f
        nodes = len(spec.node_gpus)
        per_node = sorted((len(ids) for ids in free_gpus.values()), reverse=True)[:nodes]
        obs[pos : pos + len(per_node)] = np.asarray(per_node, dtype=np.float64) / spec.max_gpus
        pos += nodes
        if spec.gpu_types:
            per_type = np.zeros(len(spec.gpu_types))
            for node_id, ids in free_gpus.items():
                i = self._type_index.get(self._node_type[node_id])
                if i is not None:
                    per_type[i] += len(ids)
            obs[pos : pos + len(spec.gpu_types)] = per_type / self._type_total
            pos += len(spec.gpu_types)
        obs[pos] = math.log1p(max(num_queued - m, 0))
        obs[pos + 1] = math.log1p(num_running)
        obs[pos + 2] = num_free / self._total_gpus
        return obs
