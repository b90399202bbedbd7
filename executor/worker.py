"""A warm training worker: TensorFlow loaded and models built before the replay starts.

Importing TensorFlow takes seconds and building + tracing a model about one more, so a
process per job would swamp short jobs with launch cost. A worker leads one device: it
is started (spawned, or as a Ray actor) before the replay, configures the devices, builds
and warms every model it will run, then trains the segments it is handed. A gang's
segment is run by the worker of its first device, with a distribution strategy over all
the gang's devices; the other devices' workers stay idle meanwhile.

Segments of a preempted job pass their weights through a checkpoint file, so the next
segment can run on another worker. Errors are classified here (`oom` for the backend's
out-of-memory errors, `failed` for anything else) and reported, never raised, so one bad
job does not take the worker down; a worker that dies (killed, crashed) is noticed by the
parent through its process sentinel.
"""

from __future__ import annotations

import ctypes
import os
import signal
import time
import traceback
from dataclasses import dataclass
from multiprocessing.connection import Connection
from pathlib import Path
from typing import Any

from executor.devices import DeviceSetup

Task = dict[str, Any]
Result = dict[str, Any]


@dataclass(frozen=True, slots=True)
class ModelKey:
    """One warm model: what it is and which local devices it trains on."""

    family: str
    size: int
    batch_size: int
    devices: tuple[int, ...]


@dataclass(frozen=True, slots=True)
class WorkerSpec:
    worker_id: str  # the GPU id this worker leads
    setup: DeviceSetup
    prepare: tuple[ModelKey, ...]
    cache_dir: str
    seed: int = 0
    warmup_steps: int = 3


class WorkerCore:
    """The part shared by the process worker and the Ray actor: build ahead, then train on demand."""

    def __init__(self, spec: WorkerSpec) -> None:
        from executor import devices

        self.spec = spec
        self.keras = devices.configure(spec.setup)
        self.device_names = [d.name for d in devices.list_devices()]
        self._trainers: dict[ModelKey, Any] = {}
        self.prepare_errors: dict[ModelKey, str] = {}
        for key in spec.prepare:
            try:
                self._trainer(key)
            except Exception as exc:  # noqa: BLE001 - the job that needs it fails (and says why) when it runs
                self.prepare_errors[key] = _one_line(exc)

    def _trainer(self, key: ModelKey) -> Any:
        trainer = self._trainers.get(key)
        if trainer is None:
            from executor import devices, models

            missing = [i for i in key.devices if i >= len(self.device_names)]
            if missing:
                raise RuntimeError(f"device index {missing[0]} not present (this worker sees {len(self.device_names)})")
            distribution = devices.distribution_for(self.keras, [self.device_names[i] for i in key.devices])
            spec = models.ModelSpec(key.family, size=key.size, batch_size=key.batch_size, seed=self.spec.seed)
            trainer = models.build_trainer(self.keras, spec, cache_dir=Path(self.spec.cache_dir),
                                           distribution=distribution)
            trainer.warm_up(self.spec.warmup_steps)
            self._trainers[key] = trainer
        return trainer

    def run(self, task: Task) -> Result:
        """Train one segment; the times are wall-clock epoch seconds (comparable across processes)."""
        t_received = time.time()
        result: Result = {"status": "completed", "error": "", "t_received": t_received, "t_first_step": None,
                          "t_trained": None, "t_end": None, "steps_done": 0, "loss": None, "pid": os.getpid()}
        steps_done = 0

        def on_step(i: int) -> None:
            nonlocal steps_done
            steps_done = i + 1

        try:
            key = ModelKey(task["family"], task["size"], task["batch_size"], tuple(task["devices"]))
            trainer = self._trainer(key)
            if task.get("load_ckpt"):
                trainer.load_weights(Path(task["load_ckpt"]))
            else:
                trainer.reset()
            result["t_first_step"] = time.time()
            loss = trainer.run_steps(int(task["steps"]), on_step=on_step) if task["steps"] > 0 else float("nan")
            result["t_trained"] = time.time()
            if task.get("save_ckpt"):
                trainer.save_weights(Path(task["save_ckpt"]))  # atomic: a temporary file, then a rename
            result["loss"] = float(loss)
        except Exception as exc:  # noqa: BLE001 - reported to the parent, the worker goes on
            result["status"] = _classify(exc)
            result["error"] = _one_line(exc)
        result["t_end"] = time.time()
        result["steps_done"] = steps_done
        return result


def _classify(exc: BaseException) -> str:
    text = f"{type(exc).__name__} {exc}".lower()
    if isinstance(exc, MemoryError) or "resourceexhausted" in text or "out of memory" in text or " oom" in text:
        return "oom"
    return "failed"


def _one_line(exc: BaseException) -> str:
    message = " ".join(str(exc).split())
    if len(message) > 300:
        message = message[:297] + "..."
    where = traceback.extract_tb(exc.__traceback__)[-1:] if exc.__traceback__ else []
    at = f" (at {Path(where[0].filename).name}:{where[0].lineno})" if where else ""
    return f"{type(exc).__name__}: {message}{at}"


def _die_with_parent() -> None:
    """Ask Linux to SIGKILL this process when its parent dies: a killed executor leaves no stray trainer."""
    try:
        libc = ctypes.CDLL("libc.so.6", use_errno=True)
        pr_set_pdeathsig = 1
        libc.prctl(pr_set_pdeathsig, signal.SIGKILL)
    except OSError:
        pass


def process_main(spec: WorkerSpec, conn: Connection, parent_pid: int) -> None:
    """Entry point of a spawned worker process: build, say ready, then serve tasks until told to stop."""
    _die_with_parent()
    if os.getppid() != parent_pid:  # the parent died before prctl took effect
        os._exit(1)
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C is the executor's to handle
    try:
        core = WorkerCore(spec)
    except Exception as exc:  # noqa: BLE001
        conn.send(("error", _one_line(exc)))
        return
    conn.send(("ready", {"pid": os.getpid(), "devices": core.device_names}))
    while True:
        try:
            message = conn.recv()
        except EOFError:
            return
        if message[0] == "stop":
            return
        if message[0] == "run":
            conn.send(("done", message[1], core.run(message[1])))
