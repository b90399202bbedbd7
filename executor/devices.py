"""Training devices: the backend's own device controls, device listing, and distribution strategies.

TensorFlow fixes its device layout (logical CPU split, GPU memory limits, thread pools) when
it first initialises its runtime, and JAX reads its flags from the environment when its
backends start; so `configure` must run first in a process that trains, and a second
`configure` with other settings is refused with a `UserError` instead of being silently
ignored. Device names are TensorFlow's logical names ("/device:CPU:1", "/device:GPU:0") on
both backends, so plans and workers name devices the same way whatever runs them.
`detect_gpus` reads `nvidia-smi` and needs neither TensorFlow nor JAX: a parent process uses
it to decide how many workers to start. Memory is in GiB.
"""

from __future__ import annotations

import os
import platform
import re
import shutil
import subprocess
import sys
from collections.abc import Sequence
from dataclasses import dataclass
from types import ModuleType
from typing import Any, Literal

from executor import backend as _backend
from traces.errors import UserError

BACKENDS: tuple[str, ...] = ("tensorflow", "jax")
PRECISIONS: tuple[str, ...] = ("float32", "mixed_float16", "mixed_bfloat16")
NVIDIA_SMI_TIMEOUT_S = 10.0
_GIB = 1024.0**3
_DEVICE_NAME = re.compile(r"(?:^|[/:])(?:device:)?(CPU|GPU)[:_](\d+)$", re.IGNORECASE)
_XLA_DEVICE_COUNT = re.compile(r"--xla_force_host_platform_device_count=\d+")


@dataclass(frozen=True, slots=True)
class DeviceInfo:
    """One device: its TensorFlow-style name, kind, index, what it is, and its memory.

    `description` is the GPU's product name ("NVIDIA H100 80GB HBM3") or the CPU's model
    name; `mem_gib` is the GPU's memory (on TensorFlow its configured limit when one is set), or the
    machine's RAM for a CPU device (logical CPUs share it), None when unknown.
    """

    name: str
    kind: Literal["CPU", "GPU"]
    index: int
    description: str
    mem_gib: float | None

    @property
    def type_label(self) -> str:
        """The short type name a profile row uses: "CPU", or the GPU model ("H100", "A100", "T4")."""
        return "CPU" if self.kind == "CPU" else gpu_type_label(self.description)


@dataclass(frozen=True, slots=True)
class DeviceSetup:
    """How a training process sets up its devices; applied by `configure` before the runtime starts.

    `logical_cpus` splits the host CPU into that many logical devices so that data-parallel
    code can be exercised without GPUs; the logical devices share the same cores and thread
    pools (it does not isolate cores), so they model placement, not extra compute.
    `memory_growth` lets a GPU's memory grow on demand instead of being taken whole;
    `memory_limit_gib` caps every GPU (one logical device per GPU) and takes precedence over
    growth on TensorFlow. `threads` sets TensorFlow's intra- and inter-op pools.
    `precision` is the Keras global dtype policy. `cpu_cores` pins the process (and every
    thread it starts afterwards) to those CPU cores: on a machine without GPUs, one core per
    training process keeps concurrent jobs from slowing each other down unevenly, which is
    what makes a CPU replay's times repeatable.
    """

    backend: str = "tensorflow"
    logical_cpus: int | None = None
    memory_growth: bool = True
    memory_limit_gib: float | None = None
    threads: int | None = None
    precision: str = "float32"
    cpu_cores: tuple[int, ...] | None = None

    def __post_init__(self) -> None:
        cores = self.cpu_cores
        if cores is not None and (not cores or any(isinstance(c, bool) or not isinstance(c, int) or c < 0
                                                    for c in cores)):
            raise UserError(f"cpu_cores: expected core numbers >= 0 but found {cores!r}")
        if self.backend not in BACKENDS:
            raise UserError(f"backend: expected one of {', '.join(BACKENDS)} but found {self.backend!r}")
        if self.precision not in PRECISIONS:
            raise UserError(f"precision: expected one of {', '.join(PRECISIONS)} but found {self.precision!r}")
        for name in ("logical_cpus", "threads"):
            value = getattr(self, name)
            if value is not None and (isinstance(value, bool) or not isinstance(value, int) or value < 1):
                raise UserError(f"{name}: expected an integer >= 1 but found {value!r}")
        limit = self.memory_limit_gib
        if limit is not None and not (isinstance(limit, (int, float)) and 0 < limit < float("inf")):
            raise UserError(f"memory_limit_gib: expected a number of GiB > 0 but found {limit!r}")


# ----- configuration ----------------------------------------------------------------------------
def configure(setup: DeviceSetup) -> ModuleType:
    """Apply `setup` to the backend before it initialises its devices and return the Keras module.

    Idempotent: a second call with settings the runtime already has is fine; one that asks
    for a different layout after the runtime started raises `UserError`.
    """
    if setup.cpu_cores is not None:
        pin_to_cores(setup.cpu_cores)
    if setup.backend == "jax":
        keras = _configure_jax(setup)
    else:
        keras = _backend.load_keras("tensorflow")  # importing Keras does not initialise TF's devices
        _configure_tensorflow(_backend.load_tensorflow(), setup)
    keras.mixed_precision.set_global_policy(setup.precision)
    return keras


def usable_cores() -> tuple[int, ...]:
    """The CPU cores this process may run on (its affinity mask), in order."""
    try:
        return tuple(sorted(os.sched_getaffinity(0)))
    except (AttributeError, OSError):
        return tuple(range(os.cpu_count() or 1))


def pin_to_cores(cores: Sequence[int]) -> None:
    """Pin every thread of this process to `cores`; threads started later inherit the mask.

    Best before TensorFlow or JAX start their thread pools; threads already running (BLAS,
    OR-Tools) are pinned too, through /proc/self/task. Cores outside this process's own
    mask are refused.
    """
    allowed = set(usable_cores())
    wanted = set(cores)
    if not wanted <= allowed:
        raise UserError(f"cpu_cores: core(s) {sorted(wanted - allowed)} are not available to this process; "
                        f"it may use {sorted(allowed)}")
    try:
        os.sched_setaffinity(0, wanted)
    except (AttributeError, OSError) as exc:
        raise UserError(f"cpu_cores: cannot pin to {sorted(wanted)} ({exc})") from None
    try:
        threads = [int(t) for t in os.listdir("/proc/self/task")]
    except OSError:
        threads = []
    for tid in threads:
        try:
            os.sched_setaffinity(tid, wanted)
        except OSError:
            pass  # the thread has just ended


def _configure_tensorflow(tf: ModuleType, setup: DeviceSetup) -> None:
    # TensorFlow refuses device changes once it has initialised (RuntimeError, or ValueError for
    # memory growth on a split GPU): that is fine when the runtime already has what is asked for.
    if setup.threads is not None:
        for what in ("intra_op", "inter_op"):
            get = getattr(tf.config.threading, f"get_{what}_parallelism_threads")
            try:
                getattr(tf.config.threading, f"set_{what}_parallelism_threads")(setup.threads)
            except RuntimeError:
                if get() != setup.threads:
                    have = get() or "the default number of"
                    raise _too_late(f"threads={setup.threads}", f"its {what} pool has {have} threads") from None
    cpus = tf.config.list_physical_devices("CPU")
    if setup.logical_cpus is not None and cpus:
        n = setup.logical_cpus
        try:
            tf.config.set_logical_device_configuration(cpus[0], [tf.config.LogicalDeviceConfiguration()] * n)
        except RuntimeError:
            have = len(tf.config.get_logical_device_configuration(cpus[0]) or [None])
            if have != n:
                raise _too_late(f"logical_cpus={n}", f"it has {have} CPU device(s)") from None
    gpus = tf.config.list_physical_devices("GPU")
    if setup.memory_limit_gib is not None and not gpus:
        raise UserError(f"memory_limit_gib={setup.memory_limit_gib:g}: TensorFlow sees no GPU to limit")
    for gpu in gpus:
        if setup.memory_limit_gib is not None:
            mib = int(setup.memory_limit_gib * 1024)
            try:
                tf.config.set_logical_device_configuration(gpu, [tf.config.LogicalDeviceConfiguration(mib)])
            except RuntimeError:
                have = [c.memory_limit for c in tf.config.get_logical_device_configuration(gpu) or []]
                if have != [mib]:
                    state = f"{gpu.name} has limits {have} MiB" if have else f"{gpu.name} has no limit"
                    raise _too_late(f"memory_limit_gib={setup.memory_limit_gib:g}", state) from None
        else:
            try:
                tf.config.experimental.set_memory_growth(gpu, setup.memory_growth)
            except (RuntimeError, ValueError):
                if tf.config.experimental.get_memory_growth(gpu) != setup.memory_growth:
                    raise _too_late(f"memory_growth={setup.memory_growth}", f"{gpu.name} is set otherwise") from None


def _too_late(request: str, state: str) -> UserError:
    return UserError(
        f"cannot apply {request}: TensorFlow has already initialised its devices and {state}; "
        "configure the devices first thing in the process"
    )


def _configure_jax(setup: DeviceSetup) -> ModuleType:
    """JAX reads XLA flags when its backends start: set them, load Keras, then check what took effect.

    Supported: `logical_cpus` (XLA_FLAGS=--xla_force_host_platform_device_count), `memory_growth`
    (XLA_PYTHON_CLIENT_PREALLOCATE=false) and `memory_limit_gib` (XLA_PYTHON_CLIENT_MEM_FRACTION,
    the limit over the first GPU's memory from nvidia-smi, applied to every GPU). Not supported:
    `threads` (XLA has no public thread-pool size), refused rather than ignored.
    """
    if setup.threads is not None:
        raise UserError("threads: not supported on the jax backend (XLA has no thread-pool setting); leave it unset")
    wanted: dict[str, str] = {}
    if setup.memory_growth:
        wanted["XLA_PYTHON_CLIENT_PREALLOCATE"] = "false"
    if setup.memory_limit_gib is not None:
        gpus = detect_gpus()
        if not gpus or gpus[0].mem_gib is None:
            raise UserError(f"memory_limit_gib={setup.memory_limit_gib:g}: nvidia-smi reports no GPU to limit")
        fraction = setup.memory_limit_gib / gpus[0].mem_gib
        if fraction > 1.0:
            raise UserError(
                f"memory_limit_gib={setup.memory_limit_gib:g} is more than the GPU's {gpus[0].mem_gib:.1f} GiB"
            )
        wanted["XLA_PYTHON_CLIENT_MEM_FRACTION"] = f"{fraction:.4f}"
    changes = {k: v for k, v in wanted.items() if os.environ.get(k) != v}
    if changes and "jax" in sys.modules:
        # JAX may already hold the GPU with the old settings; whether it does is not public.
        raise UserError(
            f"cannot set {', '.join(sorted(changes))}: JAX is already loaded in this process; "
            "configure the devices first thing in the process"
        )
    os.environ.update(changes)
    if setup.logical_cpus is not None:
        flags = _XLA_DEVICE_COUNT.sub("", os.environ.get("XLA_FLAGS", "")).strip()
        os.environ["XLA_FLAGS"] = f"{flags} --xla_force_host_platform_device_count={setup.logical_cpus}".strip()
    keras = _backend.load_keras("jax")
    if setup.logical_cpus is not None:
        have = len(keras.distribution.list_devices("cpu"))
        if have != setup.logical_cpus:
            raise UserError(
                f"cannot apply logical_cpus={setup.logical_cpus}: JAX has already started with {have} CPU "
                "device(s); configure the devices first thing in the process"
            )
    return keras


# ----- listing ------------------------------------------------------------------------------------
def list_devices(keras: ModuleType | None = None) -> list[DeviceInfo]:
    """The logical devices to train on: the GPUs if there are any, else the (logical) CPUs.

    `keras` is the configured Keras module (default: Keras on the backend already chosen).
    """
    keras = keras if keras is not None else _backend.load_keras()
    if keras.backend.backend() == "jax":
        return _jax_devices(keras)
    tf = _backend.load_tensorflow()
    logical_gpus = tf.config.list_logical_devices("GPU")
    if logical_gpus:
        physical = tf.config.list_physical_devices("GPU")
        smi = detect_gpus()
        infos = []
        for i, dev in enumerate(logical_gpus):
            p = i * len(physical) // len(logical_gpus)  # `configure` makes one logical device per GPU
            details = tf.config.experimental.get_device_details(physical[p])
            limits = tf.config.get_logical_device_configuration(physical[p]) or []
            limit_mib = limits[0].memory_limit if limits else None
            mem = limit_mib / 1024 if limit_mib else (smi[p].mem_gib if len(smi) == len(physical) else None)
            description = details.get("device_name") or (smi[p].description if len(smi) == len(physical) else "GPU")
            infos.append(DeviceInfo(_canonical(dev.name), "GPU", _index(dev.name), description, mem))
        return infos
    cpu, ram = cpu_description(), host_memory_gib()
    cpus = tf.config.list_logical_devices("CPU")
    return [DeviceInfo(_canonical(d.name), "CPU", _index(d.name), cpu, ram) for d in cpus]


def _jax_devices(keras: ModuleType) -> list[DeviceInfo]:
    try:
        gpus = keras.distribution.list_devices("gpu")
    except RuntimeError:  # JAX raises when it has no GPU platform
        gpus = []
    if gpus:
        smi = detect_gpus()
        known = len(smi) == len(gpus)
        return [
            DeviceInfo(f"/device:GPU:{i}", "GPU", i, smi[i].description if known else "GPU",
                       smi[i].mem_gib if known else None)
            for i in range(len(gpus))
        ]
    cpu, ram = cpu_description(), host_memory_gib()
    num_cpus = len(keras.distribution.list_devices("cpu"))
    return [DeviceInfo(f"/device:CPU:{i}", "CPU", i, cpu, ram) for i in range(num_cpus)]


def physical_devices(keras: ModuleType | None = None) -> list[DeviceInfo]:
    """The machine's devices as the backend sees them before any split ("/physical_device:GPU:0", ...).

    On JAX this is the GPUs nvidia-smi reports (as visible to this process) plus the host CPU.
    """
    keras = keras if keras is not None else _backend.load_keras()
    cpu = DeviceInfo("/physical_device:CPU:0", "CPU", 0, cpu_description(), host_memory_gib())
    if keras.backend.backend() == "jax":
        return [cpu, *detect_gpus()]
    tf = _backend.load_tensorflow()
    smi = detect_gpus()
    infos = []
    for dev in tf.config.list_physical_devices():
        i = _index(dev.name)
        if dev.device_type == "GPU":
            known = len(smi) > i
            name = tf.config.experimental.get_device_details(dev).get("device_name") or "GPU"
            infos.append(DeviceInfo(dev.name, "GPU", i, name, smi[i].mem_gib if known else None))
        elif dev.device_type == "CPU":
            infos.append(DeviceInfo(dev.name, "CPU", i, cpu.description, cpu.mem_gib))
    return infos


def cpu_description() -> str:
    """The CPU's model name (from /proc/cpuinfo on Linux), else what `platform` knows."""
    try:
        with open("/proc/cpuinfo", encoding="utf-8", errors="replace") as f:
            for line in f:
                key, _, value = line.partition(":")
                if key.strip() == "model name" and value.strip():
                    return value.strip()
    except OSError:
        pass
    return platform.processor() or platform.machine() or "CPU"


def host_memory_gib() -> float | None:
    """Total RAM of the machine in GiB, None where the OS does not say."""
    try:
        return os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / _GIB
    except (ValueError, OSError, AttributeError):
        return None


def gpu_type_label(description: str) -> str:
    """The GPU type a device name stands for, as the GPU catalog names it ("NVIDIA GeForce RTX
    2080 Ti" -> "RTX2080Ti", "NVIDIA A100-SXM4-80GB" -> "A100-80GB"), so profile rows and speed
    tables meet the catalog's types; a name the catalog does not list is cut to its model
    ("NVIDIA RTX A6000" -> "A6000", "Tesla X99-16GB" -> "X99")."""
    from simulator.gpu_catalog import GpuCatalog

    catalog = GpuCatalog.default()
    spec = catalog.get(description)
    if spec is not None:
        return spec.gpu_type
    words = [w for w in description.replace("-", " ").split() if w.lower() not in ("nvidia", "tesla", "geforce",
                                                                                        "quadro", "amd", "radeon")]
    if not words:
        return "GPU"
    spec = catalog.get(" ".join(words))
    if spec is not None:
        return spec.gpu_type
    if words[0].upper() in ("RTX", "GTX", "TITAN") and len(words) > 1:
        if not words[1][:1].isdigit():  # "RTX A6000"; "TITAN X"
            return words[1] if words[0].upper() != "TITAN" else "Titan" + words[1]
        suffix = "".join(w.capitalize() for w in words[2:] if w.lower() in ("ti", "super"))
        return words[0].upper() + words[1] + suffix
    return words[0]


# ----- distribution -----------------------------------------------------------------------------
def distribution_for(keras: ModuleType, device_names: Sequence[str]) -> Any:
    """The strategy that pins a job to `device_names` (data-parallel over several).

    TensorFlow: `OneDeviceStrategy` for one device, `MirroredStrategy` for several (with
    `ReductionToOneDevice` on CPUs, where NCCL is absent). JAX: `keras.distribution.DataParallel`
    over the devices of the same kind and index. Names are as `list_devices` gives them
    ("/device:GPU:1"; "GPU:1" and "gpu:1" are accepted too).
    """
    if not device_names:
        raise UserError("a job needs at least one device; none given")
    available: dict[tuple[str, int], DeviceInfo] = {(d.kind, d.index): d for d in list_devices(keras)}
    chosen: list[DeviceInfo] = []
    for name in device_names:
        match = _DEVICE_NAME.search(name.strip())
        dev = available.get((match.group(1).upper(), int(match.group(2)))) if match else None
        if dev is None:
            have = ", ".join(d.name for d in available.values()) or "none"
            raise UserError(f"device {name!r} is not present in this process; the devices are: {have}")
        if dev in chosen:
            raise UserError(f"device {name!r} is named twice in {list(device_names)}")
        chosen.append(dev)
    if len({d.kind for d in chosen}) > 1:
        raise UserError(f"a job cannot mix CPU and GPU devices: {[d.name for d in chosen]}")
    if keras.backend.backend() == "jax":
        return keras.distribution.DataParallel(devices=[f"{d.kind.lower()}:{d.index}" for d in chosen])
    tf = _backend.load_tensorflow()
    if len(chosen) == 1:
        return tf.distribute.OneDeviceStrategy(chosen[0].name)
    ops = tf.distribute.ReductionToOneDevice() if chosen[0].kind == "CPU" else None
    return tf.distribute.MirroredStrategy(devices=[d.name for d in chosen], cross_device_ops=ops)


def _index(name: str) -> int:
    return int(name.rsplit(":", 1)[1])


def _canonical(name: str) -> str:
    """'/job:localhost/replica:0/task:0/device:GPU:0' -> '/device:GPU:0'."""
    return "/" + name.rsplit("/", 1)[-1]


# ----- without TensorFlow: for the parent process ----------------------------------------------
def detect_gpus(timeout_s: float = NVIDIA_SMI_TIMEOUT_S) -> tuple[DeviceInfo, ...]:
    """The NVIDIA GPUs this process may use, from `nvidia-smi` (no TensorFlow or JAX import).

    Honours CUDA_VISIBLE_DEVICES given as indices or GPU UUIDs (in its order, and like CUDA
    ignoring the first entry that matches no GPU and all after it); empty when nvidia-smi is absent, fails or times
    out. Index i here is what the backends call GPU i only when CUDA enumerates in PCI order
    (CUDA_DEVICE_ORDER=PCI_BUS_ID), as nvidia-smi does; names and memory match either way on
    machines with one GPU model.
    """
    exe = shutil.which("nvidia-smi")
    if exe is None:
        return ()
    try:
        proc = subprocess.run(
            [exe, "--query-gpu=index,uuid,name,memory.total", "--format=csv,noheader,nounits"],
            capture_output=True, text=True, timeout=timeout_s, check=False,
        )
    except (OSError, subprocess.TimeoutExpired):
        return ()
    if proc.returncode != 0:
        return ()
    gpus: list[tuple[int, str, str, float | None]] = []
    for line in proc.stdout.splitlines():
        parts = [p.strip() for p in line.split(",")]
        if len(parts) != 4 or not parts[0].isdigit():
            continue
        try:
            mem_gib: float | None = float(parts[3]) / 1024.0
        except ValueError:
            mem_gib = None
        gpus.append((int(parts[0]), parts[1], parts[2], mem_gib))
    visible = os.environ.get("CUDA_VISIBLE_DEVICES")
    if visible is not None:
        picked = []
        for entry in (e.strip() for e in visible.split(",")):
            if not entry:
                break
            match = [g for g in gpus if (entry.isdigit() and g[0] == int(entry)) or
                     (not entry.isdigit() and entry.startswith("GPU-") and g[1].startswith(entry))]
            if not match:
                break  # CUDA stops at the first invalid entry
            if match[0] not in picked:
                picked.append(match[0])
        gpus = picked
    return tuple(DeviceInfo(f"/physical_device:GPU:{i}", "GPU", i, name, mem) for i, (_, _, name, mem) in
                 enumerate(gpus))


def gpu_count_from_env(timeout_s: float = NVIDIA_SMI_TIMEOUT_S) -> int:
    """How many GPUs a child process would see (nvidia-smi and CUDA_VISIBLE_DEVICES; 0 without them)."""
    return len(detect_gpus(timeout_s))
