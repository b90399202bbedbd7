"""The agent's pieces: NumPy forward == Keras forward, masked choices, the time-aligned baseline,
agent directories (round trip, byte-stable curve files, one-line errors for broken ones)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from executor.rl.agent_dir import agent_document, save_agent
from executor.rl.network import WAIT_INIT_BIAS, build_model, init_weights, set_from_numpy, to_numpy
from executor.rl.train import CURVE_COLUMNS, Rollout, TrainConfig, advantages, return_at, returns_to_go
from simulator.rl.observe import ObsSpec
from simulator.rl.policy import (
    AGENT_DOC,
    WEIGHTS_FILE,
    AgentNet,
    RlPolicy,
    greedy_action,
    load_agent,
    masked_probs,
    sample_action,
    weight_shapes,
)
from traces.cluster import Cluster, Node
from traces.errors import TraceError, UserError

HIDDEN = 8


@pytest.fixture(scope="module")
def spec() -> ObsSpec:
    cluster = Cluster((Node("a", "V100", 8, 32.0), Node("b", "A100", 4, 80.0)))
    return ObsSpec.for_cluster(cluster, queue_slots=5, time_scale_s=600.0)


def _random_net(spec: ObsSpec, seed: int = 0, scale: float = 1.0) -> AgentNet:
    rng = np.random.default_rng(seed)
    weights = {n: (rng.normal(0, scale, s)).astype(np.float32) for n, s in weight_shapes(spec, HIDDEN).items()}
    return AgentNet(spec, HIDDEN, weights)


def _obs(spec: ObsSpec, rows: int, seed: int = 1) -> np.ndarray:
    return np.random.default_rng(seed).uniform(0, 2, (rows, spec.size)).astype(np.float32)


def test_numpy_forward_equals_keras_forward(spec: ObsSpec) -> None:
    net = _random_net(spec)
    model = build_model(spec, HIDDEN)
    set_from_numpy(model, dict(net.weights))
    x = _obs(spec, 7)
    keras_logits = np.asarray(model(x))
    assert keras_logits.shape == (7, spec.num_actions)
    np.testing.assert_allclose(net.logits(x), keras_logits, rtol=1e-5, atol=1e-5)
    np.testing.assert_allclose(net.logits(x[3]), keras_logits[3], rtol=1e-5, atol=1e-5)
    back = to_numpy(model)
    assert set(back) == set(net.weights)
    for name, w in net.weights.items():
        np.testing.assert_array_equal(back[name], w)


def test_slot_scores_do_not_depend_on_the_slot_position(spec: ObsSpec) -> None:
    """The shared scorer: swapping two slots' features swaps their logits and nothing else."""
    net = _random_net(spec)
    x = _obs(spec, 1)[0]
    f = 5
    y = x.copy()
    y[0:f], y[2 * f:3 * f] = x[2 * f:3 * f], x[0:f]
    a, b = net.logits(x), net.logits(y)
    np.testing.assert_allclose(b[[2, 1, 0, 3, 4, 5]], a, rtol=1e-5, atol=1e-6)


def test_fresh_weights_give_a_near_uniform_policy_that_rarely_waits(spec: ObsSpec) -> None:
    w = init_weights(spec, HIDDEN, np.random.default_rng(3))
    assert w["wait_out.bias"][0] == np.float32(WAIT_INIT_BIAS)
    logits = AgentNet(spec, HIDDEN, w).logits(_obs(spec, 20))
    slots = logits[:, :-1]
    assert np.abs(slots).max() < 0.1
    assert (logits[:, -1] < slots.min(axis=1)).all()
    again = init_weights(spec, HIDDEN, np.random.default_rng(3))
    assert all(np.array_equal(w[k], again[k]) for k in w)


def test_masked_choices_never_pick_an_illegal_action() -> None:
    logits = np.array([5.0, 1.0, 0.0, 3.0], dtype=np.float32)
    mask = np.array([False, True, True, False])
    assert greedy_action(logits, mask) == 1
    p = masked_probs(logits, mask)
    assert p[0] == 0 and p[3] == 0 and p.sum() == pytest.approx(1.0)
    assert p[1] / p[2] == pytest.approx(np.e)
    rng = np.random.default_rng(0)
    draws = np.array([sample_action(logits, mask, rng) for _ in range(4000)])
    assert set(draws.tolist()) == {1, 2}
    assert (draws == 1).mean() == pytest.approx(np.e / (1 + np.e), abs=0.03)
    # ties go to the lower index (the earlier submission)
    assert greedy_action(np.zeros(4, dtype=np.float32), np.array([False, True, True, True])) == 1


def _rollout(times: list[float], rewards: list[float], choices: list[int]) -> Rollout:
    d = len(choices)
    return Rollout(
        start_row=0,
        obs=np.zeros((d, 3), dtype=np.float32),
        mask=np.ones((d, 2), dtype=np.bool_),
        action=np.zeros(d, dtype=np.int64),
        choice_step=np.asarray(choices, dtype=np.int64),
        step_time_s=np.asarray(times, dtype=np.float64),
        reward=np.asarray(rewards, dtype=np.float64),
        entropy=0.0,
        episode={},
    )


def test_returns_to_go_and_the_return_at_a_time() -> None:
    assert returns_to_go(np.array([-1.0, -2.0, -3.0])).tolist() == [-6.0, -5.0, -3.0, 0.0]
    r = _rollout([0.0, 10.0, 10.0, 30.0], [-1.0, -2.0, -3.0, -4.0], [0, 1, 2, 3])
    # from t: the return-to-go from its first step at or after t; nothing once its last step is past
    assert return_at(r, np.array([0.0, 5.0, 10.0, 30.0, 31.0])).tolist() == [-10.0, -9.0, -9.0, -4.0, 0.0]


def test_advantages_use_the_other_rollouts_at_the_same_simulated_time() -> None:
    a = _rollout([0.0, 10.0, 20.0], [-1.0, -1.0, -1.0], [0, 2])
    b = _rollout([0.0, 20.0], [-4.0, -2.0], [0, 1])
    c = _rollout([0.0, 15.0], [-3.0, 0.0], [1])
    adv = advantages([a, b, c])
    # a's choice at t=0: own -3; b from 0: -6, c from 0: -3 -> baseline -4.5
    # a's choice at t=20: own -1; b from 20: -2, c after its last step: 0 -> baseline -1
    np.testing.assert_allclose(adv[0], [-3.0 + 4.5, -1.0 + 1.0])
    # b's choice at 0: own -6; a and c from 0: -3 each -> baseline -3;
    # at 20: own -2; a from 20: -1; c: 0 -> baseline -0.5
    np.testing.assert_allclose(adv[1], [-6.0 + 3.0, -2.0 + 0.5])
    # c's choice at 15: own 0; a from 15 (its step at 20): -1; b from 15 (step at 20): -2
    np.testing.assert_allclose(adv[2], [0.0 + 1.5])
    # one rollout alone: the return-to-go itself
    np.testing.assert_allclose(advantages([b])[0], [-6.0, -2.0])


@pytest.mark.parametrize("episodes,groups", [(8, [4, 4]), (9, [4, 5]), (10, [4, 4, 2]), (3, [3]), (1, [1])])
def test_episodes_are_grouped_per_window(episodes: int, groups: list[int]) -> None:
    assert TrainConfig(episodes=episodes, rollouts_per_window=4).groups() == groups


@pytest.mark.parametrize("kwargs,word", [({"episodes": 0}, "episodes"), ({"rollouts_per_window": 1}, "rollouts"),
                                          ({"hidden": 0}, "hidden"), ({"learning_rate": float("nan")}, "learning_rate"),
                                          ({"seed": -1}, "seed")])
def test_bad_training_settings_are_user_errors(kwargs: dict[str, float], word: str) -> None:
    with pytest.raises(UserError, match=word):
        TrainConfig(**kwargs)  # type: ignore[arg-type]


def _curve(n: int) -> list[dict[str, float]]:
    return [{c: float(i + 1) if c != "return" else -float(i + 1) for c in CURVE_COLUMNS} for i in range(n)]


def _save(tmp: Path, net: AgentNet) -> dict[str, Path]:
    doc = agent_document(net, reward="slowdown", training={"episodes": 12, "seed": 0},
                         final={"last_return": float("nan")})
    return save_agent(tmp, net, doc, _curve(12), title="test")


def test_agent_directory_round_trip(tmp_path: Path, spec: ObsSpec) -> None:
    net = _random_net(spec, seed=4)
    paths = _save(tmp_path / "agent", net)
    assert sorted(p.name for p in (tmp_path / "agent").iterdir()) == [
        "agent.json", "learning_curve.csv", "learning_curve.png", "weights.npz"]
    loaded = load_agent(tmp_path / "agent")
    assert loaded.net.spec == spec and loaded.net.hidden == HIDDEN
    x = _obs(spec, 4)
    np.testing.assert_array_equal(loaded.net.logits(x), net.logits(x))
    doc = json.loads(paths["agent"].read_text())
    assert doc["reward"] == "slowdown" and doc["training"]["episodes"] == 12
    assert doc["final"]["last_return"] is None  # NaN is written as null
    header = paths["curve_csv"].read_text().splitlines()[0]
    assert header == ",".join(CURVE_COLUMNS)
    assert len(paths["curve_csv"].read_text().splitlines()) == 13
    # the same inputs give the same bytes (no timestamps in the PNG)
    before = {k: p.read_bytes() for k, p in paths.items()}
    _save(tmp_path / "agent", net)
    assert {k: p.read_bytes() for k, p in paths.items()} == before
    # the policy built from the directory and from memory choose alike
    policy, mem = RlPolicy(agent=str(tmp_path / "agent")), RlPolicy.from_net(net)
    mask = np.array([True, False, True, True, False, True])
    for row in x:
        assert policy.choose(row, mask) == mem.choose(row, mask) == greedy_action(net.logits(row), mask)


def test_rl_policy_needs_an_agent() -> None:
    with pytest.raises(UserError, match="rl:AGENT_DIR"):
        RlPolicy()


def test_broken_agent_directories_are_one_line_errors(tmp_path: Path, spec: ObsSpec) -> None:
    with pytest.raises(UserError, match="no such agent directory"):
        load_agent(tmp_path / "missing")
    (tmp_path / "file").write_text("x")
    with pytest.raises(UserError, match="is a file"):
        load_agent(tmp_path / "file")
    (tmp_path / "empty").mkdir()
    with pytest.raises(UserError, match="no agent.json"):
        load_agent(tmp_path / "empty")

    good = tmp_path / "good"
    _save(good, _random_net(spec))
    doc = json.loads((good / AGENT_DOC).read_text())

    def broken(name: str, change: dict[str, object] | None = None, raw: str | None = None) -> Path:
        d = tmp_path / name
        d.mkdir()
        (d / WEIGHTS_FILE).write_bytes((good / WEIGHTS_FILE).read_bytes())
        (d / AGENT_DOC).write_text(raw if raw is not None else json.dumps({**doc, **(change or {})}))
        return d

    cases = [
        (broken("json", raw="{not json"), "not a readable JSON document"),
        (broken("format", {"format": "other"}), "field 'format': expected 'gpusched-rl-agent' but found 'other'"),
        (broken("version", {"version": 99}), "field 'version'"),
        (broken("kind", {"network": {"kind": "mlp", "hidden": HIDDEN}}), "network.kind"),
        (broken("hidden", {"network": {**doc["network"], "hidden": 3}}), "does not fit agent.json"),
        (broken("spec", {"obs_spec": {"queue_slots": 5}}), "observation spec"),
    ]
    for path, message in cases:
        with pytest.raises(TraceError, match=message.replace("(", r"\(")) as err:
            load_agent(path)
        assert "\n" not in str(err.value)

    no_weights = broken("noweights")
    (no_weights / WEIGHTS_FILE).unlink()
    with pytest.raises(UserError, match="has no weights.npz"):
        load_agent(no_weights)
    corrupt = broken("corrupt")
    (corrupt / WEIGHTS_FILE).write_bytes(b"PK\x03\x04 not really a zip")
    with pytest.raises(TraceError, match="not a readable weights file"):
        load_agent(corrupt)
    pickled = broken("pickled")
    objects: dict[str, Any] = {"slot_1.kernel": np.array([object()], dtype=object)}
    np.savez(pickled / WEIGHTS_FILE, **objects)
    with pytest.raises(TraceError, match="not a readable weights file"):
        load_agent(pickled)
    nan = broken("nan")
    weights: dict[str, Any] = dict(np.load(good / WEIGHTS_FILE))
    weights["slot_2.bias"] = np.full_like(weights["slot_2.bias"], np.nan)
    np.savez(nan / WEIGHTS_FILE, **weights)
    with pytest.raises(TraceError, match="slot_2.bias hold NaN"):
        load_agent(nan)
