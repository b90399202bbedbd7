"""The one door to TensorFlow/Keras in gpusched: no other module imports them directly.

OR-Tools must be loaded before TensorFlow (or-tools#3230, see `solvers.cpsat`), so this module
imports `solvers.cpsat` first; a test scans the package to make sure nothing else imports
tensorflow or keras. TensorFlow is an optional extra (`pip install "gpusched[executor]"`):
`load_keras()` raises a one-line `UserError` when it is missing.
"""

from __future__ import annotations

import importlib
import os
import sys
from types import ModuleType

import solvers.cpsat  # noqa: F401  (must precede TensorFlow: or-tools#3230)
from traces.errors import UserError


def load_keras(backend: str | None = None) -> ModuleType:
    """Import Keras 3 on the chosen backend ("tensorflow" default, or "jax") and return it."""
    if backend is not None:
        current = os.environ.get("KERAS_BACKEND")
        if "keras" in sys.modules and current not in (None, backend):
            raise UserError(f"Keras is already loaded with backend {current!r}; cannot switch to {backend!r}")
        os.environ["KERAS_BACKEND"] = backend
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    try:
        if os.environ.get("KERAS_BACKEND", "tensorflow") == "tensorflow":
            importlib.import_module("tensorflow")
        return importlib.import_module("keras")
    except ImportError as exc:
        raise UserError(
            f"the executor needs TensorFlow/Keras ({exc.name or exc}); "
            'install it with: pip install "gpusched[executor]"'
        ) from None


def load_tensorflow() -> ModuleType:
    """Import TensorFlow (after OR-Tools) and return it."""
    try:
        return importlib.import_module("tensorflow")
    except ImportError as exc:
        raise UserError(
            f"the executor needs TensorFlow ({exc.name or exc}); install it with: pip install \"gpusched[executor]\""
        ) from None
