"""Content digests: order-independent, sensitive to every field."""

from __future__ import annotations

from keel.estate.digest import canonical_json, estate_digest, spec_digest


def test_canonical_json_sorts_keys_and_drops_whitespace() -> None:
    assert canonical_json({"b": 1, "a": [1, {"d": 2, "c": 3}]}) == '{"a":[1,{"c":3,"d":2}],"b":1}'


def test_spec_digest_depends_on_content_only() -> None:
    assert spec_digest({"a": 1, "b": 2}) == spec_digest({"b": 2, "a": 1})
    assert spec_digest({"a": 1}) != spec_digest({"a": 2})


def test_estate_digest_is_order_independent_and_sensitive() -> None:
    a = ("Site", "x", {}, "sha256:1")
    b = ("Dataset", "y", {"k": "v"}, "sha256:2")
    assert estate_digest([a, b]) == estate_digest([b, a])
    assert estate_digest([a, b]) != estate_digest([a, ("Dataset", "y", {"k": "w"}, "sha256:2")])
    empty = "sha256:e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
    assert estate_digest([]) == empty
