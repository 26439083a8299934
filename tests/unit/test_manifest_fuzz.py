"""Fuzzing the manifest loader: any input gives resources or located problems, never a crash."""

from __future__ import annotations

import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from keel.errors import Problem
from keel.estate.manifest import parse_bytes, to_resources
from keel.estate.references import build_estate

SITE = {
    "kind": "Site",
    "name": "fra-dc1",
    "spec": {
        "kind": "on_prem",
        "country": "DE",
        "location": {"latitude": 50.1, "longitude": 8.7},
        "pools": [{"name": "h100", "accelerator": "H100-SXM", "count": 8, "usd_per_hour": 2.1}],
    },
}
DATASET = {
    "kind": "Dataset",
    "name": "d1",
    "spec": {"classification": "internal", "size_gb": 10, "replicas": ["fra-dc1"]},
}


def check(data: bytes) -> None:
    docs, problems = parse_bytes(data, "fuzz.yaml")
    resources, more = to_resources(docs)
    _, reference_problems = build_estate(resources)
    for problem in [*problems, *more, *reference_problems]:
        assert isinstance(problem, Problem)
        assert problem.path == "fuzz.yaml"
        assert problem.message
        assert problem.line >= 0


@settings(max_examples=300, suppress_health_check=[HealthCheck.too_slow])
@given(st.binary(max_size=2048))
def test_random_bytes(data: bytes) -> None:
    check(data)


@settings(max_examples=300, suppress_health_check=[HealthCheck.too_slow])
@given(
    st.lists(
        st.sampled_from(
            [
                "kind: ",
                "Site",
                "name: ",
                "spec:",
                "{",
                "}",
                "[",
                "]",
                "- ",
                ", ",
                "'",
                '"',
                "&a ",
                "*a",
                "!!str ",
                "|",
                "\n",
                "  ",
                "\t",
                "0",
                "1.5",
                ".nan",
                "pools",
                "null",
                "---\n",
            ]
        ),
        max_size=80,
    )
)
def test_yaml_like_text(tokens: list[str]) -> None:
    check("".join(tokens).encode())


json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=20),
    lambda children: (
        st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=12), children, max_size=4)
    ),
    max_leaves=20,
)


def _mutate(doc: dict[str, object], path: list[str], value: object) -> dict[str, object]:
    out: dict[str, object] = yaml.safe_load(yaml.safe_dump(doc))
    target = out
    for key in path[:-1]:
        nxt = target.get(key)
        if not isinstance(nxt, dict):
            return out
        target = nxt
    target[path[-1]] = value
    return out


PATHS = [
    ["kind"],
    ["name"],
    ["spec", "kind"],
    ["spec", "country"],
    ["spec", "pools"],
    ["spec", "location"],
    ["spec", "max_classification"],
    ["spec", "extra"],
    ["labels"],
]


@settings(max_examples=300, suppress_health_check=[HealthCheck.too_slow])
@given(st.sampled_from(PATHS), json_values)
def test_structurally_mutated_documents(path: list[str], value: object) -> None:
    text = yaml.safe_dump_all([_mutate(SITE, path, value), DATASET])
    docs, problems = parse_bytes(text.encode(), "fuzz.yaml")
    resources, more = to_resources(docs)
    _, reference_problems = build_estate(resources)
    all_problems = [*problems, *more, *reference_problems]
    names = {r.resource.ref for r in resources}
    # Either the mutated site is valid, or a problem says why; never both silently dropped.
    assert "Site/fra-dc1" in names or all_problems
    if "Site/fra-dc1" not in names:
        assert any(p.line >= 1 for p in all_problems)
