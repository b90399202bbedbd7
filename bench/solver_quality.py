"""Solver quality and speed: the numbers of the solvers issue's "Speed and quality" section.

Usage: python bench/solver_quality.py [SHARED_TRACES_DIR] [--quick] [--time-limit-s S]

Instances: jobs of at most 8 GPUs (one node) resampled jointly (duration, GPUs) from the real
philly-pollux trace (the bundled slice when the shared trace is absent), Poisson arrivals at
offered load 3 on 8 nodes x 8 V100 (64 GPUs), seed 0; objective: weighted completion (sum of
weight x JCT; all weights 1 here, so it is the total JCT).

(1) the curve: 20, 50, 100, 200 jobs; (2) the headline: 500 jobs with a 60 s limit. For each:
every heuristic's objective (greedy, lp, sa, ga), CP-SAT's objective, the trivial lower bound
and the best bound known, CP-SAT's gap to it, and wall times. Aim: CP-SAT never worse than the
best heuristic; gap to the best bound <= 5 %. (3) The rolling-horizon policy `cpsat-rolling`
on a 2,000-job slice, end to end in the simulator (target <= 5 minutes), against fcfs.

Every schedule is checked with `simulator.validate.check`; a violation is a failure (exit 1).
A missed quality aim is reported, not an error.
"""

from __future__ import annotations

import argparse
import os
import platform
import sys
import time
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parent.parent
BUNDLED = REPO / "traces" / "data" / "philly-pollux-slice.csv"
# Offered load 3 over the arrival window: jobs arrive three times faster than 64 GPUs can
# serve them, so queues form and the order matters (at load 0.9 almost no job waits and every
# solver is trivially optimal).
NODES, GPUS_PER_NODE, LOAD, SEED = 8, 8, 3.0, 0
CURVE = (20, 50, 100, 200)
HEADLINE = 500
ROLLING_JOBS = 2000
HEURISTICS = ("greedy", "lp", "sa", "ga")


def instance(source: Any, num_jobs: int, seed: int = SEED, load: float | None = None) -> Any:
    """`num_jobs` (duration, GPUs) pairs resampled from `source` with Poisson arrivals, time-scaled
    so that the sample's own GPU-seconds offer `LOAD` over the arrival window. (Scaling by the
    sample, not the source's mean, matters: Philly's heavy tail makes a small sample's load far
    below the source's, and then no job waits.)"""
    import numpy as np

    from traces.model import CATEGORY_COLUMNS, NUMERIC_COLUMNS, Workload
    from traces.synth import RESAMPLE, DurationDist, SynthSpec, generate

    target = LOAD if load is None else load
    synth = SynthSpec(num_jobs=num_jobs, load=target, cluster_gpus=NODES * GPUS_PER_NODE,
                      duration=DurationDist.resample, gpu_counts=RESAMPLE)
    wl = generate(synth, np.random.default_rng(seed), resample_from=source)
    have = wl.offered_load(NODES * GPUS_PER_NODE)
    if not have > 0:
        return wl
    t0 = float(wl.submit_s[0])
    scale = have / target
    cols = {k: getattr(wl, k) for k in NUMERIC_COLUMNS}
    cols["submit_s"] = t0 + (wl.submit_s - t0) * scale
    return Workload(job_id=wl.job_id, **cols, **{k: getattr(wl, k) for k in CATEGORY_COLUMNS})


def source_workload(shared: Path) -> tuple[Any, str]:
    import numpy as np

    from traces.readers.registry import read_trace

    path = shared / "philly-pollux" / "philly.csv"
    if not path.is_file():
        path = BUNDLED
    src = read_trace([path]).workload
    small = src.take(np.flatnonzero(src.num_gpus <= GPUS_PER_NODE))
    return small, f"{len(small):,} jobs of <= {GPUS_PER_NODE} GPUs from {path} ({len(src):,} rows)"


def run_solver(key: str, workload: Any, cluster: Any, time_limit_s: float) -> dict[str, Any]:
    from simulator.validate import check, summarize
    from solvers import make_solver
    from solvers.base import SolveOptions

    options = SolveOptions(time_limit_s=time_limit_s, workers=2, seed=SEED)
    t0 = time.perf_counter()
    result = make_solver(key).solve(workload, cluster, options)
    wall = time.perf_counter() - t0
    violations = check(result.schedule, workload, cluster)
    if violations:
        raise AssertionError(f"{key}: invalid schedule\n{summarize(violations)}")
    return {"objective": result.objective, "bound": result.bound, "status": result.status.value,
            "method": result.method, "wall_s": wall}


def quality_row(n: int, workload: Any, cluster: Any, time_limit_s: float) -> list[str]:
    from solvers.base import SolveOptions
    from solvers.bounds import best_bound, trivial_bound

    options = SolveOptions()
    trivial = trivial_bound(workload, cluster, options)
    t0 = time.perf_counter()
    best = best_bound(workload, cluster, options)
    bound_s = time.perf_counter() - t0
    heur = {k: run_solver(k, workload, cluster, min(time_limit_s, 20.0)) for k in HEURISTICS}
    cp = run_solver("cpsat", workload, cluster, time_limit_s)
    best_heur_key = min(heur, key=lambda k: heur[k]["objective"])
    best_heur = heur[best_heur_key]["objective"]
    bound = max(b for b in (best, cp["bound"], trivial) if b is not None)
    gap = (cp["objective"] - bound) / cp["objective"] if cp["objective"] > 0 else 0.0
    never_worse = cp["objective"] <= best_heur * (1 + 1e-9)
    cells = [
        f"{n}",
        *(f"{heur[k]['objective']:.4g} ({heur[k]['wall_s']:.1f}s)" for k in HEURISTICS),
        f"{cp['objective']:.4g} ({cp['wall_s']:.1f}s, {cp['status']})",
        f"{trivial:.4g}",
        f"{bound:.4g} ({bound_s:.1f}s)",
        f"{100 * gap:.2f} %",
        f"{'yes' if never_worse else 'NO'}; {'met' if gap <= 0.05 else 'not met'}",
        cp["method"],
    ]
    return cells


def rolling_row(source: Any, cluster: Any, num_jobs: int) -> list[str]:
    import solvers.rolling  # noqa: F401  (registers the cpsat-rolling policy)
    from simulator.run import SimConfig, simulate
    from simulator.validate import check, summarize

    workload = instance(source, num_jobs, seed=SEED + 1)
    out = []
    for policy in ("fcfs", "cpsat-rolling"):
        t0 = time.perf_counter()
        result = simulate(workload, cluster, SimConfig(policy))
        wall = time.perf_counter() - t0
        violations = check(result.schedule, workload, cluster)
        if violations:
            raise AssertionError(f"{policy}: invalid schedule\n{summarize(violations)}")
        summary = dict(zip(result.summary.column("metric").to_pylist(), result.summary.column("value").to_pylist(),
                           strict=True))
        out.append(f"{policy}: mean JCT {summary['mean_jct_s'] / 3600:.2f} h, wall {wall:.1f} s")
    return [f"{num_jobs}", *out]


def print_table(header: list[str], rows: list[list[str]]) -> None:
    widths = [max(len(h), *(len(r[i]) for r in rows)) if rows else len(h) for i, h in enumerate(header)]
    print("  ".join(h.ljust(w) for h, w in zip(header, widths, strict=True)))
    for r in rows:
        print("  ".join(c.ljust(w) for c, w in zip(r, widths, strict=True)), flush=True)


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("shared", nargs="?",
                        help="shared traces dir (default $GPUSCHED_SHARED_TRACES or ../shared/traces)")
    parser.add_argument("--quick", action="store_true", help="small sizes and 2 s limits (a smoke run)")
    parser.add_argument("--time-limit-s", type=float, default=60.0, help="CP-SAT limit for the headline (default 60)")
    parser.add_argument("--load", type=float, default=LOAD, help=f"offered load of the instances (default {LOAD:g})")
    parser.add_argument("--sizes", help="comma-separated job counts instead of the curve and the headline")
    parser.add_argument("--no-rolling", action="store_true", help="skip the rolling-horizon case")
    args = parser.parse_args(argv)
    shared = Path(args.shared or os.environ.get("GPUSCHED_SHARED_TRACES") or REPO.parent / "shared" / "traces")
    from simulator.cluster import Cluster

    cluster = Cluster.uniform(NODES, GPUS_PER_NODE)
    source, desc = source_workload(shared)
    print(f"{time.strftime('%Y-%m-%d %H:%M:%S %z')}; python {platform.python_version()}, {os.cpu_count()} CPUs; "
          f"instances resampled from {desc}; {NODES} x {GPUS_PER_NODE} GPUs, load {args.load:g}")
    sizes: tuple[int, ...] = (20, 50) if args.quick else CURVE
    headline = 100 if args.quick else HEADLINE
    if args.sizes:
        *rest, headline = (int(x) for x in args.sizes.split(","))
        sizes = tuple(rest)
    curve_limit = 2.0 if args.quick else 20.0
    head_limit = 2.0 if args.quick else args.time_limit_s
    header = ["jobs", *HEURISTICS, "cpsat", "trivial bound", "best bound", "cpsat gap", "never worse; gap<=5%",
              "cpsat method"]
    rows = []
    ok = True
    for n in (*sizes, headline):
        limit = head_limit if n == headline else curve_limit
        try:
            rows.append(quality_row(n, instance(source, n, load=args.load), cluster, limit))
        except Exception as exc:  # a crash or an invalid schedule: report, go on, exit 1
            ok = False
            rows.append([f"{n}", f"FAILED: {type(exc).__name__}: {' '.join(str(exc).split())[:200]}",
                         *([""] * (len(header) - 2))])
    print("objective: weighted completion (sum of JCT, s); heuristics' limit "
          f"{min(curve_limit, 20.0):g} s; cpsat limit {curve_limit:g} s ({head_limit:g} s for {headline} jobs)")
    print_table(header, rows)
    if args.no_rolling:
        return 0 if ok else 1
    try:
        roll = rolling_row(source, cluster, 150 if args.quick else ROLLING_JOBS)
        print_table(["rolling jobs", "fcfs", "cpsat-rolling (target <= 300 s)"], [roll])
    except Exception as exc:
        ok = False
        print(f"rolling horizon FAILED: {type(exc).__name__}: {exc}")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
