"""`gpusched profile`: measure training steps/s of the model families on this machine's devices."""

from __future__ import annotations

import enum
import os
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from executor.cli.common import SeedOpt, info, user_errors
from traces.errors import UserError

if TYPE_CHECKING:
    from executor.profile import ProfileRow

DEFAULT_OUT = Path("gpusched-profile.csv")
NOISY_SPREAD_FRAC = 0.10  # above this relative std a rate is flagged as noisy


class Backend(enum.StrEnum):
    tensorflow = "tensorflow"
    jax = "jax"


class Precision(enum.StrEnum):
    float32 = "float32"
    mixed_float16 = "mixed_float16"
    mixed_bfloat16 = "mixed_bfloat16"


def _items(values: list[str] | None, default: list[str]) -> list[str]:
    """A repeatable option that also takes comma lists: --x 1,2 --x 3 -> ["1", "2", "3"]."""
    items = [part.strip() for value in (values or default) for part in value.split(",")]
    return [i for i in items if i]


def _ints(flag: str, values: list[str] | None, default: str, low: int) -> tuple[int, ...]:
    out: list[int] = []
    for item in _items(values, [default]):
        try:
            number = int(item)
        except ValueError:
            number = low - 1
        if number < low:
            raise UserError(f"{flag}: expected whole numbers >= {low} separated by commas but found {item!r}")
        if number not in out:
            out.append(number)
    if not out:
        raise UserError(f"{flag}: expected at least one whole number")
    return tuple(out)


def _default_cache_dir() -> Path:
    return Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "gpusched"


@user_errors
def profile(
    models: Annotated[
        list[str] | None,
        typer.Option("--models", help="Model families, comma-separated or repeated: mlp, cnn, simple_rnn, lstm, gru, "
                     "gan, transfer (default: all).", show_default=False),
    ] = None,
    batch_size: Annotated[
        list[str] | None,
        typer.Option("--batch-size", help="Per-device batch size(s), comma-separated or repeated (default: 32).",
                     show_default=False),
    ] = None,
    size: Annotated[int, typer.Option("--size", help="Model width multiplier (hidden units and filters scale with it).")
                    ] = 1,
    gang_sizes: Annotated[
        list[str] | None,
        typer.Option("--gang-sizes", help="Numbers of devices to train on data-parallel (per-device batch fixed), "
                     "e.g. 1,2 (default: 1). On a CPU-only machine the CPU is split into logical devices.",
                     show_default=False),
    ] = None,
    devices: Annotated[
        list[str] | None,
        typer.Option("--devices", help="Indices of the devices to profile, one at a time; a gang of k starts at each "
                     "and takes the next k-1 (default: 0).", show_default=False),
    ] = None,
    gpu_type: Annotated[
        str | None,
        typer.Option("--gpu-type", help="Label of the rows, as the cluster and speed table name the type "
                     "(default: detected, \"CPU\" or the GPU model such as \"H100\").", show_default=False),
    ] = None,
    logical_cpus: Annotated[
        int | None,
        typer.Option("--logical-cpus", help="Split the CPU into this many logical devices (they share the cores; "
                     "default: as many as the gangs need).", show_default=False),
    ] = None,
    threads: Annotated[
        int | None,
        typer.Option("--threads", help="TensorFlow intra- and inter-op threads (default on a machine without "
                     "GPUs: 1, as each `gpusched execute` worker runs; else TensorFlow's choice).",
                     show_default=False),
    ] = None,
    memory_limit_gib: Annotated[
        float | None,
        typer.Option("--memory-limit-gib", help="Cap every GPU's memory (default: grow on demand).",
                     show_default=False),
    ] = None,
    precision: Annotated[Precision, typer.Option("--precision", help="Keras dtype policy.")] = Precision.float32,
    backend: Annotated[Backend, typer.Option("--backend", help="Keras backend.")] = Backend.tensorflow,
    warmup_steps: Annotated[
        int, typer.Option("--warmup-steps", help="Untimed steps first (tracing, compilation, caches).")
    ] = 5,
    steps: Annotated[int, typer.Option("--steps", help="Steps per timed repetition.")] = 50,
    repeats: Annotated[
        int, typer.Option("--repeats", help="Timed repetitions: the rate is their median, the spread their std.")
    ] = 5,
    concurrent: Annotated[
        int,
        typer.Option("--concurrent", help="Measure in N processes at once, one per CPU core, as a busy replay "
                     "runs (on CPU-only machines jobs slow each other down; a gang of k devices is measured "
                     "in N // k processes). 1: measure alone."),
    ] = 1,
    pin_cores: Annotated[
        bool | None,
        typer.Option("--pin-cores/--no-pin-cores", help="Run on one CPU core, as each `gpusched execute` worker "
                     "does (default: on for machines without GPUs).", show_default=False),
    ] = None,
    seed: SeedOpt = 0,
    cache_dir: Annotated[
        Path | None,
        typer.Option("--cache-dir", help="Where the transfer family keeps its base weights "
                     "(default: ~/.cache/gpusched).", show_default=False),
    ] = None,
    out: Annotated[Path, typer.Option("--out", "-o", help="The profile table (CSV) to write.")] = DEFAULT_OUT,
    append: Annotated[
        bool, typer.Option("--append", help="Add to an existing --out table (e.g. profiled on another machine); "
                           "rows for the same type, model, batch size and device are replaced.")
    ] = False,
    progress: Annotated[
        bool | None,
        typer.Option("--progress/--no-progress", help="Progress bar on stderr (default: when stderr is a terminal).",
                     show_default=False),
    ] = None,
) -> None:
    """Measure training steps/s of each model family on this machine's devices: the calibration table.

    For every model x batch size x gang size x device: build the model, train --warmup-steps
    untimed, then --repeats timed runs of --steps steps. The table (one row each, columns
    gpu_type, model_name, batch_size, num_devices, steps_per_s, steps_per_s_std, ...) tells the
    simulator how fast each type runs each model (`--speed-table`) and tells `gpusched execute`
    how many steps a job of a given length trains. Profile each machine under its own
    --gpu-type label and combine the tables with --append. The simulator divides each type's
    rate by the reference type's (V100, the type trace durations are measured on), so the
    table it reads needs rows labelled V100, the same models and batch sizes.

    Examples:

      gpusched profile --models mlp,cnn --steps 20 --repeats 3

      gpusched profile --gang-sizes 1,2 --batch-size 32,64 --out profile.csv

      gpusched profile --gang-sizes 1,2 --concurrent 2 --out profile.csv   (CPU-only: as a busy replay runs)

      gpusched profile --gpu-type V100 --out profile.csv

      gpusched profile --gpu-type A100 --out profile.csv --append

      gpusched simulate trace.csv --cluster cluster.toml --speed-table profile.csv
    """
    from executor.models import FAMILIES

    chosen = tuple(dict.fromkeys(_items(models, list(FAMILIES))))
    unknown = [m for m in chosen if m not in FAMILIES]
    if unknown or not chosen:
        raise UserError(f"--models: expected names from {', '.join(FAMILIES)} but found {(unknown or [''])[0]!r}")
    for flag, value, low in (("--size", size, 1), ("--warmup-steps", warmup_steps, 0), ("--steps", steps, 1),
                             ("--repeats", repeats, 1), ("--seed", seed, 0), ("--logical-cpus", logical_cpus, 1),
                             ("--threads", threads, 1), ("--concurrent", concurrent, 1)):
        if value is not None and value < low:
            raise UserError(f"{flag}: expected a whole number >= {low} but found {value}")
    if gpu_type is not None and (not gpu_type.strip() or "," in gpu_type):
        raise UserError(f"--gpu-type: expected a label without commas but found {gpu_type!r}")
    if out.is_dir():
        raise UserError(f"{out}: --out is a directory; give a file name such as {out / DEFAULT_OUT}")
    if not out.parent.is_dir():
        raise UserError(f"{out}: --out is in a folder that does not exist ({out.parent})")

    from executor.cli.progress import DelayedProgress
    from executor.devices import DeviceSetup, configure, detect_gpus, usable_cores
    from executor.profile import ProfileConfig, ProfileTable
    from executor.profile import profile as run_profile
    from traces.cluster import DEFAULT_GPU_TYPE

    config = ProfileConfig(
        models=chosen,
        batch_sizes=_ints("--batch-size", batch_size, "32", 1),
        gang_sizes=_ints("--gang-sizes", gang_sizes, "1", 1),
        devices=_ints("--devices", devices, "0", 0),
        size=size, warmup_steps=warmup_steps, steps=steps, repeats=repeats, seed=seed, gpu_type=gpu_type,
    )
    existing = ProfileTable.load(out) if append and out.exists() else None  # a bad table fails before the work
    if logical_cpus is None and config.devices_needed > 1:
        logical_cpus = config.devices_needed
    cpu_only = not detect_gpus()
    if threads is None and backend.value == "tensorflow" and cpu_only:
        threads = 1  # what each execute worker uses on CPU: profile and replay must run alike
    if pin_cores is None:
        pin_cores = cpu_only
    setup = DeviceSetup(backend=backend.value, logical_cpus=logical_cpus, threads=threads,
                        cpu_cores=usable_cores()[:1] if pin_cores else None,
                        memory_limit_gib=memory_limit_gib, precision=precision.value)
    with DelayedProgress("profiling", enabled=progress, unit="measurements") as bar:
        if concurrent > 1:
            from executor.profile_concurrent import profile_concurrently

            rows = profile_concurrently(config, setup, concurrent, cache_dir=cache_dir or _default_cache_dir(),
                                        progress=lambda done, total, _label: bar(done, total))
        else:
            keras = configure(setup)
            keras.utils.set_random_seed(seed)
            rows = run_profile(keras, config, cache_dir=cache_dir or _default_cache_dir(),
                               progress=lambda done, total, _label: bar(done, total))
    table = existing.merged(rows) if existing is not None else ProfileTable(rows, str(out))
    table.write(out)
    _print_summary(rows)
    noisy = [r for r in rows if r.spread_frac > NOISY_SPREAD_FRAC]
    if noisy:
        info(f"note: {len(noisy)} rate(s) vary by more than {NOISY_SPREAD_FRAC:.0%} across repeats; "
             "use more --steps or --repeats, or a quieter machine")
    info(f"wrote {len(table.rows)} row(s) to {out}; use it with: gpusched simulate --speed-table {out}")
    if DEFAULT_GPU_TYPE not in table.types:
        info(f"note: the simulator divides by the reference type {DEFAULT_GPU_TYPE}'s rates, which this table lacks: "
             f"profile the reference machine with --gpu-type {DEFAULT_GPU_TYPE} --append")


def _print_summary(rows: tuple[ProfileRow, ...]) -> None:
    """Steps/s +- std per measurement, as a table on stdout."""
    from rich.console import Console
    from rich.table import Table

    view = Table(show_edge=False, pad_edge=False)
    for name in ("type", "model", "batch", "devices", "steps/s", "± std", "spread"):
        view.add_column(name, justify="left" if name in ("type", "model", "devices") else "right")
    for r in rows:
        view.add_row(r.gpu_type, r.model_name, str(r.batch_size), r.device_name, f"{r.steps_per_s:,.1f}",
                     f"{r.steps_per_s_std:,.1f}", f"{100 * r.spread_frac:.1f} %")
    Console(width=max(100, Console().width)).print(view)
