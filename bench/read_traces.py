"""Trace read speed and memory: each case runs in a fresh subprocess so numbers do not mix.

Usage: python bench/read_traces.py [SHARED_TRACES_DIR] [--rows N]

Cases: the full philly-pollux file, all ten ITP cluster files at once, and a generated native
Parquet and native CSV trace of N rows (default 1,000,000) written to a temp directory.
Per case it prints the wall time of `read_trace` alone and the child's peak RSS (VmHWM), plus
the RSS growth over the child's state after its imports. Target for 1M native Parquet rows:
<= 3 s and <= 500 MiB peak RSS.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
PARQUET_TARGET_S = 3.0
PARQUET_TARGET_MIB = 500.0


def shared_traces_dir(arg: str | None) -> Path:
    if arg:
        return Path(arg)
    env = os.environ.get("GPUSCHED_SHARED_TRACES")
    return Path(env) if env else REPO.parent / "shared" / "traces"


def _status_mib(key: str) -> float:
    """VmRSS (now) or VmHWM (peak) of this process from /proc, in MiB.

    VmHWM belongs to the process's own address space, unlike `ru_maxrss`, which Linux carries
    over from the parent across fork+exec and would report the parent's size.
    """
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith(key + ":"):
                return int(line.split()[1]) / 1024
    raise RuntimeError(f"{key} not in /proc/self/status")


def child(fmt: str, paths: list[str]) -> None:
    """Run in the subprocess: import, then time one read and print one JSON line."""
    import numpy  # noqa: F401  (imports before the baseline, so they do not count as growth)
    import pyarrow  # noqa: F401

    via = "registry"
    try:
        from traces.readers.registry import read_trace
    except ImportError as exc:  # another reader module missing: read native files directly
        if fmt != "native":
            print(json.dumps({"error": f"registry unavailable ({exc})"}))
            return
        from traces.readers.native import NativeReader

        def read_trace(p: list[str], fmt: str | None = None):  # type: ignore[no-untyped-def]
            return NativeReader().read([Path(x) for x in p])

        via = "NativeReader (registry unavailable)"
    baseline = _status_mib("VmRSS")
    t0 = time.perf_counter()
    data = read_trace(paths, fmt=fmt)
    wall = time.perf_counter() - t0
    peak = _status_mib("VmHWM")
    print(json.dumps({
        "wall_s": wall, "peak_mib": peak, "growth_mib": peak - baseline,
        "rows": data.report.rows_read, "jobs": len(data.workload), "via": via,
    }))


def make_native(rows: int, out_dir: Path) -> tuple[Path, Path]:
    """A realistic seeded workload written as native Parquet and CSV."""
    import numpy as np

    from traces.model import Categorical, Workload
    from traces.readers.native import write_native

    rng = np.random.default_rng(20240611)
    n = rows
    span_s = 60 * 86400.0
    users = Categorical(rng.zipf(1.5, n).clip(1, 2000).astype(np.int32) - 1,
                        tuple(f"user{i:04d}" for i in range(2000)))
    groups = Categorical(rng.integers(0, 20, n, dtype=np.int32), tuple(f"vc{i:02d}" for i in range(20)))
    models = ("resnet50", "bert-base", "gpt2", "vgg16", "inception3", "transformer", "dcgan", "lstm")
    model = Categorical(np.where(rng.random(n) < 0.3, -1, rng.integers(0, len(models), n)).astype(np.int32), models)
    gtypes = Categorical(rng.choice([-1, 0, 1, 2], n, p=[0.6, 0.2, 0.1, 0.1]).astype(np.int32),
                         (("V100",), ("A100",), ("V100", "A100")))
    status = Categorical(rng.choice([0, 1, 2], n, p=[0.8, 0.15, 0.05]).astype(np.int32),
                         ("completed", "failed", "killed"))
    num_gpus = rng.choice([1, 2, 4, 8, 16, 32], n, p=[0.6, 0.12, 0.12, 0.1, 0.04, 0.02])
    wl = Workload.from_columns(
        job_id=np.array([f"job-{i:07d}" for i in range(n)], dtype=object),
        submit_s=np.sort(rng.uniform(0, span_s, n)),
        duration_s=np.exp(rng.normal(7.5, 2.0, n)).clip(1.0, 30 * 86400.0),
        num_gpus=num_gpus,
        gpu_mem_gib=np.where(rng.random(n) < 0.5, np.nan, rng.choice([16.0, 32.0, 80.0], n)),
        priority=rng.integers(0, 3, n),
        deadline_s=np.where(rng.random(n) < 0.9, np.nan, rng.uniform(0, 2 * span_s, n)),
        gpu_types=gtypes, user=users, group=groups, model_name=model, status=status,
        source="bench",
    )
    return write_native(wl, out_dir / "native.parquet"), write_native(wl, out_dir / "native.csv")


def run_case(name: str, fmt: str, paths: list[Path]) -> dict[str, object]:
    missing = [p for p in paths if not p.exists()]
    if not paths or missing:
        return {"error": f"missing input {missing[0] if missing else '(no files)'}"}
    cmd = [sys.executable, str(Path(__file__).resolve()), "--child", fmt, *map(str, paths)]
    proc = subprocess.run(cmd, capture_output=True, text=True, cwd=REPO)
    if proc.returncode != 0:
        lines = proc.stderr.strip().splitlines()
        return {"error": lines[-1] if lines else f"exit status {proc.returncode}"}
    return json.loads(proc.stdout.strip().splitlines()[-1])


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "shared", nargs="?", help="shared traces dir (default $GPUSCHED_SHARED_TRACES or ../shared/traces)"
    )
    parser.add_argument("--rows", type=int, default=1_000_000, help="rows of the generated native traces")
    parser.add_argument("--child", nargs="+", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.child:
        child(args.child[0], args.child[1:])
        return 0

    shared = shared_traces_dir(args.shared)
    print(f"python {sys.version.split()[0]}, {os.cpu_count()} CPUs, shared traces: {shared}")
    print(f"{'case':<28} {'rows':>9} {'jobs':>9} {'wall s':>8} {'peak MiB':>9} {'growth MiB':>11}")
    with tempfile.TemporaryDirectory(prefix="gpusched-bench-") as tmp:
        t0 = time.perf_counter()
        parquet, csv = make_native(args.rows, Path(tmp))
        print(f"(generated {args.rows:,} native rows in {time.perf_counter() - t0:.1f} s: "
              f"parquet {parquet.stat().st_size / 2**20:.1f} MiB, csv {csv.stat().st_size / 2**20:.1f} MiB)")
        cases = [
            ("philly-pollux (full)", "philly-pollux", [shared / "philly-pollux" / "philly.csv"]),
            ("itp (10 files)", "itp", sorted((shared / "microsoft-itp-2021").glob("cluster*.csv"))),
            (f"native parquet {args.rows:,}", "native", [parquet]),
            (f"native csv {args.rows:,}", "native", [csv]),
        ]
        results = {}
        for name, fmt, paths in cases:
            res = results[name] = run_case(name, fmt, paths)
            if "error" in res:
                print(f"{name:<28} unavailable: {res['error']}")
                continue
            via = "" if res["via"] == "registry" else f"  [{res['via']}]"
            print(f"{name:<28} {res['rows']:>9,} {res['jobs']:>9,} {res['wall_s']:>8.2f} "
                  f"{res['peak_mib']:>9.0f} {res['growth_mib']:>11.0f}{via}")
    pq_res = results[cases[2][0]]
    if "error" not in pq_res and args.rows == 1_000_000:
        ok = pq_res["wall_s"] <= PARQUET_TARGET_S and pq_res["peak_mib"] <= PARQUET_TARGET_MIB
        print(f"1M parquet target (<= {PARQUET_TARGET_S:.0f} s, <= {PARQUET_TARGET_MIB:.0f} MiB peak): "
              f"{'met' if ok else 'MISSED'}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
