"""Real (small) training runs on CPU: a toy cluster where the best action is known (shortest job first),
the same seed giving the same agent, and the environment's greedy rollout agreeing with the agent run
as a simulator policy."""

from __future__ import annotations

import math

import numpy as np
import pytest

from executor.rl.evaluate import evaluate, window_workload
from executor.rl.network import init_weights
from executor.rl.train import TrainConfig, rollout, train
from simulator.policies import make_policy
from simulator.rl.env import SchedulingEnv
from simulator.rl.policy import AgentNet, RlPolicy, weight_shapes
from simulator.run import SimConfig, simulate
from traces.cluster import Cluster
from traces.model import Workload

GROUPS, JOBS = 24, 6
TRAIN_GROUPS = 16
HIDDEN = 16


def toy_workload() -> Workload:
    """Groups of 6 jobs submitted together, 1000 s apart, on one GPU: one 50 s job and five of 1-3 s in a
    random order. Every group ends long before the next one arrives, so each window is one group, and
    shortest-first is the optimal order for mean slowdown (a long job first makes five short ones wait)."""
    rng = np.random.default_rng(1)
    ids: list[str] = []
    submit: list[float] = []
    duration: list[float] = []
    for g in range(GROUPS):
        d = np.concatenate([[50.0], rng.uniform(1, 3, JOBS - 1)])
        rng.shuffle(d)
        for j in range(JOBS):
            ids.append(f"g{g:02d}j{j}")
            submit.append(1000.0 * g)
            duration.append(float(d[j]))
    return Workload.from_columns(job_id=ids, submit_s=submit, duration_s=duration, num_gpus=np.ones(len(ids)))


@pytest.fixture(scope="module")
def toy() -> tuple[SchedulingEnv, list[int]]:
    wl = toy_workload()
    train_rows = [g * JOBS for g in range(TRAIN_GROUPS)]
    held_rows = [g * JOBS for g in range(TRAIN_GROUPS, GROUPS)]
    env = SchedulingEnv(wl, Cluster.uniform(1, 1), queue_slots=8, window_jobs=JOBS, start_rows=train_rows)
    return env, held_rows


def _mean_slowdown(env: SchedulingEnv, net: AgentNet, rows: list[int], rng: np.random.Generator | None) -> float:
    return float(np.mean([rollout(env, net, r, rng).episode["mean_slowdown"] for r in rows]))


def test_a_few_episodes_beat_a_random_policy_and_find_shortest_first(toy: tuple[SchedulingEnv, list[int]]) -> None:
    env, held = toy
    config = TrainConfig(episodes=16, rollouts_per_window=4, hidden=HIDDEN, learning_rate=1e-2, seed=0)
    result = train(env, config)
    assert len(result.curve) == 16 and [r["update"] for r in result.curve] == [1] * 4 + [2] * 4 + [3] * 4 + [4] * 4
    # the greedy policy is checked after updates 1, 2 and 4 (powers of two, and the last), on the last episode
    checked = [r["episode"] for r in result.curve if not math.isnan(r["greedy_ratio"])]
    assert checked == [4, 8, 16]
    assert result.curve[-1]["greedy_ratio"] < 1  # better than FCFS on the same training windows
    trained = _mean_slowdown(env, result.net, held, None)
    # uniform over the legal actions (all-zero weights), sampled: the policy before any learning signal
    zero = AgentNet(env.spec_obs, HIDDEN, {k: np.zeros(s, np.float32) for k, s in weight_shapes(env.spec_obs,
                                                                                                   HIDDEN).items()})
    random = _mean_slowdown(env, zero, held, np.random.default_rng(5))
    untrained = _mean_slowdown(env, AgentNet(env.spec_obs, HIDDEN, init_weights(env.spec_obs, HIDDEN,
                                                                                  np.random.default_rng(0))), held, None)
    sjf = float(np.mean([
        simulate(window_workload(env.workload, r, JOBS), env.cluster, SimConfig(policy="sjf"))
        .summary.to_pandas().set_index("metric").loc["mean_slowdown", "value"]
        for r in held
    ]))
    assert trained < 0.5 * random, (trained, random)
    assert trained < 0.5 * untrained, (trained, untrained)
    assert trained == pytest.approx(sjf, rel=0.02), (trained, sjf)


def test_the_same_seed_trains_the_same_agent(toy: tuple[SchedulingEnv, list[int]]) -> None:
    env, _ = toy
    config = TrainConfig(episodes=8, rollouts_per_window=4, hidden=HIDDEN, learning_rate=1e-2, seed=3)
    a, b = train(env, config), train(env, config)
    assert a.curve == b.curve
    assert all(np.array_equal(a.net.weights[k], b.net.weights[k]) for k in a.net.weights)
    other = train(env, TrainConfig(episodes=8, rollouts_per_window=4, hidden=HIDDEN, learning_rate=1e-2, seed=4))
    assert any(not np.array_equal(a.net.weights[k], other.net.weights[k]) for k in a.net.weights)


def test_greedy_rollout_in_the_env_equals_the_agent_as_a_simulator_policy() -> None:
    """The environment steps the real engine: acting greedily there and running `rl` as a policy give the
    same schedule (here on windows with gangs of several GPUs on two nodes, where choices matter)."""
    rng = np.random.default_rng(7)
    n = 60
    wl = Workload.from_columns(
        job_id=[f"j{i:03d}" for i in range(n)],
        submit_s=np.sort(rng.uniform(0, 3000, n)).round(),
        duration_s=rng.lognormal(6, 1, n).round() + 1,
        num_gpus=rng.choice([1, 2, 4], n),
    )
    cluster = Cluster.uniform(2, 4)
    env = SchedulingEnv(wl, cluster, queue_slots=6, window_jobs=20, start_rows=[0, 20, 40])
    net = AgentNet(env.spec_obs, 8, init_weights(env.spec_obs, 8, np.random.default_rng(2)))
    # a random network, so that its greedy choices are far from any built-in order
    net = AgentNet(env.spec_obs, 8, {k: v * 300 if k.startswith("slot_out") else v for k, v in net.weights.items()})
    for start in (0, 20, 40):
        episode = rollout(env, net, start, None).episode
        scores = evaluate(wl, cluster, [start], 20, {"rl": lambda: RlPolicy.from_net(net),
                                                     "fcfs": lambda: make_policy("fcfs")})
        assert episode["num_decisions"] > 0
        assert episode["mean_slowdown"] == pytest.approx(scores["rl"].mean_slowdown, rel=1e-12)
        assert episode["mean_jct_s"] == pytest.approx(scores["rl"].mean_jct_s, rel=1e-12)
        assert scores["rl"].mean_slowdown != scores["fcfs"].mean_slowdown
