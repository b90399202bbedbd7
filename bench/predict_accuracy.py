"""Duration prediction: accuracy on real traces with users or groups, training time and prediction speed.

Usage: python bench/predict_accuracy.py [SHARED_TRACES_DIR] [--jobs N] [--quick]

For each trace (the shipped Philly slice, then the shared traces whose jobs carry a user or a
group: philly-dirlab-15k (users), philly-pollux (virtual clusters as groups), alibaba-openb
(QoS class as the group) and alibaba-dlrm (service as the group), each skipped when absent),
trains the `gbm` model on the first 80 % of the jobs by submit time and prints, on the last
20 %: MAE, median |ln(pred / actual)| and the fraction within 2x of the model, the per-user
rolling-median baseline and the global median; plus the training time (features, early
stopping and refit) and the prediction throughput (features + model, jobs/s, best of 3).
A last row times a synthetic trace of N jobs (default 1,000,000; 3,000 users) for the
features alone, training and prediction. `--quick`: the shipped slice and a 20,000-job
synthetic trace only.
"""

from __future__ import annotations

import argparse
import os
import platform
from pathlib import Path

import numpy as np
from engine_speed import best_of  # bench/ is on sys.path when a bench script runs

from simulator.predict import BASELINE, GLOBAL, job_features, train
from traces.model import Categorical, Workload
from traces.readers.registry import read_trace

REPO = Path(__file__).resolve().parent.parent
SLICE = REPO / "traces" / "data" / "philly-dirlab-slice.csv"
SHARED = {
    "philly-dirlab-15k": "philly-dirlab-15k/philly_data_training.csv",
    "philly-pollux": "philly-pollux/philly.csv",
    "alibaba-openb": "alibaba-openb-2023/openb_pod_list_default.csv",
    "alibaba-dlrm": "alibaba-dlrm-2025/disaggregated_DLRM_trace.csv",
}


def shared_traces_dir(arg: str | None) -> Path:
    if arg:
        return Path(arg)
    env = os.environ.get("GPUSCHED_SHARED_TRACES")
    return Path(env) if env else REPO.parent / "shared" / "traces"


def synthetic(n: int, seed: int = 0, num_users: int = 3000) -> Workload:
    """Users with a typical duration each (lognormal across users), jobs scattered by a factor ~2."""
    rng = np.random.default_rng(seed)
    users = rng.integers(0, num_users, n).astype(np.int32)
    typical = np.exp(rng.normal(7, 2, num_users))
    return Workload.from_columns(
        job_id=[f"j{i:07d}" for i in range(n)],
        submit_s=np.sort(rng.uniform(0, 3e7, n)),
        duration_s=typical[users] * np.exp(rng.normal(0, 0.7, n)),
        num_gpus=rng.choice(np.array([1, 2, 4, 8], dtype=np.int32), n),
        user=Categorical(users, tuple(f"u{i}" for i in range(num_users))),
        group=Categorical((users % 20).astype(np.int32), tuple(f"g{i}" for i in range(20))),
    )


def fmt_h(seconds: float) -> str:
    return f"{seconds / 3600:.2f} h"


def case(name: str, workload: Workload, repeat: int = 3) -> None:
    users = int(np.sum(workload.user.codes >= 0))
    groups = int(np.sum(workload.group.codes >= 0))
    result = train(workload, trace=name)
    model = result.model
    predict_s = best_of(repeat, lambda: model.predict(workload))
    rounds = model.training.get("num_rounds", 0)
    print(f"{name}: {len(workload)} jobs ({users} with a user, {groups} with a group); trained on "
          f"{result.train_rows} in {result.wall_s:.2f} s ({rounds} rounds); predicts "
          f"{len(workload) / predict_s:,.0f} jobs/s")
    for label in ("gbm", BASELINE, GLOBAL):
        m = result.metrics[label]
        print(f"  {label:<14} {m.rows:>7} {fmt_h(m.mae_s):>10} {m.median_abs_log_ratio:>10.3f} "
              f"{100 * m.within_2x:>9.1f} %")


def scale(n: int) -> None:
    workload = synthetic(n)
    features_s = best_of(1, lambda: job_features(workload))
    result = train(workload, trace="synthetic")
    predict_s = best_of(1, lambda: result.model.predict(workload))
    gbm, base = result.metrics["gbm"], result.metrics[BASELINE]
    print(f"synthetic {n} jobs: features {features_s:.2f} s ({n / features_s:,.0f} jobs/s); train "
          f"{result.wall_s:.2f} s ({result.model.training['num_rounds']} rounds); predict {predict_s:.2f} s "
          f"({n / predict_s:,.0f} jobs/s); median |ln ratio| gbm {gbm.median_abs_log_ratio:.3f} vs "
          f"baseline {base.median_abs_log_ratio:.3f}")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("shared", nargs="?", help="folder of the shared traces (default: ../shared/traces)")
    ap.add_argument("--jobs", type=int, default=1_000_000, help="jobs in the synthetic speed case")
    ap.add_argument("--quick", action="store_true", help="the shipped slice and a 20k-job synthetic trace only")
    args = ap.parse_args()
    import lightgbm  # noqa: F401  (imported once up front, so the first training time is not the import's)

    print(f"# duration prediction, {platform.python_implementation()} {platform.python_version()}, "
          f"{platform.machine()}; LightGBM single-threaded; held out: last 20 % by submit time")
    print(f"  {'predictor':<14} {'jobs':>7} {'MAE':>10} {'med|lnr|':>10} {'within 2x':>11}")
    case("philly-dirlab-slice (shipped)", read_trace([SLICE]).workload)
    if not args.quick:
        root = shared_traces_dir(args.shared)
        for name, rel in SHARED.items():
            path = root / rel
            if not path.is_file():
                print(f"{name}: skipped (not found at {path})")
                continue
            case(name, read_trace([path]).workload)
    scale(20_000 if args.quick else args.jobs)


if __name__ == "__main__":
    main()
