"""Imports point one way (traces <- simulator <- solvers <- executor) and heavy libraries have one door each."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[3]
LAYERS = ["traces", "simulator", "solvers", "executor"]


def _imports(path: Path) -> set[str]:
    tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
    names: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names.update(a.name for a in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names.add(node.module)
    return names


def _modules() -> list[tuple[str, Path]]:
    return [(layer, p) for layer in LAYERS for p in sorted((REPO / layer).rglob("*.py"))]


@pytest.mark.parametrize("layer,path", _modules(), ids=lambda x: str(x))
def test_imports_point_left_only(layer: str, path: Path) -> None:
    allowed = set(LAYERS[: LAYERS.index(layer) + 1])
    for name in _imports(path):
        top = name.split(".")[0]
        if top in LAYERS:
            assert top in allowed, f"{path.relative_to(REPO)} imports {name}: {layer} may only import {sorted(allowed)}"


def test_tensorflow_keras_and_jax_only_through_executor_backend() -> None:
    offenders = []
    for _, path in _modules():
        rel = path.relative_to(REPO).as_posix()
        if rel == "executor/backend.py":
            continue
        for name in _imports(path):
            if name.split(".")[0] in {"tensorflow", "keras", "tf_keras", "jax", "jaxlib"}:
                offenders.append(f"{rel}: {name}")
    assert offenders == []


def test_ortools_only_inside_solvers_cpsat() -> None:
    offenders = []
    for _, path in _modules():
        rel = path.relative_to(REPO).as_posix()
        if rel.startswith("solvers/cpsat/"):
            continue
        for name in _imports(path):
            if name.split(".")[0] == "ortools":
                offenders.append(f"{rel}: {name}")
    assert offenders == []


def test_simpy_only_in_the_engine() -> None:
    offenders = [
        f"{path.relative_to(REPO)}"
        for _, path in _modules()
        if path.relative_to(REPO).as_posix() != "simulator/engine.py"
        and any(n.split(".")[0] == "simpy" for n in _imports(path))
    ]
    assert offenders == []


def test_no_global_random_state() -> None:
    """Seeded generators are passed in; module-level random / np.random.<fn> calls are banned."""
    offenders = []
    for _, path in _modules():
        tree = ast.parse(path.read_text(encoding="utf-8"))
        for node in ast.walk(tree):
            if isinstance(node, ast.Attribute) and isinstance(node.value, ast.Attribute):
                v = node.value
                if isinstance(v.value, ast.Name) and v.value.id in {"np", "numpy"} and v.attr == "random":
                    if node.attr not in {"Generator", "default_rng", "SeedSequence", "PCG64", "BitGenerator"}:
                        offenders.append(f"{path.relative_to(REPO)}:{node.lineno} np.random.{node.attr}")
            if isinstance(node, (ast.Import, ast.ImportFrom)):
                mods = [a.name for a in node.names] if isinstance(node, ast.Import) else [node.module or ""]
                if "random" in mods:
                    offenders.append(f"{path.relative_to(REPO)}:{node.lineno} imports random")
    assert offenders == []
