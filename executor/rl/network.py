"""The agent's policy network in Keras: the same per-slot shared scorer as `simulator.rl.policy.AgentNet`.

Keras is used for what it is good at here, gradients and the optimiser; acting (rollouts, and
the `rl` policy in a simulation) runs the NumPy copy in `AgentNet.logits`, which is much
faster for one small observation at a time than a Keras call. Both sides name their arrays
alike (`slot_1.kernel`, ...: `simulator.rl.policy.weight_shapes`), and the weights move
between them with `to_numpy`/`set_from_numpy`; a test checks that both give the same logits.

Initial weights come from the caller's seeded NumPy generator (Glorot-uniform kernels, zero
biases, a small output layer so the first policy is close to uniform over the legal
starts, and "wait" less likely: `WAIT_INIT_BIAS`), not from Keras' global seed.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import numpy.typing as npt

from executor.backend import load_keras
from executor.devices import DeviceSetup, configure
from simulator.rl.observe import JOB_FEATURES, ObsSpec
from simulator.rl.policy import AgentNet, weight_shapes
from traces.errors import UserError

OUTPUT_INIT_SCALE = 0.01  # output kernels start this small: logits near 0, a near-uniform first policy
# "wait" starts this far below the starts: leaving GPUs idle while a queued job fits is rarely right (a
# work-conserving start is the classic schedulers' rule), and a greedy agent that waits at every choice
# idles the cluster until the next event; training can still raise it where holding GPUs pays.
WAIT_INIT_BIAS = -2.0
LAYERS: tuple[str, ...] = ("slot_1", "slot_2", "slot_out", "wait_1", "wait_out")


def init_weights(spec: ObsSpec, hidden: int, rng: np.random.Generator) -> dict[str, npt.NDArray[np.float32]]:
    """Fresh weights: Glorot-uniform kernels (output kernels scaled by `OUTPUT_INIT_SCALE`), zero biases."""
    out: dict[str, npt.NDArray[np.float32]] = {}
    for name, shape in weight_shapes(spec, hidden).items():
        if name.endswith(".bias"):
            out[name] = np.full(shape, WAIT_INIT_BIAS if name == "wait_out.bias" else 0.0, dtype=np.float32)
            continue
        limit = np.sqrt(6.0 / (shape[0] + shape[1]))
        w = rng.uniform(-limit, limit, size=shape)
        if name.startswith(("slot_out", "wait_out")):
            w *= OUTPUT_INIT_SCALE
        out[name] = w.astype(np.float32)
    return out


# One TensorFlow thread: the network has ~2k weights, so more threads only add overhead; one
# thread also makes updates reproducible and is the executor's and `gpusched profile`'s setup,
# so one process can train an agent and profile or execute models (TensorFlow fixes its thread
# pools at first use).
TRAINING_SETUP = DeviceSetup(threads=1)


def load_training_keras() -> Any:
    """Keras (TensorFlow backend) set up for agent training (`TRAINING_SETUP`), or as it already runs
    when something in this process started TensorFlow with other thread pools first."""
    try:
        return configure(TRAINING_SETUP)
    except UserError:
        return load_keras()


def build_model(spec: ObsSpec, hidden: int) -> Any:
    """A Keras functional model: observations (B, S) -> unmasked logits (B, K + 1)."""
    keras = load_training_keras()
    ops = keras.ops
    k, f = spec.queue_slots, len(JOB_FEATURES)
    g = spec.size - k * f
    obs = keras.Input(shape=(spec.size,), name="obs", dtype="float32")
    slots = keras.layers.Reshape((k, f), name="slots")(obs[:, : k * f])
    glob = obs[:, k * f :]
    tiled = ops.repeat(ops.expand_dims(glob, 1), k, axis=1)
    slot_in = ops.concatenate([slots, tiled], axis=2)
    h = keras.layers.Dense(hidden, activation="tanh", name="slot_1")(slot_in)
    h = keras.layers.Dense(hidden, activation="tanh", name="slot_2")(h)
    slot_logits = ops.squeeze(keras.layers.Dense(1, name="slot_out")(h), axis=2)
    wait_in = ops.concatenate([glob, ops.mean(slots, axis=1)], axis=1)
    hw = keras.layers.Dense(hidden, activation="tanh", name="wait_1")(wait_in)
    wait_logit = keras.layers.Dense(1, name="wait_out")(hw)
    logits = ops.concatenate([slot_logits, wait_logit], axis=1)
    model = keras.Model(obs, logits, name="slot_scorer")
    if model.get_layer("slot_1").kernel.shape != (f + g, hidden):  # the NumPy side's layout, checked once
        raise AssertionError("Keras network layout differs from simulator.rl.policy.weight_shapes")
    return model


def set_from_numpy(model: Any, weights: dict[str, npt.NDArray[np.float32]]) -> None:
    """Load NumPy weights (by `layer.kernel`/`layer.bias` name) into the Keras model."""
    for layer in LAYERS:
        model.get_layer(layer).set_weights([weights[f"{layer}.kernel"], weights[f"{layer}.bias"]])


def to_numpy(model: Any) -> dict[str, npt.NDArray[np.float32]]:
    """The Keras model's weights as NumPy arrays named like `AgentNet`'s."""
    out: dict[str, npt.NDArray[np.float32]] = {}
    for layer in LAYERS:
        kernel, bias = model.get_layer(layer).get_weights()
        out[f"{layer}.kernel"] = np.asarray(kernel, dtype=np.float32)
        out[f"{layer}.bias"] = np.asarray(bias, dtype=np.float32)
    return out


def agent_net(model: Any, spec: ObsSpec, hidden: int) -> AgentNet:
    """The NumPy network with the Keras model's current weights."""
    return AgentNet(spec, hidden, to_numpy(model))


__all__ = [
    "LAYERS",
    "OUTPUT_INIT_SCALE",
    "WAIT_INIT_BIAS",
    "agent_net",
    "build_model",
    "init_weights",
    "set_from_numpy",
    "to_numpy",
]
