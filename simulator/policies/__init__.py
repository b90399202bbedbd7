"""Scheduling policies by key. Add a policy: write a module with a class satisfying
`simulator.policies.base.Policy` and register it in `POLICIES`."""

from __future__ import annotations

from simulator.policies.base import (
    ClusterView,
    Decision,
    HeadOfLinePolicy,
    Policy,
    PolicyError,
    QueuedJob,
    RunningJob,
    SimJob,
)
from simulator.policies.fcfs import FcfsPolicy
from simulator.policies.sjf import SjfPolicy
from traces.errors import UserError

POLICIES: dict[str, type[Policy]] = {cls.key: cls for cls in (FcfsPolicy, SjfPolicy)}


def make_policy(key: str) -> Policy:
    """A fresh policy instance for one run; `UserError` naming the known keys if unknown."""
    cls = POLICIES.get(key)
    if cls is None:
        raise UserError(f"unknown policy {key!r}; known policies: {', '.join(sorted(POLICIES))}")
    return cls()


__all__ = [
    "POLICIES",
    "ClusterView",
    "Decision",
    "FcfsPolicy",
    "HeadOfLinePolicy",
    "Policy",
    "PolicyError",
    "QueuedJob",
    "RunningJob",
    "SimJob",
    "SjfPolicy",
    "make_policy",
]
