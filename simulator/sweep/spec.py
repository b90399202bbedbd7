"""Sweep specs: one TOML file naming a workload, a grid of run settings and fixed settings.

    [workload]                 # trace = [...] (+ format, max_jobs), or synth = "synth.toml"
    trace = ["../traces/data/itp-cluster05.csv"]   # default: the shipped sample
    max_jobs = 10000           # optional: the first N jobs by submit time
    [grid]                     # every key a list (a single value means a list of one)
    cluster = [{nodes = [1, 2], gpus_per_node = 8, gpu_type = "V100"}, {cluster = "big.toml"}]
    load_scale = [1.0, 2.0]    # arrivals compressed by this factor (`scale_load`)
    policy = ["fcfs", "las"]
    placement = ["pack"]
    admission = ["accept-all"]
    seeds = 3                  # or a list of seeds; an integer n means seeds 0..n-1
    [settings]                 # any other SimConfig field, the same for every run
    restart_overhead_s = 30
    speed_table = "speeds.toml"  # file-valued fields are paths relative to the spec
    estimates = "predicted:model.json"  # sjf/srtf/qssf/easy-backfill on a `gpusched predict` model
    [policy_params.las]        # keyword parameters of one policy (also placement_params.<key>,
    quantum_gpu_s = 3600       # admission_params.<key>)

Paths are relative to the spec file. Everything is checked here, before any run starts:
a mistake is a one-line `TraceError` naming the spec file and the key (`grid.policy`,
`settings.restart_overhead_s`, ...). Policy, placement and admission keys are checked
against the registries as they are when `load_spec` is called, so import plug-in modules
(e.g. `solvers.rolling`) first. A synthetic workload (`synth`, a `traces.synth` spec file)
is drawn anew for every run from the run's seed, so seeds also replicate the workload;
`trace` next to `synth` is the workload a resampling synth spec draws from.

Files are identified by content: the spec keeps a sha256 digest of every trace, cluster,
synth, speed-table, catalog and duration-model file, and run ids hash those digests, not the
paths.
"""

from __future__ import annotations

import dataclasses
import hashlib
import math
import tomllib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from typing import Any, TypeGuard

from traces.cluster import DEFAULT_GPU_TYPE
from traces.errors import TraceError, UserError

SAMPLE_TRACE = "itp-cluster05.csv"
TOP_KEYS = ("workload", "grid", "settings", "policy_params", "placement_params", "admission_params")
WORKLOAD_KEYS = ("trace", "format", "max_jobs", "synth")
GRID_KEYS = ("cluster", "load_scale", "policy", "placement", "admission", "seeds")
CLUSTER_KEYS = ("nodes", "gpus_per_node", "gpu_type", "gpu_mem_gib")
# SimConfig fields the grid and the *_params tables set; [settings] may not.
NOT_SETTINGS = frozenset(
    {"policy", "placement", "admission", "seed", "run_id", "policy_params", "placement_params", "admission_params"}
)
_NOT_SETTINGS_HINT = {
    "seed": "grid.seeds",
    "run_id": "nothing (run ids are hashes of the run's config)",
    "policy_params": "a [policy_params.<policy>] table",
    "placement_params": "a [placement_params.<placement>] table",
    "admission_params": "an [admission_params.<admission>] table",
}
FILE_SETTINGS = ("speed_table", "gpu_catalog")  # settings given as a file path
DEFAULT_GPU_MEM_GIB = 32.0

Plain = dict[str, Any]


@dataclass(frozen=True, slots=True)
class WorkloadSpec:
    """Where the jobs come from. `paths` are trace files (with `synth`: the resample source)."""

    paths: tuple[Path, ...]
    fmt: str | None
    max_jobs: int | None
    synth: Path | None
    digest: str

    @property
    def kind(self) -> str:
        return "trace" if self.synth is None else "synth"

    def plain(self) -> Plain:
        """As plain data for a run config (paths as strings; `digest` identifies the content)."""
        return {
            "kind": self.kind,
            "paths": [str(p) for p in self.paths],
            "synth_path": None if self.synth is None else str(self.synth),
            "format": self.fmt,
            "max_jobs": self.max_jobs,
            "digest": self.digest,
        }


@dataclass(frozen=True, slots=True)
class ClusterChoice:
    """One value of the cluster axis: uniform nodes, or a cluster TOML file."""

    label: str
    num_gpus: int
    gpu_type: str
    nodes: int | None = None
    gpus_per_node: int | None = None
    gpu_mem_gib: float | None = None
    path: Path | None = None
    digest: str | None = None

    def plain(self) -> Plain:
        if self.path is not None:
            return {"label": self.label, "num_gpus": self.num_gpus, "gpu_type": self.gpu_type,
                    "path": str(self.path), "digest": self.digest}
        return {"label": self.label, "num_gpus": self.num_gpus, "gpu_type": self.gpu_type, "nodes": self.nodes,
                "gpus_per_node": self.gpus_per_node, "gpu_mem_gib": self.gpu_mem_gib}


@dataclass(frozen=True, slots=True)
class SweepSpec:
    """A parsed, checked spec. `settings` and the params are plain (JSON-able) data; a file
    setting is `{"path": ..., "digest": ...}`."""

    path: Path
    text: str
    workload: WorkloadSpec
    clusters: tuple[ClusterChoice, ...]
    load_scales: tuple[float, ...]
    policies: tuple[str, ...]
    placements: tuple[str, ...]
    admissions: tuple[str, ...]
    seeds: tuple[int, ...]
    settings: Mapping[str, Any]
    policy_params: Mapping[str, Mapping[str, Any]]
    placement_params: Mapping[str, Mapping[str, Any]]
    admission_params: Mapping[str, Mapping[str, Any]]

    @property
    def num_runs(self) -> int:
        return (len(self.clusters) * len(self.load_scales) * len(self.policies) * len(self.placements)
                * len(self.admissions) * len(self.seeds))


def file_digest(paths: Sequence[Path]) -> str:
    """sha256 over the files' bytes, in order (each prefixed by its length, so files cannot run together)."""
    h = hashlib.sha256()
    for p in paths:
        data = p.read_bytes()
        h.update(len(data).to_bytes(8, "big"))
        h.update(data)
    return h.hexdigest()


def sample_trace_path() -> Path:
    """The trace slice that ships inside the package (see traces/data/SOURCE.md)."""
    return Path(str(resources.files("traces") / "data" / SAMPLE_TRACE))


def load_spec(path: str | Path) -> SweepSpec:
    """Read and check a sweep spec; a mistake is a one-line `TraceError` naming file and key."""
    path = Path(path)
    if path.is_dir():
        raise TraceError(path, "is a directory", expected="a sweep spec TOML file")
    try:
        text = path.read_text(encoding="utf-8-sig")
    except FileNotFoundError:
        raise TraceError(path, "no such file") from None
    except UnicodeDecodeError:
        raise TraceError(path, "not UTF-8 text", expected="a sweep spec TOML file") from None
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise TraceError(path, f"not valid TOML ({exc})") from None
    return _Parser(path, text).parse(data)


class _Parser:
    """Parses one spec; every error names `self.path` and the dotted key."""

    def __init__(self, path: Path, text: str) -> None:
        self.path = path
        self.base = path.resolve().parent
        self.text = text

    def error(self, key: str, expected: str | None, found: object = None, message: str | None = None) -> TraceError:
        return TraceError(self.path, message, field=key, expected=expected, found=found)

    def parse(self, data: dict[str, Any]) -> SweepSpec:
        self.known(data, "", TOP_KEYS)
        for key in TOP_KEYS:
            if key in data and not isinstance(data[key], dict):
                raise self.error(key, "a table", data[key])
        grid: dict[str, Any] = data.get("grid", {})
        self.known(grid, "grid.", GRID_KEYS)
        if "cluster" not in grid:
            raise self.error("grid.cluster", "a list of clusters, e.g. [{nodes = 2, gpus_per_node = 8}]",
                             message="missing key")
        policies = self.names(grid, "policy", "fcfs")
        placements = self.names(grid, "placement", "pack")
        admissions = self.names(grid, "admission", "accept-all")
        params = {k: self.params(data, k, axis) for k, axis in
                  (("policy_params", policies), ("placement_params", placements), ("admission_params", admissions))}
        clusters = self.clusters(grid["cluster"])
        settings = self.settings(data.get("settings", {}), clusters)
        spec = SweepSpec(
            path=self.path,
            text=self.text,
            workload=self.workload(data.get("workload", {})),
            clusters=clusters,
            load_scales=self.load_scales(grid.get("load_scale", [1.0])),
            policies=policies,
            placements=placements,
            admissions=admissions,
            seeds=self.seeds(grid.get("seeds", [0])),
            settings=settings,
            policy_params=params["policy_params"],
            placement_params=params["placement_params"],
            admission_params=params["admission_params"],
        )
        self.check_plugins(spec)
        return spec

    # ----- helpers ---------------------------------------------------------------------------------
    def known(self, table: Mapping[str, Any], prefix: str, keys: Sequence[str]) -> None:
        for key in table:
            if key not in keys:
                raise self.error(prefix + key, "one of " + ", ".join(keys), message="unknown key")

    def values(self, value: object, key: str) -> list[Any]:
        """A grid axis: a list, or one value meaning a list of one (`unique` refuses duplicates)."""
        items = value if isinstance(value, list) else [value]
        if not items:
            raise self.error(key, "a non-empty list", "[]")
        return items

    def unique(self, items: Sequence[Any], key: str) -> None:
        seen: list[Any] = []
        for item in items:
            if item in seen:
                raise self.error(key, "each value once", item, message="duplicate value")
            seen.append(item)

    def file(self, value: object, key: str) -> Path:
        if not isinstance(value, str) or not value.strip():
            raise self.error(key, "a file path (relative to the spec file)", value)
        p = Path(value).expanduser()
        p = p if p.is_absolute() else self.base / p
        if not p.is_file():
            raise self.error(key, "an existing file", value, message="no such file")
        return p

    # ----- sections --------------------------------------------------------------------------------
    def workload(self, table: dict[str, Any]) -> WorkloadSpec:
        self.known(table, "workload.", WORKLOAD_KEYS)
        synth = self.file(table["synth"], "workload.synth") if "synth" in table else None
        trace = table.get("trace")
        if trace is None:
            paths: tuple[Path, ...] = () if synth is not None else (sample_trace_path(),)
        else:
            items = trace if isinstance(trace, list) else [trace]
            if not items:
                raise self.error("workload.trace", "one or more trace files", "[]")
            paths = tuple(self.file(t, "workload.trace") for t in items)
        fmt = table.get("format")
        if fmt is not None:
            from traces.readers.registry import READERS

            if fmt not in READERS:
                raise self.error("workload.format", "one of " + ", ".join(READERS), fmt)
        max_jobs = table.get("max_jobs")
        if max_jobs is not None and (not _is_int(max_jobs) or max_jobs < 1):
            raise self.error("workload.max_jobs", "an integer >= 1", max_jobs)
        files = list(paths)
        if synth is not None:
            from traces.synth import SynthSpec

            synth_spec = SynthSpec.from_toml(synth)  # a bad synth file is its own one-line TraceError
            if paths and not synth_spec.resamples:
                raise self.error("workload.trace", "no trace with a synth spec that does not resample "
                                 "(the trace is the workload a resampling spec draws from)", trace)
            if synth_spec.resamples and not paths:
                raise self.error("workload.trace", "the trace the synth spec resamples from", message="missing key")
            if max_jobs is not None:
                raise self.error("workload.max_jobs", "no max_jobs with synth (num_jobs is in the synth spec)",
                                 max_jobs)
            files = [synth, *paths]
        return WorkloadSpec(paths, fmt, max_jobs, synth, file_digest(files))

    def clusters(self, value: object) -> tuple[ClusterChoice, ...]:
        entries = value if isinstance(value, list) else [value]
        if not entries:
            raise self.error("grid.cluster", "a non-empty list of clusters", "[]")
        out: list[ClusterChoice] = []
        for i, entry in enumerate(entries):
            key = f"grid.cluster[{i}]"
            if not isinstance(entry, dict):
                raise self.error(key, "a table: {nodes = N, gpus_per_node = G, gpu_type = T} or "
                                 "{cluster = \"file.toml\"}", entry)
            if "cluster" in entry:
                if len(entry) > 1:
                    extra = sorted(k for k in entry if k != "cluster")[0]
                    raise self.error(f"{key}.{extra}", "only 'cluster' in a cluster-file entry", message="unknown key")
                out.append(self.cluster_file(entry["cluster"], f"{key}.cluster"))
                continue
            self.known(entry, key + ".", (*CLUSTER_KEYS, "cluster"))
            if "nodes" not in entry:
                raise self.error(f"{key}.nodes", "an integer >= 1 (or a list of them)", message="missing key")
            nodes = self.ints(entry["nodes"], f"{key}.nodes")
            per_node = self.ints(entry.get("gpus_per_node", 8), f"{key}.gpus_per_node")
            types = self.values(entry.get("gpu_type", DEFAULT_GPU_TYPE), f"{key}.gpu_type")
            for t in types:
                if not isinstance(t, str) or not t.strip():
                    raise self.error(f"{key}.gpu_type", "a GPU type name (or a list of them)", t)
            self.unique([t.strip().casefold() for t in types], f"{key}.gpu_type")
            mem = entry.get("gpu_mem_gib", DEFAULT_GPU_MEM_GIB)
            if not _is_number(mem) or mem <= 0:
                raise self.error(f"{key}.gpu_mem_gib", "a number > 0", mem)
            for gpu_type in types:
                for g in per_node:
                    for n in nodes:
                        out.append(ClusterChoice(
                            label=f"{n}x{g} {gpu_type}", num_gpus=n * g, gpu_type=gpu_type, nodes=n,
                            gpus_per_node=g, gpu_mem_gib=float(mem),
                        ))
        paths = [c.path for c in out if c.path is not None]
        for i, p in enumerate(paths):
            if p in paths[:i]:
                raise self.error("grid.cluster", "each cluster once", str(p), message="duplicate value")
        # Labels name the rows of runs.csv and the groups of summary.csv: two cluster files with
        # the same name are told apart by their paths (relative to the spec where possible).
        stems = [c.label for c in out if c.path is not None]
        out = [c if c.path is None or stems.count(c.label) == 1 else dataclasses.replace(c, label=self.shown(c.path))
               for c in out]
        labels = [c.label.casefold() for c in out]
        for i, label in enumerate(labels):
            if label in labels[:i]:
                raise self.error("grid.cluster", "each cluster once (or cluster files with different names)",
                                 out[i].label, message="duplicate value")
        return tuple(out)

    def shown(self, path: Path) -> str:
        """A file's path as the user would write it: relative to the spec file when inside its folder."""
        try:
            return path.resolve().relative_to(self.base).as_posix()
        except ValueError:
            return str(path)

    def cluster_file(self, value: object, key: str) -> ClusterChoice:
        from traces.cluster import load_cluster_toml

        p = self.file(value, key)
        cluster = load_cluster_toml(p)  # a bad cluster file is its own one-line TraceError
        return ClusterChoice(label=p.stem, num_gpus=cluster.num_gpus, gpu_type="+".join(cluster.gpu_types),
                             path=p, digest=file_digest([p]))

    def ints(self, value: object, key: str) -> list[int]:
        items = self.values(value, key)
        for v in items:
            if not _is_int(v) or v < 1:
                raise self.error(key, "an integer >= 1 (or a list of them)", v)
        self.unique(items, key)
        return [int(v) for v in items]

    def names(self, grid: Mapping[str, Any], axis: str, default: str) -> tuple[str, ...]:
        items = self.values(grid.get(axis, [default]), f"grid.{axis}")
        for v in items:
            if not isinstance(v, str) or not v.strip():
                raise self.error(f"grid.{axis}", f"a list of {axis} keys", v)
        self.unique(items, f"grid.{axis}")
        return tuple(items)

    def load_scales(self, value: object) -> tuple[float, ...]:
        items = self.values(value, "grid.load_scale")
        for v in items:
            if not _is_number(v) or v <= 0:
                raise self.error("grid.load_scale", "numbers > 0", v)
        scales = [float(v) for v in items]
        self.unique(scales, "grid.load_scale")
        return tuple(scales)

    def seeds(self, value: object) -> tuple[int, ...]:
        if _is_int(value):
            if value < 1:
                raise self.error("grid.seeds", "a count >= 1 or a list of seeds >= 0", value)
            return tuple(range(int(value)))
        if not isinstance(value, list) or not value:
            raise self.error("grid.seeds", "a count >= 1 or a non-empty list of seeds >= 0", value)
        for v in value:
            if not _is_int(v) or v < 0:
                raise self.error("grid.seeds", "integers >= 0", v)
        self.unique(value, "grid.seeds")
        return tuple(int(v) for v in value)

    def params(self, data: Mapping[str, Any], table: str, axis: tuple[str, ...]) -> dict[str, dict[str, Any]]:
        section: dict[str, Any] = data.get(table, {})
        out: dict[str, dict[str, Any]] = {}
        what = table.removesuffix("_params")
        for name, values in section.items():
            key = f"{table}.{name}"
            if name not in axis:
                raise self.error(key, f"a {what} of grid.{what} ({', '.join(axis)})", name,
                                 message=f"{what} not in the grid")
            if not isinstance(values, dict):
                raise self.error(key, "a table of parameters", values)
            for k, v in values.items():
                self.plain(v, f"{key}.{k}")
            out[name] = dict(values)
        return out

    def plain(self, value: object, key: str) -> None:
        """Refuse what has no JSON form (TOML dates, NaN, inf)."""
        if isinstance(value, float) and not math.isfinite(value):
            raise self.error(key, "a finite number", value)
        if isinstance(value, list):
            for v in value:
                self.plain(v, key)
        elif isinstance(value, dict):
            for k, v in value.items():
                self.plain(v, f"{key}.{k}")
        elif not isinstance(value, (str, int, float, bool)):
            raise self.error(key, "a string, number, boolean, list or table", value)

    def settings(self, table: dict[str, Any], clusters: Sequence[ClusterChoice]) -> dict[str, Any]:
        from simulator.gpu_speed import catalog_speed_profile
        from simulator.run import SimConfig

        fields = [f.name for f in dataclasses.fields(SimConfig)]
        allowed = [f for f in fields if f not in NOT_SETTINGS]
        out: dict[str, Any] = {}
        for key, value in table.items():
            where = f"settings.{key}"
            if key in NOT_SETTINGS:
                raise self.error(where, _NOT_SETTINGS_HINT.get(key, f"grid.{key}"), message="not a setting")
            if key not in allowed:
                raise self.error(where, "a SimConfig field: " + ", ".join(allowed), message="unknown key")
            if key == "speed_table" and isinstance(value, str) and catalog_speed_profile(value)[0]:
                profile = catalog_speed_profile(value)[1]
                entry: dict[str, Any] = {"catalog": True}
                if profile is not None:
                    p = self.file(str(profile), where)
                    entry["profile"] = {"path": str(p), "digest": file_digest([p])}
                out[key] = entry
            elif key in FILE_SETTINGS:
                p = self.file(value, where)
                out[key] = {"path": str(p), "digest": file_digest([p])}
            elif key == "estimates" and isinstance(value, str) and value.strip().startswith("predicted:"):
                p = self.file(value.strip().partition(":")[2].strip(), where)
                out[key] = {"predicted": True, "path": str(p), "digest": file_digest([p])}
            else:
                self.plain(value, where)
                out[key] = value
        types = sorted({t for c in clusters for t in c.gpu_type.split("+")})
        if "speed_table" not in out and _other_than_reference(types, out):
            # A trace's durations are reference-GPU (V100) seconds: at reference speed everywhere
            # an A100 cluster would be exactly as fast as a V100 one, so the catalog's speed model
            # is the default whenever a cluster has another type (a file or "catalog:" overrides).
            out["speed_table"] = {"catalog": True}
        if isinstance(out.get("speed_table"), dict) and out["speed_table"].get("catalog"):
            try:
                catalog_speed_table(out, types, ())
            except UserError as exc:
                raise self.error("settings.speed_table", None, message=f"the catalog's speed model: {exc}") from None
        for key in out:  # each value on its own, so an error names its key
            try:
                resolved_settings({key: out[key]})
            except UserError as exc:
                raise self.error(f"settings.{key}", None, message=str(exc)) from None
        return out

    def check_plugins(self, spec: SweepSpec) -> None:
        """Every policy, placement and admission key known, and each with its params constructible."""
        from simulator.admission import ADMISSIONS
        from simulator.placement import PLACEMENTS
        from simulator.policies import POLICIES
        from simulator.run import SimConfig

        for axis, names, registry, params in (
            ("policy", spec.policies, POLICIES, spec.policy_params),
            ("placement", spec.placements, PLACEMENTS, spec.placement_params),
            ("admission", spec.admissions, ADMISSIONS, spec.admission_params),
        ):
            for name in names:
                if axis == "policy" and getattr(registry.get(name), "arg_param", None):
                    # A trained agent is a folder of files the sweep would have to digest for run
                    # ids and ship to Ray workers; until it does, refuse rather than key runs by path.
                    raise self.error("grid.policy", None, message=f"policy {name!r} (a trained agent) cannot "
                                     "run in a sweep yet; run it with `gpusched simulate --policy rl:AGENT` "
                                     "or `python bench/rl_eval.py`")
                if name not in registry:
                    raise self.error(f"grid.{axis}", "one of " + ", ".join(registry), name)
                try:
                    SimConfig(**{axis: name, f"{axis}_params": params.get(name, {})})  # type: ignore[arg-type]
                except (UserError, TypeError, ValueError) as exc:
                    raise self.error(f"{axis}_params.{name}", None, message=_one_line(exc)) from None


def resolved_settings(settings: Mapping[str, Any]) -> dict[str, Any]:
    """`[settings]` as SimConfig keyword arguments: file settings loaded, the rest as given.
    Raises `UserError` (from SimConfig or the file readers) for a bad value."""
    from simulator.run import SimConfig

    kwargs: dict[str, Any] = {}
    for key, value in settings.items():
        if key == "speed_table" and value.get("catalog"):
            continue  # built per run: it depends on the cluster's GPU types and the jobs' models
        if key == "speed_table":
            from simulator.speed import load_speed_table

            kwargs[key] = load_speed_table(value["path"])
        elif key == "gpu_catalog":
            from simulator.gpu_catalog import load_gpu_catalog

            kwargs[key] = load_gpu_catalog(value["path"])
        elif key == "estimates" and isinstance(value, Mapping):
            from simulator.predict.model import load_model

            load_model(value["path"])  # a bad model file fails here, naming itself, before any run
            kwargs[key] = f"predicted:{value['path']}"
        else:
            kwargs[key] = value
    try:
        SimConfig(**kwargs)
    except (TypeError, ValueError) as exc:
        raise UserError(_one_line(exc)) from None
    return kwargs


def catalog_speed_table(settings: Mapping[str, Any], gpu_types: Sequence[str], model_names: Sequence[str]
                        ) -> tuple[Any, tuple[str, ...]]:
    """The speed table of `speed_table = "catalog[:PROFILE]"` for a run on these GPU types with
    jobs of these model names (`simulator.gpu_speed.workload_speed_table`), and its notes."""
    from simulator.gpu_catalog import GpuCatalog, load_gpu_catalog
    from simulator.gpu_speed import workload_speed_table

    entry = settings["speed_table"]
    catalog = load_gpu_catalog(settings["gpu_catalog"]["path"]) if "gpu_catalog" in settings else GpuCatalog.default()
    profile = entry["profile"]["path"] if "profile" in entry else None
    return workload_speed_table(gpu_types, model_names, catalog, profile=profile)


def _other_than_reference(types: Sequence[str], settings: Mapping[str, Any]) -> bool:
    """Whether the grid's GPU types need speed factors: several types, or one the catalog knows
    that is not the reference type (a type it does not know keeps the trace's durations)."""
    from simulator.gpu_catalog import GpuCatalog, load_gpu_catalog

    if len(types) > 1:
        return True
    catalog = load_gpu_catalog(settings["gpu_catalog"]["path"]) if "gpu_catalog" in settings else GpuCatalog.default()
    spec, ref = catalog.get(types[0]), catalog.get(DEFAULT_GPU_TYPE)
    return spec is not None and spec is not ref


def _is_int(value: object) -> TypeGuard[int]:
    return isinstance(value, int) and not isinstance(value, bool)


def _is_number(value: object) -> TypeGuard[int | float]:
    return isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)


def _one_line(exc: BaseException) -> str:
    return " ".join(str(exc).split()) or type(exc).__name__
