"""Atomic file writes: every result file gpusched writes goes through here.

A reader, or a sweep or replay resumed after kill -9, sees the old file or the whole new one,
never half of one: write a temporary file in the same folder, flush it to disk, rename it over
the target.
"""

from __future__ import annotations

import os
import tempfile
from collections.abc import Callable
from pathlib import Path


def _file_mode() -> int:
    """The mode a plain `open(path, "w")` would give: mkstemp's 0600 would hide results from others."""
    mask = os.umask(0o022)
    os.umask(mask)
    return 0o666 & ~mask


_FILE_MODE = _file_mode()


def atomic_write(path: Path, write: Callable[[Path], object], *, suffix: str = ".tmp") -> Path:
    """`write(tmp)` to a temporary file beside `path`, flushed to disk, then renamed over `path`:
    a reader (or a run resumed after kill -9) sees the old file or the whole new one, never half."""
    fd, tmp_name = tempfile.mkstemp(prefix=f".{path.name}.", suffix=suffix, dir=path.parent)
    os.close(fd)
    tmp = Path(tmp_name)
    try:
        write(tmp)
        with tmp.open("rb+") as f:
            os.fsync(f.fileno())
        os.chmod(tmp, _FILE_MODE)
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    return path


def write_bytes(data: bytes, path: Path) -> Path:
    """`data` written to `path` atomically (`atomic_write`)."""
    return atomic_write(path, lambda tmp: tmp.write_bytes(data))


__all__ = ["atomic_write", "write_bytes"]
