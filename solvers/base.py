"""The common shape of every offline solver: options in, a validated `Schedule` and its quality out.

A solver is a class with `key` and `solve(workload, cluster, options) -> SolveResult`,
registered in `solvers.SOLVERS`. Every solver returns the simulator's `Schedule` (one
segment per job, GPU ids `node:gpu`), so `gpusched simulate --policy schedule` replays
any of them and `simulator.validate.check` judges all of them alike.

Quality is reported against the best lower bound known for the instance (`bound`), not
only the solver's own: CP-SAT's bound stays at the trivial one from ~50 jobs, so its
own gap says nothing (see `solvers.bounds`). `gap = (objective - bound) / objective`.
"""

from __future__ import annotations

import enum
import math
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import ClassVar, Protocol

from simulator.gpu_catalog import GpuCatalog
from simulator.schedule import Schedule
from simulator.speed import SpeedTable
from traces.cluster import Cluster
from traces.model import Workload


class Objective(enum.StrEnum):
    """What a solver minimises (`--objective`).

    weighted-completion: total weighted job completion time measured from submission,
        sum w_j (C_j - r_j) in seconds (weighted JCT; the same optimum as sum w_j C_j, but
        its gap is not flattered by the constant sum w_j r_j).
    makespan: the last end time, seconds.
    weighted-tardiness: sum w_j max(0, C_j - d_j), seconds; jobs without a deadline count 0.
    energy: busy GPU energy, kWh (run time x GPUs x the type's busy power).
    """

    weighted_completion = "weighted-completion"
    makespan = "makespan"
    weighted_tardiness = "weighted-tardiness"
    energy = "energy"


class SolveStatus(enum.StrEnum):
    optimal = "optimal"  # proven: objective == bound
    feasible = "feasible"  # a valid schedule, not proven optimal
    infeasible = "infeasible"  # proven: no schedule exists (e.g. deadlines as hard constraints)
    unknown = "unknown"  # no schedule found within the limits


@dataclass(frozen=True, slots=True)
class Progress:
    """One progress report: the incumbent and the best bound so far (None: not known yet)."""

    solver: str
    wall_s: float
    objective: float | None
    bound: float | None


@dataclass(frozen=True, slots=True)
class SolveOptions:
    """Everything about a solve besides the workload and cluster.

    `tick_s`: CP-SAT's time unit (None: derived from the data). `deterministic`: a single
    worker and a fixed seed, for reproducible tests. `allow_span`: a gang may span nodes,
    running `cross_node_slowdown` times slower. `hint`: a schedule to warm-start from.
    `max_iterations`: for the iterative heuristics (SA, GA); None: time limit only.
    """

    objective: Objective = Objective.weighted_completion
    time_limit_s: float = 60.0
    tick_s: float | None = None
    workers: int = 2
    seed: int = 0
    deterministic: bool = False
    allow_span: bool = False
    cross_node_slowdown: float = 1.0
    speed: SpeedTable = field(default_factory=SpeedTable.reference)
    gpu_catalog: GpuCatalog | None = None  # None: the shipped catalog (energy objective)
    hint: Schedule | None = None
    max_iterations: int | None = None
    progress: Callable[[Progress], None] | None = None

    def __post_init__(self) -> None:
        if not (self.time_limit_s > 0 and math.isfinite(self.time_limit_s)):
            raise ValueError(f"time_limit_s must be a finite number > 0, got {self.time_limit_s!r}")
        if self.tick_s is not None and not (self.tick_s > 0 and math.isfinite(self.tick_s)):
            raise ValueError(f"tick_s must be a finite number > 0, got {self.tick_s!r}")
        if self.workers < 1:
            raise ValueError(f"workers must be >= 1, got {self.workers!r}")
        if not self.cross_node_slowdown >= 1.0:
            raise ValueError(f"cross_node_slowdown must be >= 1, got {self.cross_node_slowdown!r}")
        if self.max_iterations is not None and self.max_iterations < 1:
            raise ValueError(f"max_iterations must be >= 1, got {self.max_iterations!r}")
        if not isinstance(self.objective, Objective):
            object.__setattr__(self, "objective", Objective(self.objective))


@dataclass(frozen=True, slots=True)
class SolveResult:
    """A solver's answer. `bound`: the best lower bound known on the objective (None: none);
    `gap`: (objective - bound) / objective (0 when proven optimal; None without a bound);
    `method`: how the schedule was made (e.g. "cpsat full horizon", "cpsat 4 time windows")."""

    solver: str
    schedule: Schedule
    status: SolveStatus
    objective: float
    bound: float | None
    gap: float | None
    wall_s: float
    method: str
    notes: tuple[str, ...] = ()

    @property
    def proven_optimal(self) -> bool:
        return self.status is SolveStatus.optimal


def relative_gap(objective: float, bound: float | None) -> float | None:
    """(objective - bound) / objective, clipped at 0; 0 for a zero objective; None without a bound."""
    if bound is None or not math.isfinite(objective):
        return None
    if objective <= 0:
        return 0.0
    return max(0.0, (objective - bound) / objective)


class Solver(Protocol):
    """An offline scheduler: a fresh instance per solve."""

    key: ClassVar[str]

    def solve(self, workload: Workload, cluster: Cluster, options: SolveOptions) -> SolveResult: ...


__all__ = [
    "Objective",
    "Progress",
    "SolveOptions",
    "SolveResult",
    "SolveStatus",
    "Solver",
    "relative_gap",
]
