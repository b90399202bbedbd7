"""The runs of a sweep: the cross product of the grid axes, each with a content-hashed run id.

A run's config is plain data (JSON-able dicts, lists, strings, numbers) so that a process
pool or a Ray cluster can ship it and `run_one` can rebuild everything from it. Its run id
is the first 12 hex digits of the sha256 of the canonical JSON (sorted keys, no blanks) of
its *identity*: the config without file locations (`path`, `paths`, `synth_path`; their
content digests stay) and with integral floats written as integers (so `3600` and
`3600.0`, or `load_scale = 1` and `1.0`, are the same run). Moving the spec or the trace,
or reordering keys in the TOML, keeps every id; changing a trace's bytes changes them.
Runs come in axis order: cluster, load scale, policy, placement, admission, seed
(the last varies fastest).
"""

from __future__ import annotations

import hashlib
import itertools
import json
from dataclasses import dataclass
from typing import Any

from simulator.sweep.spec import SweepSpec
from traces.errors import UserError

RUN_ID_HEX = 12
# Columns that describe a run in runs.csv; summary.csv groups by these minus seed.
CONFIG_COLUMNS: tuple[str, ...] = (
    "cluster", "num_gpus", "gpu_type", "load_scale", "policy", "placement", "admission", "seed",
)
_LOCATION_KEYS = frozenset({"path", "paths", "synth_path"})


@dataclass(frozen=True, slots=True)
class RunConfig:
    """One run: its id and its plain-data config (what `run_one` takes; it holds `run_id` too)."""

    run_id: str
    config: dict[str, Any]

    def columns(self) -> dict[str, Any]:
        """The run's `CONFIG_COLUMNS` values."""
        c = self.config
        return {
            "cluster": c["cluster"]["label"],
            "num_gpus": c["cluster"]["num_gpus"],
            "gpu_type": c["cluster"]["gpu_type"],
            "load_scale": c["load_scale"],
            "policy": c["policy"],
            "placement": c["placement"],
            "admission": c["admission"],
            "seed": c["seed"],
        }


def expand(spec: SweepSpec) -> list[RunConfig]:
    """Every run of the grid, in axis order; ids are unique (the spec refuses duplicate values)."""
    runs: list[RunConfig] = []
    workload = spec.workload.plain()
    for cluster, scale, policy, placement, admission, seed in itertools.product(
        spec.clusters, spec.load_scales, spec.policies, spec.placements, spec.admissions, spec.seeds
    ):
        config: dict[str, Any] = {
            "workload": workload,
            "cluster": cluster.plain(),
            "load_scale": scale,
            "policy": policy,
            "policy_params": dict(spec.policy_params.get(policy, {})),
            "placement": placement,
            "placement_params": dict(spec.placement_params.get(placement, {})),
            "admission": admission,
            "admission_params": dict(spec.admission_params.get(admission, {})),
            "seed": seed,
            "settings": dict(spec.settings),
        }
        rid = run_id_of(config)
        runs.append(RunConfig(rid, {"run_id": rid, **config}))
    ids = [r.run_id for r in runs]
    if len(set(ids)) != len(ids):  # only a sha256 prefix collision could do this
        raise UserError(f"{spec.path}: two runs of the grid got the same run id; rename a value to tell them apart")
    return runs


def run_id_of(config: dict[str, Any]) -> str:
    """The run id of a config (its `run_id` key, if any, is ignored)."""
    return hashlib.sha256(canonical_json(identity(config)).encode("ascii")).hexdigest()[:RUN_ID_HEX]


def identity(config: dict[str, Any]) -> dict[str, Any]:
    """What a run id hashes: the config without `run_id` and without the file locations of the
    workload, the cluster and file settings (their digests stay), integral floats as integers."""
    out: dict[str, Any] = {}
    for key, value in config.items():
        if key == "run_id":
            continue
        if key in ("workload", "cluster"):
            value = _without_locations(value)
        elif key == "settings":
            value = {k: _without_locations(v) for k, v in value.items()}
        out[key] = _integral(value)
    return out


def _without_locations(value: Any) -> Any:
    """`value` without file locations at any depth (files are identified by their digests)."""
    if isinstance(value, dict):
        return {k: _without_locations(v) for k, v in value.items() if k not in _LOCATION_KEYS}
    if isinstance(value, list):
        return [_without_locations(v) for v in value]
    return value


def _integral(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: _integral(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_integral(v) for v in value]
    if isinstance(value, float) and value.is_integer():
        return int(value)
    return value


def canonical_json(value: Any) -> str:
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=True, allow_nan=False)
