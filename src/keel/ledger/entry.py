"""Ledger entries: canonical JSON (RFC 8785) and salted commitments for personal data.

An entry is a JSON object. Its bytes in the log are its RFC 8785 canonical form, so anyone can
recompute the leaf hash from the JSON. Personal values (who did something, a customer id) are
not written into the entry: the entry holds a commitment ``sha256:<hex>`` of a random salt and
the value, and the salt and value live in an erasable side table. Erasing them leaves the entry,
its leaf hash and every proof intact, while the value can no longer be recovered or confirmed.
"""

from __future__ import annotations

import hashlib
import os
import re
from dataclasses import dataclass
from typing import Any

import orjson
import rfc8785

from keel.errors import LedgerError

SALT_BYTES = 16
MAX_ENTRY_BYTES = 64 * 1024
_SAFE_INT = 1 << 53
_FLOAT_LOW = 1e-5
_FLOAT_HIGH = 1e16
_POINT_ZERO = re.compile(rb"\.0(?![0-9])")
"""Where orjson wrote an integral float (``N.0``), or a string holds ``.0``."""


_SLOW, _PLAIN, _WHOLE_FLOATS = 0, 1, 2


def _plain(value: Any) -> int:
    """Whether orjson's sorted output is already the RFC 8785 form of a value.

    ``_PLAIN`` for null, booleans, integers that JavaScript represents exactly, non-integral
    floats of magnitude 1e-5 to 1e16, printable ASCII strings without a quote or backslash
    (nothing to escape; DEL goes the general way), and lists and objects of those (with such
    keys, so that sorting by UTF-8 bytes equals sorting by UTF-16 code units).
    ``_WHOLE_FLOATS`` when it is so once its integral floats below 2**53 are written as
    integers (ECMAScript writes ``1.0`` as ``1``; orjson as ``1.0``). ``_SLOW`` otherwise:
    other floats and strings go the general way. Iterative, with the common scalar cases
    first and no regular expression: it runs once per entry, decision and SDK call.
    """
    found = _PLAIN
    stack = [value]
    while stack:
        item = stack.pop()
        kind = type(item)
        if kind is str:
            if not (item.isascii() and item.isprintable()) or '"' in item or "\\" in item:
                return _SLOW
        elif kind is int:
            if not -_SAFE_INT < item < _SAFE_INT:
                return _SLOW
        elif kind is float:
            # Shortest round-trip digits, written without an exponent by both orjson and
            # ECMAScript in this range.
            if item.is_integer():
                if not -_SAFE_INT < item < _SAFE_INT:
                    return _SLOW
                found = _WHOLE_FLOATS
            elif not _FLOAT_LOW <= abs(item) < _FLOAT_HIGH:
                return _SLOW
        elif kind is dict:
            for key, child in item.items():
                if (
                    type(key) is not str
                    or not (key.isascii() and key.isprintable())
                    or '"' in key
                    or "\\" in key
                ):
                    return _SLOW
                stack.append(child)
        elif kind is list:
            stack.extend(item)
        elif item is not None and kind is not bool:
            return _SLOW
    return found


def _integral_floats_as_integers(data: bytes) -> bytes:
    """A plain value's orjson output with its integral floats written as integers.

    orjson writes an integral float below 2**53 as ``N.0`` (``-0.0`` for minus zero);
    ECMAScript writes ``N`` (and ``0``). Strings in a plain value hold no quote, so a ``.0``
    lies inside a string exactly when an odd number of quotes comes before it.
    """
    parts: list[bytes] = []
    last, quotes, counted = 0, 0, 0
    for match in _POINT_ZERO.finditer(data):
        point = match.start()
        quotes += data.count(b'"', counted, point)
        counted = point
        if quotes % 2:
            continue
        if data[point - 2 : point] == b"-0":  # a number starts after "[", "," or ":"
            parts += (data[last : point - 2], b"0")
        else:
            parts.append(data[last:point])
        last = point + 2
    parts.append(data[last:])
    return b"".join(parts)


def canonical_json(value: Any) -> bytes:
    """The RFC 8785 canonical bytes of any JSON value.

    Plain values (see :func:`_plain`) are serialised by orjson, whose sorted output is
    byte-identical to RFC 8785 for them (property-tested against the ``rfc8785`` package);
    everything else goes through ``rfc8785``.

    Args:
        value: A JSON value (no floats that JSON cannot represent).

    Returns:
        The canonical UTF-8 bytes.

    Raises:
        LedgerError: If the value is not canonicalisable.
    """
    try:
        kind = _plain(value)
        if kind == _SLOW:
            return rfc8785.dumps(value)
        data = orjson.dumps(value, option=orjson.OPT_SORT_KEYS)
        return _integral_floats_as_integers(data) if kind == _WHOLE_FLOATS else data
    except (rfc8785.CanonicalizationError, TypeError, ValueError) as exc:
        raise LedgerError(f"not canonical JSON: {exc}") from exc


def canonical_entry(entry: dict[str, Any], *, plain: bool = False) -> bytes:
    """The RFC 8785 canonical bytes of an entry.

    Args:
        entry: A JSON object (no floats that JSON cannot represent).
        plain: The caller guarantees the entry is plain (see :func:`_plain`: its strings were
            validated against ASCII patterns without characters to escape, its integers are
            safe), so orjson's sorted output is written without checking.

    Returns:
        The canonical UTF-8 bytes.

    Raises:
        LedgerError: If the entry is not canonicalisable or is larger than 64 KiB.
    """
    try:
        data = orjson.dumps(entry, option=orjson.OPT_SORT_KEYS) if plain else canonical_json(entry)
    except LedgerError as exc:
        raise LedgerError(f"ledger entry is {exc}") from exc
    if len(data) > MAX_ENTRY_BYTES:
        raise LedgerError(f"ledger entry is {len(data)} bytes; the limit is {MAX_ENTRY_BYTES}")
    return data


@dataclass(frozen=True, slots=True)
class Commitment:
    """A salted commitment to a personal value, and the secret that opens it."""

    digest: str
    salt: bytes
    value: bytes


def commit(value: Any) -> Commitment:
    """Commit to a personal value.

    Args:
        value: Any JSON value.

    Returns:
        The commitment (``sha256:<hex>`` of salt and canonical value) and its opening.

    Raises:
        LedgerError: If the value is not canonicalisable.
    """
    salt = os.urandom(SALT_BYTES)
    canonical = canonical_json(value)
    return Commitment(opening_digest(salt, canonical), salt, canonical)


def opening_digest(salt: bytes, canonical_value: bytes) -> str:
    """The commitment a salt and value open.

    Args:
        salt: The commitment's salt.
        canonical_value: The value's canonical JSON.

    Returns:
        ``sha256:<hex>``.
    """
    return "sha256:" + hashlib.sha256(salt + canonical_value).hexdigest()
