"""The reader plug-in protocol: detect a format from its header, read it into a `TraceData`."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import ClassVar, Protocol

from traces.cluster import Cluster
from traces.model import Workload
from traces.report import SkipReport


@dataclass(frozen=True, slots=True)
class TraceData:
    """What a reader returns: the jobs, what it skipped, and the cluster if the trace has one."""

    workload: Workload
    report: SkipReport
    cluster: Cluster | None = None


class Reader(Protocol):
    key: ClassVar[str]          # registry key, e.g. "philly-pollux"
    description: ClassVar[str]  # one line for --help

    def detect(self, header: Sequence[str] | None) -> bool:
        """True when a file with this header (None: Parquet) is in this format."""
        ...

    def read(self, paths: Sequence[Path]) -> TraceData:
        """Read one file (or several for formats that span files, e.g. ITP clusters)."""
        ...
