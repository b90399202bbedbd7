"""`gpusched execute`: replay a schedule with real TensorFlow/Keras training jobs."""

from __future__ import annotations

import enum
import json
from pathlib import Path
from typing import Annotated, Any

import typer

from executor.cli.common import ClusterFileOpt, SeedOpt, TraceFormatOpt, check_out_dir, info, user_errors
from executor.cli.profile_cmd import DEFAULT_OUT as DEFAULT_PROFILE
from traces.errors import TraceError, UserError


class Mode(enum.StrEnum):
    timed = "timed"
    order = "order"


def _schedule_source(schedule: Path) -> tuple[Path, dict[str, Any]]:
    """The schedule file and the predicted run's document (run.json / solve.json) when SCHEDULE is a folder."""
    if not schedule.exists():
        raise UserError(f"{schedule}: no such schedule file or folder")
    folder = schedule if schedule.is_dir() else schedule.parent
    doc: dict[str, Any] = {}
    for name in ("run.json", "solve.json"):
        if (folder / name).is_file():
            try:
                doc = json.loads((folder / name).read_text(encoding="utf-8"))
            except ValueError:
                raise UserError(f"{folder / name}: not valid JSON") from None
            doc["_kind"] = name
            break
    if schedule.is_dir():
        path = schedule / "schedule.csv"
        if not path.is_file():
            raise UserError(f"{schedule}: no schedule.csv in this folder (expected a simulate or solve output)")
        return path, doc
    return schedule, doc


def _label(doc: dict[str, Any], schedule: Path) -> str:
    if doc.get("_kind") == "run.json":
        return str(doc.get("config", {}).get("policy") or doc.get("run_id") or schedule.parent.name)
    if doc.get("_kind") == "solve.json":
        return f"solver:{doc.get('solver', 'unknown')}"
    return schedule.stem


def _trace_from_doc(doc: dict[str, Any]) -> list[Path] | None:
    paths = [Path(p) for p in doc.get("trace", []) if isinstance(p, str) and not p.startswith("sample:")]
    return paths if paths and all(p.is_file() for p in paths) else None


def _overrides(path: Path | None) -> dict[str, dict[str, object]]:
    """Per-job model choices: CSV job_id,model[,size][,batch_size] (empty cells keep the default)."""
    if path is None:
        return {}
    from traces.io import open_csv

    rows = open_csv(path)
    cols = rows.require_columns(["job_id"], "job overrides")
    known = [c for c in ("model", "size", "batch_size") if c in rows.header]
    if not known:
        raise TraceError(path, "no column to override", expected="model, size or batch_size",
                         found=",".join(rows.header))
    out: dict[str, dict[str, object]] = {}
    for row_no, fields in rows:
        job_id = fields[cols["job_id"]].strip() if len(fields) > cols["job_id"] else ""
        if not job_id:
            raise TraceError(path, row=row_no, field="job_id", expected="a job id", found="")
        entry: dict[str, object] = {}
        for name in known:
            i = rows.header.index(name)
            value = fields[i].strip() if i < len(fields) else ""
            if not value:
                continue
            if name != "model":
                if not value.isdigit() or int(value) < 1:
                    raise TraceError(path, row=row_no, field=name, expected="a whole number >= 1", found=value)
                entry[name] = int(value)
            else:
                entry[name] = value
        out[job_id] = entry
    return out


@user_errors
def execute(
    schedule: Annotated[Path, typer.Argument(help="A schedule file (schedule.csv of `simulate` or `solve`, long or "
                                            "per-segment form) or the output folder holding it.",
                                            show_default=False)],
    time_scale: Annotated[float, typer.Option("--time-scale", help="Wall seconds per trace second: 0.001 replays a "
                                              "trace hour in 3.6 s of real training.", show_default=False)],
    trace: Annotated[list[Path] | None, typer.Option("--trace", help="The trace the schedule was made from (submit "
                                                     "times, model names). Default: the one its run.json or "
                                                     "solve.json names, else the shipped sample.",
                                                     show_default=False)] = None,
    trace_format: TraceFormatOpt = None,
    profile: Annotated[Path, typer.Option("--profile", help="Steps/s table from `gpusched profile`: converts each "
                                          "job's work into training steps.")] = DEFAULT_PROFILE,
    out: Annotated[Path, typer.Option("--out", "-o", help="Folder for jobs.csv, segments.csv, execute.json and "
                                      "the per-segment records that make a rerun resume.")] = Path("gpusched-exec"),
    mode: Annotated[Mode, typer.Option("--mode", help="timed: start each segment at its scheduled time; order: "
                                       "as soon as the segments before it on its devices are done.")] = Mode.timed,
    cluster: ClusterFileOpt = None,
    gpu_type: Annotated[str | None, typer.Option("--gpu-type", help="GPU type of every scheduled device (default: "
                                                 "the profile's device type).", show_default=False)] = None,
    reference_type: Annotated[str | None, typer.Option("--reference-type", help="The profiled type the trace's "
                                                       "durations refer to (needed when the profile has several).",
                                                       show_default=False)] = None,
    jobs_file: Annotated[Path | None, typer.Option("--jobs", help="CSV of per-job choices: job_id,model,size,"
                                                   "batch_size (empty cells keep the defaults).",
                                                   show_default=False)] = None,
    batch_size: Annotated[int, typer.Option("--batch-size", help="Per-device batch size of every job.")] = 32,
    size: Annotated[int, typer.Option("--size", help="Model width multiplier of every job.")] = 1,
    backend: Annotated[str, typer.Option("--backend", help="Keras backend: tensorflow or jax.")] = "tensorflow",
    threads: Annotated[int | None, typer.Option("--threads", help="TensorFlow intra/inter-op threads per worker "
                                                "(default on CPU: 1, as `gpusched profile` measures).",
                                                show_default=False)] = None,
    precision: Annotated[str, typer.Option("--precision", help="float32, mixed_float16 or mixed_bfloat16.")] = (
        "float32"),
    memory_limit_gib: Annotated[float | None, typer.Option("--memory-limit-gib", help="Cap each GPU's memory "
                                                           "(TensorFlow logical device limit).",
                                                           show_default=False)] = None,
    ray: Annotated[str | None, typer.Option("--ray", help="Run the workers as Ray actors: `local` starts a private "
                                            "runtime on 127.0.0.1; an ADDRESS (host:port) joins a cluster.",
                                            show_default=False)] = None,
    calibrate: Annotated[Path | None, typer.Option("--calibrate", help="Also write the profile table with the "
                                                   "steps/s measured during this replay in place of the profiled "
                                                   "ones: pass it as --profile to the next replay (or as "
                                                   "--speed-table to simulate).", show_default=False)] = None,
    pin_cores: Annotated[bool | None, typer.Option("--pin-cores/--no-pin-cores", help="Pin each worker to its own "
                                                   "CPU core (round robin), as `gpusched profile` pins itself. "
                                                   "Default: on for local replays without GPUs.",
                                                   show_default=False)] = None,
    seed: SeedOpt = 0,
    progress: Annotated[bool | None, typer.Option("--progress/--no-progress", help="Progress bar on stderr "
                                                  "(default: when stderr is a terminal).",
                                                  show_default=False)] = None,
) -> None:
    """Replay a schedule for real: each job trains a Keras model on exactly the devices the schedule names.

    Every job's work (its reference duration x --time-scale) becomes training steps at the
    profiled steps/s of its model; warm workers (one per device, TensorFlow loaded and models
    built before the clock starts) run the segments at their scheduled times. On a machine
    without GPUs the CPU is split into one logical device per scheduled GPU (placement, gangs
    and multi-device jobs are real) and each worker is pinned to its own core, one TensorFlow
    thread, as `gpusched profile` measures; a gang runs on its first device's core. Results are written per segment
    as they finish: rerun the same command after a crash or kill -9 and it resumes.

    Examples:

      gpusched profile --out gpusched-profile.csv

      gpusched simulate trace.csv --nodes 1 --gpus-per-node 2 --policy fcfs --out pred

      gpusched execute pred --time-scale 0.001 --out meas

      gpusched compare pred meas --out cmp

      gpusched execute plan/schedule.csv --trace trace.csv --mode order --time-scale 0.01 --ray local
    """
    from executor.cli.common import load_trace, resolve_cluster
    from executor.cli.progress import DelayedProgress
    from executor.devices import DeviceSetup, detect_gpus, usable_cores
    from executor.execute import ExecOptions
    from executor.execute import execute as run_execute
    from executor.plan import make_plan
    from executor.pool import LocalPool
    from executor.profile import ProfileTable
    from simulator.schedule_io import read_schedule

    path, doc = _schedule_source(schedule)
    sched = read_schedule(path)
    trace_paths = trace or _trace_from_doc(doc)
    data = load_trace(trace_paths, trace_format)
    if not profile.is_file():
        raise UserError(f"{profile}: no profile table; run `gpusched profile --out {profile}` first "
                        "(or pass --profile FILE)")
    rates = ProfileTable.load(profile)
    types: dict[str, str] = {}
    if cluster is not None:
        c = resolve_cluster(cluster, None, 8, "V100", 32.0)
        types = {g.gpu_id: g.gpu_type for g in c.gpus()}
    plan = make_plan(sched, data.workload, rates, time_scale=time_scale,
                     gpu_types=types or ({g: gpu_type for a in sched.assignments for g in a.gpu_ids}
                                         if gpu_type else None),
                     reference_type=reference_type, batch_size=batch_size, size=size, seed=seed,
                     overrides=_overrides(jobs_file))
    gpus = detect_gpus() if ray is None else ()
    n = len(plan.gpu_ids)
    if gpus and n > len(gpus):
        raise UserError(f"the schedule uses {n} GPUs but this machine has {len(gpus)}; replay a smaller cluster "
                        "or spread the workers over machines with --ray ADDRESS")
    setup = DeviceSetup(backend=backend, logical_cpus=None if gpus else n,
                        memory_limit_gib=memory_limit_gib,
                        threads=threads if threads or gpus or backend != "tensorflow" else 1,
                        precision=precision)
    if pin_cores is None:
        pin_cores = not gpus and ray is None
    cores = usable_cores() if pin_cores else None
    if cores is not None and n > len(cores):
        info(f"note: {n} workers share {len(cores)} CPU core(s); jobs running at once slow each other down")
    out = check_out_dir(out)
    pool: Any
    if ray is not None:
        from executor.ray_pool import RayPool

        pool = RayPool(ray)
    else:
        pool = LocalPool()
    label = _label(doc, path)
    info(f"replaying {len(plan.jobs)} jobs on {n} device(s) ({'GPU' if gpus else 'logical CPU'}), "
         f"time scale {time_scale:g}: predicted makespan {plan.wall_s(max(j.predicted_end_s for j in plan.jobs)):.1f}"
         f" s of wall time")
    for note in plan.notes:
        info(f"note: {note}")
    options = ExecOptions(mode=mode.value, setup=setup, seed=seed, pin_cores=cores)
    try:
        with DelayedProgress("replay", enabled=progress, unit="segments done") as bar:
            result = run_execute(plan, out, pool, options, progress=bar,
                                 labels={"policy": label, "schedule": str(path),
                                         "trace": [str(p) for p in trace_paths] if trace_paths else ["sample"]})
    except KeyboardInterrupt:
        info(f"interrupted: finished segments are kept in {out}/records; rerun the same command to resume")
        raise
    counts = ", ".join(f"{v} {k}" for k, v in sorted(result.counts.items()))
    info(f"{len(plan.jobs)} jobs: {counts}; results in {out}/jobs.csv ({result.wall_s:.1f} s)")
    if result.resumed:
        info(f"resumed: {result.resumed} segment(s) were already done")
    if calibrate is not None:
        _calibrate(calibrate, rates, result.jobs, plan.reference_type or "", types, gpu_type, setup, out)


def _calibrate(path: Path, rates: Any, jobs: Any, reference: str, types: dict[str, str], gpu_type: str | None,
               setup: Any, out: Path) -> None:
    """The profile table with the rates measured during the replay in place of the profiled ones.

    Rates are written under the profiled device type they ran on, so `execute --profile FILE`
    converts work into steps at the speed jobs really had (contention included), and
    `simulate --speed-table FILE` reads it like any profile.
    """
    from executor.execute import calibration_rows
    from executor.profile import ProfileRow, ProfileTable

    measured = []
    def type_of(gpu_id: str) -> str:
        label = types.get(gpu_id) or gpu_type or reference
        return label if label in rates.types else reference

    for row in calibration_rows(jobs, type_of):
        measured.append(ProfileRow(
            gpu_type=row["gpu_type"], model_name=row["model_name"], batch_size=row["batch_size"],
            num_devices=row["num_devices"], steps_per_s=row["steps_per_s"], steps_per_s_std=row["steps_per_s_std"],
            repeats=row["repeats"], steps=row["steps"], warmup_steps=0, size=1, device_name=f"replay:{out.name}",
            device_mem_gib=None, backend=setup.backend, precision=setup.precision))
    if not measured:
        info("note: --calibrate: no job completed, so nothing was measured; no calibration written")
        return
    replaced = {r.key for r in measured}
    kept = tuple(r for r in rates.rows if r.key not in replaced)
    ProfileTable(kept + tuple(measured), str(path)).write(path)
    changes = []
    for r in measured:
        if rates.has(*r.key):
            changes.append(r.steps_per_s / rates.rate(*r.key) - 1.0)
    worst = max(changes, key=abs) if changes else 0.0
    info(f"calibration: {len(measured)} replay rate(s) written to {path} in place of the profiled ones "
         f"(largest change {worst:+.1%}); use it with --profile {path}")
