"""OR-Tools must load before TensorFlow (or-tools#3230): prove gpusched makes the bad order impossible."""

from __future__ import annotations

import importlib.util
import subprocess
import sys
import textwrap

import pytest

# Checked without importing TensorFlow here: the tests run in subprocesses, and importing it in
# this process would itself put TensorFlow before OR-Tools for every test collected after this one.
pytestmark = pytest.mark.skipif(importlib.util.find_spec("tensorflow") is None,
                                reason="needs TensorFlow (pip install 'gpusched[executor]')")

CUMULATIVE_MODEL = textwrap.dedent(
    """
    from solvers.cpsat import cp_model
    m = cp_model.CpModel()
    ends, intervals = [], []
    for i in range(12):
        s = m.new_int_var(0, 200, f"start_{i}")
        e = m.new_int_var(0, 200, f"end_{i}")
        intervals.append(m.new_interval_var(s, 5 + i, e, f"job_{i}"))
        ends.append(e)
    m.add_cumulative(intervals, [1 + i % 3 for i in range(12)], 4)
    makespan = m.new_int_var(0, 200, "makespan")
    m.add_max_equality(makespan, ends)
    m.minimize(makespan)
    solver = cp_model.CpSolver()
    solver.parameters.num_workers = 4
    solver.parameters.random_seed = 0
    status = solver.solve(m)
    print("STATUS", solver.status_name(status), int(solver.objective_value))
    """
)


def _run(code: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=300,
        env={"TF_CPP_MIN_LOG_LEVEL": "3", "PATH": "/usr/bin:/bin"},
    )


def test_cpsat_solves_after_executor_loaded_tensorflow() -> None:
    code = (
        "import executor.backend as b\n"
        "keras = b.load_keras('tensorflow')\n"
        "import tensorflow as tf\n"
        "model = keras.Sequential([keras.Input((4,)), keras.layers.Dense(2)])\n"
        "model.compile(optimizer='sgd', loss='mse')\n"
        "model.fit(tf.zeros((8, 4)), tf.zeros((8, 2)), epochs=1, verbose=0)\n"
        + CUMULATIVE_MODEL
    )
    proc = _run(code)
    assert proc.returncode == 0, proc.stderr[-2000:]
    # 12 jobs, total work sum((5+i)*(1+i%3)) = 216 on capacity 4 -> makespan >= 54.
    status_line = [ln for ln in proc.stdout.splitlines() if ln.startswith("STATUS")][0]
    name, makespan = status_line.split()[1:]
    assert name == "OPTIMAL"
    assert int(makespan) >= 54


def test_tensorflow_first_is_refused_with_a_clear_error_not_a_segfault() -> None:
    proc = _run("import tensorflow\nimport solvers.cpsat\n")
    assert proc.returncode == 1, (proc.returncode, proc.stderr[-2000:])
    assert "ImportOrderError: TensorFlow was imported before OR-Tools" in proc.stderr
