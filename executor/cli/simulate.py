"""`gpusched simulate`: replay a trace on a modelled GPU cluster under a policy and report what happens."""

from __future__ import annotations

import dataclasses
import enum
import math
import time
from pathlib import Path
from typing import Annotated, Any

import typer

from executor.cli.common import (
    AmortiseYearsOpt,
    ClusterFileOpt,
    CostBasis,
    CostBasisOpt,
    CrossNodeSlowdownOpt,
    ElectricityOpt,
    FormatOpt,
    GpuCatalogOpt,
    GpuMemOpt,
    GpusPerNodeOpt,
    GpuTypeOpt,
    IdlePowerOffOpt,
    NodesOpt,
    OutFormat,
    SeedOpt,
    SpeedTableOpt,
    TraceArg,
    TraceFormatOpt,
    check_out_dir,
    info,
    load_trace,
    print_report_lines,
    reference_speed_note,
    resolve_cluster,
    speed_table_for,
    trace_name,
    user_errors,
)
from traces.errors import UserError


class ScheduleMode(enum.StrEnum):
    """How `--policy schedule` replays the file (see `simulator.policies.schedule`)."""

    order = "order"
    timed = "timed"


def _schedule_params(policy: str, schedule: Path | None, mode: ScheduleMode | None) -> dict[str, str]:
    """`--schedule`/`--schedule-mode` as the `schedule` policy's parameters (they go with that policy only)."""
    if policy != "schedule":
        for flag, value in (("--schedule", schedule), ("--schedule-mode", mode)):
            if value is not None:
                raise UserError(f"{flag} applies only to --policy schedule, not {policy}")
        return {}
    if schedule is None:
        raise UserError("--policy schedule needs --schedule FILE (a schedule file, e.g. a run's schedule.csv)")
    return {"schedule": str(schedule), "mode": (mode or ScheduleMode.order).value}


def _durations(durations: str | None, estimates: str | None) -> str:
    """`--durations` (or its old name `--estimates`) checked; a model file is loaded now, before the trace."""
    from simulator.estimates import EstimateSpec

    if durations is not None and estimates is not None and durations != estimates:
        raise UserError(f"--estimates is the old name of --durations: give one, not both "
                        f"(found --durations {durations} and --estimates {estimates})")
    text = durations if durations is not None else estimates if estimates is not None else "actual"
    spec = EstimateSpec.parse(text)
    if spec.kind == "predicted":
        from simulator.predict import load_model

        model = load_model(spec.path)
        info(f"durations: policies see the predictions of {spec.path} ({model.kind}, trained on "
             f"{model.training.get('trace') or '?'})")
    return text


def _pairs(flag: str, values: list[str] | None) -> dict[str, str]:
    """`NAME=VALUE` flags as a mapping; a value without `=` is a user error."""
    out: dict[str, str] = {}
    for text in values or []:
        name, sep, value = text.partition("=")
        if not sep or not name.strip():
            raise UserError(f"{flag}: expected NAME=VALUE but found {text!r}")
        out[name.strip()] = value.strip()
    return out


@user_errors
def simulate(
    trace: TraceArg = None,
    trace_format: TraceFormatOpt = None,
    cluster: ClusterFileOpt = None,
    nodes: NodesOpt = None,
    gpus_per_node: GpusPerNodeOpt = 8,
    gpu_type: GpuTypeOpt = "V100",
    gpu_mem_gib: GpuMemOpt = 32.0,
    policy: Annotated[
        str, typer.Option("--policy", help="Queueing policy (registry key): fcfs, sjf, sjf-estimate, srtf, "
                          "qssf, priority, priority-preemptive, las, las-2d, easy-backfill, fair-share, themis, "
                          "cpsat-rolling, schedule, rl:AGENT (a trained agent directory, `gpusched rl train`), "
                          "... (an unknown key lists them all).")
    ] = "fcfs",
    policy_param: Annotated[
        list[str] | None,
        typer.Option("--policy-param", help="A policy parameter as NAME=VALUE, repeatable "
                     "(e.g. --policy las --policy-param quantum_gpu_s=600).", show_default=False),
    ] = None,
    placement: Annotated[
        str, typer.Option("--placement", help="Placement (registry key): pack, spread, best-fit, random, topology.")
    ] = "pack",
    placement_param: Annotated[
        list[str] | None,
        typer.Option("--placement-param", help="A placement parameter as NAME=VALUE, repeatable "
                     "(e.g. --placement topology --placement-param max_consolidation_wait_s=600).",
                     show_default=False),
    ] = None,
    cross_node_slowdown: CrossNodeSlowdownOpt = 1.0,
    restart_overhead_s: Annotated[
        float, typer.Option("--restart-overhead-s", help="Non-productive seconds at the start of each restart.")
    ] = 0.0,
    checkpoint_interval_s: Annotated[
        float | None,
        typer.Option("--checkpoint-interval-s", help="Checkpoint interval: a stopped job keeps its work up to "
                     "the last checkpoint (default: it loses nothing).", show_default=False),
    ] = None,
    speed_table: SpeedTableOpt = None,
    gpu_catalog: GpuCatalogOpt = None,
    idle_power_off_s: IdlePowerOffOpt = None,
    cost_basis: CostBasisOpt = CostBasis.cloud,
    amortise_years: AmortiseYearsOpt = None,
    electricity_usd_per_kwh: ElectricityOpt = None,
    node_mtbf_s: Annotated[
        float | None,
        typer.Option("--node-mtbf-s", help="Mean time between failures of each node (default: no failures).",
                     show_default=False),
    ] = None,
    node_mttr_s: Annotated[float, typer.Option("--node-mttr-s", help="Mean time to repair a failed node.")] = 3600.0,
    admission: Annotated[
        str, typer.Option("--admission", help="Admission control: accept-all, load, wait-slo.")
    ] = "accept-all",
    admission_load_factor: Annotated[
        float | None,
        typer.Option("--admission-load-factor", help="With --admission load: defer jobs while the queued GPU "
                     "demand exceeds this multiple of the cluster (default 2).", show_default=False),
    ] = None,
    admission_wait_slo_s: Annotated[
        float | None,
        typer.Option("--admission-wait-slo-s", help="With --admission wait-slo: reject jobs whose predicted "
                     "wait exceeds this many seconds.", show_default=False),
    ] = None,
    durations: Annotated[
        str | None,
        typer.Option("--durations", help="The durations policies believe (sjf, srtf, qssf, easy-backfill order "
                     "by them): actual (an oracle), noisy:SIGMA (times a lognormal error) or predicted:MODEL (a "
                     "model file from `gpusched predict train`); default: actual.", show_default=False),
    ] = None,
    estimates: Annotated[
        str | None, typer.Option("--estimates", hidden=True, help="Old name of --durations.")
    ] = None,
    schedule: Annotated[
        Path | None,
        typer.Option("--schedule", help="With --policy schedule: the schedule file to replay (schedule.csv of a "
                     "run or a solver; also .parquet, .json).", show_default=False),
    ] = None,
    schedule_mode: Annotated[
        ScheduleMode | None,
        typer.Option("--schedule-mode", help="With --policy schedule: 'order' starts each job on its GPUs as soon "
                     "as those are free and the jobs before it have started; 'timed' also waits for the file's "
                     "start time [default: order].", show_default=False),
    ] = None,
    seed: SeedOpt = 0,
    out: Annotated[Path, typer.Option("--out", "-o", help="Directory for the result tables.")] = Path("gpusched-out"),
    fmt: FormatOpt = OutFormat.csv,
    progress: Annotated[
        bool | None,
        typer.Option("--progress/--no-progress", help="Progress bar on stderr for runs over a second "
                     "(default: on when stderr is a terminal)."),
    ] = None,
) -> None:
    """Replay a trace through the simulator and write jobs, segments, summary, timeline and schedule tables.

    With no arguments it runs the sample trace that ships with gpusched (Microsoft ITP cluster05,
    3.6k jobs) on 2 nodes x 8 V100 GPUs under FCFS and writes ./gpusched-out/.

    Examples:

      gpusched simulate

      gpusched simulate ../shared/traces/philly-pollux/philly.csv --nodes 80 --gpus-per-node 8 --policy sjf

      gpusched simulate --policy las --restart-overhead-s 30 --checkpoint-interval-s 600 --node-mtbf-s 864000

      gpusched simulate trace.parquet --cluster cluster.toml --out results/ --format parquet

      gpusched simulate --policy schedule --schedule gpusched-out/schedule.csv --schedule-mode timed --out replay/

      gpusched simulate --gpu-type A100 --idle-power-off-s 600 --cost-basis purchase --amortise-years 4

      gpusched simulate trace.csv --policy sjf --durations predicted:model.json  (model: `gpusched predict train`)

      gpusched simulate trace.csv --policy rl:agent/  (agent: `gpusched rl train`)
    """
    import solvers.rolling  # noqa: F401  (registers the cpsat-rolling policy)
    from executor.cli.progress import DelayedProgress
    from simulator.admission import ADMISSIONS
    from simulator.cluster import check_fits
    from simulator.gpu_catalog import GpuCatalog, load_gpu_catalog
    from simulator.gpu_speed import catalog_speed_profile
    from simulator.placement import PLACEMENTS
    from simulator.policies import POLICIES, split_policy
    from simulator.results import write_json, write_results
    from simulator.run import SimConfig, speed_fn
    from simulator.run import simulate as run_simulation
    from simulator.speed import SpeedTable, load_speed_table
    from simulator.validate import check, summarize

    if policy.partition(":")[0] not in POLICIES:
        raise UserError(f"--policy: expected one of {', '.join(POLICIES)} but found {policy!r}")
    policy_key, policy_arg = split_policy(policy)  # "rl:AGENT" -> ("rl", {"agent": "AGENT"})
    for flag, value, registry in (("--policy", policy_key, POLICIES), ("--placement", placement, PLACEMENTS),
                                  ("--admission", admission, ADMISSIONS)):
        if value not in registry:
            raise UserError(f"{flag}: expected one of {', '.join(registry)} but found {value!r}")
    admission_params: dict[str, float] = {}
    for flag, value, key, name in (
        ("--admission-load-factor", admission_load_factor, "load", "factor"),
        ("--admission-wait-slo-s", admission_wait_slo_s, "wait-slo", "slo_s"),
    ):
        if value is not None:
            if admission != key:
                raise UserError(f"{flag} applies only to --admission {key}, not {admission}")
            admission_params[name] = value
    for purchase_flag, given in (("--amortise-years", amortise_years),
                                 ("--electricity-usd-per-kwh", electricity_usd_per_kwh)):
        if given is not None and cost_basis != CostBasis.purchase:
            raise UserError(f"{purchase_flag} applies only to --cost-basis purchase, not {cost_basis.value}")
    estimates = _durations(durations, estimates)
    out = check_out_dir(out, "simulate", refuse=("sweep", "capacity"))
    t0 = time.perf_counter()
    use_catalog_speed, _ = catalog_speed_profile(speed_table)
    table = (load_speed_table(speed_table) if speed_table is not None and not use_catalog_speed
             else SpeedTable.reference())
    catalog = load_gpu_catalog(gpu_catalog) if gpu_catalog is not None else GpuCatalog.default()
    config = SimConfig(
        policy=policy_key,
        placement=placement,
        seed=seed,
        cross_node_slowdown=cross_node_slowdown,
        policy_params={**policy_arg, **_pairs("--policy-param", policy_param),
                       **_schedule_params(policy_key, schedule, schedule_mode)},
        placement_params=_pairs("--placement-param", placement_param),
        restart_overhead_s=restart_overhead_s,
        checkpoint_interval_s=checkpoint_interval_s,
        speed_table=table,
        gpu_catalog=catalog,
        node_mtbf_s=node_mtbf_s,
        node_mttr_s=node_mttr_s,
        admission=admission,
        admission_params=admission_params,
        estimates=estimates,
        idle_power_off_s=idle_power_off_s,
        cost_basis=cost_basis.value,
        amortise_years=3.0 if amortise_years is None else amortise_years,
        electricity_usd_per_kwh=0.15 if electricity_usd_per_kwh is None else electricity_usd_per_kwh,
    )
    # A cluster given by the user is checked before the (possibly long) trace read.
    given = resolve_cluster(cluster, nodes, gpus_per_node, gpu_type, gpu_mem_gib) if cluster or nodes else None
    if given is not None and not use_catalog_speed:
        table.check_types(given.gpu_types)
    data = load_trace(trace, trace_format)
    print_report_lines(data.report.lines())
    cl = given or resolve_cluster(None, None, gpus_per_node, gpu_type, gpu_mem_gib, data.cluster)
    info(f"cluster: {cl.describe()}; policy {policy}, placement {placement}, admission {admission}, seed {seed}")
    check_fits(data.workload, cl, source=trace_name(trace))
    if use_catalog_speed:
        table = speed_table_for(speed_table, cl.gpu_types, data.workload, catalog)
        config = dataclasses.replace(config, speed_table=table)
    elif speed_table is None:
        reference_speed_note(cl.gpu_types, catalog)
    with DelayedProgress(f"{policy}/{placement}", progress) as bar:
        result = run_simulation(data.workload, cl, config, progress=bar)
    violations = check(result.schedule, data.workload, cl, speed=speed_fn(table))
    if violations:
        # The engine produced an invalid schedule: a bug, not a user error.
        raise RuntimeError("the simulator produced an invalid schedule:\n" + summarize(violations))
    write_results(result, out, fmt.value)
    run_info = {
        "trace": [str(p) for p in (trace or [])] or ["sample: traces/data/itp-cluster05.csv"],
        "run_id": result.config.run_id,
        "trace_rows_read": data.report.rows_read,
        "trace_rows_skipped": {r.reason: r.count for r in data.report.reasons},
        "cluster": cl.describe(),
        "config": {
            "policy": policy,
            "policy_params": dict(config.policy_params),
            "placement": placement,
            "placement_params": dict(config.placement_params),
            "seed": seed,
            "cross_node_slowdown": cross_node_slowdown,
            "restart_overhead_s": restart_overhead_s,
            "checkpoint_interval_s": checkpoint_interval_s,
            "speed_table": str(speed_table) if speed_table is not None else None,
            "gpu_catalog": str(gpu_catalog) if gpu_catalog is not None else None,
            "node_mtbf_s": node_mtbf_s,
            "node_mttr_s": node_mttr_s,
            "admission": admission,
            "admission_params": admission_params,
            "estimates": estimates,
            "idle_power_off_s": config.idle_power_off_s,
            "cost_basis": config.cost_basis,
            "amortise_years": config.amortise_years,
            "electricity_usd_per_kwh": config.electricity_usd_per_kwh,
        },
        "notes": list(result.notes),
        "validation": "0 violations",
    }
    write_json(run_info, out / "run.json")
    info(f"simulated {len(data.workload)} jobs in {time.perf_counter() - t0:.2f} s")
    _print_summary(result, out)


def _print_summary(result: Any, out: Path) -> None:
    table = result.summary
    summary = dict(zip(table.column("metric").to_pylist(), table.column("value").to_pylist(), strict=True))
    rows = [
        ("jobs", f"{summary['num_jobs']:.0f}"),
        ("mean JCT", _h(summary["mean_jct_s"])),
        ("p95 JCT", _h(summary["p95_jct_s"])),
        ("mean wait", _h(summary["mean_wait_s"])),
        ("p95 wait", _h(summary["p95_wait_s"])),
        ("mean slowdown", f"{summary['mean_slowdown']:.2f}"),
        ("bounded slowdown", f"{summary['mean_bounded_slowdown']:.2f}"),
        ("GPU utilisation", f"{100 * summary['gpu_utilisation']:.1f} %"),
        ("makespan", _h(summary["makespan_s"])),
        ("energy", _energy(summary)),
        ("cost", _cost(summary, result.config)),
    ]
    if result.config.idle_power_off_s is not None:
        rows.append(("GPU on-hours", f"{summary['gpu_on_hours']:,.1f} (idle GPUs off after "
                                     f"{result.config.idle_power_off_s:g} s)"))
    counts = ", ".join(f"{summary[f'num_{s}']:.0f} {s}" for s in ("completed", "failed", "killed", "rejected")
                       if summary[f"num_{s}"])
    rows.append(("status", counts))
    if summary["num_preemptions"] or summary["num_failure_restarts"]:
        rows.append(("preemptions", f"{summary['num_preemptions']:.0f} (+{summary['num_failure_restarts']:.0f} "
                                    f"restarts after {summary['num_node_failures']:.0f} node failures)"))
    for k, v in rows:
        typer.echo(f"{k:16} {v}")
    for note in result.notes:  # type: ignore[attr-defined]
        info(f"note: {note}")
    info(f"schedule validated (0 violations); tables written to {out}/")


def _energy(summary: dict[str, float]) -> str:
    if math.isnan(summary["energy_kwh"]):
        return "n/a (GPU type not in the catalog; see the note)"
    return (f"{summary['energy_kwh']:,.1f} kWh ({summary['energy_busy_kwh']:,.1f} busy, "
            f"{summary['energy_idle_kwh']:,.1f} idle)")


def _cost(summary: dict[str, float], config: Any) -> str:
    cloud = ("n/a on the cloud price (see the note)" if math.isnan(summary["cost_busy_usd"]) else
             f"${summary['cost_busy_usd']:,.2f} busy GPU-hours, ${summary['cost_provisioned_usd']:,.2f} provisioned")
    if config.cost_basis == "cloud":
        return cloud
    purchase = ("n/a on the purchase price (see the note)" if math.isnan(summary["cost_usd"]) else
                f"${summary['cost_usd']:,.2f} (purchase over {config.amortise_years:g} y + electricity at "
                f"${config.electricity_usd_per_kwh:g}/kWh)")
    return f"{purchase}; cloud: {cloud}"


def _h(seconds: float) -> str:
    return f"{seconds / 3600:.2f} h ({seconds:.0f} s)"


__all__ = ["simulate"]
