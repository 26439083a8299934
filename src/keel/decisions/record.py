"""Decision records: what a model decided, checked and turned into a ledger leaf.

A record says which model version decided, for which workload, when, on what input (a digest:
the raw input is never sent to Keel), what it answered, why (reason codes or feature
attributions, as the model gives them) and about whom (the data subject).

What the ledger holds, and what it does not::

    leaf:    {"type": "decision", "id", "model", "workload", "decided_at", "input", "content"}
    content: a salted commitment to {"output", "explanation", "subject"}

The leaf holds no personal value: the output, the explanation and the subject are behind one
salted commitment (:func:`keel.ledger.commit`) whose opening is stored apart and can be erased
(a subject's request) or pruned (the retention period ended) while the leaf, the tree and every
proof stay valid. To find a subject's records, Keel keeps a keyed hash of the subject
(:func:`subject_key`) beside each record, never the subject itself.

Invariants:
    * :func:`check_records` names every bad record and field of a batch at once; the service
      adds what needs the store (unknown model versions, reused ids) and stores all or none.
    * A leaf is at most a few hundred bytes whatever the record holds; the content is bounded
      by :data:`MAX_CONTENT_BYTES`.
"""

from __future__ import annotations

import functools
import hashlib
import hmac
import os
import re
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any, NamedTuple

from keel.errors import DecisionError, LedgerError, Problem
from keel.ledger import canonical_json

MAX_BATCH = 10_000
"""Most records in one batch."""
MAX_CONTENT_BYTES = 16 * 1024
"""Largest canonical output, explanation and subject together, in bytes."""
MAX_SKEW_S = 300.0
"""How far in the future (by the receiver's clock) a decision time may lie, in seconds."""
MAX_OUTCOME_CHARS = 64
"""Longest outcome label kept for distributions."""
OUTCOME_KEYS = ("decision", "label", "class", "outcome", "prediction")
"""Keys of an object output whose scalar value is its outcome, in order of preference."""

RECORD_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._:-]{0,63}$")
"""What a record id is (the API's paths take the same pattern)."""
_MODEL = re.compile(r"^[a-z0-9][a-z0-9-]{0,62}@[A-Za-z0-9][A-Za-z0-9._-]{0,62}$")
_WORKLOAD = re.compile(r"^[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?$")
_DIGEST = re.compile(r"^sha256:[0-9a-f]{64}$")
_INSTANT = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}\.[0-9]{6}Z")
"""What :func:`instant` writes (a time sent so is kept as sent: formatting it costs more)."""
_FIELDS = frozenset(
    {"id", "model", "workload", "decided_at", "input_digest", "output", "explanation", "subject"}
)


class DecisionRecord(NamedTuple):
    """One model decision, checked (a named tuple: batches make thousands).

    Attributes:
        id: The sender's id for the record (unique in the workspace; a retry sends it again).
        model: ``name@version`` of the deciding model version.
        workload: The workload that served it, or ``None``.
        decided_at: When the model decided (UTC).
        input_digest: ``sha256:<hex>`` of the input's canonical JSON (RFC 8785).
        output: What the model answered (any JSON value).
        explanation: Reason codes, feature attributions or ``None``.
        subject: Whom the decision is about (a customer id), or ``None``.
        content_json: The canonical JSON (RFC 8785) of ``{"output", "explanation",
            "subject"}``, what the leaf's content commitment commits to.
        decided_text: :attr:`decided_at` as the ledger writes it (:func:`instant`).
    """

    id: str
    model: str
    workload: str | None
    decided_at: datetime
    input_digest: str
    output: Any
    explanation: Any
    subject: str | None
    content_json: bytes
    decided_text: str

    def leaf(self, content_commitment: str) -> dict[str, Any]:
        """The ledger entry of this record.

        Every value is plain (see :func:`keel.ledger.canonical_entry`): ids, names and digests
        were checked against ASCII patterns, the time is :func:`instant`'s.

        Args:
            content_commitment: The commitment to :attr:`content_json`.

        Returns:
            The entry (no personal value in it).
        """
        entry: dict[str, Any] = {
            "type": "decision",
            "id": self.id,
            "model": self.model,
            "decided_at": self.decided_text,
            "input": self.input_digest,
            "content": content_commitment,
        }
        if self.workload is not None:
            entry["workload"] = self.workload
        return entry

    def outcome(self) -> str | None:
        """A short label of the output for distributions, or ``None`` when it has none.

        A scalar output is its own label; an object's label is the scalar under the first of
        :data:`OUTCOME_KEYS` it has. Labels are cut to :data:`MAX_OUTCOME_CHARS`.
        """
        value = self.output
        if isinstance(value, dict):
            found = None
            for key in OUTCOME_KEYS:
                if key in value:
                    found = value[key]
                    break
            value = found
        if value is None or isinstance(value, dict | list):
            return None
        if isinstance(value, bool):
            return "true" if value else "false"
        return str(value)[:MAX_OUTCOME_CHARS]


def instant(moment: datetime) -> str:
    """A UTC time as the ledger writes it: RFC 3339 with microseconds and ``Z``.

    Args:
        moment: An aware time.

    Returns:
        ``YYYY-MM-DDTHH:MM:SS.ffffffZ``.
    """
    if moment.tzinfo is not UTC:
        moment = moment.astimezone(UTC)
    return moment.isoformat(timespec="microseconds")[:-6] + "Z"


@functools.lru_cache(maxsize=4)
def _second_text(second: int) -> str:
    """``YYYY-MM-DDTHH:MM:SS`` of a Unix second (UTC)."""
    return datetime.fromtimestamp(second, UTC).isoformat()[:19]


def now_instant() -> str:
    """The time now as :func:`instant` writes it, at a fraction of its cost (the SDK's hot path).

    Returns:
        ``YYYY-MM-DDTHH:MM:SS.ffffffZ``.
    """
    second, micros = divmod(time.time_ns() // 1000, 1_000_000)
    return f"{_second_text(second)}.{micros:06d}Z"


def new_record_id() -> str:
    """A new record id: the time in milliseconds, then 80 random bits, as 32 hex digits.

    As in UUIDv7 (RFC 9562), ids made later sort after earlier ones, so that a store's id index
    takes new ids at its end, where its pages are already in memory; fully random ids land
    anywhere in it (a page read and a page written per record once it outgrows the cache).
    The random part keeps ids made in the same millisecond, by any process, apart.

    Returns:
        ``<12 hex digits of Unix milliseconds><20 random hex digits>``.
    """
    return f"{time.time_ns() // 1_000_000:012x}{os.urandom(10).hex()}"


def input_digest(value: Any) -> str:
    """The digest a record carries for an input: SHA-256 of its RFC 8785 canonical JSON.

    Anyone holding the input recomputes it with any RFC 8785 library.

    Args:
        value: The model's input, as JSON.

    Returns:
        ``sha256:<hex>``.

    Raises:
        DecisionError: If the input is not JSON.
    """
    try:
        return "sha256:" + hashlib.sha256(canonical_json(value)).hexdigest()
    except LedgerError as exc:
        raise DecisionError(
            f"the input has no RFC 8785 form ({exc}); send large integers as text",
            [Problem("<input>", 0, "", "input", str(exc))],
        ) from exc


def subject_key(index_key: bytes, subject: str) -> str:
    """The keyed hash under which a subject's records are found (HMAC-SHA-256, 128 bits, hex).

    Without the workspace's index key it neither reveals nor confirms the subject. 128 bits keep
    the index small; two subjects share a key with a chance of about n^2 / 2^129.

    Args:
        index_key: The workspace's secret index key.
        subject: The subject's identifier.

    Returns:
        32 hex characters.
    """
    return subject_keyer(index_key)(subject)


def subject_keyer(index_key: bytes) -> Callable[[str], str]:
    """:func:`subject_key` for many subjects: the HMAC is keyed once and copied per subject.

    Keying hashes the padded key twice before the subject is hashed; a batch's copies skip
    that, about half of a subject's key (2.9 to 1.3 us against a one-shot ``hmac.digest``).

    Args:
        index_key: The workspace's secret index key.

    Returns:
        A function of a subject's identifier to its :func:`subject_key`.
    """
    keyed = hmac.new(index_key, digestmod=hashlib.sha256)

    def key(subject: str) -> str:
        mac = keyed.copy()
        mac.update(subject.encode())
        return mac.digest()[:16].hex()

    return key


def _time(value: Any) -> tuple[datetime, str] | str:
    """A UTC time from RFC 3339 text with its :func:`instant` text, or what is wrong with it."""
    if not isinstance(value, str) or len(value) > 40:
        return "must be an RFC 3339 time with a timezone, e.g. 2026-11-30T09:15:00Z"
    try:
        moment = datetime.fromisoformat(value)
    except ValueError:
        return f"{value!r} is not an RFC 3339 time"
    if moment.tzinfo is None:
        return f"{value!r} has no timezone; add Z or an offset"
    if _INSTANT.fullmatch(value):  # fromisoformat reads "Z" as UTC
        return moment, value
    moment = moment.astimezone(UTC)
    return moment, instant(moment)


def _check(
    raw: Any, index: int, now: datetime, oldest: datetime
) -> tuple[DecisionRecord | None, list[Problem]]:
    """One record (the batch's ``index``-th), or the problems in it."""
    if not isinstance(raw, dict):
        return None, _problems(index, None, [("", "a record must be a JSON object")])
    ident = raw.get("id")
    wrong: list[tuple[str, str]] = []  # (field, message)
    if not _FIELDS.issuperset(raw):
        for unknown in sorted(set(raw) - _FIELDS):
            wrong.append((unknown[:64], f"unknown field; known: {', '.join(sorted(_FIELDS))}"))
    if not isinstance(ident, str) or not RECORD_ID.match(ident):
        wrong.append(
            ("id", "must be 1-64 letters, digits, '.', '_', ':' or '-', starting alphanumeric")
        )
    model = raw.get("model")
    if not isinstance(model, str) or not _MODEL.match(model):
        wrong.append(("model", "must be name@version of a registered model version"))
    workload = raw.get("workload")
    if workload is not None and (not isinstance(workload, str) or not _WORKLOAD.match(workload)):
        wrong.append(("workload", "must be a workload name (lowercase letters, digits, '-')"))
    timed = _time(raw.get("decided_at"))
    if isinstance(timed, str):
        wrong.append(("decided_at", timed))
    elif (ahead_s := (timed[0] - now).total_seconds()) > MAX_SKEW_S:
        message = (
            f"{timed[1]} is {ahead_s:.0f} s ahead of this server's clock ({instant(now)});"
            f" at most {MAX_SKEW_S:.0f} s is accepted"
        )
        wrong.append(("decided_at", message))
    elif timed[0] < oldest:
        message = (
            f"{timed[1]} is older than the retention period (before {instant(oldest)});"
            " the record would be pruned at once"
        )
        wrong.append(("decided_at", message))
    digest = raw.get("input_digest")
    if not isinstance(digest, str) or not _DIGEST.match(digest):
        wrong.append(
            ("input_digest", "must be sha256:<64 lowercase hex> of the input's canonical JSON")
        )
    if "output" not in raw:
        wrong.append(("output", "is required (any JSON value)"))
    subject = raw.get("subject")
    if subject is not None and (not isinstance(subject, str) or not 1 <= len(subject) <= 256):
        wrong.append(("subject", "must be a string of 1-256 characters"))
    if wrong:
        return None, _problems(index, ident, wrong)
    assert isinstance(timed, tuple)
    assert isinstance(ident, str)
    assert isinstance(model, str)
    assert isinstance(digest, str)
    output, explanation = raw["output"], raw.get("explanation")
    try:
        content = canonical_json({"output": output, "explanation": explanation, "subject": subject})
    except LedgerError as exc:
        return None, _problems(index, ident, [("output", str(exc))])
    if len(content) > MAX_CONTENT_BYTES:
        message = (
            f"output, explanation and subject take {len(content)} bytes;"
            f" at most {MAX_CONTENT_BYTES}"
        )
        return None, _problems(index, ident, [("output", message)])
    record = DecisionRecord(
        ident, model, workload, timed[0], digest, output, explanation, subject, content, timed[1]
    )
    return record, []


def _problems(index: int, ident: Any, wrong: list[tuple[str, str]]) -> list[Problem]:
    """The problems of the batch's ``index``-th record: its fields and what is wrong with each."""
    name = f"Decision/{ident}" if isinstance(ident, str) and len(ident) <= 64 else ""
    return [Problem(f"records[{index}]", 0, name, field, message) for field, message in wrong]


def check_records(
    raws: list[Any], *, now: datetime, retention: timedelta
) -> tuple[list[DecisionRecord], list[Problem]]:
    """Check a batch of records as sent (JSON objects).

    Args:
        raws: The records.
        now: The receiver's clock (decision times more than :data:`MAX_SKEW_S` ahead are
            refused).
        retention: The shortest retention period that applies (older records are refused).

    Returns:
        The good records, in order, and a problem per bad record and field (``records[i]``),
        duplicate ids within the batch included.

    Raises:
        DecisionError: If the batch is empty or larger than :data:`MAX_BATCH`.
    """
    if not raws:
        raise DecisionError("no records to store", [])
    if len(raws) > MAX_BATCH:
        raise DecisionError(f"{len(raws)} records in one batch; at most {MAX_BATCH}", [])
    records: list[DecisionRecord] = []
    problems: list[Problem] = []
    seen: dict[str, int] = {}
    oldest = now - retention
    for index, raw in enumerate(raws):
        record, found = _check(raw, index, now, oldest)
        problems += found
        if record is None:
            continue
        first = seen.setdefault(record.id, index)
        if first != index:
            problems += _problems(index, record.id, [("id", f"repeats records[{first}]")])
            continue
        records.append(record)
    return records, problems


def refuse(problems: list[Problem], total: int) -> DecisionError:
    """The error for a batch with problems: every problem, in record order.

    Args:
        problems: What is wrong (paths ``records[i]``).
        total: Records in the batch.

    Returns:
        The error to raise.
    """
    ordered = sorted(problems, key=lambda p: int(p.path[8:-1]))
    bad = len({p.path for p in problems})
    return DecisionError(
        f"{bad} of {total} records are refused; none was stored",
        ordered,
        hint="fix the records named above and send the batch again",
    )
