"""Sweeps: many simulator runs over a grid of clusters, load scales, policies and seeds.

`load_spec(path)` reads a spec (`spec`), `expand(spec)` lists its runs with content-hashed
ids (`grid`), `run_sweep(spec, out_dir, backend, progress)` runs the missing ones on a
backend (`backends`: in process or a spawned process pool; Ray in `executor.sweep_ray`)
through `run_one` (`runner`), writes each run atomically (`store`) and ends with the
runs and summary tables (`summary`). `scale_load` (`load`) is the load axis.
"""

from simulator.sweep.backends import Backend, PoolBackend, SequentialBackend, make_local_backend
from simulator.sweep.driver import SweepOutcome, SweepProgress, run_sweep
from simulator.sweep.grid import CONFIG_COLUMNS, RunConfig, expand
from simulator.sweep.load import scale_load
from simulator.sweep.runner import RunOutput, run_one
from simulator.sweep.spec import SweepSpec, load_spec
from simulator.sweep.summary import runs_table, summary_table, t_interval

__all__ = [
    "CONFIG_COLUMNS",
    "Backend",
    "PoolBackend",
    "RunConfig",
    "RunOutput",
    "SequentialBackend",
    "SweepOutcome",
    "SweepProgress",
    "SweepSpec",
    "expand",
    "load_spec",
    "make_local_backend",
    "run_one",
    "run_sweep",
    "runs_table",
    "scale_load",
    "summary_table",
    "t_interval",
]
