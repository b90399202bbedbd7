"""Devices: setup validation, nvidia-smi detection without TensorFlow, and the backends' device controls.

TensorFlow and JAX fix their device layout once per process, so every test that configures a
backend runs in its own subprocess and reports back as JSON.
"""

from __future__ import annotations

import json
import os
import stat
import subprocess
import sys
import textwrap
from pathlib import Path
from typing import Any

import pytest

from executor.devices import DeviceInfo, DeviceSetup, detect_gpus, gpu_count_from_env, gpu_type_label
from traces.errors import UserError


# ----- DeviceSetup -------------------------------------------------------------------------------
@pytest.mark.parametrize(
    "kwargs, message",
    [
        ({"backend": "torch"}, "backend: expected one of tensorflow, jax but found 'torch'"),
        ({"logical_cpus": 0}, "logical_cpus: expected an integer >= 1 but found 0"),
        ({"threads": 2.5}, "threads: expected an integer >= 1 but found 2.5"),
        ({"memory_limit_gib": -1.0}, "memory_limit_gib: expected a number of GiB > 0 but found -1.0"),
        ({"precision": "float16"},
         "precision: expected one of float32, mixed_float16, mixed_bfloat16 but found 'float16'"),
        ({"cpu_cores": ()}, "cpu_cores: expected core numbers >= 0 but found ()"),
        ({"cpu_cores": (-1,)}, "cpu_cores: expected core numbers >= 0 but found (-1,)"),
    ],
)
def test_a_bad_setup_is_a_one_line_user_error(kwargs: dict[str, Any], message: str) -> None:
    with pytest.raises(UserError) as err:
        DeviceSetup(**kwargs)
    assert str(err.value) == message


def test_the_default_setup_asks_for_nothing_but_float32_and_memory_growth() -> None:
    setup = DeviceSetup()
    assert (setup.backend, setup.logical_cpus, setup.memory_growth, setup.memory_limit_gib, setup.threads,
            setup.precision) == ("tensorflow", None, True, None, None, "float32")


# ----- labels ------------------------------------------------------------------------------------
@pytest.mark.parametrize(
    "description, label",
    [
        ("NVIDIA H100 80GB HBM3", "H100"),
        ("NVIDIA A100-SXM4-80GB", "A100-80GB"),
        ("NVIDIA A100", "A100"),
        ("NVIDIA GeForce RTX 2080 Ti", "RTX2080Ti"),
        ("NVIDIA GeForce RTX 2080", "RTX2080"),
        ("NVIDIA TITAN RTX", "TitanRTX"),
        ("NVIDIA TITAN V", "TitanV"),
        ("AMD Instinct MI250X", "MI250X"),
        ("NVIDIA GeForce RTX 3060 Ti", "RTX3060Ti"),
        ("NVIDIA TITAN Xp", "TitanXp"),
        ("Tesla V100-SXM2-32GB", "V100"),
        ("Tesla T4", "T4"),
        ("NVIDIA GeForce RTX 4090", "RTX4090"),
        ("NVIDIA RTX A6000", "A6000"),
        ("NVIDIA", "GPU"),
    ],
)
def test_gpu_type_label_keeps_the_model(description: str, label: str) -> None:
    assert gpu_type_label(description) == label
    assert DeviceInfo("/device:GPU:0", "GPU", 0, description, 80.0).type_label == label


def test_a_cpu_device_is_labelled_cpu() -> None:
    assert DeviceInfo("/device:CPU:1", "CPU", 1, "AMD EPYC", 23.5).type_label == "CPU"


# ----- nvidia-smi, no TensorFlow ---------------------------------------------------------------
SMI_OUTPUT = (
    "0, GPU-aaaa1111-0000, NVIDIA H100 80GB HBM3, 81559\n"
    "1, GPU-bbbb2222-0000, NVIDIA H100 80GB HBM3, 81559\n"
    "2, GPU-cccc3333-0000, NVIDIA A100-SXM4-40GB, 40960\n"
)


def _fake_smi(bin_dir: Path, body: str) -> None:
    bin_dir.mkdir(exist_ok=True)
    exe = bin_dir / "nvidia-smi"
    exe.write_text("#!/bin/sh\n" + body)
    exe.chmod(exe.stat().st_mode | stat.S_IXUSR)


@pytest.fixture
def smi(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A fake nvidia-smi that lists three GPUs (and checks it was asked for the CSV query)."""
    bin_dir = tmp_path / "bin"
    (tmp_path / "out.txt").write_text(SMI_OUTPUT)
    _fake_smi(bin_dir, f'case "$1" in --query-gpu=*) cat {tmp_path / "out.txt"};; *) exit 9;; esac\n')
    monkeypatch.setenv("PATH", f"{bin_dir}:/usr/bin:/bin")
    monkeypatch.delenv("CUDA_VISIBLE_DEVICES", raising=False)
    return bin_dir


def test_detect_gpus_reads_names_and_memory_from_nvidia_smi(smi: Path) -> None:
    gpus = detect_gpus()
    assert [(g.name, g.kind, g.index, g.description) for g in gpus] == [
        ("/physical_device:GPU:0", "GPU", 0, "NVIDIA H100 80GB HBM3"),
        ("/physical_device:GPU:1", "GPU", 1, "NVIDIA H100 80GB HBM3"),
        ("/physical_device:GPU:2", "GPU", 2, "NVIDIA A100-SXM4-40GB"),
    ]
    assert gpus[2].mem_gib == pytest.approx(40.0)
    assert gpu_count_from_env() == 3


@pytest.mark.parametrize(
    "visible, descriptions",
    [
        ("2,0", ["NVIDIA A100-SXM4-40GB", "NVIDIA H100 80GB HBM3"]),  # CUDA's order, renumbered from 0
        ("GPU-bbbb", ["NVIDIA H100 80GB HBM3"]),  # a UUID prefix
        ("1,7,2", ["NVIDIA H100 80GB HBM3"]),  # CUDA ignores an invalid entry and all after it
        ("", []),
        ("-1", []),
    ],
)
def test_detect_gpus_honours_cuda_visible_devices(smi: Path, monkeypatch: pytest.MonkeyPatch, visible: str,
                                                  descriptions: list[str]) -> None:
    monkeypatch.setenv("CUDA_VISIBLE_DEVICES", visible)
    gpus = detect_gpus()
    assert [g.description for g in gpus] == descriptions
    assert [g.index for g in gpus] == list(range(len(descriptions)))


def test_no_failing_or_hanging_nvidia_smi_means_no_gpus(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("CUDA_VISIBLE_DEVICES", raising=False)
    monkeypatch.setenv("PATH", str(tmp_path / "empty"))
    assert detect_gpus() == () and gpu_count_from_env() == 0
    _fake_smi(tmp_path / "failing", "echo 'NVIDIA-SMI has failed' >&2; exit 9\n")
    monkeypatch.setenv("PATH", f"{tmp_path / 'failing'}:/usr/bin:/bin")
    assert detect_gpus() == ()
    _fake_smi(tmp_path / "hanging", "exec sleep 30\n")
    monkeypatch.setenv("PATH", f"{tmp_path / 'hanging'}:/usr/bin:/bin")
    assert detect_gpus(timeout_s=0.2) == ()


# ----- backends, each in its own process -----------------------------------------------------
def run_python(code: str, tmp_path: Path) -> dict[str, Any]:
    """Run `code` in a fresh interpreter; it prints one JSON line last."""
    env = {k: v for k, v in os.environ.items() if k not in ("KERAS_BACKEND", "XLA_FLAGS", "CUDA_VISIBLE_DEVICES")}
    env.update(TF_CPP_MIN_LOG_LEVEL="3", CUDA_VISIBLE_DEVICES="")
    proc = subprocess.run([sys.executable, "-c", textwrap.dedent(code)], capture_output=True, text=True,
                          timeout=300, env=env, cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr[-3000:]
    return json.loads(proc.stdout.strip().splitlines()[-1])


TENSORFLOW_SCRIPT = """
    import json
    from pathlib import Path
    from executor import devices, models
    from traces.errors import UserError

    def error(fn, *args):
        try:
            fn(*args)
        except UserError as exc:
            return str(exc)
        return None

    setup = devices.DeviceSetup(logical_cpus=3, threads=2)
    keras = devices.configure(setup)
    listed = devices.list_devices(keras)
    again = devices.configure(setup) is keras
    one = devices.distribution_for(keras, ["/device:CPU:1"])
    two = devices.distribution_for(keras, ["CPU:0", "/device:CPU:2"])
    spec = models.ModelSpec("mlp", batch_size=8)
    trainer = models.build_trainer(keras, spec, cache_dir=Path("cache"), distribution=two)
    trainer.warm_up(1)
    loss = trainer.run_steps(2)
    print(json.dumps({
        "devices": [[d.name, d.kind, d.index, d.mem_gib is not None and d.mem_gib > 0] for d in listed],
        "default_listing": [d.name for d in devices.list_devices()],
        "physical": [d.name for d in devices.physical_devices()],
        "again": again,
        "one": [type(one).__name__, list(one.extended.worker_devices)],
        "two": [type(two).__name__, two.num_replicas_in_sync, type(two.extended._cross_device_ops).__name__],
        "replicas": trainer.num_replicas,
        "loss": loss,
        "fewer_cpus": error(devices.configure, devices.DeviceSetup(logical_cpus=2, threads=2)),
        "other_threads": error(devices.configure, devices.DeviceSetup(logical_cpus=3, threads=1)),
        "no_gpu_to_limit": error(devices.configure, devices.DeviceSetup(logical_cpus=3, memory_limit_gib=1.0)),
        "missing": error(devices.distribution_for, keras, ["/device:CPU:3"]),
        "twice": error(devices.distribution_for, keras, ["CPU:1", "cpu:1"]),
        "none": error(devices.distribution_for, keras, []),
        "policy": keras.mixed_precision.global_policy().name,
    }))
"""


@pytest.mark.slow
def test_tensorflow_logical_cpus_pin_and_mirror_a_real_model(tmp_path: Path) -> None:
    got = run_python(TENSORFLOW_SCRIPT, tmp_path)
    assert got["devices"] == [[f"/device:CPU:{i}", "CPU", i, True] for i in range(3)]
    assert got["default_listing"] == ["/device:CPU:0", "/device:CPU:1", "/device:CPU:2"]
    assert got["physical"] == ["/physical_device:CPU:0"]
    assert got["again"] is True and got["policy"] == "float32"
    assert got["one"][0] == "OneDeviceStrategy" and got["one"][1][0].endswith("/device:CPU:1")
    assert got["two"] == ["MirroredStrategy", 2, "ReductionToOneDevice"]
    assert got["replicas"] == 2 and got["loss"] == pytest.approx(got["loss"]) and got["loss"] > 0
    assert got["fewer_cpus"] == (
        "cannot apply logical_cpus=2: TensorFlow has already initialised its devices and it has 3 CPU device(s); "
        "configure the devices first thing in the process"
    )
    assert got["other_threads"].startswith("cannot apply threads=1: TensorFlow has already initialised")
    assert got["no_gpu_to_limit"] == "memory_limit_gib=1: TensorFlow sees no GPU to limit"
    assert got["missing"] == (
        "device '/device:CPU:3' is not present in this process; the devices are: /device:CPU:0, /device:CPU:1, "
        "/device:CPU:2"
    )
    assert got["twice"] == "device 'cpu:1' is named twice in ['CPU:1', 'cpu:1']"
    assert got["none"] == "a job needs at least one device; none given"


JAX_SCRIPT = """
    import json
    from pathlib import Path
    from executor import devices, models
    from traces.errors import UserError

    try:
        devices.configure(devices.DeviceSetup(backend="jax", threads=2))
        refused = None
    except UserError as exc:
        refused = str(exc)
    keras = devices.configure(devices.DeviceSetup(backend="jax", logical_cpus=2, precision="mixed_bfloat16"))
    dist = devices.distribution_for(keras, ["/device:CPU:0", "/device:CPU:1"])
    keras.mixed_precision.set_global_policy("float32")
    trainer = models.build_trainer(keras, models.ModelSpec("mlp", batch_size=8), cache_dir=Path("c"),
                                   distribution=dist)
    loss = trainer.run_steps(2)
    try:
        devices.configure(devices.DeviceSetup(backend="jax", logical_cpus=3))
        late = None
    except UserError as exc:
        late = str(exc)
    print(json.dumps({
        "refused": refused,
        "backend": keras.backend.backend(),
        "devices": [d.name for d in devices.list_devices(keras)],
        "dist": [type(dist).__name__, [str(d) for d in dist.device_mesh.devices]],
        "replicas": trainer.num_replicas, "loss": loss, "late": late,
    }))
"""


@pytest.mark.slow
def test_jax_logical_cpus_come_from_xla_flags_and_train_data_parallel(tmp_path: Path) -> None:
    pytest.importorskip("jax", reason="needs JAX (pip install 'gpusched[jax]')")
    got = run_python(JAX_SCRIPT, tmp_path)
    assert got["refused"] == (
        "threads: not supported on the jax backend (XLA has no thread-pool setting); leave it unset"
    )
    assert got["backend"] == "jax"
    assert got["devices"] == ["/device:CPU:0", "/device:CPU:1"]
    assert got["dist"] == ["DataParallel", ["cpu:0", "cpu:1"]]
    assert got["replicas"] == 2 and got["loss"] > 0
    assert got["late"] == (
        "cannot apply logical_cpus=3: JAX has already started with 2 CPU device(s); "
        "configure the devices first thing in the process"
    )


def test_pinning_to_a_core_the_process_may_not_use_is_refused() -> None:
    from executor.devices import pin_to_cores, usable_cores

    assert usable_cores() == tuple(sorted(os.sched_getaffinity(0)))
    with pytest.raises(UserError, match=r"cpu_cores: core\(s\) \[100000\] are not available to this process"):
        pin_to_cores([100000])


@pytest.mark.slow
def test_configure_pins_the_process_and_the_threads_tensorflow_starts(tmp_path: Path) -> None:
    got = run_python("""
        import json, os
        from executor import devices
        keras = devices.configure(devices.DeviceSetup(threads=1, cpu_cores=(0,)))
        keras.ops.sum(keras.ops.ones((64, 64)) @ keras.ops.ones((64, 64)))  # TensorFlow's pools are up
        tids = os.listdir("/proc/self/task")
        masks = {tuple(sorted(os.sched_getaffinity(int(t)))) for t in tids}
        print(json.dumps({"threads": len(tids), "masks": sorted(masks)}))
    """, tmp_path)
    assert got["threads"] > 1 and got["masks"] == [[0]]
