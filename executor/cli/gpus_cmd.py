"""`gpusched gpus ...`: the GPU catalog, and which GPU type to buy for a workload.

`recommend` ranks GPU types for a trace: each job's speed on a type comes from
`simulator.gpu_speed` (a `gpusched profile` table where it covers the type and the job's
model family, else a roofline estimate from the catalog), how many GPUs a purchase budget
buys or a power envelope feeds, and from those the time, cost and energy per job and the
time to drain the trace's work. The ranking itself (`rank_gpus`) is plain data; the
command prints it with every assumption below the table.
"""

from __future__ import annotations

import csv
import enum
import io
import json
import math
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Any

import numpy as np
import typer

from executor.cli.common import TraceArg, TraceFormatOpt, info, load_trace, print_report_lines, user_errors
from traces.errors import UserError

app = typer.Typer(
    help="The GPU catalog (`list`) and a ranking of GPU types for a workload under a purchase budget or a "
    "power envelope (`recommend`).",
    no_args_is_help=True,
    context_settings={"help_option_names": ["-h", "--help"]},
)

HOURS_PER_YEAR = 24 * 365

CatalogOpt = Annotated[
    Path | None,
    typer.Option("--gpu-catalog", "--catalog", help="GPU catalog TOML that adds to or overrides the shipped one "
                 "(format: simulator/gpu_catalog.py).", show_default=False),
]


class ListFormat(enum.StrEnum):
    table = "table"
    csv = "csv"
    json = "json"


class Precision(enum.StrEnum):
    mixed = "mixed"
    fp32 = "fp32"


class CostBasis(enum.StrEnum):
    purchase = "purchase"
    cloud = "cloud"


class SortKey(enum.StrEnum):
    drain = "drain"
    time = "time"
    cost = "cost"
    energy = "energy"


_SORT_COLUMN = {SortKey.drain: "drain_h", SortKey.time: "time_per_job_h", SortKey.cost: "cost_per_job_usd",
                SortKey.energy: "energy_per_job_kwh"}

# ----- list ------------------------------------------------------------------------------------
LIST_COLUMNS: tuple[str, ...] = (
    "gpu_type", "vendor", "architecture", "year", "fp32_tflops", "tensor_tflops", "fp16_tflops", "vram_gib",
    "mem_bw_gbs", "tdp_w", "busy_w", "idle_w", "interconnect", "price_per_gpu_h", "price_date", "purchase_usd",
    "purchase_date", "aliases", "source",
)


def _load_catalog(path: Path | None) -> Any:
    from simulator.gpu_catalog import GpuCatalog, load_gpu_catalog

    return GpuCatalog.default() if path is None else load_gpu_catalog(path)


def catalog_rows(catalog: Any) -> list[dict[str, Any]]:
    """One dict per catalog entry (LIST_COLUMNS; None = unknown), by vendor, year and name."""
    rows = []
    for spec in catalog.specs:
        row = {c: getattr(spec, c, None) for c in LIST_COLUMNS}
        row["aliases"] = ";".join(spec.aliases)
        rows.append(row)
    return sorted(rows, key=lambda r: (r["vendor"] or "~", r["year"] or 0, r["gpu_type"].casefold()))


def _num(value: float | None, digits: int = 3) -> str:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "-"
    return f"{value:,.{digits}g}" if abs(value) < 10 ** digits else f"{value:,.0f}"


def _console() -> Any:
    from rich.console import Console

    console = Console()
    return console if console.is_terminal else Console(width=200)  # piped: do not squeeze the columns


@app.command("list")
@user_errors
def list_gpus(
    catalog: CatalogOpt = None,
    fmt: Annotated[ListFormat, typer.Option("--format", help="table (readable), csv or json (every field, "
                                            "with sources).")] = ListFormat.table,
) -> None:
    """List the GPU types of the catalog: peak TFLOPS, VRAM, memory bandwidth, power, prices.

    Unknown figures show as "-" (empty in CSV, null in JSON); each entry's `source` (CSV/JSON)
    says where its figures come from.

    Examples:

      gpusched gpus list

      gpusched gpus list --format csv > gpus.csv

      gpusched gpus list --catalog my_gpus.toml --format json
    """
    rows = catalog_rows(_load_catalog(catalog))
    if fmt is ListFormat.json:
        typer.echo(json.dumps(rows, indent=1, allow_nan=False))
        return
    if fmt is ListFormat.csv:
        buf = io.StringIO()
        writer = csv.writer(buf, lineterminator="\n")
        writer.writerow(LIST_COLUMNS)
        writer.writerows([["" if r[c] is None else r[c] for c in LIST_COLUMNS] for r in rows])
        typer.echo(buf.getvalue(), nl=False)
        return
    from rich.table import Table

    view = Table(title="GPU catalog (peak dense TFLOPS; tensor = FP16/BF16 on tensor/matrix cores)")
    heads = [("type", "gpu_type"), ("vendor", "vendor"), ("arch", "architecture"), ("year", "year"),
             ("FP32", "fp32_tflops"), ("tensor", "tensor_tflops"), ("FP16", "fp16_tflops"), ("VRAM GiB", "vram_gib"),
             ("mem GB/s", "mem_bw_gbs"), ("busy W", "busy_w"), ("idle W", "idle_w"), ("$/GPU-h", "price_per_gpu_h"),
             ("buy $", "purchase_usd"), ("interconnect", "interconnect")]
    text_cols = {"gpu_type", "vendor", "architecture", "interconnect", "year"}
    for head, col in heads:
        view.add_column(head, justify="left" if col in text_cols else "right")
    for r in rows:
        view.add_row(*[(str(r[c] or "-") if c in text_cols else _num(r[c], 4)) for _, c in heads])
    _console().print(view)
    typer.echo(f"{len(rows)} GPU types; sources per entry: gpusched gpus list --format csv (column source)")


# ----- recommend -------------------------------------------------------------------------------
@dataclass(frozen=True, slots=True)
class HostShare:
    """Each GPU's share of the server around it: purchase USD and watts (0: the GPUs alone)."""

    usd: float = 0.0
    w: float = 0.0

    def purchase_usd(self, spec: Any) -> float | None:
        return None if spec.purchase_usd is None else float(spec.purchase_usd) + self.usd

    def busy_w(self, spec: Any) -> float:
        return float(spec.busy_w) + self.w


@dataclass(frozen=True, slots=True)
class Envelope:
    """What limits the number of GPUs: a purchase budget (USD) or a power envelope (W)."""

    budget_usd: float | None = None
    power_w: float | None = None

    def gpus(self, spec: Any, host: HostShare) -> int | None:
        """GPUs of type `spec` (with their host share) within the envelope; None when its price is unknown."""
        each = host.purchase_usd(spec) if self.budget_usd is not None else host.busy_w(spec)
        limit = self.budget_usd if self.budget_usd is not None else self.power_w
        if each is None or each <= 0 or limit is None:
            return None
        return math.floor(limit / each + 1e-9)


@dataclass(frozen=True, slots=True)
class CostModel:
    """USD per GPU-hour of a running job: the cloud price (host included), or the purchase
    (GPU + host share) amortised plus electricity."""

    basis: CostBasis = CostBasis.purchase
    amortise_years: float = 3.0
    electricity_usd_per_kwh: float = 0.15

    def usd_per_gpu_h(self, spec: Any, host: HostShare) -> float:
        if self.basis is CostBasis.cloud:
            return math.nan if spec.price_per_gpu_h is None else float(spec.price_per_gpu_h)
        purchase = host.purchase_usd(spec)
        if purchase is None:
            return math.nan
        electricity = host.busy_w(spec) / 1000.0 * self.electricity_usd_per_kwh
        return purchase / (self.amortise_years * HOURS_PER_YEAR) + electricity


RANK_COLUMNS: tuple[str, ...] = (
    "rank", "gpu_type", "gpus", "spent_usd", "power_w", "speed", "time_per_job_h", "cost_per_job_usd",
    "energy_per_job_kwh", "ref_gpu_equiv", "drain_h", "jobs_per_day", "utilisation", "jobs_run", "jobs_over_vram",
    "jobs_too_wide", "provenance",
)


def job_families(workload: Any, families: Sequence[str]) -> list[str | None]:
    """Each job's model family (None: no model name, or one no family matches)."""
    from simulator.gpu_speed import family_of

    cat = workload.model_name
    by_code = [family_of(str(name), families) for name in cat.categories]
    return [None if c < 0 else by_code[c] for c in cat.codes.tolist()]


def rank_gpus(
    workload: Any,
    specs: Sequence[Any],
    table: Any,
    sources: Sequence[Any],
    envelope: Envelope,
    cost: CostModel,
    families: Sequence[str],
    sort: SortKey = SortKey.drain,
    host: HostShare = HostShare(),
) -> list[dict[str, Any]]:
    """One row per type (RANK_COLUMNS), best first by `sort` (unknown values last).

    Per job: speed factor of its family (unknown family: the type's geometric mean over all
    families), GPU-hours = GPUs x fraction x duration / factor. A job runs on a type when its
    gpu_mem_gib fits the VRAM, its family fits at all, and it is no wider than the GPUs bought.
    Per-job figures are means over the jobs that run; drain = their GPU-time / GPUs. Types
    that run more of the jobs rank first, then by `sort`.
    """
    fams = job_families(workload, families)
    # Each job's family as an index into `families`, -1 when unknown: factors are looked up per family.
    code = np.array([-1 if f is None else families.index(f) for f in fams], dtype=np.int64)
    dur = np.asarray(workload.duration_s, dtype=float)
    width = np.asarray(workload.num_gpus, dtype=float) * np.asarray(workload.gpu_frac, dtype=float)
    ref_gpu_s = dur * width
    mem = np.asarray(workload.gpu_mem_gib, dtype=float)
    span_s = float(workload.span_s)
    prov: dict[tuple[str, str], str] = {(s.gpu_type, s.family): s.provenance for s in sources}
    rows: list[dict[str, Any]] = []
    for spec in specs:
        t = spec.gpu_type
        lookup = np.array([table.by_model.get((t, f), math.nan) for f in families]
                          + [table.by_type.get(t, math.nan)])  # the last: unknown family
        factor = lookup[code]
        # over VRAM: a known gpu_mem_gib above a known VRAM (NaN compares false: fits), as fits_vram says
        over = mem > spec.vram_gib if spec.vram_gib is not None else np.zeros(len(mem), dtype=bool)
        fits = np.isfinite(factor) & ~over
        n = envelope.gpus(spec, host)
        wide = (np.asarray(workload.num_gpus) > n) & fits if n is not None else np.zeros(len(dur), dtype=bool)
        run = fits & ~wide
        gpu_h = np.where(run, ref_gpu_s / np.where(run, factor, 1.0), 0.0) / 3600.0
        k = int(run.sum())
        total_gpu_h = float(gpu_h.sum())
        mean_gpu_h = total_gpu_h / k if k else math.nan
        speed = float(ref_gpu_s[run].sum()) / 3600.0 / total_gpu_h if k else math.nan
        # n == 0 makes every job too wide, so k == 0 there: no division by zero GPUs below.
        drain_h = total_gpu_h / n if n is not None and k else math.nan
        ran = [f for f, r in zip(fams, run.tolist(), strict=True) if r]
        price = host.purchase_usd(spec)
        used = {f for f in ran if f is not None} | (set(families) if None in ran else set())
        rows.append({
            "rank": 0,
            "gpu_type": t,
            "gpus": n,
            "spent_usd": None if n is None or envelope.budget_usd is None or price is None else n * price,
            "power_w": None if n is None else n * host.busy_w(spec),
            "speed": speed,
            "time_per_job_h": float((dur[run] / factor[run]).mean() / 3600.0) if k else math.nan,
            "cost_per_job_usd": mean_gpu_h * cost.usd_per_gpu_h(spec, host),
            "energy_per_job_kwh": mean_gpu_h * host.busy_w(spec) / 1000.0,
            "ref_gpu_equiv": n * speed if n is not None and k else math.nan,
            "drain_h": drain_h,
            "jobs_per_day": k / drain_h * 24.0 if k and drain_h > 0 else math.nan,
            "utilisation": total_gpu_h * 3600.0 / span_s / n if n is not None and k and span_s > 0 else math.nan,
            "jobs_run": k,
            "jobs_over_vram": int((~fits).sum()),
            "jobs_too_wide": int(wide.sum()),
            "provenance": "+".join(sorted({prov[(t, f)] for f in used if (t, f) in prov})) or "-",
        })
    key = _SORT_COLUMN[sort]

    def order(row: dict[str, Any]) -> tuple[int, bool, float, str]:
        value = row[key]
        unknown = value is None or math.isnan(value)
        return (row["jobs_over_vram"] + row["jobs_too_wide"], unknown, 0.0 if unknown else value,
                row["gpu_type"].casefold())

    rows.sort(key=order)
    for i, row in enumerate(rows, start=1):
        row["rank"] = i
    return rows


def _positive(value: float | None, option: str, *, allow_zero: bool = False) -> None:
    if value is None:
        return
    if not math.isfinite(value) or value < 0 or (value == 0 and not allow_zero):
        raise UserError(f"{option} must be a finite number {'>= 0' if allow_zero else '> 0'}, got {value:g}")


def _out_format(out: Path) -> str:
    fmt = out.suffix.lower().lstrip(".")
    if fmt not in ("csv", "json"):
        raise UserError(f"--out: expected a file name ending in .csv or .json, got {out}")
    if out.is_dir():
        raise UserError(f"--out: {out} is a directory; expected a .csv or .json file name")
    if not out.parent.is_dir():
        raise UserError(f"--out: the folder {out.parent} does not exist")
    return fmt


def _types(names: str | None, catalog: Any, envelope: Envelope, reference: str, mixed: bool,
           profile_types: set[str]) -> tuple[list[Any], list[str]]:
    """The GPU specs to rank and notes on the types left out (only when not named by the user)."""
    from simulator.gpu_speed import missing_figures

    if names is not None:
        asked = [n.strip() for n in names.split(",") if n.strip()]
        if not asked:
            raise UserError("--gpu-types: expected GPU type names separated by commas, got nothing")
        unknown = catalog.unknown(asked)
        if unknown:
            raise UserError(f"--gpu-types: {', '.join(unknown)} not in the GPU catalog; it knows "
                            f"{', '.join(catalog.known_types)}")
        return list(dict.fromkeys(catalog.get(n) for n in asked)), []
    specs, left_out = [], []
    ref = catalog.get(reference)
    profiled = {spec.gpu_type for spec in map(catalog.get, profile_types) if spec is not None}
    for spec in catalog.specs:
        measured = spec is ref or spec.gpu_type in profiled
        missing = [] if measured else list(missing_figures(spec, mixed_precision=mixed))
        if envelope.budget_usd is not None and spec.purchase_usd is None:
            missing.append("purchase_usd")
        if missing:
            left_out.append(f"{spec.gpu_type} (no {', '.join(missing)})")
        else:
            specs.append(spec)
    if not left_out:
        return specs, []
    return specs, [f"left out for lack of catalog figures: {', '.join(left_out)}; add them with --catalog"]


def _profile_types(profile: Path | None) -> set[str]:
    """GPU types a profile table lists (for the default type selection only)."""
    if profile is None or profile.suffix.lower() == ".toml":
        return set()
    from traces.io import open_csv

    rows = open_csv(profile)
    if "gpu_type" not in rows.header:
        return set()
    col = rows.header.index("gpu_type")
    return {fields[col].strip() for _, fields in rows if len(fields) > col}


def assumptions(envelope: Envelope, cost: CostModel, host: HostShare, reference: str, mixed: bool,
                profile: Path | None, reserved_gib: float) -> list[str]:
    """What the ranking assumes, one line each (printed under the table)."""
    usd = f"(purchase_usd + {host.usd:,.0f} USD host share)" if host.usd else "purchase_usd"
    watts = f"(busy_w + {host.w:,.0f} W host share)" if host.w else "busy_w"
    if envelope.budget_usd is not None:
        gpus = f"GPUs = floor({envelope.budget_usd:,.0f} USD / {usd})"
        if not host.usd:
            gpus += ": the GPUs alone, no servers, network or storage (add them per GPU with --host-usd-per-gpu)"
    else:
        gpus = f"GPUs = floor({envelope.power_w:,.0f} W / {watts})"
        if not host.w:
            gpus += ": GPU board power alone, no servers or cooling (add them per GPU with --host-w-per-gpu)"
    if cost.basis is CostBasis.purchase:
        rate = (f"cost/job = GPU-hours x ({usd} / ({cost.amortise_years:g} y x 8760 h) + {watts} x "
                f"{cost.electricity_usd_per_kwh:g} USD/kWh)")
    else:
        rate = "cost/job = GPU-hours x the catalog's cloud on-demand price per GPU-hour (host included)"
    lines = [
        f"speed: per job, the factor of its model family vs {reference}"
        + (f"; measured (gpusched profile) where {profile} covers the type and family, else" if profile else ":")
        + " a roofline estimate min(peak, AI x memory bandwidth) from the catalog and "
        "simulator/data/model_families.toml (column provenance)",
        "precision: " + ("mixed (FP16/BF16; tensor/matrix-core peak for families that use them, where the type "
                         "has them)" if mixed else "FP32 (no tensor cores, no TF32)"),
        f"batch: each family's typical batch, capped by VRAM (weights + batch x activations + {reserved_gib:g} GiB "
        "reserved); a smaller batch lowers the arithmetic intensity",
        "not modelled: power/thermal clock limits, latency-bound kernels, caches, TF32, sparsity, FP8, software "
        "maturity (CUDA vs ROCm), multi-GPU scaling and the interconnect; a roofline is an upper bound, so only "
        "its ratios are used: measure with gpusched profile where it matters",
        gpus,
        "time/job = the job alone on the type: duration on the reference / speed; speed = the workload's "
        "reference GPU-hours / its GPU-hours on the type; ref GPUs = GPUs x speed",
        rate,
        f"energy/job = GPU-hours x {watts} (an upper bound: training draws below TDP on average)",
        "drain = all runnable jobs' GPU-hours / GPUs, perfectly packed: a lower bound with no queueing or "
        "fragmentation; util = that GPU-time per second of the trace's span (> 1: the GPUs cannot keep up "
        "with its arrivals)",
        "jobs run: gpu_mem_gib within VRAM (a job without gpu_mem_gib is assumed to fit), model family fits, "
        "no more GPUs than bought; per-job figures are over the jobs that run on that type, and types that run "
        "more of the jobs rank first",
    ]
    return lines


def _print_table(rows: list[dict[str, Any]], envelope: Envelope, reference: str, title: str) -> None:
    from rich.table import Table

    view = Table(title=title)
    heads: list[tuple[str, str, int]] = [
        ("#", "rank", 0), ("type", "gpu_type", 0), ("GPUs", "gpus", 0),
        ("spent $" if envelope.budget_usd is not None else "power W",
         "spent_usd" if envelope.budget_usd is not None else "power_w", 0),
        (f"speed vs {reference}", "speed", 3), ("h/job", "time_per_job_h", 3), ("$/job", "cost_per_job_usd", 3),
        ("kWh/job", "energy_per_job_kwh", 3), (f"{reference}-equiv", "ref_gpu_equiv", 3), ("drain h", "drain_h", 3),
        ("jobs/day", "jobs_per_day", 3), ("util", "utilisation", 2), ("jobs run", "jobs_run", 0),
        ("over VRAM", "jobs_over_vram", 0), ("too wide", "jobs_too_wide", 0), ("speed from", "provenance", 0),
    ]
    for head, col, _ in heads:
        view.add_column(head, justify="left" if col in ("gpu_type", "provenance") else "right")
    for r in rows:
        cells = []
        for _, col, digits in heads:
            value = r[col]
            if isinstance(value, str):
                cells.append(value)
            elif value is None:
                cells.append("-")
            elif digits == 0:
                cells.append(f"{value:,.0f}" if isinstance(value, float) else f"{value:,}")
            else:
                cells.append(_num(value, digits))
        view.add_row(*cells)
    _console().print(view)


@app.command("recommend")
@user_errors
def recommend(
    trace: TraceArg = None,
    trace_format: TraceFormatOpt = None,
    budget_usd: Annotated[
        float | None, typer.Option("--budget-usd", help="Purchase budget in USD: GPUs = budget / purchase_usd.",
                                   show_default=False)] = None,
    power_w: Annotated[
        float | None, typer.Option("--power-w", help="Power envelope in W: GPUs = power / busy_w.",
                                   show_default=False)] = None,
    gpu_types: Annotated[
        str | None, typer.Option("--gpu-types", help="Comma-separated GPU types to rank (default: every catalog "
                                 "type with the figures needed).", show_default=False)] = None,
    reference_type: Annotated[
        str, typer.Option("--reference-type", help="The GPU type the trace's durations were measured on.")
    ] = "V100",
    profile: Annotated[
        Path | None, typer.Option("--profile", help="A `gpusched profile` CSV (or speed table): measured factors "
                                  "win over the estimate where it covers a (type, model family).",
                                  show_default=False)] = None,
    catalog: CatalogOpt = None,
    precision: Annotated[Precision, typer.Option("--precision", help="Training precision.")] = Precision.mixed,
    cost_basis: Annotated[
        CostBasis, typer.Option("--cost-basis", help="Cost per GPU-hour: purchase (amortised + electricity) or "
                                "cloud (on-demand price).")] = CostBasis.purchase,
    amortise_years: Annotated[
        float, typer.Option("--amortise-years", help="Years a purchase is written off over (--cost-basis purchase).")
    ] = 3.0,
    electricity_usd_per_kwh: Annotated[
        float, typer.Option("--electricity-usd-per-kwh", help="Electricity price (--cost-basis purchase).")
    ] = 0.15,
    host_usd_per_gpu: Annotated[
        float, typer.Option("--host-usd-per-gpu", help="Each GPU's share of its server's price (e.g. a 20,000 USD "
                            "server for 8 GPUs: 2500); counts against --budget-usd and in the purchase cost.")
    ] = 0.0,
    host_w_per_gpu: Annotated[
        float, typer.Option("--host-w-per-gpu", help="Each GPU's share of its server's power (CPUs, fans, losses); "
                            "counts against --power-w and in energy.")
    ] = 0.0,
    sort: Annotated[SortKey, typer.Option("--sort", help="Rank by drain time, time, cost or energy per job.")
                    ] = SortKey.drain,
    explain: Annotated[bool, typer.Option("--explain", help="Also print each (type, family) factor and why.")
                       ] = False,
    out: Annotated[
        Path | None, typer.Option("--out", "-o", help="Also write the ranking to FILE (.csv or .json).",
                                  show_default=False)] = None,
) -> None:
    """Rank GPU types for a workload by time, cost and energy per job under a purchase budget
    (--budget-usd) or a power envelope (--power-w), with the assumptions printed below.

    Each job's speed on a type: its model family's factor vs --reference-type, measured where
    --profile covers it, else a roofline estimate (compute- or memory-bound by the family's
    arithmetic intensity, tensor cores only where the type has them, VRAM capping the batch).
    Jobs without a recognised model name get the type's geometric mean over the families.

    Examples:

      gpusched gpus recommend --budget-usd 250000

      gpusched gpus recommend trace.csv --power-w 20000 --gpu-types A100-80GB,H100,L4,RTX-4090

      gpusched gpus recommend --budget-usd 100000 --profile profile.csv --cost-basis cloud --out ranking.csv
    """
    from simulator.gpu_speed import ModelFamilies, speed_table

    if (budget_usd is None) == (power_w is None):
        raise UserError("give exactly one of --budget-usd USD or --power-w W")
    _positive(budget_usd, "--budget-usd")
    _positive(power_w, "--power-w")
    _positive(amortise_years, "--amortise-years")
    _positive(electricity_usd_per_kwh, "--electricity-usd-per-kwh", allow_zero=True)
    fmt = _out_format(out) if out is not None else None
    if profile is not None and not profile.is_file():
        raise UserError(f"--profile: no file at {profile}")
    _positive(host_usd_per_gpu, "--host-usd-per-gpu", allow_zero=True)
    _positive(host_w_per_gpu, "--host-w-per-gpu", allow_zero=True)
    envelope = Envelope(budget_usd, power_w)
    cost = CostModel(cost_basis, amortise_years, electricity_usd_per_kwh)
    host = HostShare(host_usd_per_gpu, host_w_per_gpu)
    mixed = precision is Precision.mixed
    cat = _load_catalog(catalog)
    ref = cat.get(reference_type)
    if ref is None:
        raise UserError(f"--reference-type: {reference_type!r} is not in the GPU catalog; it knows "
                        f"{', '.join(cat.known_types)}")
    specs, notes = _types(gpu_types, cat, envelope, ref.gpu_type, mixed, _profile_types(profile))
    if not specs:
        raise UserError("no GPU type left to rank: " + "; ".join(notes))
    fam_data = ModelFamilies.default()
    families = fam_data.names
    table, sources = speed_table([s.gpu_type for s in specs], cat, reference_type=ref.gpu_type, profile=profile,
                                 mixed_precision=mixed, family_data=fam_data)
    data = load_trace(trace, trace_format)
    print_report_lines(data.report.lines())
    wl = data.workload
    if len(wl) == 0:
        raise UserError("the trace has no jobs to rank GPU types for")
    rows = rank_gpus(wl, specs, table, sources, envelope, cost, families, sort, host)
    job_fams = job_families(wl, families)
    unknown = sum(f is None for f in job_fams)
    if unknown:
        notes.append(f"{unknown} of {len(wl)} jobs name no recognised model family (model_name empty or unknown): "
                     f"they get each type's geometric mean over the {len(families)} families")
    restricted = int((wl.gpu_types.codes >= 0).sum())
    if restricted:
        notes.append(f"{restricted} jobs are restricted to certain GPU types in the trace: ranked as if any "
                     "type would do")
    if any(r["gpus"] == 0 for r in rows):
        notes.append("a type with 0 GPUs costs more than the whole budget (or draws more than the envelope)")
    what = f"budget {budget_usd:,.0f} USD" if budget_usd is not None else f"power envelope {power_w:,.0f} W"
    title = f"GPU types for {len(wl):,} jobs, {what}: most jobs run first, then by {sort.value}"
    _print_table(rows, envelope, ref.gpu_type, title)
    typer.echo("Assumptions:")
    for line in assumptions(envelope, cost, host, ref.gpu_type, mixed, profile, fam_data.reserved_gib) + notes:
        typer.echo(f"  - {line}")
    if explain:
        typer.echo("Speed factors:")
        for s in sources:
            typer.echo(f"  {s.gpu_type:<12} {s.family:<12} {_num(s.factor, 3):>7}  {s.provenance}: {s.detail}")
    if out is not None and fmt is not None:
        _write(rows, out, fmt)
        info(f"wrote the ranking to {out}")


def _write(rows: list[dict[str, Any]], out: Path, fmt: str) -> None:
    import pyarrow as pa

    from simulator.results import write_table

    columns: dict[str, list[Any]] = {c: [r[c] for r in rows] for c in RANK_COLUMNS}
    types = {c: pa.float64() for c in RANK_COLUMNS}
    types.update({"rank": pa.int64(), "gpus": pa.int64(), "jobs_run": pa.int64(), "jobs_over_vram": pa.int64(),
                  "jobs_too_wide": pa.int64(), "gpu_type": pa.string(), "provenance": pa.string()})
    table = pa.table({c: pa.array(columns[c], type=types[c]) for c in RANK_COLUMNS})
    write_table(table, out, fmt)
