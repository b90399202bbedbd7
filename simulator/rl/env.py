"""A Gymnasium environment whose step is the real simulator engine, stopped at each decision.

An episode replays a window of `window_jobs` consecutive jobs of a trace (submit times
shifted to start at 0) on the cluster through `simulator.engine.Engine` with a
`SlotPolicy` whose chooser pauses the engine (`PauseRun`) whenever it has a real choice
to make; `step(action)` hands the action over and runs the engine to the next such point.
Everything else (arrivals, placement, GPU speeds, completions) is the engine's own code,
so a trained agent meets exactly the dynamics it will be run under as `--policy rl:AGENT`.

Rewards (`reward=`), each scaled so the episode's return is a per-job mean:
* "slowdown": a job ending in the step pays -(JCT / duration) / jobs in the window; the
  return is minus the mean slowdown (DeepRM's objective).
* "jct": -(JCT / time scale) / jobs; the return is minus the mean JCT in time-scale units.
* "utilisation": -(idle GPU-seconds in the step) / (GPUs x time scale); the return is
  minus the idle capacity until the last job ends (whole-cluster time-scale units), so it
  rewards a short makespan.
Jobs ending after the last decision are paid at the terminal step. The episode ends when
every job of the window has ended (never truncated); `info["episode"]` then holds the
window's mean JCT, mean slowdown, p95 wait and makespan.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import gymnasium as gym
import numpy as np
import numpy.typing as npt
from gymnasium import spaces

from simulator.cluster import check_fits
from simulator.engine import Engine, EngineOptions, EngineOutput, PauseRun
from simulator.placement import make_placement
from simulator.policies.base import ClusterView, Decision, Start
from simulator.policies.slot import SlotPolicy, median_duration_s
from simulator.rl.observe import ObsSpec
from simulator.rng import Streams
from simulator.speed import SpeedTable
from traces.cluster import Cluster
from traces.errors import UserError
from traces.model import Workload

REWARDS: tuple[str, ...] = ("slowdown", "jct", "utilisation")
OBS_HIGH = 1e6


class _Paused(SlotPolicy):
    """Pauses the engine for each real choice; `step` sets `action` and resumes."""

    key = "rl-env"

    def __init__(self, spec: ObsSpec) -> None:
        super().__init__(spec)
        self.action: int | None = None
        self.obs: npt.NDArray[np.float32] | None = None
        self.mask: npt.NDArray[np.bool_] | None = None
        self.started: list[tuple[int, float]] = []  # (row, start_s) of each job started

    def choose(self, obs: npt.NDArray[np.float32], mask: npt.NDArray[np.bool_]) -> int:
        if self.action is None:
            self.obs, self.mask = obs, mask
            self.num_decisions -= 1  # asked again with the answer at the same instant
            self._replay = self._shown  # ... about the very same jobs and GPUs
            raise PauseRun
        action, self.action = self.action, None
        return action

    def decide(self, view: ClusterView) -> Sequence[Decision]:
        decisions = super().decide(view)
        for d in decisions:
            state = view.job(d.job_id) if type(d) is Start else None
            if state is not None:
                self.started.append((state.job.row, view.now_s))
        return decisions


class SchedulingEnv(gym.Env[npt.NDArray[np.float32], np.int64]):
    """Pick which waiting job starts next (or wait) on a simulated GPU cluster; see the module docstring."""

    metadata: dict[str, Any] = {"render_modes": []}

    def __init__(
        self,
        workload: Workload,
        cluster: Cluster,
        *,
        queue_slots: int = 16,
        window_jobs: int | None = 64,
        reward: str = "slowdown",
        placement: str = "pack",
        speed_table: SpeedTable | None = None,
        estimates: npt.NDArray[np.float64] | None = None,
        time_scale_s: float | None = None,
        start_rows: Sequence[int] | None = None,
        oldest_slots: int = -1,
    ) -> None:
        n = len(workload)
        if n == 0:
            raise UserError("the environment needs a workload with at least one job")
        if reward not in REWARDS:
            raise UserError(f"reward: expected one of {', '.join(REWARDS)} but found {reward!r}")
        window = n if window_jobs is None else int(window_jobs)
        if not 1 <= window <= n:
            raise UserError(f"window_jobs must be between 1 and the workload's {n} jobs, got {window_jobs!r}")
        if estimates is not None and len(estimates) != n:
            raise UserError(f"estimates: expected one value per job ({n}) but found {len(estimates)}")
        check_fits(workload, cluster)
        if speed_table is not None:
            speed_table.check_types(cluster.gpu_types)
        self.workload = workload
        self.cluster = cluster
        self.window_jobs = window
        self.reward_kind = reward
        self.placement = placement
        self.speed_table = speed_table
        self.estimates = None if estimates is None else np.asarray(estimates, dtype=np.float64)
        scale = float(time_scale_s) if time_scale_s is not None else median_duration_s(workload.duration_s)
        self.spec_obs = ObsSpec.for_cluster(cluster, queue_slots, scale, oldest_slots)
        rows = np.arange(n - window + 1) if start_rows is None else np.asarray(list(start_rows), dtype=np.int64)
        if len(rows) == 0 or rows.min() < 0 or rows.max() > n - window:
            raise UserError(f"start_rows must lie in [0, {n - window}] for windows of {window} jobs")
        self.start_rows = rows
        self.action_space: spaces.Discrete = spaces.Discrete(self.spec_obs.num_actions)
        # Features are fractions and log1p(time / scale): far below OBS_HIGH for any real trace.
        self.observation_space = spaces.Box(
            0.0, OBS_HIGH, (self.spec_obs.size,), np.float32
        )
        self._engine: Engine | None = None
        self._done = True

    # ----- episode set-up ---------------------------------------------------
    def _window(self, start: int) -> tuple[Workload, npt.NDArray[np.float64] | None]:
        idx = np.arange(start, start + self.window_jobs)
        wl = self.workload.take(idx)
        wl = wl.shifted(-float(wl.submit_s[0]))
        est = None if self.estimates is None else self.estimates[idx]
        return wl, est

    def reset(
        self, *, seed: int | None = None, options: dict[str, Any] | None = None
    ) -> tuple[npt.NDArray[np.float32], dict[str, Any]]:
        super().reset(seed=seed)
        if options and "start_row" in options:
            start = int(options["start_row"])
            if not 0 <= start <= len(self.workload) - self.window_jobs:
                raise UserError(f"start_row must lie in [0, {len(self.workload) - self.window_jobs}], got {start}")
        else:
            start = int(self.np_random.choice(self.start_rows))
        wl, est = self._window(start)
        self.start_row = start
        self._wl = wl
        self._n = len(wl)
        self._submit = wl.submit_s.astype(np.float64)
        self._duration = wl.duration_s.astype(np.float64)
        self._gpus = wl.num_gpus.astype(np.int64)
        self._ended: list[tuple[int, float]] = []
        self._policy = _Paused(self.spec_obs)
        # The episode's engine seed (placement and policy streams), drawn from the env's generator:
        # `Streams.from_seed(env.episode_seed)` replays the episode outside the environment.
        self.episode_seed = int(self.np_random.integers(2**31))
        streams = Streams.from_seed(self.episode_seed)
        options_ = EngineOptions(
            speed=self.speed_table,
            estimate_s=est,
            policy_rng=streams.policy,
            on_end=self._on_end,
        )
        placement = make_placement(self.placement, streams.placement)
        self._engine = Engine(wl, self.cluster, self._policy, placement, options_)
        self._engine.begin()
        self._t = 0.0
        self._open: dict[int, float] = {}  # running rows -> start counted from (for the utilisation reward)
        self._num_steps = 0
        self._done = False
        self._pending_reward = 0.0
        paused = self._engine.advance()
        # Rewards earned before the first decision are paid with the first step's reward.
        self._pending_reward = self._collect(self._engine.now_s if paused else self._last_end())
        if not paused:
            self._finish()
            obs = np.zeros(self.spec_obs.size, dtype=np.float32)
            mask = np.zeros(self.spec_obs.num_actions, dtype=np.bool_)
            mask[-1] = True
            return obs, {"action_mask": mask, "now_s": self._t, "start_row": start}
        return self._obs(), self._info()

    # ----- stepping ---------------------------------------------------------
    def step(
        self, action: Any
    ) -> tuple[npt.NDArray[np.float32], float, bool, bool, dict[str, Any]]:
        if self._engine is None:
            raise RuntimeError("call reset() before step()")
        if self._done:
            if self._final is None:
                raise RuntimeError("the episode is over; call reset()")
            # The episode needed no decision at all: the first step ends it.
            reward, self._pending_reward = self._pending_reward, 0.0
            info = {"action_mask": self._final_mask(), "now_s": self._t, "episode": self._final}
            self._final_paid()
            return np.zeros(self.spec_obs.size, dtype=np.float32), reward, True, False, info
        self._num_steps += 1
        self._policy.action = int(action)
        paused = self._engine.resume()
        reward = self._pending_reward + self._collect(self._engine.now_s if paused else self._last_end())
        self._pending_reward = 0.0
        if paused:
            return self._obs(), reward, False, False, self._info()
        self._finish()
        info = {"action_mask": self._final_mask(), "now_s": self._t, "episode": self._final}
        self._final_paid()
        return np.zeros(self.spec_obs.size, dtype=np.float32), reward, True, False, info

    def _on_end(self, row: int, now_s: float) -> None:
        self._ended.append((row, now_s))

    def _last_end(self) -> float:
        return max((t for _, t in self._ended), default=self._t)

    def _collect(self, t_s: float) -> float:
        """The reward for (self._t, t_s]: the jobs that ended in it and, for utilisation, idle GPU time."""
        n = self._n
        reward = 0.0
        kind = self.reward_kind
        scale = self.spec_obs.time_scale_s
        policy = self._policy
        for row, start_s in policy.started:
            self._open[row] = start_s
        policy.started.clear()
        busy_gpu_s = 0.0
        for row, end_s in self._ended:
            jct = end_s - self._submit[row]
            if kind == "slowdown":
                reward -= jct / max(self._duration[row], 1e-9) / n
            elif kind == "jct":
                reward -= jct / scale / n
            start = self._open.pop(row, end_s)
            busy_gpu_s += self._gpus[row] * (end_s - max(start, self._t))
        self._ended.clear()
        if kind == "utilisation":
            for row, start in self._open.items():
                busy_gpu_s += self._gpus[row] * max(t_s - max(start, self._t), 0.0)
            idle = self.cluster.num_gpus * max(t_s - self._t, 0.0) - busy_gpu_s
            reward -= idle / (self.cluster.num_gpus * scale)
        self._t = max(self._t, t_s)
        return float(reward)

    def _finish(self) -> None:
        assert self._engine is not None
        out: EngineOutput = self._engine.finish()
        self._done = True
        jct = out.end_s - self._submit
        slowdown = jct / np.maximum(self._duration, 1e-9)
        self.last_output = out
        self._final: dict[str, float] | None = {
            "mean_jct_s": float(jct.mean()),
            "mean_slowdown": float(slowdown.mean()),
            "p95_wait_s": float(np.percentile(out.wait_s, 95)),
            "makespan_s": float(out.end_s.max() - self._submit.min()),
            "num_jobs": float(self._n),
            "num_decisions": float(self._policy.num_decisions),
        }

    def _final_mask(self) -> npt.NDArray[np.bool_]:
        mask = np.zeros(self.spec_obs.num_actions, dtype=np.bool_)
        mask[-1] = True
        return mask

    def _final_paid(self) -> None:
        self._final = None

    def _obs(self) -> npt.NDArray[np.float32]:
        assert self._policy.obs is not None
        return self._policy.obs

    def _info(self) -> dict[str, Any]:
        assert self._policy.mask is not None
        return {"action_mask": self._policy.mask.copy(), "now_s": self._t, "start_row": self.start_row}

    def action_masks(self) -> npt.NDArray[np.bool_]:
        """The current action mask (the convention of sb3-contrib's MaskablePPO)."""
        if self._done or self._policy.mask is None:
            return self._final_mask()
        return self._policy.mask.copy()
