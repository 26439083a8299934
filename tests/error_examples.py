"""One example of every Keel error class with every fact set, and how to compare them."""

from __future__ import annotations

from typing import Any

from keel import errors
from keel.errors import KeelError, Problem

PROBLEM = Problem("estate/sites.yaml", 7, "Site/fra-dc1", "spec.pools[0].count", "must be >= 1")


def example(kind: type[KeelError]) -> KeelError:
    """One instance of every class, with every fact it can carry set."""
    made: dict[type[KeelError], Any] = {
        errors.ManifestError: lambda: errors.ManifestError([PROBLEM], hint="fix it"),
        errors.InUseError: lambda: errors.InUseError("in use", [PROBLEM], hint="delete first"),
        errors.PolicyError: lambda: errors.PolicyError([PROBLEM]),
        errors.DeniedError: lambda: errors.DeniedError([PROBLEM, PROBLEM]),
        errors.RequestError: lambda: errors.RequestError("bad request", [PROBLEM]),
        errors.RateLimitError: lambda: errors.RateLimitError("slow down", 2.5),
        errors.ForbiddenError: lambda: errors.ForbiddenError("no", ["sod.no_self_approval"]),
        errors.EventError: lambda: errors.EventError(
            "bad event", index=3, path="$.run.runId", schema_path="#/x"
        ),
        errors.UnreachableError: lambda: errors.UnreachableError(
            "cannot reach http://h:1", url="http://h:1", hint="start it"
        ),
        errors.IntegrityError: lambda: errors.IntegrityError("tampered", first_bad_index=12),
        errors.DispatchError: lambda: errors.DispatchError("cannot dispatch", [PROBLEM]),
        errors.DecisionError: lambda: errors.DecisionError("refused", [PROBLEM], hint="fix"),
        errors.GridError: lambda: errors.GridError("bad series", [PROBLEM], hint="fix"),
        errors.TraceError: lambda: errors.TraceError("bad trace", [PROBLEM], hint="fix"),
        errors.EngineError: lambda: errors.EngineError(
            "ray refused", cluster="gpu-ray", unreachable=False, hint="check it"
        ),
    }
    return made.get(kind, lambda: kind("something went wrong", hint="a hint"))()


def all_classes() -> list[type[KeelError]]:
    found: list[type[KeelError]] = []
    todo: list[type[KeelError]] = [KeelError]
    while todo:
        cls = todo.pop()
        if not cls.__name__.startswith("_"):
            found.append(cls)
        todo += cls.__subclasses__()
    return sorted(found, key=lambda c: c.__name__)


def facts(error: KeelError) -> dict[str, Any]:
    return {
        "class": type(error),
        "code": error.code,
        "message": error.message,
        "hint": error.hint,
        "problems": error.problems,
        "details": error.details(),
        "http_status": error.http_status,
        "exit_code": error.exit_code,
    }
