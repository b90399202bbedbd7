"""Training a scheduling agent: REINFORCE with a time-aligned average baseline over repeated windows.

Why REINFORCE and not PPO: the scheduling MDP is *input-driven* (Mao et al., "Variance
Reduction for Reinforcement Learning in Input-Driven Environments", ICLR 2019): most of an
episode's return comes from the job arrivals of its window, which a learned critic V(obs)
cannot see coming, so a critic-based baseline (PPO's GAE) leaves that variance in and needs
many more episodes before its value estimates help. Instead each update runs the same
window `rollouts_per_window` times (same arrivals, different sampled actions) and the
baseline of a decision taken at simulated time t is the mean return-to-go of the *other*
rollouts from time t (leave-one-out, so it stays unbiased): what an average policy would
still collect from that point of the same input sequence, the baseline of DeepRM (Mao et
al., HotNets 2016) and Decima (SIGCOMM 2019). No critic network, no discounting (the return
is exactly the negative mean slowdown / JCT of the window), one Adam step per window on the
clipped (global norm 1) policy-gradient loss with a linearly decaying entropy bonus.

Rollouts act in NumPy with `simulator.rl.policy.AgentNet` (the function the `rl` policy
runs), sampling from the masked softmax with the trainer's seeded generator; updates use
Keras (`executor.rl.network`) with `tf.GradientTape`. The learning curve records each
sampled episode next to FCFS on the same window, and now and then the greedy policy (the
one `rl` runs) on a few fixed training windows (`greedy_ratio`). Same seed, same machine: same
learning curve and weights (initial weights, window choice and action draws all come from
one `numpy.random.Generator`; TensorFlow's CPU kernels for these small dense layers are
deterministic in practice, but TensorFlow does not promise bit-identical results across
versions or CPUs).
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from executor.backend import load_tensorflow
from executor.rl.evaluate import PolicyScore, evaluate
from executor.rl.network import build_model, init_weights, load_training_keras, set_from_numpy, to_numpy
from simulator.policies import Policy, make_policy
from simulator.policies.slot import median_duration_s
from simulator.rl.env import SchedulingEnv
from simulator.rl.policy import AgentNet, RlPolicy, greedy_action, masked_probs, sample_action
from simulator.speed import SpeedTable
from traces.cluster import Cluster
from traces.errors import UserError
from traces.model import Workload

CURVE_COLUMNS: tuple[str, ...] = (
    "episode",
    "update",
    "start_row",
    "return",
    "mean_slowdown",
    "mean_jct_s",
    "p95_wait_s",
    "makespan_s",
    "num_decisions",
    "entropy",
    "fcfs_mean_slowdown",
    "fcfs_mean_jct_s",
    "fcfs_makespan_s",
    "greedy_ratio",
)
# The policy that runs is the greedy one, which the sampled episodes' returns say little about: after
# updates 1, 2, 4, 8, ..., every `check_every` and the last, the greedy policy replays a fixed set of
# training windows; `greedy_ratio` (NaN between checks) is its metric for the reward (below) divided
# by FCFS's on the same windows.
GREEDY_METRIC = {"slowdown": "mean_slowdown", "jct": "mean_jct_s", "utilisation": "mean_makespan_s"}
# Windows differ far more than one policy's episodes do, so each row also holds FCFS on the same window:
# the learning curve plots the agent relative to it.
REFERENCE_POLICY = "fcfs"
NEG_LOGIT = -1e9  # an illegal action's logit in the loss (-inf would make 0 * -inf = NaN in the entropy)


@dataclass(frozen=True, slots=True)
class TrainConfig:
    """How to train: `episodes` rollouts in all, in groups of `rollouts_per_window` on one window each."""

    episodes: int = 200
    rollouts_per_window: int = 4
    hidden: int = 32
    learning_rate: float = 1e-3
    entropy_start: float = 0.02
    entropy_end: float = 0.0
    seed: int = 0
    check_windows: int = 4  # training windows the greedy policy replays for the curve (0: none)
    check_every: int = 10  # updates between those replays (besides updates 1, 2, 4, 8, ... and the last)

    def __post_init__(self) -> None:
        if self.episodes < 1:
            raise UserError(f"episodes must be an integer >= 1, got {self.episodes}")
        if self.rollouts_per_window < 2:
            raise UserError(f"rollouts per window must be >= 2 (the baseline compares them), got "
                            f"{self.rollouts_per_window}")
        if self.hidden < 1:
            raise UserError(f"hidden units must be >= 1, got {self.hidden}")
        for name in ("learning_rate", "entropy_start", "entropy_end"):
            value = getattr(self, name)
            if not (math.isfinite(value) and value >= 0):
                raise UserError(f"{name} must be a finite number >= 0, got {value!r}")
        if self.seed < 0:
            raise UserError(f"a seed must be an integer >= 0, got {self.seed}")
        if self.check_windows < 0 or self.check_every < 1:
            raise UserError(f"check_windows must be >= 0 and check_every >= 1, got {self.check_windows} and "
                            f"{self.check_every}")

    def groups(self) -> list[int]:
        """Rollouts per update: `rollouts_per_window` each; a remainder of one joins the last group."""
        m = self.rollouts_per_window
        sizes = [m] * (self.episodes // m)
        rest = self.episodes % m
        if rest == 1 and sizes:
            sizes[-1] += 1
        elif rest:
            sizes.append(rest)
        return sizes


@dataclass(frozen=True, slots=True)
class Rollout:
    """One episode: the real choices (observation, mask, action, time) and every step's reward and time."""

    start_row: int
    obs: npt.NDArray[np.float32]  # (D, S) at the D real choices
    mask: npt.NDArray[np.bool_]  # (D, K + 1)
    action: npt.NDArray[np.int64]  # (D,)
    choice_step: npt.NDArray[np.int64]  # (D,) index of the step each choice was made at
    step_time_s: npt.NDArray[np.float64]  # (T,) simulated time of each step's decision
    reward: npt.NDArray[np.float64]  # (T,)
    entropy: float  # mean policy entropy over the real choices (nats)
    episode: dict[str, float]  # the env's end-of-episode metrics

    @property
    def total_return(self) -> float:
        return float(self.reward.sum())


def rollout(
    env: SchedulingEnv,
    net: AgentNet,
    start_row: int,
    rng: np.random.Generator | None,
) -> Rollout:
    """Play one window: draw each choice from the policy with `rng`, or act greedily when `rng` is None."""
    obs, info = env.reset(options={"start_row": int(start_row)})
    obs_l: list[npt.NDArray[np.float32]] = []
    mask_l: list[npt.NDArray[np.bool_]] = []
    act_l: list[int] = []
    step_l: list[int] = []
    times: list[float] = []
    rewards: list[float] = []
    entropy = 0.0
    while True:
        mask = np.asarray(info["action_mask"], dtype=np.bool_)
        times.append(float(info["now_s"]))
        if int(mask.sum()) >= 2:
            logits = net.logits(obs)
            action = sample_action(logits, mask, rng) if rng is not None else greedy_action(logits, mask)
            p = masked_probs(logits, mask)
            nz = p[p > 0]
            entropy += float(-(nz * np.log(nz)).sum())
            obs_l.append(obs)
            mask_l.append(mask)
            act_l.append(action)
            step_l.append(len(rewards))
        else:
            action = int(np.flatnonzero(mask)[0]) if mask.any() else env.spec_obs.wait_action
        obs, reward, terminated, truncated, info = env.step(action)
        rewards.append(float(reward))
        if terminated or truncated:
            break
    size, k1 = env.spec_obs.size, env.spec_obs.num_actions
    return Rollout(
        start_row=int(start_row),
        obs=np.asarray(obs_l, dtype=np.float32).reshape(len(obs_l), size),
        mask=np.asarray(mask_l, dtype=np.bool_).reshape(len(mask_l), k1),
        action=np.asarray(act_l, dtype=np.int64),
        choice_step=np.asarray(step_l, dtype=np.int64),
        step_time_s=np.asarray(times, dtype=np.float64),
        reward=np.asarray(rewards, dtype=np.float64),
        entropy=entropy / len(act_l) if act_l else 0.0,
        episode=dict(info.get("episode", {})),
    )


def returns_to_go(reward: npt.NDArray[np.float64]) -> npt.NDArray[np.float64]:
    """G[s] = reward[s] + reward[s + 1] + ... (undiscounted), with G[T] = 0 appended."""
    out = np.zeros(len(reward) + 1)
    out[:-1] = np.cumsum(reward[::-1])[::-1]
    return out


def return_at(rollout: Rollout, t_s: npt.NDArray[np.float64]) -> npt.NDArray[np.float64]:
    """What the rollout still collected from simulated time t on: the return-to-go from its first step at
    or after t (0 once it has made its last decision)."""
    idx = np.searchsorted(rollout.step_time_s, t_s, side="left")
    return returns_to_go(rollout.reward)[idx]


def advantages(group: Sequence[Rollout]) -> list[npt.NDArray[np.float64]]:
    """Per rollout, each real choice's return-to-go minus the leave-one-out mean of the other rollouts'
    return-to-go at the same simulated time (the input-driven baseline; see the module docstring)."""
    out: list[npt.NDArray[np.float64]] = []
    m = len(group)
    for i, r in enumerate(group):
        own = returns_to_go(r.reward)[r.choice_step]
        t = r.step_time_s[r.choice_step]
        if m == 1:
            out.append(own)
            continue
        others = sum((return_at(o, t) for j, o in enumerate(group) if j != i), start=np.zeros(len(t)))
        out.append(own - others / (m - 1))
    return out


@dataclass(frozen=True, slots=True)
class TrainResult:
    """The trained network and one learning-curve row per episode (`CURVE_COLUMNS`)."""

    net: AgentNet
    curve: list[dict[str, float]]
    wall_s: float
    config: TrainConfig

    @property
    def seconds_per_episode(self) -> float:
        return self.wall_s / max(len(self.curve), 1)


class _Updater:
    """The Keras model, its Adam optimiser and the policy-gradient step (eager: a `tf.function` would
    save a few ms per update but costs more than a second of tracing per training run)."""

    def __init__(self, env: SchedulingEnv, config: TrainConfig, weights: dict[str, npt.NDArray[np.float32]]) -> None:
        keras = load_training_keras()
        self._tf = load_tensorflow()
        self.model = build_model(env.spec_obs, config.hidden)
        set_from_numpy(self.model, weights)
        self.optimizer = keras.optimizers.Adam(learning_rate=config.learning_rate)

    def update(self, group: Sequence[Rollout], entropy_coef: float) -> None:
        """One Adam step on the group's choices: -mean(advantage x log pi(a)) - coef x mean entropy."""
        adv = np.concatenate(advantages(group))
        if adv.size == 0:
            return
        scale = float(adv.std())
        adv = adv / scale if scale > 1e-12 else adv * 0.0
        tf = self._tf
        obs = tf.constant(np.concatenate([r.obs for r in group]))
        mask = tf.constant(np.concatenate([r.mask for r in group]))
        action = tf.constant(np.concatenate([r.action for r in group]))
        with tf.GradientTape() as tape:
            logits = tf.where(mask, self.model(obs, training=True), NEG_LOGIT)
            logp_all = tf.nn.log_softmax(logits)
            logp = tf.gather(logp_all, action, batch_dims=1)
            entropy = -tf.reduce_sum(tf.where(mask, tf.exp(logp_all) * logp_all, 0.0), axis=1)
            loss = -tf.reduce_mean(tf.constant(adv.astype(np.float32)) * logp) - float(entropy_coef) * tf.reduce_mean(
                entropy)
        variables = self.model.trainable_variables
        grads, _ = tf.clip_by_global_norm(tape.gradient(loss, variables), 1.0)
        self.optimizer.apply_gradients(zip(grads, variables, strict=True))

    def weights(self) -> dict[str, npt.NDArray[np.float32]]:
        return to_numpy(self.model)


def train(
    env: SchedulingEnv,
    config: TrainConfig,
    progress: Callable[[int, int, str], None] | None = None,
) -> TrainResult:
    """Train a fresh agent on windows drawn from `env.start_rows`; `progress(done, total, note)` per episode."""
    t0 = time.perf_counter()
    rng = np.random.default_rng(config.seed)
    spec = env.spec_obs
    env.reset(seed=config.seed)  # seeds the env's own streams (placement ties) once
    weights = init_weights(spec, config.hidden, rng)
    updater = _Updater(env, config, weights)
    net = AgentNet(spec, config.hidden, weights)
    curve: list[dict[str, float]] = []
    groups = config.groups()
    check = _GreedyCheck(env, rng, config.check_windows)
    for u, size in enumerate(groups):
        frac = u / max(len(groups) - 1, 1)
        coef = config.entropy_start + (config.entropy_end - config.entropy_start) * frac
        start = int(rng.choice(env.start_rows))
        group = [rollout(env, net, start, rng) for _ in range(size)]
        updater.update(group, coef)
        net = AgentNet(spec, config.hidden, updater.weights())
        ref = reference_score(env, start)
        n = u + 1  # checks after updates 1, 2, 4, 8, ... (where it learns fastest), every `check_every`, the last
        due = n & (n - 1) == 0 or n % config.check_every == 0 or u == len(groups) - 1
        greedy = check.ratio(net) if due else math.nan
        for i, r in enumerate(group):
            curve.append(_curve_row(len(curve) + 1, u + 1, r, ref, greedy if i == len(group) - 1 else math.nan))
            if progress is not None:
                ep = r.episode
                progress(len(curve), config.episodes, f"return {r.total_return:.3g}, "
                         f"slowdown {ep.get('mean_slowdown', math.nan):.3g}")
    return TrainResult(net=net, curve=curve, wall_s=time.perf_counter() - t0, config=config)


def trace_env(
    workload: Workload,
    cluster: Cluster,
    train_rows: Sequence[int],
    *,
    window_jobs: int = 64,
    queue_slots: int = 16,
    reward: str = "slowdown",
    placement: str = "pack",
    speed_table: SpeedTable | None = None,
    estimates: npt.NDArray[np.float64] | None = None,
) -> SchedulingEnv:
    """The training environment over a whole trace, episodes drawn only from `train_rows`; the time scale
    is the median duration of the jobs those windows cover (nothing from later jobs leaks into it)."""
    last = max(train_rows) + window_jobs if len(train_rows) else window_jobs
    scale = median_duration_s(workload.duration_s[:last])
    return SchedulingEnv(workload, cluster, queue_slots=queue_slots, window_jobs=window_jobs, reward=reward,
                         placement=placement, speed_table=speed_table, estimates=estimates, time_scale_s=scale,
                         start_rows=list(train_rows))


def reference_score(env: SchedulingEnv, start_row: int) -> PolicyScore:
    """`REFERENCE_POLICY` on one of the environment's windows (same engine, placement, speeds, estimates)."""
    scores = evaluate(env.workload, env.cluster, [start_row], env.window_jobs,
                      {REFERENCE_POLICY: lambda: make_policy(REFERENCE_POLICY)}, placement=env.placement,
                      speed_table=env.speed_table, estimates=env.estimates)
    return scores[REFERENCE_POLICY]


class _GreedyCheck:
    """The greedy policy on fixed training windows, against FCFS on the same windows (see `GREEDY_METRIC`)."""

    def __init__(self, env: SchedulingEnv, rng: np.random.Generator, count: int) -> None:
        self.env = env
        rows = env.start_rows
        self.rows = sorted(int(r) for r in rng.choice(rows, size=min(count, len(rows)), replace=False))
        self.metric = GREEDY_METRIC[env.reward_kind]
        self.fcfs = self._score(lambda: make_policy(REFERENCE_POLICY)) if self.rows else math.nan

    def _score(self, make: Callable[[], Policy]) -> float:
        env = self.env
        score = evaluate(env.workload, env.cluster, self.rows, env.window_jobs, {"p": make},
                         placement=env.placement, speed_table=env.speed_table, estimates=env.estimates)["p"]
        return score.metric(self.metric)

    def ratio(self, net: AgentNet) -> float:
        if not self.rows or not self.fcfs > 0:
            return math.nan
        return self._score(lambda: RlPolicy.from_net(net)) / self.fcfs


def _curve_row(episode: int, update: int, r: Rollout, ref: PolicyScore, greedy: float) -> dict[str, float]:
    ep = r.episode
    return {
        "episode": episode,
        "update": update,
        "start_row": r.start_row,
        "return": r.total_return,
        "mean_slowdown": ep.get("mean_slowdown", math.nan),
        "mean_jct_s": ep.get("mean_jct_s", math.nan),
        "p95_wait_s": ep.get("p95_wait_s", math.nan),
        "makespan_s": ep.get("makespan_s", math.nan),
        "num_decisions": len(r.action),
        "entropy": r.entropy,
        "fcfs_mean_slowdown": ref.mean_slowdown,
        "fcfs_mean_jct_s": ref.mean_jct_s,
        "fcfs_makespan_s": ref.mean_makespan_s,
        "greedy_ratio": greedy,
    }


__all__ = [
    "CURVE_COLUMNS",
    "GREEDY_METRIC",
    "REFERENCE_POLICY",
    "Rollout",
    "TrainConfig",
    "TrainResult",
    "advantages",
    "reference_score",
    "return_at",
    "returns_to_go",
    "rollout",
    "trace_env",
    "train",
]
