"""The report's figures, drawn with matplotlib's object API on the Agg canvas and returned as PNG bytes.

As in `executor.plots`: no pyplot and no global backend switch, matplotlib imported inside the
functions (the CLI stays light until a report is asked for), and PNGs without software metadata so
the same input gives the same bytes. Every figure takes pre-reduced data (see `stats`): CDF points,
resampled timelines, bucket statistics, so drawing time does not grow with the number of jobs.
Runs keep one colour (C0, C1, ...) in every figure, in the order they are given.
"""

from __future__ import annotations

import io
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Literal

import numpy as np
import numpy.typing as npt

from executor.report.loaders import GpuBars
from executor.report.stats import Cdf, SizeStats, Timeline

FloatArray = npt.NDArray[np.float64]

DPI = 100
PNG_METADATA: dict[str, Any] = {"Software": None}
LOG_SPAN = 100.0  # log axes when positive values span more than this factor
SYMLOG_DECADES = 5
GANTT_LABEL_JOBS = 40  # job ids written on the bars up to this many jobs
GANTT_TICK_GPUS = 64  # every GPU named on the axis up to this many GPUs


def _figure(width: float, height: float, layout: Literal["constrained", "tight"] | None = None) -> Any:
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    fig = Figure(figsize=(width, height), dpi=DPI, layout=layout)
    FigureCanvasAgg(fig)
    return fig


def png_bytes(fig: Any) -> bytes:
    """The figure as PNG, without a software tag or timestamp: same figure, same bytes."""
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=DPI, metadata=PNG_METADATA)
    return buf.getvalue()


def time_unit(max_s: float) -> tuple[float, str]:
    """A readable unit for an axis whose values reach `max_s` seconds: (seconds per unit, name)."""
    if not math.isfinite(max_s) or max_s < 180:
        return 1.0, "s"
    if max_s < 3 * 3600:
        return 60.0, "min"
    if max_s < 3 * 86400:
        return 3600.0, "h"
    return 86400.0, "days"


def _set_scale(ax: Any, values: FloatArray, axis: str = "x") -> None:
    """Log scale when the positive values span more than `LOG_SPAN`; symlog when zeros are among them."""
    finite = values[np.isfinite(values)]
    positive = finite[finite > 0]
    if positive.size == 0 or float(positive.max()) <= float(positive.min()) * LOG_SPAN:
        return
    setter = ax.set_xscale if axis == "x" else ax.set_yscale
    if float(finite.min()) > 0:
        setter("log")
    else:
        # Zeros (e.g. jobs that never waited) sit in a linear stretch one decade wide below the log part,
        # which covers at most SYMLOG_DECADES decades so one tiny value does not squeeze the rest.
        # A power of ten, so the tick at the threshold sits a full decade from the one at 0.
        smallest = max(float(positive.min()), float(positive.max()) * 10.0**-SYMLOG_DECADES)
        linthresh = 10.0 ** math.floor(math.log10(smallest))
        setter("symlog", linthresh=linthresh, linscale=1.0)
        if float(finite.min()) == 0.0:  # nothing below 0: keep symlog's mirrored half off the axis
            if axis == "x":
                ax.set_xlim(left=0.0)
            else:
                ax.set_ylim(bottom=0.0, top=float(positive.max()) * 2.0)  # symlog adds no margin on top


def _no_data(ax: Any, text: str = "no data") -> None:
    ax.text(0.5, 0.5, text, ha="center", va="center", transform=ax.transAxes, color="0.4")


# ----- distributions ----------------------------------------------------------------------------
def cdf_figure(panels: Sequence[tuple[str, Mapping[str, Cdf]]]) -> bytes:
    """One panel per quantity (e.g. JCT, wait), one line per run or policy; median and p95 marked."""
    fig = _figure(5.2 * max(1, len(panels)), 4.2)
    axes = fig.subplots(1, max(1, len(panels)), squeeze=False)[0]
    for ax, (quantity, cdfs) in zip(axes, panels, strict=False):
        top = max((float(c.x[-1]) for c in cdfs.values() if c.n), default=math.nan)
        div, unit = time_unit(top)
        pooled: list[FloatArray] = []
        for i, (label, c) in enumerate(cdfs.items()):
            if not c.n:
                continue
            x = c.x / div
            # Start each line at p = 0 so a run whose values are all equal still shows a step.
            ax.step(np.concatenate([[x[0]], x]), np.concatenate([[0.0], c.p]), where="post",
                    color=f"C{i % 10}", linewidth=1.4, label=f"{label} (n={c.n:,})")
            pooled.append(x)
        if not pooled:
            _no_data(ax)
        else:
            _set_scale(ax, np.concatenate(pooled))
            for q, name in ((0.5, "median"), (0.95, "p95")):
                ax.axhline(q, color="0.5", linewidth=0.6, linestyle=":")
                ax.text(1.0, q, f" {name}", transform=ax.get_yaxis_transform(), fontsize=7, va="center",
                        color="0.35")
            ax.legend(loc="lower right", fontsize=7)
        ax.set_ylim(0.0, 1.02)
        ax.set_xlabel(f"{quantity} ({unit})")
        ax.set_ylabel("fraction of jobs  \u2264  x")
        ax.set_title(f"{quantity}: cumulative distribution", fontsize=10)
        ax.grid(True, which="both", linewidth=0.3, alpha=0.5)
    fig.tight_layout()
    return png_bytes(fig)


def wait_by_size_figure(runs: Sequence[tuple[str, Sequence[SizeStats]]]) -> bytes:
    """Per GPU-count bucket: mean wait as a bar per run, p95 wait as a marker above it."""
    buckets = list(dict.fromkeys(s.bucket for _, stats in runs for s in stats))
    order = {b: k for k, b in enumerate(_bucket_order(buckets))}
    buckets.sort(key=lambda b: order[b])
    fig = _figure(max(7.5, 1.1 * len(buckets) + 4.5), 4.2)
    ax = fig.add_subplot()
    top = max((s.p95_s for _, stats in runs for s in stats), default=math.nan)
    div, unit = time_unit(top)
    width = 0.8 / max(1, len(runs))
    for i, (label, stats) in enumerate(runs):
        xs = np.array([order[s.bucket] for s in stats], dtype=np.float64) - 0.4 + width * (i + 0.5)
        color = f"C{i % 10}"
        ax.bar(xs, [s.mean_s / div for s in stats], width=width * 0.92, color=color, label=label)
        ax.plot(xs, [s.p95_s / div for s in stats], linestyle="none", marker="v", color=color,
                markeredgecolor="k", markeredgewidth=0.5, markersize=6)
    if not buckets:
        _no_data(ax, "no job with a known GPU count and wait")
    ax.set_xticks(range(len(buckets)))
    ax.set_xticklabels([f"{b} GPU" + ("" if b == "1" else "s") for b in buckets])
    ax.set_xlabel("job size")
    ax.set_ylabel(f"wait ({unit})")
    ax.set_title("Wait by job size (bar: mean, triangle: p95)", fontsize=10)
    ax.grid(True, axis="y", linewidth=0.3, alpha=0.5)
    if runs and buckets:
        ax.legend(fontsize=7, loc="upper left", bbox_to_anchor=(1.01, 1.0))  # beside the bars, never over them
    fig.tight_layout()
    return png_bytes(fig)


def _bucket_order(buckets: Sequence[str]) -> list[str]:
    return sorted(buckets, key=lambda b: int(b.split("-")[0].rstrip("+")))


# ----- time -------------------------------------------------------------------------------------
def timeline_figure(runs: Sequence[tuple[str, Timeline]]) -> bytes:
    """Top: GPU utilisation (busy GPUs / the cluster's, or busy GPUs when the size is unknown);
    bottom: queued jobs (running jobs where a run has no queue, e.g. a solver's schedule)."""
    from matplotlib.ticker import MaxNLocator

    fig = _figure(11.0, 5.6)
    top, bottom = fig.subplots(2, 1, sharex=True)
    as_fraction = bool(runs) and all(t.total_gpus for _, t in runs)
    t_max = max((float(t.t_s[-1]) for _, t in runs if len(t.t_s)), default=math.nan)
    div, unit = time_unit(t_max)
    has_queue = any("queued_jobs" in t.series for _, t in runs)
    lower = "queued_jobs" if has_queue else "running_jobs"
    drawn = False
    for i, (label, t) in enumerate(runs):
        if not len(t.t_s):
            continue
        drawn = True
        x = t.t_s / div
        busy = t.series.get("busy_gpus")
        color = f"C{i % 10}"
        if busy is not None:
            y = 100.0 * busy / t.total_gpus if as_fraction and t.total_gpus else busy
            top.plot(x, y, drawstyle="steps-post", color=color, linewidth=0.9, label=label)
        lower_series = t.series.get(lower)
        if lower_series is not None:
            bottom.plot(x, lower_series, drawstyle="steps-post", color=color, linewidth=0.9, label=label)
    if not drawn:
        _no_data(top)
    elif len(runs) > 1:
        top.legend(fontsize=7, loc="upper right")
    top.set_ylabel("GPU utilisation (%)" if as_fraction else "busy GPUs")
    if as_fraction:
        top.set_ylim(0, 105)
    top.set_title("Utilisation and " + ("queue" if has_queue else "running jobs") + " over time", fontsize=10)
    bottom.set_ylabel("queued jobs" if has_queue else "running jobs")
    bottom.yaxis.set_major_locator(MaxNLocator(integer=True))
    bottom.set_xlabel(f"time ({unit}, trace clock)")
    for ax in (top, bottom):
        ax.grid(True, linewidth=0.3, alpha=0.5)
    fig.tight_layout()
    return png_bytes(fig)


def gpu_gantt_figure(bars: GpuBars, title: str) -> bytes:
    """One row per GPU, one bar per job segment on it, a colour per job (20 colours, cycled)."""
    from matplotlib import colormaps

    n_gpus = len(bars.gpu_ids)
    fig = _figure(11.0, min(24.0, max(2.6, 0.24 * n_gpus + 1.4)))
    ax = fig.add_subplot()
    if not len(bars.row):
        _no_data(ax, "no job ran")
    else:
        div, unit = time_unit(float(bars.end_s.max()))
        tab20 = colormaps["tab20"]
        # Dark shades of the ten hues first, then the light ones: neighbouring jobs differ in hue.
        colors = [tab20(((2 * j) % 20 + (j // 10) % 2) / 20 + 0.025) for j in bars.job]
        ax.barh(bars.row, (bars.end_s - bars.start_s) / div, left=bars.start_s / div, height=0.8, color=colors,
                edgecolor="k", linewidth=0.3)
        span = (float(bars.end_s.max()) - float(bars.start_s.min())) / div
        if len(bars.job_ids) <= GANTT_LABEL_JOBS and span > 0:
            for k in range(len(bars.row)):
                width = (bars.end_s[k] - bars.start_s[k]) / div
                if width > 0.05 * span:
                    ax.text(bars.start_s[k] / div + width / 2, bars.row[k], bars.job_ids[bars.job[k]][:12],
                            ha="center", va="center", fontsize=6, clip_on=True)
        ax.set_xlabel(f"time ({unit}, trace clock)")
    step = 1 if n_gpus <= GANTT_TICK_GPUS else math.ceil(n_gpus / GANTT_TICK_GPUS)
    ticks = list(range(0, n_gpus, step))
    ax.set_yticks(ticks)
    ax.set_yticklabels([bars.gpu_ids[k] for k in ticks], fontsize=7 if n_gpus > 24 else 8)
    ax.set_ylim(n_gpus - 0.5, -0.5)
    ax.set_ylabel("GPU")
    ax.set_title(title, fontsize=10, loc="left")
    ax.grid(True, axis="x", linewidth=0.3, alpha=0.5)
    fig.tight_layout()
    return png_bytes(fig)


# ----- sweeps -----------------------------------------------------------------------------------
@dataclass(frozen=True, slots=True)
class Heatmap:
    """One panel: `values[r, c]` for row label r and column label c (NaN: no run)."""

    title: str
    values: FloatArray


def heatmap_figure(panels: Sequence[Heatmap], rows: Sequence[str], cols: Sequence[str], *, row_name: str,
                   col_name: str, metric: str, seconds: bool) -> bytes:
    """Panels side by side on one colour scale (log when it spans > 100x), each cell written out."""
    from matplotlib.colors import LogNorm, Normalize

    n = max(1, len(panels))
    ncols = min(3, n)
    nrows = math.ceil(n / ncols)
    fig = _figure(max(5.0, (1.0 * len(cols) + 2.4)) * ncols + 1.0, max(2.8, 0.45 * len(rows) + 1.8) * nrows,
                  layout="constrained")  # room for the shared colour bar and every panel's labels
    axes = fig.subplots(nrows, ncols, squeeze=False).ravel()
    pooled = np.concatenate([p.values.ravel() for p in panels]) if panels else np.empty(0)
    finite = pooled[np.isfinite(pooled)]
    div, unit = time_unit(float(finite.max())) if seconds and finite.size else (1.0, "")
    lo = float(finite.min()) / div if finite.size else 0.0
    hi = float(finite.max()) / div if finite.size else 1.0
    norm: Any = LogNorm(vmin=lo, vmax=hi) if lo > 0 and hi > lo * LOG_SPAN else Normalize(vmin=lo, vmax=hi)
    image = None
    for ax, panel in zip(axes, panels, strict=False):
        values = panel.values / div
        masked = np.ma.masked_invalid(values)
        image = ax.imshow(masked, cmap="magma_r", norm=norm, aspect="auto")
        for (r, c), v in np.ndenumerate(values):
            text = "\u2013" if not math.isfinite(v) else _short_number(v)
            shade = norm(v) if math.isfinite(v) else 0.0
            ax.text(c, r, text, ha="center", va="center", fontsize=7,
                    color="white" if math.isfinite(shade) and shade > 0.55 else "black")
        ax.set_xticks(range(len(cols)))
        ax.set_xticklabels(cols, fontsize=8)
        ax.set_yticks(range(len(rows)))
        ax.set_yticklabels(rows, fontsize=8)
        ax.set_xlabel(col_name)
        ax.set_ylabel(row_name)
        ax.set_title(panel.title, fontsize=9)
    for ax in axes[len(panels):]:
        ax.set_axis_off()
    if image is not None:
        label = f"{metric} ({unit})" if unit else metric
        fig.colorbar(image, ax=list(axes[: len(panels)]), shrink=0.9, label=label)
    else:
        _no_data(axes[0])
    return png_bytes(fig)


def _short_number(v: float) -> str:
    a = abs(v)
    if a >= 1000:
        return f"{v:,.0f}"
    if a >= 10:
        return f"{v:.0f}"
    if a >= 1:
        return f"{v:.1f}"
    return f"{v:.2g}"


@dataclass(frozen=True, slots=True)
class TradeoffPanel:
    """Points of one panel: x (a wait), y (a cost), colour group, label; `front` marks the Pareto front."""

    title: str
    x: FloatArray
    y: FloatArray
    group: tuple[str, ...]
    label: tuple[str, ...]
    front: npt.NDArray[np.bool_]


def tradeoff_figure(panels: Sequence[TradeoffPanel], *, x_name: str, y_name: str, x_seconds: bool) -> bytes:
    """Cost against wait per configuration, one colour per group; the Pareto front joined and circled."""
    n = max(1, len(panels))
    ncols = min(3, n)
    nrows = math.ceil(n / ncols)
    fig = _figure(5.4 * ncols, 4.4 * nrows)
    axes = fig.subplots(nrows, ncols, squeeze=False).ravel()
    all_x = np.concatenate([p.x for p in panels]) if panels else np.empty(0)
    finite_x = all_x[np.isfinite(all_x)]
    div, unit = time_unit(float(finite_x.max())) if x_seconds and finite_x.size else (1.0, "")
    groups = list(dict.fromkeys(g for p in panels for g in p.group))
    for ax, p in zip(axes, panels, strict=False):
        x = p.x / div
        for gi, g in enumerate(groups):
            sel = np.array([pg == g for pg in p.group], dtype=bool) & np.isfinite(x) & np.isfinite(p.y)
            if sel.any():
                ax.scatter(x[sel], p.y[sel], s=28, color=f"C{gi % 10}", label=g, zorder=3, linewidths=0)
        if p.front.any():
            idx = np.flatnonzero(p.front)
            idx = idx[np.lexsort((p.y[idx], x[idx]))]
            ax.step(x[idx], p.y[idx], where="post", color="k", linewidth=1.0, linestyle="--", zorder=2,
                    label="Pareto front")
            ax.scatter(x[idx], p.y[idx], s=110, facecolors="none", edgecolors="k", linewidths=1.0, zorder=4)
            for k in idx[:15]:
                ax.annotate(p.label[k], (x[k], p.y[k]), textcoords="offset points", xytext=(5, 5), fontsize=6)
        else:
            _no_data(ax, "no configuration with both values")
        _set_scale(ax, x, "x")
        ax.set_xlabel(f"{x_name} ({unit})" if unit else x_name)
        ax.set_ylabel(y_name)
        ax.set_title(p.title, fontsize=9)
        ax.grid(True, which="both", linewidth=0.3, alpha=0.5)
        ax.legend(fontsize=7, loc="upper right")
    for ax in axes[len(panels):]:
        ax.set_axis_off()
    fig.tight_layout()
    return png_bytes(fig)


# ----- capacity ---------------------------------------------------------------------------------
@dataclass(frozen=True, slots=True)
class Curve:
    name: str
    x: FloatArray
    y: FloatArray
    dashed: bool = False


def capacity_figure(curves: Sequence[Curve], *, x_name: str, target_s: float | None,
                    answers: Mapping[str, float], target_label: str = "target") -> bytes:
    """Wait against cluster size from the probes; the target as a horizontal line, answers as vertical ones."""
    fig = _figure(8.0, 4.6)
    ax = fig.add_subplot()
    pooled = np.concatenate([c.y for c in curves] + ([np.array([target_s])] if target_s else [])) \
        if curves else np.empty(0)
    finite = pooled[np.isfinite(pooled)]
    div, unit = time_unit(float(finite.max())) if finite.size else (1.0, "s")
    for i, c in enumerate(curves):
        order = np.argsort(c.x, kind="stable")
        ax.plot(c.x[order], c.y[order] / div, marker="o", markersize=4, color=f"C{i % 10}", label=c.name,
                linestyle="--" if c.dashed else "-")
    if target_s is not None and math.isfinite(target_s):
        ax.axhline(target_s / div, color="k", linestyle="--", linewidth=1.0, label=target_label)
    for j, (name, value) in enumerate(answers.items()):
        if math.isfinite(value):
            ax.axvline(value, color=f"C{(len(curves) + j) % 10}", linestyle=":", linewidth=1.2,
                       label=f"{name}: {value:g} GPUs")
    if not curves:
        _no_data(ax, "no probes")
    else:
        _set_scale(ax, pooled / div, "y")
        ax.legend(fontsize=7)
    ax.set_xlabel(x_name)
    ax.set_ylabel(f"wait ({unit})")
    ax.set_title("Wait against cluster size (simulated probes)", fontsize=10)
    ax.grid(True, which="both", linewidth=0.3, alpha=0.5)
    fig.tight_layout()
    return png_bytes(fig)


__all__ = [
    "Curve",
    "Heatmap",
    "TradeoffPanel",
    "capacity_figure",
    "cdf_figure",
    "gpu_gantt_figure",
    "heatmap_figure",
    "png_bytes",
    "time_unit",
    "timeline_figure",
    "tradeoff_figure",
    "wait_by_size_figure",
]
