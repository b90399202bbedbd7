"""The model zoo trains every family for real, starts from seeded weights and resets to them.

Distributed runs (TF MirroredStrategy over two logical CPUs, Keras DataParallel over two JAX host
devices) need device configuration before the backend starts, so they run in subprocesses.
"""

from __future__ import annotations

import importlib.util
import json
import math
import os
import shutil
import subprocess
import sys
import textwrap
from pathlib import Path
from types import ModuleType

import numpy as np
import pytest

from executor.models import FAMILIES, ModelSpec, build_trainer, transfer_base_path

HAS_TF = importlib.util.find_spec("tensorflow") is not None
HAS_JAX = importlib.util.find_spec("jax") is not None
needs_tf = pytest.mark.skipif(not HAS_TF, reason="needs TensorFlow (pip install 'gpusched[executor]')")
# Keras' own save_weights trips NumPy 2's __array__(copy=) deprecation; nothing this module can change.
pytestmark = pytest.mark.filterwarnings("ignore:__array__ implementation doesn't accept a copy keyword")


@pytest.fixture(scope="module")
def keras() -> ModuleType:
    if not HAS_TF:
        pytest.skip("needs TensorFlow (pip install 'gpusched[executor]')")
    from executor import backend

    return backend.load_keras("tensorflow")


@pytest.fixture(scope="module")
def cache_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("model-cache")


def _same(a: list[np.ndarray], b: list[np.ndarray]) -> bool:
    return len(a) == len(b) and all(x.shape == y.shape and np.array_equal(x, y) for x, y in zip(a, b, strict=True))


def _subprocess(code: str, **env: str) -> subprocess.CompletedProcess[str]:
    full_env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3", "CUDA_VISIBLE_DEVICES": "", "JAX_PLATFORMS": "cpu", **env}
    return subprocess.run(
        [sys.executable, "-c", textwrap.dedent(code)], capture_output=True, text=True, timeout=300, env=full_env
    )


def _result(proc: subprocess.CompletedProcess[str]) -> dict[str, object]:
    assert proc.returncode == 0, proc.stderr[-3000:]
    line = [ln for ln in proc.stdout.splitlines() if ln.startswith("RESULT ")][-1]
    result: dict[str, object] = json.loads(line.removeprefix("RESULT "))
    return result


# --- the spec ------------------------------------------------------------------------------------


def test_unknown_family_lists_the_valid_ones() -> None:
    with pytest.raises(ValueError, match="unknown model family 'resnet'; valid families: mlp, cnn, simple_rnn, lstm, gru, gan, transfer"):
        ModelSpec("resnet")


@pytest.mark.parametrize(
    "kwargs, message",
    [
        ({"size": 0}, "model size must be an integer >= 1, got 0"),
        ({"size": True}, "model size must be an integer >= 1, got True"),
        ({"size": 1.5}, "model size must be an integer >= 1, got 1.5"),
        ({"batch_size": 0}, "model batch_size must be an integer >= 1, got 0"),
        ({"seed": -1}, "model seed must be an integer >= 0, got -1"),
    ],
)
def test_bad_spec_values_are_refused(kwargs: dict[str, object], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        ModelSpec("mlp", **kwargs)  # type: ignore[arg-type]


def test_importing_the_zoo_loads_no_backend() -> None:
    proc = _subprocess(
        """
        import json, sys
        import executor.models
        print("RESULT", json.dumps({"loaded": [m for m in ("tensorflow", "keras", "jax") if m in sys.modules]}))
        """
    )
    assert _result(proc) == {"loaded": []}


# --- every family, TF backend ----------------------------------------------------------------------


@needs_tf
@pytest.mark.parametrize("family", FAMILIES)
def test_family_trains_resets_and_round_trips_weights(keras: ModuleType, cache_dir: Path, family: str,
                                                      tmp_path: Path) -> None:
    trainer = build_trainer(keras, ModelSpec(family, batch_size=8), cache_dir=cache_dir)
    assert trainer.num_params > 0 and trainer.num_replicas == 1
    initial = trainer.get_weights()
    trainer.warm_up(2)
    steps_seen: list[int] = []
    loss = trainer.run_steps(3, on_step=steps_seen.append)
    assert steps_seen == [0, 1, 2]
    assert math.isfinite(loss)
    trained = trainer.get_weights()
    assert not _same(initial, trained)

    trainer.save_weights(tmp_path / "ckpt.weights.h5")
    assert [p.name for p in tmp_path.iterdir()] == ["ckpt.weights.h5"]  # no temp file left behind

    trainer.reset()
    assert _same(initial, trainer.get_weights())
    # Fresh optimiser state and the same batch order: the five steps replay to the same loss.
    assert trainer.run_steps(5) == pytest.approx(loss, rel=1e-4)

    trainer.load_weights(tmp_path / "ckpt.weights.h5")
    assert _same(trained, trainer.get_weights())


@needs_tf
@pytest.mark.parametrize("family", FAMILIES)
def test_same_seed_same_initial_weights_other_seed_different(keras: ModuleType, cache_dir: Path, family: str) -> None:
    def initial(seed: int) -> list[np.ndarray]:
        return build_trainer(keras, ModelSpec(family, seed=seed), cache_dir=cache_dir).get_weights()

    first = initial(3)
    assert _same(first, initial(3))
    assert not _same(first, initial(4))


@needs_tf
def test_size_scales_the_model(keras: ModuleType, cache_dir: Path) -> None:
    for family in FAMILIES:
        small = build_trainer(keras, ModelSpec(family, size=1), cache_dir=cache_dir).num_params
        large = build_trainer(keras, ModelSpec(family, size=2), cache_dir=cache_dir).num_params
        assert large > small, family


@needs_tf
def test_transfer_base_is_built_once_then_loaded_and_frozen(keras: ModuleType, tmp_path: Path) -> None:
    spec = ModelSpec("transfer", seed=0)
    path = transfer_base_path(tmp_path, spec)
    assert path.name == "transfer-base-1-0.weights.h5"
    first = build_trainer(keras, spec, cache_dir=tmp_path)
    assert path.is_file()
    stamp, content = path.stat().st_mtime_ns, path.read_bytes()

    second = build_trainer(keras, spec, cache_dir=tmp_path)
    assert (path.stat().st_mtime_ns, path.read_bytes()) == (stamp, content)
    assert _same(first.get_weights(), second.get_weights())
    assert sorted(p.name for p in tmp_path.iterdir()) == ["transfer-base-1-0.weights.h5"]

    base = second._model.get_layer("transfer_base")
    assert base.trainable is False and base.trainable_weights == [] and len(base.weights) > 0
    head_params = sum(int(np.prod(w.shape)) for w in second._model.trainable_weights)
    assert 0 < head_params < second.num_params

    # The file, not the seed, decides the base: plant seed 1's base under seed 0's name.
    other = build_trainer(keras, ModelSpec("transfer", seed=1), cache_dir=tmp_path)
    shutil.copyfile(transfer_base_path(tmp_path, ModelSpec("transfer", seed=1)), path)
    planted = build_trainer(keras, spec, cache_dir=tmp_path)
    planted_base = planted._model.get_layer("transfer_base").get_weights()
    assert _same(planted_base, other._model.get_layer("transfer_base").get_weights())
    assert not _same(planted_base, base.get_weights())


@needs_tf
def test_bad_calls_are_refused(keras: ModuleType, cache_dir: Path, tmp_path: Path) -> None:
    trainer = build_trainer(keras, ModelSpec("mlp"), cache_dir=cache_dir)
    with pytest.raises(ValueError, match="number of steps must be >= 1, got 0"):
        trainer.run_steps(0)
    with pytest.raises(ValueError, match="warm-up steps must be >= 0, got -1"):
        trainer.warm_up(-1)
    with pytest.raises(ValueError, match=r"must end in \.weights\.h5"):
        trainer.save_weights(tmp_path / "ckpt.h5")
    with pytest.raises(TypeError, match="distribution must be a tf.distribute.Strategy"):
        build_trainer(keras, ModelSpec("mlp"), cache_dir=cache_dir, distribution=object())


# --- distributed and other backends, in subprocesses ------------------------------------------------


@needs_tf
@pytest.mark.slow
def test_mirrored_strategy_over_two_cpus_splits_the_global_batch(tmp_path: Path) -> None:
    proc = _subprocess(
        f"""
        import json, math
        from pathlib import Path
        import numpy as np
        from executor import backend
        tf = backend.load_tensorflow()
        cpus = tf.config.list_physical_devices("CPU")
        tf.config.set_logical_device_configuration(cpus[0], [tf.config.LogicalDeviceConfiguration()] * 2)
        keras = backend.load_keras("tensorflow")
        from executor.models import ModelSpec, build_trainer
        strategy = tf.distribute.MirroredStrategy([d.name for d in tf.config.list_logical_devices("CPU")])
        out = {{}}
        for family in ("mlp", "cnn", "gan"):
            trainer = build_trainer(keras, ModelSpec(family, batch_size=4), cache_dir=Path({str(tmp_path)!r}),
                                    distribution=strategy)
            initial = trainer.get_weights()
            trainer.warm_up(1)
            loss = trainer.run_steps(2)
            changed = any(not np.array_equal(a, b) for a, b in zip(initial, trainer.get_weights()))
            trainer.reset()
            restored = all(np.array_equal(a, b) for a, b in zip(initial, trainer.get_weights()))
            x = trainer._phases[0].batches[0][0]
            first_input = x[0] if isinstance(x, tuple) else x
            rows = [int(v.shape[0]) for v in first_input.values]
            out[family] = [trainer.num_replicas, math.isfinite(loss), changed, restored, rows]
        print("RESULT", json.dumps(out))
        """
    )
    result = _result(proc)
    assert result == {family: [2, True, True, True, [4, 4]] for family in ("mlp", "cnn", "gan")}


@needs_tf
@pytest.mark.slow
@pytest.mark.skipif(not HAS_JAX, reason="needs JAX (pip install 'gpusched[jax]')")
def test_jax_backend_trains_every_family_and_data_parallel(keras: ModuleType, tmp_path: Path) -> None:
    proc = _subprocess(
        f"""
        import json, math
        from pathlib import Path
        import numpy as np
        from executor import backend
        keras = backend.load_keras("jax")
        from executor.models import FAMILIES, ModelSpec, build_trainer
        cache = Path({str(tmp_path)!r})
        out = {{"backend": keras.backend.backend()}}
        for family in FAMILIES:
            trainer = build_trainer(keras, ModelSpec(family, batch_size=8), cache_dir=cache)
            out[family] = math.isfinite(trainer.run_steps(2))
        np.savez(cache / "mlp_initial.npz", *build_trainer(keras, ModelSpec("mlp"), cache_dir=cache).get_weights())
        devices = keras.distribution.list_devices()
        distribution = keras.distribution.DataParallel(devices=devices)
        for family in ("mlp", "gan"):
            trainer = build_trainer(keras, ModelSpec(family, batch_size=4), cache_dir=cache,
                                    distribution=distribution)
            initial = trainer.get_weights()
            loss = trainer.run_steps(2)
            changed = any(not np.array_equal(a, b) for a, b in zip(initial, trainer.get_weights()))
            trainer.reset()
            restored = all(np.array_equal(a, b) for a, b in zip(initial, trainer.get_weights()))
            out["dp_" + family] = [len(devices), trainer.num_replicas, math.isfinite(loss), changed, restored]
        print("RESULT", json.dumps(out))
        """,
        KERAS_BACKEND="jax",
        XLA_FLAGS="--xla_force_host_platform_device_count=2",
    )
    result = _result(proc)
    assert result == {
        "backend": "jax",
        **{family: True for family in FAMILIES},
        "dp_mlp": [2, 2, True, True, True],
        "dp_gan": [2, 2, True, True, True],
    }
    # Initial weights come from NumPy, so one spec starts from the same weights on either backend.
    with np.load(tmp_path / "mlp_initial.npz") as saved:
        jax_initial = [saved[f"arr_{i}"] for i in range(len(saved.files))]
    assert _same(jax_initial, build_trainer(keras, ModelSpec("mlp"), cache_dir=tmp_path).get_weights())
