"""OpenLineage 2-0-2 events: validated against the spec's JSON Schema, then read into plain data.

The schema (``openlineage-2-0-2.json``) is the spec's own, without its descriptions. An event is
checked against the one definition its keys name (``run`` makes a RunEvent, ``dataset`` a
DatasetEvent, ``job`` alone a JobEvent), so an error names the field that broke the rule
instead of the three-way ``oneOf`` that no event matched.

Valid events take the fast path: jsonschema-rs, a validator in Rust, with the same format checks
as below (17-20 us an event; fastjsonschema's generated Python took 32-54 us on the same events,
the jsonschema reference 460 us). An event it rejects is checked again by jsonschema, whose
error names the field and the schema rule; the two are tested to agree.
"""

from __future__ import annotations

import hashlib
import json
import re
import uuid
from dataclasses import dataclass, field
from datetime import datetime
from functools import cache
from importlib import resources
from typing import TYPE_CHECKING, Any, Literal

import jsonschema_rs
import orjson

if TYPE_CHECKING:  # jsonschema explains a rejected event; valid ones never load it
    from jsonschema import Draft202012Validator, FormatChecker

SPEC_VERSION = "2-0-2"
SCHEMA_URL = f"https://openlineage.io/spec/{SPEC_VERSION}/OpenLineage.json"
MAX_NAME_CHARS = 1024
"""Longest namespace or name Keel stores (Marquez allows 1,024 too)."""

EventKind = Literal["run", "dataset", "job"]
_DEFINITIONS: dict[EventKind, str] = {
    "run": "RunEvent",
    "dataset": "DatasetEvent",
    "job": "JobEvent",
}
_URI = re.compile(r"^[A-Za-z][A-Za-z0-9+.-]*:\S*$")


class InvalidEventError(ValueError):
    """An event that breaks the schema or Keel's limits.

    Attributes:
        path: Where in the event (a JSON path: ``$.run.runId``).
        schema_path: The schema rule that failed (``#/$defs/Run/properties/runId/format``), or
            ``""`` for Keel's own limits.
        message: What is wrong.
    """

    def __init__(self, path: str, schema_path: str, message: str) -> None:
        super().__init__(f"{path}: {message}")
        self.path = path
        self.schema_path = schema_path
        self.message = message


@dataclass(frozen=True, slots=True)
class DatasetRef:
    """A dataset as an event mentions it.

    Attributes:
        namespace: Its namespace.
        name: Its name in the namespace.
        facets: Its dataset facets (``schema``, ``columnLineage``...).
        io_facets: Its ``inputFacets`` or ``outputFacets``.
    """

    namespace: str
    name: str
    facets: dict[str, Any] = field(default_factory=dict)
    io_facets: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class Event:
    """One valid event.

    Attributes:
        kind: ``run``, ``dataset`` or ``job``.
        event_type: ``START``, ``COMPLETE``... for run events, else ``None``.
        event_time: When it happened.
        producer: Who produced it (a URI).
        run_id: The run's UUID (run events).
        run_facets: The run's facets.
        job: ``(namespace, name)`` of the job (run and job events).
        job_facets: The job's facets.
        inputs: Datasets read.
        outputs: Datasets written.
        dataset: The dataset a dataset event describes.
        digest: SHA-256 of the event's canonical JSON: the same event sent twice has one digest.
    """

    kind: EventKind
    event_type: str | None
    event_time: datetime
    producer: str
    run_id: str | None
    run_facets: dict[str, Any]
    job: tuple[str, str] | None
    job_facets: dict[str, Any]
    inputs: tuple[DatasetRef, ...]
    outputs: tuple[DatasetRef, ...]
    dataset: DatasetRef | None
    digest: str


def schema() -> dict[str, Any]:
    """The OpenLineage 2-0-2 JSON Schema."""
    text = (resources.files("keel.lineage") / "openlineage-2-0-2.json").read_text("utf-8")
    loaded: dict[str, Any] = json.loads(text)
    return loaded


def _format_checker() -> FormatChecker:
    from jsonschema import FormatChecker  # the slow path: only a rejected event loads it

    checker = FormatChecker(formats=())

    @checker.checks("uuid", raises=ValueError)
    def _uuid(value: object) -> bool:
        return not isinstance(value, str) or bool(uuid.UUID(value))

    @checker.checks("date-time", raises=ValueError)
    def _date_time(value: object) -> bool:
        if not isinstance(value, str):
            return True
        return datetime.fromisoformat(value).tzinfo is not None

    @checker.checks("uri")
    def _uri(value: object) -> bool:
        return not isinstance(value, str) or bool(_URI.match(value))

    return checker


def _is_uuid(value: str) -> bool:
    try:
        return bool(uuid.UUID(value))
    except ValueError:
        return False


def _is_date_time(value: str) -> bool:
    try:
        return datetime.fromisoformat(value).tzinfo is not None
    except ValueError:
        return False


def _root(kind: EventKind) -> dict[str, Any]:
    full = schema()
    return {
        "$schema": full["$schema"],
        "$defs": full["$defs"],
        "$ref": f"#/$defs/{_DEFINITIONS[kind]}",
    }


@cache
def _fast(kind: EventKind) -> Any:
    # Keel's own format checks, not the validator's: the event is read with Python's parsers.
    formats = {"uuid": _is_uuid, "date-time": _is_date_time, "uri": lambda v: bool(_URI.match(v))}
    return jsonschema_rs.validator_for(_root(kind), validate_formats=True, formats=formats)


@cache
def _validator(kind: EventKind) -> Draft202012Validator:
    from jsonschema import Draft202012Validator

    return Draft202012Validator(_root(kind), format_checker=_format_checker())


def _kind_of(raw: dict[str, Any]) -> EventKind:
    if "run" in raw:
        return "run"
    if "dataset" in raw:
        return "dataset"
    if "job" in raw:
        return "job"
    raise InvalidEventError(
        "$",
        "#/oneOf",
        "not an OpenLineage event: a RunEvent has 'run' and 'job', a DatasetEvent 'dataset', "
        "a JobEvent 'job'",
    )


def _check_names(raw: dict[str, Any], where: str) -> None:
    for key in ("namespace", "name"):
        if not raw[key] or len(raw[key]) > MAX_NAME_CHARS:
            message = f"must be 1 to {MAX_NAME_CHARS} characters long"
            raise InvalidEventError(f"{where}.{key}", "", message)


def _dataset(raw: dict[str, Any], io_key: str, where: str) -> DatasetRef:
    _check_names(raw, where)
    return DatasetRef(raw["namespace"], raw["name"], raw.get("facets") or {}, raw.get(io_key) or {})


def _datasets(raw: dict[str, Any], key: str, io_key: str) -> tuple[DatasetRef, ...]:
    return tuple(
        _dataset(item, io_key, f"$.{key}[{index}]") for index, item in enumerate(raw.get(key, []))
    )


def parse_event(raw: object) -> Event:
    """Validate one event and read it.

    Args:
        raw: The decoded JSON.

    Returns:
        The event.

    Raises:
        InvalidEventError: If it is not a valid 2-0-2 RunEvent, DatasetEvent or JobEvent, naming the
            field and the schema rule.
    """
    if not isinstance(raw, dict):
        raise InvalidEventError(
            "$", "#/oneOf", f"an event is a JSON object, not {type(raw).__name__}"
        )
    kind = _kind_of(raw)
    if not _fast(kind).is_valid(raw):
        from jsonschema.exceptions import best_match

        error = best_match(_validator(kind).iter_errors(raw))
        if error is None:  # never seen; the fast validator's own first error is still precise
            message = next(iter(_fast(kind).iter_errors(raw)), None)
            raise InvalidEventError("$", "", str(message or "invalid event")) from None
        schema_path = "/".join(str(part) for part in error.absolute_schema_path)
        raise InvalidEventError(
            error.json_path, f"#/$defs/{_DEFINITIONS[kind]}/{schema_path}", error.message
        ) from None
    job = None
    if "job" in raw:
        _check_names(raw["job"], "$.job")
        job = (raw["job"]["namespace"], raw["job"]["name"])
    run = raw.get("run") or {}
    return Event(
        kind=kind,
        event_type=raw.get("eventType") if kind == "run" else None,
        event_time=datetime.fromisoformat(raw["eventTime"]),
        producer=raw["producer"],
        run_id=str(uuid.UUID(run["runId"])) if run else None,
        run_facets=run.get("facets") or {},
        job=job,
        job_facets=(raw.get("job") or {}).get("facets") or {},
        inputs=_datasets(raw, "inputs", "inputFacets"),
        outputs=_datasets(raw, "outputs", "outputFacets"),
        dataset=_dataset(raw["dataset"], "", "$.dataset") if kind == "dataset" else None,
        digest="sha256:"
        + hashlib.sha256(orjson.dumps(raw, option=orjson.OPT_SORT_KEYS)).hexdigest(),
    )
