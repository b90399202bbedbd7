"""Is the prediction right? Predicted vs measured JCT for FCFS, SJF, LAS and a CP-SAT schedule.

Takes a 20-50 job slice of a real trace (jobs of 1-2 GPUs, so it fits a 1 x 2 device
cluster), calibrates with `gpusched profile`, predicts with `simulate`/`solve`, replays
with `gpusched execute` at a time scale that compresses the predicted makespan to a few
minutes, and prints `gpusched compare`'s summary per policy. Everything goes through the
real CLI, as a user would run it. On a CPU-only machine the two "GPUs" are logical CPU
devices (one TensorFlow thread each).

    python bench/executor_fidelity.py                      # 30 jobs, ~2.5 min replays, 4 policies x 2
    python bench/executor_fidelity.py --jobs 20 --makespan-s 90 --policies fcfs,sjf
"""

from __future__ import annotations

import argparse
import csv
import json
import math
import subprocess
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from traces.readers.registry import read_trace  # noqa: E402

GPUSCHED = [sys.executable, "-m", "executor.cli.main"]


def sh(*args: object) -> str:
    cmd = [*GPUSCHED, *(str(a) for a in args)]
    proc = subprocess.run(cmd, capture_output=True, text=True)
    if proc.returncode != 0:
        raise SystemExit(f"failed: {' '.join(cmd)}\n{proc.stderr[-3000:]}")
    return proc.stderr


def write_slice(trace: Path, start: int, jobs: int, max_gpus: int, path: Path) -> None:
    wl = read_trace([trace]).workload
    keep = [i for i in range(len(wl)) if wl.num_gpus[i] <= max_gpus][start:start + jobs]
    with open(path, "w", newline="") as f:
        w = csv.writer(f)
        w.writerow(["job_id", "submit_s", "duration_s", "num_gpus"])
        for i in keep:
            w.writerow([wl.job_id[i], repr(float(wl.submit_s[i])), repr(float(wl.duration_s[i])), int(wl.num_gpus[i])])


def predicted_span_s(folder: Path, trace: Path) -> float:
    ends = []
    with open(folder / "schedule.csv") as f:
        for row in csv.DictReader(f):
            if row.get("end_s"):
                ends.append(float(row["end_s"]))
    submits = [float(r["submit_s"]) for r in csv.DictReader(open(trace))]
    return max(ends) - min(submits)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--trace", type=Path, default=REPO / "traces" / "data" / "philly-pollux-slice.csv")
    ap.add_argument("--start", type=int, default=600, help="first job of the slice (among jobs of <= 2 GPUs)")
    ap.add_argument("--jobs", type=int, default=30)
    ap.add_argument("--makespan-s", type=float, default=150.0, help="wall seconds the FCFS makespan is scaled to")
    ap.add_argument("--policies", default="fcfs,sjf,las,cpsat")
    ap.add_argument("--las-quantum-gpu-s", type=float, default=None, help="LAS quantum (default: the policy's)")
    ap.add_argument("--cpsat-time-limit-s", type=float, default=30.0)
    ap.add_argument("--profile-steps", type=int, default=50)
    ap.add_argument("--profile-repeats", type=int, default=5)
    ap.add_argument("--profile-concurrent", type=int, default=2,
                    help="profile in N pinned processes at once, as the 2-device replay runs (1: alone)")
    ap.add_argument("--rounds", default="profile,calibrated,restart",
                    help="profile: replay every policy with the profiled rates; calibrated: with the rates "
                         "measured in the first policy's profile replay (execute --calibrate); restart: preemptive "
                         "policies predicted again with the restart cost their profile replay measured")
    ap.add_argument("--out", type=Path, default=Path("bench-fidelity"))
    args = ap.parse_args()
    out = args.out.resolve()
    out.mkdir(parents=True, exist_ok=True)
    trace = out / "slice.csv"
    write_slice(args.trace, args.start, args.jobs, 2, trace)
    cluster = ["--nodes", "1", "--gpus-per-node", "2", "--gpu-type", "CPU"]
    prof = out / "profile.csv"
    t = time.perf_counter()
    if not prof.exists():
        sh("profile", "--gang-sizes", "1,2", "--threads", "1", "--gpu-type", "CPU", "--steps", args.profile_steps,
           "--repeats", args.profile_repeats, "--concurrent", args.profile_concurrent, "--no-progress", "--out", prof)
    print(f"profile: {time.perf_counter() - t:.1f} s -> {prof}")
    scale = None
    preds = {}
    for policy in args.policies.split(","):
        pred = out / f"pred-{policy}"
        if policy == "cpsat":
            sh("solve", trace, *cluster, "--solver", "cpsat", "--time-limit-s", args.cpsat_time_limit_s, "--out", pred)
        else:
            extra = []
            if policy == "las" and args.las_quantum_gpu_s:
                extra = ["--policy-param", f"quantum_gpu_s={args.las_quantum_gpu_s}"]
            sh("simulate", trace, *cluster, "--policy", policy, *extra, "--out", pred)
        if scale is None:
            scale = args.makespan_s / predicted_span_s(pred, trace)
        preds[policy] = pred

    def replay(policy: str, profile_table: Path, tag: str, calibrate: Path | None = None) -> tuple:
        meas = out / f"meas-{tag}-{policy}"
        t = time.perf_counter()
        extra = ["--calibrate", calibrate] if calibrate else []
        log = sh("execute", preds[policy], "--trace", trace, "--profile", profile_table, "--time-scale", repr(scale),
                 "--out", meas, "--no-progress", *extra)
        wall = time.perf_counter() - t
        sh("compare", preds[policy], meas, "--out", out / f"cmp-{tag}-{policy}")
        summary = json.loads((out / f"cmp-{tag}-{policy}" / "compare.json").read_text())["comparisons"][0]["summary"]
        ex = json.loads((meas / "execute.json").read_text())
        print(f"{tag} {policy}: executed in {wall:.1f} s; {log.strip().splitlines()[-1]}", flush=True)
        return policy, summary, ex, sum(1 for _ in open(meas / "segments.csv")) - 1

    policies = args.policies.split(",")
    first = policies[0]
    calib = out / "calibrated.csv"
    wanted = args.rounds.split(",")
    rounds = {"profile": [replay(first, prof, "profile", calibrate=calib)]}
    if "profile" in wanted:
        rounds["profile"] += [replay(p, prof, "profile") for p in policies[1:]]
    if "calibrated" in wanted:
        rounds["calibrated"] = [replay(p, calib, "calibrated") for p in policies]
    if "restart" in wanted:
        # Preemptive policies: predict again with the restart cost the profile replay measured.
        rounds["restart"] = []
        for policy, _, ex, _segs in rounds["profile"]:
            overhead = ex.get("restart_overhead_trace_s")
            if policy == "cpsat" or not overhead:
                continue
            pred = out / f"pred-{policy}-restart"
            extra = ["--policy-param", f"quantum_gpu_s={args.las_quantum_gpu_s}"] if (
                policy == "las" and args.las_quantum_gpu_s) else []
            sh("simulate", trace, *cluster, "--policy", policy, *extra, "--restart-overhead-s", repr(overhead),
               "--out", pred)
            preds[f"{policy}-restart"] = pred
            print(f"{policy}: re-predicted with --restart-overhead-s {overhead:.4g} (measured)", flush=True)
            rounds["restart"].append(replay(f"{policy}-restart", prof, "profile"))
    print(f"\ntrace {args.trace.name}, jobs {args.start}..{args.start + args.jobs - 1} of <= 2 GPUs, "
          f"1 x 2 devices, time scale {scale:.3g} (first policy's makespan -> {args.makespan_s:g} s); "
          f"'calibrated' = steps/s measured in the '{first}' replay (execute --calibrate)")
    head = ("rates", "policy", "jobs", "segments", "median|err|", "p95|err|", "mean JCT err", "makespan err",
            "launch med (s)", "launch p95 (s)")
    print(" | ".join(head))
    for tag, results in rounds.items():
        for policy, s, ex, segs in results:
            def pct(key: str, s: dict = s) -> str:
                v = s.get(key)
                return "n/a" if v is None or (isinstance(v, float) and math.isnan(v)) else f"{100 * v:+.2f} %"

            print(" | ".join([tag, policy, str(s.get("n_compared")), str(segs), pct("median_abs_jct_err_frac"),
                              pct("p95_abs_jct_err_frac"), pct("mean_jct_err_frac"), pct("makespan_err_frac"),
                              f"{ex['launch_overhead_median_s']:.3f}", f"{ex['launch_overhead_p95_s']:.3f}"]))


if __name__ == "__main__":
    main()
