"""OpenLineage 2-0-2 parsing: events from the real client validate; bad ones say where and why."""

from __future__ import annotations

import copy
import uuid
from datetime import UTC, datetime
from typing import Any

import jsonschema
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from openlineage.client.event_v2 import (
    DatasetEvent,
    InputDataset,
    Job,
    JobEvent,
    OutputDataset,
    Run,
    RunEvent,
    RunState,
    StaticDataset,
)
from openlineage.client.facet_v2 import column_lineage_dataset as cl
from openlineage.client.facet_v2 import schema_dataset
from openlineage.client.serde import Serde

from keel.lineage.emit import plan_event, registration_event
from keel.lineage.openlineage import (
    MAX_NAME_CHARS,
    InvalidEventError,
    _fast,
    _kind_of,
    _validator,
    parse_event,
    schema,
)

NOW = datetime(2026, 11, 28, 12, 0, tzinfo=UTC).isoformat()
PRODUCER = "https://example.com/producer"


def _client_run_event() -> dict[str, Any]:
    facet = cl.ColumnLineageDatasetFacet(
        fields={
            "band": cl.Fields(
                inputFields=[cl.InputField(namespace="keel", name="profiles", field="income")],
                transformationType="",
                transformationDescription="",
            )
        }
    )
    fields = [schema_dataset.SchemaDatasetFacetFields(name="band", type="string")]
    event = RunEvent(
        eventType=RunState.COMPLETE,
        eventTime=NOW,
        run=Run(runId=str(uuid.uuid4())),
        job=Job(namespace="spark", name="features"),
        producer=PRODUCER,
        inputs=[InputDataset(namespace="keel", name="profiles")],
        outputs=[
            OutputDataset(
                namespace="keel",
                name="features",
                facets={
                    "schema": schema_dataset.SchemaDatasetFacet(fields=fields),
                    "columnLineage": facet,
                },
            )
        ],
    )
    return Serde.to_dict(event)


def test_client_events_of_every_kind_parse() -> None:
    run = parse_event(_client_run_event())
    assert run.kind == "run" and run.event_type == "COMPLETE"
    assert run.job == ("spark", "features")
    assert [d.name for d in run.inputs] == ["profiles"]
    assert set(run.outputs[0].facets) == {"schema", "columnLineage"}
    static = DatasetEvent(
        eventTime=NOW, producer=PRODUCER, dataset=StaticDataset(namespace="s3://b", name="raw")
    )
    parsed = parse_event(Serde.to_dict(static))
    assert parsed.kind == "dataset" and parsed.dataset is not None and parsed.dataset.name == "raw"
    job = JobEvent(
        eventTime=NOW,
        producer=PRODUCER,
        job=Job(namespace="dbt", name="model"),
        inputs=[InputDataset(namespace="pg", name="a")],
        outputs=[],
    )
    parsed_job = parse_event(Serde.to_dict(job))
    assert parsed_job.kind == "job" and parsed_job.run_id is None


def test_same_event_same_digest_and_key_order_does_not_matter() -> None:
    raw = _client_run_event()
    shuffled = dict(reversed(list(raw.items())))
    assert parse_event(raw).digest == parse_event(shuffled).digest
    changed = copy.deepcopy(raw)
    changed["eventType"] = "START"
    assert parse_event(changed).digest != parse_event(raw).digest


@pytest.mark.parametrize(
    ("mutate", "path", "rule"),
    [
        (lambda e: e["run"].__setitem__("runId", "not-a-uuid"), "$.run.runId", "format"),
        (lambda e: e.__setitem__("eventTime", "yesterday"), "$.eventTime", "format"),
        (lambda e: e.__setitem__("eventTime", "2026-11-28T12:00:00"), "$.eventTime", "format"),
        (lambda e: e.__setitem__("eventType", "FINISHED"), "$.eventType", "enum"),
        (lambda e: e.pop("producer"), "$", "required"),
        (lambda e: e["job"].pop("name"), "$.job", "required"),
        (lambda e: e["inputs"][0].__setitem__("name", 7), "$.inputs[0].name", "type"),
        (
            lambda e: e["outputs"][0]["facets"]["schema"].pop("_producer"),
            "$.outputs[0].facets.schema",
            "required",
        ),
    ],
)
def test_schema_violations_name_the_field_and_the_rule(mutate: Any, path: str, rule: str) -> None:
    raw = _client_run_event()
    mutate(raw)
    with pytest.raises(InvalidEventError) as caught:
        parse_event(raw)
    assert caught.value.path == path
    assert caught.value.schema_path.startswith("#/$defs/RunEvent/")
    assert caught.value.schema_path.endswith(rule)


def test_not_an_event_at_all() -> None:
    with pytest.raises(InvalidEventError, match="not an OpenLineage event"):
        parse_event({"eventTime": NOW, "producer": PRODUCER})
    with pytest.raises(InvalidEventError, match="JSON object"):
        parse_event([1, 2])


def test_overlong_names_are_refused_with_their_place() -> None:
    raw = _client_run_event()
    raw["inputs"][0]["name"] = "x" * (MAX_NAME_CHARS + 1)
    with pytest.raises(InvalidEventError) as caught:
        parse_event(raw)
    assert caught.value.path == "$.inputs[0].name"


def test_keels_own_events_validate_against_the_whole_schema() -> None:
    validator = jsonschema.Draft202012Validator(schema())
    plan = {
        "estate_digest": "sha256:" + "0" * 64,
        "policy_digest": "sha256:" + "1" * 64,
        "solver": "fast",
        "placements": [{"workload": "w", "site": "s", "pool": "p", "devices": 2}],
        "unplaced": [{"workload": "u", "reasons": []}],
    }
    now = datetime.now(UTC)
    for event in (
        plan_event(3, plan, "sha256:" + "2" * 64, ["profiles"], now),
        registration_event("credit-scoring", "3.2", ["profiles"], now),
    ):
        validator.validate(event)
        parsed = parse_event(event)
        assert parsed.job is not None and parsed.job[0] == "keel"
    placed = plan_event(3, plan, "sha256:" + "2" * 64, [], now)["run"]["facets"]["keel_placement"]
    assert placed["placements"][0]["site"] == "s" and placed["unplaced"] == ["u"]


def _leaves(value: Any, path: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    if isinstance(value, dict):
        return [path] + [p for k, v in value.items() for p in _leaves(v, (*path, k))]
    if isinstance(value, list):
        return [path] + [p for i, v in enumerate(value) for p in _leaves(v, (*path, i))]
    return [path]


json_values = st.recursive(
    st.none()
    | st.booleans()
    | st.integers(-5, 5)
    | st.sampled_from([1.0, -2.5, 2**63, -(2**70)])
    | st.text(max_size=8)
    | st.sampled_from(["2026-11-28T12:00:00Z", str(uuid.UUID(int=7)), "https://x.y", "START"]),
    lambda inner: (
        st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=5), inner, max_size=3)
    ),
    max_leaves=6,
)


@settings(max_examples=300, deadline=None)
@given(st.data())
def test_fast_and_reference_validators_agree(data: st.DataObject) -> None:
    """The compiled fast path accepts exactly what the jsonschema reference accepts."""
    raw = _client_run_event()
    leaves = _leaves(raw)
    path = data.draw(st.sampled_from(leaves[1:]))
    target = raw
    for key in path[:-1]:
        target = target[key]
    if data.draw(st.booleans()) and isinstance(target, dict):
        del target[path[-1]]
    else:
        target[path[-1]] = data.draw(json_values)
    kind = _kind_of(raw) if isinstance(raw, dict) and ("run" in raw or "job" in raw) else None
    if kind is None:
        return
    reference_ok = not list(_validator(kind).iter_errors(raw))
    assert _fast(kind).is_valid(raw) == reference_ok
