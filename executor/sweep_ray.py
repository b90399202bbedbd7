"""Sweep runs as Ray tasks, for sweeps bigger than one machine (`gpusched sweep --ray local|ADDRESS`).

Each run is one task calling the same `simulator.sweep.runner.run_one` as the local
backends, with the run's plain config in and its `RunOutput` (summary + Arrow IPC bytes)
back, so only the driver touches the output folder and the tables are the same bytes as
a local sweep's. A task asks Ray for one CPU, so a cluster runs as many at once as it has
CPUs; at most two tasks per CPU are queued at a time. Before its run a task imports the
plug-in modules (e.g. "solvers.rolling"), as a pool worker's initializer does.

`local` starts a private Ray runtime on this machine, bound to 127.0.0.1 (never to all
interfaces) without the dashboard, and shuts it down at the end; an ADDRESS joins an
existing cluster and leaves it running (its nodes need gpusched installed). A runtime this
process already started, e.g. a test's, is used as it is and left running.

The nodes need no copy of the inputs: the driver reads every file the runs name (traces,
cluster, synth, speed-table, catalog files) once and puts their bytes in Ray's object store;
a task writes each file once per node into a cache folder named by its content digest and
runs on those copies, so every node runs on exactly the driver's bytes.
"""

from __future__ import annotations

import hashlib
import os
import tempfile
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

from executor.ray_pool import import_ray
from simulator.sweep.backends import failed_output, import_plugins
from simulator.sweep.runner import RunOutput, run_one

QUEUED_PER_CPU = 2


_PATH_KEYS = ("path", "paths", "synth_path")


def input_files(config: Any) -> list[str]:
    """Every file path a run config names (under the keys path, paths, synth_path), in order."""
    found: list[str] = []
    if isinstance(config, dict):
        for key, value in config.items():
            if key in _PATH_KEYS and isinstance(value, str):
                found.append(value)
            elif key in _PATH_KEYS and isinstance(value, list):
                found.extend(v for v in value if isinstance(v, str))
            else:
                found.extend(input_files(value))
    elif isinstance(config, list):
        for value in config:
            found.extend(input_files(value))
    return found


def local_copies(files: dict[str, bytes], cache_dir: Path | None = None) -> dict[str, str]:
    """Each driver path -> a file on this node with the same bytes: written once into
    `cache_dir/<sha256>/<name>` (atomically, so tasks racing on a node are safe)."""
    root = cache_dir or Path(tempfile.gettempdir()) / "gpusched-sweep-inputs"
    out: dict[str, str] = {}
    for path, data in files.items():
        folder = root / hashlib.sha256(data).hexdigest()
        target = folder / Path(path).name
        if not target.is_file():
            folder.mkdir(parents=True, exist_ok=True)
            tmp = folder / f".{target.name}.{os.getpid()}.tmp"
            tmp.write_bytes(data)
            os.replace(tmp, target)
        out[path] = str(target)
    return out


def with_paths(config: Any, mapping: dict[str, str]) -> Any:
    """`config` with every file path replaced through `mapping`."""
    if isinstance(config, dict):
        return {k: (mapping.get(v, v) if k in _PATH_KEYS and isinstance(v, str)
                    else [mapping.get(x, x) for x in v] if k in _PATH_KEYS and isinstance(v, list)
                    else with_paths(v, mapping)) for k, v in config.items()}
    if isinstance(config, list):
        return [with_paths(v, mapping) for v in config]
    return config


def _run_task(plugin_modules: tuple[str, ...], files: dict[str, bytes], config: dict[str, Any]) -> RunOutput:
    """The task body: plug-ins first, the inputs as local copies, then the run."""
    import_plugins(plugin_modules)
    return run_one(with_paths(config, local_copies(files)))


class RaySweepBackend:
    """The sweep `Backend` of `simulator.sweep.backends` on Ray tasks."""

    def __init__(self, address: str = "local", num_cpus: int | None = None,
                 plugin_modules: Sequence[str] = ()) -> None:
        self.address = address
        self.num_cpus = num_cpus
        self.plugin_modules = tuple(plugin_modules)
        self._cpus = 0

    @property
    def workers(self) -> int:
        """CPUs of the Ray cluster (known once `run` has connected; 0 before)."""
        return self._cpus

    def describe(self) -> str:
        where = "a local Ray runtime on 127.0.0.1" if self.address == "local" else f"the Ray cluster at {self.address}"
        return where + (f" ({self._cpus} CPUs)" if self._cpus else "")

    def _connect(self) -> tuple[Any, bool]:
        """(ray, whether this call started the runtime and must shut it down)."""
        ray = import_ray()
        if ray.is_initialized():
            return ray, False
        if self.address == "local":
            ray.init(address="local", _node_ip_address="127.0.0.1", include_dashboard=False,
                     num_cpus=self.num_cpus, log_to_driver=False, configure_logging=False)
        else:
            ray.init(address=self.address, log_to_driver=False, configure_logging=False)
        return ray, True

    def run(self, configs: Sequence[dict[str, Any]]) -> Iterator[RunOutput]:
        if not configs:
            return
        ray, owns = self._connect()
        pending: dict[Any, dict[str, Any]] = {}
        try:
            self._cpus = max(1, int(ray.cluster_resources().get("CPU", 1)))
            task = ray.remote(num_cpus=1, max_retries=0)(_run_task)
            paths = dict.fromkeys(p for c in configs for p in input_files(c))
            files = ray.put({p: Path(p).read_bytes() for p in paths})  # once, shared by every task
            todo = iter(configs)
            while True:
                while len(pending) < QUEUED_PER_CPU * self._cpus:
                    config = next(todo, None)
                    if config is None:
                        break
                    pending[task.remote(self.plugin_modules, files, config)] = config
                if not pending:
                    break
                ready, _ = ray.wait(list(pending), num_returns=1)
                for ref in ready:
                    config = pending.pop(ref)
                    try:
                        output: RunOutput = ray.get(ref)
                    except ray.exceptions.RayError as exc:
                        output = failed_output(config, exc, "the Ray task failed")
                    yield output
        finally:
            for ref in pending:  # left over only when the sweep stopped early
                try:
                    ray.cancel(ref, force=True)
                except Exception:  # noqa: BLE001 - already finished or gone
                    pass
            if owns and ray.is_initialized():
                ray.shutdown()
