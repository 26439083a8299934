"""Reading manifests: multi-document YAML files into located, validated resources.

A manifest file holds one resource per YAML document::

    kind: Site
    name: fra-dc1
    labels: {tier: gold}
    spec: {...}

Loading never stops at the first problem: every problem in every file is collected as a
:class:`~keel.errors.Problem` naming the file, line, resource and field, so a user fixes them
all in one pass.

Invariants:
    * Only YAML's safe subset is read; custom tags, merge keys and duplicate keys are errors.
    * Input is bounded: bytes per file, files per call, nodes per document (alias bombs) and
      nesting depth all have limits (:class:`Limits`), and exceeding one is a located problem.
"""

from __future__ import annotations

import os
import re
import stat
import sys
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, get_args

import yaml
from pydantic import BaseModel, ValidationError
from yaml.constructor import SafeConstructor

from keel.errors import Problem
from keel.estate.resources import KINDS, NAME_PATTERN, SPEC_TYPES, Resource
from keel.estate.spelling import did_you_mean
from keel.memory import paused_gc

_BaseLoader: Any = getattr(yaml, "CSafeLoader", yaml.SafeLoader)  # libyaml when PyYAML has it
_STR_TAG = "tag:yaml.org,2002:str"
_MAP_TAG = "tag:yaml.org,2002:map"
_SEQ_TAG = "tag:yaml.org,2002:seq"
_PLAIN_TAGS = frozenset({_MAP_TAG, _SEQ_TAG})
_RESOLVED: dict[str, str] = {}
_RESOLVED_MAX = 65_536


class _Loader(_BaseLoader):  # type: ignore[misc]
    """The safe loader, with tag resolution memoised.

    Manifests repeat the same keys and values thousands of times. With no path resolvers (the
    safe loader has none) a node's implicit tag depends only on its kind and, for plain
    scalars, its text; so the regex work runs once per distinct text. The result is the same
    as :meth:`yaml.resolver.BaseResolver.resolve`.
    """

    def resolve(self, kind: Any, value: Any, implicit: Any) -> Any:
        if kind is yaml.ScalarNode:
            if not implicit[0]:
                return _STR_TAG
            tag = _RESOLVED.get(value)
            if tag is None:
                tag = super().resolve(kind, value, implicit)
                if len(_RESOLVED) < _RESOLVED_MAX:
                    _RESOLVED[value] = tag
            return tag
        return _SEQ_TAG if kind is yaml.SequenceNode else _MAP_TAG


FieldPath = tuple[str | int, ...]
STDIN = "-"
MANIFEST_SUFFIXES = (".yaml", ".yml")
ENVELOPE_KEYS = ("kind", "name", "labels", "spec")
LABEL_KEY = re.compile(r"^([a-z0-9.-]{1,253}/)?[A-Za-z0-9]([A-Za-z0-9._-]{0,61}[A-Za-z0-9])?$")
LABEL_VALUE = re.compile(r"^([A-Za-z0-9]([A-Za-z0-9._-]{0,61}[A-Za-z0-9])?)?$")
"""Label keys and values as Kubernetes has them (a value: at most 63 characters)."""
MAX_LABELS = 64
MAX_LABEL_BYTES = 16 * 1024
"""At most 64 labels on a resource, 16 KiB of keys and values together."""
_BOOL_WORDS = frozenset({"yes", "no", "on", "off", "y", "n", "true", "false"})


@dataclass(frozen=True, slots=True)
class Limits:
    """Bounds on manifest input; each one exceeded is reported as a problem.

    Attributes:
        max_file_bytes: Largest file read, in bytes.
        max_files: Most files one call reads, after expanding folders.
        max_nodes_per_document: Most YAML nodes one document may expand to (aliases included).
        max_depth: Deepest nesting of mappings and sequences.
    """

    max_file_bytes: int = 16 * 1024 * 1024
    max_files: int = 20_000
    max_nodes_per_document: int = 100_000
    max_depth: int = 32


@dataclass(frozen=True, slots=True)
class LocatedResource:
    """A validated resource with where it was declared.

    Attributes:
        resource: The resource.
        path: File it came from (``<store>`` for resources read back from the database).
        line: Line of its document's first key.
        lines: Line of every field, keyed by field path (``("spec", "pools", 0, "count")``).
    """

    resource: Resource
    path: str
    line: int
    lines: dict[FieldPath, int] = field(default_factory=dict)

    def line_of(self, path: FieldPath) -> int:
        """The line of a field, or of its nearest ancestor that has one.

        Args:
            path: Field path inside the document.

        Returns:
            A 1-based line, or 0 when the resource has no location.
        """
        return nearest_line(self.lines, path, self.line)

    def problem(self, path: FieldPath, message: str) -> Problem:
        """A problem located at one of this resource's fields.

        Args:
            path: Field path inside the document.
            message: What is wrong.

        Returns:
            The located problem.
        """
        return Problem(
            self.path, self.line_of(path), self.resource.ref, format_field(path), message
        )


@dataclass(slots=True)
class _Document:
    path: str
    line: int
    value: Any
    lines: dict[FieldPath, int]
    bools: dict[FieldPath, str]


class _TooLargeError(Exception):
    pass


def nearest_line(lines: dict[FieldPath, int], path: FieldPath, default: int) -> int:
    """The line of a field, or of its nearest ancestor that has one.

    Args:
        lines: Line of every field, by field path.
        path: Field path inside the document.
        default: Line to use when neither the field nor an ancestor has one.

    Returns:
        A 1-based line, or ``default``.
    """
    for end in range(len(path), -1, -1):
        hit = lines.get(path[:end])
        if hit is not None:
            return hit
    return default


def format_field(path: FieldPath) -> str:
    """Render a field path the way users write it: ``spec.pools[0].count``.

    Args:
        path: Field path.

    Returns:
        The dotted form.
    """
    out = ""
    for part in path:
        out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else part)
    return out


def expand_paths(paths: Sequence[str], limits: Limits) -> tuple[list[str], list[Problem]]:
    """Expand folders into the manifest files below them, in a stable order.

    Args:
        paths: Files, folders, or ``-`` for standard input.
        limits: Input bounds.

    Returns:
        The files to read and the problems met (missing paths, empty folders, too many files).
    """
    files: list[str] = []
    problems: list[Problem] = []
    for raw in paths:
        if raw == STDIN:
            files.append(STDIN)
            continue
        path = Path(raw)
        if path.is_dir():
            found = sorted(
                str(Path(root) / name)
                for root, dirs, names in os.walk(path)
                for name in names
                if name.endswith(MANIFEST_SUFFIXES) and not name.startswith(".")
                if os.path.isfile(Path(root) / name)  # no pipes, sockets or devices
                if not any(part.startswith(".") for part in Path(root).relative_to(path).parts)
            )
            if not found:
                problems.append(Problem(raw, 0, "", "", "no .yaml or .yml files in this folder"))
            files.extend(found)
        elif path.is_file():
            files.append(raw)
        elif path.exists():
            problems.append(Problem(raw, 0, "", "", "not a regular file (a pipe or device?)"))
        else:
            problems.append(Problem(raw, 0, "", "", "no such file or folder"))
    if len(files) > limits.max_files:
        problems.append(
            Problem(
                paths[0] if paths else "<input>",
                0,
                "",
                "",
                f"{len(files)} manifest files is more than the limit of {limits.max_files};"
                " apply them in smaller groups",
            )
        )
        files = []
    return files, problems


def _read_bytes(path: str, limits: Limits) -> bytes:
    if path == STDIN:
        data = sys.stdin.buffer.read(limits.max_file_bytes + 1)
    else:
        # Non-blocking, and checked after opening: a file swapped for a pipe cannot hang us.
        fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK)
        with os.fdopen(fd, "rb") as handle:
            status = os.fstat(fd)
            if not stat.S_ISREG(status.st_mode):
                raise _TooLargeError("not a regular file (a pipe or device?)")
            if status.st_size > limits.max_file_bytes:
                raise _TooLargeError(
                    f"file is {status.st_size / 1_048_576:.1f} MiB, over the limit of"
                    f" {limits.max_file_bytes / 1_048_576:.1f} MiB; split it"
                )
            data = handle.read(limits.max_file_bytes + 1)
    if len(data) > limits.max_file_bytes:
        raise _TooLargeError(
            f"input is over the limit of {limits.max_file_bytes / 1_048_576:.1f} MiB; split it"
        )
    return data


class _Converter:
    """Turns a composed YAML node tree into Python values, recording each field's line."""

    def __init__(self, limits: Limits) -> None:
        self.limits = limits
        self.constructor = SafeConstructor()
        self.nodes = 0
        self.lines: dict[FieldPath, int] = {}
        self.bools: dict[FieldPath, str] = {}
        self.problems: list[tuple[int, str, FieldPath]] = []

    def convert(self, node: yaml.Node, path: FieldPath, depth: int) -> Any:
        self.nodes += 1
        if self.nodes > self.limits.max_nodes_per_document:
            raise _TooLargeError(
                f"document expands to more than {self.limits.max_nodes_per_document} YAML nodes"
                " (aliases included); split it or remove the aliases"
            )
        line = node.start_mark.line + 1
        self.lines[path] = line
        if depth > self.limits.max_depth:
            raise _TooLargeError(f"nesting deeper than {self.limits.max_depth} levels")
        if isinstance(node, yaml.MappingNode | yaml.SequenceNode) and node.tag not in _PLAIN_TAGS:
            self.problems.append((line, f"unsupported YAML tag {node.tag}", path))
            return None
        if isinstance(node, yaml.MappingNode):
            result: dict[str, Any] = {}
            for key_node, value_node in node.value:
                key_line = key_node.start_mark.line + 1
                if not isinstance(key_node, yaml.ScalarNode) or key_node.tag != _STR_TAG:
                    shown = getattr(key_node, "value", "?")
                    hint = (
                        "; '<<' merge keys are not supported"
                        if key_node.tag == "tag:yaml.org,2002:merge"
                        else "; quote it"
                    )
                    self.problems.append(
                        (key_line, f"key {shown!r} is not a plain string{hint}", path)
                    )
                    continue
                key = key_node.value
                if key in result:
                    self.problems.append((key_line, f"duplicate key '{key}'", (*path, key)))
                    continue
                result[key] = self.convert(value_node, (*path, key), depth + 1)
                self.lines[(*path, key)] = key_line
            return result
        if isinstance(node, yaml.SequenceNode):
            return [
                self.convert(item, (*path, index), depth + 1)
                for index, item in enumerate(node.value)
            ]
        if node.tag == _STR_TAG:
            return node.value
        build = SafeConstructor.yaml_constructors.get(node.tag)
        if build is None or node.tag == "tag:yaml.org,2002:binary":
            self.problems.append((line, f"unsupported YAML tag {node.tag}", path))
            return None
        try:
            value = build(self.constructor, node)
        except (ValueError, OverflowError):  # a 5,000-digit integer, for one
            shown = str(node.value)
            what = f"a number of {len(shown)} characters" if len(shown) > 40 else repr(shown)
            self.problems.append((line, f"{what} is too large or malformed for a value", path))
            return None
        if isinstance(value, bool) and str(node.value).lower() in _BOOL_WORDS:
            self.bools[path] = str(node.value)
        return value


def parse_bytes(
    data: bytes, path: str, limits: Limits | None = None
) -> tuple[list[_Document], list[Problem]]:
    """Parse the YAML documents of one file.

    Args:
        data: The file's bytes (UTF-8, optionally with a byte-order mark).
        path: The name used in problems.
        limits: Input bounds; the defaults when ``None``.

    Returns:
        The non-empty documents and the problems met.
    """
    limits = limits or Limits()
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        line = data.count(b"\n", 0, exc.start) + 1
        return [], [Problem(path, line, "", "", f"not UTF-8 text (byte {exc.start}): {exc.reason}")]
    documents: list[_Document] = []
    problems: list[Problem] = []
    try:
        for node in yaml.compose_all(text, Loader=_Loader):
            if node is None:
                continue
            converter = _Converter(limits)
            try:
                value = converter.convert(node, (), 0)
            except _TooLargeError as exc:
                problems.append(Problem(path, node.start_mark.line + 1, "", "", str(exc)))
                continue
            line = node.start_mark.line + 1
            for problem_line, message, field_path in converter.problems:
                problems.append(Problem(path, problem_line, "", format_field(field_path), message))
            if converter.problems:
                continue
            if value is None:
                continue
            documents.append(_Document(path, line, value, converter.lines, converter.bools))
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        line = mark.line + 1 if mark is not None else 0
        message = " ".join(filter(None, [exc.context, exc.problem])) or "invalid YAML"
        problems.append(Problem(path, line, "", "", f"YAML syntax error: {message}"))
    except yaml.reader.ReaderError as exc:
        line = text.count("\n", 0, exc.position) + 1
        problems.append(Problem(path, line, "", "", f"unreadable character: {exc.reason}"))
    except yaml.YAMLError as exc:
        problems.append(Problem(path, 0, "", "", f"YAML error: {exc}"))
    except RecursionError:
        problems.append(Problem(path, 0, "", "", "YAML nesting is too deep to read"))
    return documents, problems


def _model_at(model: type[BaseModel], path: Iterable[str | int]) -> type[BaseModel] | None:
    current: type[BaseModel] = model
    for part in path:
        if isinstance(part, int):
            continue
        info = current.model_fields.get(part)
        if info is None:
            return None
        inner = _inner_model(info.annotation)
        if inner is None:
            return None
        current = inner
    return current


def _inner_model(annotation: Any) -> type[BaseModel] | None:
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return annotation
    for arg in get_args(annotation):
        found = _inner_model(arg)
        if found is not None:
            return found
    return None


def _spec_problems(
    doc: _Document, ref: str, spec_type: type[BaseModel], exc: ValidationError
) -> list[Problem]:
    problems = []
    for error in exc.errors(include_url=False):
        loc: FieldPath = ("spec", *error["loc"])
        kind = error["type"]
        message = str(error["msg"]).removeprefix("Value error, ")
        if kind == "extra_forbidden":
            key = str(loc[-1])
            owner = _model_at(spec_type, loc[1:-1])
            known = list(owner.model_fields) if owner else []
            message = f"unknown key '{key}'{did_you_mean(key, known)}"
            if known:
                message += f" (allowed: {', '.join(known)})" if not did_you_mean(key, known) else ""
        elif kind == "missing":
            message = f"missing required key '{loc[-1]}'"
        elif kind == "literal_error":
            expected = re.findall(r"'([^']*)'", str(error.get("ctx", {}).get("expected", "")))
            given = error.get("input")
            if isinstance(given, str):
                message += did_you_mean(given, expected)
        elif kind in ("string_type", "str_type") and loc in doc.bools:
            message = (
                f"YAML reads {doc.bools[loc]} as a boolean, not a string; quote it: "
                f"'{doc.bools[loc]}'"
            )
        line = _line_of(doc, loc)
        problems.append(Problem(doc.path, line, ref, format_field(loc), message))
    return problems


def _line_of(doc: _Document, path: FieldPath) -> int:
    return nearest_line(doc.lines, path, doc.line)


def _envelope_problems(doc: _Document) -> tuple[str, list[Problem]]:
    value = doc.value
    if not isinstance(value, dict):
        shown = type(value).__name__
        return "", [
            Problem(doc.path, doc.line, "", "", f"a document must be a mapping, not {shown}")
        ]
    kind, name = value.get("kind"), value.get("name")
    ref = f"{kind}/{name}" if isinstance(kind, str) and isinstance(name, str) else ""
    problems: list[Problem] = []

    def add(path: FieldPath, message: str) -> None:
        problems.append(Problem(doc.path, _line_of(doc, path), ref, format_field(path), message))

    for key in value:
        if key not in ENVELOPE_KEYS:
            add((key,), f"unknown key '{key}'{did_you_mean(key, ENVELOPE_KEYS)}")
    if kind is None:
        add(("kind",), f"missing required key 'kind' (one of: {', '.join(KINDS)})")
    elif not isinstance(kind, str) or kind not in SPEC_TYPES:
        add(("kind",), f"unknown kind {kind!r}{did_you_mean(str(kind), KINDS)}")
    if name is None:
        add(("name",), "missing required key 'name'")
    elif not isinstance(name, str) or not NAME_PATTERN.match(name):
        add(
            ("name",),
            f"{name!r} is not a valid name: use 1-63 lowercase letters, digits, '.', '_' or '-',"
            " starting and ending with a letter or digit",
        )
    labels = value.get("labels", {})
    if not isinstance(labels, dict):
        add(("labels",), "labels must be a mapping of strings to strings")
    elif len(labels) > MAX_LABELS:
        add(("labels",), f"{len(labels)} labels is more than the limit of {MAX_LABELS}")
    elif sum(len(str(k)) + len(str(v)) for k, v in labels.items()) > MAX_LABEL_BYTES:
        add(("labels",), f"labels total more than {MAX_LABEL_BYTES} characters")
    else:
        for key, label in labels.items():
            if not LABEL_KEY.match(key):
                add(("labels", key), f"invalid label key '{key[:80]}'")
            if not isinstance(label, str) or not LABEL_VALUE.match(label):
                add(
                    ("labels", key),
                    "label values are strings of at most 63 letters, digits, '-', '_' or '.',"
                    " starting and ending with a letter or digit",
                )
    if "spec" not in value:
        add(("spec",), "missing required key 'spec'")
    elif not isinstance(value["spec"], dict):
        add(("spec",), "spec must be a mapping")
    return ref, problems


def to_resources(documents: Iterable[_Document]) -> tuple[list[LocatedResource], list[Problem]]:
    """Validate documents as resources, one at a time (no cross-references yet).

    Args:
        documents: Parsed documents.

    Returns:
        The valid resources and every problem found in the others.
    """
    resources: list[LocatedResource] = []
    problems: list[Problem] = []
    for doc in documents:
        ref, envelope = _envelope_problems(doc)
        if envelope:
            problems.extend(envelope)
            continue
        spec_type = SPEC_TYPES[doc.value["kind"]]
        try:
            spec = spec_type.model_validate(doc.value["spec"])
        except ValidationError as exc:
            problems.extend(_spec_problems(doc, ref, spec_type, exc))
            continue
        resource = Resource(
            kind=doc.value["kind"],
            name=doc.value["name"],
            labels=doc.value.get("labels") or {},
            spec=spec,
        )
        resources.append(LocatedResource(resource, doc.path, doc.line, doc.lines))
    return resources, problems


def load_manifests(
    paths: Sequence[str], limits: Limits | None = None
) -> tuple[list[LocatedResource], list[Problem]]:
    """Read files and folders of manifests into resources, collecting every problem.

    Args:
        paths: Files, folders (searched for ``*.yaml`` and ``*.yml``) or ``-`` for stdin.
        limits: Input bounds; the defaults when ``None``.

    Returns:
        The valid resources and the problems, each problem located by file and line.
    """
    with paused_gc():
        return _load(paths, limits or Limits())


def _load(paths: Sequence[str], limits: Limits) -> tuple[list[LocatedResource], list[Problem]]:
    files, problems = expand_paths(paths, limits)
    documents: list[_Document] = []
    for path in files:
        try:
            data = _read_bytes(path, limits)
        except _TooLargeError as exc:
            problems.append(Problem(path, 0, "", "", str(exc)))
            continue
        except OSError as exc:
            problems.append(Problem(path, 0, "", "", f"cannot read: {exc.strerror or exc}"))
            continue
        docs, parse_problems = parse_bytes(data, path, limits)
        documents.extend(docs)
        problems.extend(parse_problems)
    resources, resource_problems = to_resources(documents)
    problems.extend(resource_problems)
    if not documents and not problems:
        problems.append(Problem(", ".join(paths), 0, "", "", "no resources found in the input"))
    return resources, problems
