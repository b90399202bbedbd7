"""`gpusched theory ...`: closed-form queueing numbers (M/M/c, capacity, priority classes).

The same formulas the simulator is tested against (simulator.theory), for sizing a cluster
or sanity-checking a simulation without running one. Rates are per second, times seconds.
"""

from __future__ import annotations

import json
import math
from typing import Annotated, Any

import typer

from executor.cli.common import user_errors
from traces.errors import UserError

app = typer.Typer(
    help="Queueing theory: M/M/c waits (Erlang C), the servers needed for a wait target, and "
    "mean waits of non-preemptive priority classes (Cobham). Rates are per second, times in seconds.",
    no_args_is_help=True,
    context_settings={"help_option_names": ["-h", "--help"]},
)

ArrivalRateOpt = Annotated[
    float, typer.Option("--arrival-rate", help="Jobs arriving per second (Poisson).", show_default=False)
]
ServiceRateOpt = Annotated[
    float,
    typer.Option("--service-rate", help="Jobs one server finishes per second (1 / mean run time; exponential).",
                 show_default=False),
]
JsonOpt = Annotated[bool, typer.Option("--json", help="Print the numbers as JSON on stdout.")]


# ----- input checks: every bad number is a one-line user error naming its option -------------
def _finite(value: float, option: str, *, positive: bool) -> float:
    ok = math.isfinite(value) and (value > 0 if positive else value >= 0)
    if not ok:
        raise UserError(f"{option} must be a finite number {'> 0' if positive else '>= 0'}, got {value:g}")
    return value


def _servers(value: int, option: str = "--servers") -> int:
    if value < 1:
        raise UserError(f"{option} must be an integer >= 1, got {value}")
    return value


def _level(value: float, option: str, *, allow_zero: bool) -> float:
    ok = (0 <= value < 1) if allow_zero else (0 < value < 1)
    if not ok:
        raise UserError(f"{option} must be a probability in {'[0, 1)' if allow_zero else '(0, 1)'}, got {value:g}")
    return value


def _parse_quantiles(text: str) -> list[float]:
    levels = []
    for part in text.split(","):
        try:
            p = float(part)
        except ValueError:
            raise UserError(
                f"--quantiles: expected numbers in [0, 1) separated by commas but found {part.strip()!r}"
            ) from None
        levels.append(_level(p, "--quantiles", allow_zero=True))
    return levels


def _check_stable(lam: float, mu: float, c: int) -> None:
    if lam >= c * mu:
        raise UserError(
            f"unstable: arrival rate {lam:g}/s is at least {c} server(s) x service rate {mu:g}/s = {c * mu:g}/s "
            f"(utilisation {lam / (c * mu):.4g} >= 1), so the queue grows without bound"
        )


def _num(value: float) -> str:
    return f"{value:.6g}"


def _print_rows(rows: list[tuple[str, str]]) -> None:
    width = max(len(label) for label, _ in rows)
    for label, value in rows:
        typer.echo(f"{label:<{width}}  {value}")


def _quantile_key(p: float) -> str:
    return f"{p:g}"


def _quantile_label(p: float) -> str:
    return f"wait p{100 * p:g}"


# ----- mmc -------------------------------------------------------------------------------------
def mmc_numbers(lam: float, mu: float, c: int, levels: list[float]) -> dict[str, Any]:
    """Everything `theory mmc` prints, as plain data."""
    from simulator import theory

    return {
        "model": "M/M/c",
        "arrival_rate_per_s": lam,
        "service_rate_per_s": mu,
        "servers": c,
        "offered_load_erlangs": lam / mu,
        "utilisation": theory.mmc_utilisation(lam, mu, c),
        "wait_probability": theory.mmc_wait_probability(lam, mu, c),
        "mean_wait_s": theory.mmc_mean_wait_s(lam, mu, c),
        "mean_sojourn_s": theory.mmc_mean_sojourn_s(lam, mu, c),
        "mean_queue_len": theory.mmc_mean_queue_len(lam, mu, c),
        "wait_quantiles_s": {_quantile_key(p): theory.mmc_wait_quantile_s(p, lam, mu, c) for p in levels},
    }


def _print_mmc(d: dict[str, Any]) -> None:
    rows = [
        ("utilisation", _num(d["utilisation"])),
        ("P(wait)", _num(d["wait_probability"])),
        ("mean wait", f"{_num(d['mean_wait_s'])} s"),
        ("mean sojourn", f"{_num(d['mean_sojourn_s'])} s"),
        ("mean queue length", f"{_num(d['mean_queue_len'])} jobs"),
    ]
    rows += [(_quantile_label(float(k)), f"{_num(v)} s") for k, v in d["wait_quantiles_s"].items()]
    _print_rows(rows)


@app.command()
@user_errors
def mmc(
    arrival_rate: ArrivalRateOpt,
    service_rate: ServiceRateOpt,
    servers: Annotated[int, typer.Option("--servers", help="Number of servers (GPUs).", show_default=False)],
    quantiles: Annotated[
        str, typer.Option("--quantiles", help="Wait quantile levels to print, comma-separated, each in [0, 1).")
    ] = "0.5,0.95,0.99",
    as_json: JsonOpt = False,
) -> None:
    """M/M/c with FCFS: P(wait) (Erlang C), mean wait and sojourn, mean queue length, utilisation, wait quantiles.

    This is a cluster of SERVERS GPUs running single-GPU jobs first come, first served.

    Example: gpusched theory mmc --arrival-rate 0.005 --service-rate 0.001 --servers 8
    """
    lam = _finite(arrival_rate, "--arrival-rate", positive=False)
    mu = _finite(service_rate, "--service-rate", positive=True)
    c = _servers(servers)
    levels = _parse_quantiles(quantiles)
    _check_stable(lam, mu, c)
    d = mmc_numbers(lam, mu, c, levels)
    if as_json:
        typer.echo(json.dumps(d, indent=2))
        return
    typer.echo(f"M/M/{c}: arrivals {_num(lam)}/s, service {_num(mu)}/s per server, offered load "
               f"{_num(lam / mu)} Erlangs")
    _print_mmc(d)


# ----- min-servers -----------------------------------------------------------------------------
@app.command("min-servers")
@user_errors
def min_servers(
    arrival_rate: ArrivalRateOpt,
    service_rate: ServiceRateOpt,
    mean_wait_s: Annotated[
        float | None, typer.Option("--mean-wait-s", help="Target: mean wait at most this many seconds.",
                                   show_default=False)
    ] = None,
    wait_quantile: Annotated[
        float | None,
        typer.Option("--wait-quantile", help="Target: this fraction of jobs (in (0, 1)) waits at most --wait-s.",
                     show_default=False),
    ] = None,
    wait_s: Annotated[
        float | None, typer.Option("--wait-s", help="The wait bound for --wait-quantile, in seconds (0 = no wait).",
                                   show_default=False)
    ] = None,
    as_json: JsonOpt = False,
) -> None:
    """The fewest M/M/c servers (GPUs) that meet a mean-wait target, a wait-quantile target, or both.

    Example: gpusched theory min-servers --arrival-rate 0.05 --service-rate 0.001 --wait-quantile 0.95 --wait-s 600
    """
    from simulator import theory

    lam = _finite(arrival_rate, "--arrival-rate", positive=False)
    mu = _finite(service_rate, "--service-rate", positive=True)
    if mean_wait_s is None and wait_quantile is None and wait_s is None:
        raise UserError("give a target: --mean-wait-s SECONDS, or --wait-quantile P --wait-s SECONDS (or both)")
    if (wait_quantile is None) != (wait_s is None):
        raise UserError("--wait-quantile and --wait-s go together: the fraction of jobs and the wait bound")
    target_mean = None if mean_wait_s is None else _finite(mean_wait_s, "--mean-wait-s", positive=True)
    target_q = None
    if wait_quantile is not None and wait_s is not None:
        target_q = (_level(wait_quantile, "--wait-quantile", allow_zero=False),
                    _finite(wait_s, "--wait-s", positive=False))
    try:
        c = theory.mmc_min_servers(lam, mu, target_mean, target_q)
    except ValueError as exc:
        raise UserError(str(exc)) from None
    levels = [] if target_q is None else [target_q[0]]
    d = {"servers": c, **mmc_numbers(lam, mu, c, levels)}
    d["target_mean_wait_s"] = target_mean
    d["target_wait_quantile"] = None if target_q is None else {"p": target_q[0], "wait_s": target_q[1]}
    if as_json:
        typer.echo(json.dumps(d, indent=2))
        return
    typer.echo(f"servers needed: {c}")
    typer.echo(f"with {c} servers:")
    _print_mmc(d)


# ----- priority --------------------------------------------------------------------------------
def _parse_class(text: str) -> tuple[float, float, float]:
    parts = [p.strip() for p in text.split(",")]
    shape = "RATE,MEAN_S[,SCV]"
    if len(parts) not in (2, 3):
        raise UserError(f"--class {text!r}: expected {shape} (2 or 3 numbers separated by commas)")
    values = []
    for part in parts:
        try:
            values.append(float(part))
        except ValueError:
            raise UserError(f"--class {text!r}: expected {shape} with numbers but found {part!r}") from None
    rate = _finite(values[0], f"--class {text!r}: RATE", positive=False)
    mean = _finite(values[1], f"--class {text!r}: MEAN_S", positive=True)
    scv = _finite(values[2], f"--class {text!r}: SCV", positive=False) if len(values) == 3 else 1.0
    return rate, mean, scv


@app.command()
@user_errors
def priority(
    classes: Annotated[
        list[str],
        typer.Option("--class", help="One priority class as RATE,MEAN_S[,SCV]: arrivals per second, mean service "
                     "time in seconds and its squared coefficient of variation (omitted: 1, exponential). Repeat "
                     "for each class, highest priority first.", show_default=False),
    ],
    servers: Annotated[
        int, typer.Option("--servers", help="Servers; above 1 every class must be exponential with one mean.")
    ] = 1,
    as_json: JsonOpt = False,
) -> None:
    """Mean wait per class under non-preemptive priority (Cobham's formula), FCFS within a class.

    One server: M/G/1 with any service-time variability per class. Several servers: M/M/c,
    where every class has exponential service with the same mean.

    Example: gpusched theory priority --class 0.0001,1800 --class 0.00015,3600,4
    """
    from simulator import theory

    c = _servers(servers)
    parsed = [_parse_class(text) for text in classes]
    total_load = sum(rate * mean for rate, mean, _ in parsed) / c
    if total_load >= 1:
        raise UserError(
            f"unstable: the classes together load the {c} server(s) to {total_load:.4g} >= 1, "
            "so the lowest classes wait without bound"
        )
    if c == 1:
        pcs = [theory.PriorityClass.from_scv(rate, mean, scv) for rate, mean, scv in parsed]
        waits = theory.mg1_priority_mean_waits_s(pcs)
        w0 = sum(k.arrival_rate_per_s * k.second_moment_service_s2 for k in pcs) / 2
        fcfs = w0 / (1 - total_load)  # Pollaczek-Khinchine for the merged stream
    else:
        means = {mean for _, mean, _ in parsed}
        if len(means) > 1 or any(scv != 1 for _, _, scv in parsed):
            raise UserError(
                "with --servers above 1 every class must have exponential service (SCV 1) and the same MEAN_S "
                f"(Cobham's M/M/c result); got MEAN_S {', '.join(_num(m) for _, m, _ in parsed)} and "
                f"SCV {', '.join(_num(s) for _, _, s in parsed)}"
            )
        mu = 1 / parsed[0][1]
        waits = theory.mmc_priority_mean_waits_s([rate for rate, _, _ in parsed], mu, c)
        fcfs = theory.mmc_mean_wait_s(sum(rate for rate, _, _ in parsed), mu, c)
    rows = [
        {"class": i + 1, "arrival_rate_per_s": rate, "mean_service_s": mean, "scv": scv,
         "load": rate * mean / c, "mean_wait_s": w, "mean_sojourn_s": w + mean}
        for i, ((rate, mean, scv), w) in enumerate(zip(parsed, waits, strict=True))
    ]
    d = {"servers": c, "total_load": total_load, "fcfs_mean_wait_s": fcfs, "classes": rows}
    if as_json:
        typer.echo(json.dumps(d, indent=2))
        return
    header = ("class", "arrivals/s", "mean service s", "SCV", "load", "mean wait s", "mean sojourn s")
    keys = ("class", "arrival_rate_per_s", "mean_service_s", "scv", "load", "mean_wait_s", "mean_sojourn_s")
    table = [header, *[tuple(str(r[k]) if k == "class" else _num(r[k]) for k in keys) for r in rows]]
    widths = [max(len(line[i]) for line in table) for i in range(len(header))]
    for line in table:
        typer.echo("  ".join(cell.rjust(w) for cell, w in zip(line, widths, strict=True)).rstrip())
    typer.echo(f"total load {_num(total_load)}; mean wait of all jobs under FCFS instead: {_num(fcfs)} s")
