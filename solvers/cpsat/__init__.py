"""The one door to OR-Tools: every module that builds a CP-SAT model (`cp_model`) or a linear
program (`pywraplp`, GLOP) imports it from here.

Importing TensorFlow before OR-Tools makes CP-SAT segfault (upstream or-tools#3230: both ship
their own copies of protobuf/absl symbols, and the first one loaded wins). This module refuses
to load OR-Tools after TensorFlow with a clear error instead of a later crash, and
`executor.backend` (the one door to TensorFlow) imports this module first, so inside gpusched
the bad order cannot happen.
"""

from __future__ import annotations

import sys


class ImportOrderError(ImportError):
    """TensorFlow was imported before OR-Tools; CP-SAT would segfault."""


_CP_MODEL = "ortools.sat.python.cp_model"

if "tensorflow" in sys.modules and _CP_MODEL not in sys.modules:
    raise ImportOrderError(
        "TensorFlow was imported before OR-Tools, which makes CP-SAT crash (or-tools#3230); "
        "import solvers.cpsat (or executor.backend) before tensorflow"
    )

from ortools.linear_solver import pywraplp  # noqa: E402
from ortools.sat.python import cp_model  # noqa: E402

__all__ = ["ImportOrderError", "cp_model", "pywraplp"]
