"""Scheduling policies by key. Add a policy: write a module with a class satisfying
`simulator.policies.base.Policy` (protocol in that module's docstring) and register it in
`POLICIES`. Policy parameters are the class's keyword arguments (`make_policy(key, **params)`)."""

from __future__ import annotations

import inspect
import sys
import types
import typing
from typing import Any

from simulator.policies.base import (
    ClusterView,
    Decision,
    JobState,
    OrderedPolicy,
    Policy,
    PolicyError,
    Preempt,
    PreemptiveOrderedPolicy,
    Reject,
    RunContext,
    RunningIndex,
    SimJob,
    Start,
)
from simulator.policies.easy_backfill import EasyBackfillPolicy
from simulator.policies.fair_share import FairSharePolicy, FairSharePreemptivePolicy
from simulator.policies.fcfs import FcfsPolicy
from simulator.policies.las import LasPolicy
from simulator.policies.las_2d import Las2dPolicy
from simulator.policies.priority import PriorityPolicy
from simulator.policies.priority_preemptive import PriorityPreemptivePolicy
from simulator.policies.qssf import QssfPolicy
from simulator.policies.schedule import SchedulePolicy
from simulator.policies.sjf import SjfPolicy
from simulator.policies.sjf_estimate import SjfEstimatePolicy
from simulator.policies.srtf import SrtfPolicy
from simulator.policies.themis import ThemisPolicy
from traces.errors import UserError

POLICIES: dict[str, type[Policy]] = {
    cls.key: cls
    for cls in (
        FcfsPolicy,
        SjfPolicy,
        SjfEstimatePolicy,
        SrtfPolicy,
        QssfPolicy,
        PriorityPolicy,
        PriorityPreemptivePolicy,
        LasPolicy,
        Las2dPolicy,
        EasyBackfillPolicy,
        FairSharePolicy,
        FairSharePreemptivePolicy,
        ThemisPolicy,
        SchedulePolicy,
    )
}


def register_policy(cls: type[Policy]) -> type[Policy]:
    """Add a policy defined outside this package (e.g. `solvers.rolling`, which the simulator
    must not import) to `POLICIES`; registering the same class again is a no-op."""
    known = POLICIES.get(cls.key)
    if known is not None and known is not cls:
        raise ValueError(f"policy key {cls.key!r} is already registered to {known.__qualname__}")
    POLICIES[cls.key] = cls
    return cls


def policy_params(key: str) -> dict[str, Any]:
    """The keyword parameters a policy accepts, with their defaults."""
    sig = inspect.signature(POLICIES[key].__init__)
    return {
        name: p.default
        for name, p in sig.parameters.items()
        if name != "self" and p.kind in (p.KEYWORD_ONLY, p.POSITIONAL_OR_KEYWORD)
    }


_TRUE = frozenset({"true", "yes", "on", "1"})
_FALSE = frozenset({"false", "no", "off", "0"})


def _param_kind(cls: Any, name: str, default: Any) -> Any:
    """The type a parameter's value must have: its annotation, else its default's type (None: any)."""
    try:
        hints = typing.get_type_hints(cls.__init__)
    except (NameError, TypeError, AttributeError):  # an annotation that does not resolve at run time
        hints = {}
    if name in hints:
        return hints[name]
    if default is inspect.Parameter.empty or default is None:
        return None
    if isinstance(default, tuple):
        return tuple[type(default[0]), ...] if default else tuple[str, ...]  # type: ignore[misc]
    return type(default)


def _describe(kind: Any) -> str:
    """A type in words, for error messages: 'a float', 'comma-separated floats (e.g. 1,2.5)'."""
    origin, args = typing.get_origin(kind), typing.get_args(kind)
    if origin in (typing.Union, types.UnionType):
        return " or ".join("none" if a is type(None) else _describe(a) for a in args)
    if origin is tuple:
        if len(args) == 2 and args[1] is Ellipsis:
            return f"comma-separated {getattr(args[0], '__name__', str(args[0]))}s (e.g. 1,2)"
        return f"{len(args)} comma-separated values ({', '.join(_describe(a) for a in args)})"
    name = getattr(kind, "__name__", str(kind))
    return f"{'an' if name[:1] in 'aeiou' else 'a'} {name}"


def _parse(text: str, kind: Any) -> Any:
    """`text` (a command-line value) as a value of type `kind`; ValueError if it is not one.

    Tuples are comma-separated ("3250,7200"; "" is the empty tuple), booleans are
    true/false/yes/no/on/off/1/0, a union takes its first member that parses (a string
    stays a string when the union admits one) and "none" is None where None is allowed.
    """
    if kind is None or kind is Any or kind is str:
        return text
    origin, args = typing.get_origin(kind), typing.get_args(kind)
    if origin in (typing.Union, types.UnionType):
        members = [a for a in args if a is not type(None)]
        if str in members:
            return text
        if len(members) < len(args) and text.strip().lower() == "none":
            return None
        for member in members:
            try:
                return _parse(text, member)
            except ValueError:
                continue
        raise ValueError(text)
    if origin is tuple:
        parts = [p.strip() for p in text.split(",")] if text.strip() else []
        if len(args) == 2 and args[1] is Ellipsis:
            kinds = [args[0]] * len(parts)
        elif args:
            if len(parts) != len(args):
                raise ValueError(text)
            kinds = list(args)
        else:
            kinds = [str] * len(parts)
        return tuple(_parse(p, k) for p, k in zip(parts, kinds, strict=True))
    if kind is bool:
        word = text.strip().lower()
        if word in _TRUE or word in _FALSE:
            return word in _TRUE
        raise ValueError(text)
    if isinstance(kind, type):
        return kind(text.strip() if kind in (int, float) else text)
    return text


def split_policy(text: str) -> tuple[str, dict[str, str]]:
    """`KEY` or `KEY:ARG` (a policy whose class names an `arg_param`, e.g. `rl:AGENT_DIR`, takes
    ARG as that parameter) as the registry key and its parameters; `UserError` otherwise."""
    if text in POLICIES:
        return text, {}
    key, sep, arg = text.partition(":")
    cls = POLICIES.get(key)
    if not sep or cls is None:
        raise UserError(f"unknown policy {text!r}; known policies: {', '.join(sorted(POLICIES))}")
    param = getattr(cls, "arg_param", None)
    if not param:
        raise UserError(f"policy {key!r} takes no ':' argument (found {text!r}); use --policy-param NAME=VALUE")
    if not arg:
        raise UserError(f"policy {key!r}: expected {key}:{param.upper()} but found {text!r}")
    return key, {param: arg}


def make_policy(key: str, **params: Any) -> Policy:
    """A fresh policy instance for one run; `UserError` for an unknown key, parameter or value.

    A parameter given as a string (from the command line) is parsed as the type of the
    constructor's annotation for it (else of its default): see `_parse`, e.g. "3250,7200"
    for a `tuple[float, ...]`.
    """
    cls = POLICIES.get(key)
    if cls is None:
        raise UserError(f"unknown policy {key!r}; known policies: {', '.join(sorted(POLICIES))}")
    known = policy_params(key)
    args: dict[str, Any] = {}
    for name, value in params.items():
        if name not in known:
            accepted = ", ".join(sorted(known)) or "none"
            raise UserError(f"policy {key!r} has no parameter {name!r}; its parameters: {accepted}")
        if isinstance(value, str):
            kind = _param_kind(cls, name, known[name])
            try:
                value = _parse(value, kind)
            except (ValueError, TypeError):
                raise UserError(
                    f"policy {key!r} parameter {name!r}: expected {_describe(kind)} but found {value!r}"
                ) from None
        args[name] = value
    try:
        return cls(**args)
    except (TypeError, ValueError) as exc:
        raise UserError(f"policy {key!r}: {exc}") from None


# Trained agents (`rl:AGENT`, `simulator.rl.policy`) register themselves on import; importing
# them here makes every user of the registry (sweep workers included) know the key. When that
# module is the one being imported first, it is mid-import here and registers itself when done
# (it imports only `register_policy`, `base` and `slot` from this package, all defined by now).
if "simulator.rl.policy" not in sys.modules:
    import simulator.rl.policy  # noqa: E402, F401


__all__ = [
    "POLICIES",
    "ClusterView",
    "Decision",
    "FcfsPolicy",
    "JobState",
    "LasPolicy",
    "OrderedPolicy",
    "Policy",
    "PolicyError",
    "Preempt",
    "Reject",
    "PreemptiveOrderedPolicy",
    "PriorityPolicy",
    "PriorityPreemptivePolicy",
    "QssfPolicy",
    "RunContext",
    "RunningIndex",
    "SimJob",
    "SjfEstimatePolicy",
    "SjfPolicy",
    "SrtfPolicy",
    "Start",
    "make_policy",
    "policy_params",
    "register_policy",
    "split_policy",
]
