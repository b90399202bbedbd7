"""The cluster data model: nodes with a GPU type, GPU count, per-GPU memory and a rack.

It lives in `traces` (the lowest layer) because traces can describe their cluster
(Alibaba's node lists); the simulator re-exports it. GPU ids are `"<node_id>/<index>"`.
Clusters load from TOML (`load_cluster_toml`) or from the common-case flags
(`Cluster.uniform`).
"""

from __future__ import annotations

import math
import tomllib
from collections import Counter
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from traces.errors import TraceError, UserError

DEFAULT_GPU_TYPE = "V100"
DEFAULT_GPU_MEM_GIB = 32.0
# A GPU id is "node:index" and a gang's ids are joined by ";" in result tables.
NODE_ID_FORBIDDEN = (":", ";", " ", "\t", "\n")


@dataclass(frozen=True, slots=True)
class Node:
    node_id: str
    gpu_type: str
    num_gpus: int
    gpu_mem_gib: float
    rack: str | None = None

    def __post_init__(self) -> None:
        if not self.node_id or any(ch in self.node_id for ch in NODE_ID_FORBIDDEN):
            raise ValueError(f"node_id must be non-empty without ':', ';' or spaces, got {self.node_id!r}")
        if not self.gpu_type:
            raise ValueError(f"node {self.node_id}: gpu_type must be non-empty")
        if not math.isfinite(self.num_gpus) or int(self.num_gpus) != self.num_gpus or self.num_gpus < 1:
            raise ValueError(f"node {self.node_id}: num_gpus must be an integer >= 1, got {self.num_gpus}")
        if not math.isfinite(self.gpu_mem_gib) or self.gpu_mem_gib <= 0:
            raise ValueError(f"node {self.node_id}: gpu_mem_gib must be > 0, got {self.gpu_mem_gib}")

    @property
    def gpu_ids(self) -> tuple[str, ...]:
        return tuple(f"{self.node_id}:{i}" for i in range(self.num_gpus))


@dataclass(frozen=True, slots=True)
class GpuInfo:
    gpu_id: str
    node_id: str
    gpu_type: str
    gpu_mem_gib: float
    rack: str | None


@dataclass(frozen=True, slots=True)
class Cluster:
    nodes: tuple[Node, ...]

    def __post_init__(self) -> None:
        if not self.nodes:
            raise ValueError("a cluster needs at least one node")
        dup = [n for n, c in Counter(n.node_id for n in self.nodes).items() if c > 1]
        if dup:
            raise ValueError(f"duplicate node id {dup[0]!r}")

    @staticmethod
    def uniform(
        num_nodes: int,
        gpus_per_node: int,
        gpu_type: str = DEFAULT_GPU_TYPE,
        gpu_mem_gib: float = DEFAULT_GPU_MEM_GIB,
        nodes_per_rack: int | None = None,
    ) -> Cluster:
        """`num_nodes` identical nodes named n0, n1, ..."""
        if num_nodes < 1 or gpus_per_node < 1:
            raise UserError(
                f"a cluster needs --nodes >= 1 and --gpus-per-node >= 1, got {num_nodes} and {gpus_per_node}"
            )
        if not gpu_type.strip():
            raise UserError("--gpu-type must be a non-empty GPU type name")
        if not math.isfinite(gpu_mem_gib) or gpu_mem_gib <= 0:
            raise UserError(f"--gpu-mem-gib must be a number > 0, got {gpu_mem_gib}")
        return Cluster(
            tuple(
                Node(
                    f"n{i}",
                    gpu_type,
                    gpus_per_node,
                    gpu_mem_gib,
                    None if not nodes_per_rack else f"r{i // nodes_per_rack}",
                )
                for i in range(num_nodes)
            )
        )

    @property
    def num_gpus(self) -> int:
        return sum(n.num_gpus for n in self.nodes)

    @property
    def max_gpus_per_node(self) -> int:
        return max(n.num_gpus for n in self.nodes)

    @property
    def gpu_types(self) -> tuple[str, ...]:
        """Distinct GPU types in node order."""
        return tuple(dict.fromkeys(n.gpu_type for n in self.nodes))

    def gpus(self) -> tuple[GpuInfo, ...]:
        return tuple(
            GpuInfo(g, n.node_id, n.gpu_type, n.gpu_mem_gib, n.rack) for n in self.nodes for g in n.gpu_ids
        )

    def gpu_index(self) -> dict[str, GpuInfo]:
        return {g.gpu_id: g for g in self.gpus()}

    def describe(self) -> str:
        by_type: Counter[str] = Counter()
        for n in self.nodes:
            by_type[n.gpu_type] += n.num_gpus
        types = ", ".join(f"{c} x {t}" for t, c in by_type.items())
        return f"{len(self.nodes)} nodes, {self.num_gpus} GPUs ({types})"


_NODE_KEYS = {"id", "count", "gpu_type", "num_gpus", "gpu_mem_gib", "rack"}


def load_cluster_toml(path: str | Path) -> Cluster:
    """Read a cluster file. Example::

        [[nodes]]
        count = 4            # four identical nodes, ids a100-0..a100-3 unless `id` is given
        gpu_type = "A100"
        num_gpus = 8
        gpu_mem_gib = 80
        rack = "r0"          # optional
    """
    path = Path(path)
    if path.is_dir():
        raise TraceError(path, "is a directory", expected="a cluster TOML file")
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8-sig"))  # -sig: editors may add a BOM
    except FileNotFoundError:
        raise TraceError(path, "no such file") from None
    except UnicodeDecodeError:
        raise TraceError(path, "not UTF-8 text", expected="a cluster TOML file") from None
    except tomllib.TOMLDecodeError as exc:
        raise TraceError(path, f"not valid TOML ({exc})") from None
    unknown = set(data) - {"nodes"}
    if unknown:
        raise TraceError(path, "unknown key", field=sorted(unknown)[0], expected="only [[nodes]] tables at top level")
    groups = data.get("nodes")
    if not isinstance(groups, list) or not groups:
        raise TraceError(path, field="nodes", expected="one or more [[nodes]] tables",
                         found="nothing" if groups is None else type(groups).__name__)
    nodes: list[Node] = []
    for gi, g in enumerate(groups):
        key = f"nodes[{gi}]"
        if not isinstance(g, dict):
            raise TraceError(path, field=key, expected="a table")
        bad = set(g) - _NODE_KEYS
        if bad:
            raise TraceError(path, "unknown key", field=f"{key}.{sorted(bad)[0]}",
                             expected="one of " + ", ".join(sorted(_NODE_KEYS)))
        count = _get(path, g, key, "count", int, 1)
        gpu_type = _get(path, g, key, "gpu_type", str, None)
        num_gpus = _get(path, g, key, "num_gpus", int, None)
        mem = float(_get(path, g, key, "gpu_mem_gib", (int, float), None))
        rack = _get(path, g, key, "rack", str, "") or None
        node_id = _get(path, g, key, "id", str, "")
        if count < 1:
            raise TraceError(path, field=f"{key}.count", expected="an integer >= 1", found=count)
        if not gpu_type.strip():
            raise TraceError(path, field=f"{key}.gpu_type", expected="a non-empty string", found=gpu_type)
        if num_gpus < 1:
            raise TraceError(path, field=f"{key}.num_gpus", expected="an integer >= 1", found=num_gpus)
        if not math.isfinite(mem) or mem <= 0:
            raise TraceError(path, field=f"{key}.gpu_mem_gib", expected="a number > 0", found=mem)
        if node_id and count != 1:
            raise TraceError(path, field=f"{key}.id", expected="no 'id' when count > 1 (ids are generated)")
        if node_id and any(ch in node_id for ch in NODE_ID_FORBIDDEN):
            raise TraceError(path, field=f"{key}.id", expected="an id without ':', ';' or spaces", found=node_id)
        for _ in range(count):
            nid = node_id or f"{_slug(gpu_type)}-{sum(1 for n in nodes if _slug(n.gpu_type) == _slug(gpu_type))}"
            nodes.append(Node(nid, gpu_type, num_gpus, mem, rack))
    ids = Counter(n.node_id for n in nodes)
    dup = [k for k, c in ids.items() if c > 1]
    if dup:
        raise TraceError(path, field="nodes", expected="unique node ids", found=dup[0])
    return Cluster(tuple(nodes))


def _slug(text: str) -> str:
    return "".join(ch if ch.isalnum() else "-" for ch in text.lower())


def _get(path: Path, table: dict[str, Any], where: str, key: str, typ: Any, default: Any) -> Any:
    if key not in table:
        if default is None:
            raise TraceError(path, "missing key", field=f"{where}.{key}", expected=_TYPE_NAMES[typ])
        return default
    value = table[key]
    if isinstance(value, bool) or not isinstance(value, typ):
        raise TraceError(path, field=f"{where}.{key}", expected=_TYPE_NAMES[typ], found=value)
    return value


_TYPE_NAMES: dict[Any, str] = {int: "an integer", str: "a string", (int, float): "a number"}
