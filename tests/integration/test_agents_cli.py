"""keel agents check: verdicts printed, recorded in the ledger without the values, refusals."""

from __future__ import annotations

import json
from pathlib import Path

from test_cli import keel

CARD = "4111 1111 1111 1111"


def calls_file(folder: Path, calls: list[tuple[str, str, dict[str, object]]]) -> Path:
    path = folder / "calls.json"
    body = [
        {"id": i, "type": "function", "function": {"name": tool, "arguments": json.dumps(args)}}
        for i, tool, args in calls
    ]
    path.write_text(json.dumps({"role": "assistant", "tool_calls": body}))
    return path


def test_checked_calls_are_decided_and_recorded_without_their_values(tmp_path: Path) -> None:
    assert keel("init", "estate", cwd=tmp_path).returncode == 0
    assert keel("apply", "-f", "estate", cwd=tmp_path).returncode == 0
    path = calls_file(tmp_path, [
        ("c1", "crm-read", {"customer_id": "C-1042"}),
        ("c2", "case-create", {"note": f"card {CARD}, mail jane.roe@example.com"}),
        ("c3", "sanctions-screening", {"auth": "AKIAIOSFODNN7EXAMPLE"}),
        ("c4", "web-search", {"q": "rates"}),
    ])  # fmt: skip
    made = keel("agents", "check", "kyc-review-agent", "--calls", str(path), "-o", "json",
                cwd=tmp_path)  # fmt: skip
    assert made.returncode == 0, made.stderr
    verdicts = {v["id"]: v for v in json.loads(made.stdout)["verdicts"]}
    assert {k: v["decision"] for k, v in verdicts.items()} == {
        "c1": "allow", "c2": "redact", "c3": "block", "c4": "block"
    }  # fmt: skip
    assert json.loads(verdicts["c2"]["arguments"]) == {"note": "card [CARD], mail [EMAIL]"}
    assert verdicts["c3"]["arguments"] is None and verdicts["c4"]["reasons"] == ["tool.not_granted"]
    first = verdicts["c1"]["ledger_index"]
    shown = keel("ledger", "show", "--from", str(first), "--limit", "4", cwd=tmp_path).stdout
    entries = [json.loads(line)["entry"] for line in shown.splitlines()]
    assert [e["type"] for e in entries] == ["agent.tool_call"] * 4
    assert entries[1]["found"] == {"card": 1, "email": 1} and entries[2]["arguments_digest"] is None
    # Whole values: a short run of digits such as "4111" may occur in a hex digest by chance.
    assert CARD not in shown and "jane" not in shown and "AKIA" not in shown
    table = keel("agents", "check", "kyc-review-agent", "--calls", str(path), cwd=tmp_path).stdout
    assert "1 allowed, 1 redacted, 2 blocked" in table


def test_bad_calls_and_callers_change_nothing(tmp_path: Path) -> None:
    assert keel("init", "estate", cwd=tmp_path).returncode == 0
    assert keel("apply", "-f", "estate", cwd=tmp_path).returncode == 0
    size = json.loads(keel("ledger", "verify", "-o", "json", cwd=tmp_path).stdout)["size"]
    good = calls_file(tmp_path, [("c1", "crm-read", {"customer_id": "C-1"})])
    viewer = keel("agents", "check", "kyc-review-agent", "--calls", str(good), cwd=tmp_path,
                  env={"KEEL_PRINCIPAL": "user:dana"})  # fmt: skip
    assert viewer.returncode != 0 and "E-FORBIDDEN" in viewer.stderr
    unknown = keel("agents", "check", "kyc-agent", "--calls", str(good), cwd=tmp_path)
    assert "E-NOT-FOUND" in unknown.stderr and "kyc-review-agent" in unknown.stderr
    bad = tmp_path / "bad.json"
    for text, words in [
        ("not json", "cannot be read as JSON"),
        ('{"tool_calls": []}', "no tool_calls"),
        ('[{"id": "a", "type": "function", "function": {"name": "crm-read"}}]',
         "tool_calls[0]: function.arguments"),
        ('[{"id": "a", "type": "function", "function": {"name": "crm-read", "arguments": "{"}}]',
         "tool_calls[0].function.arguments: not JSON"),
        ('[{"id": "a", "function": {"name": "t", "arguments": "[1]"}}]', "a JSON object, not list"),
        ('[{"id": "a", "function": {"name": "t", "arguments": "{\\"n\\": NaN}"}}]',
         "NaN is not JSON"),
        ('[{"id": "a", "function": {"name": "t", "arguments": "{\\"n\\": 1e400}"}}]',
         "is not finite"),
        ('[{"id": "a", "function": {"name": "t", "arguments": "{\\"n\\": ' + "9" * 30 + '}"}}]',
         "out of the 64-bit range"),
        ('[{"id": "a", "function": {"name": "t", "arguments": "{}"}},'
         ' {"id": "a", "function": {"name": "t", "arguments": "{}"}}]', "ids repeat"),
        (json.dumps([{"id": f"c{i}", "function": {"name": "t", "arguments": "{}" + " " * 60_000}}
                     for i in range(5)]), "at most 262,144 together"),
    ]:  # fmt: skip
        bad.write_text(text)
        refused = keel("agents", "check", "kyc-review-agent", "--calls", str(bad), cwd=tmp_path)
        assert refused.returncode == 2 and words in refused.stderr, (text, refused.stderr)
    after = json.loads(keel("ledger", "verify", "-o", "json", cwd=tmp_path).stdout)["size"]
    assert after == size + 1  # the viewer's refusal, nothing else


def test_duplicate_agents_are_found_with_their_evidence(tmp_path: Path) -> None:
    assert keel("init", "estate", cwd=tmp_path).returncode == 0
    assert keel("apply", "-f", "estate", cwd=tmp_path).returncode == 0
    made = keel("agents", "duplicates", "--min-score", "0", "-o", "json", cwd=tmp_path)
    assert made.returncode == 0, made.stderr
    found = json.loads(made.stdout)
    assert found["agents"] == 4 and len(found["pairs"]) == 6
    likely = [(p["first"], p["second"]) for p in found["pairs"] if p["likely"]]
    assert likely == [("kyc-review-agent", "onboarding-screening-agent")]
    top = found["pairs"][0]
    assert top["shared_tools"] == ["case-create", "crm-read", "sanctions-screening"]
    assert top["family"] == "aurelia-assistant" and top["parts"]["datasets"] == 1.0
    table = keel("agents", "duplicates", cwd=tmp_path).stdout
    assert "1 likely duplicate" in table and "LIKELY" in table
    assert keel("agents", "duplicates", "--min-score", "2", cwd=tmp_path).returncode == 2


TOOL_RULES = """kind: PolicySet
name: agent-tool-rules
spec:
  access:
    - name: tools
      cedar: |
        @id("cases.for.known.customers")
        forbid (principal, action == Keel::Action::"call", resource == Keel::Tool::"case-create")
        unless { context.arguments has customer_id && context.arguments.customer_id like "C-*" };

        @id("crm.one.per.minute")
        forbid (principal, action == Keel::Action::"call", resource == Keel::Tool::"crm-read")
        when { context.tool_calls_last_minute >= 1 };

        @id("screening.one.per.minute")
        forbid (principal, action == Keel::Action::"call",
                resource == Keel::Tool::"sanctions-screening")
        when { context.tool_calls_last_minute >= 1 };
"""


def test_cedar_rules_decide_checked_calls_on_arguments_and_the_stored_rate(tmp_path: Path) -> None:
    assert keel("init", "estate", cwd=tmp_path).returncode == 0
    (tmp_path / "estate" / "tool-rules.yaml").write_text(TOOL_RULES)
    applied = keel("apply", "-f", "estate", cwd=tmp_path)
    assert applied.returncode == 0, applied.stderr
    path = calls_file(tmp_path, [
        ("c1", "crm-read", {"customer_id": "C-1042"}),
        ("c2", "crm-read", {"customer_id": "C-1043"}),
        ("c3", "case-create", {"customer_id": "X-9", "note": "n"}),
        ("c4", "case-create", {"customer_id": "C-1042", "note": "n"}),
    ])  # fmt: skip
    made = keel("agents", "check", "kyc-review-agent", "--calls", str(path), "-o", "json",
                cwd=tmp_path)  # fmt: skip
    assert made.returncode == 0, made.stderr
    reasons = {v["id"]: v["reasons"] for v in json.loads(made.stdout)["verdicts"]}
    assert reasons == {
        "c1": [], "c2": ["policy.forbid:crm.one.per.minute"],
        "c3": ["policy.forbid:cases.for.known.customers"], "c4": [],
    }  # fmt: skip
    answers = tmp_path / "results.json"  # results checked are not calls: not in the rate
    answers.write_text(json.dumps([{"role": "tool", "tool_call_id": "r1",
                                    "name": "sanctions-screening", "content": "ok"}]))  # fmt: skip
    scanned = keel("agents", "check", "kyc-review-agent", "--results", str(answers), cwd=tmp_path)
    assert scanned.returncode == 0, scanned.stderr
    screen = calls_file(tmp_path, [("c6", "sanctions-screening", {"name": "Marta Nowak"})])
    screened = keel("agents", "check", "kyc-review-agent", "--calls", str(screen), "-o", "json",
                    cwd=tmp_path)  # fmt: skip
    assert json.loads(screened.stdout)["verdicts"][0]["reasons"] == []
    again = calls_file(tmp_path, [("c5", "crm-read", {"customer_id": "C-1"})])
    later = keel("agents", "check", "kyc-review-agent", "--calls", str(again), "-o", "json",
                 cwd=tmp_path)  # fmt: skip
    (verdict,) = json.loads(later.stdout)["verdicts"]  # the rate counts the stored calls
    assert verdict["reasons"] == ["policy.forbid:crm.one.per.minute"]


def test_a_tool_rule_reading_an_argument_without_has_is_refused_at_apply(tmp_path: Path) -> None:
    assert keel("init", "estate", cwd=tmp_path).returncode == 0
    bad = TOOL_RULES.replace("context.arguments has customer_id && ", "")
    (tmp_path / "estate" / "tool-rules.yaml").write_text(bad)
    applied = keel("apply", "-f", "estate", cwd=tmp_path)
    assert applied.returncode != 0
    assert "tool-rules.yaml" in applied.stderr and "customer_id" in applied.stderr
    assert "spec.access[0].cedar" in applied.stderr


def test_tool_results_are_redacted_or_withheld_and_recorded_without_values(tmp_path: Path) -> None:
    assert keel("init", "estate", cwd=tmp_path).returncode == 0
    assert keel("apply", "-f", "estate", cwd=tmp_path).returncode == 0
    path = tmp_path / "results.json"
    path.write_text(json.dumps({"messages": [
        {"role": "assistant", "content": None},
        {"role": "tool", "tool_call_id": "r1", "name": "crm-read",
         "content": f"Marta Nowak, card {CARD}, key AKIAIOSFODNN7EXAMPLE"},
        {"role": "tool", "tool_call_id": "r2",
         "content": [{"type": "text", "text": "ok"}, {"type": "text", "text": "+48 601 234 567"}]},
        {"role": "tool", "tool_call_id": "r3",
         "content": [{"type": "image_url"}, {"type": "text", "text": "see the picture"}]},
        {"role": "tool", "tool_call_id": "r4", "content": "all clear"},
    ]}))  # fmt: skip
    made = keel("agents", "check", "kyc-review-agent", "--results", str(path), "-o", "json",
                cwd=tmp_path)  # fmt: skip
    assert made.returncode == 0, made.stderr
    verdicts = {v["id"]: v for v in json.loads(made.stdout)["verdicts"]}
    assert verdicts["r1"]["content"] == "Marta Nowak, card [CARD], key [SECRET]"
    assert verdicts["r1"]["reasons"] == ["result.redacted:card", "result.redacted:secret"]
    assert verdicts["r2"]["content"] == [
        {"type": "text", "text": "ok"}, {"type": "text", "text": "[PHONE]"}
    ]  # fmt: skip
    assert [f["path"] for f in verdicts["r2"]["findings"]] == ["$[1].text"]
    assert verdicts["r3"]["decision"] == "block" and verdicts["r3"]["content"] is None
    assert verdicts["r3"]["reasons"] == ["result.unscannable:image_url"]
    assert (verdicts["r4"]["decision"], verdicts["r4"]["content"]) == ("allow", "all clear")
    first = verdicts["r1"]["ledger_index"]
    shown = keel("ledger", "show", "--from", str(first), "--limit", "4", cwd=tmp_path).stdout
    entries = [json.loads(line)["entry"] for line in shown.splitlines()]
    assert [e["via"] for e in entries] == ["result"] * 4
    assert entries[0]["result_found"] == {"card": 1, "secret": 1}
    assert entries[2]["result_digest"] is None and entries[3]["result_digest"].startswith("sha256:")
    # Whole values: a short run of digits such as "601" occurs in a hex digest by chance.
    assert CARD not in shown and "AKIA" not in shown and "601 234 567" not in shown
    listed = json.loads(
        keel("agents", "calls", "kyc-review-agent", "-o", "json", cwd=tmp_path).stdout
    )
    assert [c["via"] for c in listed["calls"]] == ["result"] * 4
    both = keel("agents", "check", "kyc-review-agent", "--results", str(path), "--calls",
                str(path), cwd=tmp_path)  # fmt: skip
    assert both.returncode != 0 and "give --calls" in both.stderr
    empty = tmp_path / "empty.json"
    empty.write_text('{"messages": [{"role": "user", "content": "hi"}]}')
    none = keel("agents", "check", "kyc-review-agent", "--results", str(empty), cwd=tmp_path)
    assert none.returncode != 0 and "no tool messages list" in none.stderr
