"""The RL environment: Gymnasium's checker, the real engine underneath, exact rewards, determinism."""

from __future__ import annotations

import math
import warnings

import numpy as np
import pytest
from gymnasium.utils.env_checker import check_env

from simulator.engine import Engine, EngineOptions, PauseRun
from simulator.placement import make_placement
from simulator.policies import FcfsPolicy, JobState, RunContext
from simulator.policies.base import sim_jobs
from simulator.policies.slot import SlotPolicy
from simulator.rl.env import SchedulingEnv
from simulator.rl.observe import JOB_FEATURES, Encoder, ObsSpec
from simulator.rng import Streams
from simulator.run import SimConfig, simulate
from simulator.speed import SpeedTable
from traces.cluster import Cluster
from traces.errors import UserError
from traces.model import Workload
from traces.synth import SynthSpec, generate


def _workload(n: int = 120, seed: int = 3) -> Workload:
    spec = SynthSpec(num_jobs=n, load=1.3, cluster_gpus=8, duration="lognormal", median_duration_s=600.0,
                     duration_sigma=1.2, gpu_counts=((1, 0.6), (2, 0.25), (4, 0.15)))
    return generate(spec, np.random.default_rng(seed))


def _episode(env: SchedulingEnv, choose, seed: int = 0, start_row: int | None = None):  # type: ignore[no-untyped-def]
    options = None if start_row is None else {"start_row": start_row}
    obs, info = env.reset(seed=seed, options=options)
    total, steps = 0.0, 0
    while True:
        obs, reward, terminated, truncated, info = env.step(choose(obs, info["action_mask"]))
        total += reward
        steps += 1
        assert not truncated
        if terminated:
            return total, steps, info["episode"]


def _fcfs(obs, mask):  # type: ignore[no-untyped-def]
    return 0 if mask[0] else len(mask) - 1


def test_gymnasium_env_checker_passes() -> None:
    env = SchedulingEnv(_workload(), Cluster.uniform(2, 4), window_jobs=32)
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # the checker's warnings count as failures too
        check_env(env, skip_render_check=True)


def test_head_only_chooser_replays_the_engines_fcfs_exactly() -> None:
    """Starting slot 0 whenever it fits, else waiting, is strict FCFS: the episode must be the
    engine's own fcfs run of the same window, job for job."""
    wl = _workload(80)
    cluster = Cluster.uniform(2, 4)
    env = SchedulingEnv(wl, cluster, window_jobs=40)
    _, _, ep = _episode(env, _fcfs, start_row=10)
    window = wl.take(np.arange(10, 50))
    window = window.shifted(-float(window.submit_s[0]))
    ref = simulate(window, cluster, SimConfig(policy="fcfs"))
    end = ref.jobs.column("end_s").to_numpy()
    assert np.allclose(env.last_output.end_s, end)
    submit = window.submit_s
    assert ep["mean_jct_s"] == pytest.approx(float(np.mean(end - submit)))


@pytest.mark.parametrize("reward", ["slowdown", "jct", "utilisation"])
def test_episode_return_is_the_documented_metric(reward: str) -> None:
    wl = _workload(150)
    cluster = Cluster.uniform(2, 4)
    env = SchedulingEnv(wl, cluster, window_jobs=60, reward=reward)
    rng = np.random.default_rng(7)
    ret, _, ep = _episode(env, lambda o, m: int(rng.choice(np.flatnonzero(m))), seed=5)
    out = env.last_output
    window = wl.take(np.arange(env.start_row, env.start_row + 60))
    submit = window.submit_s - window.submit_s[0]
    jct = out.end_s - submit
    scale = env.spec_obs.time_scale_s
    if reward == "slowdown":
        expected = -float(np.mean(jct / window.duration_s))
        assert ep["mean_slowdown"] == pytest.approx(-expected)
    elif reward == "jct":
        expected = -float(np.mean(jct)) / scale
    else:
        busy = float(np.sum((out.seg_end_s - out.seg_start_s) * window.num_gpus[out.seg_row]))
        expected = -(cluster.num_gpus * float(out.end_s.max()) - busy) / (cluster.num_gpus * scale)
    assert ret == pytest.approx(expected, rel=1e-9, abs=1e-12)


def test_same_seed_same_episode_and_seeds_pick_other_windows() -> None:
    wl = _workload(200)
    env = SchedulingEnv(wl, Cluster.uniform(2, 4), window_jobs=30)

    def run(seed: int) -> tuple[int, list[float]]:
        rng = np.random.default_rng(seed)
        obs, info = env.reset(seed=seed)
        trace = [float(obs.sum())]
        while True:
            obs, r, term, _, info = env.step(int(rng.choice(np.flatnonzero(info["action_mask"]))))
            trace.append(r)
            if term:
                return env.start_row, trace

    assert run(1) == run(1)
    assert len({run(s)[0] for s in range(6)}) > 1


def test_toy_shortest_first_is_optimal_and_the_env_scores_it_so() -> None:
    """One GPU, three jobs at t=0 of 100 s, 1 s, 1 s: starting the short ones first gives JCTs
    1, 2, 102 s (mean slowdown (1 + 2 + 1.02) / 3); longest first gives 100, 101, 102."""
    wl = Workload.from_columns(
        job_id=["a-long", "b", "c"], submit_s=[0.0, 0.0, 0.0], duration_s=[100.0, 1.0, 1.0], num_gpus=[1, 1, 1]
    )
    env = SchedulingEnv(wl, Cluster.uniform(1, 1), window_jobs=3, queue_slots=4)

    def shortest(obs, mask):  # type: ignore[no-untyped-def]
        slots = obs[: 4 * len(JOB_FEATURES)].reshape(4, len(JOB_FEATURES))
        dur = np.where(mask[:4], slots[:, 3], np.inf)
        return int(np.argmin(dur))

    ret_best, steps, ep = _episode(env, shortest)
    assert ret_best == pytest.approx(-(1 + 2 + 102 / 100) / 3)
    assert ep["mean_jct_s"] == pytest.approx((1 + 2 + 102) / 3)
    assert steps == 2  # the last job is forced: one legal action is never asked
    ret_worst, _, _ = _episode(env, lambda o, m: 0 if m[0] else 3)  # submission order: long first
    assert ret_worst == pytest.approx(-(100 / 100 + 101 / 1 + 102 / 1) / 3)


def test_no_decision_episode_ends_on_the_first_step() -> None:
    wl = Workload.from_columns(job_id=["x"], submit_s=[0.0], duration_s=[10.0], num_gpus=[1])
    env = SchedulingEnv(wl, Cluster.uniform(1, 1), window_jobs=1)
    obs, info = env.reset(seed=0)
    assert env.observation_space.contains(obs)
    _, reward, terminated, _, info = env.step(0)
    assert terminated and reward == pytest.approx(-1.0)
    assert info["episode"]["mean_jct_s"] == 10.0
    with pytest.raises(RuntimeError):
        env.step(0)


def test_illegal_actions_are_mapped_to_legal_ones() -> None:
    wl = _workload(60)
    env = SchedulingEnv(wl, Cluster.uniform(1, 4), window_jobs=40, queue_slots=4)
    _, _, ep = _episode(env, lambda o, m: 3 if not m[3] else 99)  # mostly out of range / masked
    assert ep["num_jobs"] == 40 and math.isfinite(ep["mean_jct_s"])


def test_bad_arguments_are_user_errors() -> None:
    wl = _workload(20)
    cl = Cluster.uniform(1, 4)
    with pytest.raises(UserError, match="reward"):
        SchedulingEnv(wl, cl, reward="fun")
    with pytest.raises(UserError, match="window_jobs"):
        SchedulingEnv(wl, cl, window_jobs=21)
    with pytest.raises(UserError, match="start_rows"):
        SchedulingEnv(wl, cl, window_jobs=10, start_rows=[15])
    with pytest.raises(UserError, match="estimates"):
        SchedulingEnv(wl, cl, window_jobs=10, estimates=np.ones(3))
    with pytest.raises(UserError):
        SchedulingEnv(wl, Cluster.uniform(1, 1), window_jobs=10)  # 4-GPU jobs never fit


def test_obs_spec_round_trips_and_encoder_pads_nodes() -> None:
    cluster = Cluster.uniform(3, 4)
    spec = ObsSpec.for_cluster(cluster, 2, 60.0)
    assert ObsSpec.from_json(spec.to_json()) == spec
    with pytest.raises(UserError):
        ObsSpec.from_json({"queue_slots": 2})
    enc = Encoder(spec, Cluster.uniform(5, 4))  # a bigger cluster: its freest 3 nodes are seen
    obs = enc.encode([0.0], [2], [60.0], [True], {"n0": ("a",), "n3": ("a", "b", "c", "d"), "n4": ("a", "b")},
                     num_queued=3, num_free=7, num_running=1)
    nodes = obs[2 * len(JOB_FEATURES): 2 * len(JOB_FEATURES) + 3]
    assert nodes.tolist() == [1.0, 0.5, 0.25]
    assert obs[: len(JOB_FEATURES)].tolist() == pytest.approx([1.0, 0.5, 0.0, math.log1p(1.0), 1.0])
    assert obs[-3] == pytest.approx(math.log1p(2))


class _Never(SlotPolicy):
    key = "never"

    def choose(self, obs, mask):  # type: ignore[no-untyped-def]
        raise PauseRun


def test_run_without_a_stepper_reports_a_pausing_policy() -> None:
    wl = _workload(30)
    cluster = Cluster.uniform(1, 4)
    engine = Engine(wl, cluster, _Never(), make_placement("pack"), EngineOptions())
    with pytest.raises(Exception, match="PauseRun"):
        engine.run()


def test_stepped_engine_equals_run() -> None:
    """begin/advance/finish with a policy that never pauses is `run()`."""
    wl = _workload(100)
    cluster = Cluster.uniform(2, 4)
    a = Engine(wl, cluster, FcfsPolicy(), make_placement("pack"), EngineOptions()).run()
    e = Engine(wl, cluster, FcfsPolicy(), make_placement("pack"), EngineOptions())
    e.begin()
    assert e.advance() is False
    b = e.finish()
    assert np.array_equal(a.end_s, b.end_s) and np.array_equal(a.seg_start_s, b.seg_start_s)


def test_slots_show_the_oldest_then_the_shortest_of_the_rest() -> None:
    """Two GPUs, one taken by a long job at 0; eight jobs wait from 1 s (durations 80..10 s in
    submission order). With 4 slots, 2 of them oldest: the decision at 1 s sees the two oldest
    (80, 70) and then the two shortest of the rest (10, 20), shortest first."""
    durations = [1000.0, 80.0, 70.0, 60.0, 50.0, 40.0, 30.0, 20.0, 10.0]
    wl = Workload.from_columns(
        job_id=[f"j{i}" for i in range(9)], submit_s=[0.0] + [1.0] * 8, duration_s=durations, num_gpus=[1] * 9
    )
    env = SchedulingEnv(wl, Cluster.uniform(1, 2), window_jobs=9, queue_slots=4, oldest_slots=2, time_scale_s=1.0)
    env.reset(seed=0)
    obs, _, _, _, info = env.step(0)  # start the long job (waiting was the other choice)
    slots = obs[: 4 * len(JOB_FEATURES)].reshape(4, len(JOB_FEATURES))
    assert np.expm1(slots[:, 3]).round().tolist() == [80.0, 70.0, 10.0, 20.0]
    assert info["action_mask"].tolist() == [True, True, True, True, True]
    # Starting slot 2 (the 10 s job) and so on: the 20 s job becomes the shortest shown, etc.
    obs, _, _, _, info = env.step(2)
    slots = obs[: 4 * len(JOB_FEATURES)].reshape(4, len(JOB_FEATURES))
    assert np.expm1(slots[:, 3]).round().tolist() == [80.0, 70.0, 20.0, 30.0]


@pytest.mark.parametrize("placement", ["pack", "random"])
def test_an_agent_makes_the_same_schedule_in_the_env_and_as_a_policy(placement: str) -> None:
    """The env's decisions, taken by an (untrained) network, replayed by `RlPolicy` in a plain
    engine run with the episode's seed: the same schedule, also when placement draws random GPUs
    (a paused decision is asked again about the same GPUs, not a second random draw)."""
    from executor.rl.network import init_weights
    from simulator.rl.policy import AgentNet, RlPolicy, greedy_action

    wl = _workload(120)
    cluster = Cluster.uniform(2, 4)
    env = SchedulingEnv(wl, cluster, window_jobs=50, placement=placement, time_scale_s=600.0)
    weights = {k: v * 8.0 for k, v in init_weights(env.spec_obs, 8, np.random.default_rng(4)).items()}
    net = AgentNet(env.spec_obs, 8, weights)
    for seed in range(3):
        _episode(env, lambda o, m: greedy_action(net.logits(o), m), seed=seed)
        window = wl.take(np.arange(env.start_row, env.start_row + 50))
        window = window.shifted(-float(window.submit_s[0]))
        streams = Streams.from_seed(env.episode_seed)
        out = Engine(window, cluster, RlPolicy.from_net(net), make_placement(placement, streams.placement),
                     EngineOptions(policy_rng=streams.policy)).run()
        assert np.array_equal(out.seg_start_s, env.last_output.seg_start_s)
        assert out.seg_gpus == env.last_output.seg_gpus


class _First(SlotPolicy):
    key = "first"

    def choose(self, obs, mask):  # type: ignore[no-untyped-def]
        return int(np.flatnonzero(mask)[0])


def test_jobs_deferred_by_admission_stay_in_the_shortest_slots() -> None:
    """A deferred job is invisible to `view.job()` but not over: the shortest-slot heap keeps it
    and shows it once it waits; a job that has ended leaves the heap for good."""
    wl = Workload.from_columns(job_id=["a", "b", "c", "d"], submit_s=[0.0] * 4,
                               duration_s=[40.0, 30.0, 20.0, 10.0], num_gpus=[1] * 4)
    jobs = sim_jobs(wl)
    policy = _First(queue_slots=2, time_scale_s=1.0)
    policy.bind(RunContext(wl, Cluster.uniform(1, 1), jobs, np.random.default_rng(0), wl.duration_s.copy(),
                           SpeedTable.reference()))

    class View:
        now_s = 0.0
        waiting = {"a", "b"}
        ended = {"c"}  # d: deferred by admission (neither waiting nor ended)

        def job(self, job_id: str) -> JobState | None:
            if job_id not in self.waiting:
                return None
            j = jobs["abcd".index(job_id)]
            return JobState(j, 0.0, 0.0, j.duration_s, 0.0, j.duration_s, 0, 0, math.nan, math.nan, ())

        def has_ended(self, job_id: str) -> bool:
            return job_id in self.ended

    view = View()
    shown = policy._shortest_queued(view, 3, set())  # type: ignore[arg-type]
    assert [s.job.job_id for s in shown] == ["b", "a"]  # shortest first; d deferred, c over
    assert sorted(row for _, row in policy._shortest) == [0, 1, 3]  # c dropped for good, d kept
    view.waiting.add("d")  # admitted now
    assert [s.job.job_id for s in policy._shortest_queued(view, 3, set())] == ["d", "b", "a"]  # type: ignore[arg-type]


class _PauseThenFirst(_First):
    """Pauses at every real choice, then (asked again) takes the first legal action."""

    key = "pause-first"
    answer: int | None = None

    def choose(self, obs, mask):  # type: ignore[no-untyped-def]
        if self.answer is None:
            self.answer = super().choose(obs, mask)
            self._replay = self._shown
            raise PauseRun
        action, self.answer = self.answer, None
        return action


@pytest.mark.parametrize("placement", ["pack", "random"])
def test_a_stepped_run_with_admission_equals_the_unstepped_one(placement: str) -> None:
    """Pausing at every choice and resuming gives the unstepped run, with admission control in play
    and random placement (resuming asks the policy only, about the GPUs it was shown)."""
    from simulator.admission import make_admission

    wl = _workload(120)
    cluster = Cluster.uniform(2, 4)

    def engine(policy: SlotPolicy) -> Engine:
        streams = Streams.from_seed(3)
        return Engine(wl, cluster, policy, make_placement(placement, streams.placement),
                      EngineOptions(admission=make_admission("load", factor=0.6), policy_rng=streams.policy))

    ref = engine(_First(queue_slots=4)).run()
    stepped = engine(_PauseThenFirst(queue_slots=4))
    stepped.begin()
    paused, pauses = stepped.advance(), 0
    while paused:
        pauses += 1
        paused = stepped.resume()
    out = stepped.finish()
    assert pauses > 10
    assert np.array_equal(out.seg_start_s, ref.seg_start_s) and out.seg_gpus == ref.seg_gpus
    assert np.array_equal(out.rejected, ref.rejected)
