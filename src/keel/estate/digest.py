"""Canonical JSON and content digests of resources and estates.

A digest names content, not storage: two resources with the same kind, name, labels and spec
have the same digest wherever and whenever they are computed.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable
from typing import Any

import orjson

from keel.estate.resources import Resource


def canonical_json(value: Any) -> str:
    """Serialise to JSON with sorted keys, no insignificant whitespace, UTF-8 unescaped.

    Args:
        value: A JSON-compatible value.

    Returns:
        The canonical text.
    """
    return orjson.dumps(value, option=orjson.OPT_SORT_KEYS).decode()


def spec_json(resource: Resource) -> dict[str, Any]:
    """The spec as declared (fields the manifest set), in JSON form.

    Args:
        resource: The resource.

    Returns:
        A JSON-compatible mapping.
    """
    return resource.spec.model_dump(mode="json", exclude_unset=True)


def spec_digest(spec: dict[str, Any]) -> str:
    """SHA-256 of a spec's canonical JSON, as ``sha256:<hex>``.

    Args:
        spec: The spec in JSON form (see :func:`spec_json`).

    Returns:
        The digest.
    """
    return "sha256:" + hashlib.sha256(canonical_json(spec).encode()).hexdigest()


def estate_digest(entries: Iterable[tuple[str, str, dict[str, str], str]]) -> str:
    """Digest of a whole estate from each resource's kind, name, labels and spec digest.

    Args:
        entries: ``(kind, name, labels, spec_digest)`` for every resource, in any order.

    Returns:
        ``sha256:<hex>``, independent of the order of ``entries``.
    """
    hasher = hashlib.sha256()
    for kind, name, labels, digest in sorted(entries, key=lambda e: (e[0], e[1])):
        hasher.update(canonical_json([kind, name, labels, digest]).encode())
        hasher.update(b"\n")
    return "sha256:" + hasher.hexdigest()
