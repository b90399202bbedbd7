"""The sweep on Ray tasks, with the session's real local Ray runtime: the same tables as the local pool.

Also the fast checks around it: `--ray ADDRESS` validation and the private input cache.
"""

from __future__ import annotations

import os
import socket
import stat
import tempfile
from pathlib import Path
from typing import Any

import pytest

from executor import sweep_ray
from executor.sweep_ray import RaySweepBackend, check_ray_address, local_copies, private_cache_dir
from simulator.sweep import PoolBackend, load_spec, run_sweep
from traces.errors import UserError

REPO = Path(__file__).resolve().parents[3]
SAMPLE = REPO / "traces" / "data" / "itp-cluster05.csv"


@pytest.mark.slow
@pytest.mark.ray
def test_ray_tasks_give_the_pools_runs_and_summary_bytes(tmp_path: Path, ray_local) -> None:  # type: ignore[no-untyped-def]
    spec_path = tmp_path / "spec.toml"
    spec_path.write_text(f"""
[workload]
trace = "{SAMPLE}"
max_jobs = 200
[grid]
cluster = [{{nodes = 1, gpus_per_node = [4, 8]}}]   # 1x4 fails: the slice has 8-GPU jobs
policy = ["fcfs", "las"]
seeds = 2
[settings]
node_mtbf_s = 864000
""")
    spec = load_spec(spec_path)
    backend = RaySweepBackend("local", plugin_modules=("solvers.rolling",))  # joins the session's runtime
    ray = run_sweep(spec, tmp_path / "ray", backend)
    pool = run_sweep(spec, tmp_path / "pool", PoolBackend(2))
    assert (ray.done, ray.failed) == (pool.done, pool.failed) == (4, 4)
    for name in ("runs.csv", "summary.csv"):
        assert (tmp_path / "ray" / name).read_bytes() == (tmp_path / "pool" / name).read_bytes(), name
    assert backend.workers == 2 and "127.0.0.1" in backend.describe()
    assert ray_local.is_initialized()  # a runtime it did not start is left running


@pytest.mark.slow
@pytest.mark.ray
def test_a_task_runs_on_copies_of_the_drivers_files_not_on_its_paths(tmp_path: Path) -> None:
    """As on a remote node: the config's paths do not exist there; the bytes travel with the task."""
    from executor.sweep_ray import _run_task, input_files
    from simulator.sweep import expand, run_one

    spec_path = tmp_path / "spec.toml"
    trace = tmp_path / "driver" / "trace.csv"
    trace.parent.mkdir()
    trace.write_bytes(SAMPLE.read_bytes())
    spec_path.write_text(f'[workload]\ntrace = "{trace}"\nmax_jobs = 50\n[grid]\ncluster = [{{nodes = 1}}]\n')
    config = expand(load_spec(spec_path))[0].config
    assert input_files(config) == [str(trace)]
    files = {str(trace): trace.read_bytes()}
    expected = run_one(config)  # on the driver's file
    trace.unlink()  # the "node" has no such path
    shipped = _run_task((), files, config)
    assert shipped.ok and shipped.jobs_ipc == expected.jobs_ipc
    assert {**shipped.summary, "wall_s": 0} == {**expected.summary, "wall_s": 0}  # type: ignore[dict-item]
    copies = local_copies(files, tmp_path / "cache")
    assert Path(copies[str(trace)]).read_bytes() == files[str(trace)]
    assert local_copies(files, tmp_path / "cache") == copies  # written once, found again


def _free_port() -> int:
    """A loopback port nothing listens on (bound by the OS, then released)."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
    return port


def test_an_address_with_nothing_listening_is_a_one_line_error() -> None:
    port = _free_port()
    with pytest.raises(UserError) as err:
        check_ray_address(f"127.0.0.1:{port}", timeout_s=2.0)
    assert str(err.value) == (f"--ray 127.0.0.1:{port}: cannot reach a Ray cluster there (connection refused); "
                              "start one with 'ray start --head' or use --ray local")
    with pytest.raises(UserError, match="connection refused"):
        check_ray_address(f"ray://127.0.0.1:{port}", timeout_s=2.0)


def test_a_listening_address_passes_and_local_auto_need_no_check() -> None:
    with socket.socket() as server:
        server.bind(("127.0.0.1", 0))
        server.listen()
        port = server.getsockname()[1]
        check_ray_address(f"127.0.0.1:{port}")
        check_ray_address(f"ray://127.0.0.1:{port}")
        check_ray_address(f"localhost:{port}")
    check_ray_address("local")
    check_ray_address("auto")


@pytest.mark.parametrize("address", ["127.0.0.1", "10.0.0.5:", "host:abc", "host:0", "host:65536", ":6379",
                                     "ray://host", "ray://", "", "host:-1", "host: 80"])
def test_a_malformed_address_names_the_expected_form(address: str) -> None:
    with pytest.raises(UserError) as err:
        check_ray_address(address)
    assert str(err.value) == (f"--ray {address!r}: not a Ray address; "
                              "expected 'local', 'auto', HOST:PORT or ray://HOST:PORT with PORT 1-65535")


@pytest.mark.parametrize(("raised", "why"), [
    (socket.gaierror(-2, "Name or service not known"), "unknown host 'nowhere.invalid'"),
    (TimeoutError("timed out"), "no answer within 0.5 s"),
    (OSError(113, "No route to host"), "No route to host"),
])
def test_each_connect_failure_reads_as_its_reason(monkeypatch: pytest.MonkeyPatch, raised: OSError,
                                                  why: str) -> None:
    def fail(address: tuple[str, int], timeout: float) -> socket.socket:
        assert address == ("nowhere.invalid", 6379) and timeout == 0.5
        raise raised

    monkeypatch.setattr(socket, "create_connection", fail)
    with pytest.raises(UserError) as err:
        check_ray_address("nowhere.invalid:6379", timeout_s=0.5)
    assert f"cannot reach a Ray cluster there ({why});" in str(err.value)


class _FakeRay:
    """Just enough of the ray module for `_connect`: never initialized, and `init` fails as Ray does."""

    class exceptions:  # mirrors ray.exceptions
        class RayError(Exception):
            pass

    def __init__(self, error: Exception) -> None:
        self.error = error

    def is_initialized(self) -> bool:
        return False

    def init(self, **kwargs: Any) -> None:
        raise self.error


@pytest.mark.parametrize("error", [
    ConnectionError("Could not find any running Ray instance.\nPlease specify the one to connect to."),
    RuntimeError("Version mismatch:\n  driver 2.60.0\n  cluster 2.9.0"),
    _FakeRay.exceptions.RayError("GCS\nunavailable"),
])
def test_a_failing_ray_init_on_an_address_is_a_one_line_error(monkeypatch: pytest.MonkeyPatch,
                                                                error: Exception) -> None:
    monkeypatch.setattr(sweep_ray, "import_ray", lambda: _FakeRay(error))
    with socket.socket() as server:  # the TCP check passes; ray.init itself fails
        server.bind(("127.0.0.1", 0))
        server.listen()
        address = f"127.0.0.1:{server.getsockname()[1]}"
        with pytest.raises(UserError) as err:
            list(RaySweepBackend(address).run([{"x": 1}]))
    message = str(err.value)
    first = str(error).splitlines()[0]
    assert message == (f"--ray {address}: cannot join the Ray cluster there ({type(error).__name__}: {first}); "
                       "start one with 'ray start --head' or use --ray local")


def test_an_unreachable_address_fails_before_ray_init(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(sweep_ray, "import_ray", lambda: _FakeRay(AssertionError("ray.init must not be called")))
    with pytest.raises(UserError, match="connection refused"):
        list(RaySweepBackend(f"127.0.0.1:{_free_port()}").run([{"x": 1}]))


def test_a_cached_file_with_wrong_bytes_is_replaced(tmp_path: Path) -> None:
    files = {"/driver/trace.csv": b"job_id,submit_s\n1,0\n"}
    target = Path(local_copies(files, tmp_path)["/driver/trace.csv"])
    target.write_bytes(b"job_id,submit_s\n666,0\n")  # planted, or a torn write
    assert local_copies(files, tmp_path) == {"/driver/trace.csv": str(target)}
    assert target.read_bytes() == files["/driver/trace.csv"]
    target.unlink()
    target.symlink_to(tmp_path / "elsewhere")  # a link is never followed, even to the right bytes
    (tmp_path / "elsewhere").write_bytes(files["/driver/trace.csv"])
    local_copies(files, tmp_path)
    assert not target.is_symlink() and target.read_bytes() == files["/driver/trace.csv"]
    assert [p.name for p in target.parent.iterdir()] == ["trace.csv"]  # no temp files left behind


def test_the_default_cache_is_a_private_per_user_folder(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path))
    copies = local_copies({"/driver/a.csv": b"a"})
    root = tmp_path / f"gpusched-sweep-inputs-{os.getuid()}"
    assert Path(copies["/driver/a.csv"]).parent.parent == root
    assert stat.S_IMODE(root.stat().st_mode) == 0o700
    assert private_cache_dir() == root  # found again


def test_a_cache_folder_others_can_write_or_a_link_is_refused(tmp_path: Path,
                                                             monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path))
    root = tmp_path / f"gpusched-sweep-inputs-{os.getuid()}"
    root.mkdir()
    root.chmod(0o777)
    with pytest.raises(UserError, match="not a private folder of this user"):
        local_copies({"/driver/a.csv": b"a"})
    root.rmdir()
    (tmp_path / "mine").mkdir(mode=0o700)
    root.symlink_to(tmp_path / "mine")
    with pytest.raises(UserError, match="not a private folder of this user"):
        private_cache_dir()
