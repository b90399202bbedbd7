"""The `gpusched` command: one Typer app, one module per subcommand."""

from __future__ import annotations

import typer

from executor.cli import (
    capacity_cmd,
    compare_cmd,
    execute_cmd,
    gpus_cmd,
    predict_cmd,
    profile_cmd,
    report_cmd,
    rl_cmd,
    solve_cmd,
    sweep_cmd,
    theory_cmd,
    traces_cmd,
)
from executor.cli import simulate as simulate_cmd

app = typer.Typer(
    name="gpusched",
    help=(
        "Replay GPU-cluster job traces through a discrete-event model of a GPU cluster and report "
        "job completion time, queueing delay, utilisation and fairness.\n\n"
        "Start with `gpusched simulate` (no arguments: the shipped sample trace on a default "
        "cluster), then `gpusched traces inspect YOUR_TRACE`; `gpusched solve` computes an offline "
        "schedule (CP-SAT or a heuristic) that `simulate --policy schedule` replays.\n\n"
        "Is the prediction right? `gpusched profile` measures training steps/s of the Keras model zoo on "
        "this machine's devices, `gpusched execute` replays a schedule with real training jobs and "
        "`gpusched compare` reports predicted vs measured times per job.\n\n"
        "What if? `gpusched sweep SPEC.toml` runs a grid of clusters, loads, policies and seeds (local "
        "processes or Ray, resumable), `gpusched capacity` sizes a cluster for a wait target by queueing "
        "theory and by simulation, `gpusched gpus list|recommend` compares GPU types, and `gpusched report` "
        "turns any output folder into PNGs and one report.html.\n\n"
        "Learning: `gpusched predict train|eval` learns job durations from a trace's history (for "
        "`simulate --durations predicted:MODEL` with sjf, srtf, easy-backfill, qssf), `gpusched rl train` "
        "trains a scheduling agent on the real engine that `simulate --policy rl:AGENT` runs."
    ),
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_show_locals=False,
    context_settings={"help_option_names": ["-h", "--help"]},
)
app.command("simulate")(simulate_cmd.simulate)
app.command("solve")(solve_cmd.solve)
app.command("profile")(profile_cmd.profile)
app.command("execute")(execute_cmd.execute)
app.command("compare")(compare_cmd.compare)
app.command("capacity")(capacity_cmd.capacity)
app.command("sweep")(sweep_cmd.sweep)
app.command("report")(report_cmd.report)
app.add_typer(traces_cmd.app, name="traces")
app.add_typer(theory_cmd.app, name="theory")
app.add_typer(gpus_cmd.app, name="gpus")
app.add_typer(predict_cmd.app, name="predict")
app.add_typer(rl_cmd.app, name="rl")


def main() -> None:
    app()


if __name__ == "__main__":
    main()
