"""Engine speed: jobs/s for fcfs and sjf on an M/M/8-style workload.

200k single-GPU jobs, Poisson arrivals, exponential durations (mean 1 h), offered load
0.9 on one 8-GPU node, placement `pack`. Prints, best of `--repeat` runs (wall clock):
the engine alone (`Engine(...).run()`, set-up included) and the whole `simulate` call
(engine, schedule and result tables). Run: `python bench/engine_speed.py [--jobs N]`.
"""

from __future__ import annotations

import argparse
import platform
import time

import numpy as np

from simulator.cluster import Cluster
from simulator.engine import Engine
from simulator.placement import make_placement
from simulator.policies import make_policy
from simulator.rng import Streams
from simulator.run import SimConfig, simulate
from traces.model import Workload


def mmc_workload(num_jobs: int, num_gpus: int, load: float, mean_s: float, seed: int) -> Workload:
    """Poisson arrivals at rate load * num_gpus / mean_s, exponential durations, one GPU each."""
    rngs = Streams.from_seed(seed)
    rate_per_s = load * num_gpus / mean_s
    submit = np.cumsum(rngs.arrivals.exponential(1 / rate_per_s, num_jobs))
    duration = rngs.durations.exponential(mean_s, num_jobs)
    return Workload.from_columns(
        job_id=[f"j{i:07d}" for i in range(num_jobs)],
        submit_s=submit,
        duration_s=duration,
        num_gpus=np.ones(num_jobs, dtype=np.int32),
    )


def best_of(repeat: int, fn: object) -> float:
    best = float("inf")
    for _ in range(repeat):
        t0 = time.perf_counter()
        fn()  # type: ignore[operator]
        best = min(best, time.perf_counter() - t0)
    return best


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--jobs", type=int, default=200_000)
    ap.add_argument("--gpus", type=int, default=8)
    ap.add_argument("--load", type=float, default=0.9)
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--repeat", type=int, default=3)
    args = ap.parse_args()
    workload = mmc_workload(args.jobs, args.gpus, args.load, 3600.0, args.seed)
    cluster = Cluster.uniform(1, args.gpus)
    simulate(workload.take(np.arange(min(100, args.jobs))), cluster, SimConfig())  # warm-up (imports)
    print(
        f"{args.jobs} single-GPU jobs, M/M/{args.gpus}, load {args.load}; "
        f"Python {platform.python_version()} on {platform.machine()}, best of {args.repeat}"
    )
    for policy in ("fcfs", "sjf"):
        engine_s = best_of(
            args.repeat, lambda p=policy: Engine(workload, cluster, make_policy(p), make_placement("pack")).run()
        )
        config = SimConfig(policy=policy, placement="pack", seed=args.seed)
        sim_s = best_of(args.repeat, lambda c=config: simulate(workload, cluster, c))
        print(
            f"{policy:5s} engine {args.jobs / engine_s:10,.0f} jobs/s ({engine_s:.2f} s)   "
            f"simulate {args.jobs / sim_s:10,.0f} jobs/s ({sim_s:.2f} s)"
        )


if __name__ == "__main__":
    main()
