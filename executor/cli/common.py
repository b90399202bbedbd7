"""Shared CLI plumbing: one-line user errors (exit 2), trace and cluster options, output formats.

Commands are thin: they parse flags, call a pure library function, write results and print a
summary. Heavy libraries are imported inside commands so `gpusched --help` stays fast.
"""

from __future__ import annotations

import enum
import functools
import sys
from collections.abc import Callable, Sequence
from importlib import resources
from pathlib import Path
from typing import Annotated, Any, TypeVar

import typer

from traces.errors import UserError

F = TypeVar("F", bound=Callable[..., Any])

SAMPLE_TRACE_NAME = "itp-cluster05.csv"
# The sample (ITP cluster05: 3,629 jobs over 59 days, jobs of 1-8 GPUs) offers ~10 GPUs of load
# on average; 2 nodes x 8 GPUs keeps it busy (~63% utilised) but stable.
SAMPLE_NODES = 2
SAMPLE_GPUS_PER_NODE = 8


class OutFormat(enum.StrEnum):
    csv = "csv"
    parquet = "parquet"
    json = "json"


def sample_trace() -> Path:
    """The trace slice that ships inside the package (see traces/data/SOURCE.md)."""
    return Path(str(resources.files("traces") / "data" / SAMPLE_TRACE_NAME))


def fail(message: str) -> None:
    typer.echo(f"gpusched: error: {' '.join(message.split())}", err=True)
    raise typer.Exit(2)


def user_errors(func: F) -> F:
    """Turn a `UserError` into one line on stderr and exit status 2; anything else is a bug."""

    @functools.wraps(func)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return func(*args, **kwargs)
        except UserError as exc:
            fail(str(exc))
        except KeyboardInterrupt:
            typer.echo("gpusched: interrupted", err=True)
            raise typer.Exit(130) from None

    return wrapper  # type: ignore[return-value]


def info(message: str) -> None:
    """Progress and notes go to stderr so stdout stays clean for results."""
    typer.echo(message, err=True)


# ----- shared options -------------------------------------------------------------------------
TraceArg = Annotated[
    list[Path] | None,
    typer.Argument(
        help="Trace file(s): any supported format, plain or .gz (several only for formats that span "
        "files, e.g. ITP clusters). Default: the sample that ships with gpusched.",
        show_default=False,
    ),
]
TraceFormatOpt = Annotated[
    str | None,
    typer.Option("--trace-format", help="Force a trace format instead of detecting it from the header "
                 "(see `gpusched traces formats`).", show_default=False),
]
ClusterFileOpt = Annotated[
    Path | None,
    typer.Option("--cluster", help="Cluster TOML file ([[nodes]] tables with count, gpu_type, num_gpus, "
                 "gpu_mem_gib, rack).", show_default=False),
]
NodesOpt = Annotated[int | None, typer.Option("--nodes", help="Number of identical nodes.", show_default=False)]
GpusPerNodeOpt = Annotated[int, typer.Option("--gpus-per-node", help="GPUs per node (with --nodes).")]
GpuTypeOpt = Annotated[str, typer.Option("--gpu-type", help="GPU type of every node (with --nodes).")]
GpuMemOpt = Annotated[float, typer.Option("--gpu-mem-gib", help="Memory per GPU in GiB (with --nodes).")]
SeedOpt = Annotated[int, typer.Option("--seed", help="Seed for every random choice; same seed, same output.")]
FormatOpt = Annotated[OutFormat, typer.Option("--format", help="Format of the result tables.")]
CrossNodeSlowdownOpt = Annotated[
    float, typer.Option("--cross-node-slowdown", help="Run-time factor for a gang job spread over several nodes.")
]
SpeedTableOpt = Annotated[
    Path | None,
    typer.Option("--speed-table", help="GPU speed factors (TOML or CSV, or a `gpusched profile` table) relative "
                 "to a reference type; 'catalog' = the speed model per model family x GPU type estimated from the "
                 "GPU catalog (roofline, relative to V100; see `gpusched gpus recommend --explain`), "
                 "'catalog:PROFILE.csv' = measured where the profile has the type, else estimated "
                 "(default: every type runs at reference speed).", show_default=False),
]
GpuCatalogOpt = Annotated[
    Path | None,
    typer.Option("--gpu-catalog", help="GPU power, prices and specs (energy, cost) as TOML, e.g. \\[gpus.V100] "
                 "price_per_gpu_h = 2.48; it adds to or overrides the shipped catalog (see `gpusched gpus list`); "
                 "a new type needs busy_w and idle_w, the rest (price_per_gpu_h, purchase_usd, ...) is optional "
                 "(format: simulator/gpu_catalog.py).", show_default=False),
]


class CostBasis(enum.StrEnum):
    """How `cost_usd` is counted (`simulator.metrics`)."""

    cloud = "cloud"
    purchase = "purchase"


IdlePowerOffOpt = Annotated[
    float | None,
    typer.Option("--idle-power-off-s", help="Switch a GPU off once it has been idle this many seconds: it then "
                 "draws no power and is not billed (cloud basis) until its next job; 0 switches idle GPUs off at "
                 "once. Default: idle GPUs stay on at idle power.", show_default=False),
]
CostBasisOpt = Annotated[
    CostBasis,
    typer.Option("--cost-basis", help="How cost_usd is counted: 'cloud' = on-demand price per GPU-hour x "
                 "powered-on GPU-hours; 'purchase' = each GPU's purchase price written off over --amortise-years "
                 "for the run window, plus electricity (--electricity-usd-per-kwh) for the energy used."),
]
AmortiseYearsOpt = Annotated[
    float | None,
    typer.Option("--amortise-years", help="With --cost-basis purchase: years over which a GPU's purchase price "
                 "is written off, linearly, 24 x 365 h a year (default 3).", show_default=False),
]
ElectricityOpt = Annotated[
    float | None,
    typer.Option("--electricity-usd-per-kwh", help="With --cost-basis purchase: electricity price in USD per "
                 "kWh of GPU energy (default 0.15).", show_default=False),
]


def load_trace(paths: list[Path] | None, fmt: str | None) -> Any:
    """Read the given trace (or the shipped sample) and return its `TraceData`."""
    from traces.readers.registry import read_trace

    return read_trace(paths or [sample_trace()], fmt)


def trace_name(paths: list[Path] | None) -> str:
    """How errors and reports name the trace."""
    return ", ".join(str(p) for p in paths) if paths else f"sample {SAMPLE_TRACE_NAME}"


def resolve_cluster(
    cluster_file: Path | None,
    nodes: int | None,
    gpus_per_node: int,
    gpu_type: str,
    gpu_mem_gib: float,
    trace_cluster: Any = None,
) -> Any:
    """--cluster FILE, else --nodes flags, else the trace's own cluster, else the sample default."""
    from traces.cluster import Cluster, load_cluster_toml

    if cluster_file is not None and nodes is not None:
        raise UserError("give either --cluster FILE or --nodes N, not both")
    if cluster_file is not None:
        return load_cluster_toml(cluster_file)
    if nodes is not None:
        return Cluster.uniform(nodes, gpus_per_node, gpu_type, gpu_mem_gib)
    if trace_cluster is not None:
        return trace_cluster
    return Cluster.uniform(SAMPLE_NODES, gpus_per_node, gpu_type, gpu_mem_gib)


def print_report_lines(lines: list[str]) -> None:
    for line in lines:
        info(line)


# The document each command writes into its output folder (what `gpusched report` detects).
OUTPUT_DOCS = {"sweep": "sweep.json", "capacity": "capacity.json", "compare": "compare.json",
               "execute": "execute.json", "simulate": "run.json", "solve": "solve.json"}


def check_out_dir(out: Path, kind: str | None = None, *, refuse: tuple[str, ...] | None = None) -> Path:
    """`out` as an existing directory. With `kind`, a folder another command wrote (its document
    is there; `refuse`: only those commands') is refused rather than mixed with or overwritten."""
    if out.exists() and not out.is_dir():
        raise UserError(f"{out}: --out must be a directory, but a file is there")
    if kind is not None and out.is_dir():
        for other in refuse if refuse is not None else tuple(OUTPUT_DOCS):
            doc = OUTPUT_DOCS[other]
            if other != kind and (out / doc).is_file():
                raise UserError(f"{out}: holds the output of `gpusched {other}` ({doc}); writing `gpusched {kind}` "
                                f"results there would mix or overwrite them; give another --out")
    try:
        out.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise UserError(f"{out}: cannot create the output directory ({exc.strerror})") from None
    return out


def stdout_is_tty() -> bool:
    return sys.stdout.isatty()


def speed_table_for(value: Path | None, gpu_types: Sequence[str], workload: Any, catalog: Any) -> Any:
    """The `--speed-table` value as a speed table for a run of `workload` on these GPU types:
    a file, 'catalog[:PROFILE]' (the catalog's speed model, its notes printed), or None (all 1.0)."""
    from simulator.gpu_speed import catalog_speed_profile, workload_speed_table
    from simulator.speed import SpeedTable, load_speed_table

    use_catalog, profile = catalog_speed_profile(value)
    if use_catalog:
        table, notes = workload_speed_table(gpu_types, workload.model_name.categories, catalog, profile=profile)
        for note in notes:
            info(note)
        return table
    if value is None:
        reference_speed_note(gpu_types, catalog)
        return SpeedTable.reference()
    table = load_speed_table(value)
    table.check_types(gpu_types)
    return table


def reference_speed_note(gpu_types: Sequence[str], catalog: Any) -> None:
    """Say so when GPUs other than the reference type run at the trace's speed (no speed table)."""
    from simulator.gpu_catalog import GpuCatalog
    from traces.cluster import DEFAULT_GPU_TYPE

    catalog = catalog or GpuCatalog.default()
    ref = catalog.get(DEFAULT_GPU_TYPE)
    others = [t for t in dict.fromkeys(gpu_types) if catalog.get(t) is None or catalog.get(t) is not ref]
    if others:
        info(f"speeds: {', '.join(others)} run{'s' if len(others) == 1 else ''} the trace's durations as "
             f"recorded (no --speed-table); --speed-table catalog estimates each type's speed against "
             f"{DEFAULT_GPU_TYPE}")

