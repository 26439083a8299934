"""The agent gateway's detectors on a labelled corpus, and the verdicts they lead to."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from keel.gateway.detectors import KINDS, Finding, redact, scan, scan_text
from keel.gateway.screening import Rules, screen

CORPUS = Path(__file__).parents[1] / "fixtures" / "tool_calls" / "corpus.jsonl"


def corpus() -> list[tuple[str, set[str]]]:
    rows = [json.loads(line) for line in CORPUS.read_text().splitlines() if line.strip()]
    return [(row["text"], set(row["kinds"])) for row in rows]


def scores() -> dict[str, tuple[float, float]]:
    """Precision and recall per kind: a text counts once per kind it holds or is said to."""
    found = {kind: [0, 0, 0] for kind in KINDS}  # true positive, false positive, false negative
    for text, expected in corpus():
        got = {f.kind for f in scan_text(text)}
        for kind in KINDS:
            if kind in got and kind in expected:
                found[kind][0] += 1
            elif kind in got:
                found[kind][1] += 1
            elif kind in expected:
                found[kind][2] += 1
    return {
        kind: (tp / (tp + fp) if tp + fp else 1.0, tp / (tp + fn) if tp + fn else 1.0)
        for kind, (tp, fp, fn) in found.items()
    }


def test_every_detector_is_precise_and_complete_on_the_labelled_corpus() -> None:
    measured = scores()
    assert set(measured) == set(KINDS)
    for kind, (precision, recall) in measured.items():
        assert precision == 1.0 and recall == 1.0, (kind, precision, recall)


def test_each_text_of_the_corpus_gets_exactly_its_kinds() -> None:
    for text, expected in corpus():
        assert {f.kind for f in scan_text(text)} == expected, text


def test_findings_name_the_path_and_redaction_keeps_everything_else() -> None:
    args = {
        "note": "card 4111 1111 1111 1111, ok",
        "contacts": [{"mail": "jane.roe@example.com"}, {"mail": "none"}],
        "amount": 4111111111111111,
        "plain": "nothing here",
    }
    found = scan(args)
    assert {(f.kind, f.path) for f in found} == {
        ("card", "$.note"), ("email", "$.contacts[0].mail"), ("card", "$.amount")
    }  # fmt: skip
    shown = redact(args, found, {"card", "email"})
    assert shown == {
        "note": "card [CARD], ok",
        "contacts": [{"mail": "[EMAIL]"}, {"mail": "none"}],
        "amount": "[CARD]",
        "plain": "nothing here",
    }
    assert "4111" not in json.dumps(shown) and "jane" not in json.dumps(shown)


def test_verdicts_block_secrets_and_redact_personal_data() -> None:
    rules = Rules()
    ok = screen(rules, {"customer_id": "C-1042"})
    assert (ok.decision, ok.reasons, ok.shown) == ("allow", [], {"customer_id": "C-1042"})
    personal = screen(rules, {"note": "call +49 30 901820"})
    assert personal.decision == "redact" and personal.reasons == ["personal.redacted:phone"]
    assert personal.shown == {"note": "call [PHONE]"}
    leaked = screen(rules, {"note": "key AKIAIOSFODNN7EXAMPLE, +49 30 901820"})
    assert leaked.decision == "block" and leaked.shown is None
    assert "secret.in_arguments" in leaked.reasons
    refused = personal.refused(["policy.forbid:p"])
    assert (refused.decision, refused.shown) == ("block", None)
    assert refused.reasons == ["policy.forbid:p", "personal.redacted:phone"]
    assert personal.refused([]) is personal


def test_arguments_too_deep_to_check_are_not_forwarded() -> None:
    deep: object = "x"
    for _ in range(40):
        deep = {"a": deep}
    verdict = screen(Rules(), deep)
    assert verdict.decision == "block" and "arguments.too_deep" in verdict.reasons
    assert verdict.unread and not screen(Rules(), {"a": 1}).unread


@pytest.mark.parametrize("text", ["", " ", "\n\n", "+", "@", "x" * 10_000])
def test_odd_strings_find_nothing(text: str) -> None:
    assert scan_text(text) == []


def test_an_allowlist_comment_does_not_hide_a_key() -> None:
    kinds = {f.kind for f in scan_text("key AKIAIOSFODNN7EXAMPLE  # pragma: allowlist secret")}
    assert kinds == {"secret"}


def test_custom_patterns_and_overridden_actions_from_the_gateway_file() -> None:
    from keel.gateway.upstreams import Upstreams

    config = Upstreams.model_validate({
        "servers": {"s": {"url": "http://127.0.0.1:9/mcp"}},
        "patterns": {
            "account_no": {"regex": r"ACC-\d{8}"},
            "project": {"regex": r"Project Nightjar", "action": "block"},
            "slow": {"regex": r"(a|aa)+$"},
        },
        "actions": {"email": "allow"},
    })  # fmt: skip
    rules = Rules(config.kind_actions(), config.compiled())
    verdict = screen(rules, {"note": "ACC-12345678 for jane@example.com"})
    assert verdict.decision == "redact" and verdict.reasons == ["personal.redacted:account_no"]
    assert verdict.shown == {"note": "[ACCOUNT_NO] for jane@example.com"}
    blocked = screen(rules, {"note": "about Project Nightjar"})
    assert blocked.decision == "block" and blocked.reasons == ["blocked:project"]
    slow = screen(rules, {"note": "a" * 40 + "!"})
    assert slow.decision == "block" and slow.reasons == ["arguments.too_slow"]
    many = scan({"notes": ["a" * 40 + "!"] * 100}, patterns=rules.patterns)
    assert many == [Finding("too_slow", "$.notes[0]", 0, 0)]  # the first stops the scan


def test_a_bad_gateway_file_names_the_field(tmp_path: Path) -> None:
    import pytest

    from keel.errors import UserError
    from keel.gateway.upstreams import load

    path = tmp_path / "gateway.yaml"
    for bad, words in [
        ("patterns: {p: {regex: '(unclosed'}}", "patterns.p.regex: Value error, not a regular"),
        ("patterns: {email: {regex: x}}", "built-in kinds; name yours otherwise"),
        ("patterns: {too_slow: {regex: x}}", "built-in kinds; name yours otherwise"),
        ("actions: {email: shout}", "actions.email: Input should be 'allow', 'redact' or"),
        ("tools: {t: {sink: secret}}", "tools.t.sink: Input should be 'public'"),
        ("calls_per_minute: 0", "calls_per_minute: Input should be greater than or equal to 1"),
    ]:
        path.write_text("servers: {s: {url: 'http://h/mcp'}}\n" + bad + "\n")
        with pytest.raises(UserError) as caught:
            load(path)
        assert words in str(caught.value), str(caught.value)


@pytest.mark.parametrize(
    "token",
    [
        "ghp_" + "a1B2" * 9,  # detect-secrets reports "ghp" only (its pattern's group)
        "glpat-" + "a1B2c3D4e5" * 2,  # "glpat" only
        "eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxIn0.c2lnbmF0dXJlc2lnbmF0dXJl",  # no signature
        "AKIAIOSFODNN7EXAMPLE",
    ],
)
def test_a_redacted_key_leaves_nothing_of_the_token(token: str) -> None:
    text = f"use {token}, then stop"
    shown = redact(text, scan_text(text), {"secret"})
    assert shown == "use [SECRET], then stop"


def test_a_result_hides_secrets_always_and_personal_data_unless_the_tool_may_return_it() -> None:
    from keel.gateway.screening import screen_result

    result = {"content": ["Jane, +48 601 234 567, key AKIAIOSFODNN7EXAMPLE"]}
    cleared = screen_result(Rules(), result, personal_allowed=True)
    assert (cleared.decision, cleared.reasons) == ("redact", ["result.redacted:secret"])
    assert cleared.shown == {"content": ["Jane, +48 601 234 567, key [SECRET]"]}
    hidden = screen_result(Rules(), result, personal_allowed=False)
    assert hidden.reasons == ["result.redacted:phone", "result.redacted:secret"]
    assert hidden.shown == {"content": ["Jane, [PHONE], key [SECRET]"]}
    plain = screen_result(Rules(), {"content": ["fine"]}, personal_allowed=False)
    assert (plain.decision, plain.reasons, plain.shown) == ("allow", [], {"content": ["fine"]})
