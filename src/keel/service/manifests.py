"""Manifest files: validate them, read the files they name (confined), the demo's, the schema.

Nothing here touches the store: :mod:`keel.service.changes` applies what this reads.
"""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from keel.errors import ManifestError, Problem
from keel.estate import (
    SPEC_TYPES,
    Estate,
    Limits,
    LocatedResource,
    build_estate,
    demo_manifest_files,
    load_manifests,
)
from keel.estate import demo_tool_calls as _demo_tool_calls
from keel.estate import demo_usage_trace as _demo_usage_trace
from keel.estate.resources import (
    MAX_REGO_CHARS,
    MonitorSpec,
    PolicySetSpec,
    RegoModuleSpec,
    WorkloadSpec,
)
from keel.policy.compliance.engine import ComplianceEngine
from keel.service import access, policy
from keel.service.stored import STORE_PATH


def sorted_problems(problems: list[Problem]) -> list[Problem]:
    """Problems by file (as first named, the store last), then line."""
    order = {path: index for index, path in enumerate(dict.fromkeys(p.path for p in problems))}
    return sorted(problems, key=lambda p: (p.path == STORE_PATH, order[p.path], p.line))


def validate_manifests(
    paths: Sequence[str], limits: Limits | None = None, data_root: Path | None = None
) -> Estate:
    """Validate manifests as a self-contained estate, without touching the store.

    Args:
        paths: Files and folders of manifests.
        limits: Input limits; the defaults when ``None``.
        data_root: A folder besides each manifest's own where the files it names may lie.

    Returns:
        The valid estate.

    Raises:
        ManifestError: With every problem found, located by file and line (policy modules
            that do not compile included).
    """
    located, problems = load_manifests(paths, limits)
    located, file_problems = resolve_files(located, data_root)
    estate, reference_problems = build_estate(located)
    problems.extend(file_problems + reference_problems)
    if problems:
        raise ManifestError(sorted_problems(problems))
    check_policies(estate, located)
    return estate


def resolve_files(
    located: list[LocatedResource], data_root: Path | None, *, as_text: bool = False
) -> tuple[list[LocatedResource], list[Problem]]:
    """Read each ``PolicySet`` module's ``file`` into its ``rego``; make monitor paths absolute.

    The stored spec holds the module's text, so the policy digest covers what runs; ``file``
    keeps the absolute path, for error locations. A ``Monitor``'s data paths are resolved against
    its manifest's folder. Every file named must lie under the manifest's folder or the data
    root (symbolic links followed), so a manifest cannot read ``/etc/passwd`` or ``../``.
    Manifests that arrived as text (``as_text``: an API request) have no folder: their monitor
    paths resolve against the data root, and their modules must carry their text.

    Returns:
        The resources, and a problem for each file that cannot be read or lies outside.
    """
    out: list[LocatedResource] = []
    problems: list[Problem] = []
    for item in located:
        spec = item.resource.spec
        if item.path == STORE_PATH:
            out.append(item)
        elif isinstance(spec, MonitorSpec):
            out.append(_monitor_paths(item, spec, data_root, as_text, problems))
        elif isinstance(spec, PolicySetSpec) and any(m.file for m in spec.modules):
            out.append(_module_files(item, spec, data_root, as_text, problems))
        elif (
            isinstance(spec, WorkloadSpec)
            and spec.run is not None
            and (spec.run.working_dir or "").startswith("./")
        ):
            out.append(_working_dir(item, spec, data_root, as_text, problems))
        else:
            out.append(item)
    return out, problems


def _roots(item: LocatedResource, data_root: Path | None, as_text: bool) -> list[Path]:
    folder = [] if as_text else [Path(item.path).parent.resolve()]
    return folder + ([data_root.resolve()] if data_root else [])


def _outside(path: Path, roots: list[Path]) -> bool:
    return not any(path.is_relative_to(root) for root in roots)


def _where_allowed(as_text: bool) -> str:
    if as_text:
        return "the server's data root (data_root in keel.yaml or KEEL_DATA_ROOT)"
    return "the manifest's folder or the data root (data_root in keel.yaml or KEEL_DATA_ROOT)"


def _monitor_paths(
    item: LocatedResource,
    spec: MonitorSpec,
    data_root: Path | None,
    as_text: bool,
    problems: list[Problem],
) -> LocatedResource:
    """A monitor's data paths, made absolute and checked to lie under an allowed folder."""
    roots = _roots(item, data_root, as_text)
    base = data_root if as_text else Path(item.path).parent
    paths = {}
    for key in ("reference", "current"):
        given = getattr(spec, key)
        if base is None:
            problems.append(
                item.problem(("spec", key), f"{given}: data files need {_where_allowed(True)}")
            )
            continue
        resolved = (base / given).resolve()
        if _outside(resolved, roots):
            problems.append(
                item.problem(
                    ("spec", key), f"{given} lies outside {_where_allowed(as_text)}: refused"
                )
            )
        paths[key] = str(resolved)
    resource = item.resource.model_copy(update={"spec": spec.model_copy(update=paths)})
    return dataclasses.replace(item, resource=resource)


def _working_dir(
    item: LocatedResource,
    spec: WorkloadSpec,
    data_root: Path | None,
    as_text: bool,
    problems: list[Problem],
) -> LocatedResource:
    """A run's ``./`` working folder made absolute: relative to the manifest (or the data root).

    Only ``./`` paths are resolved, for engines that share this file system (local, Slurm);
    any other path goes to the engine as written (a container's own folder, say).
    """
    assert spec.run is not None
    assert spec.run.working_dir is not None
    where = ("spec", "run", "working_dir")
    base = data_root if as_text else Path(item.path).parent
    if base is None:
        problems.append(item.problem(where, f"a ./ folder needs {_where_allowed(True)}"))
        return item
    resolved = (base / spec.run.working_dir).resolve()
    if _outside(resolved, _roots(item, data_root, as_text)):
        problems.append(
            item.problem(where, f"{spec.run.working_dir} lies outside {_where_allowed(as_text)}")
        )
        return item
    run = spec.run.model_copy(update={"working_dir": str(resolved)})
    resource = item.resource.model_copy(update={"spec": spec.model_copy(update={"run": run})})
    return dataclasses.replace(item, resource=resource)


def _module_files(
    item: LocatedResource,
    spec: PolicySetSpec,
    data_root: Path | None,
    as_text: bool,
    problems: list[Problem],
) -> LocatedResource:
    """A policy set with each module's ``file`` read into its ``rego``."""
    roots = _roots(item, data_root, as_text)
    modules = []
    for index, module in enumerate(spec.modules):
        where = ("spec", "modules", index, "file")
        if module.file is None:
            modules.append(module)
            continue
        if as_text:
            problems.append(
                item.problem(where, "a module sent as text must carry its source in rego")
            )
            modules.append(module)
            continue
        path = (Path(item.path).parent / module.file).resolve()
        if _outside(path, roots):
            problems.append(
                item.problem(where, f"{module.file} lies outside {_where_allowed(False)}")
            )
            modules.append(module)
            continue
        try:
            text = _read_regular(path)
        except (OSError, UnicodeDecodeError) as error:
            problems.append(item.problem(where, f"cannot read {path}: {error}"))
            modules.append(module)
            continue
        if len(text) > MAX_REGO_CHARS:
            problems.append(item.problem(where, f"{path} is over {MAX_REGO_CHARS} characters"))
        modules.append(RegoModuleSpec(name=module.name, rego=text, file=str(path)))
    resource = item.resource.model_copy(
        update={"spec": spec.model_copy(update={"modules": modules})}
    )
    return dataclasses.replace(item, resource=resource)


def _read_regular(path: Path) -> str:
    """A regular file's text, at most one character over the module limit (never a pipe)."""
    if not path.is_file():
        raise OSError(f"{path} is not a regular file")
    with path.open(encoding="utf-8") as handle:
        return handle.read(MAX_REGO_CHARS + 1)


def check_policies(estate: Estate, located: list[LocatedResource]) -> ComplianceEngine | None:
    """Compile the compliance and access policies of an estate (errors located by file).

    Returns:
        The compliance engine, or ``None`` when no policy set is applied.
    """
    if not estate.of_kind("PolicySet"):
        return None
    sets = {i.resource.name: i for i in located if i.resource.kind == "PolicySet"}
    engine = policy.engine_for(estate, sets)
    if access.custom_policies(estate):
        access.engine_for(estate, sets)
    return engine


def demo_manifests(*, refused: bool = False) -> list[tuple[str, str]]:
    """The bundled demo estate as ``(file name, text)`` pairs.

    Args:
        refused: The manifests the demo's policy refuses at apply, instead of the estate.

    Returns:
        The manifest files, in name order.
    """
    return demo_manifest_files("demo_refused" if refused else "demo")


def demo_usage_trace() -> bytes:
    """Three days of real GenAI requests in Keel's trace format, for the tour's capacity advice."""
    return _demo_usage_trace()


def demo_tool_calls() -> bytes:
    """Four tool calls of the demo's KYC agent, for the tour's ``keel agents check``."""
    return _demo_tool_calls()


def manifest_schema() -> dict[str, Any]:
    """JSON Schema (draft 2020-12) of one manifest document, for editors.

    Returns:
        A schema whose ``oneOf`` has one branch per kind.
    """
    from pydantic.json_schema import models_json_schema

    _, top = models_json_schema(
        [(spec, "validation") for spec in SPEC_TYPES.values()],
        ref_template="#/$defs/{model}",
    )
    defs = top.get("$defs", {})
    branches = []
    for kind, spec in SPEC_TYPES.items():
        branches.append(
            {
                "type": "object",
                "title": kind,
                "additionalProperties": False,
                "required": ["kind", "name", "spec"],
                "properties": {
                    "kind": {"const": kind},
                    "name": {
                        "type": "string",
                        "pattern": r"^[a-z0-9]([a-z0-9._-]{0,61}[a-z0-9])?$",
                    },
                    "labels": {"type": "object", "additionalProperties": {"type": "string"}},
                    "spec": {"$ref": f"#/$defs/{spec.__name__}"},
                },
            }
        )
    schema = {
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "$id": "https://keel.example/schemas/manifest.json",
        "title": "Keel manifest document",
        "oneOf": branches,
        "$defs": defs,
    }
    json.dumps(schema)  # fail here, not in the user's editor, if anything is not serialisable
    return schema
