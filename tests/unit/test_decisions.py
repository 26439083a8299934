"""Decision records without a store: checking, leaves, digests, keyed subjects, the Recorder."""

from __future__ import annotations

import hashlib
import hmac
import os
import threading
import time
from datetime import UTC, datetime, timedelta, timezone
from typing import Any

import pytest
import rfc8785
from hypothesis import given, settings
from hypothesis import strategies as st

from keel.decisions import MAX_BATCH, Recorder, check_records, input_digest, subject_key
from keel.decisions import record as record_module
from keel.decisions.record import DecisionRecord, instant, new_record_id, now_instant, subject_keyer
from keel.errors import DecisionError, Problem, UnreachableError
from keel.operations import MAX_DECISIONS

NOW = datetime(2026, 11, 30, 12, 0, tzinfo=UTC)
RETENTION = timedelta(days=183)

json_values = st.recursive(
    st.none() | st.booleans() | st.integers(-(2**53) + 1, 2**53 - 1) | st.text(max_size=20)
    | st.floats(allow_nan=False, allow_infinity=False),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner,
                                                                  max_size=4),
    max_leaves=20,
)  # fmt: skip


def good(**extra: Any) -> dict[str, Any]:
    return {
        "id": "a-1",
        "model": "scorer@1",
        "decided_at": "2026-11-30T11:59:00+00:00",
        "input_digest": "sha256:" + "0" * 64,
        "output": 1,
    } | extra


def test_the_batch_limit_is_the_apis() -> None:
    assert MAX_BATCH == MAX_DECISIONS


@given(json_values)
def test_input_digests_are_sha256_of_rfc8785(value: Any) -> None:
    assert input_digest(value) == "sha256:" + hashlib.sha256(rfc8785.dumps(value)).hexdigest()


def test_an_input_that_is_not_json_is_refused() -> None:
    with pytest.raises(DecisionError):
        input_digest({"when": NOW})
    with pytest.raises(DecisionError, match="safe integer"):  # RFC 8785: send such as text
        input_digest({"account": 2**53})


def test_subject_keys_depend_on_the_index_key() -> None:
    one, other = os.urandom(32), os.urandom(32)
    assert subject_key(one, "cust-1") == subject_key(one, "cust-1")
    assert subject_key(one, "cust-1") != subject_key(other, "cust-1")
    assert subject_key(one, "cust-1") != subject_key(one, "cust-2")
    assert "cust" not in subject_key(one, "cust-1")


@given(st.binary(min_size=1, max_size=100), st.lists(st.text(min_size=1, max_size=256)))
def test_a_keyer_gives_every_subject_its_one_shot_key(key: bytes, subjects: list[str]) -> None:
    keyer = subject_keyer(key)  # reused across subjects: a copy per subject, never the original
    one_shot = [hmac.digest(key, s.encode(), "sha256")[:16].hex() for s in subjects]
    assert [keyer(s) for s in subjects] == [subject_key(key, s) for s in subjects] == one_shot


@pytest.mark.parametrize(
    ("output", "outcome"),
    [
        ("approve", "approve"),
        (True, "true"),
        (3, "3"),
        ({"score": 0.3, "label": "deny", "decision": "refer"}, "refer"),
        ({"score": 0.3}, None),
        ([1, 2], None),
        (None, None),
        ("x" * 100, "x" * 64),
    ],
)
def test_outcome_labels(output: Any, outcome: str | None) -> None:
    [record], problems = check_records([good(output=output)], now=NOW, retention=RETENTION)
    assert problems == [] and record.outcome() == outcome


def test_times_are_normalised_and_skew_is_bounded() -> None:
    records, problems = check_records(
        [
            good(decided_at="2026-11-30T13:01:00+01:00"),  # 12:01 UTC: within the skew
            good(id="b", decided_at="2026-11-30T12:06:00Z"),  # six minutes ahead
            good(id="c", decided_at="2026-05-01T00:00:00Z"),  # older than 183 days
        ],
        now=NOW,
        retention=RETENTION,
    )
    assert records[0].decided_at == datetime(2026, 11, 30, 12, 1, tzinfo=UTC)
    assert [p.path for p in problems] == ["records[1]", "records[2]"]
    assert "ahead of this server's clock" in problems[0].message


@settings(max_examples=300)
@given(
    st.datetimes(min_value=datetime(2026, 6, 1), max_value=NOW.replace(tzinfo=None)),
    st.sampled_from(["instant", "offset", "seconds", "millis"]),
)
def test_a_leafs_time_is_the_instant_of_the_decision_however_it_was_sent(
    moment: datetime, form: str
) -> None:
    # A time sent as instant() writes it is kept as text; every other form is formatted.
    aware = moment.replace(tzinfo=UTC)
    if form == "seconds":
        aware = aware.replace(microsecond=0)
    sent = {
        "instant": instant(aware),
        "offset": aware.astimezone(timezone(timedelta(hours=5, minutes=30))).isoformat(),
        "seconds": aware.strftime("%Y-%m-%dT%H:%M:%SZ"),
        "millis": aware.isoformat(timespec="milliseconds"),
    }[form]
    if form == "millis":
        aware = aware.replace(microsecond=aware.microsecond // 1000 * 1000)
    [record], problems = check_records([good(decided_at=sent)], now=NOW, retention=RETENTION)
    assert not problems
    assert record.decided_at == aware and record.decided_at.tzinfo is UTC
    assert record.leaf("sha256:" + "1" * 64)["decided_at"] == instant(aware)


def test_now_instant_is_instant_of_now() -> None:
    before = datetime.now(UTC)
    text = now_instant()
    after = datetime.now(UTC)
    moment = datetime.fromisoformat(text)
    assert instant(moment) == text
    assert before - timedelta(milliseconds=1) <= moment <= after + timedelta(milliseconds=1)


def test_leaves_hold_no_personal_value() -> None:
    [record], _ = check_records(
        [good(subject="alice@example.com", output={"decision": "deny"}, workload="api")],
        now=NOW,
        retention=RETENTION,
    )
    leaf = record.leaf("sha256:" + "1" * 64)
    assert set(leaf) == {"type", "id", "model", "workload", "decided_at", "input", "content"}
    assert "alice" not in str(leaf) and "deny" not in str(leaf)


def test_empty_and_oversized_batches_are_refused() -> None:
    with pytest.raises(DecisionError, match="no records"):
        check_records([], now=NOW, retention=RETENTION)
    with pytest.raises(DecisionError, match="at most 10000"):
        check_records([good()] * (MAX_BATCH + 1), now=NOW, retention=RETENTION)


class Sink:
    """Collects batches, failing the first ``failures`` sends as an unreachable server would."""

    def __init__(self, failures: int = 0, delay_s: float = 0.0) -> None:
        self.batches: list[list[dict[str, Any]]] = []
        self.failures = failures
        self.delay_s = delay_s
        self.lock = threading.Lock()

    def record_decisions(self, records: list[dict[str, Any]]) -> None:
        time.sleep(self.delay_s)
        with self.lock:
            if self.failures:
                self.failures -= 1
                raise UnreachableError("cannot reach the server", url="http://x")
            self.batches.append(list(records))

    def ids(self) -> list[str]:
        return [r["id"] for batch in self.batches for r in batch]


def test_many_threads_record_and_every_record_is_sent_once() -> None:
    sink = Sink(delay_s=0.001)
    recorder = Recorder(sink, model="scorer@1", flush_s=0.01, batch=50)
    sent: list[str] = []
    lock = threading.Lock()

    def work(thread: int) -> None:
        for n in range(500):
            ident = recorder.record({"n": n}, n % 2, subject=f"c{thread}")
            with lock:
                sent.append(ident)

    threads = [threading.Thread(target=work, args=(t,)) for t in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    recorder.close()
    assert sorted(sink.ids()) == sorted(sent) and len(set(sent)) == 4000
    assert all(len(batch) <= 50 for batch in sink.batches)
    assert recorder.pending() == 0


def test_a_failed_send_keeps_the_records_for_the_next() -> None:
    sink = Sink(failures=2)
    recorder = Recorder(sink, model="scorer@1", flush_s=3600, batch=30)  # no early wake-up
    ids = [recorder.record({"n": n}, "ok", record_id=f"r{n}") for n in range(25)]
    for _ in range(2):
        with pytest.raises(UnreachableError):
            recorder.flush()
        assert recorder.pending() == 25
    assert recorder.flush() == 25
    assert sink.ids() == ids and recorder.last_error is not None
    recorder.close()


def test_refused_records_are_dropped_not_retried_forever() -> None:
    class Refusing(Sink):
        def record_decisions(self, records: list[dict[str, Any]]) -> None:
            raise DecisionError("1 of 1 records are refused; none was stored", [])

    recorder = Recorder(Refusing(), model="ghost@1", flush_s=3600)
    recorder.record({}, 1)
    with pytest.raises(DecisionError):
        recorder.flush()
    assert recorder.pending() == 0
    recorder.close()


def test_refused_records_are_dropped_and_their_good_neighbours_sent() -> None:
    class Picky(Sink):
        def record_decisions(self, records: list[dict[str, Any]]) -> None:
            bad = [
                Problem(f"records[{n}]", 0, "", "output", "refused")
                for n, r in enumerate(records)
                if r["output"] == "bad"
            ]
            if bad:
                raise DecisionError(f"{len(bad)} refused", bad)
            super().record_decisions(records)

    sink = Picky()
    recorder = Recorder(sink, model="scorer@1", flush_s=3600, batch=4)
    outputs = ["ok", "bad", "ok", "ok", "bad", "bad", "ok", "ok", "ok"]
    ids = [recorder.record({"n": n}, out, record_id=f"r{n}") for n, out in enumerate(outputs)]
    with pytest.raises(DecisionError):
        recorder.flush()
    assert sink.ids() == [i for i, out in zip(ids, outputs, strict=True) if out == "ok"]
    assert recorder.refused == 3 and recorder.pending() == 0 and recorder.sent == 6
    recorder.close()


def test_the_decorator_records_the_call() -> None:
    sink = Sink()
    recorder = Recorder(sink, model="scorer@1", workload="api", flush_s=3600)

    @recorder.decides(subject=lambda app: app["customer"], explanation=lambda out: ["R1"])
    def score(app: dict[str, Any]) -> dict[str, Any]:
        return {"decision": "approve" if app["income"] > 10 else "deny"}

    assert score({"customer": "c-9", "income": 50}) == {"decision": "approve"}
    recorder.flush()
    [[sent]] = sink.batches
    assert sent["subject"] == "c-9" and sent["explanation"] == ["R1"]
    assert sent["output"] == {"decision": "approve"} and sent["workload"] == "api"
    assert sent["input_digest"] == input_digest(
        {"args": [{"customer": "c-9", "income": 50}], "kwargs": {}}
    )
    checked, problems = check_records([sent], now=datetime.now(UTC), retention=RETENTION)
    assert problems == [] and isinstance(checked[0], DecisionRecord)
    recorder.close()


@pytest.mark.skipif(not hasattr(os, "fork"), reason="needs fork")
def test_a_forked_child_does_not_send_its_parents_records() -> None:
    sink = Sink()
    recorder = Recorder(sink, model="scorer@1", flush_s=3600)
    for n in range(5):
        recorder.record({"n": n}, n)
    pid = os.fork()
    if pid == 0:  # the child: its buffer starts empty, and its own records go out
        try:
            child_had = recorder.pending()
            recorder.record({"child": True}, 1)
            sent = recorder.flush()
            os._exit(10 * child_had + sent)
        except BaseException:
            os._exit(99)
    _, status = os.waitpid(pid, 0)
    assert os.waitstatus_to_exitcode(status) == 1  # nothing inherited, one of its own sent
    assert recorder.pending() == 5 and recorder.flush() == 5
    recorder.close()


def test_a_closed_recorder_refuses_records() -> None:
    recorder = Recorder(Sink(), model="scorer@1")
    recorder.close()
    with pytest.raises(Exception, match="closed"):
        recorder.record({}, 1)


def test_the_middleware_records_what_a_scoring_route_answers() -> None:
    from fastapi import FastAPI
    from fastapi.responses import PlainTextResponse
    from fastapi.testclient import TestClient

    from keel.decisions import DecisionMiddleware

    sink = Sink()
    recorder = Recorder(sink, model="scorer@1", flush_s=3600)
    app = FastAPI()

    @app.post("/score")
    def score(body: dict[str, Any]) -> dict[str, Any]:
        if body.get("income", 0) < 0:
            from fastapi import HTTPException

            raise HTTPException(status_code=422, detail="negative income")
        return {"decision": "approve", "reasons": ["R3"]}

    @app.post("/other")
    def other() -> dict[str, str]:
        return {"ok": "yes"}

    @app.post("/text", response_class=PlainTextResponse)
    def text() -> str:
        return "not json"

    app.add_middleware(
        DecisionMiddleware,
        recorder=recorder,
        paths={"/score", "/text"},
        subject=lambda body, headers: headers.get("x-customer"),
        explanation=lambda answer: answer["reasons"],
    )
    with TestClient(app) as client:
        answer = client.post("/score", json={"income": 40}, headers={"X-Customer": "c-7"})
        assert answer.json() == {"decision": "approve", "reasons": ["R3"]}  # passed through
        assert client.post("/score", json={"income": -1}).status_code == 422
        assert client.post("/other", json={}).json() == {"ok": "yes"}
        assert client.post("/text").text == "not json"
        assert client.get("/score").status_code == 405
    recorder.flush()
    [[sent]] = sink.batches  # the refused request, the other route and the text are not
    assert sent["subject"] == "c-7" and sent["explanation"] == ["R3"]
    assert sent["input_digest"] == input_digest({"income": 40})
    assert sent["output"] == {"decision": "approve", "reasons": ["R3"]}
    recorder.close()


record_fields = st.fixed_dictionaries(
    {},
    optional={
        "id": st.text(max_size=70) | json_values,
        "model": st.sampled_from(["scorer@1", "Bad@@", ""]) | json_values,
        "workload": st.sampled_from(["api", "API", "a" * 70]) | json_values,
        "decided_at": st.sampled_from(
            ["2026-11-30T11:00:00Z", "2026-11-30T11:00:00", "2031-01-01T00:00:00+00:00", "x"]
        )
        | json_values,
        "input_digest": st.sampled_from(["sha256:" + "a" * 64, "sha256:AB"]) | json_values,
        "output": json_values,
        "explanation": json_values,
        "subject": st.text(max_size=300) | json_values,
        "extra": json_values,
    },
)


@settings(max_examples=300)
@given(
    st.lists(
        record_fields
        | json_values
        | st.from_regex(r"[a-z][a-z0-9]{0,2}", fullmatch=True).map(lambda i: good(id=i)),
        min_size=1,
        max_size=6,
    )
)
def test_any_batch_gives_records_or_located_problems(raws: list[Any]) -> None:
    records, problems = check_records(raws, now=NOW, retention=RETENTION)
    assert len({r.id for r in records}) == len(records)
    bad = {p.path for p in problems}
    assert all(p.startswith("records[") for p in bad)
    assert len(records) + len(bad) == len(raws)  # each is either a record or located problems
    for record in records:
        assert record.leaf("sha256:" + "0" * 64)["id"] == record.id
        assert len(record.content_json) <= 16 * 1024


def test_default_record_ids_sort_by_time_and_differ_within_a_millisecond(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The SDK's ids sort as they were made (a store's id index takes them at its end), are
    distinct within one millisecond and are valid record ids."""
    now_ms = [1_764_700_000_000]
    monkeypatch.setattr(record_module.time, "time_ns", lambda: now_ms[0] * 1_000_000 + 999)
    first = [new_record_id() for _ in range(1000)]
    now_ms[0] += 1
    later = new_record_id()
    assert len(set(first)) == 1000 and all(i < later for i in first)
    assert all(len(i) == 32 and i.startswith(f"{now_ms[0] - 1:012x}") for i in first)
    int(later, 16)  # hex digits only
    check_records([good(id=later)], now=NOW, retention=RETENTION)  # a valid id
    monkeypatch.undo()
    recorder = Recorder(Sink(), model="scorer@1", flush_s=3600)
    made = [recorder.record({"n": n}, "ok") for n in range(3)]
    recorder.close()
    times = [m[:12] for m in made]  # within a millisecond, the random part decides the order
    assert times == sorted(times) and int(made[0][:12], 16) == pytest.approx(
        time.time() * 1000, abs=60_000
    )
