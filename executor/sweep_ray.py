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
runs on those copies, so every node runs on exactly the driver's bytes. The cache lives in a
private per-user folder (`gpusched-sweep-inputs-<uid>` in the temp dir, mode 0o700), and a
cached file is used only after its digest is checked again, so nothing another user planted
in the shared temp dir is ever run on.

An ADDRESS is checked with a plain TCP connect before `ray.init` (`check_ray_address`): an
unreachable one is a one-line error at once, not minutes of GCS retries.
"""

from __future__ import annotations

import hashlib
import os
import socket
import stat
import tempfile
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

from executor.ray_pool import import_ray
from simulator.sweep.backends import failed_output, import_plugins
from simulator.sweep.runner import RunOutput, run_one
from traces.errors import UserError

QUEUED_PER_CPU = 2

_ADDRESS_FORMS = "expected 'local', 'auto', HOST:PORT or ray://HOST:PORT with PORT 1-65535"
_START_HINT = "start one with 'ray start --head' or use --ray local"


def _split_address(address: str) -> tuple[str, int]:
    """(host, port) of HOST:PORT or ray://HOST:PORT ([v6]:PORT too), or a UserError naming the forms."""
    rest = address.removeprefix("ray://")
    host, sep, port_text = rest.rpartition(":")
    if host.startswith("[") and host.endswith("]"):
        host = host[1:-1]
    if not sep or not host or not port_text.isdigit() or not 1 <= int(port_text) <= 65535:
        raise UserError(f"--ray {address!r}: not a Ray address; {_ADDRESS_FORMS}")
    return host, int(port_text)


def check_ray_address(address: str, timeout_s: float = 5.0) -> None:
    """Fail fast, in one line, when `--ray ADDRESS` is malformed or nothing answers there.

    `ray.init` on a dead address retries the GCS for minutes while logging warnings; a TCP
    connect (to the GCS port, or to the client server for ray://) answers in at most
    `timeout_s`. "local" and "auto" pass: they need no address (auto's own error is clear).
    """
    if address in ("local", "auto"):
        return
    host, port = _split_address(address)
    try:
        with socket.create_connection((host, port), timeout=timeout_s):
            pass
    except ConnectionRefusedError:
        why = "connection refused"
    except TimeoutError:
        why = f"no answer within {timeout_s:g} s"
    except socket.gaierror:
        why = f"unknown host {host!r}"
    except OSError as exc:
        why = exc.strerror or type(exc).__name__
    else:
        return
    raise UserError(f"--ray {address}: cannot reach a Ray cluster there ({why}); {_START_HINT}")


def _first_line(exc: BaseException, limit: int = 300) -> str:
    """The exception as one short line (Ray's messages run to many lines)."""
    lines = [line.strip() for line in str(exc).splitlines() if line.strip()]
    text = f"{type(exc).__name__}: {lines[0]}" if lines else type(exc).__name__
    return text if len(text) <= limit else text[: limit - 3] + "..."


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


def private_cache_dir() -> Path:
    """This user's input cache, `<tempdir>/gpusched-sweep-inputs-<uid>`, created with mode 0o700.

    The temp dir is shared, so a folder already there is used only when it is a real
    directory (not a link) owned by this user and writable by nobody else; anything else is
    refused with a UserError rather than silently replaced by a fresh folder, because it means
    another user planted it (or a mistake the user must see), and a fallback per task would
    leave a folder behind per worker. On systems without uids (Windows) the temp dir is
    already per user.
    """
    if not hasattr(os, "getuid"):
        return Path(tempfile.gettempdir()) / "gpusched-sweep-inputs"
    uid = os.getuid()
    root = Path(tempfile.gettempdir()) / f"gpusched-sweep-inputs-{uid}"
    try:
        os.mkdir(root, 0o700)
        os.chmod(root, 0o700)  # exactly 0o700 whatever the umask
    except FileExistsError:
        pass
    info = os.lstat(root)
    if not stat.S_ISDIR(info.st_mode) or info.st_uid != uid or info.st_mode & 0o022:
        raise UserError(f"{root}: the sweep's input cache is not a private folder of this user "
                        f"(owner uid {info.st_uid}, mode {stat.filemode(info.st_mode)}); remove it and run again")
    return root


def _holds(target: Path, digest: str) -> bool:
    """Whether `target` is a plain file (not a link) whose sha256 is `digest`."""
    try:
        if not stat.S_ISREG(os.lstat(target).st_mode):
            return False
        with open(target, "rb") as f:
            return hashlib.file_digest(f, "sha256").hexdigest() == digest
    except OSError:
        return False


def local_copies(files: dict[str, bytes], cache_dir: Path | None = None) -> dict[str, str]:
    """Each driver path -> a file on this node with the same bytes, in `cache_dir/<sha256>/<name>`.

    `cache_dir` defaults to `private_cache_dir()`. A file already there is used only when its
    digest still matches; otherwise it is rewritten. Writes go to a unique temp file and are
    renamed into place, so tasks racing on a node are safe.
    """
    root = cache_dir if cache_dir is not None else private_cache_dir()
    out: dict[str, str] = {}
    for path, data in files.items():
        digest = hashlib.sha256(data).hexdigest()
        folder = root / digest
        target = folder / Path(path).name
        if not _holds(target, digest):
            folder.mkdir(mode=0o700, parents=True, exist_ok=True)
            fd, tmp = tempfile.mkstemp(dir=folder, prefix=f".{target.name}.", suffix=".tmp")
            try:
                with os.fdopen(fd, "wb") as f:
                    f.write(data)
                os.replace(tmp, target)
            except BaseException:
                Path(tmp).unlink(missing_ok=True)
                raise
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
            check_ray_address(self.address)
            try:
                ray.init(address=self.address, log_to_driver=False, configure_logging=False)
            except (ConnectionError, RuntimeError, TimeoutError, ray.exceptions.RayError) as exc:
                raise UserError(f"--ray {self.address}: cannot join the Ray cluster there ({_first_line(exc)}); "
                                f"{_START_HINT}") from None
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
