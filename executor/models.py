"""The Keras 3 model zoo the executor trains for real: one small, seeded model per family.

A family (mlp, cnn, simple_rnn, lstm, gru, gan, transfer) is built, compiled and wrapped in a
`Trainer` that steps it with `train_on_batch` on a few fixed synthetic batches kept in device
memory, so a step costs compute only, never an input pipeline. Keras arrives as an argument (from
`executor.backend.load_keras()`): importing this module loads neither TensorFlow nor JAX. `size`
is a dimensionless width multiplier, `batch_size` is per replica; the transfer family caches its
frozen base's weights under `cache_dir` (built from a seed, never downloaded).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager, nullcontext
from dataclasses import dataclass
from pathlib import Path
from types import ModuleType
from typing import Any

import numpy as np

from simulator.atomic import atomic_write

FAMILIES: tuple[str, ...] = ("mlp", "cnn", "simple_rnn", "lstm", "gru", "gan", "transfer")

_NUM_BATCHES = 4  # distinct synthetic batches, cycled
_NUM_CLASSES = 10
_MLP_FEATURES = 64
_IMAGE_SHAPE = (28, 28, 1)  # MNIST-like, for cnn and gan
_TRANSFER_SHAPE = (32, 32, 3)  # CIFAR-like, for transfer
_VOCAB = 1000
_SEQ_LEN = 32
_LATENT = 16
# Independent seed streams: the transfer base depends on (size, seed) only, as its cache file name says.
_STREAM_MODEL, _STREAM_BASE, _STREAM_DATA = 0, 1, 2


@dataclass(frozen=True, slots=True)
class ModelSpec:
    """What to train: a family from FAMILIES, a width multiplier, the per-replica batch and the seed."""

    family: str
    size: int = 1
    batch_size: int = 32
    seed: int = 0

    def __post_init__(self) -> None:
        if self.family not in FAMILIES:
            raise ValueError(f"unknown model family {self.family!r}; valid families: {', '.join(FAMILIES)}")
        for name, low in (("size", 1), ("batch_size", 1), ("seed", 0)):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int) or value < low:
                raise ValueError(f"model {name} must be an integer >= {low}, got {value!r}")


@dataclass(frozen=True, slots=True)
class _Phase:
    """One optimiser update inside a training step (a GAN step has two).

    `trainable` lists (layer, flag) pairs set before the update: Keras 3 reads trainable flags when it
    builds the optimiser and traces the step, so each phase must always see the flags it was built with.
    """

    model: Any
    batches: tuple[tuple[Any, Any], ...]  # (x, y) per fixed batch, global batch on axis 0
    trainable: tuple[tuple[Any, bool], ...] = ()


@dataclass(frozen=True, slots=True)
class _Built:
    model: Any  # holds every weight: what save/load/num_params see
    phases: tuple[_Phase, ...]


class _Ctx:
    """What a family builder needs: seeded initialisers, a data generator and the global batch."""

    def __init__(self, keras: ModuleType, spec: ModelSpec, num_replicas: int, cache_dir: Path) -> None:
        self.keras = keras
        self.spec = spec
        self.cache_dir = cache_dir
        self.global_batch = spec.batch_size * num_replicas
        self.rng = np.random.default_rng([spec.seed, _STREAM_DATA])
        self.init = _Init(keras, spec.seed, _STREAM_MODEL)

    def labels(self) -> np.ndarray:
        return self.rng.integers(0, _NUM_CLASSES, size=self.global_batch, dtype=np.int32)

    def floats(self, shape: tuple[int, ...], low: float = -1.0, high: float = 1.0) -> np.ndarray:
        return self.rng.uniform(low, high, size=(self.global_batch, *shape)).astype(np.float32)


def _glorot_uniform(rng: np.random.Generator, shape: tuple[int, ...]) -> np.ndarray:
    receptive = int(np.prod(shape[:-2])) if len(shape) > 2 else 1
    fan_in, fan_out = shape[-2] * receptive, shape[-1] * receptive
    limit = np.sqrt(6.0 / (fan_in + fan_out))
    return rng.uniform(-limit, limit, size=shape)


def _orthogonal(rng: np.random.Generator, shape: tuple[int, ...]) -> np.ndarray:
    rows, cols = int(np.prod(shape[:-1])), shape[-1]
    q, r = np.linalg.qr(rng.standard_normal((max(rows, cols), min(rows, cols))))
    q = q * np.sign(np.diag(r))
    return (q if rows >= cols else q.T).reshape(shape)


def _small_uniform(rng: np.random.Generator, shape: tuple[int, ...]) -> np.ndarray:
    return rng.uniform(-0.05, 0.05, size=shape)  # Keras' Embedding default


class _NumpyInit:
    """A Keras initializer drawn with NumPy: same values on every backend, and no per-shape JAX compile.

    Keras' own seeded initializers draw through backend random ops, which JAX compiles once per weight
    shape (about a second each on CPU): the zoo would spend most of a build compiling initializers.
    """

    def __init__(self, draw: Callable[[np.random.Generator, tuple[int, ...]], np.ndarray], seed: int) -> None:
        self._draw = draw
        self._seed = seed

    def __call__(self, shape: tuple[int, ...], dtype: Any = None) -> np.ndarray:
        values = self._draw(np.random.default_rng(self._seed), tuple(int(d) for d in shape))
        return values.astype(dtype or "float32")


class _Init:
    """Hands each layer its own seeded initializers, so one spec always starts from the same weights.

    Seeded initializers (not `keras.utils.set_random_seed`) keep library code free of global state.
    """

    def __init__(self, keras: ModuleType, seed: int, stream: int) -> None:
        self._layers = keras.layers
        self._rng = np.random.default_rng([seed, stream])

    def _next(self, draw: Callable[[np.random.Generator, tuple[int, ...]], np.ndarray]) -> _NumpyInit:
        return _NumpyInit(draw, int(self._rng.integers(0, 2**63 - 1)))

    def dense(self, units: int, activation: str | None = None) -> Any:
        return self._layers.Dense(units, activation=activation, kernel_initializer=self._next(_glorot_uniform))

    def conv(self, filters: int) -> Any:
        return self._layers.Conv2D(
            filters, 3, padding="same", activation="relu", kernel_initializer=self._next(_glorot_uniform)
        )

    def embedding(self, vocab: int, dim: int) -> Any:
        return self._layers.Embedding(vocab, dim, embeddings_initializer=self._next(_small_uniform))

    def recurrent(self, layer_name: str, units: int) -> Any:
        return getattr(self._layers, layer_name)(
            units, kernel_initializer=self._next(_glorot_uniform), recurrent_initializer=self._next(_orthogonal)
        )


def _compile_classifier(keras: ModuleType, model: Any) -> None:
    model.compile(
        optimizer=keras.optimizers.Adam(1e-3), loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True)
    )


def _classifier(ctx: _Ctx, model: Any, input_fn: Callable[[], np.ndarray]) -> _Built:
    _compile_classifier(ctx.keras, model)
    batches = tuple((input_fn(), ctx.labels()) for _ in range(_NUM_BATCHES))
    return _Built(model, (_Phase(model, batches),))


def _build_mlp(ctx: _Ctx) -> _Built:
    k, s = ctx.keras, ctx.spec.size
    model = k.Sequential(
        [
            k.Input((_MLP_FEATURES,)),
            ctx.init.dense(64 * s, "relu"),
            ctx.init.dense(64 * s, "relu"),
            ctx.init.dense(_NUM_CLASSES),
        ],
        name="mlp",
    )
    return _classifier(ctx, model, lambda: ctx.rng.standard_normal((ctx.global_batch, _MLP_FEATURES), np.float32))


def _build_cnn(ctx: _Ctx) -> _Built:
    k, s, layers = ctx.keras, ctx.spec.size, ctx.keras.layers
    model = k.Sequential(
        [
            k.Input(_IMAGE_SHAPE),
            ctx.init.conv(8 * s),
            layers.MaxPooling2D(),
            ctx.init.conv(16 * s),
            layers.MaxPooling2D(),
            layers.Flatten(),
            ctx.init.dense(_NUM_CLASSES),
        ],
        name="cnn",
    )
    return _classifier(ctx, model, lambda: ctx.floats(_IMAGE_SHAPE, 0.0, 1.0))


def _recurrent_builder(family: str, layer_name: str) -> Callable[[_Ctx], _Built]:
    """Sequence classification over integer tokens: Embedding -> one recurrent layer -> logits."""

    def build(ctx: _Ctx) -> _Built:
        k, s = ctx.keras, ctx.spec.size
        model = k.Sequential(
            [
                k.Input((_SEQ_LEN,), dtype="int32"),
                ctx.init.embedding(_VOCAB, 16 * s),
                ctx.init.recurrent(layer_name, 32 * s),
                ctx.init.dense(_NUM_CLASSES),
            ],
            name=family,
        )
        return _classifier(
            ctx, model, lambda: ctx.rng.integers(0, _VOCAB, size=(ctx.global_batch, _SEQ_LEN), dtype=np.int32)
        )

    return build


def _build_gan(ctx: _Ctx) -> _Built:
    """A dense GAN on 28x28 images; one step = one discriminator update, then one generator update.

    Both updates are plain `train_on_batch` calls on two compiled models that share the generator
    and the discriminator, each with the other network frozen, so no backend-specific gradient code
    is needed. The discriminator model takes (real, noise) and makes the fakes in-graph, so each
    replica generates its own fakes and the real/fake labels split cleanly across replicas.
    """
    k, s, layers = ctx.keras, ctx.spec.size, ctx.keras.layers
    generator = k.Sequential(
        [
            k.Input((_LATENT,)),
            ctx.init.dense(64 * s, "relu"),
            ctx.init.dense(int(np.prod(_IMAGE_SHAPE)), "tanh"),
            layers.Reshape(_IMAGE_SHAPE),
        ],
        name="generator",
    )
    discriminator = k.Sequential(
        [k.Input(_IMAGE_SHAPE), layers.Flatten(), ctx.init.dense(64 * s, "leaky_relu"), ctx.init.dense(1, "sigmoid")],
        name="discriminator",
    )
    real_in, noise_in = k.Input(_IMAGE_SHAPE), k.Input((_LATENT,))
    d_step = k.Model(
        [real_in, noise_in], [discriminator(real_in), discriminator(generator(noise_in))], name="gan_discriminator_step"
    )
    d_step.compile(optimizer=k.optimizers.Adam(2e-4, beta_1=0.5), loss=["binary_crossentropy"] * 2)
    g_noise_in = k.Input((_LATENT,))
    g_step = k.Model(g_noise_in, discriminator(generator(g_noise_in)), name="gan")
    g_step.compile(optimizer=k.optimizers.Adam(2e-4, beta_1=0.5), loss="binary_crossentropy")

    ones = np.ones((ctx.global_batch, 1), np.float32)
    zeros = np.zeros((ctx.global_batch, 1), np.float32)
    d_batches, g_batches = [], []
    for _ in range(_NUM_BATCHES):
        real, noise = ctx.floats(_IMAGE_SHAPE), ctx.rng.standard_normal((ctx.global_batch, _LATENT), np.float32)
        d_batches.append(((real, noise), (ones, zeros)))
        g_batches.append((noise, ones))
    return _Built(
        g_step,
        (
            _Phase(d_step, tuple(d_batches), ((generator, False), (discriminator, True))),
            _Phase(g_step, tuple(g_batches), ((generator, True), (discriminator, False))),
        ),
    )


def transfer_base_path(cache_dir: Path, spec: ModelSpec) -> Path:
    """Where the transfer family keeps its frozen base's weights for this size and seed."""
    return Path(cache_dir) / f"transfer-base-{spec.size}-{spec.seed}.weights.h5"


def _build_transfer(ctx: _Ctx) -> _Built:
    """A frozen convolutional base (cached weights, as if pretrained) plus a new trainable head.

    The base is built from its own seed stream and saved the first time; later builds load the
    file, so a job pays the real cost of reading pretrained weights without any download.
    """
    k, s, layers = ctx.keras, ctx.spec.size, ctx.keras.layers
    base_init = _Init(k, ctx.spec.seed, _STREAM_BASE)
    base = k.Sequential(
        [
            k.Input(_TRANSFER_SHAPE),
            base_init.conv(8 * s),
            layers.MaxPooling2D(),
            base_init.conv(16 * s),
            layers.MaxPooling2D(),
            base_init.conv(32 * s),
            layers.GlobalAveragePooling2D(),
        ],
        name="transfer_base",
    )
    path = transfer_base_path(ctx.cache_dir, ctx.spec)
    if path.exists():
        base.load_weights(path)
    else:
        path.parent.mkdir(parents=True, exist_ok=True)
        _save_atomic(base, path)
    base.trainable = False
    inputs = k.Input(_TRANSFER_SHAPE)
    features = base(inputs, training=False)
    outputs = ctx.init.dense(_NUM_CLASSES)(ctx.init.dense(32 * s, "relu")(features))
    model = k.Model(inputs, outputs, name="transfer")
    return _classifier(ctx, model, lambda: ctx.floats(_TRANSFER_SHAPE, 0.0, 1.0))


_BUILDERS: dict[str, Callable[[_Ctx], _Built]] = {
    "mlp": _build_mlp,
    "cnn": _build_cnn,
    "simple_rnn": _recurrent_builder("simple_rnn", "SimpleRNN"),
    "lstm": _recurrent_builder("lstm", "LSTM"),
    "gru": _recurrent_builder("gru", "GRU"),
    "gan": _build_gan,
    "transfer": _build_transfer,
}


def _save_atomic(model: Any, path: Path) -> None:
    """Write weights to a temp file beside `path`, then rename: readers never see half a file."""
    path = Path(path)
    if not path.name.endswith(".weights.h5"):
        raise ValueError(f"weights file name must end in .weights.h5 (Keras 3 format), got {path.name!r}")
    atomic_write(path, lambda tmp: model.save_weights(str(tmp)), suffix=".weights.h5")


class Trainer:
    """A built, compiled model on fixed synthetic batches, stepped on demand and reset between jobs."""

    __slots__ = ("spec", "num_params", "num_replicas", "_model", "_phases", "_scope", "_initial", "_num_steps")

    def __init__(
        self,
        spec: ModelSpec,
        built: _Built,
        num_replicas: int,
        scope: Callable[[], AbstractContextManager[Any]],
        initial: tuple[tuple[Any, np.ndarray], ...],
    ) -> None:
        self.spec = spec
        self.num_params: int = int(built.model.count_params())
        self.num_replicas = num_replicas  # global batch = spec.batch_size * num_replicas
        self._model = built.model
        self._phases = built.phases
        self._scope = scope
        self._initial = initial
        self._num_steps = 0

    def warm_up(self, steps: int = 2) -> None:
        """Train a few steps so tracing/compilation is done and later steps run at steady speed."""
        if steps < 0:
            raise ValueError(f"warm-up steps must be >= 0, got {steps}")
        if steps:
            self.run_steps(steps)

    def run_steps(self, n: int, on_step: Callable[[int], None] | None = None) -> float:
        """Train `n` steps, calling `on_step(i)` (i = 0..n-1) after each; return the last step's loss.

        A GAN step's loss is its discriminator loss plus its generator loss. Backend errors (out of
        memory included) propagate unchanged.
        """
        if n < 1:
            raise ValueError(f"number of steps must be >= 1, got {n}")
        loss = float("nan")
        with self._scope():
            for i in range(n):
                loss = self._step()
                if on_step is not None:
                    on_step(i)
        return loss

    def _step(self) -> float:
        k = self._num_steps % _NUM_BATCHES
        loss = 0.0
        for phase in self._phases:
            for layer, flag in phase.trainable:
                layer.trainable = flag
            x, y = phase.batches[k]
            loss += float(phase.model.train_on_batch(x, y, return_dict=True)["loss"])
        self._num_steps += 1
        return loss

    def get_weights(self) -> list[np.ndarray]:
        """A NumPy copy of every model weight, in a fixed order (for checks; training never needs it)."""
        return [np.array(w, copy=True) for w in self._model.get_weights()]

    def save_weights(self, path: Path) -> None:
        """Write the model weights (not the optimiser state) atomically; the name must end in .weights.h5."""
        _save_atomic(self._model, Path(path))

    def load_weights(self, path: Path) -> None:
        """Load weights written by `save_weights` of a trainer of the same spec (family and size)."""
        with self._scope():
            self._model.load_weights(Path(path))

    def reset(self) -> None:
        """Restore the seeded initial weights and fresh optimiser state, as for a new job."""
        with self._scope():
            for variable, value in self._initial:
                variable.assign(value)
        self._num_steps = 0


@dataclass(frozen=True, slots=True)
class _Parallelism:
    """How a distribution (or none) changes building and feeding a model."""

    num_replicas: int
    scope: Callable[[], AbstractContextManager[Any]]
    place: Callable[[Any], Any]  # one numpy (x, y) batch -> what train_on_batch is fed each step
    build_loss_first: bool  # TF multi-replica: Keras cannot build its loss from per-replica values


def _parallelism(keras: ModuleType, spec: ModelSpec, distribution: Any) -> _Parallelism:
    def to_device(data: Any) -> Any:
        return keras.tree.map_structure(keras.ops.convert_to_tensor, data)

    if distribution is None:
        return _Parallelism(1, nullcontext, to_device, False)
    if hasattr(distribution, "num_replicas_in_sync"):  # a tf.distribute.Strategy
        backend = keras.backend.backend()
        if backend != "tensorflow":
            raise ValueError(f"a TensorFlow distribution strategy needs the tensorflow Keras backend, not {backend!r}")
        num_replicas, b = int(distribution.num_replicas_in_sync), spec.batch_size
        if num_replicas == 1:
            return _Parallelism(1, distribution.scope, to_device, False)

        def per_replica(data: Any) -> Any:
            # train_on_batch hands every replica the whole of a plain batch: give each replica its own slice.
            def value_fn(ctx: Any) -> Any:
                i = ctx.replica_id_in_sync_group
                return keras.tree.map_structure(lambda a: keras.ops.convert_to_tensor(a[i * b : (i + 1) * b]), data)

            return distribution.experimental_distribute_values_from_function(value_fn)

        return _Parallelism(num_replicas, distribution.scope, per_replica, True)
    if hasattr(distribution, "device_mesh") and hasattr(distribution, "batch_dim_name"):  # keras.distribution
        mesh = distribution.device_mesh
        num_replicas = int(dict(zip(mesh.axis_names, mesh.shape, strict=True))[distribution.batch_dim_name])

        def sharded(data: Any) -> Any:
            return keras.tree.map_structure(
                lambda a: keras.distribution.distribute_tensor(a, distribution.get_data_layout(a.shape)), data
            )

        return _Parallelism(num_replicas, distribution.scope, sharded, False)
    raise TypeError(
        f"distribution must be a tf.distribute.Strategy or a keras.distribution.Distribution, got {type(distribution)}"
    )


def _unique(variables: Iterator[Any]) -> list[Any]:
    seen: set[int] = set()
    out = []
    for v in variables:
        if id(v) not in seen:
            seen.add(id(v))
            out.append(v)
    return out


def build_trainer(keras: ModuleType, spec: ModelSpec, *, cache_dir: Path, distribution: Any = None) -> Trainer:
    """Build and compile `spec`'s model on `keras`, optionally data-parallel, and return its Trainer.

    `distribution` is a `tf.distribute.Strategy` on the TensorFlow backend or a
    `keras.distribution.Distribution` (e.g. DataParallel) on JAX; the model is built inside its
    scope and the global batch is `spec.batch_size` times the number of replicas.
    """
    par = _parallelism(keras, spec, distribution)
    with par.scope():
        built = _BUILDERS[spec.family](_Ctx(keras, spec, par.num_replicas, Path(cache_dir)))
        for phase in built.phases:
            for layer, flag in phase.trainable:
                layer.trainable = flag
            phase.model.optimizer.build(phase.model.trainable_variables)
            if par.build_loss_first:
                x, y = keras.tree.map_structure(lambda a: a[: spec.batch_size], phase.batches[0])
                phase.model.test_on_batch(x, y)
        phases = tuple(_Phase(p.model, tuple(map(par.place, p.batches)), p.trainable) for p in built.phases)
        variables = _unique(
            v for src in (built.model.weights, *(p.model.optimizer.variables for p in built.phases)) for v in src
        )
        initial = tuple((v, np.array(v.numpy(), copy=True)) for v in variables)
    return Trainer(spec, _Built(built.model, phases), par.num_replicas, par.scope, initial)
