"""Workers as Ray actors, for replays that span machines (`gpusched execute --ray ADDRESS|local`).

Each schedule node is mapped to one live Ray node (sorted by id, round robin when the
schedule has more nodes than the Ray cluster) and its devices' workers are pinned there
with a hard node-affinity strategy, so a job runs on the machine the schedule names.
Actors reserve no Ray CPUs or GPUs: the schedule already decided who runs where, and each
worker pins its job to its devices with TensorFlow's own controls, exactly like a local
worker. `local` starts a private Ray runtime bound to 127.0.0.1 (never to all interfaces)
and shuts it down at the end; an ADDRESS joins an existing cluster and leaves it running.
Times are wall-clock epoch seconds taken on the worker's machine: across machines they
are only as good as the clocks' synchronisation (NTP: typically a few ms).
"""

from __future__ import annotations

import importlib
import os
from collections.abc import Callable, Sequence
from typing import Any

from executor.pool import Event
from executor.worker import Task, WorkerCore, WorkerSpec, _one_line
from traces.errors import UserError


class RayWorker:
    """The actor body: a `WorkerCore` built on first `ready()` so a failing start is reported, not raised."""

    def __init__(self, spec: WorkerSpec) -> None:
        self.spec = spec
        self.core: WorkerCore | None = None

    def ready(self) -> tuple[str, Any]:
        try:
            self.core = WorkerCore(self.spec)
        except Exception as exc:  # noqa: BLE001 - reported to the dispatcher
            return "error", _one_line(exc)
        return "ready", {"pid": os.getpid(), "devices": self.core.device_names}

    def run(self, task: Task) -> dict[str, Any]:
        assert self.core is not None
        return self.core.run(task)

    def pid(self) -> int:
        return os.getpid()


def import_ray() -> Any:
    """The ray module, or a one-line user error saying how to install it."""
    try:
        return importlib.import_module("ray")
    except ImportError:
        raise UserError('--ray needs Ray: pip install "gpusched[ray]"') from None


class RayPool:
    """The `WorkerPool` of `executor.pool` on Ray actors."""

    def __init__(self, address: str = "local", num_cpus: int | None = None) -> None:
        self.address = address
        self.num_cpus = num_cpus
        self._owns = False
        self._specs: dict[str, WorkerSpec] = {}
        self._actors: dict[str, Any] = {}
        self._pending: dict[Any, tuple[str, str, Task | None]] = {}
        self._node_of: dict[str, str] = {}
        self._actor_cls: Any = None

    def _connect(self) -> Any:
        ray = import_ray()
        if not ray.is_initialized():
            if self.address == "local":
                ray.init(address="local", _node_ip_address="127.0.0.1", include_dashboard=False,
                         num_cpus=self.num_cpus, log_to_driver=False, configure_logging=False)
                self._owns = True
            else:
                from executor.sweep_ray import check_ray_address

                check_ray_address(self.address)  # a one-line error now, not minutes of retries in ray.init
                ray.init(address=self.address, log_to_driver=False, configure_logging=False)
        return ray

    def start(self, specs: Sequence[WorkerSpec]) -> None:
        ray = self._connect()
        from ray.util.scheduling_strategies import NodeAffinitySchedulingStrategy

        ray_nodes = sorted(n["NodeID"] for n in ray.nodes() if n.get("Alive"))
        if not ray_nodes:
            raise UserError(f"the Ray cluster at {self.address} has no live node")
        sched_nodes = sorted({s.worker_id.rpartition(":")[0] for s in specs})
        node_map = {n: ray_nodes[i % len(ray_nodes)] for i, n in enumerate(sched_nodes)}
        self._actor_cls = ray.remote(num_cpus=0, max_restarts=0, max_concurrency=1)(RayWorker)
        self._strategy: Callable[[str], Any] = lambda wid: NodeAffinitySchedulingStrategy(
            node_map[wid.rpartition(":")[0]], soft=False)
        for spec in specs:
            self._specs[spec.worker_id] = spec
            self._node_of[spec.worker_id] = node_map[spec.worker_id.rpartition(":")[0]]
            self._spawn(spec.worker_id)

    def _spawn(self, worker_id: str) -> None:
        actor = self._actor_cls.options(scheduling_strategy=self._strategy(worker_id)).remote(self._specs[worker_id])
        self._actors[worker_id] = actor
        self._pending[actor.ready.remote()] = (worker_id, "ready", None)

    def submit(self, worker_id: str, task: Task) -> None:
        self._pending[self._actors[worker_id].run.remote(task)] = (worker_id, "done", task)

    def pids(self) -> dict[str, int]:
        ray = import_ray()
        return {w: int(ray.get(a.pid.remote(), timeout=60)) for w, a in self._actors.items()}

    def wait(self, timeout_s: float) -> list[Event]:
        ray = import_ray()
        if not self._pending:
            return []
        refs = list(self._pending)
        ready, _ = ray.wait(refs, num_returns=1, timeout=max(0.0, timeout_s))
        if ready:
            more, _ = ray.wait([r for r in refs if r not in ready], num_returns=len(refs) - len(ready), timeout=0)
            ready = ready + more
        events: list[Event] = []
        for ref in ready:
            worker_id, kind, task = self._pending.pop(ref)
            try:
                value = ray.get(ref)
            except ray.exceptions.RayActorError as exc:
                events.append(("died", worker_id, f"Ray actor died: {exc}"))
                continue
            except ray.exceptions.RayError as exc:
                events.append(("error", worker_id, _one_line(exc)))
                continue
            if kind == "ready":
                events.append((value[0], worker_id, value[1]))
            else:
                events.append(("done", worker_id, task, value))
        return events

    def restart(self, worker_id: str) -> None:
        ray = import_ray()
        for ref, (w, _, _) in list(self._pending.items()):
            if w == worker_id:
                del self._pending[ref]
        try:
            ray.kill(self._actors[worker_id], no_restart=True)
        except Exception:  # noqa: BLE001 - already gone
            pass
        self._spawn(worker_id)

    def close(self) -> None:
        ray = import_ray()
        for actor in self._actors.values():
            try:
                ray.kill(actor, no_restart=True)
            except Exception:  # noqa: BLE001 - already gone
                pass
        self._actors.clear()
        self._pending.clear()
        if self._owns and ray.is_initialized():
            ray.shutdown()
