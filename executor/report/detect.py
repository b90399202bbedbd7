"""Which gpusched command wrote a folder, told by its marker files (the documents each command writes).

A folder is judged by its documents first (they name the command unambiguously) and by its tables
only when the document is missing (a sweep killed before it wrote sweep.json still has runs.csv).
When a folder holds the markers of several commands (a compare written into a simulate folder),
the most specific wins, in the order of `MARKERS`: sweep, capacity, compare, execute, simulate, solve.
"""

from __future__ import annotations

import enum
from pathlib import Path

from traces.errors import UserError


class FolderKind(enum.StrEnum):
    """The command whose output a folder is."""

    sweep = "sweep"
    capacity = "capacity"
    compare = "compare"
    execute = "execute"
    simulate = "simulate"
    solve = "solve"


# Per kind, alternatives: each a set of files that must all be present.
MARKERS: dict[FolderKind, tuple[tuple[str, ...], ...]] = {
    FolderKind.sweep: (("sweep.json",), ("runs.csv", "summary.csv")),
    FolderKind.capacity: (("capacity.json",), ("capacity.csv",)),
    FolderKind.compare: (("compare.json",),),
    FolderKind.execute: (("execute.json",),),
    # A sweep's runs/<id>/ folder is a simulate run too: config.json, summary.json and jobs.<fmt>.
    FolderKind.simulate: (("run.json",), ("config.json", "summary.json")),
    FolderKind.solve: (("solve.json",),),
}


# Error messages list the kinds in the order the commands are usually run.
DISPLAY_ORDER: tuple[FolderKind, ...] = (FolderKind.simulate, FolderKind.solve, FolderKind.execute, FolderKind.compare,
                                         FolderKind.sweep, FolderKind.capacity)


def expected_markers() -> str:
    """The markers, as one line for error messages."""
    parts = []
    for kind in DISPLAY_ORDER:
        alternatives = MARKERS[kind]
        files = " or ".join("+".join(alt) for alt in alternatives)
        parts.append(f"{files} ({kind.value})")
    return "; ".join(parts)


def detect_kind(folder: Path) -> FolderKind:
    """The kind of output folder; a one-line `UserError` naming the folder and the markers otherwise."""
    if not folder.exists():
        raise UserError(f"{folder}: no such folder; expected a gpusched output folder")
    if not folder.is_dir():
        raise UserError(f"{folder}: is a file; expected a gpusched output folder (pass the folder it is in)")
    for kind, alternatives in MARKERS.items():
        if any(all((folder / name).is_file() for name in alt) for alt in alternatives):
            return kind
    raise UserError(
        f"{folder}: not a gpusched output folder; expected one of the marker files {expected_markers()}"
    )


__all__ = ["MARKERS", "FolderKind", "detect_kind", "expected_markers"]
