"""A trained scheduling agent as a simulator policy (`rl`), and the NumPy forward pass it runs.

An agent is a directory written by `gpusched rl train` (`executor.rl`): `agent.json` (format,
version, the observation spec, the network's shape, how it was trained) and `weights.npz`
(plain float32 arrays, read with `allow_pickle=False`). This module reads it and runs the
network in NumPy, so the simulator never imports TensorFlow; training rollouts call the
very same `AgentNet.logits`, so the policy a run uses is the policy that was trained.

The network is a per-slot shared scorer: the same two tanh layers score every queue slot
from that slot's job features plus the cluster-wide features (free GPUs per node and type,
queue length beyond the slots, busy/free fraction), giving one logit per slot; a small
separate head scores "wait" from the cluster-wide features and the slots' mean. Sharing
the scorer makes the choice depend on what a job is, not on where it sits in the queue, and
keeps the network small (about 1.5k weights at 32 units) whatever the number of slots.
Illegal actions get a logit of -inf; the policy takes the arg-max (ties: the lower slot,
i.e. the earlier submission) or, with `sample=true`, draws from the softmax with the run's
policy stream.
"""

from __future__ import annotations

import json
import zipfile
import zlib
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, ClassVar

import numpy as np
import numpy.typing as npt

from simulator.policies import register_policy
from simulator.policies.base import RunContext
from simulator.policies.slot import SlotPolicy
from simulator.rl.observe import JOB_FEATURES, ObsSpec
from traces.errors import TraceError, UserError

AGENT_FORMAT = "gpusched-rl-agent"
AGENT_VERSION = 1
AGENT_DOC = "agent.json"
WEIGHTS_FILE = "weights.npz"
NETWORK_KIND = "slot-scorer"

F32 = npt.NDArray[np.float32]


def weight_shapes(spec: ObsSpec, hidden: int) -> dict[str, tuple[int, ...]]:
    """Every array the network has, by name (`layer.kernel`/`layer.bias`), with its shape."""
    f = len(JOB_FEATURES)
    g = spec.size - spec.queue_slots * f
    return {
        "slot_1.kernel": (f + g, hidden),
        "slot_1.bias": (hidden,),
        "slot_2.kernel": (hidden, hidden),
        "slot_2.bias": (hidden,),
        "slot_out.kernel": (hidden, 1),
        "slot_out.bias": (1,),
        "wait_1.kernel": (g + f, hidden),
        "wait_1.bias": (hidden,),
        "wait_out.kernel": (hidden, 1),
        "wait_out.bias": (1,),
    }


@dataclass(frozen=True, slots=True)
class AgentNet:
    """The policy network's weights and the observation spec they were trained on."""

    spec: ObsSpec
    hidden: int
    weights: Mapping[str, F32] = field(repr=False)

    def __post_init__(self) -> None:
        shapes = weight_shapes(self.spec, self.hidden)
        if set(self.weights) != set(shapes):
            missing = sorted(set(shapes) - set(self.weights))
            extra = sorted(set(self.weights) - set(shapes))
            raise ValueError(f"weights: missing {missing}, unexpected {extra}")
        for name, shape in shapes.items():
            if tuple(self.weights[name].shape) != shape:
                raise ValueError(f"weight {name} has shape {tuple(self.weights[name].shape)}, expected {shape}")

    def logits(self, obs: npt.ArrayLike) -> F32:
        """Unmasked logits, shape (..., K + 1), for one observation (S,) or a batch (B, S)."""
        x = np.asarray(obs, dtype=np.float32)
        single = x.ndim == 1
        if single:
            x = x[None, :]
        w = self.weights
        k, f = self.spec.queue_slots, len(JOB_FEATURES)
        slots = x[:, : k * f].reshape(x.shape[0], k, f)
        glob = x[:, k * f :]
        slot_in = np.concatenate([slots, np.broadcast_to(glob[:, None, :], (x.shape[0], k, glob.shape[1]))], axis=2)
        h = np.tanh(slot_in @ w["slot_1.kernel"] + w["slot_1.bias"])
        h = np.tanh(h @ w["slot_2.kernel"] + w["slot_2.bias"])
        slot_logits = (h @ w["slot_out.kernel"] + w["slot_out.bias"])[:, :, 0]
        wait_in = np.concatenate([glob, slots.mean(axis=1)], axis=1)
        hw = np.tanh(wait_in @ w["wait_1.kernel"] + w["wait_1.bias"])
        wait_logit = hw @ w["wait_out.kernel"] + w["wait_out.bias"]
        out = np.concatenate([slot_logits, wait_logit], axis=1).astype(np.float32, copy=False)
        return out[0] if single else out


def masked_probs(logits: npt.NDArray[np.floating[Any]], mask: npt.NDArray[np.bool_]) -> npt.NDArray[np.float64]:
    """Softmax over the legal actions (illegal ones get probability 0); `mask` must allow one."""
    z = np.where(mask, logits.astype(np.float64), -np.inf)
    z = z - z.max()
    p: npt.NDArray[np.float64] = np.exp(z)
    p /= p.sum()
    return p


def greedy_action(logits: npt.NDArray[np.floating[Any]], mask: npt.NDArray[np.bool_]) -> int:
    """The legal action with the largest logit (ties: the lowest index)."""
    return int(np.argmax(np.where(mask, logits, -np.inf)))


def sample_action(
    logits: npt.NDArray[np.floating[Any]], mask: npt.NDArray[np.bool_], rng: np.random.Generator
) -> int:
    """A draw from the masked softmax with one uniform from `rng` (always a legal action)."""
    p = masked_probs(logits, mask)
    cdf = np.cumsum(p)
    a = int(np.searchsorted(cdf, rng.random() * cdf[-1], side="right"))
    if a >= len(p) or not mask[a]:  # rounding at the top end: the last legal action
        a = int(np.flatnonzero(mask)[-1])
    return a


@dataclass(frozen=True, slots=True)
class LoadedAgent:
    """An agent directory as read: its network and the rest of `agent.json` (training metadata)."""

    path: Path
    net: AgentNet
    document: Mapping[str, Any]


def load_agent(path: str | Path) -> LoadedAgent:
    """Read an agent directory; a one-line `UserError`/`TraceError` when it is missing or not an agent."""
    root = Path(path)
    if not root.exists():
        raise UserError(f"{root}: no such agent directory (train one with `gpusched rl train TRACE --out {root}`)")
    if not root.is_dir():
        raise UserError(f"{root}: an agent is a directory (agent.json, weights.npz), but this is a file")
    doc_path = root / AGENT_DOC
    try:
        doc = json.loads(doc_path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise UserError(f"{root}: not an agent directory (no {AGENT_DOC})") from None
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise TraceError(doc_path, f"not a readable JSON document ({exc})") from None
    if not isinstance(doc, dict) or doc.get("format") != AGENT_FORMAT:
        found = doc.get("format") if isinstance(doc, dict) else type(doc).__name__
        raise TraceError(doc_path, field="format", expected=repr(AGENT_FORMAT), found=found)
    if doc.get("version") != AGENT_VERSION:
        raise TraceError(doc_path, "written by another version of gpusched", field="version",
                         expected=str(AGENT_VERSION), found=doc.get("version"))
    network = doc.get("network")
    if not isinstance(network, dict) or network.get("kind") != NETWORK_KIND:
        found = network.get("kind") if isinstance(network, dict) else network
        raise TraceError(doc_path, field="network.kind", expected=repr(NETWORK_KIND), found=found)
    hidden = network.get("hidden")
    if not isinstance(hidden, int) or isinstance(hidden, bool) or hidden < 1:
        raise TraceError(doc_path, field="network.hidden", expected="an integer >= 1", found=hidden)
    spec_doc = doc.get("obs_spec")
    if not isinstance(spec_doc, dict):
        raise TraceError(doc_path, field="obs_spec", expected="an object", found=spec_doc)
    try:
        spec = ObsSpec.from_json(spec_doc)
    except UserError as exc:
        raise TraceError(doc_path, str(exc)) from None
    weights = _read_weights(root / WEIGHTS_FILE)
    try:
        net = AgentNet(spec, hidden, weights)
    except ValueError as exc:
        raise TraceError(root / WEIGHTS_FILE, f"does not fit {AGENT_DOC}: {exc}") from None
    return LoadedAgent(root, net, doc)


def _read_weights(path: Path) -> dict[str, F32]:
    try:
        with np.load(path, allow_pickle=False) as npz:
            weights = {name: np.asarray(npz[name], dtype=np.float32) for name in npz.files}
    except FileNotFoundError:
        raise UserError(f"{path.parent}: the agent has no {WEIGHTS_FILE}") from None
    except (OSError, ValueError, EOFError, zipfile.BadZipFile, zlib.error) as exc:  # not a zip, corrupt, pickled
        raise TraceError(path, f"not a readable weights file ({exc})") from None
    bad = [n for n, a in weights.items() if not np.all(np.isfinite(a))]
    if bad:
        raise TraceError(path, f"weights {', '.join(sorted(bad))} hold NaN or infinite values")
    return weights


class RlPolicy(SlotPolicy):
    """A trained agent (`gpusched rl train`) choosing which queued job starts next, or to wait.

    Non-preemptive. `agent` is the agent directory; `sample=true` draws each choice from
    the policy's distribution (with the run's policy stream) instead of the most likely one.
    The observation uses the agent's saved spec (queue slots, node count, GPU types, time
    scale): a run is seen through the very encoder the agent was trained with (on a cluster
    of another size, through its freest nodes: `simulator.rl.observe`).
    """

    key: ClassVar[str] = "rl"
    arg_param: ClassVar[str] = "agent"  # `--policy rl:AGENT_DIR` (`simulator.policies.split_policy`)

    def __init__(self, agent: str = "", sample: bool = False) -> None:
        if not agent:
            raise UserError("policy 'rl' needs a trained agent: --policy rl:AGENT_DIR "
                            "(train one with `gpusched rl train TRACE --out AGENT_DIR`)")
        loaded = load_agent(agent)
        super().__init__(spec=loaded.net.spec)
        self.agent = loaded
        self.sample = bool(sample)
        self._rng: np.random.Generator | None = None

    @classmethod
    def from_net(cls, net: AgentNet, sample: bool = False) -> RlPolicy:
        """The policy for a network in memory (e.g. while training), without an agent directory."""
        self = cls.__new__(cls)
        SlotPolicy.__init__(self, spec=net.spec)
        self.agent = LoadedAgent(Path(), net, {})
        self.sample = bool(sample)
        self._rng = None
        return self

    def bind(self, ctx: RunContext) -> None:
        super().bind(ctx)
        self._rng = ctx.rng
        self.notes = self._mismatch_notes(ctx)

    def _mismatch_notes(self, ctx: RunContext) -> list[str]:
        """What differs between the run and the agent's training (it still runs: see `simulator.rl.observe`)."""
        spec, notes = self.spec, []
        name = str(self.agent.path) if str(self.agent.path) not in ("", ".") else "the agent"
        node_gpus = tuple(n.num_gpus for n in ctx.cluster.nodes)
        types = tuple(sorted({n.gpu_type for n in ctx.cluster.nodes}))
        if node_gpus != spec.node_gpus or types != spec.gpu_types:
            def sizes(gpus: tuple[int, ...]) -> str:
                return "/".join(map(str, sorted(set(gpus))))

            notes.append(
                f"{name} was trained on {len(spec.node_gpus)} nodes of {sizes(spec.node_gpus)} GPUs "
                f"({', '.join(spec.gpu_types)}); this cluster has {len(node_gpus)} nodes of {sizes(node_gpus)} GPUs "
                f"({', '.join(types)}): it sees the free GPUs of the {min(len(node_gpus), len(spec.node_gpus))} "
                f"freest nodes as fractions of {spec.max_gpus}"
                + (f" and not the types {', '.join(t for t in types if t not in spec.gpu_types)}"
                   if set(types) - set(spec.gpu_types) else ""))
        training = self.agent.document.get("training")
        trained = str(training.get("durations", "actual")) if isinstance(training, dict) else "actual"
        if (trained == "actual") != (ctx.estimate_kind == "actual"):
            notes.append(f"{name} was trained seeing {trained} durations; this run shows it "
                         f"{ctx.estimate_kind} ones (--durations)")
        return notes

    def choose(self, obs: F32, mask: npt.NDArray[np.bool_]) -> int:
        logits = self.agent.net.logits(obs)
        if self.sample and self._rng is not None:
            return sample_action(logits, mask, self._rng)
        return greedy_action(logits, mask)


register_policy(RlPolicy)


__all__ = [
    "AGENT_DOC",
    "AGENT_FORMAT",
    "AGENT_VERSION",
    "NETWORK_KIND",
    "WEIGHTS_FILE",
    "AgentNet",
    "LoadedAgent",
    "RlPolicy",
    "greedy_action",
    "load_agent",
    "masked_probs",
    "sample_action",
    "weight_shapes",
]
