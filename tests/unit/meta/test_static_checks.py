"""The shared data model passes `mypy --strict` and the whole tree passes `ruff check` (configs in pyproject.toml)."""

from __future__ import annotations

import subprocess
import sys
import tomllib
from pathlib import Path

REPO = Path(__file__).resolve().parents[3]
RUFF_PATHS = ["traces", "simulator", "solvers", "executor", "tests", "bench"]


def _strict_files() -> list[str]:
    """The files kept strict, listed once in [tool.mypy] files."""
    config = tomllib.loads((REPO / "pyproject.toml").read_text(encoding="utf-8"))
    files: list[str] = config["tool"]["mypy"]["files"]
    return files


def _run(args: list[str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", *args], cwd=REPO, capture_output=True, text=True, timeout=300, check=False
    )


def test_strict_file_list_names_existing_files() -> None:
    files = _strict_files()
    assert "traces/model.py" in files and "simulator/schedule.py" in files
    assert [f for f in files if not (REPO / f).is_file()] == []


def test_mypy_strict_on_the_shared_model(tmp_path: Path) -> None:
    proc = _run(["mypy", "--strict", "--cache-dir", str(tmp_path / "mypy"), *_strict_files()])
    assert proc.returncode == 0, f"mypy --strict failed:\n{proc.stdout}{proc.stderr}"


def test_ruff_check_whole_tree() -> None:
    proc = _run(["ruff", "check", "--no-cache", *RUFF_PATHS])
    assert proc.returncode == 0, f"ruff check failed:\n{proc.stdout}{proc.stderr}"
