"""Simulator speed and memory: the four measurements of the simulator issue's "Speed" section.

Usage: python bench/simulator_speed.py [SHARED_TRACES_DIR] [--quick] [--no-validate]

Every case runs in a fresh subprocess, one after another (a run is meant for a 2-core machine),
and reports wall time per step and the child's peak RSS (VmHWM) after that step. Imports and
interpreter start-up are not timed. All runs go through the public API:
`simulate(workload, cluster, SimConfig(policy=..., placement="pack", seed=0))` and
`simulator.validate.check`.

(a) fcfs vs a bare heapq event loop on one M/M/c workload (200k single-GPU jobs, c = 8, load
    0.8, exponential durations), and, for scale, the same FCFS written directly on SimPy with
    two bare timeouts per job and nothing else (the floor of any SimPy engine). The loop is
    written here and asserted to give the engine's mean wait to 1e-9 relative, so both do the
    same work. "engine" is the engine's construction
    plus `run()` inside `simulate` (timed by wrapping `simulator.engine.Engine`); "simulate"
    adds the schedule and result tables. Target: engine <= 4x the loop. Best of 3.
(b) fcfs on a 117k-job Philly-size workload, end to end from the trace file: the real
    philly-pollux durations and GPU counts resampled (jointly) to 117k jobs with Poisson
    arrivals at load 0.8 on 128 nodes x 8 GPUs (Philly has 128-GPU jobs), written to a temp
    native Parquet; the child times `read_trace` + `simulate` (target <= 10 s), then
    `validate.check` separately.
(c) the same under every preemptive policy registered when the bench runs: las and srtf, plus any
    policy whose class says `preemptive = True` (or `is_preemptive`, `preempts`) or whose key names
    it (contains "preempt", "las", "srtf" or "tiresias"); target <= 30 s each. las or srtf missing
    from the registry print "not available".
(d) 1M synthetic jobs (1/2/4/8 GPUs, lognormal durations) on 128 x 8 GPUs under fcfs at load 0.8:
    workload generation, then `simulate` (target <= 90 s and <= 2 GiB peak RSS), then validation.

`--quick` runs every case on a few thousand jobs (a smoke run: targets are not judged). The exit
status is 1 when a case failed (a crash, a timeout, a wrong mean wait), 0 otherwise; a missed
target is reported, not an error.
"""

from __future__ import annotations

import argparse
import gc
import json
import math
import os
import platform
import subprocess
import sys
import tempfile
import time
from collections import deque
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from heapq import heappop, heappush
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parent.parent
BUNDLED_PHILLY = REPO / "traces" / "data" / "philly-pollux-slice.csv"
NODES, GPUS_PER_NODE = 128, 8
MMC_GPUS, LOAD, SEED = 8, 0.8, 0
REL_TOL = 1e-9
REQUIRED_PREEMPTIVE = ("las", "srtf")
PREEMPTIVE_WORDS = ("preempt", "las", "srtf", "tiresias")  # in a policy key: a preemptive policy

TARGET_RATIO = 4.0
TARGET_PHILLY_FCFS_S = 10.0
TARGET_PHILLY_PREEMPTIVE_S = 30.0
TARGET_1M_S = 90.0
TARGET_1M_MIB = 2048.0


@dataclass(frozen=True, slots=True)
class Sizes:
    mmc_jobs: int
    philly_jobs: int
    synth_jobs: int
    repeat: int


FULL = Sizes(mmc_jobs=200_000, philly_jobs=117_000, synth_jobs=1_000_000, repeat=3)
QUICK = Sizes(mmc_jobs=5_000, philly_jobs=2_000, synth_jobs=5_000, repeat=1)


# ----- measuring (child side) -------------------------------------------------------------------
def _status_mib(key: str) -> float:
    """VmRSS (now) or VmHWM (peak) of this process from /proc, in MiB (not ru_maxrss, which
    Linux carries over from the parent across fork+exec)."""
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith(key + ":"):
                return int(line.split()[1]) / 1024
    raise RuntimeError(f"{key} not in /proc/self/status")


def _emit(step: str, **values: Any) -> None:
    """One JSON line per finished step, flushed, so a later crash keeps the earlier steps."""
    print(json.dumps({"step": step, "peak_mib": _status_mib("VmHWM"), **values}), flush=True)


def heapq_fcfs(submit_s: list[float], duration_s: list[float], servers: int) -> list[float]:
    """Start times under FCFS on `servers` identical GPUs, one GPU per job: a plain event loop.

    One heap of (time, kind, job) events: completions (kind 0) sort before arrivals (kind 1) at
    equal times, and each arrival schedules the next one, as a simulator's arrival chain does.
    """
    n = len(submit_s)
    start_s = [0.0] * n
    events: list[tuple[float, int, int]] = [(submit_s[0], 1, 0)] if n else []
    queue: deque[int] = deque()
    free = servers
    push, pop, enqueue, dequeue = heappush, heappop, queue.append, queue.popleft
    while events:
        t, kind, j = pop(events)
        if kind == 0:
            free += 1
        else:
            enqueue(j)
            if j + 1 < n:
                push(events, (submit_s[j + 1], 1, j + 1))
        while free and queue:
            k = dequeue()
            start_s[k] = t
            free -= 1
            push(events, (t + duration_s[k], 0, k))
    return start_s


def simpy_fcfs(submit_s: list[float], duration_s: list[float], servers: int) -> list[float]:
    """`heapq_fcfs` on SimPy with the fewest events SimPy allows: one bare timeout per arrival
    and per completion, each with one callback, and nothing else (no policy, placement or
    records). What any engine on SimPy pays at least: the floor of the (a) ratio."""
    import simpy

    n = len(submit_s)
    start_s = [0.0] * n
    env = simpy.Environment()
    queue: deque[int] = deque()
    free = [servers]
    nxt = [0]

    def start(t: float) -> None:
        while free[0] and queue:
            k = queue.popleft()
            start_s[k] = t
            free[0] -= 1
            env.timeout(duration_s[k]).callbacks.append(complete)

    def complete(_event: Any) -> None:
        free[0] += 1
        start(env.now)

    def arrive(_event: Any) -> None:
        j = nxt[0]
        queue.append(j)
        nxt[0] = j + 1
        if j + 1 < n:
            env.timeout(submit_s[j + 1] - env.now).callbacks.append(arrive)
        start(env.now)

    if n:
        env.timeout(submit_s[0]).callbacks.append(arrive)
    env.run()
    return start_s


@contextmanager
def _engine_timer(times: list[float]) -> Iterator[bool]:
    """Append to `times` the seconds from each `Engine(...)` construction to the end of its `run()`.

    Wraps the class's methods for the duration of the block; yields False (and times nothing)
    when `simulator.engine.Engine` has no `run` to wrap.
    """
    try:
        from simulator.engine import Engine
    except ImportError:
        yield False
        return
    init, run = Engine.__dict__.get("__init__"), Engine.__dict__.get("run")
    if init is None or run is None:
        yield False
        return
    began: list[float] = []

    def timed_init(self: Any, *args: Any, **kwargs: Any) -> None:
        began.append(time.perf_counter())
        init(self, *args, **kwargs)

    def timed_run(self: Any, *args: Any, **kwargs: Any) -> Any:
        out = run(self, *args, **kwargs)
        if began:
            times.append(time.perf_counter() - began.pop())
        return out

    Engine.__init__, Engine.run = timed_init, timed_run  # type: ignore[method-assign]
    try:
        yield True
    finally:
        Engine.__init__, Engine.run = init, run  # type: ignore[method-assign]


def _best_of(repeat: int, fn: Callable[[], Any]) -> tuple[float, Any]:
    best, out = math.inf, None
    for _ in range(repeat):
        t0 = time.perf_counter()
        out = fn()
        best = min(best, time.perf_counter() - t0)
    return best, out


def child_mmc(spec: dict[str, Any]) -> None:
    import numpy as np

    from simulator.cluster import Cluster
    from simulator.run import SimConfig, simulate
    from traces.synth import SynthSpec, generate

    n, c, repeat = spec["jobs"], spec["gpus"], spec["repeat"]
    synth = SynthSpec(num_jobs=n, load=spec["load"], cluster_gpus=c, mean_duration_s=3600.0)
    workload = generate(synth, np.random.default_rng(spec["seed"]))
    cluster = Cluster.uniform(1, c)
    config = SimConfig(policy="fcfs", placement="pack", seed=0)

    def baseline() -> list[float]:
        # Column conversion is timed: the engine gets the same Workload and converts it too.
        gc.disable()  # as a tuned loop would; the engine pauses GC for its run as well
        try:
            return heapq_fcfs(workload.submit_s.tolist(), workload.duration_s.tolist(), c)
        finally:
            gc.enable()

    base_s, starts = _best_of(repeat, baseline)
    base_wait = float(np.mean(np.asarray(starts) - workload.submit_s))
    _emit("baseline", jobs=n, wall_s=base_s, mean_wait_s=base_wait)

    def floor() -> list[float]:
        gc.disable()
        try:
            return simpy_fcfs(workload.submit_s.tolist(), workload.duration_s.tolist(), c)
        finally:
            gc.enable()

    floor_s, floor_starts = _best_of(repeat, floor)
    floor_wait = float(np.mean(np.asarray(floor_starts) - workload.submit_s))
    _emit("simpy_floor", jobs=n, wall_s=floor_s, mean_wait_s=floor_wait,
          rel_diff=abs(floor_wait - base_wait) / base_wait)
    simulate(workload.take(np.arange(min(100, n))), cluster, config)  # warm-up

    engine_times: list[float] = []
    with _engine_timer(engine_times) as timed:
        sim_s, result = _best_of(repeat, lambda: simulate(workload, cluster, config))
    sim_wait = float(np.mean(result.jobs.column("wait_s").to_numpy()))
    rel = abs(sim_wait - base_wait) / base_wait
    if not rel <= REL_TOL:
        raise AssertionError(
            f"mean wait differs: engine {sim_wait!r} s vs heapq loop {base_wait!r} s (relative {rel:.3g})"
        )
    engine_s = min(engine_times) if timed and engine_times else None
    _emit("engine", jobs=n, wall_s=engine_s, mean_wait_s=sim_wait, rel_diff=rel)
    _emit("simulate", jobs=n, wall_s=sim_s, mean_wait_s=sim_wait, events=result.num_events)


def _sim_and_check(workload: Any, cluster: Any, policy: str, validate: bool) -> None:
    from simulator.run import SimConfig, simulate
    from simulator.validate import check

    config = SimConfig(policy=policy, placement="pack", seed=0)
    t0 = time.perf_counter()
    result = simulate(workload, cluster, config)
    _emit("simulate", jobs=len(workload), wall_s=time.perf_counter() - t0, events=result.num_events,
          segments=len(result.schedule.assignments))
    if validate:
        t0 = time.perf_counter()
        violations = check(result.schedule, workload, cluster)
        _emit("validate", jobs=len(workload), wall_s=time.perf_counter() - t0, violations=len(violations),
              first=violations[0].message if violations else None)


def child_trace(spec: dict[str, Any]) -> None:
    import simulator.run  # noqa: F401  (imports before the clock starts)
    import simulator.validate  # noqa: F401
    from simulator.cluster import Cluster
    from traces.readers.registry import read_trace

    t0 = time.perf_counter()
    data = read_trace([spec["path"]])
    _emit("read", jobs=len(data.workload), wall_s=time.perf_counter() - t0)
    cluster = Cluster.uniform(spec["nodes"], spec["gpus_per_node"])
    _sim_and_check(data.workload, cluster, spec["policy"], spec["validate"])


def child_synth(spec: dict[str, Any]) -> None:
    import numpy as np

    import simulator.run  # noqa: F401
    import simulator.validate  # noqa: F401
    from simulator.cluster import Cluster
    from traces.synth import DurationDist, SynthSpec, generate

    cluster = Cluster.uniform(spec["nodes"], spec["gpus_per_node"])
    synth = SynthSpec(
        num_jobs=spec["jobs"], load=spec["load"], cluster_gpus=cluster.num_gpus, duration=DurationDist.lognormal,
        median_duration_s=1800.0, duration_sigma=1.5, gpu_counts=((1, 0.7), (2, 0.1), (4, 0.1), (8, 0.1)),
        num_users=100,
    )
    t0 = time.perf_counter()
    workload = generate(synth, np.random.default_rng(spec["seed"]))
    _emit("generate", jobs=len(workload), wall_s=time.perf_counter() - t0)
    _sim_and_check(workload, cluster, spec["policy"], spec["validate"])


CHILDREN: dict[str, Callable[[dict[str, Any]], None]] = {
    "mmc": child_mmc, "trace": child_trace, "synth": child_synth,
}


# ----- orchestration (parent side) --------------------------------------------------------------
@dataclass(frozen=True, slots=True)
class Row:
    case: str
    jobs: int | None
    wall_s: float | None
    peak_mib: float | None
    target: str
    met: str
    note: str = ""


def run_child(spec: dict[str, Any], timeout_s: float) -> tuple[dict[str, dict[str, Any]], str | None]:
    """The child's steps by name, and an error line (None when it exited 0)."""
    cmd = [sys.executable, str(Path(__file__).resolve()), "--child", json.dumps(spec)]
    print(f"running {spec['kind']} {spec.get('policy', 'fcfs')} ...", file=sys.stderr, flush=True)
    try:
        proc = subprocess.run(cmd, capture_output=True, text=True, cwd=REPO, timeout=timeout_s, check=False)
        stdout, error = proc.stdout, None
        if proc.returncode != 0:
            lines = proc.stderr.strip().splitlines()
            error = lines[-1] if lines else f"exit status {proc.returncode}"
    except subprocess.TimeoutExpired as exc:
        raw = exc.stdout or b""
        stdout = raw.decode() if isinstance(raw, bytes) else raw
        error = f"timed out after {timeout_s:.0f} s"
    steps = {}
    for line in stdout.splitlines():
        if line.startswith("{"):
            record = json.loads(line)
            steps[record["step"]] = record
    return steps, error


def _judge(ok: bool | None, quick: bool) -> str:
    if quick or ok is None:
        return "-"
    return "met" if ok else "NOT MET"


def case_mmc(sizes: Sizes, quick: bool) -> tuple[list[Row], bool]:
    spec = {"kind": "mmc", "jobs": sizes.mmc_jobs, "gpus": MMC_GPUS, "load": LOAD, "seed": SEED,
            "repeat": sizes.repeat}
    steps, error = run_child(spec, timeout_s=600)
    name = f"(a) M/M/{MMC_GPUS} fcfs"
    n = sizes.mmc_jobs
    base = steps.get("baseline")
    if base is None:
        return [Row(name, n, None, None, f"<= {TARGET_RATIO:g}x loop", "FAILED", error or "no result")], False
    rows = [Row(f"{name} heapq loop", n, base["wall_s"], base["peak_mib"], "baseline", "-",
                f"{n / base['wall_s']:,.0f} jobs/s; mean wait {base['mean_wait_s']:.1f} s")]
    floor = steps.get("simpy_floor")
    if floor is not None:
        rows.append(Row(f"{name} bare SimPy", n, floor["wall_s"], floor["peak_mib"], "(info)", "-",
                        f"{floor['wall_s'] / base['wall_s']:.2f}x loop: 2 bare timeouts per job, no policy; "
                        f"mean wait rel diff {floor['rel_diff']:.1e}"))
    eng, sim = steps.get("engine"), steps.get("simulate")
    if eng is not None and eng["wall_s"] is not None:
        ratio = eng["wall_s"] / base["wall_s"]
        rows.append(Row(f"{name} engine", n, eng["wall_s"], eng["peak_mib"], f"<= {TARGET_RATIO:g}x loop",
                        _judge(ratio <= TARGET_RATIO, quick),
                        f"{ratio:.2f}x loop; {n / eng['wall_s']:,.0f} jobs/s; mean wait equal "
                        f"(rel diff {eng['rel_diff']:.1e})"))
    elif eng is not None:
        rows.append(Row(f"{name} engine", n, None, None, f"<= {TARGET_RATIO:g}x loop", "-",
                        "simulator.engine.Engine.run not found: engine alone not timed"))
    if sim is not None:
        ratio = sim["wall_s"] / base["wall_s"]
        rows.append(Row(f"{name} simulate()", n, sim["wall_s"], sim["peak_mib"], "(info)", "-",
                        f"{ratio:.2f}x loop; engine + schedule + result tables"))
    if error is not None:
        rows.append(Row(name, n, None, None, f"<= {TARGET_RATIO:g}x loop", "FAILED", error))
    return rows, error is None


def case_trace(label: str, path: Path, policy: str, target_s: float, validate: bool,
               quick: bool) -> tuple[list[Row], bool]:
    spec = {"kind": "trace", "path": str(path), "policy": policy, "nodes": NODES,
            "gpus_per_node": GPUS_PER_NODE, "validate": validate}
    steps, error = run_child(spec, timeout_s=max(120.0, 10 * target_s))
    rows: list[Row] = []
    read, sim, val = steps.get("read"), steps.get("simulate"), steps.get("validate")
    target = f"<= {target_s:g} s"
    if read is not None and sim is not None:
        total = read["wall_s"] + sim["wall_s"]
        rows.append(Row(f"{label} {policy} read+simulate", sim["jobs"], total, sim["peak_mib"], target,
                        _judge(total <= target_s, quick),
                        f"read {read['wall_s']:.2f} s + simulate {sim['wall_s']:.2f} s; "
                        f"{sim['segments']:,} segments"))
    if val is not None:
        found = f"{val['violations']} violations" + (f": {val['first']}" if val["violations"] else "")
        rows.append(Row(f"{label} {policy} validate", val["jobs"], val["wall_s"], val["peak_mib"], "(info)",
                        "-" if val["violations"] == 0 else "INVALID", found))
    if error is not None:
        jobs = read["jobs"] if read else None
        rows.append(Row(f"{label} {policy}", jobs, None, None, target, "FAILED", error))
    ok = error is None and (val is None or val["violations"] == 0)
    return rows, ok


def case_synth(sizes: Sizes, validate: bool, quick: bool) -> tuple[list[Row], bool]:
    spec = {"kind": "synth", "jobs": sizes.synth_jobs, "load": LOAD, "seed": SEED, "policy": "fcfs",
            "nodes": NODES, "gpus_per_node": GPUS_PER_NODE, "validate": validate}
    steps, error = run_child(spec, timeout_s=900)
    label = f"(d) synthetic {_count(sizes.synth_jobs)} fcfs"
    gen, sim, val = steps.get("generate"), steps.get("simulate"), steps.get("validate")
    rows: list[Row] = []
    target = f"<= {TARGET_1M_S:g} s, <= {TARGET_1M_MIB:g} MiB"
    if sim is not None:
        ok = sim["wall_s"] <= TARGET_1M_S and sim["peak_mib"] <= TARGET_1M_MIB
        gen_note = f"after generating the workload in {gen['wall_s']:.1f} s; " if gen else ""
        rows.append(Row(f"{label} simulate", sim["jobs"], sim["wall_s"], sim["peak_mib"], target,
                        _judge(ok, quick), f"{gen_note}{sim['jobs'] / sim['wall_s']:,.0f} jobs/s"))
    if val is not None:
        found = f"{val['violations']} violations" + (f": {val['first']}" if val["violations"] else "")
        rows.append(Row(f"{label} validate", val["jobs"], val["wall_s"], val["peak_mib"], "(info)",
                        "-" if val["violations"] == 0 else "INVALID", found))
    if error is not None:
        rows.append(Row(label, sizes.synth_jobs, None, None, target, "FAILED", error))
    return rows, error is None and (val is None or val["violations"] == 0)


def _count(n: int) -> str:
    return f"{n // 1_000_000}M" if n % 1_000_000 == 0 else f"{n // 1000}k" if n % 1000 == 0 else str(n)


def _is_preemptive(key: str, cls: type) -> bool:
    """Declared (`preemptive`, `is_preemptive` or `preempts` true on the class) or named so."""
    declared = any(getattr(cls, attr, False) is True for attr in ("preemptive", "is_preemptive", "preempts"))
    return declared or any(word in key.lower() for word in PREEMPTIVE_WORDS)


def preemptive_policies() -> tuple[list[str], list[str]]:
    """(registered, missing): las and srtf, plus any other registered policy `_is_preemptive` picks."""
    from simulator.policies import POLICIES

    extra = sorted(k for k, cls in POLICIES.items() if _is_preemptive(k, cls) and k not in REQUIRED_PREEMPTIVE)
    wanted = [*REQUIRED_PREEMPTIVE, *extra]
    return [k for k in wanted if k in POLICIES], [k for k in wanted if k not in POLICIES]


def build_philly(source: Path, num_jobs: int, out: Path) -> str:
    """Resample `source`'s (duration, GPUs) rows to `num_jobs` Poisson arrivals at load 0.8 on
    128 x 8 GPUs and write native Parquet; returns a one-line description."""
    import numpy as np

    from traces.readers.native import write_native
    from traces.readers.registry import read_trace
    from traces.synth import RESAMPLE, DurationDist, SynthSpec, generate

    t0 = time.perf_counter()
    src = read_trace([source]).workload
    synth = SynthSpec(num_jobs=num_jobs, load=LOAD, cluster_gpus=NODES * GPUS_PER_NODE, duration=DurationDist.resample,
                      gpu_counts=RESAMPLE)
    workload = generate(synth, np.random.default_rng(SEED), resample_from=src)
    if int(workload.num_gpus.max()) > NODES * GPUS_PER_NODE:
        raise SystemExit(f"a resampled job needs {int(workload.num_gpus.max())} GPUs, more than the cluster has")
    write_native(workload, out)
    return (f"built {num_jobs:,} jobs resampled from {len(src):,} rows of {source} in "
            f"{time.perf_counter() - t0:.1f} s: {out.stat().st_size / 2**20:.1f} MiB Parquet, "
            f"GPUs per job up to {int(workload.num_gpus.max())}, span {workload.span_s / 86400:.1f} days")


def print_table(rows: list[Row]) -> None:
    width = max([len("case"), *(len(r.case) for r in rows)])
    print(f"{'case':<{width}} {'jobs':>9} {'wall s':>8} {'peak MiB':>9}  {'target':<22} {'met':<8} note")
    for r in rows:
        jobs = f"{r.jobs:,}" if r.jobs is not None else "-"
        wall = f"{r.wall_s:.2f}" if r.wall_s is not None else "-"
        peak = f"{r.peak_mib:.0f}" if r.peak_mib is not None else "-"
        print(f"{r.case:<{width}} {jobs:>9} {wall:>8} {peak:>9}  {r.target:<22} {r.met:<8} {r.note}", flush=True)


def shared_traces_dir(arg: str | None) -> Path:
    if arg:
        return Path(arg)
    env = os.environ.get("GPUSCHED_SHARED_TRACES")
    return Path(env) if env else REPO.parent / "shared" / "traces"


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "shared", nargs="?", help="shared traces dir (default $GPUSCHED_SHARED_TRACES or ../shared/traces)"
    )
    parser.add_argument("--quick", action="store_true", help="a few thousand jobs per case (smoke run)")
    parser.add_argument("--no-validate", action="store_true", help="skip validate.check after each run")
    parser.add_argument("--child", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.child:
        spec = json.loads(args.child)
        CHILDREN[spec["kind"]](spec)
        return 0

    sizes = QUICK if args.quick else FULL
    validate = not args.no_validate
    shared = shared_traces_dir(args.shared)
    philly = shared / "philly-pollux" / "philly.csv"
    print(f"{time.strftime('%Y-%m-%d %H:%M:%S %z')}; python {platform.python_version()}, {os.cpu_count()} CPUs"
          f"{'; QUICK run: sizes reduced, targets not judged' if args.quick else ''}")
    if not philly.is_file():
        print(f"note: {philly} not found; resampling the bundled slice {BUNDLED_PHILLY} instead")
        philly = BUNDLED_PHILLY
    rows: list[Row] = []
    ok = True
    with tempfile.TemporaryDirectory(prefix="gpusched-simbench-") as tmp:
        trace = Path(tmp) / f"philly-{sizes.philly_jobs}.parquet"
        print(build_philly(philly, sizes.philly_jobs, trace), flush=True)
        try:
            present, missing = preemptive_policies()
        except Exception as exc:  # the registry itself failed to import: report it, run the rest
            present, missing = [], list(REQUIRED_PREEMPTIVE)
            print(f"simulator.policies failed to import: {type(exc).__name__}: {exc}")
            ok = False

        new, good = case_mmc(sizes, args.quick)
        rows += new
        ok &= good
        label = f"(b) philly-{_count(sizes.philly_jobs)}"
        new, good = case_trace(label, trace, "fcfs", TARGET_PHILLY_FCFS_S, validate, args.quick)
        rows += new
        ok &= good
        label = f"(c) philly-{_count(sizes.philly_jobs)}"
        for policy in present:
            new, good = case_trace(label, trace, policy, TARGET_PHILLY_PREEMPTIVE_S, validate, args.quick)
            rows += new
            ok &= good
        rows += [Row(f"{label} {p}", None, None, None, f"<= {TARGET_PHILLY_PREEMPTIVE_S:g} s", "-",
                     "not available (not in simulator.policies.POLICIES)") for p in missing]
        new, good = case_synth(sizes, validate, args.quick)
        rows += new
        ok &= good
    print(f"cluster for (b)-(d): {NODES} nodes x {GPUS_PER_NODE} GPUs, placement pack, seed 0; "
          "peak MiB = child's VmHWM after that step")
    print_table(rows)
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
