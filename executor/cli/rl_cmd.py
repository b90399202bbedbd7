"""`gpusched rl ...`: train a policy-gradient scheduling agent on a trace and evaluate it on held-out windows.

`rl train` splits the trace chronologically (`--train-fraction`), trains on windows of
`--window-jobs` consecutive jobs from the first part (`executor.rl.train`), writes the agent
directory (`executor.rl.agent_dir`) and replays held-out windows from the later part under the
agent and under fcfs and sjf. `rl eval` does the held-out comparison for a saved agent. A
trained agent runs like any policy: `gpusched simulate --policy rl:AGENT`.
"""

from __future__ import annotations

import inspect
import math
import time
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

from executor.cli.common import (
    ClusterFileOpt,
    GpuMemOpt,
    GpusPerNodeOpt,
    GpuTypeOpt,
    NodesOpt,
    SeedOpt,
    TraceArg,
    TraceFormatOpt,
    check_out_dir,
    info,
    load_trace,
    print_report_lines,
    resolve_cluster,
    trace_name,
    user_errors,
)
from traces.errors import UserError

if TYPE_CHECKING:
    from executor.rl.evaluate import PolicyScore
    from simulator.policies import Policy

app = typer.Typer(
    help="Reinforcement learning: train a policy-gradient agent (Keras) that picks which queued job starts "
    "next, and compare it with fcfs/sjf/las on held-out windows of the trace. Run a trained agent with "
    "`gpusched simulate --policy rl:AGENT`.",
    no_args_is_help=True,
    context_settings={"help_option_names": ["-h", "--help"]},
)

REWARDS = ("slowdown", "jct", "utilisation")
DEFAULT_BASELINES = "fcfs,sjf,las"

WindowJobsOpt = Annotated[
    int, typer.Option("--window-jobs", help="Jobs per episode: a window of this many consecutive jobs of the trace.")
]
TrainFractionOpt = Annotated[
    float, typer.Option("--train-fraction", help="Train on windows inside the first this fraction of the jobs "
                        "(in submission order); evaluate on windows after it.")
]
EvalWindowsOpt = Annotated[
    int, typer.Option("--eval-windows", help="Held-out windows to compare on (non-overlapping, spread over the "
                      "held-out part; 0 skips the comparison).")
]
PlacementOpt = Annotated[str, typer.Option("--placement", help="Placement (registry key): pack, spread, best-fit, "
                                           "random, topology.")]
DurationsOpt = Annotated[
    str, typer.Option("--durations", help="Job durations the agent sees in its observation, and sjf ranks by in "
                      "the comparison: actual, noisy:SIGMA (lognormal error) or predicted:MODEL (`gpusched predict "
                      "train`); simulate a trained agent with the same --durations.")
]
ProgressOpt = Annotated[
    bool | None,
    typer.Option("--progress/--no-progress", help="Progress bar on stderr for training over a second "
                 "(default: on when stderr is a terminal)."),
]


def _check_int(value: int, flag: str, minimum: int) -> int:
    if value < minimum:
        raise UserError(f"{flag} must be an integer >= {minimum}, got {value}")
    return value


def _check_fraction(value: float) -> float:
    if not 0 < value < 1:
        raise UserError(f"--train-fraction must be in (0, 1), got {value:g}")
    return value


def _check_positive(value: float, flag: str) -> float:
    if not (math.isfinite(value) and value > 0):
        raise UserError(f"{flag} must be a finite number > 0, got {value:g}")
    return value


def _baselines(text: str) -> list[str]:
    from simulator.policies import POLICIES, policy_params

    # Baselines run with their default parameters: not the agent itself, not policies that need
    # a parameter (the schedule replay needs a schedule file).
    usable = sorted(k for k in POLICIES
                    if k != "rl" and all(v is not inspect.Parameter.empty for v in policy_params(k).values()))
    names = [p.strip() for p in text.split(",") if p.strip()]
    for name in names:
        if name not in usable:
            raise UserError(f"--baselines: expected policies among {', '.join(usable)} but found {name!r}")
    return names


def _estimates(text: str, workload: Any, seed: int) -> tuple[Any, str]:
    """Per-job duration estimates for `--durations` (None for actual), and the spec's canonical text."""
    from simulator.estimates import EstimateSpec, duration_estimates
    from simulator.rng import Streams

    spec = EstimateSpec.parse(text)
    if spec.kind == "actual":
        return None, "actual"
    return duration_estimates(workload, spec, Streams.from_seed(seed).estimates), text.strip()


def _policy_factories(names: list[str], agent: Callable[[], Policy] | None) -> dict[str, Callable[[], Policy]]:
    from simulator.policies import make_policy

    out: dict[str, Callable[[], Policy]] = {}
    if agent is not None:
        out["rl"] = agent
    for name in names:
        out[name] = lambda name=name: make_policy(name)  # type: ignore[misc]
    return out


def _print_scores(scores: Mapping[str, PolicyScore], windows: int) -> None:
    """The comparison as a table on stdout, with how many windows the agent beat each policy on."""
    rl = scores.get("rl")
    jobs = next(iter(scores.values())).num_jobs
    typer.echo(f"held-out comparison: {windows} windows, {jobs} jobs (pooled)")
    typer.echo(f"{'policy':<14} {'mean JCT s':>12} {'p95 wait s':>12} {'mean slowdown':>14} {'rl wins':>8}")
    for label, s in scores.items():
        wins = ""
        if rl is not None and label != "rl":
            wins = f"{int((rl.window_slowdown < s.window_slowdown).sum())}/{windows}"
        typer.echo(f"{label:<14} {s.mean_jct_s:>12.6g} {s.p95_wait_s:>12.6g} {s.mean_slowdown:>14.4g} {wins:>8}")


def _scores_doc(scores: Mapping[str, PolicyScore], rows: list[int], window_jobs: int) -> dict[str, Any]:
    return {
        "window_jobs": window_jobs,
        "start_rows": rows,
        "policies": {label: {"mean_jct_s": s.mean_jct_s, "p95_wait_s": s.p95_wait_s,
                             "mean_slowdown": s.mean_slowdown, "num_jobs": s.num_jobs}
                     for label, s in scores.items()},
    }


def _curve_summary(curve: list[dict[str, float]], reward: str) -> tuple[str, dict[str, float]]:
    """The first and last tenth of the episodes: mean return, and the mean ratio of the reward's metric to
    FCFS's on the same window (windows differ more than policies do, so raw metrics would mislead)."""
    from executor.rl.agent_dir import RELATIVE_METRIC

    own, ref, name = RELATIVE_METRIC[reward]
    tenth = max(1, len(curve) // 10)

    def mean(values: list[float]) -> float:
        finite = [v for v in values if math.isfinite(v)]
        return sum(finite) / len(finite) if finite else math.nan

    def ratio(r: dict[str, float]) -> float:
        return r[own] / r[ref] if r[ref] > 0 else math.nan

    first, last = curve[:tenth], curve[-tenth:]
    numbers = {"first_return": mean([r["return"] for r in first]), "last_return": mean([r["return"] for r in last]),
               "first_ratio_to_fcfs": mean([ratio(r) for r in first]),
               "last_ratio_to_fcfs": mean([ratio(r) for r in last])}
    text = (f"learning curve: mean return {numbers['first_return']:.4g} over the first {tenth} episodes -> "
            f"{numbers['last_return']:.4g} over the last {tenth}; {name} / FCFS's on the same window "
            f"{numbers['first_ratio_to_fcfs']:.3g} -> {numbers['last_ratio_to_fcfs']:.3g} (sampled actions)")
    checks = [r for r in curve if math.isfinite(r["greedy_ratio"])]
    if checks:
        numbers["first_greedy_ratio"], numbers["last_greedy_ratio"] = checks[0]["greedy_ratio"], checks[-1][
            "greedy_ratio"]
        text += (f"\ngreedy policy: {name} / FCFS's on fixed training windows {checks[0]['greedy_ratio']:.3g} after "
                 f"episode {int(checks[0]['episode'])} -> {checks[-1]['greedy_ratio']:.3g} after episode "
                 f"{int(checks[-1]['episode'])}")
    return text, numbers


@app.command()
@user_errors
def train(
    trace: TraceArg = None,
    trace_format: TraceFormatOpt = None,
    cluster: ClusterFileOpt = None,
    nodes: NodesOpt = None,
    gpus_per_node: GpusPerNodeOpt = 8,
    gpu_type: GpuTypeOpt = "V100",
    gpu_mem_gib: GpuMemOpt = 32.0,
    out: Annotated[Path, typer.Option("--out", "-o", help="The agent directory to write (agent.json, "
                                      "weights.npz, learning_curve.csv/.png).", show_default=False)] = Path("agent"),
    episodes: Annotated[int, typer.Option("--episodes", help="Training episodes (one window played once each).")] = 200,
    window_jobs: WindowJobsOpt = 64,
    queue_slots: Annotated[int, typer.Option("--queue-slots", help="Queued jobs the agent sees and chooses "
                                             "among: half the longest-waiting, half the shortest of the "
                                             "rest (by the durations it sees).")] = 16,
    reward: Annotated[str, typer.Option("--reward", help="What the agent minimises: slowdown (mean JCT / "
                                        "duration), jct (mean JCT) or utilisation (idle GPU time).")] = "slowdown",
    train_fraction: TrainFractionOpt = 0.7,
    rollouts_per_window: Annotated[int, typer.Option("--rollouts-per-window", help="Episodes played on the same "
                                                     "window per update (the baseline compares them).")] = 4,
    hidden: Annotated[int, typer.Option("--hidden", help="Units per hidden layer of the network.")] = 32,
    learning_rate: Annotated[float, typer.Option("--learning-rate", help="Adam step size.")] = 1e-3,
    placement: PlacementOpt = "pack",
    durations: DurationsOpt = "actual",
    baselines: Annotated[str, typer.Option("--baselines", help="Policies to compare with on the held-out "
                                           "windows, comma-separated.")] = DEFAULT_BASELINES,
    eval_windows: EvalWindowsOpt = 8,
    seed: SeedOpt = 0,
    progress: ProgressOpt = None,
) -> None:
    """Train an agent on windows of a trace's first part; print its learning curve and a held-out comparison.

    Examples:

      gpusched rl train --episodes 200 --out agent/

      gpusched rl train philly.csv --nodes 8 --reward jct --episodes 400 --out philly-agent/

      gpusched simulate --policy rl:agent/
    """
    from executor.cli.progress import DelayedProgress
    from executor.rl.agent_dir import agent_document, save_agent
    from executor.rl.evaluate import evaluate, split_rows, spread_windows
    from executor.rl.network import load_training_keras
    from executor.rl.train import TrainConfig, trace_env
    from executor.rl.train import train as train_agent
    from simulator.cluster import check_fits
    from simulator.estimates import EstimateSpec
    from simulator.placement import PLACEMENTS
    from simulator.results import write_json
    from simulator.rl.policy import RlPolicy

    if reward not in REWARDS:
        raise UserError(f"--reward: expected one of {', '.join(REWARDS)} but found {reward!r}")
    if placement not in PLACEMENTS:
        raise UserError(f"--placement: expected one of {', '.join(PLACEMENTS)} but found {placement!r}")
    _check_int(window_jobs, "--window-jobs", 1)
    _check_int(queue_slots, "--queue-slots", 1)
    _check_int(eval_windows, "--eval-windows", 0)
    config = TrainConfig(episodes=_check_int(episodes, "--episodes", 1), rollouts_per_window=rollouts_per_window,
                         hidden=hidden, learning_rate=_check_positive(learning_rate, "--learning-rate"), seed=seed)
    names = _baselines(baselines)
    _check_fraction(train_fraction)
    EstimateSpec.parse(durations)
    out = check_out_dir(out, "rl")
    data = load_trace(trace, trace_format)
    print_report_lines(data.report.lines())
    wl = data.workload
    cl = resolve_cluster(cluster, nodes, gpus_per_node, gpu_type, gpu_mem_gib, data.cluster)
    check_fits(wl, cl, source=trace_name(trace))
    train_rows, held_rows = split_rows(len(wl), window_jobs, train_fraction)
    estimates, durations_text = _estimates(durations, wl, seed)
    env = trace_env(wl, cl, train_rows, window_jobs=window_jobs, queue_slots=queue_slots, reward=reward,
                    placement=placement, estimates=estimates)
    info(f"cluster: {cl.describe()}; {len(wl)} jobs, training windows of {window_jobs} jobs from the first "
         f"{train_rows[-1] + window_jobs} ({len(train_rows)} start rows); reward {reward}, seed {seed}")
    load_training_keras()  # before the clock: the time per episode below is training, not TensorFlow's import
    t0 = time.perf_counter()
    with DelayedProgress("training", progress, unit="episodes") as bar:
        result = train_agent(env, config, progress=bar)
    train_s = time.perf_counter() - t0
    summary, numbers = _curve_summary(result.curve, reward)
    typer.echo(f"trained {config.episodes} episodes in {train_s:.1f} s ({1000 * train_s / config.episodes:.0f} ms "
               f"per episode)")
    typer.echo(summary)
    training = {
        "algorithm": "reinforce, leave-one-out time-aligned baseline",
        "trace": trace_name(trace),
        "jobs": len(wl),
        "cluster": cl.describe(),
        "placement": placement,
        "durations": durations_text,
        "train_fraction": train_fraction,
        "window_jobs": window_jobs,
        "train_start_rows": [train_rows[0], train_rows[-1]],
        "episodes": config.episodes,
        "rollouts_per_window": config.rollouts_per_window,
        "learning_rate": config.learning_rate,
        "entropy_start": config.entropy_start,
        "entropy_end": config.entropy_end,
        "seed": seed,
    }
    doc = agent_document(result.net, reward=reward, training=training, final=numbers)
    # Saved before the comparison: a failing comparison must not lose the training.
    paths = save_agent(out, result.net, doc, result.curve, reward=reward,
                       title=f"rl train: {trace_name(trace)}, reward {reward}, seed {seed}")
    rows = spread_windows(held_rows, window_jobs, eval_windows)
    if rows:
        net = result.net
        scores = evaluate(wl, cl, rows, window_jobs, _policy_factories(names, lambda: RlPolicy.from_net(net)),
                          placement=placement, estimates=estimates, seed=seed)
        _print_scores(scores, len(rows))
        doc = agent_document(result.net, reward=reward, training=training, final=numbers,
                             evaluation=_scores_doc(scores, rows, window_jobs))
        write_json(doc, paths["agent"])
    elif eval_windows:
        info(f"no held-out comparison: the jobs after the training part ({len(wl) - train_rows[-1] - window_jobs})"
             f" do not fill a window of {window_jobs}")
    info(f"wrote {out}/ ({', '.join(p.name for p in paths.values())}); run it with "
         f"`gpusched simulate --policy rl:{out}`")


@app.command("eval")
@user_errors
def eval_cmd(
    trace: TraceArg = None,
    trace_format: TraceFormatOpt = None,
    cluster: ClusterFileOpt = None,
    nodes: NodesOpt = None,
    gpus_per_node: GpusPerNodeOpt = 8,
    gpu_type: GpuTypeOpt = "V100",
    gpu_mem_gib: GpuMemOpt = 32.0,
    agent: Annotated[Path, typer.Option("--agent", help="The agent directory (from `gpusched rl train`).",
                                        show_default=False)] = Path("agent"),
    window_jobs: Annotated[int | None, typer.Option("--window-jobs", help="Jobs per window (default: the "
                                                    "agent's training windows).", show_default=False)] = None,
    train_fraction: TrainFractionOpt = 0.7,
    eval_windows: EvalWindowsOpt = 8,
    baselines: Annotated[str, typer.Option("--baselines", help="Policies to compare with, comma-separated.")]
    = "fcfs,sjf,las",
    placement: PlacementOpt = "pack",
    durations: DurationsOpt = "actual",
    seed: SeedOpt = 0,
) -> None:
    """Replay held-out windows (after --train-fraction) under a saved agent and under other policies.

    Example: gpusched rl eval --agent agent/ --eval-windows 16 --baselines fcfs,sjf,las
    """
    from executor.rl.evaluate import evaluate, split_rows, spread_windows
    from simulator.cluster import check_fits
    from simulator.estimates import EstimateSpec
    from simulator.rl.policy import RlPolicy, load_agent

    _check_fraction(train_fraction)
    EstimateSpec.parse(durations)
    loaded = load_agent(agent)
    training = loaded.document.get("training", {})
    if not isinstance(training, dict):
        training = {}
    saved_window = training.get("window_jobs", 64)
    if window_jobs is None and (isinstance(saved_window, bool) or not isinstance(saved_window, int)):
        raise UserError(f"{agent}: agent.json's training.window_jobs is {saved_window!r}, not an integer; "
                        "give --window-jobs")
    window = window_jobs if window_jobs is not None else int(saved_window)
    _check_int(window, "--window-jobs", 1)
    _check_int(eval_windows, "--eval-windows", 1)
    names = _baselines(baselines)
    data = load_trace(trace, trace_format)
    print_report_lines(data.report.lines())
    wl = data.workload
    cl = resolve_cluster(cluster, nodes, gpus_per_node, gpu_type, gpu_mem_gib, data.cluster)
    check_fits(wl, cl, source=trace_name(trace))
    _, held_rows = split_rows(len(wl), window, train_fraction)
    rows = spread_windows(held_rows, window, eval_windows)
    if not rows:
        raise UserError(f"no held-out window: the jobs after the first {train_fraction:g} of the trace do not fill "
                        f"a window of {window} jobs")
    trained_on = str(training.get("durations", "actual"))
    if durations.strip() != trained_on:
        info(f"note: the agent was trained on --durations {trained_on}, evaluated on {durations}")
    estimates, _ = _estimates(durations, wl, seed)
    net = loaded.net
    scores = evaluate(wl, cl, rows, window, _policy_factories(names, lambda: RlPolicy.from_net(net)),
                      placement=placement, estimates=estimates, seed=seed)
    _print_scores(scores, len(rows))


__all__ = ["app"]
