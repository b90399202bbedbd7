"""Job duration prediction from what is known at submission (`gpusched predict`, `--durations predicted:MODEL`).

* `features`: causal per-job features (user, group, GPUs, time of day, the same user's
  and group's recently finished durations), one vectorised pass.
* `metrics`: MAE, median |ln(pred / actual)|, fraction within 2x; the chronological split.
* `model`: the per-user rolling-median baseline and the LightGBM model, their training,
  evaluation and JSON model file.

LightGBM is imported only when a `gbm` model is trained or loaded.
"""

from __future__ import annotations

from simulator.predict.features import DEFAULT_WINDOW, FEATURES, Features, job_features
from simulator.predict.metrics import Metrics, score, split_index
from simulator.predict.model import (
    BASELINE,
    GLOBAL,
    KINDS,
    MODEL_INPUTS,
    DurationModel,
    Evaluation,
    TrainResult,
    evaluate,
    load_model,
    train,
)

__all__ = [
    "BASELINE",
    "DEFAULT_WINDOW",
    "FEATURES",
    "GLOBAL",
    "KINDS",
    "MODEL_INPUTS",
    "DurationModel",
    "Evaluation",
    "Features",
    "Metrics",
    "TrainResult",
    "evaluate",
    "job_features",
    "load_model",
    "score",
    "split_index",
    "train",
]
