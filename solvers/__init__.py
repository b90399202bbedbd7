"""Offline schedulers (CP-SAT and heuristics) that return the simulator's `Schedule` type.

`SOLVERS` maps each `--solver` key to its class; adding a solver is one module and one
line here. The CLI's choices and the property tests both iterate this dict.
"""

from __future__ import annotations

from solvers.base import Solver
from solvers.cpsat.model import CpsatSolver
from solvers.ga import GaSolver
from solvers.greedy import GreedySolver
from solvers.lp import LpSolver
from solvers.sa import SaSolver
from traces.errors import UserError

SOLVERS: dict[str, type[Solver]] = {
    "cpsat": CpsatSolver,
    "greedy": GreedySolver,
    "lp": LpSolver,
    "sa": SaSolver,
    "ga": GaSolver,
}


def make_solver(key: str) -> Solver:
    """A fresh solver for `key`; `UserError` listing the known keys for any other."""
    cls = SOLVERS.get(key)
    if cls is None:
        raise UserError(f"unknown solver {key!r}; expected one of {', '.join(SOLVERS)}")
    return cls()


__all__ = ["SOLVERS", "make_solver"]
