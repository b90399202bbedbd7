"""Figures of a predicted-versus-measured comparison: a JCT scatter and a Gantt chart, as PNG.

Drawn with matplotlib's object API on the Agg canvas (no pyplot, no global backend switch),
imported inside the functions so the light install and `gpusched --help` never load it. Times on
the axes are trace seconds. The PNGs carry no software/version metadata, so identical inputs give
identical bytes; files are written atomically (temporary file, then `os.replace`).
"""

from __future__ import annotations

import io
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from executor.compare import COMPLETED, Comparison
from simulator.atomic import write_bytes

GANTT_MAX_JOBS = 100
LOG_DECADES = 2.0  # log-log scatter when the JCTs span more than this many decades
DPI = 100
_PNG_METADATA: dict[str, Any] = {"Software": None}


def scatter_jct(comparisons: Sequence[Comparison], path: str | Path) -> Path:
    """Measured against predicted JCT of the compared jobs, one colour per label, with y = x."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    fig = Figure(figsize=(6.4, 6.0), dpi=DPI)
    FigureCanvasAgg(fig)
    ax = fig.add_subplot()
    values: list[np.ndarray[Any, np.dtype[np.float64]]] = []
    for i, c in enumerate(comparisons):
        frac = np.asarray(c.jobs.column("jct_err_frac").to_numpy(zero_copy_only=False), dtype=np.float64)
        keep = np.isfinite(frac)
        x = np.asarray(c.jobs.column("predicted_jct_s").to_numpy(zero_copy_only=False), dtype=np.float64)[keep]
        y = np.asarray(c.jobs.column("measured_jct_s").to_numpy(zero_copy_only=False), dtype=np.float64)[keep]
        ax.scatter(x, y, s=14, alpha=0.7, color=f"C{i % 10}", label=f"{c.label} ({len(x)} jobs)", linewidths=0)
        values.extend((x, y))
    pooled = np.concatenate(values) if values else np.empty(0)
    positive = pooled[pooled > 0]
    if positive.size:
        lo, hi = float(positive.min()), float(positive.max())
        pad = 0.0
        if use_log_scale(pooled):
            ax.set_xscale("log")
            ax.set_yscale("log")
        else:
            lo = min(0.0, float(pooled.min()))
            pad = (hi - lo) * 0.05
        ax.plot([lo - pad, hi + pad], [lo - pad, hi + pad], color="0.4", linestyle="--", linewidth=1, label="y = x")
        ax.legend(loc="upper left", fontsize=8)
    else:
        ax.text(0.5, 0.5, "no compared jobs", ha="center", va="center", transform=ax.transAxes)
    ax.set_xlabel("predicted JCT (trace s)")
    ax.set_ylabel("measured JCT (trace s)")
    ax.set_title("Measured vs predicted job completion time")
    ax.grid(True, which="both", linewidth=0.3, alpha=0.5)
    fig.tight_layout()
    return _save(fig, Path(path))


def use_log_scale(values: np.ndarray[Any, np.dtype[np.float64]]) -> bool:
    """Log axes when the positive values span more than `LOG_DECADES` decades (and none is <= 0)."""
    finite = values[np.isfinite(values)]
    if finite.size == 0 or float(finite.min()) <= 0:
        return False
    return float(finite.max()) > float(finite.min()) * 10**LOG_DECADES


def gantt(comparisons: Sequence[Comparison], path: str | Path, *, max_jobs: int = GANTT_MAX_JOBS) -> Path:
    """Per label a panel: per job a predicted bar above a measured bar, on one shared time axis.

    Jobs in the comparison's order (submit time, then id); only the first `max_jobs` per label
    are drawn, and the panel title says so. A measured bar whose status is not completed is grey
    and hatched; a tick marks each submit time.
    """
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure
    from matplotlib.patches import Patch

    if max_jobs < 1:
        raise ValueError(f"max_jobs must be >= 1, got {max_jobs}")
    shown = [min(c.jobs.num_rows, max_jobs) for c in comparisons] or [0]
    heights = [max(1.6, 0.13 * n + 0.9) for n in shown]
    fig = Figure(figsize=(11.0, sum(heights) + 0.3), dpi=DPI)
    FigureCanvasAgg(fig)
    axes = fig.subplots(len(heights), 1, sharex=True, squeeze=False, gridspec_kw={"height_ratios": heights})[:, 0]
    if not comparisons:
        axes[0].text(0.5, 0.5, "nothing to draw", ha="center", va="center", transform=axes[0].transAxes)
    for ax, c, n in zip(axes, comparisons, shown, strict=False):
        rows = c.jobs.slice(0, n).to_pydict()
        y = np.arange(n, dtype=np.float64)
        p_start = np.asarray(rows["predicted_start_s"], dtype=np.float64)
        p_end = np.asarray(rows["predicted_end_s"], dtype=np.float64)
        m_start = np.asarray(rows["measured_start_s"], dtype=np.float64)
        m_end = np.asarray(rows["measured_end_s"], dtype=np.float64)
        submit = np.asarray(rows["submit_s"], dtype=np.float64)
        done = np.array([s == COMPLETED for s in rows["status"]], dtype=bool)
        p_ok = np.isfinite(p_start) & np.isfinite(p_end)
        ax.barh(y[p_ok] - 0.2, (p_end - p_start)[p_ok], left=p_start[p_ok], height=0.38, color="C0")
        m_ok = np.isfinite(m_start) & np.isfinite(m_end)
        ok = m_ok & done
        ax.barh(y[ok] + 0.2, (m_end - m_start)[ok], left=m_start[ok], height=0.38, color="C1")
        bad = m_ok & ~done
        if bad.any():
            ax.barh(y[bad] + 0.2, (m_end - m_start)[bad], left=m_start[bad], height=0.38, color="0.7",
                    hatch="///", edgecolor="0.3", linewidth=0.3)
        has_submit = np.isfinite(submit)
        ax.plot(submit[has_submit], y[has_submit], linestyle="none", marker="|", markersize=5, color="k")
        ax.set_yticks(y)
        ax.set_yticklabels([_short_id(j) for j in rows["job_id"]], fontsize=6 if n > 40 else 8)
        ax.set_ylim(n - 0.4, -0.6)  # first job on top
        total = c.jobs.num_rows
        title = f"{c.label}: {total} jobs" if n == total else f"{c.label}: first {n} of {total} jobs (by submit time)"
        ax.set_title(title, fontsize=10, loc="left")
        ax.grid(True, axis="x", linewidth=0.3, alpha=0.5)
    axes[-1].set_xlabel("time (trace s)")
    legend = [Patch(color="C0", label="predicted"), Patch(color="C1", label="measured (completed)"),
              Patch(facecolor="0.7", hatch="///", edgecolor="0.3", label="measured (not completed)")]
    axes[0].legend(handles=legend, loc="upper right", fontsize=7)
    fig.tight_layout()
    return _save(fig, Path(path))


def _short_id(job_id: str, limit: int = 14) -> str:
    return job_id if len(job_id) <= limit else job_id[: limit - 1] + "\u2026"


def _save(fig: Any, path: Path) -> Path:
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=DPI, metadata=_PNG_METADATA)
    return write_bytes(buf.getvalue(), path)


__all__ = ["GANTT_MAX_JOBS", "gantt", "scatter_jct", "use_log_scale"]
