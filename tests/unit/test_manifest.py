"""The manifest loader: every problem located, unknown keys and bad values rejected."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import yaml
from hypothesis import given
from hypothesis import strategies as st

from keel.errors import Problem
from keel.estate import Limits, load_manifests
from keel.estate.manifest import _Loader, format_field, parse_bytes, to_resources
from sample_manifests import SITE


def load_text(text: str, path: str = "m.yaml") -> tuple[list[object], list[Problem]]:
    docs, problems = parse_bytes(text.encode(), path)
    resources, more = to_resources(docs)
    return list(resources), problems + more


def messages(problems: list[Problem]) -> list[str]:
    return [str(p) for p in problems]


def test_valid_site_loads_with_field_lines() -> None:
    resources, problems = load_text(SITE)
    assert problems == []
    [site] = resources
    assert site.resource.ref == "Site/fra-dc1"  # type: ignore[attr-defined]
    assert site.line_of(("spec", "pools", 0, "count")) == 9  # type: ignore[attr-defined]
    assert site.line_of(("spec", "country")) == 5  # type: ignore[attr-defined]


def test_problem_format_is_file_line_resource_field_message() -> None:
    _, problems = load_text(SITE.replace("count: 8", "count: -3"))
    assert messages(problems) == [
        "m.yaml:9: Site/fra-dc1: spec.pools[0].count: Input should be greater than or equal to 1"
    ]


def test_misspelt_key_is_unknown_with_suggestion() -> None:
    _, problems = load_text(SITE.replace("country: DE", "countyr: DE"))
    texts = messages(problems)
    assert (
        "m.yaml:5: Site/fra-dc1: spec.countyr: unknown key 'countyr'; did you mean 'country'?"
        in texts
    )


def test_misspelt_nested_key_suggests_from_the_nested_model() -> None:
    _, problems = load_text(SITE.replace("accelerator: H100", "acelerator: H100"))
    assert any(
        "unknown key 'acelerator'; did you mean 'accelerator'?" in m for m in messages(problems)
    )


def test_misspelt_enum_value_suggests() -> None:
    _, problems = load_text(SITE.replace("kind: on_prem", "kind: on-prem"))
    [problem] = problems
    assert problem.field == "spec.kind"
    assert "did you mean 'on_prem'?" in problem.message


def test_unknown_kind_and_envelope_key() -> None:
    _, problems = load_text("kind: Sight\nname: x\nspek: {}\n")
    texts = messages(problems)
    assert "m.yaml:1: Sight/x: kind: unknown kind 'Sight'; did you mean 'Site'?" in texts
    assert "m.yaml:3: Sight/x: spek: unknown key 'spek'; did you mean 'spec'?" in texts


@pytest.mark.parametrize(
    ("replace", "field", "fragment"),
    [
        ("usd_per_hour: 2.1", "spec.pools[0].usd_per_hour", "finite number"),
        ("count: 8", "spec.pools[0].count", "valid integer"),
        ("latitude: 50.11", "spec.location.latitude", "less than or equal to 90"),
    ],
    ids=["nan", "string-for-int", "out-of-range"],
)
def test_bad_values_are_located(replace: str, field: str, fragment: str) -> None:
    bad = {
        "usd_per_hour: 2.1": "usd_per_hour: .nan",
        "count: 8": 'count: "8"',
        "latitude: 50.11": "latitude: 91",
    }
    _, problems = load_text(SITE.replace(replace, bad[replace]))
    [problem] = problems
    assert problem.field == field
    assert fragment in problem.message


def test_yaml_boolean_trap_explains_quoting() -> None:
    _, problems = load_text(SITE.replace("country: DE", "country: NO"))
    [problem] = problems
    assert problem.line == 5
    assert "quote it" in problem.message


def test_duplicate_keys_are_errors() -> None:
    _, problems = load_text(SITE.replace("  country: DE\n", "  country: DE\n  country: FR\n"))
    assert messages(problems) == ["m.yaml:6: spec.country: duplicate key 'country'"]


def test_every_problem_in_every_document_is_reported() -> None:
    text = "\n---\n".join(
        [
            SITE.replace("count: 8", "count: 0"),
            "kind: Dataset\nname: d\nspec: {classification: secret, size_gb: -1, replicas: []}",
            "kind: Model\nname: BAD NAME\nspec: {}",
        ]
    )
    _, problems = load_text(text)
    fields = {(p.resource, p.field) for p in problems}
    assert ("Site/fra-dc1", "spec.pools[0].count") in fields
    assert ("Dataset/d", "spec.classification") in fields
    assert ("Dataset/d", "spec.size_gb") in fields
    assert ("Dataset/d", "spec.replicas") in fields
    assert ("Model/BAD NAME", "name") in fields


def test_syntax_error_names_its_line() -> None:
    _, problems = load_text("kind: Site\nname: x\nspec: {kind: [on_prem\n")
    [problem] = problems
    assert problem.line >= 3
    assert "YAML syntax error" in problem.message


def test_binary_garbage_is_a_located_problem() -> None:
    _, problems = parse_bytes(b"kind: Site\n\xff\xfe\x00garbage", "bin.yaml")
    [problem] = problems
    assert problem.path == "bin.yaml"
    assert problem.line == 2
    assert "not UTF-8" in problem.message


def test_control_characters_are_rejected() -> None:
    _, problems = parse_bytes(b"kind: Site\nname: \x00x\n", "nul.yaml")
    assert problems
    assert problems[0].line == 2


def test_alias_bomb_is_bounded() -> None:
    lines = ['a0: &a0 ["x", "x", "x", "x", "x", "x", "x", "x", "x", "x"]']
    for i in range(1, 9):
        refs = ", ".join([f"*a{i - 1}"] * 10)
        lines.append(f"a{i}: &a{i} [{refs}]")
    _, problems = parse_bytes(
        "\n".join(lines).encode(), "bomb.yaml", Limits(max_nodes_per_document=10_000)
    )
    [problem] = problems
    assert "more than 10000 YAML nodes" in problem.message


def test_deep_nesting_is_bounded() -> None:
    _, problems = parse_bytes(("[" * 100 + "]" * 100).encode(), "deep.yaml")
    [problem] = problems
    assert "nesting" in problem.message


def test_custom_tags_are_rejected() -> None:
    _, problems = load_text("kind: Site\nname: x\nspec: !!python/object:os.system {}\n")
    assert problems
    assert "unsupported YAML tag" in problems[0].message


def test_oversized_file_is_refused_without_reading_it(tmp_path: Path) -> None:
    big = tmp_path / "big.yaml"
    with big.open("wb") as handle:
        handle.truncate(50 * 1024 * 1024)
    resources, problems = load_manifests([str(big)])
    assert resources == []
    [problem] = problems
    assert problem.path == str(big)
    assert "50.0 MiB, over the limit of 16.0 MiB" in problem.message


def test_missing_path_and_empty_folder(tmp_path: Path) -> None:
    (tmp_path / "empty").mkdir()
    _, problems = load_manifests([str(tmp_path / "nope.yaml"), str(tmp_path / "empty")])
    assert [p.message for p in problems] == [
        "no such file or folder",
        "no .yaml or .yml files in this folder",
    ]


def test_folder_is_read_recursively_skipping_hidden(tmp_path: Path) -> None:
    (tmp_path / "sub").mkdir()
    (tmp_path / ".git").mkdir()
    (tmp_path / "sub" / "site.yaml").write_text(SITE)
    (tmp_path / ".git" / "junk.yaml").write_text("not: [valid")
    (tmp_path / "notes.txt").write_text("ignored")
    resources, problems = load_manifests([str(tmp_path)])
    assert problems == []
    assert [r.resource.ref for r in resources] == ["Site/fra-dc1"]


def test_too_many_files_is_one_clear_problem(tmp_path: Path) -> None:
    for i in range(12):
        (tmp_path / f"f{i}.yaml").write_text(SITE.replace("fra-dc1", f"s{i}"))
    resources, problems = load_manifests([str(tmp_path)], Limits(max_files=10))
    assert resources == []
    [problem] = problems
    assert "12 manifest files is more than the limit of 10" in problem.message


def test_empty_documents_are_skipped() -> None:
    resources, problems = load_text("---\n" + SITE + "---\n---\n")
    assert problems == []
    assert len(resources) == 1


def test_format_field() -> None:
    assert format_field(("spec", "pools", 0, "count")) == "spec.pools[0].count"
    assert format_field(()) == ""


@given(st.text(max_size=12), st.booleans(), st.booleans())
def test_memoised_resolver_agrees_with_pyyaml(value: str, plain: bool, quoted: bool) -> None:
    ours = _Loader("")
    theirs = yaml.SafeLoader("")
    for kind in (yaml.ScalarNode, yaml.SequenceNode, yaml.MappingNode):
        assert ours.resolve(kind, value, (plain, quoted)) == theirs.resolve(
            kind, value, (plain, quoted)
        )


@pytest.mark.parametrize(
    "text", ["yes", "1.5", "0x1F", "2026-01-01", "~", "null", ".inf", "012", "on"]
)
def test_memoised_resolver_known_values(text: str) -> None:
    assert _Loader("").resolve(yaml.ScalarNode, text, (True, False)) == yaml.SafeLoader("").resolve(
        yaml.ScalarNode, text, (True, False)
    )


def test_a_named_pipe_is_never_read(tmp_path: Path) -> None:
    """A FIFO among the manifests once hung validate and apply forever."""
    import os

    (tmp_path / "site.yaml").write_text(SITE)
    os.mkfifo(tmp_path / "pipe.yaml")
    resources, problems = load_manifests([str(tmp_path)])
    assert [r.resource.ref for r in resources] == ["Site/fra-dc1"] and problems == []
    _, named = load_manifests([str(tmp_path / "pipe.yaml")])
    assert messages(named) == [f"{tmp_path / 'pipe.yaml'}: not a regular file (a pipe or device?)"]


def test_a_huge_integer_is_a_located_problem_not_an_internal_error() -> None:
    huge = "9" * 5000
    _, problems = load_text(SITE.replace("count: 8", f"count: {huge}"))
    assert messages(problems) == [
        "m.yaml:9: spec.pools[0].count: a number of 5000 characters is too large or malformed"
        " for a value"
    ]


@pytest.mark.parametrize(
    ("labels", "message"),
    [
        ({f"l{i}": "v" for i in range(65)}, "65 labels is more than the limit of 64"),
        ({f"k{i}": "v" * 63 for i in range(20)} | {"p/" * 40 + "x": "y"}, "invalid label key"),
        ({"tier": "a b"}, "label values are strings of at most 63"),
        ({"tier": "v" * 64}, "label values are strings of at most 63"),
        ({"tier": "-gold"}, "label values are strings of at most 63"),
    ],
)
def test_labels_are_bounded_like_kubernetes(labels: dict[str, str], message: str) -> None:
    text = SITE.replace("kind: Site\n", f"kind: Site\nlabels: {json.dumps(labels)}\n", 1)
    _, problems = load_text(text)
    assert any(message in str(p) for p in problems), messages(problems)


def test_fifty_thousand_labels_are_refused_at_once() -> None:
    labels = "".join(f"  l{i}: v\n" for i in range(50_000))
    _, problems = load_text(SITE.replace("kind: Site\n", f"kind: Site\nlabels:\n{labels}", 1))
    assert messages(problems) == [
        "m.yaml:2: Site/fra-dc1: labels: 50000 labels is more than the limit of 64"
    ]
