"""Writing an agent directory: `agent.json`, `weights.npz`, `learning_curve.csv` and `learning_curve.png`.

The reading side is `simulator.rl.policy.load_agent` (the simulator runs agents without this
package). Every file is written atomically (`simulator.atomic`); the weights are plain
float32 arrays in `np.savez` (no pickle), the curve is one CSV row per training episode
(`executor.rl.train.CURVE_COLUMNS`), and the PNG carries no software metadata, so the same
training run gives byte-identical files except where TensorFlow's arithmetic differs.
"""

from __future__ import annotations

import io
import math
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt
import pyarrow as pa

from executor.rl.train import CURVE_COLUMNS
from simulator.atomic import write_bytes
from simulator.results import write_json, write_table
from simulator.rl.policy import AGENT_DOC, AGENT_FORMAT, AGENT_VERSION, NETWORK_KIND, WEIGHTS_FILE, AgentNet

CURVE_CSV = "learning_curve.csv"
CURVE_PNG = "learning_curve.png"
DPI = 100
_PNG_METADATA: dict[str, Any] = {"Software": None}


def json_safe(value: Any) -> Any:
    """`value` with NaN/inf floats as None (JSON has no NaN) and NumPy scalars as Python numbers."""
    if isinstance(value, Mapping):
        return {str(k): json_safe(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [json_safe(v) for v in value]
    if isinstance(value, np.generic):
        value = value.item()
    if isinstance(value, float) and not math.isfinite(value):
        return None
    return value


def agent_document(net: AgentNet, *, reward: str, training: Mapping[str, Any],
                   final: Mapping[str, Any], evaluation: Mapping[str, Any] | None = None) -> dict[str, Any]:
    """The contents of `agent.json` (what `load_agent` checks, plus how the agent was made)."""
    params = int(sum(int(np.prod(w.shape)) for w in net.weights.values()))
    doc: dict[str, Any] = {
        "format": AGENT_FORMAT,
        "version": AGENT_VERSION,
        "obs_spec": net.spec.to_json(),
        "network": {"kind": NETWORK_KIND, "hidden": net.hidden, "activation": "tanh", "parameters": params},
        "reward": reward,
        "training": dict(training),
        "final": dict(final),
    }
    if evaluation is not None:
        doc["evaluation"] = dict(evaluation)
    return json_safe(doc)  # type: ignore[no-any-return]


def save_agent(out: Path, net: AgentNet, document: Mapping[str, Any], curve: Sequence[Mapping[str, float]],
               *, reward: str = "slowdown", title: str = "") -> dict[str, Path]:
    """Write the agent directory `out` (created if needed); returns name -> path of each file."""
    out.mkdir(parents=True, exist_ok=True)
    paths = {"weights": out / WEIGHTS_FILE, "agent": out / AGENT_DOC, "curve_csv": out / CURVE_CSV,
             "curve_png": out / CURVE_PNG}
    buf = io.BytesIO()
    arrays: dict[str, Any] = {name: np.asarray(w, dtype=np.float32) for name, w in sorted(net.weights.items())}
    np.savez(buf, **arrays)
    write_bytes(buf.getvalue(), paths["weights"])
    write_table(curve_table(curve), paths["curve_csv"], "csv")
    plot_learning_curve(curve, paths["curve_png"], reward=reward, title=title)
    write_json(dict(document), paths["agent"])  # last: a directory with agent.json is complete
    return paths


def curve_table(curve: Sequence[Mapping[str, float]]) -> pa.Table:
    ints = {"episode", "update", "start_row", "num_decisions"}
    return pa.table({
        c: pa.array([int(r[c]) for r in curve], pa.int64()) if c in ints
        else pa.array([float(r[c]) for r in curve], pa.float64())
        for c in CURVE_COLUMNS
    })


def moving_average(values: npt.NDArray[np.float64], width: int) -> npt.NDArray[np.float64]:
    """Trailing mean over up to `width` values (shorter at the start), NaNs ignored."""
    out = np.full(len(values), np.nan)
    for i in range(len(values)):
        part = values[max(0, i - width + 1): i + 1]
        part = part[np.isfinite(part)]
        if part.size:
            out[i] = part.mean()
    return out


# The metric each reward optimises, next to FCFS's on the same window (`CURVE_COLUMNS`).
RELATIVE_METRIC = {"slowdown": ("mean_slowdown", "fcfs_mean_slowdown", "mean slowdown"),
                   "jct": ("mean_jct_s", "fcfs_mean_jct_s", "mean JCT"),
                   "utilisation": ("makespan_s", "fcfs_makespan_s", "makespan")}


def plot_learning_curve(curve: Sequence[Mapping[str, float]], path: Path, *, reward: str = "slowdown",
                        title: str = "") -> Path:
    """Top: the return per episode (dots) and its trailing moving average. Bottom: the metric the reward
    optimises divided by FCFS's on the same window (1 = as good as FCFS; below is better), which takes
    out most of the difference between windows, for the sampled episodes and, where the curve has it
    (`greedy_ratio`), for the greedy policy that `rl` runs."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    fig = Figure(figsize=(7.0, 6.0), dpi=DPI)
    FigureCanvasAgg(fig)
    ax_ret, ax_rel = fig.subplots(2, 1, sharex=True)
    episodes = np.array([r["episode"] for r in curve], dtype=np.float64)
    width = max(5, len(curve) // 20)
    own, ref, name = RELATIVE_METRIC[reward]
    returns = np.array([r["return"] for r in curve], dtype=np.float64)
    with np.errstate(divide="ignore", invalid="ignore"):
        ratio = np.array([r[own] for r in curve], dtype=np.float64) / np.array([r[ref] for r in curve])
    for ax, values, label in ((ax_ret, returns, "episode return"), (ax_rel, ratio, f"{name} / FCFS's")):
        ax.scatter(episodes, values, s=8, alpha=0.35, color="C0", linewidths=0, label="episode")
        ax.plot(episodes, moving_average(values, width), color="C1", linewidth=1.5,
                label=f"moving average ({width} episodes)")
        ax.set_ylabel(label)
        ax.grid(True, linewidth=0.3, alpha=0.5)
    greedy = np.array([r.get("greedy_ratio", math.nan) for r in curve], dtype=np.float64)
    shown = np.isfinite(greedy)
    if shown.any():
        ax_rel.plot(episodes[shown], greedy[shown], color="C2", marker="o", markersize=3, linewidth=1.2,
                    label="greedy policy on fixed training windows")
    ax_rel.axhline(1.0, color="0.4", linestyle="--", linewidth=1, label="FCFS on the same window(s)")
    both = np.concatenate([ratio, greedy])
    finite = both[np.isfinite(both) & (both > 0)]
    if finite.size and finite.max() > 10 * finite.min():
        ax_rel.set_yscale("log")
    ax_ret.legend(loc="lower right", fontsize=8)
    ax_rel.legend(loc="upper right", fontsize=8)
    ax_rel.set_xlabel("training episode (actions sampled from the policy)")
    fig.suptitle(title or f"Learning curve (reward {reward})")
    fig.tight_layout()
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=DPI, metadata=_PNG_METADATA)
    return write_bytes(buf.getvalue(), path)


__all__ = ["CURVE_CSV", "CURVE_PNG", "agent_document", "curve_table", "json_safe", "moving_average",
           "plot_learning_curve", "RELATIVE_METRIC", "save_agent"]
