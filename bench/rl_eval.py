"""The learned scheduler against classic policies on held-out trace windows, over several seeds.

Usage: python bench/rl_eval.py [TRACE] [--nodes N] [--gpus-per-node G] [--episodes E] [--seeds 0,1,2]
       [--window-jobs W] [--reward slowdown] [--quick]

Default: the shipped sample `traces/data/itp-cluster05.csv` (Microsoft ITP cluster05, 3,629 jobs of
1-8 GPUs) on 2 nodes x 8 V100, the CLI's default for it (~63 % offered load). The trace is split
chronologically: the agent trains (`executor.rl.train`, REINFORCE, `--episodes` episodes) on windows
of `--window-jobs` consecutive jobs inside the first 70 % of the jobs; it is evaluated on
non-overlapping windows of the last 30 % (every window that fits, from a seeded offset, so each
seed sees a slightly different set). Per seed the agent is trained afresh with that seed.

Policies on the same windows and engine: rl (the agent, greedy, seeing actual durations like the
oracle sjf), fcfs, sjf (actual durations: an oracle), las (preemptive, no duration knowledge), and,
when `simulator.predict` and LightGBM are available, the realistic trio on *predicted* durations
(the `gbm` duration model of `simulator.predict` trained on the same first 70 %): rl-pred (a second
agent trained and run on predicted durations), sjf-pred and qssf-pred. Metrics pool all jobs of a
seed's windows: mean JCT, p95 wait, mean slowdown; the table gives mean ± standard deviation over
the seeds (markdown), then per baseline the agents' ratios to it and the share of windows where the
agent's mean slowdown is lower / equal / higher (equal: windows with no real choice, e.g. an idle
cluster). A second table replays the whole held-out tail at once (`--no-tail` skips it): there the
queue builds up to hundreds of jobs, which the short training windows never show.
"""

from __future__ import annotations

import argparse
import math
import platform
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

REPO = Path(__file__).resolve().parent.parent
SAMPLE = REPO / "traces" / "data" / "itp-cluster05.csv"
METRICS = (("mean_jct_s", "mean JCT (s)"), ("p95_wait_s", "p95 wait (s)"), ("mean_slowdown", "mean slowdown"))


def held_out_windows(held: range, window_jobs: int, rng: np.random.Generator) -> list[int]:
    """Every non-overlapping window of the held-out rows, from a random offset below one window."""
    if len(held) == 0:
        return []
    offset = int(rng.integers(0, min(window_jobs, len(held))))
    return list(range(held[0] + offset, held[-1] + 1, window_jobs))


def predicted_durations(workload: Any, train_fraction: float, seed: int) -> tuple[Any, str]:
    """Per-job predicted durations from a gbm duration model trained on the first part, or (None, why not)."""
    try:
        from simulator.predict import train as train_predictor

        result = train_predictor(workload, kind="gbm", test_fraction=1 - train_fraction, seed=seed)
    except Exception as exc:  # a missing optional library or an unfinished module: run without sjf-pred
        return None, f"{type(exc).__name__}: {exc}"
    return result.model.predict(workload), ""


def fmt(values: list[float]) -> str:
    """Mean ± standard deviation of the finite values ("n/a" when there is none)."""
    finite = [v for v in values if math.isfinite(v)]
    if not finite:
        return "n/a"
    mean = float(np.mean(finite))
    spread = float(np.std(finite))
    digits = ".3g" if abs(mean) < 100 else ".0f"
    return f"{mean:{digits}} ± {spread:{digits}}"


def report(per_seed: dict[str, list[Any]]) -> None:
    """The policy table (mean ± sd over seeds), the agents' ratios to each baseline, and where they lose."""
    print()
    print("| policy | " + " | ".join(name for _, name in METRICS) + " |")
    print("|---|" + "---:|" * len(METRICS))
    for label, scores_ in per_seed.items():
        print(f"| {label} | " + " | ".join(fmt([s.metric(m) for s in scores_]) for m, _ in METRICS) + " |")
    for agent in ("rl", "rl-pred"):
        if agent not in per_seed:
            continue
        ours = per_seed[agent]
        print()
        print(f"| {agent} vs | " + " | ".join(f"{name} ratio" for _, name in METRICS)
              + f" | windows {agent} better / equal / worse |")
        print("|---|" + "---:|" * (len(METRICS) + 1))
        for label, scores_ in per_seed.items():
            if label in ("rl", "rl-pred"):
                continue
            ratios = [fmt([a.metric(m) / b.metric(m) if b.metric(m) > 0 else math.nan
                           for a, b in zip(ours, scores_, strict=True)]) for m, _ in METRICS]
            a_w = np.concatenate([s.window_slowdown for s in ours])
            b_w = np.concatenate([s.window_slowdown for s in scores_])
            close = np.isclose(a_w, b_w, rtol=1e-9)
            better, worse = int(((a_w < b_w) & ~close).sum()), int(((a_w > b_w) & ~close).sum())
            print(f"| {label} | " + " | ".join(ratios) + f" | {better} / {int(close.sum())} / {worse} |")
        mean = {label: {m: float(np.mean([s.metric(m) for s in v])) for m, _ in METRICS}
                for label, v in per_seed.items()}
        losses = [f"{label} on {m}" for label in per_seed if label not in ("rl", "rl-pred") for m, _ in METRICS
                  if mean[label][m] < mean[agent][m]
                  and not math.isclose(mean[label][m], mean[agent][m], rel_tol=1e-9)]
        print()
        print(f"{agent} loses to: " + (", ".join(losses) if losses else "none"))


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("trace", nargs="?", type=Path, default=SAMPLE)
    ap.add_argument("--nodes", type=int, default=2)
    ap.add_argument("--gpus-per-node", type=int, default=8)
    ap.add_argument("--episodes", type=int, default=400)
    ap.add_argument("--seeds", default="0,1,2,3,4")
    ap.add_argument("--window-jobs", type=int, default=64)
    ap.add_argument("--queue-slots", type=int, default=16)
    ap.add_argument("--reward", default="slowdown")
    ap.add_argument("--train-fraction", type=float, default=0.7)
    ap.add_argument("--learning-rate", type=float, default=None, help="default: TrainConfig's")
    ap.add_argument("--rollouts-per-window", type=int, default=None, help="default: TrainConfig's")
    ap.add_argument("--no-tail", action="store_true", help="skip the whole-tail replay")
    ap.add_argument("--quick", action="store_true", help="8 episodes, 2 seeds, windows of 32 (a smoke test)")
    args = ap.parse_args()
    if args.quick:
        args.episodes, args.seeds, args.window_jobs = 8, "0,1", 32

    from executor.rl.evaluate import PolicyScore, evaluate, split_rows
    from executor.rl.network import load_training_keras
    from executor.rl.train import TrainConfig, trace_env, train
    from simulator.policies import Policy, make_policy
    from simulator.rl.policy import RlPolicy
    from traces.cluster import Cluster
    from traces.readers.registry import read_trace

    load_training_keras()  # imported before the clock starts: training times exclude TensorFlow's import
    seeds = [int(s) for s in args.seeds.split(",")]
    data = read_trace([args.trace])
    wl = data.workload
    cluster = Cluster.uniform(args.nodes, args.gpus_per_node)
    train_rows, held_rows = split_rows(len(wl), args.window_jobs, args.train_fraction)
    env = trace_env(wl, cluster, train_rows, window_jobs=args.window_jobs, queue_slots=args.queue_slots,
                    reward=args.reward)
    predicted, why_not = predicted_durations(wl, args.train_fraction, 0)
    print(f"trace {args.trace.name}: {len(wl)} jobs on {cluster.describe()} (offered load "
          f"{wl.offered_load(cluster.num_gpus):.2f}); train windows in rows [0, {train_rows[-1] + args.window_jobs}),"
          f" held-out rows [{held_rows[0]}, {len(wl)}); windows of {args.window_jobs} jobs, {args.queue_slots} "
          f"slots, reward {args.reward}, {args.episodes} episodes per seed, seeds {seeds}")
    print(f"python {platform.python_version()} on {platform.machine()}, {platform.system()}")
    if predicted is None:
        print(f"sjf-pred skipped: no duration model ({why_not})")

    def config(seed: int) -> TrainConfig:
        extra = {k: v for k, v in (("learning_rate", args.learning_rate),
                                   ("rollouts_per_window", args.rollouts_per_window)) if v is not None}
        return TrainConfig(episodes=args.episodes, seed=seed, **extra)

    c = config(0)
    print(f"REINFORCE: {c.rollouts_per_window} rollouts per window, learning rate {c.learning_rate:g}, "
          f"{c.hidden} hidden units, entropy bonus {c.entropy_start:g} -> {c.entropy_end:g}")
    per_seed: dict[str, list[PolicyScore]] = {}
    tail_seed: dict[str, list[PolicyScore]] = {}
    train_s: list[float] = []
    per_episode_ms: list[float] = []
    tail_start = held_rows[0]
    tail_jobs = len(wl) - tail_start
    env_pred = None if predicted is None else trace_env(
        wl, cluster, train_rows, window_jobs=args.window_jobs, queue_slots=args.queue_slots, reward=args.reward,
        estimates=predicted)
    for seed in seeds:
        t0 = time.perf_counter()
        result = train(env, config(seed))
        train_s.append(time.perf_counter() - t0)
        per_episode_ms.append(1000 * train_s[-1] / args.episodes)
        rows = held_out_windows(held_rows, args.window_jobs, np.random.default_rng(seed))
        net = result.net
        policies: dict[str, Callable[[], Policy]] = {
            "rl": lambda net=net: RlPolicy.from_net(net),  # type: ignore[misc]
            "fcfs": lambda: make_policy("fcfs"),
            "sjf": lambda: make_policy("sjf"),
            "las": lambda: make_policy("las"),
        }
        scores = evaluate(wl, cluster, rows, args.window_jobs, policies, seed=seed)
        tail = {} if args.no_tail else evaluate(wl, cluster, [tail_start], tail_jobs, policies, seed=seed)
        if predicted is not None and env_pred is not None:
            net_p = train(env_pred, config(seed)).net
            pred_policies: dict[str, Callable[[], Policy]] = {
                "rl-pred": lambda net=net_p: RlPolicy.from_net(net),  # type: ignore[misc]
                "sjf-pred": lambda: make_policy("sjf"),
                "qssf-pred": lambda: make_policy("qssf"),
            }
            scores.update(evaluate(wl, cluster, rows, args.window_jobs, pred_policies, estimates=predicted, seed=seed))
            if not args.no_tail:
                tail.update(evaluate(wl, cluster, [tail_start], tail_jobs, pred_policies, estimates=predicted,
                                     seed=seed))
        for label, score in scores.items():
            per_seed.setdefault(label, []).append(score)
        for label, score in tail.items():
            tail_seed.setdefault(label, []).append(score)
        print(f"seed {seed}: trained in {train_s[-1]:.1f} s ({per_episode_ms[-1]:.0f} ms/episode), "
              f"{len(rows)} held-out windows ({scores['rl'].num_jobs} jobs): "
              + ", ".join(f"{k} {v.mean_slowdown:.3g}" for k, v in scores.items()) + " (mean slowdown)"
              + ("" if not tail else "; whole held-out tail: "
                 + ", ".join(f"{k} {v.mean_slowdown:.3g}" for k, v in tail.items())))

    print()
    print(f"training: {fmt(train_s)} s per seed, {fmt(per_episode_ms)} ms per episode")
    print()
    print(f"## Held-out windows of {args.window_jobs} jobs (each from an empty cluster)")
    report(per_seed)
    if tail_seed:
        print()
        print(f"## The whole held-out tail replayed at once (rows {tail_start}-{len(wl) - 1}, {tail_jobs} jobs; "
              "queues build up; the agent trained on short windows)")
        report(tail_seed)
    return 0


if __name__ == "__main__":
    sys.exit(main())
